"""Motion-aware mode against plain SAM 2 tracking on the held-out benchmark: J&F, visibility
accuracy and milliseconds per frame, per scene family, masks prompted on frame 0.

    python benchmarks/motion_quality.py --sequences 20 [--multimask] [--threads 1]

--multimask also runs both with the decoder's three candidate masks on tracked frames (SAM 2's
released models do so; the bundled demonstration model was trained to track with one mask, and
with one candidate the motion-aware mode can only select memory, not choose masks).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from sam2core.build import build_model
from sam2core.data import FAMILIES, family
from sam2core.evaluation.benchmark import evaluate
from sam2core.tracking import StreamingTracker, TrackerOptions


class StepClock:
    """Seconds the tracker spends in its motion-aware step (candidate choice and filters), the
    direct cost of the option; the frame time around it moves with the machine's load."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.original = StreamingTracker._choose_masks

    def __enter__(self) -> "StepClock":
        clock = self

        def timed(tracker, *args):
            started = time.perf_counter()
            try:
                return clock.original(tracker, *args)
            finally:
                clock.seconds += time.perf_counter() - started

        StreamingTracker._choose_masks = timed
        return self

    def __exit__(self, *exc) -> None:
        StreamingTracker._choose_masks = self.original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam2.1_hiera_demo")
    parser.add_argument("--sequences", type=int, default=20, help="held-out sequences per family")
    parser.add_argument("--families", nargs="+", default=[f.name for f in FAMILIES])
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--multimask", action="store_true", help="also track with three candidate masks")
    parser.add_argument("--threads", type=int, help="CPU threads of torch")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_model(args.model, checkpoint="default")
    single = model.config
    candidates = [("one candidate", single)]
    if args.multimask and not single.multimask_output_for_tracking:
        candidates.append(("three candidates", dataclasses.replace(single, multimask_output_for_tracking=True)))
    print(f"{'family':<10} {'candidates':<17} {'mode':<7} {'J&F':>6} {'vis':>6} {'ms/frame':>9} {'motion step':>12}")
    for name in args.families:
        for label, config in candidates:
            model.config = config
            for motion in (False, True):
                with StepClock() as clock:
                    report = evaluate(
                        model,
                        family(name).held_out(args.sequences),
                        tracker_options=TrackerOptions(precision=args.precision, motion=motion),
                        progress=True,
                    ).tracker
                frames = sum(score.num_frames for score in report.sequences)
                mode = "motion" if motion else "plain"
                ms, step_ms = 1000 / report.frames_per_second, 1000 * clock.seconds / frames
                print(
                    f"{name:<10} {label:<17} {mode:<7} {report.jf:6.3f} {report.visibility_accuracy:6.3f} "
                    f"{ms:9.1f} {step_ms:12.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
