"""How well the node's depth outputs match the synthetic camera's truth, without a ROS graph.

Runs sam2core.locating.ObjectLocator (what the node runs with use_depth) over held-out synthetic
sequences, on the depth images the synthetic camera publishes (noisy millimetres with dropouts,
sam2core.data.depth.sensor_depth) and its camera, and prints the 3D position error of visible
objects and the accuracy of the visibility reasons (sam2_ros.demo.depth_score.DepthScore).

--masks truth: the true masks and visibility on every frame (the depth pipeline alone).
--masks tracker: the streaming tracker's masks, every target prompted on frame 0 with its true
mask (what the node publishes; the bundled demonstration model by default).

    . scripts/env.sh && python benchmarks/depth_accuracy.py --sequences 20 --masks truth
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from tqdm import tqdm

from sam2_ros.demo.depth_score import DepthScore
from sam2core import build_model
from sam2core.data import held_out_sequences
from sam2core.data.depth import sensor_depth, synthetic_camera, visibility_causes
from sam2core.data.scene import SceneConfig
from sam2core.evaluation.benchmark import FLOAT32, track_sequence
from sam2core.locating import DepthSettings, ObjectLocator

FRAME_NS = 33_333_333  # the sequences played as a 30 FPS camera


def score_sequences(args: argparse.Namespace) -> DepthScore:
    score = DepthScore()
    model = build_model(args.model, checkpoint=args.checkpoint) if args.masks == "tracker" else None
    for sequence in tqdm(held_out_sequences(args.sequences), total=args.sequences, unit="sequence"):
        if model is None:
            masks, visible = sequence.masks, sequence.visibility
        else:
            prediction = track_sequence(model, sequence, prompt="mask", tracker_options=FLOAT32)
            masks, visible = prediction.masks, prediction.visible
        height, width = sequence.frames.shape[1:3]
        camera = synthetic_camera(SceneConfig(height=height, width=width))
        causes = visibility_causes(sequence.visibility, sequence.hidden, sequence.object_ids)
        locator = ObjectLocator(DepthSettings())
        rng = np.random.default_rng(sequence.seed)
        for t in range(len(sequence.frames)):
            depth = sensor_depth(sequence.depth[t], rng).astype(np.float32) / 1000.0
            depth[depth == 0] = np.nan
            located = locator.locate(
                {object_id: masks[t, k] & visible[t, k] for k, object_id in enumerate(sequence.object_ids)},
                {object_id: bool(visible[t, k]) for k, object_id in enumerate(sequence.object_ids)},
                depth, camera, t * FRAME_NS,
            )  # fmt: skip
            for k, object_id in enumerate(sequence.object_ids):
                found = located[object_id]
                score.add(sequence.positions[t, k], causes[t, k], found.reason, found.position)
    return score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=20, help="held-out sequences (48 frames each)")
    parser.add_argument("--masks", choices=("truth", "tracker"), default="truth")
    parser.add_argument("--model", default="sam2.1_hiera_demo")
    parser.add_argument("--checkpoint", default="default")
    args = parser.parse_args()
    summary = score_sequences(args).summary()
    print(f"depth_accuracy: {args.sequences} held-out sequences, masks from the {args.masks}")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
