"""Which way a model's visibility flag errs, per checkpoint and scene family: a visible object
called hidden, a hidden one called visible, and how often an object is called visible in the 4
images after it shows again (what re-finding it needs first), the J&F that goes with them, and
where the region similarity J is lost: the mean over object-frames of 1 - J, split by whether
the object was visible and whether it was called visible (they add up to 1 - mean J).

``--object-score-shifts`` adds each shift to the bias of the object-score head's last layer, so
that the tracker calls an object visible where its score is above -shift instead of 0: the
trade between the two errors at other thresholds, with its J&F. Choose a threshold on seeds the
benchmark does not score (``--first-seed 1000``), never on its first sequences.

    . scripts/env.sh && python benchmarks/visibility_errors.py default checkpoints/scratch6k/checkpoint.pt \
        --sequences 20 --families cutouts geometric

Every target is prompted with its true mask on frame 0 of held-out sequences; float32, so the
figures are the same on every CPU. Frame 0 (the prompt) is not counted.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from sam2core import build_model
from sam2core.data import FAMILIES, SceneSequence, family
from sam2core.evaluation.benchmark import FLOAT32, TRACKER, Prediction, score_sequence, summarize, track_sequence
from sam2core.modeling.sam2 import SAM2Model

AFTER_SHOWING = 4  # images after a hidden interval ends
CASES = {  # an object-frame's case -> (truly visible, called visible)
    "mask": (True, True),
    "called hidden": (True, False),
    "called visible": (False, True),
    "both hidden": (False, False),
}


@dataclass
class VisibilityErrors:
    """Over object-frames 1..T-1 of one model on one family: how many fall in each of CASES and
    the J they lose, and how often an object is called visible as it shows again."""

    frames: dict = field(default_factory=lambda: dict.fromkeys(CASES, 0))  # object-frames by case
    j_lost: dict = field(default_factory=lambda: dict.fromkeys(CASES, 0.0))  # sum of 1 - J by case
    after_showing: int = 0  # object-frames within AFTER_SHOWING of a hidden interval's end
    called_visible_after_showing: int = 0
    scores: list = field(default_factory=list)  # SequenceScore of each sequence

    def add(self, sequence: SceneSequence, prediction: Prediction) -> None:
        truth, called = sequence.visibility[1:], prediction.visible[1:]  # (T-1, K) bool
        score = score_sequence(prediction, sequence)
        self.scores.append(score)
        lost = 1 - np.array([o.j_per_frame[1:] for o in score.objects]).T  # (T-1, K)
        for name, (truly, called_visible) in CASES.items():
            case = (truth == truly) & (called == called_visible)  # (T-1, K)
            self.frames[name] += int(case.sum())
            self.j_lost[name] += float(lost[case].sum())
        for interval in sequence.hidden:
            k = list(sequence.object_ids).index(interval.object_id)
            shown = prediction.visible[interval.stop : interval.stop + AFTER_SHOWING, k]  # (<=4,)
            self.after_showing += len(shown)
            self.called_visible_after_showing += int(shown.sum())

    def row(self) -> str:
        jf = summarize(self.scores, name=TRACKER, description="", frames_per_second=None).jf
        frames = self.frames
        visible, hidden = frames["mask"] + frames["called hidden"], frames["called visible"] + frames["both hidden"]
        return (
            f"{jf:.3f} | "
            f"{frames['called hidden'] / max(visible, 1):.3f} of {visible} "
            f"| {frames['called visible'] / max(hidden, 1):.3f} of {hidden} "
            f"| {self.called_visible_after_showing / max(self.after_showing, 1):.3f} "
            f"| {' / '.join(f'{lost / max(visible + hidden, 1):.3f}' for lost in self.j_lost.values())} |"
        )


def shifted_object_scores(model: SAM2Model, shift: float) -> SAM2Model:
    """A copy of ``model`` whose object scores are all ``shift`` higher."""
    shifted = copy.deepcopy(model)
    with torch.no_grad():
        shifted.sam_mask_decoder.pred_obj_score_head.layers[-1].bias += shift
    return shifted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="checkpoints in Meta's format, or 'default' (the bundled one)")
    parser.add_argument("--model", default="sam2.1_hiera_demo")
    parser.add_argument("--sequences", type=int, default=20, help="held-out sequences per family")
    parser.add_argument("--first-seed", type=int, default=0, help="index of the first held-out seed to run")
    parser.add_argument("--object-score-shifts", type=float, nargs="+", default=[0.0], metavar="SHIFT")
    parser.add_argument("--families", nargs="+", default=[f.name for f in FAMILIES], choices=[f.name for f in FAMILIES])
    parser.add_argument("--threads", type=int, help="CPU threads of torch; none: torch's choice")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rows = []
    for checkpoint in args.checkpoints:
        trained = build_model(args.model, checkpoint=checkpoint).eval()
        for shift in args.object_score_shifts:
            model = shifted_object_scores(trained, shift)
            for name in args.families:
                errors = VisibilityErrors()
                scenes = family(name)
                for seed in tqdm(scenes.seeds[args.first_seed : args.first_seed + args.sequences], desc=name):
                    sequence = scenes.generate(seed, scenes.num_frames)
                    errors.add(sequence, track_sequence(model, sequence, prompt="mask", tracker_options=FLOAT32))
                rows.append(f"| {checkpoint} | {shift:+.1f} | {name} | {errors.row()}")
    print(
        "| checkpoint | object-score shift | family | J&F | visible called hidden | hidden called visible "
        f"| visible on showing again | J lost: {' / '.join(CASES)} |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
