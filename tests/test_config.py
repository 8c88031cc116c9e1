"""Config: defaults, presets, YAML round trip and the errors for values the method cannot use."""

import dataclasses

import pytest
import torch
import yaml

from xmllib.config import Config, ConfigError, preset, preset_differences, resolve_device


def test_paper_defaults_follow_method_section_3():
    config = preset("paper")
    assert config.epochs == (10, 10, 100)
    assert config.alpha == (1.0, 0.25, 0.9)
    assert (config.lr_clf, config.lr_expl) == ((0.01, 0.0, 0.01), (0.0, 0.01, 0.01))
    assert config.patience == (100, 100, 10)
    assert (config.beta, config.gamma, config.init_bias) == (0.9, 1.0, 3.0)
    assert (config.batch_size, config.aug_prob, config.optimizer, config.classifier) == (8, 0.2, "sgd", "resnet18")
    phase2 = config.phase(2)
    assert (phase2.epochs, phase2.alpha, phase2.lr_clf, phase2.lr_expl) == (10, 0.25, 0.0, 0.01)


def test_yaml_round_trip(tmp_path):
    config = preset("tutorial").replace(epochs=(1, 2, 3), class_weights=(1.0, 2.0), loss="unsupervised")
    config.save(tmp_path / "c.yaml")
    assert Config.load(tmp_path / "c.yaml") == config


def test_partial_yaml_applies_over_base(tmp_path):
    (tmp_path / "c.yaml").write_text("gamma: 3.0\nepochs: [1, 1, 1]\n")
    loaded = Config.load(tmp_path / "c.yaml", base=preset("tutorial"))
    assert loaded == preset("tutorial").replace(gamma=3.0, epochs=(1, 1, 1))
    (tmp_path / "p.yaml").write_text("preset: tutorial\nseed: 5\n")
    assert Config.load(tmp_path / "p.yaml") == preset("tutorial").replace(seed=5)


def test_a_single_value_means_every_phase():
    assert Config(patience=4).patience == (4, 4, 4)


@pytest.mark.parametrize("changes, message", [
    ({"epochs": (1, 2)}, "one value per phase"),
    ({"alpha": (1.0, 0.25, 0.9, 0.9)}, "one value per phase"),
    ({"classifier": "alexnet"}, "unknown classifier 'alexnet'"),
    ({"optimizer": "lbfgs"}, "unknown optimizer"),
    ({"loss": "supervised"}, "unknown loss"),
    ({"gates": "layer"}, "unknown gates"),
    ({"alpha": (1.0, 1.5, 0.9)}, r"alpha must lie in \[0, 1\]"),
    ({"batch_size": 0}, "batch_size must be > 0"),
    ({"gamma": -1.0}, "gamma must be >= 0"),
    ({"area": 1.0}, r"area is the share of the map to light: 0 \(off, the paper.s sparsity term\) or in "
                    r"\(0, 1\), got 1.0"),
    ({"colour": True}, "unknown configuration keys"),
])
def test_bad_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        preset("paper").replace(**changes)


def test_unknown_preset_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'fast'.*paper, tutorial"):
        preset("fast")
    with pytest.raises(ConfigError, match="does not exist"):
        Config.load(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        Config.load(tmp_path / "list.yaml")


def test_auto_device_on_this_machine():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_min_steps_raise_a_phases_epochs_to_reach_them():
    config = Config(epochs=(3, 1, 4), min_steps=(100, 0, 50))
    assert config.phase(1).epochs_for(batches_per_epoch=47) == 3
    assert config.phase(1).epochs_for(batches_per_epoch=19) == 6
    assert config.phase(2).epochs_for(batches_per_epoch=1) == 1
    assert config.phase(3).epochs_for(batches_per_epoch=10) == 5
    with pytest.raises(ConfigError, match="min_steps must be >= 0"):
        Config(min_steps=(-1, 0, 0))


def test_a_run_saved_before_an_experiment_was_retired_still_loads_and_one_that_used_it_is_refused(tmp_path):
    saved = {**preset("tutorial").to_dict(), "gate_dropout": 0.0, "phase2_batch_stats": False}
    assert Config.from_dict(saved) == preset("tutorial")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({**saved, "gate_dropout": 0.5}))
    with pytest.raises(ConfigError, match=r"gate_dropout was an experiment .* sets it to 0.5: remove the key"):
        Config.load(tmp_path / "config.yaml")


def test_preset_differences_lists_exactly_the_fields_that_differ_with_both_values():
    table = preset_differences("paper", "tutorial")
    differing = [f.name for f in dataclasses.fields(Config)
                 if getattr(preset("paper"), f.name) != getattr(preset("tutorial"), f.name)]
    assert list(table.index) == differing and "seed" not in table.index
    assert table.loc["epochs"].tolist()[:2] == ["10,10,100", "4,6,15"]
    assert table.loc["head", "meaning"].startswith("explainer head")
    assert preset_differences("tutorial", "tutorial").empty
