"""A simulated object detector for a sequence with ground truth: the true boxes of its visible
targets, jittered, some missed, plus false positives, on every few images; seeded.

    detections = simulate_detections(sequence, DetectorConfig(every=4, jitter=0.1, miss_rate=0.2))
    detections[t]  # None on images the detector skips, else a tuple of Detection
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sam2core.data.sequence import SceneSequence
from sam2core.tracking.detections import Detection


@dataclass(frozen=True)
class DetectorConfig:
    """How the simulated detector errs.

    every, offset: it runs on images offset, offset + every, ... jitter: standard deviation of
    each box edge's displacement, as a fraction of the box's width (x edges) or height (y edges).
    miss_rate: chance that a visible target is not detected. false_positives: mean number of
    false boxes an image it runs on (Poisson), of a size drawn from the targets' boxes, anywhere.
    class_id: the class of every box. seed: with the sequence's seed, fixes every draw.
    """

    every: int = 4
    offset: int = 0
    jitter: float = 0.1
    miss_rate: float = 0.2
    false_positives: float = 0.2
    class_id: str = "target"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.every < 1 or self.offset < 0:
            raise ValueError(f"every must be at least 1 and offset at least 0, got {self.every}, {self.offset}")
        if self.jitter < 0 or self.false_positives < 0 or not 0 <= self.miss_rate <= 1:
            raise ValueError("jitter and false_positives must be at least 0, miss_rate in [0, 1]")


def true_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """x0, y0, x1, y1 (x1, y1 exclusive) of an (H, W) bool mask, None when it is empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def simulate_detections(sequence: SceneSequence, config: DetectorConfig) -> list[tuple[Detection, ...] | None]:
    """One entry per image of `sequence`: None where the detector does not run, else its boxes
    (the visible targets' true boxes jittered, each kept with chance 1 - miss_rate, then false
    positives), in random order."""
    rng = np.random.default_rng([config.seed, sequence.seed])
    height, width = sequence.frames.shape[1:3]
    first_boxes = [box for box in map(true_box, sequence.masks[0]) if box is not None]
    sizes = np.array([(x1 - x0, y1 - y0) for x0, y0, x1, y1 in first_boxes] or [(width / 8, height / 8)])
    per_image: list[tuple[Detection, ...] | None] = []
    for index in range(len(sequence.frames)):
        if index < config.offset or (index - config.offset) % config.every:
            per_image.append(None)
            continue
        detections = []
        for k in np.flatnonzero(sequence.visibility[index]):
            box = true_box(sequence.masks[index, k])
            if box is None or rng.random() < config.miss_rate:
                continue
            detections.append(
                Detection(_jittered(box, config.jitter, rng), config.class_id, float(rng.uniform(0.5, 1.0)))
            )
        for _ in range(rng.poisson(config.false_positives)):
            box_width, box_height = sizes[rng.integers(len(sizes))]
            x0, y0 = rng.uniform(0, width - box_width), rng.uniform(0, height - box_height)
            box = (float(x0), float(y0), float(x0 + box_width), float(y0 + box_height))
            detections.append(Detection(box, config.class_id, float(rng.uniform(0.3, 0.8))))
        order = rng.permutation(len(detections))
        per_image.append(tuple(detections[i] for i in order))
    return per_image


def _jittered(
    box: tuple[float, float, float, float], jitter: float, rng: np.random.Generator
) -> tuple[float, float, float, float]:
    """`box` with each edge moved by a normal draw of std jitter x the box's size along it,
    kept at least one pixel wide and high."""
    x0, y0, x1, y1 = box
    size = np.array([x1 - x0, y1 - y0, x1 - x0, y1 - y0])
    moved = np.array(box) + rng.normal(0.0, jitter, 4) * size
    moved[2] = max(moved[2], moved[0] + 1.0)
    moved[3] = max(moved[3], moved[1] + 1.0)
    return tuple(float(value) for value in moved)
