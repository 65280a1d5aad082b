"""Command line of the benchmark, on each scene family: tables, evaluation.json, a J&F bar plot
and overlay videos.

    python -m sam2core.evaluation --model sam2.1_hiera_demo --checkpoint PATH|default \
        --sequences 4 --prompt mask --out DIR [--families cutouts geometric] [--video N]
    python -m sam2core.evaluation --data PATH --format davis --checkpoint PATH --out DIR

evaluation.json holds one report per family (or one for --data, named after its folder), keyed by
that name; a report of your own videos also maps each sequence's number to its folder's name.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from sam2core.build import CheckpointError, build_model
from sam2core.config import MODEL_NAMES
from sam2core.data import FAMILIES, SceneSequence, family
from sam2core.data.datasets import DATA_FORMATS, read_data
from sam2core.data.davis import DatasetError
from sam2core.data.detector import DetectorConfig
from sam2core.evaluation.benchmark import (
    PROMPT_KINDS,
    MethodScore,
    Prediction,
    Report,
    SequenceScore,
    evaluate,
    tracker_options_from_text,
)
from sam2core.evaluation.metrics import RecoveryStats
from sam2core.settings_text import parse_settings
from sam2core.tracking import DetectionOptions
from sam2core.visualization import VideoWriter, overlay

VIDEO_FPS = 8.0
SINGLE_IMAGE_FORMATS = ("masks", "coco")  # data formats of one-frame sequences
METRICS = {"jf": "J&F", "j": "J", "f": "F", "visibility_accuracy": "vis"}  # score field -> table column


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark as the command line ``argv`` asks; the exit status."""
    parser = command_line()
    args = parser.parse_args(argv)
    if args.sequences < 1 or args.video < 0 or (args.threads is not None and args.threads < 1):
        parser.error("--sequences and --threads must be at least 1, --video at least 0")
    if args.frames is not None and args.frames < 1:
        parser.error("--frames must be at least 1")
    if args.data is not None and args.format in SINGLE_IMAGE_FORMATS:
        parser.error(
            f"--format {args.format} holds single images, and the benchmark scores the frames after the prompted "
            "first one of a video: evaluate on videos (--format davis); images train the images stage"
        )
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # random weights, when no checkpoint is given, are the same every run
    try:
        model = build_model(args.model, checkpoint=args.checkpoint, image_size=args.image_size, device=args.device)
    except CheckpointError as error:
        parser.error(str(error))
    description = f"{args.model} ({args.checkpoint or 'random weights'})"
    try:
        detector = None if args.detector is None else parse_settings(DetectorConfig, args.detector)
        detection_options = parse_settings(DetectionOptions, args.detection_options)
        # float32 unless asked otherwise: the same scores on every CPU
        tracker_options = tracker_options_from_text(args.tracker_options)
    except (ValueError, TypeError) as error:
        parser.error(f"--detector / --detection-options / --tracker-options: {error}")
    if detector is not None:
        description += f", simulated detector every {detector.every} images"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.data is not None:  # your own videos: one report named after the folder
        own_videos = functools.partial(read_data, args.data, args.format)
        sources = [(args.data.name, f"{args.data} ({args.format} layout)", own_videos, ())]
    else:  # held_out(N) runs through the first N seeds, whose videos --video asks for
        families = [family(name) for name in args.families]
        sources = [
            (
                f.name,
                f.description,
                functools.partial(f.held_out, args.sequences, num_frames=args.frames),
                f.seeds[: args.video],
            )
            for f in families
        ]
    reports, sequence_names = {}, {}
    for name, about, sequences, videos in sources:
        names = sequence_names[name] = {}

        def write_video(sequence: SceneSequence, prediction: Prediction, name=name, videos=videos) -> None:
            if sequence.seed in videos:
                path = args.out / f"sequence_{name}_{sequence.seed}.mp4"
                write_comparison_video(path, sequence=sequence, prediction=prediction)

        try:
            reports[name] = evaluate(
                model, _named(sequences(), names), prompt=args.prompt, description=description,
                on_sequence=write_video if args.video else None, tracker_options=tracker_options,
                detector=detector, detection_options=detection_options,
            )  # fmt: skip
        except DatasetError as error:
            print(f"python -m sam2core.evaluation: {error}", file=sys.stderr)
            return 2
        print(f"\n{name} scenes: {about}\n{format_table(reports[name], names)}")
    by_family = {name: json.loads(report.to_json()) for name, report in reports.items()}
    if args.data is not None:
        by_family[args.data.name]["sequence_names"] = sequence_names[args.data.name]
    (args.out / "evaluation.json").write_text(json.dumps(by_family, indent=2) + "\n")
    plot_jf_per_sequence(reports, sequence_names, args.out / "jf_per_sequence.png")
    print(f"wrote {args.out / 'evaluation.json'} and {args.out / 'jf_per_sequence.png'}")
    return 0


def command_line() -> argparse.ArgumentParser:
    """The parser of the command's arguments."""
    parser = argparse.ArgumentParser(prog="python -m sam2core.evaluation", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    parser.add_argument("--model", choices=MODEL_NAMES, default="sam2.1_hiera_demo", help="registered model name")
    parser.add_argument("--checkpoint", help="checkpoint file in Meta's format, or 'default'; none: random weights")
    parser.add_argument("--image-size", type=int, help="model input side in pixels; none: the model's")
    parser.add_argument("--sequences", type=int, default=4, help="held-out benchmark sequences to run per family")
    parser.add_argument(
        "--families", nargs="+", choices=[f.name for f in FAMILIES], default=[f.name for f in FAMILIES],
        help="scene families to run",
    )  # fmt: skip
    parser.add_argument("--frames", type=int, help="frames per sequence; none: the benchmark's, 48")
    parser.add_argument("--prompt", choices=PROMPT_KINDS, default="mask", help="how targets are prompted on frame 0")
    parser.add_argument("--out", type=Path, required=True, help="folder for evaluation.json, the plot and videos")
    parser.add_argument("--video", type=int, default=0, metavar="N", help="write overlay mp4s of the first N sequences")
    parser.add_argument("--device", default="cpu", help="torch device of the model: cpu, cuda, cuda:N")
    parser.add_argument("--data", type=Path, help="your own data instead of the synthetic benchmark (see --format)")
    parser.add_argument(
        "--format",
        choices=DATA_FORMATS,
        default="davis",
        help="layout of --data, as training reads it: davis = JPEGImages/<seq>/*.jpg + Annotations/<seq>/*.png "
        "(palette); masks and coco hold single images, which train but cannot be scored as videos",
    )
    parser.add_argument(
        "--detector",
        metavar="NAME=VALUE,...",
        help="feed the tracker a simulated detector's boxes, e.g. every=4,jitter=0.1,miss_rate=0.2,"
        "false_positives=0.2 (fields of sam2core.data.detector.DetectorConfig; '' for its defaults)",
    )
    parser.add_argument(
        "--detection-options",
        default="",
        metavar="NAME=VALUE,...",
        help="with --detector: how detections steer the tracks, e.g. drift_iou=0.6 "
        "(fields of sam2core.tracking.DetectionOptions)",
    )
    parser.add_argument(
        "--tracker-options",
        default="",
        metavar="NAME=VALUE,...",
        help="options of the tracker, e.g. precision=auto (fields of sam2core.tracking.TrackerOptions; "
        "precision is float32 unless given, so that scores are the same on every CPU)",
    )
    parser.add_argument(
        "--threads", type=int, help="CPU threads of torch; none: torch's choice (1 is fastest on a busy machine)"
    )
    return parser


def _named(sequences, names: dict[int, str]):
    """`sequences`, each one's name (see SceneSequence.name) noted in `names` by seed on the way."""
    for sequence in sequences:
        names[sequence.seed] = sequence.name
        yield sequence


def format_table(report: Report, names: dict[int, str] | None = None) -> str:
    """Per-sequence and mean J&F, J, F and visibility accuracy of the tracker and each baseline,
    their recovery after hiding and the tracker's speed, as fixed-width text. Sequences are named
    by `names` (seed -> name), else by seed."""
    methods = report.methods
    names = names or {}
    header = ["sequence", "objects", *(f"{metric} {m.name}" for metric in METRICS.values() for m in methods)]
    rows = [
        [names.get(scores[0].seed, str(scores[0].seed)), str(len(scores[0].objects)), *_cells(scores)]
        for scores in zip(*(method.sequences for method in methods))
    ]
    objects = sum(len(score.objects) for score in report.tracker.sequences)
    scores = _aligned([header, *rows, ["mean", str(objects), *_cells(methods)]], rules=(1, len(rows) + 1))
    recovery = _aligned(
        [["hidden by", "method", "events", "median frames", "recovered", "within 3"]]
        + [
            [stats.cause, method.name, *_recovery(stats)]
            for by_cause in zip(*(method.recovery for method in methods))
            for method, stats in zip(methods, by_cause)
        ],
        rules=(1,),
    )
    identity = _aligned(
        [["method", "collapse", "collapsed pairs", "recovered within 3", "ms/frame"]]
        + [[method.name, *_identity(method)] for method in methods],
        rules=(1,),
    )
    legend = [f"{method.name}: {method.description}" for method in methods]
    prompted = f"every target prompted on frame 0 with a {report.prompt} from ground truth"
    speed = f"tracker speed: {report.tracker.frames_per_second:.1f} frames per second"
    return "\n".join([*scores, "", *recovery, "", *identity, "", *legend, prompted, speed])


def _cells(scores: tuple[SequenceScore, ...] | tuple[MethodScore, ...]) -> list[str]:
    """J&F, J, F and visibility accuracy of each of ``scores`` (one per method), metric by metric."""
    return [f"{getattr(score, key):.3f}" for key in METRICS for score in scores]


def _recovery(stats: RecoveryStats) -> list[str]:
    """Cells of RecoveryStats: events, median frames, fraction recovered, fraction within 3."""
    if stats.events == 0:
        return ["0", "-", "-", "-"]
    median = "never" if stats.median_frames is None else f"{stats.median_frames:g}"
    return [str(stats.events), median, f"{stats.recovered:.0%}", f"{stats.quickly_recovered:.0%}"]


def _identity(method: MethodScore) -> list[str]:
    """Cells of a method's collapse rate, collapsed of visible pairs, recovery within 3 frames and cost."""
    within = "-" if method.recovered_within_3 is None else f"{method.recovered_within_3:.0%}"
    cost = "-" if method.ms_per_frame is None else f"{method.ms_per_frame:.0f}"
    pairs = f"{method.collapsed_pairs} of {method.visible_pairs}"
    return [f"{method.collapse_rate:.1%}", pairs, within, cost]


def _aligned(rows: list[list[str]], *, rules: tuple[int, ...]) -> list[str]:
    """Right-aligned columns of ``rows``, with a horizontal rule before each row index in ``rules``."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows]
    for index in sorted(rules, reverse=True):
        lines.insert(index, "-" * len(lines[0]))
    return lines


def plot_jf_per_sequence(reports: dict[str, Report], sequence_names: dict[str, dict[int, str]], path: Path) -> None:
    """Bar plots of J&F per sequence and on average, the tracker next to the baselines, one panel
    per family of ``reports`` (family name -> Report), sequences named by ``sequence_names``
    (family name -> seed -> name), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    longest = max(len(report.tracker.sequences) for report in reports.values()) + 1
    figure, panels = plt.subplots(
        len(reports), 1, figsize=(max(6.0, 0.9 * longest + 2.0), 4.0 * len(reports)), squeeze=False
    )
    for axes, (name, report) in zip(panels[:, 0], reports.items()):
        names = sequence_names.get(name, {})
        labels = [names.get(score.seed, str(score.seed)) for score in report.tracker.sequences] + ["mean"]
        positions = np.arange(len(labels))
        width = 0.8 / len(report.methods)
        for index, method in enumerate(report.methods):
            values = [score.jf for score in method.sequences] + [method.jf]
            offset = (index - (len(report.methods) - 1) / 2) * width
            axes.bar(positions + offset, values, width=width, label=f"{method.name}: {method.description}")
        axes.set_xticks(positions, labels, rotation=30, ha="right")
        axes.set_ylim(0.0, 1.0)
        axes.set_xlabel(f"{name} sequence")
        axes.set_ylabel("J&F")
        axes.set_title(f"{name} scenes: J&F per sequence, {report.prompt} prompt on frame 0")
        axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_comparison_video(path: Path, *, sequence: SceneSequence, prediction: Prediction) -> None:
    """An mp4 of ``sequence`` with the ground truth (contours) on the left and the prediction
    (filled, with its visibility flag) on the right."""
    with VideoWriter(path, fps=VIDEO_FPS) as writer:
        for index, frame in enumerate(sequence.frames):
            truth = dict(zip(sequence.object_ids, sequence.masks[index]))
            predicted = dict(zip(sequence.object_ids, prediction.masks[index]))
            labels = {
                object_id: f"{object_id} {'visible' if shown else 'hidden'}"
                for object_id, shown in zip(sequence.object_ids, prediction.visible[index])
            }
            left = _titled(overlay(frame, masks=truth, alpha=0.0), f"frame {index} ground truth")
            right = _titled(overlay(frame, masks=predicted, labels=labels), "prediction")
            writer.write(np.concatenate([left, right], axis=1))


def _titled(image: np.ndarray, title: str) -> np.ndarray:
    """``image`` with ``title`` written in its bottom-left corner, white on a dark outline."""
    origin = (4, image.shape[0] - 6)
    cv2.putText(image, title, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, title, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return image


if __name__ == "__main__":
    sys.exit(main())
