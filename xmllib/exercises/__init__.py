"""Classroom exercises: checks of the pieces students write, their student copies, and grading.

In a notebook, after writing a function: `xmllib.exercises.check_sparsity_loss(sparsity)`
and so on. Each check compares the function with the package's reference on several
inputs and prints either a pass or the first difference with a hint. The exercises are
otter-grader assignments whose tests call the checks through `assert_passes`.
See docs/teachers.md.
"""

from xmllib.exercises.checking import STATUSES, CheckResult, assert_passes
from xmllib.exercises.evaluation_checks import (
    check_aopc,
    check_morf_curve,
    check_pompom,
)
from xmllib.exercises.loss_checks import (
    check_contiguity_loss,
    check_inside_mask_loss,
    check_joint_loss,
    check_sparsity_loss,
    check_weakly_supervised_loss,
)
from xmllib.exercises.model_checks import check_freeze, check_gate

CHECKS = {
    "sparsity_loss": check_sparsity_loss,
    "contiguity_loss": check_contiguity_loss,
    "weakly_supervised_loss": check_weakly_supervised_loss,
    "inside_mask_loss": check_inside_mask_loss,
    "joint_loss": check_joint_loss,
    "gate": check_gate,
    "freeze": check_freeze,
    "morf_curve": check_morf_curve,
    "aopc": check_aopc,
    "pompom": check_pompom,
}
"""Every check, by the name it reports under (its function is check_<name>)."""

__all__ = [
    "CHECKS",
    "STATUSES",
    "CheckResult",
    "assert_passes",
    "check_aopc",
    "check_contiguity_loss",
    "check_freeze",
    "check_gate",
    "check_inside_mask_loss",
    "check_joint_loss",
    "check_morf_curve",
    "check_pompom",
    "check_sparsity_loss",
    "check_weakly_supervised_loss",
]
