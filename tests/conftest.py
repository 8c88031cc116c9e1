"""Shared fixtures: a tiny polygons dataset and a tiny configuration, made once per session; otter assign run once
per notebook."""

import hashlib
import shutil
from pathlib import Path

import matplotlib
import pytest

from xmllib.config import preset
from xmllib.data import PolygonSpec, generate_polygons
from xmllib.exercises import student_copies

matplotlib.use("Agg")

TINY_SPEC = PolygonSpec(n_train=16, n_val=8, n_test=8, image_size=32, radius=(4.0, 7.0),
                        objects_per_image=(1, 3), line_width=1)


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory) -> Path:
    """index.csv of 32 px polygons: 16 train, 8 val, 8 test."""
    return generate_polygons(tmp_path_factory.mktemp("polygons"), TINY_SPEC)


@pytest.fixture
def tiny_config():
    """The tutorial preset shrunk to seconds: 32 px, one epoch per phase, a narrow explainer."""
    return preset("tutorial").replace(epochs=(1, 1, 1), min_steps=(0, 0, 0), image_size=32, batch_size=8,
                                      explainer_width=4, aug_prob=0.0, device="cpu")


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tiny models run faster on one thread than on two that compete with other processes."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def otter_assign_once(tmp_path_factory):
    """`otter assign` runs once per distinct solution notebook in a session, and each later call gets a copy of
    its output: the student copies' tests, the CLI's and the grading's assign the same four notebooks (some
    several times), at several seconds a run."""
    assign, cache = student_copies.otter_assign, tmp_path_factory.mktemp("otter_assign")

    def assign_once(solution: Path, out: Path) -> Path:
        done = cache / f"{hashlib.sha256(Path(solution).read_bytes()).hexdigest()}-{Path(solution).name}"
        if not done.exists():
            assign(solution, done.with_suffix(".partial"))
            done.with_suffix(".partial").rename(done)
        shutil.copytree(done, out, dirs_exist_ok=True)
        return out / "student"

    patch = pytest.MonkeyPatch()
    patch.setattr(student_copies, "otter_assign", assign_once)
    yield
    patch.undo()
