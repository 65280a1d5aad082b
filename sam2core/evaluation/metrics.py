"""Scores of a predicted track against ground truth: DAVIS's J and F, visibility, recovery and
identity collapse.

Masks are bool numpy arrays, (..., H, W) with any number of leading dimensions (frames,
objects); a score comes back with the leading shape. Frame 0 carries the prompt, so an object's
summary is taken over frames 1..T-1 (:data:`FIRST_EVALUATED_FRAME`), as in semi-supervised VOS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from sam2core.data import HiddenInterval

Cause = Literal["occluded", "out_of_view"]
CAUSES: tuple[Cause, ...] = ("occluded", "out_of_view")
FIRST_EVALUATED_FRAME = 1
BOUNDARY_TOLERANCE = 0.008  # of the image diagonal, as in DAVIS
RECOVERY_IOU = 0.5  # an object is re-acquired on the first frame with at least this IoU
QUICK_RECOVERY_FRAMES = 3
# Identity collapse: two objects predicted visible whose predicted masks overlap with IoU above
# COLLAPSED_IOU while their true full masks (ignoring occlusion) overlap with IoU below APART_IOU.
COLLAPSED_IOU = 0.5
APART_IOU = 0.1


def region_similarity(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """J: IoU of (..., H, W) bool masks, (...) float64; 1 where both are empty."""
    intersection = np.count_nonzero(predicted & truth, axis=(-2, -1))
    union = np.count_nonzero(predicted | truth, axis=(-2, -1))
    return np.where(union == 0, 1.0, intersection / np.maximum(union, 1))


def boundary_f_measure(
    predicted: np.ndarray, truth: np.ndarray, *, tolerance: float = BOUNDARY_TOLERANCE
) -> np.ndarray:
    """F: DAVIS's boundary F-measure of (..., H, W) bool masks, (...) float64.

    A boundary pixel of one mask is matched when a boundary pixel of the other lies within
    ``ceil(tolerance * diagonal)`` pixels (a disc, as skimage's ``disk``). Precision is the
    matched fraction of the predicted boundary, recall that of the true one, F their harmonic
    mean. Both masks empty gives 1; exactly one empty gives 0.
    """
    height, width = truth.shape[-2:]
    radius = int(np.ceil(tolerance * np.hypot(height, width)))
    offsets = np.arange(-radius, radius + 1)
    disc = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).astype(np.uint8)
    pairs = zip(predicted.reshape(-1, height, width), truth.reshape(-1, height, width))
    scores = [_boundary_f(boundary(p), boundary(t), disc=disc) for p, t in pairs]
    return np.array(scores, dtype=np.float64).reshape(truth.shape[:-2])


def boundary(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of an (H, W) bool mask with a 4-neighbour outside it, beyond the
    frame's edge included; empty exactly when the mask is."""
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    inner = cv2.erode(mask.astype(np.uint8), cross, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return mask & ~inner.astype(bool)


def _boundary_f(predicted: np.ndarray, truth: np.ndarray, *, disc: np.ndarray) -> float:
    """F of two (H, W) bool boundaries, matched within the structuring element ``disc``."""
    predicted_count, truth_count = np.count_nonzero(predicted), np.count_nonzero(truth)
    if predicted_count == 0 or truth_count == 0:
        return float(predicted_count == truth_count)
    near_truth = cv2.dilate(truth.astype(np.uint8), disc).astype(bool)
    near_predicted = cv2.dilate(predicted.astype(np.uint8), disc).astype(bool)
    precision = np.count_nonzero(predicted & near_truth) / predicted_count
    recall = np.count_nonzero(truth & near_predicted) / truth_count
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Recovery:
    """How long a tracker took to re-acquire an object after it was hidden in [start, stop).

    ``frames`` counts from ``stop``, the first frame the object shows again: 0 when the mask of
    that frame already has IoU >= :data:`RECOVERY_IOU`. None when the object is not re-acquired
    before it hides again or the sequence ends.
    """

    object_id: int
    cause: Cause
    start: int
    stop: int
    frames: int | None


def recoveries(*, iou: np.ndarray, visible: np.ndarray, hidden: Iterable[HiddenInterval]) -> tuple[Recovery, ...]:
    """One Recovery per interval of ``hidden`` that ends before the sequence does.

    Args:
        iou: (T,) float, J of the object's predicted mask on every frame.
        visible: (T,) bool, the object's ground-truth visibility.
        hidden: the object's hidden intervals.
    """
    events = []
    for interval in hidden:
        if interval.stop >= len(iou):
            continue
        shown = np.logical_and.accumulate(visible[interval.stop :])  # until it hides again
        hits = np.flatnonzero(iou[interval.stop :][shown] >= RECOVERY_IOU)
        events.append(
            Recovery(
                object_id=interval.object_id,
                cause=interval.cause,
                start=interval.start,
                stop=interval.stop,
                frames=int(hits[0]) if len(hits) else None,
            )
        )
    return tuple(events)


@dataclass(frozen=True)
class RecoveryStats:
    """Recoveries of one cause of hiding (None: every cause), summed over objects and sequences.

    median_frames: median of Recovery.frames over all events, an event never recovered ranking
        after every recovered one; None when there is no event or the median is such an event.
    recovered: fraction of events re-acquired at all; quickly_recovered: fraction re-acquired
        within :data:`QUICK_RECOVERY_FRAMES` frames. Both None without events.
    """

    cause: Cause | None
    events: int
    median_frames: float | None
    recovered: float | None
    quickly_recovered: float | None


def recovery_stats(events: Iterable[Recovery], *, cause: Cause | None) -> RecoveryStats:
    """The summary of the ``events`` of ``cause`` (None: of every cause)."""
    frames = np.array([np.inf if e.frames is None else e.frames for e in events if cause in (None, e.cause)])
    if len(frames) == 0:
        return RecoveryStats(cause=cause, events=0, median_frames=None, recovered=None, quickly_recovered=None)
    median = float(np.median(frames))
    return RecoveryStats(
        cause=cause,
        events=len(frames),
        median_frames=median if np.isfinite(median) else None,
        recovered=float(np.mean(np.isfinite(frames))),
        quickly_recovered=float(np.mean(frames <= QUICK_RECOVERY_FRAMES)),
    )


@dataclass(frozen=True)
class ObjectScore:
    """One object's track over one sequence, scored on frames 1..T-1.

    j, f: means of J and F; jf: their mean (DAVIS's J&F). visibility_accuracy: fraction of
    frames whose predicted visible flag equals the ground truth's. j_per_frame: (T,) J of every
    frame, the prompted frame 0 included. recoveries: one per hidden interval that ends.
    """

    object_id: int
    j: float
    f: float
    jf: float
    visibility_accuracy: float
    j_per_frame: tuple[float, ...]
    recoveries: tuple[Recovery, ...]


def score_object(
    *,
    object_id: int,
    predicted_masks: np.ndarray,
    predicted_visible: np.ndarray,
    truth_masks: np.ndarray,
    truth_visible: np.ndarray,
    hidden: Iterable[HiddenInterval],
) -> ObjectScore:
    """Score one object's track.

    Args:
        object_id: the object's id.
        predicted_masks, truth_masks: (T, H, W) bool.
        predicted_visible, truth_visible: (T,) bool.
        hidden: the intervals in which it is hidden (others' intervals are ignored).
    """
    iou = region_similarity(predicted_masks, truth_masks)
    evaluated = slice(FIRST_EVALUATED_FRAME, None)
    j = float(iou[evaluated].mean())
    f = float(boundary_f_measure(predicted_masks[evaluated], truth_masks[evaluated]).mean())
    own = [interval for interval in hidden if interval.object_id == object_id]
    return ObjectScore(
        object_id=object_id,
        j=j,
        f=f,
        jf=(j + f) / 2,
        visibility_accuracy=float(np.mean(predicted_visible[evaluated] == truth_visible[evaluated])),
        j_per_frame=tuple(iou.tolist()),
        recoveries=recoveries(iou=iou, visible=truth_visible, hidden=own),
    )


@dataclass(frozen=True)
class Collapses:
    """Identity collapses of one sequence of K objects on frames 1..T-1.

    visible_pairs: pairs of objects both predicted visible, counted on every frame.
    collapsed_pairs: those of them whose predicted masks overlap with IoU > COLLAPSED_IOU while
        their true full masks overlap with IoU < APART_IOU: two tracks on one object.
    object_frames: K * (T - 1) when K >= 2, else 0 (one object cannot collapse).
    collapsed_object_frames: object-frames in at least one collapsed pair.
    """

    visible_pairs: int
    collapsed_pairs: int
    object_frames: int
    collapsed_object_frames: int


def pair_overlap(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """IoU of (..., H, W) bool masks, (...) float64; 0 where both are empty (no overlap to speak of)."""
    intersection = np.count_nonzero(first & second, axis=(-2, -1))
    union = np.count_nonzero(first | second, axis=(-2, -1))
    return intersection / np.maximum(union, 1)


def collapses(*, predicted_masks: np.ndarray, predicted_visible: np.ndarray, full_masks: np.ndarray) -> Collapses:
    """Count identity collapses.

    Args:
        predicted_masks: (T, K, H, W) bool; predicted_visible: (T, K) bool.
        full_masks: (T, K, H, W) bool, each object's true extent ignoring occlusion.
    """
    evaluated = slice(FIRST_EVALUATED_FRAME, None)
    masks, visible, full = predicted_masks[evaluated], predicted_visible[evaluated], full_masks[evaluated]
    frames, count = visible.shape
    in_collapse = np.zeros((frames, count), bool)
    visible_pairs = collapsed_pairs = 0
    for a in range(count):
        for b in range(a + 1, count):
            both = visible[:, a] & visible[:, b]  # (T',)
            collapsed = (
                both
                & (pair_overlap(masks[:, a], masks[:, b]) > COLLAPSED_IOU)
                & (pair_overlap(full[:, a], full[:, b]) < APART_IOU)
            )
            visible_pairs += int(both.sum())
            collapsed_pairs += int(collapsed.sum())
            in_collapse[:, a] |= collapsed
            in_collapse[:, b] |= collapsed
    return Collapses(
        visible_pairs=visible_pairs,
        collapsed_pairs=collapsed_pairs,
        object_frames=frames * count if count >= 2 else 0,
        collapsed_object_frames=int(in_collapse.sum()),
    )
