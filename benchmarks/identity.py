"""Tracker policies side by side on each scene family: do tracks keep their identity?

Each policy is a name and StreamingTracker options (fields of TrackerOptions, NAME=VALUE), and
the word `detector` for the simulated detector's boxes (sam2core.data.detector, its defaults:
every 4th image, 10% jitter, 20% misses, 0.2 false positives an image) through DetectionTracker;
every target is prompted with its true mask on frame 0 of held-out sequences of each family. Prints one
markdown table (J&F, visibility accuracy, identity collapse rate and collapsed pairs, recovery
within 3 frames, milliseconds per frame) and writes it with the run's settings as JSON.

    . scripts/env.sh && python benchmarks/identity.py --sequences 20 \
        --policy "plain SAM 2" --policy "+ exclusivity" exclusive=true \
        --out docs/benchmarks/identity.json

Options given with --tracker-option apply to every policy (precision=float32 by default, so the
figures do not depend on the CPU's bfloat16 support).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from sam2core import build_model
from sam2core.data import FAMILIES, family
from sam2core.data.detector import DetectorConfig
from sam2core.evaluation.benchmark import MethodScore, evaluate, tracker_options_from_text

DEFAULT_POLICIES = [
    ["plain SAM 2"],
    ["+ exclusivity", "exclusive=true"],
    ["+ motion", "motion=true"],
    ["+ detector", "detector"],
]
COLUMNS = ("family", "policy", "J&F", "visibility", "collapse", "collapsed pairs", "recovered within 3", "ms/frame")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam2.1_hiera_demo")
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--sequences", type=int, default=20, help="held-out sequences per family")
    parser.add_argument("--frames", type=int, help="frames per sequence; none: the benchmark's")
    parser.add_argument("--families", nargs="+", default=[f.name for f in FAMILIES], choices=[f.name for f in FAMILIES])
    parser.add_argument(
        "--policy", nargs="+", action="append", metavar=("NAME", "OPTION=VALUE"),
        help="a row: its name, then tracker options; repeatable (default: plain SAM 2 and + exclusivity)",
    )  # fmt: skip
    parser.add_argument("--tracker-options", default="", metavar="NAME=VALUE,...",
                        help="tracker options of every policy (float32 unless precision is given)")  # fmt: skip
    parser.add_argument("--threads", type=int, help="CPU threads of torch; none: torch's choice")
    parser.add_argument("--out", type=Path, help="JSON record of the table")
    parser.add_argument("--conditions", default="nothing else running",
                        help="what else ran on the machine, for the record's ms/frame")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        policies = {
            spec[0]: (
                tracker_options_from_text(
                    ",".join([args.tracker_options, *(item for item in spec[1:] if item != "detector")])
                ),
                DetectorConfig() if "detector" in spec[1:] else None,
            )
            for spec in args.policy or DEFAULT_POLICIES
        }
    except ValueError as error:
        parser.error(str(error))
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    model = build_model(args.model, checkpoint=args.checkpoint)
    record = {
        "model": args.model,
        "checkpoint": args.checkpoint,
        "sequences_per_family": args.sequences,
        "frames": args.frames,
        "prompt": "mask on frame 0",
        "machine": f"{platform.machine()} {cpu_name()}, {torch.get_num_threads()} torch threads",
        "conditions": args.conditions,
        "rows": [],
    }
    for name in args.families:
        scenes = family(name)
        for policy, (options, detector) in policies.items():
            report = evaluate(
                model, scenes.held_out(args.sequences, num_frames=args.frames), tracker_options=options,
                description=policy, detector=detector,
            )  # fmt: skip
            record["rows"].append(
                {"family": name, "policy": policy, "options": options, "detector": detector, **summary(report.tracker)}
            )
            print(markdown_table(record["rows"][-1:]), flush=True)
            if args.out is not None:  # after every row: a long run interrupted keeps what it measured
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(record, indent=2, default=asdict) + "\n")  # dataclass options
    print(markdown_table(record["rows"]))
    if args.out is not None:
        print(f"wrote {args.out}")
    return 0


def summary(method: MethodScore) -> dict[str, object]:
    """The table's figures of one policy on one family."""
    return {
        "jf": method.jf,
        "visibility_accuracy": method.visibility_accuracy,
        "collapse_rate": method.collapse_rate,
        "collapsed_pairs": method.collapsed_pairs,
        "visible_pairs": method.visible_pairs,
        "recovered_within_3": method.recovered_within_3,
        "ms_per_frame": method.ms_per_frame,
        "per_sequence": {
            str(sequence.seed): {"jf": sequence.jf, "collapsed_pairs": sequence.collapses.collapsed_pairs}
            for sequence in method.sequences
        },
    }


def markdown_table(rows: list[dict[str, object]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        within = "-" if row["recovered_within_3"] is None else f"{row['recovered_within_3']:.0%}"
        cells = [
            row["family"], row["policy"], f"{row['jf']:.3f}", f"{row['visibility_accuracy']:.3f}",
            f"{row['collapse_rate']:.1%}", f"{row['collapsed_pairs']} of {row['visible_pairs']}", within,
            f"{row['ms_per_frame']:.0f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, or the platform's processor string."""
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
