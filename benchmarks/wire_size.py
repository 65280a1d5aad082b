"""Bytes on the wire per image for each mask_mode, and for the labels image, on true masks.

    python benchmarks/wire_size.py --size 720 1280 --sequences 3

Takes the first frame of the demo's held-out synthetic sequences (their true masks, scaled to
--size), makes each target a tracker result with a 256-long object pointer (Meta's models), and
prints the serialized size of the TrackedObjectArray in each mask_mode and of the labels image.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from sam2_ros.conversions import MASK_MODES, labels_image, tracked_object_array
from sam2_ros.demo.synthetic_camera import camera_sequences
from sam2core.tracking import ObjectResult
from sam2core.tracking.results import mask_geometry

POINTER_LENGTH = 256


def true_results(masks: np.ndarray, object_ids: tuple[int, ...], height: int, width: int) -> list[ObjectResult]:
    """Visible tracker results whose masks are `masks` (N, h, w) scaled to (height, width)."""
    results = []
    for object_id, mask in zip(object_ids, masks):
        scaled = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        logits = torch.where(torch.from_numpy(scaled), 10.0, -10.0)  # (H, W)
        results.append(ObjectResult(object_id, logits, 5.0, 0.9, torch.zeros(POINTER_LENGTH), mask_geometry(scaled)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[720, 1280], metavar=("HEIGHT", "WIDTH"),
                        help="camera image size in pixels")  # fmt: skip
    parser.add_argument("--sequences", type=int, default=3, help="held-out sequences (first frame of each)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file (scripts/readme_figures.py)")
    args = parser.parse_args()
    height, width = args.size
    print(f"bytes per image at {width}x{height}, first frame of each sequence (mask area: % of the image)")
    print(f"{'objects':>8}{'area %':>8}" + "".join(f"{mode:>12}" for mode in MASK_MODES) + f"{'labels':>12}")
    command = f"python benchmarks/wire_size.py --size {height} {width} --sequences {args.sequences}"
    record = {"command": command, "height": height, "width": width, "images": []}
    for sequence in camera_sequences(args.sequences, frames=1):
        results = true_results(sequence.masks[0], sequence.object_ids, height, width)
        area = 100 * sum(int(r.mask.sum()) for r in results) / (height * width)
        sizes = [len(serialize_message(tracked_object_array(Header(), 0, results, (height, width), mask_mode=mode)))
                 for mode in MASK_MODES]  # fmt: skip
        labels = len(serialize_message(labels_image(results, (height, width), Header())))
        print(f"{len(results):>8}{area:>8.1f}" + "".join(f"{size:>12,}" for size in sizes) + f"{labels:>12,}")
        record["images"].append({"objects": len(results), "area_percent": area, "labels_bytes": labels,
                                 "array_bytes": dict(zip(MASK_MODES, sizes))})  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
