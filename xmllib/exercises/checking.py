"""How a check compares a student's function with the package's reference, and reports.

A check runs the student's function and the reference on the same inputs (`Case`s)
and reports the first input on which they differ: what the input is, the expected
and the obtained values, what kind of difference it is, and the input's hint. It
shows values only, never the reference's code.

The report is printed in a plain Python session and displayed in a notebook; the check
also returns it, as a `CheckResult`. `assert_passes` is the form the graders' tests take
(otter-grader's, docs/teachers.md): it raises AssertionError with the report unless the
check passes, so the feedback a student gets from the grader is the check's text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
from IPython import get_ipython
from IPython.display import display
from torch import Tensor

STATUSES = ("pass", "fail", "missing")
LABELS = {"pass": "PASS", "fail": "FAIL", "missing": "NOT DONE"}
RTOL, ATOL = 1e-4, 1e-5
SHOWN_VALUES = 8

Outcome = Callable[[Callable[..., Any], "Case"], Any]
Compare = Callable[[Any, Any], "str | None"]
REPORTING: ContextVar[bool] = ContextVar("reporting", default=True)


def _stub() -> None: ...


STUB_CODE = _stub.__code__.co_code
"""The bytecode of a function whose body is `...` (or `pass`): what a student copy holds before it is written."""


class WrongOutput(Exception):
    """The student's function returned something that is not the kind of value asked for."""


@dataclass(frozen=True)
class Case:
    """One input of a check: its description, the arguments, and a hint for when the answers differ."""

    name: str
    args: tuple[Any, ...]
    hint: str


@dataclass(frozen=True, repr=False)
class CheckResult:
    """What a check found: `status` is one of STATUSES ("missing": the function raises NotImplementedError)."""

    check: str
    status: str
    message: str

    def __repr__(self) -> str:
        return f"CheckResult(check={self.check!r}, status={self.status!r})"

    def _ipython_display_(self) -> None:
        """Show nothing: the check displayed its report when it ran, and once is enough."""


def report(result: CheckResult) -> CheckResult:
    """Print the result's message, or display it in a notebook (neither inside `unreported`)."""
    if not REPORTING.get():
        return result
    if get_ipython() is None:
        print(result.message)
    else:
        display({"text/plain": result.message}, raw=True)
    return result


@contextmanager
def unreported() -> Iterator[None]:
    """Within this block, checks return their result without printing or displaying it."""
    token = REPORTING.set(False)
    try:
        yield
    finally:
        REPORTING.reset(token)


def assert_passes(check: Callable[[Callable[..., Any]], CheckResult], function: Callable[..., Any]) -> CheckResult:
    """Run `check(function)`: show its report when it passes, else raise AssertionError with the report.

    The body of an otter-grader test: the grader's feedback is then the check's report,
    shown once whether the student or the teacher's grading run calls it.
    """
    with unreported():
        result = check(function)
    if result.status != "pass":
        raise AssertionError(result.message)
    return report(result)


def is_stub(function: Callable[..., Any]) -> bool:
    """Whether `function` is a Python function whose body does nothing (`...` or `pass`): not written yet."""
    code = getattr(function, "__code__", None)
    return code is not None and code.co_code == STUB_CODE


def require_function(check: str, function: Any) -> None:
    """Refuse anything but a function, saying how the check is called."""
    if not callable(function):
        raise TypeError(
            f"check_{check} takes your function itself, e.g. check_{check}(my_function), not its result "
            f"or anything else; got a value of type {type(function).__name__}"
        )


def cloned(args: Sequence[Any]) -> tuple[Any, ...]:
    """Copies of the tensors among `args` (other arguments as they are), so a function cannot change a case."""
    return tuple(arg.clone() if isinstance(arg, Tensor) else arg for arg in args)


def tensor_outcome(function: Callable[..., Any], case: Case) -> Tensor:
    """What `function` returns for the case's arguments, as a float64 tensor on the CPU."""
    returned = function(*cloned(case.args))
    try:
        return torch.as_tensor(returned).detach().to("cpu", torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise WrongOutput(f"your function returned a {type(returned).__name__}; return a tensor") from None


def tensor_difference(shape_hint: str) -> Compare:
    """A comparison of an expected and an obtained tensor that describes how they differ (None: they agree)."""

    def compare(expected: Tensor, got: Tensor) -> str | None:
        if got.shape != expected.shape:
            return f"shape {tuple(got.shape)} instead of {tuple(expected.shape)}: {shape_hint}"
        if torch.allclose(got, expected, rtol=RTOL, atol=ATOL, equal_nan=True):
            return None
        shown_expected, shown_got = show_values(expected, got)
        kind = kind_of_difference(expected, got)
        return "\n".join([f"expected: {shown_expected}", f"got:      {shown_got}", *([kind] if kind else [])])

    return compare


def show_values(expected: Tensor, got: Tensor) -> tuple[str, str]:
    """Both tensors written out when they are small, else the first entry where they differ."""
    if expected.numel() <= SHOWN_VALUES:
        return _rounded(expected), _rounded(got)
    differs = ~torch.isclose(got, expected, rtol=RTOL, atol=ATOL, equal_nan=True)
    first = tuple(int(i) for i in differs.nonzero()[0])
    where = f" at index {first} (entries that differ: {int(differs.sum())} of {differs.numel()})"
    return f"{expected[first].item():.4g}{where}", f"{got[first].item():.4g}"


def _rounded(values: Tensor) -> str:
    return "[" + ", ".join(f"{value:.4g}" for value in values.flatten().tolist()) + "]"


def kind_of_difference(expected: Tensor, got: Tensor) -> str | None:
    """A sentence naming a recognisable difference: NaN or inf, the opposite sign, a constant factor."""
    if (~got.isfinite() & expected.isfinite()).any():
        return "NaN or inf where a finite value is expected: a division by zero?"
    nonzero = expected.abs() > ATOL
    if not nonzero.any() or not torch.allclose(got[~nonzero], expected[~nonzero], rtol=RTOL, atol=ATOL):
        return None
    ratios = got[nonzero] / expected[nonzero]
    if not torch.allclose(ratios, ratios[0].expand_as(ratios), rtol=RTOL):
        return None
    ratio = ratios[0].item()
    if abs(ratio) < RTOL:
        return None
    if abs(ratio + 1) < RTOL:
        return "the right size but the opposite sign"
    return f"every value is {ratio:.4g} times the expected one"


def run_check(
    check: str,
    function: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Sequence[Case],
    *,
    outcome: Outcome = tensor_outcome,
    compare: Compare,
) -> CheckResult:
    """Compare `function` with `reference` on every case and report the first difference.

    `outcome(f, case)` runs f on the case and returns what is compared (for most checks
    the returned tensor); `compare(expected, got)` describes their difference, or
    returns None when they agree.
    """
    require_function(check, function)
    if is_stub(function):
        message = f"[{LABELS['missing']}] {check}: not written yet: its body is still `...`"
        return report(CheckResult(check, "missing", message))
    differing: list[tuple[Case, str]] = []
    for case in cases:
        expected = outcome(reference, case)
        try:
            got = outcome(function, case)
        except NotImplementedError as error:
            hint = str(error) or "it raises NotImplementedError"
            return report(CheckResult(check, "missing", f"[{LABELS['missing']}] {check}: not written yet: {hint}"))
        except WrongOutput as error:
            differing.append((case, str(error)))
            continue
        except Exception as error:  # the student's code may raise anything: a failure on this input
            differing.append((case, f"your function raised {type(error).__name__}: {error}"))
            continue
        difference = compare(expected, got)
        if difference is not None:
            differing.append((case, difference))
    if not differing:
        names = ", ".join(case.name for case in cases)
        message = f"[{LABELS['pass']}] {check}: matches xmllib's reference on all {len(cases)} inputs ({names})"
        return report(CheckResult(check, "pass", message))
    case, difference = differing[0]
    message = "\n".join([
        f"[{LABELS['fail']}] {check}: differs from xmllib's reference on {len(differing)} of {len(cases)} inputs; "
        f"the first is: {case.name}",
        *(f"  {line}" for line in difference.splitlines()),
        f"  hint: {case.hint}",
    ])
    return report(CheckResult(check, "fail", message))
