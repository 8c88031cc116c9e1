"""Keep a run folder of `python -m xmllib train` as a recorded run of the notebooks (xmllib/course/recorded.py).

    python tools/record_run.py RUN_DIR paper_recipe --command "python -m xmllib train ..." \
        --machine "2-core Intel Xeon Processor"

Keeps its explanations.png as a 256-colour PNG (a third of the size, so that the package and
notebook 06, which shows it, stay small) and writes run.json (the command, the machine, the run's
minutes from metrics.json, training and test together, and the test figures of `FIGURES`) to
xmllib/course/recorded/NAME/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image

from xmllib.course.recorded import FIGURE, FIGURES, RECORDED, RecordedRun, recorded_run


def record_run(run_dir: str | Path, name: str, command: str, machine: str, root: Path = RECORDED) -> RecordedRun:
    """Keep the run folder `run_dir` as the recorded run `name`; what `recorded_run(name)` then reads."""
    run_dir = Path(run_dir)
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    missing = [f"metrics.json: {key}" for key in (*FIGURES, "seconds") if key not in metrics]
    missing += [] if (run_dir / FIGURE).is_file() else [FIGURE]
    if missing:
        raise ValueError(f"{run_dir} is not the folder of a tested run of `python -m xmllib train`; it lacks {missing}")
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(run_dir / FIGURE) as figure:
        figure.convert("RGB").quantize(colors=256).save(folder / FIGURE, optimize=True)
    record = {"command": command, "machine": machine, "minutes": round(metrics["seconds"] / 60, 1),
              "figures": {key: round(float(metrics[key]), 3) for key in FIGURES}}
    (folder / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    return recorded_run(name, root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("name")
    parser.add_argument("--command", required=True, help="the command that trained the run")
    parser.add_argument("--machine", required=True, help="the machine it trained on, in words")
    args = parser.parse_args()
    print(record_run(args.run_dir, args.name, args.command, args.machine).describe())


if __name__ == "__main__":
    main()
