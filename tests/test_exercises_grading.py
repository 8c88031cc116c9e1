"""Grading a fake class end to end: otter assign's autograders, `python -m xmllib grade` (otter run on each).

One correct submission of each assignment, one per typical mistake the checks cover, one
whose function raises, one too slow, one empty file, one that is not JSON: each gets its
row with the expected scores, and the check's report in its feedback.

No outcome depends on the machine's speed: the graded submissions get a timeout that a
correct one never nears (GENEROUS_TIMEOUT), and the too-slow one, graded on its own, sleeps
a hundred times longer than its short timeout (SLOW_TIMEOUT).
"""

import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from xmllib.cli import main
from xmllib.exercises import student_copies
from xmllib.exercises.grading import GRADES, SUMMARIES

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
IMPORTS = ("import torch\nimport torch.nn.functional as F\nfrom xmllib import losses\n"
           "from xmllib.evaluation import patch_order")
GATE = "def apply_gate(features, heatmap):\n    return features * F.{pool}(heatmap, features.shape[-2:])"
SPARSITY = "def sparsity(z):\n    return {body}"
CONTIGUITY = ("def contiguity(z):\n    return (z[:, 1:] - z[:, :-1]).abs().mean(dim=(1, 2)) "
              "+ (z[:, :, 1:] - z[:, :, :-1]).abs().mean(dim=(1, 2))")
WEAKLY = ("def weakly_supervised(z, mask, eps=1e-6):\n    outside = 1 - mask\n"
          "    return ((outside * z).sum(dim=(1, 2)) / (outside.sum(dim=(1, 2)) + eps)).abs()")
INSIDE = ("def inside_mask(z, mask, eps=1e-6):\n"
          "    return (mask * (1 - z)).sum(dim=(1, 2)) / (mask.sum(dim=(1, 2)) + eps)")
JOINT = ("def joint(logits, labels, heatmaps, masks, alpha, beta, gamma):\n"
         "    return {alpha} * F.cross_entropy(logits, labels) "
         "+ {one_minus} * losses.hybrid_explanation_loss(heatmaps, masks, beta, gamma)")
FREEZE = ("def prepare_phase(model, phase):\n"
          "    trains = {{1: (False, True), 2: (True, False), 3: (True, True)}}[phase]\n"
          "    for part, part_trains in zip((model.explainer, model.classifier), trains):\n"
          "        part.requires_grad_(part_trains)\n{mode}")
MORF = """def morf_curve(model, images, heatmaps, patch_size, steps):
    order = patch_order({sign}heatmaps, patch_size)
    per_row = images.shape[-1] // patch_size
    perturbed = images.clone()
    with torch.no_grad():
        first = model(images)[0].softmax(dim=1)
        predicted = first.argmax(dim=1, keepdim=True)
        curve = [first.gather(1, predicted)]
        for k in range(steps):
            for i, patch in enumerate(order[:, k].tolist()):
                top, left = (patch // per_row) * patch_size, (patch % per_row) * patch_size
                perturbed[i, :, top:top + patch_size, left:left + patch_size] = 0.0
            curve.append(model(perturbed)[0].softmax(dim=1).gather(1, predicted))
    return torch.cat(curve, dim=1)"""
AOPC = "def aopc(curves):\n    return (curves[:, :1] - curves).mean(dim=0).cumsum(dim=0){norm}"
POMPOM = ("def pompom(heatmaps, masks, eps=1e-6):\n    outside = 1 - masks\n"
          "    return ((outside * heatmaps) > eps).sum(dim=(1, 2, 3)) / ((outside > eps).sum(dim=(1, 2, 3)) + eps)")
RIGHT = {"sparsity": SPARSITY.format(body="z.abs().mean(dim=(1, 2))"),
         "freeze": FREEZE.format(mode="        part.train(part_trains)"),
         "aopc": AOPC.format(norm=" / torch.arange(1, curves.shape[1] + 1)"), "morf": MORF.format(sign="")}

#: seconds a submission may take: far beyond what a correct one needs on a slow, loaded machine (some 60 s)
GENEROUS_TIMEOUT = 3600
#: the timeout the too-slow submission is graded with, on its own; it sleeps 100 times as long
SLOW_TIMEOUT = 10
SLOW = "slow"

# assignment: {submission: (its cells, the expected score of each question, words its feedback must hold)}
CLASS = {
    "02_architecture": {
        "correct": ([GATE.format(pool="adaptive_avg_pool2d")], {"gate": 1}, ["gate results: All test cases passed!"]),
        "max_pooling": ([GATE.format(pool="adaptive_max_pool2d")], {"gate": 0},
                        ["every value is 16 times the expected one", "(max pooling would open it fully)"]),
    },
    "03_losses": {
        "correct": ([RIGHT["sparsity"], CONTIGUITY, WEAKLY, INSIDE],
                    {"sparsity_loss": 1, "contiguity_loss": 1, "weakly_supervised_loss": 1, "inside_mask_loss": 1}, []),
        "sum": ([SPARSITY.format(body="z.abs().sum(dim=(1, 2))"), CONTIGUITY, WEAKLY, INSIDE], {"sparsity_loss": 0},
                ["every value is 24 times the expected one", "not their sum"]),
        "no_abs": ([SPARSITY.format(body="z.mean(dim=(1, 2))"), CONTIGUITY, WEAKLY, INSIDE], {"sparsity_loss": 0},
                   ["the opposite sign", "absolute values |z|"]),
        "wrong_axis": ([SPARSITY.format(body="z.abs().mean(dim=(0, 1))"), CONTIGUITY, WEAKLY, INSIDE],
                       {"sparsity_loss": 0}, ["not over the batch (dim 0)"]),
        "raises": ([SPARSITY.format(body="z.abs().mean(dim=5)"), CONTIGUITY],
                   {"sparsity_loss": 0, "weakly_supervised_loss": 0, "inside_mask_loss": 0},
                   ["your function raised IndexError", "weakly_supervised_loss"]),
        "slow": ([RIGHT["sparsity"], f"import time\ntime.sleep({100 * SLOW_TIMEOUT})"], {"sparsity_loss": 0}, []),
    },
    "04_phase1_classifier": {
        "correct": ([RIGHT["freeze"], JOINT.format(alpha="alpha", one_minus="(1 - alpha)")],
                    {"freeze": 1, "joint_loss": 1}, []),
        "no_eval": ([FREEZE.format(mode=""), JOINT.format(alpha="alpha", one_minus="(1 - alpha)")], {"freeze": 0},
                    ["BatchNorm running statistics keep changing"]),
        "weights_swapped": ([RIGHT["freeze"], JOINT.format(alpha="(1 - alpha)", one_minus="alpha")],
                            {"freeze": 1, "joint_loss": 0}, ["only the classification term counts"]),
    },
    "07_evaluation": {
        "correct": ([RIGHT["morf"], RIGHT["aopc"], POMPOM], {"morf_curve": 1, "aopc": 1, "pompom": 1}, []),
        "least_relevant_first": ([MORF.format(sign="-"), RIGHT["aopc"], POMPOM], {"morf_curve": 0, "aopc": 1},
                                 ["heatmaps with one hot patch", "most relevant patches (highest mean heatmap first)"]),
        "aopc_not_normalised": ([RIGHT["morf"], AOPC.format(norm=""), POMPOM], {"aopc": 0, "morf_curve": 1},
                                ["got:      [0, 1, 2, 3]", "divided by L + 1"]),
    },
}


def submission(folder, name, cells):
    """A student's notebook holding only the imports and the cells given."""
    path = folder / f"{name}.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(IMPORTS), *map(new_code_cell, cells)],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}), path)
    return path


def grade_folder(submissions, autograder, out, timeout):
    """`python -m xmllib grade` on a folder: {file: (its row of the grades table, its feedback)}."""
    assert main(["grade", str(submissions), "--autograder", str(autograder), "--out", str(out),
                 "--timeout", str(timeout)]) == 0
    table = pd.read_csv(out / GRADES, keep_default_na=False).set_index("file")
    return {file: (row, (out / SUMMARIES / f"{file.removesuffix('.ipynb')}.txt").read_text())
            for file, row in table.iterrows()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Each assignment's autograder from `otter assign`, and its fake class graded through the CLI."""
    results, seconds = {}, {}
    for assignment, students in CLASS.items():
        folder = tmp_path_factory.mktemp(assignment)
        student_copies.otter_assign(NOTEBOOKS / f"{assignment}.ipynb", folder / "dist")
        autograder = next((folder / "dist" / "autograder").glob("*.zip"))
        submissions, slow = folder / "submissions", folder / "slow_submissions"
        submissions.mkdir()
        slow.mkdir()
        for name, (cells, _, _) in students.items():
            submission(slow if name == SLOW else submissions, name, cells)
        if assignment == "03_losses":
            (submissions / "empty.ipynb").write_text("")
            (submissions / "not_json.ipynb").write_text("{ this is not a notebook")
        began = time.monotonic()
        results[assignment] = grade_folder(submissions, autograder, folder / "grades", GENEROUS_TIMEOUT)
        if any(slow.iterdir()):
            results[assignment].update(grade_folder(slow, autograder, folder / "slow_grades", SLOW_TIMEOUT))
        seconds[assignment] = time.monotonic() - began
    print(f"grading seconds per assignment: {seconds}")
    return results


CASES = [(assignment, name) for assignment, students in CLASS.items() for name in students]


@pytest.mark.parametrize("assignment, name", CASES)
def test_each_submission_gets_its_scores_and_the_checks_report_as_feedback(graded, assignment, name):
    row, feedback = graded[assignment][f"{name}.ipynb"]
    cells, scores, words = CLASS[assignment][name]
    questions = [column for column in row.index if column not in ("total_points_earned", "percent_correct",
                                                                   "grading_status")]
    expected = {question: scores.get(question, 1) for question in questions}
    if name == SLOW:
        assert row.grading_status == f"timed out after {SLOW_TIMEOUT} s"
        expected = dict.fromkeys(questions, 0)
    else:
        assert row.grading_status == "Completed"
    assert {question: row[question] for question in questions} == expected
    assert row.total_points_earned == sum(expected.values())
    assert all(word in feedback for word in words), feedback


def test_a_file_that_is_not_a_notebook_gets_a_row_saying_so(graded):
    for name, error in [("empty", "NotJSONError"), ("not_json", "NotJSONError")]:
        row, feedback = graded["03_losses"][f"{name}.ipynb"]
        assert row.grading_status.startswith(f"not graded: nbformat.reader.{error}") and row.total_points_earned == 0
        assert feedback.startswith(f"{name}.ipynb: not graded")


def test_a_failed_check_is_graded_with_its_full_report(graded):
    _, feedback = graded["03_losses"]["sum.ipynb"]
    assert "[FAIL] sparsity_loss: differs from xmllib's reference on 5 of 6 inputs" in feedback
    assert "expected: [1, 1]" in feedback and "got:      [24, 24]" in feedback
