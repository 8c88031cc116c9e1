"""Class weights (inverse frequency or given), normalisation settings, and their use in a run."""

import json

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

import xmllib.training
from xmllib.cli import build_parser
from xmllib.config import Config, ConfigError, config_from_args, preset
from xmllib.data import (
    class_weight_table,
    folder_index,
    inverse_frequency_weights,
    resolve_class_weights,
    write_index,
    write_shapes_folder,
)
from xmllib.runs import train_run


def test_inverse_frequency_matches_scikit_learn_balanced():
    labels = torch.from_numpy(np.random.default_rng(0).choice(4, size=50, p=[0.55, 0.25, 0.15, 0.05]))
    expected = compute_class_weight("balanced", classes=np.arange(4), y=labels.numpy())
    weights = inverse_frequency_weights(labels, 4)
    assert weights.dtype == torch.float32
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-6)


def test_inverse_frequency_by_hand():
    weights = inverse_frequency_weights(torch.tensor([0, 0, 0, 1]), 2)   # N / (K n_c) = 4/6, 4/2
    assert torch.allclose(weights, torch.tensor([2 / 3, 2.0]))


def test_a_class_without_labels_has_no_inverse_frequency():
    with pytest.raises(ValueError, match=r"counts per class: \[2, 0, 1\]"):
        inverse_frequency_weights(torch.tensor([0, 0, 2]), 3)


def test_resolve_class_weights():
    labels, names = torch.tensor([0, 1, 1, 1]), ["a", "b"]
    assert resolve_class_weights(None, labels, names) is None
    assert torch.allclose(resolve_class_weights("inverse", labels, names), torch.tensor([2.0, 2 / 3]))
    assert torch.equal(resolve_class_weights((1.0, 3.0), labels, names), torch.tensor([1.0, 3.0]))
    with pytest.raises(ConfigError, match=r"3 values but there are 2 classes \['a', 'b'\]"):
        resolve_class_weights((1.0, 2.0, 3.0), labels, names)


def test_class_weight_table():
    assert class_weight_table(None, ["a", "b"]) == {"a": 1.0, "b": 1.0}
    assert class_weight_table(torch.tensor([0.5, 2.0]), ["a", "b"]) == {"a": 0.5, "b": 2.0}


@pytest.mark.parametrize("changes, message", [
    ({"class_weights": "balanced"}, "class_weights must be None, 'inverse' or one positive number"),
    ({"class_weights": (1.0, -2.0)}, "class_weights must be"),
    ({"class_weights": ()}, "class_weights must be"),
    ({"class_weights": 2.0}, "class_weights must be"),
    ({"norm_mean": (0.5, 0.5)}, "norm_mean needs 3 values"),
    ({"norm_std": (0.5, 0.0, 0.5)}, "norm_std must be > 0"),
    ({"on_bad_data": "ignore"}, "unknown on_bad_data 'ignore'; choose one of error, skip"),
])
def test_bad_settings(changes, message):
    with pytest.raises(ConfigError, match=message):
        preset("paper").replace(**changes)


def test_settings_round_trip_through_yaml_and_flags(tmp_path):
    config = preset("tutorial").replace(class_weights="inverse", norm_mean=[0.1, 0.2, 0.3], on_bad_data="skip")
    assert config.norm_mean == (0.1, 0.2, 0.3)
    config.save(tmp_path / "c.yaml")
    assert Config.load(tmp_path / "c.yaml") == config
    for flag, expected in (("inverse", "inverse"), ("1,2.5,3", (1.0, 2.5, 3.0))):
        args = build_parser().parse_args(["train", "--dataset", "x.csv", "--out", "o", "--class-weights", flag,
                                          "--norm-std", "0.2,0.3,0.4"])
        assert config_from_args(args).class_weights == expected
        assert config_from_args(args).norm_std == (0.2, 0.3, 0.4)


@pytest.fixture(scope="module")
def imbalanced_index(tmp_path_factory):
    """Shapes with train counts circle 4, square 1, stripes 4 (2 val and 2 test images each)."""
    root = write_shapes_folder(tmp_path_factory.mktemp("shapes"), n_per_class=8, image_size=32)
    frame = folder_index(root, ratios=(0.5, 0.25, 0.25)).index
    squares = frame.index[(frame["label"] == "square") & (frame["split"] == "train")]
    return write_index(frame.drop(squares[1:]), root / "index.csv")


def test_a_run_weighs_training_and_validation_losses_alike(imbalanced_index, tiny_config, tmp_path, monkeypatch,
                                                           capsys):
    seen = []

    def recording_loss(logits, labels, heatmap, objective, **kwargs):
        weights = objective.class_weights
        seen.append((torch.is_grad_enabled(), None if weights is None else weights.tolist()))
        return joint_loss(logits, labels, heatmap, objective, **kwargs)

    joint_loss = xmllib.training.joint_loss
    monkeypatch.setattr(xmllib.training, "joint_loss", recording_loss)
    config = tiny_config.replace(epochs=(1, 0, 0), class_weights="inverse", norm_mean=(0.1, 0.2, 0.3),
                                 norm_std=(0.5, 0.6, 0.7))
    train_run(imbalanced_index, config, tmp_path)
    expected = [0.75, 3.0, 0.75]   # N / (K n_c) with N = 9, K = 3, n = 4, 1, 4
    assert "class weights: circle 0.75, square 3, stripes 0.75" in capsys.readouterr().out
    assert json.loads((tmp_path / "class_weights.json").read_text()) == dict(zip(["circle", "square", "stripes"],
                                                                                 expected))
    assert {grad for grad, _ in seen} == {True, False}   # training batches and evaluation passes
    assert all(weights == pytest.approx(expected) for _, weights in seen)
    model = torch.load(tmp_path / "model.pt", weights_only=True)["model"]
    assert model["mean"].flatten().tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert model["std"].flatten().tolist() == pytest.approx([0.5, 0.6, 0.7])
