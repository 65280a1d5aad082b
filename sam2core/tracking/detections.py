"""Detections from an object detector: the type, their checking and their matching to tracks.

Pure functions on numbers, no model: `check_detections` keeps the usable detections of one
image (clipped to it) and counts the rest by reason; `box_iou` and `match_by_iou` pair tracks
with detections one to one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One detected object on one image.

    box: x0, y0, x1, y1 in that image's pixels (x1 > x0, y1 > y0). class_id: the detector's class
    (any string, e.g. "person" or "42"). score: the detector's confidence.
    """

    box: tuple[float, float, float, float]
    class_id: str = ""
    score: float = 1.0


@dataclass
class DetectionStats:
    """Counts of detections, summed over the images a DetectionTracker has seen.

    received: every detection handed in. accepted: those kept after checking (clipped ones
    included); clipped: accepted with a box cut to the image. rejected_*: dropped, by reason:
    a non-finite box or score (nonfinite), x1 <= x0 or y1 <= y0 (inverted), no overlap with the
    image (outside), a class outside `known_classes` (unknown_class), a score below `min_score`
    (low_score), beyond `max_detections` on one image, the lowest scores first (over_limit).
    matched: accepted detections paired with a track. reprompted: tracks re-prompted with their
    detection's box. new_objects: objects started from unmatched detections; rate_limited:
    unmatched detections of a listed class not started because of the rate limit.
    """

    received: int = 0
    accepted: int = 0
    clipped: int = 0
    rejected_nonfinite: int = 0
    rejected_inverted: int = 0
    rejected_outside: int = 0
    rejected_unknown_class: int = 0
    rejected_low_score: int = 0
    rejected_over_limit: int = 0
    matched: int = 0
    reprompted: int = 0
    new_objects: int = 0
    rate_limited: int = 0

    @property
    def rejected(self) -> int:
        """Every rejected detection, whatever the reason."""
        return sum(getattr(self, f.name) for f in fields(self) if f.name.startswith("rejected_"))

    def add(self, other: DetectionStats) -> None:
        """Add `other`'s counts to these."""
        for each in fields(self):
            setattr(self, each.name, getattr(self, each.name) + getattr(other, each.name))

    def as_dict(self) -> dict[str, int]:
        """Every count by name, `rejected` (the sum) included."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "rejected": self.rejected}


@dataclass(frozen=True)
class CheckedDetections:
    """The usable detections of one image (boxes clipped to it) and the counts of checking."""

    detections: tuple[Detection, ...]
    stats: DetectionStats = field(default_factory=DetectionStats)


def check_detections(
    detections: Iterable[Detection],
    image_size: tuple[int, int],
    *,
    known_classes: Sequence[str] = (),
    min_score: float = 0.0,
    max_detections: int = 100,
) -> CheckedDetections:
    """Keep the usable `detections` of an image of `image_size` (H, W), boxes clipped to it.

    Rejected (counted in the stats, never raised): non-finite numbers, inverted or empty boxes,
    boxes with no pixel inside the image, classes outside `known_classes` (when it is not empty),
    scores below `min_score`; then, past `max_detections`, the lowest-scoring ones.
    """
    height, width = image_size
    stats = DetectionStats()
    kept: list[tuple[Detection, bool]] = []  # (clipped detection, whether clipping changed it)
    for detection in detections:
        stats.received += 1
        x0, y0, x1, y1 = (float(value) for value in detection.box)
        if not all(math.isfinite(value) for value in (x0, y0, x1, y1, float(detection.score))):
            stats.rejected_nonfinite += 1
        elif x1 <= x0 or y1 <= y0:
            stats.rejected_inverted += 1
        elif x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
            stats.rejected_outside += 1
        elif known_classes and detection.class_id not in known_classes:
            stats.rejected_unknown_class += 1
        elif detection.score < min_score:
            stats.rejected_low_score += 1
        else:
            box = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
            kept.append((Detection(box, str(detection.class_id), float(detection.score)), box != (x0, y0, x1, y1)))
    if len(kept) > max_detections:
        kept.sort(key=lambda pair: -pair[0].score)
        stats.rejected_over_limit = len(kept) - max_detections
        kept = kept[:max_detections]
    stats.accepted = len(kept)
    stats.clipped = sum(clipped for _, clipped in kept)
    return CheckedDetections(tuple(detection for detection, _ in kept), stats)


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of (N, 4) and (M, 4) x0, y0, x1, y1 boxes; 0 where a box has no area."""
    a, b = np.asarray(boxes_a, np.float64).reshape(-1, 4), np.asarray(boxes_b, np.float64).reshape(-1, 4)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    intersection = np.clip(width, 0, None) * np.clip(height, 0, None)  # (N, M)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def match_greedy(affinity: np.ndarray, *, threshold: float) -> list[tuple[int, int]]:
    """One-to-one pairs (row, column) of an (N, M) affinity matrix, best first: the highest
    affinity pair is taken, its row and column removed, and so on while affinity >= threshold.
    Ties go to the lower row, then the lower column."""
    affinity = np.asarray(affinity, np.float64)
    order = np.argsort(-affinity, axis=None, kind="stable")
    rows_taken, columns_taken, pairs = set(), set(), []
    for row, column in zip(*np.unravel_index(order, affinity.shape)):
        if affinity[row, column] < threshold:
            break
        if row not in rows_taken and column not in columns_taken:
            pairs.append((int(row), int(column)))
            rows_taken.add(row)
            columns_taken.add(column)
    return pairs
