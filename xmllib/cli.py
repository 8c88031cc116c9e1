"""`python -m xmllib`: data, train, test, explain and evaluate from the command line.

Training flags mirror `xmllib.config.Config` one to one; values come from the preset,
then the YAML file given with --config, then the flags (each overriding the one before).
Per-phase values are comma lists, as in the original code: --epochs 10,10,60.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xmllib.config import PER_PHASE, PRESETS, Config, ConfigError, preset

TRAIN_HELP = {
    "epochs": "epochs per phase",
    "alpha": "weight of the classification loss per phase (1 - alpha weighs the explanation loss)",
    "lr_clf": "classifier learning rate per phase",
    "lr_expl": "explainer learning rate per phase",
    "patience": "early-stopping patience (epochs without a lower val loss) per phase",
    "beta": "sparsity weight in the explanation loss (1 - beta weighs contiguity)",
    "gamma": "weight of the weakly supervised (mask) term of the hybrid loss",
    "init_bias": "initial bias of the explainer's last BatchNorm (3.0: first heatmaps white)",
    "loss": "explanation loss: unsupervised | hybrid (hybrid needs masks)",
    "classifier": "classifier: resnet18 | resnet34 | resnet50 | vgg",
    "gates": "gates after every residual block (block) or every stage (stage)",
    "explainer_width": "channels of the explainer's first level (paper: 32, i.e. 32-64-128)",
    "pretrained": "start the classifier from torchvision's ImageNet weights (needs network)",
    "optimizer": "optimiser: sgd (momentum 0.9, weight decay 1e-4) | adam | adadelta",
    "batch_size": "batch size",
    "image_size": "images are resized to this many pixels square",
    "aug_prob": "probability of each augmentation",
    "seed": "random seed",
    "device": "auto (cuda, then mps, then cpu) | cpu | cuda | mps",
    "num_workers": "data-loading worker processes",
    "class_weights": "class weights for the classification loss, comma list in class order",
}


def _comma_list(kind: type) -> Any:
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(part) for part in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma list of {kind.__name__}, got {text!r}") from None
    return parse


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per `Config` field, named with dashes; defaults are shown for both presets."""
    paper, tutorial = PRESETS["paper"], PRESETS["tutorial"]
    for field in dataclasses.fields(Config):
        default = getattr(paper, field.name)
        if field.name in PER_PHASE:
            kind: Any = _comma_list(type(default[0]))
        elif field.name == "class_weights":
            kind = _comma_list(float)
        elif isinstance(default, bool):
            kind = _bool
        else:
            kind = type(default)
        shown = f"paper: {_show(default)}; tutorial: {_show(getattr(tutorial, field.name))}"
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind, default=None,
                            help=f"{TRAIN_HELP[field.name]} ({shown})")


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def config_from_args(args: argparse.Namespace) -> Config:
    """Preset, then --config file, then flags."""
    config = preset(args.preset)
    if args.config is not None:
        config = Config.load(args.config, base=config)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)}
    return config.replace(**overrides)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m xmllib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="make or import datasets (CSV index)")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    synthetic = data_commands.add_parser("synthetic", help="generate the synthetic polygons dataset",
                                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_polygon_arguments(synthetic)

    train = commands.add_parser("train", help="train the three phases and test",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--dataset", required=True, help="CSV index (columns image, mask, label, split)")
    train.add_argument("--out", required=True, help="run folder (resumed if it holds a checkpoint)")
    train.add_argument("--preset", default="paper", choices=sorted(PRESETS), help="starting configuration")
    train.add_argument("--config", default=None, help="YAML file of configuration keys (over the preset)")
    train.add_argument("--no-resume", action="store_true", help="start over even if --out holds a checkpoint")
    add_config_arguments(train)

    test = commands.add_parser("test", help="test a trained model on a split",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    test.add_argument("checkpoint", help="model.pt or checkpoint.pt of a run")
    test.add_argument("--dataset", required=True, help="CSV index")
    test.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to test on")
    test.add_argument("--out", default=None, help="folder for metrics.json and figures (default: print only)")

    explain = commands.add_parser("explain", help="write heatmap overlays for images",
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    explain.add_argument("checkpoint", help="model.pt or checkpoint.pt of a run")
    explain.add_argument("images", nargs="+", help="image files")
    explain.add_argument("--out", default="explanations", help="folder for the PNG overlays")
    return parser


def add_polygon_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for the polygons generator; --out is required, the rest default to PolygonSpec's."""
    from xmllib.data import PolygonSpec

    parser.add_argument("--out", required=True, help="folder for images/, masks/, index.csv")
    for field in dataclasses.fields(PolygonSpec):
        default = getattr(PolygonSpec(), field.name)
        if isinstance(default, (tuple, list)):
            continue
        kind = _bool if isinstance(default, bool) else type(default)
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind, default=default,
                            help=f"PolygonSpec.{field.name}")


def run_data(args: argparse.Namespace) -> None:
    from xmllib.data import PolygonSpec, generate_polygons

    spec_fields = {f.name for f in dataclasses.fields(PolygonSpec)}
    spec = PolygonSpec(**{k: v for k, v in vars(args).items() if k in spec_fields})
    print(generate_polygons(Path(args.out), spec))


def run_train(args: argparse.Namespace) -> None:
    from xmllib.runs import format_summary, train_run

    config = config_from_args(args)
    summary = train_run(args.dataset, config, args.out, resume=not args.no_resume)
    print(f"run folder: {args.out}")
    print(format_summary(summary))


def run_test(args: argparse.Namespace) -> None:
    from xmllib.runs import score_checkpoint

    summary = score_checkpoint(args.checkpoint, args.dataset, args.split, args.out)
    print(json.dumps(summary, indent=2))


def run_explain(args: argparse.Namespace) -> None:
    from xmllib.runs import explain_images

    for path in explain_images(args.checkpoint, args.images, args.out):
        print(path)


COMMANDS = {"data": run_data, "train": run_train, "test": run_test, "explain": run_explain}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; bad input ends with a one-line error and exit status 2, nothing half-written."""
    from xmllib.checkpoints import CheckpointError
    from xmllib.data import DatasetError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (ConfigError, DatasetError, CheckpointError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
