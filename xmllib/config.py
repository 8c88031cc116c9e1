"""One typed configuration for a run, with the paper's defaults and named presets.

The CLI, the notebooks and the checkpoints all use `Config`: per-phase values are
3-tuples (phase 1, 2, 3), everything else is one value. A `Config` validates itself
on creation, so a wrong value fails before anything is trained or written.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from xmllib.losses import EXPLANATION_LOSSES, WEAK_TERMS
from xmllib.models.explainer import HEADS
from xmllib.models.gates import GATINGS
from xmllib.models.joint import CLASSIFIERS, GATE_NORMS
from xmllib.optimizers import OPTIMIZERS
from xmllib.precision import MEMORY_FORMATS, PRECISIONS

PHASES = (1, 2, 3)
DEVICES = ("auto", "cpu", "cuda", "mps")
PER_PHASE = ("epochs", "alpha", "lr_clf", "lr_expl", "patience", "min_steps")
#: which modules each phase trains: (explainer, classifier) (method.md section 3)
TRAINS = {1: (False, True), 2: (True, False), 3: (True, True)}
ON_BAD_DATA = ("error", "skip")
KEEP_RULES = ("loss", "accurate")
INVERSE_FREQUENCY = "inverse"
#: experiments removed after docs/recipe.md measured them (not adopted): key -> the value that meant
#: "off". Run folders saved before keep loading when the key holds that value.
RETIRED = {"gate_dropout": 0.0, "phase2_batch_stats": False}


class ConfigError(ValueError):
    """A configuration value that the method cannot use."""


@dataclass(frozen=True)
class PhaseConfig:
    """The values of one training phase (method.md section 3)."""

    phase: int
    epochs: int
    alpha: float
    lr_clf: float
    lr_expl: float
    patience: int
    min_steps: int = 0

    def epochs_for(self, batches_per_epoch: int) -> int:
        """The epochs this phase runs: `epochs`, raised so that it takes at least `min_steps` optimiser steps."""
        return max(self.epochs, math.ceil(self.min_steps / max(batches_per_epoch, 1)))


def _option(default: Any, help_text: str) -> Any:
    """A `Config` field: its default, and the help its CLI flag shows (`add_config_arguments`)."""
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class Config:
    """Everything that defines a run. Defaults: the paper's ImagenetHVZ recipe."""

    epochs: tuple[int, int, int] = _option((10, 10, 100), "epochs per phase")
    alpha: tuple[float, float, float] = _option((1.0, 0.25, 0.9),
        "weight of the classification loss per phase (1 - alpha weighs the explanation loss)")
    lr_clf: tuple[float, float, float] = _option((0.01, 0.0, 0.01), "classifier learning rate per phase")
    lr_expl: tuple[float, float, float] = _option((0.0, 0.01, 0.01), "explainer learning rate per phase")
    patience: tuple[int, int, int] = _option((100, 100, 10),
        "early-stopping patience (epochs without a lower val loss) per phase")
    min_steps: tuple[int, int, int] = _option((0, 0, 0),
        "ours (paper: 0): optimiser steps each phase takes at least, per phase; epochs are raised to reach "
        "them, so a small dataset trains as many steps as a large one")
    beta: float = _option(0.9, "sparsity weight in the explanation loss (1 - beta weighs contiguity)")
    gamma: float = _option(1.0, "weight of the weakly supervised (mask) term of the hybrid loss")
    init_bias: float = _option(3.0,
        "initial bias of the explainer's head (its BatchNorm's, or its conv's with the sigmoid head; 3.0: "
        "first heatmaps white)")
    loss: str = _option("hybrid", "explanation loss: unsupervised | hybrid (hybrid needs masks)")
    classifier: str = _option("resnet18",
        "classifier: resnet18 | resnet34 | resnet50 | vgg | small (ours: a 4-stage CNN of width 8 with global max "
        "pooling, a 35th of resnet18's compute at 64 px)")
    gates: str = _option("block", "gates after every residual block (block) or every stage (stage)")
    explainer_width: int = _option(32, "channels of the explainer's first level (paper: 32, i.e. 32-64-128)")
    pretrained: bool = _option(False, "start the classifier from torchvision's ImageNet weights (needs network)")
    optimizer: str = _option("sgd", "optimiser: sgd (momentum 0.9, weight decay 1e-4) | adam | adadelta")
    batch_size: int = _option(8, "batch size")
    image_size: int = _option(224, "images are resized to this many pixels square")
    aug_prob: float = _option(0.2, "probability of each augmentation")
    seed: int = _option(0, "random seed")
    device: str = _option("auto", "auto (cuda, then mps, then cpu) | cpu | cuda | mps")
    precision: str = _option("auto",
        "forward passes in: auto (bfloat16 on a CUDA GPU that has it, else float16; float32 on a CPU or MPS) | "
        "float32 | bfloat16 | float16 (these two need CUDA)")
    memory_format: str = _option("auto",
        "the weights' memory layout: auto (channels-last on a CUDA GPU, contiguous elsewhere) | channels_last | "
        "contiguous; the same model up to rounding, only the speed differs")
    num_workers: int = _option(0, "data-loading worker processes")
    class_weights: tuple[float, ...] | str | None = _option(None,
        "class weights of the classification loss (train and val): inverse (inverse class frequency in the "
        "train split) or a comma list in class order")
    norm_mean: tuple[float, float, float] | None = _option(None,
        "per-channel mean the model normalises with, comma list of 3 (unset: ImageNet's when pretrained, "
        "else 0.5)")
    norm_std: tuple[float, float, float] | None = _option(None,
        "per-channel standard deviation, comma list of 3 (unset: ImageNet's when pretrained, else 0.5)")
    on_bad_data: str = _option("error",
        "bad rows in the index (unreadable images, bad masks, unknown labels, duplicates...): error (stop "
        "and list them) | skip (leave them out, named and counted)")
    head: str = _option("tanh_relu",
        "explainer head: tanh_relu (the paper's conv -> BatchNorm -> tanh -> ReLU) | sigmoid (ours: conv -> "
        "sigmoid, no BatchNorm)")
    weak_term: str = _option("outside",
        "weakly supervised term: outside (the paper's: mean heatmap outside the mask) | box (ours: plus the "
        "mean of 1 - heatmap inside the mask) | rivals (ours: box plus the mean of the brightest pixels "
        "outside the mask, as many as it holds)")
    head_penalty: float = _option(0.0,
        "ours (paper: 0): weight of a penalty on the explainer head's pre-activations beyond the range where "
        "it passes a gradient, so no pixel gets stuck black or white")
    gate_norm: str = _option("none",
        "the heatmap that gates the classifier: none (the paper's: as the explainer gives it) | max (ours: "
        "divided by its own maximum and multiplied by the level of a new explainer's maps, so the classifier's "
        "decision does not move with the map's level)")
    deletion: float = _option(0.0,
        "ours (paper: 0), after Dabkowski and Gal (2017): weight of the deletion loss in the explanation loss, "
        "-log(1 - p(true class)) of the classifier behind 1 - heatmap on the images with a target in their mask, "
        "so the map must cover the evidence the decision needs")
    area: float = _option(0.0,
        "ours (paper: 0), after Fong, Patrick and Vedaldi (2019): the share of the map to light; > 0 puts an area "
        "term (the sorted map against a step that lights that share) in the place of the sparsity term, so the "
        "map's level and lit share are pinned and only its shape moves")
    recalibrate_bn: bool = _option(False,
        "ours (paper: false): after every epoch of a phase that trains the classifier, its BatchNorm statistics are "
        "recomputed for the epoch's final weights over the measured train images, so eval mode sees what training "
        "saw")
    keep: str = _option("loss",
        "which epoch's weights a phase keeps: loss (the paper's: the lowest val loss) | accurate (ours: the "
        "lowest val loss among the epochs whose val accuracy is within 0.05 of the accuracy the phase started "
        "from, phases 2 and 3; the most accurate epoch when none is)")
    train_stats_images: int = _option(0,
        "ours (paper: 0, the whole split): images of the train split measured after every epoch (a fixed sample "
        "stratified by label, drawn with the seed; eval mode, no augmentation)")

    def __post_init__(self) -> None:
        for name in PER_PHASE:
            value = getattr(self, name)
            if isinstance(value, (int, float)):
                value = (value,) * 3
            if not isinstance(value, (tuple, list)) or len(value) != 3:
                raise ConfigError(
                    f"{name} needs one value per phase (3 values, e.g. 10,10,60), got {value!r}"
                )
            object.__setattr__(self, name, tuple(value))
        _check_class_weights(self.class_weights)
        if self.class_weights is not None and self.class_weights != INVERSE_FREQUENCY:
            object.__setattr__(self, "class_weights", tuple(float(w) for w in self.class_weights))
        for name in ("norm_mean", "norm_std"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _rgb_triple(name, getattr(self, name)))
        if self.norm_std is not None and min(self.norm_std) <= 0:
            raise ConfigError(f"norm_std must be > 0 for every channel, got {self.norm_std}")
        _check_choice("loss", self.loss, EXPLANATION_LOSSES)
        _check_choice("classifier", self.classifier, CLASSIFIERS)
        _check_choice("gates", self.gates, GATINGS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("device", self.device, DEVICES)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("memory_format", self.memory_format, MEMORY_FORMATS)
        _check_choice("on_bad_data", self.on_bad_data, ON_BAD_DATA)
        _check_choice("head", self.head, HEADS)
        _check_choice("weak_term", self.weak_term, WEAK_TERMS)
        _check_choice("keep", self.keep, KEEP_RULES)
        _check_choice("gate_norm", self.gate_norm, GATE_NORMS)
        for name in ("alpha", "beta", "aug_prob"):
            values = getattr(self, name)
            for v in values if isinstance(values, tuple) else (values,):
                if not 0.0 <= v <= 1.0:
                    raise ConfigError(f"{name} must lie in [0, 1], got {v}")
        _check_positive("epochs", self.epochs, allow_zero=True)
        _check_positive("patience", self.patience)
        _check_positive("min_steps", self.min_steps, allow_zero=True)
        _check_positive("lr_clf", self.lr_clf, allow_zero=True)
        _check_positive("lr_expl", self.lr_expl, allow_zero=True)
        _check_positive("batch_size", (self.batch_size,))
        _check_positive("image_size", (self.image_size,))
        _check_positive("explainer_width", (self.explainer_width,))
        _check_positive("train_stats_images", (self.train_stats_images,), allow_zero=True)
        if self.head_penalty < 0:
            raise ConfigError(f"head_penalty must be >= 0, got {self.head_penalty}")
        if self.deletion < 0:
            raise ConfigError(f"deletion must be >= 0, got {self.deletion}")
        if not 0.0 <= self.area < 1.0:
            raise ConfigError(f"area is the share of the map to light: 0 (off, the paper's sparsity term) or in "
                              f"(0, 1), got {self.area}")
        if self.gamma < 0:
            raise ConfigError(f"gamma must be >= 0, got {self.gamma}")

    def phase(self, number: int) -> PhaseConfig:
        """The values of phase `number` (1, 2 or 3)."""
        if number not in PHASES:
            raise ConfigError(f"phase must be 1, 2 or 3, got {number}")
        i = number - 1
        return PhaseConfig(
            phase=number,
            epochs=self.epochs[i],
            alpha=self.alpha[i],
            lr_clf=self.lr_clf[i],
            lr_expl=self.lr_expl[i],
            patience=self.patience[i],
            min_steps=self.min_steps[i],
        )

    def replace(self, **changes: Any) -> Config:
        """A copy with `changes` applied (and validated); None values are ignored, as are `RETIRED` keys that
        hold their "off" value."""
        changes = {k: v for k, v in _without_retired(changes).items() if v is not None}
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown configuration keys {unknown}; known: {field_names()}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, for YAML files and checkpoints."""
        out = dataclasses.asdict(self)
        for name, value in out.items():
            if isinstance(value, tuple):
                out[name] = list(value)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """Inverse of `to_dict`; unknown keys are an error, missing keys take defaults."""
        return cls().replace(**values)

    def save(self, path: str | Path) -> None:
        """Write this configuration as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: str | Path, base: Config | None = None) -> Config:
        """Read a YAML file of configuration keys (any subset), applied over `base`.

        `base` defaults to the paper's configuration; a `preset` key in the file picks another.
        """
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} does not exist")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(error)}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path} must hold a mapping of configuration keys, got {type(values).__name__}")
        if "preset" in values:
            base = preset(values.pop("preset"))
        return (base or cls()).replace(**values)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML parser's error in one line: what is wrong and where."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else problem


def field_names() -> list[str]:
    """The keys a configuration file or `Config.replace` accepts."""
    return [f.name for f in dataclasses.fields(Config)]


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def _without_retired(values: dict[str, Any]) -> dict[str, Any]:
    """`values` without the `RETIRED` keys at their "off" value; a retired experiment switched on is an error."""
    for name, off in RETIRED.items():
        if name in values and values[name] not in (None, off):
            raise ConfigError(f"{name} was an experiment that xmllib no longer has (docs/recipe.md records what "
                              f"it gave), and this configuration sets it to {values[name]!r}: remove the key, or "
                              f"use an xmllib from before 2026-12-03 for this run")
    return {k: v for k, v in values.items() if k not in RETIRED}


def _check_class_weights(value: Any) -> None:
    """None, "inverse" (inverse class frequency in the train split), or one positive number per class."""
    if value is None or value == INVERSE_FREQUENCY:
        return
    if isinstance(value, (str, int, float)) or not value or not all(
            isinstance(w, (int, float)) and w > 0 for w in value):
        raise ConfigError(
            f"class_weights must be None, {INVERSE_FREQUENCY!r} or one positive number per class "
            f"(in class order, e.g. 1.0,2.5), got {value!r}"
        )


def _rgb_triple(name: str, value: Any) -> tuple[float, float, float]:
    """Three floats, one per RGB channel."""
    if isinstance(value, (str, int, float)) or len(value) != 3:
        raise ConfigError(f"{name} needs 3 values, one per RGB channel (e.g. 0.485,0.456,0.406), got {value!r}")
    return tuple(float(v) for v in value)


def _check_positive(name: str, values: tuple, allow_zero: bool = False) -> None:
    for v in values:
        if v < 0 or (v == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"{name} must be {bound}, got {v}")


#: paper: method.md section 3 (ImagenetHVZ). tutorial: 64 px polygons on a 2-core CPU in
#: minutes, chosen by the measured runs of docs/recipe.md. Beyond the paper (each one flag
#: away from it): the small gated CNN as classifier (`small`: ResNet-18 at 64 px is 35 times
#: its compute and made the maps' selectivity a matter of the seed), phase 2 on the
#: explanation loss alone (alpha 0: the frozen classifier's gradient pinned the maps to the
#: level it learned behind), the sigmoid head, the "box" weak term, the head-range penalty,
#: and min_steps; init_bias -1 (a dark-grey start), Adam with the explainer at 1e-3 (at 3e-3
#: one seed of five was decided by rounding: docs/recipe.md, 2026-12-03), epochs 4/6/15
#: (min_steps: the optimiser steps those epochs take on the demo's 1500 training images at
#: batch 32, so that a smaller dataset trains as many steps), and channels-last weights on
#: every device (1.4 times as fast a training step on a 2-core CPU, docs/benchmarks.md).
PRESETS: dict[str, Config] = {
    "paper": Config(),
    "tutorial": Config(
        classifier="small",
        epochs=(4, 6, 15),
        alpha=(1.0, 0.0, 0.6),
        lr_clf=(1e-3, 0.0, 1e-3),
        lr_expl=(0.0, 1e-3, 1e-3),
        patience=(3, 3, 10),
        min_steps=(188, 282, 705),
        beta=0.3,
        gamma=3.0,
        init_bias=-1.0,
        head="sigmoid",
        weak_term="box",
        head_penalty=1.0,
        explainer_width=8,
        train_stats_images=300,
        optimizer="adam",
        batch_size=32,
        image_size=64,
        aug_prob=0.0,
        memory_format="channels_last",
    ),
}


def preset(name: str) -> Config:
    """A named configuration: `paper` (method.md section 3) or `tutorial` (fast, CPU)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; other names are taken as they are."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' was asked for but this machine has no Apple GPU (MPS); use 'auto' or 'cpu'")
    return torch.device(name)


# The command line's view of a Config: one flag per field, its help from the field.

def comma_list(kind: type) -> Any:
    """An argparse type: `1,2,3` -> a tuple of `kind`, with a clear message for anything else."""
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(part) for part in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma list of {kind.__name__}, got {text!r}") from None
    return parse


def _class_weights(text: str) -> tuple[float, ...] | str:
    return text if text == INVERSE_FREQUENCY else comma_list(float)(text)


def parse_bool(text: str) -> bool:
    """An argparse type: true/false, yes/no or 1/0."""
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def preset_differences(first: str = "paper", second: str = "tutorial") -> pd.DataFrame:
    """Every field in which two presets differ: one row per field (index), their values and what the field means."""
    a, b = preset(first), preset(second)
    rows = {field.name: {first: _show(getattr(a, field.name)), second: _show(getattr(b, field.name)),
                         "meaning": field.metadata["help"]}
            for field in dataclasses.fields(Config) if getattr(a, field.name) != getattr(b, field.name)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=[first, second, "meaning"])


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per `Config` field, named with dashes; defaults are shown for both presets."""
    paper, tutorial = PRESETS["paper"], PRESETS["tutorial"]
    for field in dataclasses.fields(Config):
        default = getattr(paper, field.name)
        if field.name in PER_PHASE:
            kind: Any = comma_list(type(default[0]))
        elif field.name == "class_weights":
            kind = _class_weights
        elif field.name in ("norm_mean", "norm_std"):
            kind = comma_list(float)
        elif isinstance(default, bool):
            kind = parse_bool
        else:
            kind = type(default)
        shown = f"paper: {_show(default)}; tutorial: {_show(getattr(tutorial, field.name))}"
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind, default=None,
                            help=f"{field.metadata['help']} ({shown})")


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def config_from_args(args: argparse.Namespace) -> Config:
    """Preset, then --config file, then flags."""
    config = preset(args.preset)
    if args.config is not None:
        config = Config.load(args.config, base=config)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)}
    return config.replace(**overrides)
