"""Where a model's J is lost: drawing, segmenting, or tracking. One table per checkpoint.

    . scripts/env.sh && python benchmarks/mask_quality.py --checkpoint default --sequences 20 --threads 1

For the held-out sequences of each scene family, three figures of J (region similarity) over the
object-frames where the target is in view:

- ceiling: the true mask drawn through the model's output grid (S/4 x S/4 logits, area-averaged,
  upsampled bilinearly, thresholded): the best any mask of this model can be.
- box oracle: the image predictor given each target's true box on every 4th frame, no memory:
  how well the model segments an object it is told where to find (one mask, and the best of its
  three candidates).
- tracked: the streaming tracker, every target prompted with its true mask on frame 0 (float32),
  by frame: frame 0 (the prompt), frame 1 (the first read of memory), 2-7, 8-23, 24 on.

The tracker's J&F in the evaluation command also scores the frames where a target is hidden;
this one does not, so that the three figures measure the same thing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from sam2core import build_model
from sam2core.data import FAMILIES, family
from sam2core.data.sequence import SceneSequence
from sam2core.evaluation.benchmark import track_sequence
from sam2core.evaluation.metrics import region_similarity
from sam2core.image_predictor import ImagePredictor
from sam2core.tracking.tracker import TrackerOptions

ORACLE_EVERY = 4  # frames between the box oracle's images
FRAME_SPANS = {"frame 0": (0, 1), "frame 1": (1, 2), "2-7": (2, 8), "8-23": (8, 24), "24-": (24, None)}
COLUMNS = ("family", "ceiling", "box oracle", "best of 3", *(f"tracked, {span}" for span in FRAME_SPANS))


def ceiling(sequence: SceneSequence, grid: int) -> list[float]:
    """J of each visible object-frame's true mask drawn through a (grid, grid) logit map."""
    height, width = sequence.masks.shape[-2:]
    truth = torch.from_numpy(sequence.masks[sequence.visibility]).float()[:, None]  # (N, 1, H, W)
    logits = F.interpolate(truth, size=(grid, grid), mode="area") - 0.5  # (N, 1, grid, grid)
    drawn = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)[:, 0] > 0
    return region_similarity(drawn.numpy(), truth[:, 0].bool().numpy()).tolist()


def box_oracle(predictor: ImagePredictor, sequence: SceneSequence) -> tuple[list[float], list[float]]:
    """J of the single mask and of the best of three candidates, from each visible target's box."""
    single, best = [], []
    for index in range(0, len(sequence.frames), ORACLE_EVERY):
        predictor.set_image(sequence.frames[index])
        for truth in sequence.masks[index][sequence.visibility[index]]:
            ys, xs = np.nonzero(truth)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            for multimask, scores in ((False, single), (True, best)):
                masks, _, _ = predictor.predict(box=box, multimask_output=multimask)  # (M, H, W)
                scores.append(float(region_similarity(masks.astype(bool), truth[None]).max()))
    return single, best


def tracked_by_frame(model, sequence: SceneSequence) -> dict[str, list[float]]:
    """J of each visible object-frame the tracker predicts, grouped by FRAME_SPANS."""
    prediction = track_sequence(model, sequence, prompt="mask", tracker_options=TrackerOptions(precision="float32"))
    scores = region_similarity(prediction.masks, sequence.masks)  # (T, K)
    return {
        span: scores[start:stop][sequence.visibility[start:stop]].tolist()
        for span, (start, stop) in FRAME_SPANS.items()
    }


def measure(model, names: list[str], sequences: int) -> list[dict[str, float | str]]:
    """One row of mean J per family (COLUMNS)."""
    predictor = ImagePredictor(model)
    grid = model.config.image_size // 4
    rows = []
    for name in names:
        pools: dict[str, list[float]] = {column: [] for column in COLUMNS[1:]}
        for sequence in tqdm(family(name).held_out(sequences), total=sequences, desc=name, unit="sequence"):
            pools["ceiling"] += ceiling(sequence, grid)
            single, best = box_oracle(predictor, sequence)
            pools["box oracle"] += single
            pools["best of 3"] += best
            for span, scores in tracked_by_frame(model, sequence).items():
                pools[f"tracked, {span}"] += scores
        rows.append({"family": name, **{column: float(np.mean(scores)) for column, scores in pools.items()}})
    return rows


def markdown(rows: list[dict[str, float | str]]) -> str:
    """The rows as a markdown table, J to three decimals."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(row[c] if c == "family" else f"{row[c]:.3f}" for c in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam2.1_hiera_demo")
    parser.add_argument("--checkpoint", nargs="+", default=["default"], help="checkpoints (Meta's format) or 'default'")
    parser.add_argument("--families", nargs="+", default=[f.name for f in FAMILIES], choices=[f.name for f in FAMILIES])
    parser.add_argument("--sequences", type=int, default=20, help="held-out sequences per family")
    parser.add_argument("--threads", type=int, help="torch CPU threads; none: torch's choice")
    parser.add_argument("--json", type=Path, help="also write the tables and settings here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {}
    for checkpoint in args.checkpoint:
        rows = measure(build_model(args.model, checkpoint=checkpoint), args.families, args.sequences)
        results[checkpoint] = rows
        print(f"\n{args.model} ({checkpoint}), {args.sequences} held-out sequences a family, J in view\n")
        print(markdown(rows), flush=True)
    if args.json:
        settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
        args.json.write_text(json.dumps({"settings": settings, "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
