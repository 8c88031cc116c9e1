"""The notebooks' imports and the CLI's start without the heavy libraries that only some functions need.

docs/design.md: torchvision, scikit-learn, captum and albumentations (with OpenCV) are
imported inside the functions that use them. A kernel that imports what the notebooks
import must not load them: each costs a second or so in every notebook and `otter run`.
"""

import subprocess
import sys

import pytest

HEAVY = ("torchvision", "sklearn", "captum", "albumentations", "cv2", "seaborn")
#: what the notebooks' first cells import, and the command line
ENTRY_POINTS = (
    "xmllib.course.tutorial", "xmllib.course.widgets", "xmllib.course.playground", "xmllib.course.diagrams",
    "xmllib.course.recorded", "xmllib.evaluation.diagnosis", "xmllib.evaluation.predictions", "xmllib.report",
    "xmllib.plots", "xmllib.exercises", "xmllib.runs", "xmllib.data", "xmllib.models", "xmllib.cli",
)


def loaded_after(statement: str) -> list[str]:
    """The HEAVY modules a fresh interpreter holds after running `statement`."""
    probe = f"import sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_the_notebooks_and_the_cli_import_without_the_heavy_libraries():
    assert loaded_after("\n".join(f"import {module}" for module in ENTRY_POINTS)) == []


@pytest.mark.parametrize(("statement", "library"), [
    ("from xmllib.models import build_model; build_model('resnet18', 2, explainer_width=4)", "torchvision"),
    ("import torch; from xmllib.metrics import roc_auc_per_class; "
     "roc_auc_per_class(torch.tensor([[0.8, 0.2], [0.3, 0.7]]), torch.tensor([0, 1]))", "sklearn"),
    ("from xmllib.data import make_augmentation; make_augmentation(0.5)", "albumentations"),
])
def test_a_function_that_needs_a_heavy_library_loads_it_itself(statement, library):
    assert library in loaded_after(statement)
