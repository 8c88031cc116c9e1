"""`python -m xmllib`: data, train, test, explain, evaluate, exercises and grade from the command line.

Training flags mirror `xmllib.config.Config` one to one; values come from the preset,
then the YAML file given with --config, then the flags (each overriding the one before).
Per-phase values are comma lists, as in the original code: --epochs 10,10,60.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from xmllib.config import (
    PRESETS,
    ConfigError,
    add_config_arguments,
    comma_list,
    config_from_args,
    parse_bool,
)


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
    digits = data_commands.add_parser(
        "digits", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="'is there a 3?' on scikit-learn's bundled handwritten digits (no download): the folder layout "
             "with box masks, and its index.csv")
    digits.add_argument("--out", required=True, help="ROOT folder: ROOT/<split>/<label>/*.png and ROOT/index.csv")
    digits.add_argument("--target", type=int, default=3, help="the digit to find")
    digits.add_argument("--counts", type=comma_list(int), default=(600, 150, 300), help="train,val,test images")
    digits.add_argument("--image-size", type=int, default=64, help="side of the square canvas, pixels")
    digits.add_argument("--seed", type=int, default=0, help="seed of the draw")
    add_import_arguments(data_commands)

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
    add_bad_data_argument(test)

    explain = commands.add_parser("explain", help="write heatmap overlays for images",
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    explain.add_argument("checkpoint", help="model.pt or checkpoint.pt of a run")
    explain.add_argument("images", nargs="+", help="image files")
    explain.add_argument("--out", default="explanations", help="folder for the PNG overlays")

    diagnose = commands.add_parser(
        "diagnose", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="why a model's heatmaps look as they do: accuracy with chosen heatmaps (oracle_maps.csv) and "
             "the share of heatmap pixels the explainer's head can no longer move (diagnosis.json)")
    diagnose.add_argument("checkpoint", help="model.pt or checkpoint.pt of a run")
    diagnose.add_argument("--dataset", required=True, help="CSV index")
    diagnose.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to diagnose on")
    diagnose.add_argument("--out", required=True, help="folder for oracle_maps.csv and diagnosis.json")
    add_bad_data_argument(diagnose)

    evaluate = commands.add_parser("evaluate", help="AOPC (MoRF) and localisation against post-hoc methods")
    add_evaluate_arguments(evaluate)
    add_classroom_arguments(commands)
    return parser


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """`evaluate CHECKPOINT --dataset CSV --out DIR [options]`, defaults from `EvaluationSettings`.

    Lists are space-separated: `--patch-sizes 4 8 --methods in-model saliency`.
    """
    from xmllib.evaluation import METHODS
    from xmllib.report import EvaluationSettings

    defaults = EvaluationSettings()
    parser.add_argument("checkpoint", help="a model.pt or checkpoint.pt written by training")
    parser.add_argument("--dataset", required=True, help="the CSV index of the dataset")
    parser.add_argument("--out", required=True, help="folder for aopc.csv, localisation.csv, aopc_grid.png, "
                                                      "methods.png and notes.txt")
    parser.add_argument("--split", default=defaults.split, choices=("train", "val", "test"),
                        help=f"split of the index to evaluate on (default: {defaults.split})")
    parser.add_argument("--n-images", type=int, default=defaults.n_images,
                        help=f"evaluate N images of the split, drawn at random (--seed) in proportion to each "
                             f"class (default: {defaults.n_images})")
    parser.add_argument("--steps", type=int, default=defaults.steps,
                        help="perturbation steps L (default: min(100, patches) for each patch size)")
    parser.add_argument("--patch-sizes", type=int, nargs="+", default=defaults.patch_sizes,
                        help="patch sizes in px (default: 4,8,16,32 at 224 px, scaled to keep "
                             "the number of patches, e.g. 1,2,4,8 at 64 px)")
    parser.add_argument("--perturbations", nargs="+", default=defaults.perturbations,
                        help=f"any of {' '.join(defaults.perturbations)} (default: all)")
    parser.add_argument("--methods", nargs="+", default=defaults.methods,
                        help=f"any of {' '.join(METHODS)} (default: {' '.join(defaults.methods)}; "
                             "the random order is always added)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help=f"images per forward pass (default: {defaults.batch_size})")
    parser.add_argument("--device", default=defaults.device,
                        help="cpu | cuda | mps (default: the checkpoint's config)")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="seed of the image sample, the uniform noise and the random order")
    parser.add_argument("--figure-images", type=int, default=defaults.figure_images,
                        help=f"images shown in methods.png (default: {defaults.figure_images})")
    add_bad_data_argument(parser)


def add_bad_data_argument(parser: argparse.ArgumentParser) -> None:
    """--on-bad-data for the commands that check an index (data check, test, diagnose, evaluate) as training does."""
    from xmllib.config import ON_BAD_DATA

    parser.add_argument("--on-bad-data", choices=ON_BAD_DATA, default="error",
                        help="bad rows in the index, found by the checks training runs: error (stop and list "
                             "them) | skip (leave them out and count them)")


def add_classroom_arguments(commands: Any) -> None:
    """`exercises` (otter assign: the student copies) and `grade SUBMISSION...` (otter run on each).

    docs/teachers.md describes both."""
    defaults = argparse.ArgumentDefaultsHelpFormatter
    exercises = commands.add_parser("exercises", formatter_class=defaults,
                                    help="write the student copies of the tutorial notebooks and their tests with "
                                         "otter assign (needs the [teach] extra)")
    exercises.add_argument("--notebooks", default="notebooks", help="folder of the solution notebooks")
    exercises.add_argument("--out", default="exercises", help="folder of the student copies")
    exercises.add_argument("--check", action="store_true",
                           help="write nothing; fail (exit status 2) if the student copies are out of date")
    grade = commands.add_parser("grade", formatter_class=defaults,
                                help="grade submissions with otter run, in parallel and without Docker: "
                                     "final_grades.csv and grading-summaries/ as otter grade writes them")
    grade.add_argument("submissions", nargs="+", help="the students' notebooks, or folders of them")
    grade.add_argument("--autograder", required=True, help="the autograder zip that otter assign wrote")
    grade.add_argument("--out", default="grades", help="folder of final_grades.csv and grading-summaries/")
    grade.add_argument("--timeout", type=float, default=600.0, help="seconds each submission may run in all")
    grade.add_argument("--workers", type=int, default=None,
                       help="submissions graded at once (default: one per core)")


def add_polygon_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for the polygons generator; --out is required, the rest default to PolygonSpec's."""
    from xmllib.data import PolygonSpec
    from xmllib.data.polygons import BACKGROUNDS, SHAPE_NAMES

    parser.add_argument("--out", required=True, help="folder for images/, masks/, index.csv")
    parser.add_argument("--distractors", type=_shape_names, default=PolygonSpec().distractors,
                        help=f"comma list of the distractor polygons, any of {', '.join(SHAPE_NAMES)} "
                             "(default: all but the triangle)")
    parser.add_argument("--background", choices=BACKGROUNDS, default=PolygonSpec().background,
                        help="black: white outlines on black; white: black outlines on white (the original's)")
    for field in dataclasses.fields(PolygonSpec):
        default = getattr(PolygonSpec(), field.name)
        if field.name in ("target", "distractors", "background"):
            continue
        help_text = f"PolygonSpec.{field.name}"
        if isinstance(default, tuple):
            kind: Any = comma_list(type(default[0]))
            help_text += " (min,max)"
        else:
            kind = parse_bool if isinstance(default, bool) else type(default)
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind, default=default,
                            help=help_text)


def _shape_names(text: str) -> tuple[tuple[int, int], ...]:
    """`circle,square` -> ((-1, 1), (4, 1)): polygons by name (SHAPE_NAMES)."""
    from xmllib.data.polygons import SHAPE_NAMES

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SHAPE_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown polygon name(s) {unknown or [text]}; choose from {', '.join(SHAPE_NAMES)}")
    return tuple(SHAPE_NAMES[name] for name in names)


def add_import_arguments(data_commands: Any) -> None:
    """`data folder ROOT`, `data voc ROOT` (importers into a CSV index) and `data check INDEX`."""
    from xmllib.data.importers import DEFAULT_RATIOS, MASK_SUFFIX

    defaults = argparse.ArgumentDefaultsHelpFormatter
    folder = data_commands.add_parser(
        "folder", formatter_class=defaults,
        help="index an image-folder layout: ROOT/<class>/*.jpg|png or ROOT/<split>/<class>/..., "
             "masks beside their images as <name>_mask.png")
    voc = data_commands.add_parser(
        "voc", formatter_class=defaults,
        help="index images in a folder layout with Pascal VOC XML boxes (ImageNet's format); "
             "masks are rendered from the boxes")
    for parser in (folder, voc):
        parser.add_argument("root", help="ROOT folder of the layout")
        parser.add_argument("--out", default=None, help="index CSV to write (default: ROOT/index.csv)")
        parser.add_argument("--ratios", type=comma_list(float), default=DEFAULT_RATIOS,
                            help="train,val,test fractions for the splits the layout lacks, drawn per class")
        parser.add_argument("--seed", type=int, default=0, help="seed of the split draw")
        parser.add_argument("--mask-suffix", default=MASK_SUFFIX, help="a mask file is <image stem><suffix>.png")
    voc.add_argument("--objects", nargs="+", default=None,
                     help="object names (XML <name>) whose boxes make the masks (default: each image's class)")
    voc.add_argument("--annotations", default=None, help="folder searched for <image stem>.xml (default: ROOT)")
    voc.add_argument("--masks", default=None,
                     help="folder for the rendered masks, mirroring ROOT (default: beside each image)")
    check = data_commands.add_parser("check", formatter_class=defaults,
                                     help="summarise an index and list its bad rows")
    check.add_argument("index", help="CSV index")
    add_bad_data_argument(check)
    check.add_argument("--out", default=None, help="write the rows kept to this CSV")


def run_data(args: argparse.Namespace) -> None:
    DATA_COMMANDS[args.data_command](args)


def run_synthetic(args: argparse.Namespace) -> None:
    from xmllib.data import PolygonSpec, generate_polygons
    from xmllib.data.polygons import read_references

    spec_fields = {f.name for f in dataclasses.fields(PolygonSpec)}
    spec = PolygonSpec(**{k: v for k, v in vars(args).items() if k in spec_fields})
    index = generate_polygons(Path(args.out), spec)
    print(index)
    references = read_references(args.out)
    print("target selectivity of a map that lights every object (the reference to beat): "
          + ", ".join(f"{split} {value:.3f}" for split, value in references.items()))


def run_import(args: argparse.Namespace) -> None:
    from xmllib.data import (
        check_index,
        folder_index,
        format_report,
        read_index,
        voc_index,
        write_index,
    )
    from xmllib.data.importers import describe_unused

    common = {"ratios": args.ratios, "seed": args.seed, "mask_suffix": args.mask_suffix}
    if args.data_command == "folder":
        imported = folder_index(args.root, **common)
    else:
        imported = voc_index(args.root, objects=args.objects, annotations=args.annotations, masks=args.masks,
                             **common)
    csv = write_index(imported.index, args.out or Path(args.root) / "index.csv")
    print(f"index: {csv}\n{describe_unused(imported.unused)}")
    report = check_index(read_index(csv), "skip")
    print(format_report(report))
    if len(report.skipped):
        print("training stops on these bad rows unless it is given --on-bad-data skip")


def run_check(args: argparse.Namespace) -> None:
    from xmllib.data import check_index, format_report, read_index, write_index

    report = check_index(read_index(args.index), args.on_bad_data)
    print(format_report(report))
    if args.out is not None:
        print(f"rows kept: {write_index(report.index, args.out)}")


def run_digits(args: argparse.Namespace) -> None:
    from xmllib.data import folder_index, write_index
    from xmllib.data.digits import write_digits_folder

    root = write_digits_folder(args.out, target=args.target, counts=tuple(args.counts), image_size=args.image_size,
                               seed=args.seed)
    print(write_index(folder_index(root).index, root / "index.csv"))


DATA_COMMANDS = {"synthetic": run_synthetic, "digits": run_digits, "folder": run_import, "voc": run_import,
                 "check": run_check}


def run_train(args: argparse.Namespace) -> None:
    from xmllib.runs import EpochPrinter, format_summary, train_run

    config = config_from_args(args)
    summary = train_run(args.dataset, config, args.out, callbacks=[EpochPrinter()], resume=not args.no_resume)
    print(f"run folder: {args.out}")
    print(format_summary(summary))


def run_test(args: argparse.Namespace) -> None:
    from xmllib.runs import score_checkpoint

    summary = score_checkpoint(args.checkpoint, args.dataset, args.split, args.out, args.on_bad_data)
    print(json.dumps(summary, indent=2))


def run_diagnose(args: argparse.Namespace) -> None:
    from xmllib.evaluation.diagnosis import describe_diagnosis
    from xmllib.runs import diagnose_checkpoint

    oracles, head = diagnose_checkpoint(args.checkpoint, args.dataset, args.split, args.out, args.on_bad_data)
    print(oracles.to_string(index=False, float_format="%.3f"))
    print(json.dumps(head, indent=2))
    print(describe_diagnosis(oracles, head))


def run_explain(args: argparse.Namespace) -> None:
    from xmllib.runs import explain_images

    for path in explain_images(args.checkpoint, args.images, args.out):
        print(path)


def run_evaluate(args: argparse.Namespace) -> None:
    import pandas as pd

    from xmllib.evaluation import aopc_summary
    from xmllib.report import EvaluationSettings, run_evaluation

    fields = set(EvaluationSettings.__dataclass_fields__)
    settings = EvaluationSettings(**{key: value for key, value in vars(args).items() if key in fields})
    result = run_evaluation(args.checkpoint, args.dataset, args.out, settings, log=print)
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print("\nAOPC at the last step:")
        print(aopc_summary(result["aopc"]))
        print("\nLocalisation (mean over the images counted):")
        print(result["localisation"].pivot_table(index="method", columns="metric", values="value", sort=False))
    print("\nwrote " + ", ".join(str(path) for path in result["files"].values()))


TEACH_TOOLS = ("nbformat", "otter")
"""What the [teach] extra installs for the classroom commands, which read, write, run and grade notebooks
(otter-grader's `otter` runs as a command, so it is looked for rather than imported)."""


def teaching_module(name: str) -> ModuleType:
    """The module `name` of a classroom command; a ValueError naming the [teach] extra when its tools are missing."""
    missing = [tool for tool in TEACH_TOOLS if importlib.util.find_spec(tool) is None]
    if missing:
        raise ValueError(f"this command needs {', '.join(missing)}, which the [teach] extra installs: "
                         "pip install 'xmllib[teach]' (or the repository's `make venv`)")
    return importlib.import_module(name)


def run_exercises(args: argparse.Namespace) -> None:
    copies = teaching_module("xmllib.exercises.student_copies")
    if not args.check:
        for path in copies.write_student_copies(args.notebooks, args.out):
            print(path)
        return
    stale = copies.stale_copies(args.notebooks, args.out)
    if stale:
        raise ValueError(f"the student copies in {args.out}/ are out of date ({', '.join(stale)}): "
                         "run `python -m xmllib exercises` (or `make exercises`)")
    print(f"the student copies in {args.out}/ are up to date")


def run_grade(args: argparse.Namespace) -> None:
    grading = teaching_module("xmllib.exercises.grading")
    grading.grade(args.submissions, args.autograder, args.out, timeout=args.timeout, workers=args.workers)
    print(f"grades: {Path(args.out) / 'final_grades.csv'}, feedback: {Path(args.out) / 'grading-summaries'}")


COMMANDS = {"data": run_data, "train": run_train, "test": run_test, "diagnose": run_diagnose, "explain": run_explain,
            "evaluate": run_evaluate, "exercises": run_exercises, "grade": run_grade}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; bad input ends with a one-line error and exit status 2, nothing half-written.

    Ctrl-C ends with a line saying where training stopped and exit status 130.
    """
    from xmllib.checkpoints import CheckpointError
    from xmllib.data import DatasetError
    from xmllib.models import PretrainedWeightsError
    from xmllib.training import NonFiniteError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (ConfigError, DatasetError, CheckpointError, PretrainedWeightsError, NonFiniteError,
            ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    except KeyboardInterrupt as interrupt:
        parser.exit(130, f"stopped: {interrupt or 'interrupted (Ctrl-C)'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
