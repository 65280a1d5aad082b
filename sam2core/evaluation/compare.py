"""Two benchmark runs on the same sequences, compared sequence by sequence.

    python -m sam2core.evaluation.compare BASE/evaluation.json OTHER/evaluation.json

Two models' overall scores differ by less than their spread over sequences more often than not;
what decides is the difference on each sequence (both runs see the same scenes, so a hard scene
is hard for both). Per family and metric this prints both overall scores, the mean of the
per-sequence differences (OTHER - BASE) with its standard error, and on how many sequences OTHER
is ahead. The runs must hold the same families and the same sequences (seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

METRICS = ("jf", "visibility_accuracy")


@dataclass(frozen=True)
class PairedDifference:
    """OTHER - BASE on one metric of one family: the overall scores (means over objects, as the
    benchmark reports them), and over sequences the mean difference, its standard error and the
    number of sequences where OTHER scores higher, lower."""

    family: str
    metric: str
    base: float
    other: float
    mean: float
    standard_error: float
    ahead: int
    behind: int
    sequences: int


def paired_differences(base: dict, other: dict) -> list[PairedDifference]:
    """Per family (in BASE's order) and metric, OTHER against BASE. `base` and `other` are read
    evaluation.json files; ValueError when their families or sequences differ."""
    if set(base) != set(other):
        raise ValueError(f"the runs hold different families: {sorted(base)} and {sorted(other)}")
    differences = []
    for name in base:
        first, second = base[name]["tracker"], other[name]["tracker"]
        seeds = [sequence["seed"] for sequence in first["sequences"]]
        if seeds != [sequence["seed"] for sequence in second["sequences"]]:
            raise ValueError(f"{name}: the runs scored different sequences (seeds differ)")
        for metric in METRICS:
            deltas = [b[metric] - a[metric] for a, b in zip(first["sequences"], second["sequences"], strict=True)]
            differences.append(_summary(name, metric, first[metric], second[metric], deltas))
    return differences


def _summary(family: str, metric: str, base: float, other: float, deltas: list[float]) -> PairedDifference:
    n = len(deltas)
    standard_error = statistics.stdev(deltas) / math.sqrt(n) if n > 1 else math.nan
    return PairedDifference(
        family, metric, base, other, statistics.fmean(deltas), standard_error,
        ahead=sum(delta > 0 for delta in deltas), behind=sum(delta < 0 for delta in deltas), sequences=n,
    )  # fmt: skip


def format_differences(differences: list[PairedDifference]) -> str:
    """One line per family and metric."""
    return "\n".join(
        f"{d.family:<10} {d.metric:<20} {d.base:.3f} -> {d.other:.3f}   "
        f"paired {d.mean:+.3f} ± {d.standard_error:.3f}   ahead on {d.ahead}, behind on {d.behind} of {d.sequences}"
        for d in differences
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sam2core.evaluation.compare", description=__doc__.split("\n")[0])
    parser.add_argument("base", type=Path, help="evaluation.json of the run compared against")
    parser.add_argument("other", type=Path, help="evaluation.json of the run compared")
    args = parser.parse_args(argv)
    try:
        runs = [json.loads(path.read_text()) for path in (args.base, args.other)]
        print(format_differences(paired_differences(*runs)))
    except (OSError, ValueError, KeyError) as error:
        print(f"cannot compare: {error!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
