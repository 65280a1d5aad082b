"""What the tracker returns for each frame and object."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from sam2core.tracking.exclusivity import TrackHealth


@dataclass(frozen=True)
class MaskGeometry:
    """Where a mask is. box: (x0, y0, x1, y1) pixels, x1/y1 inclusive; centroid: (x, y) mean pixel
    position; both None when the mask is empty (area 0)."""

    box: tuple[int, int, int, int] | None
    centroid: tuple[float, float] | None
    area: int


EMPTY_GEOMETRY = MaskGeometry(box=None, centroid=None, area=0)


def mask_geometry(mask: torch.Tensor | np.ndarray) -> MaskGeometry:
    """Box, centroid and area of an (H, W) bool mask, from its column and row counts, which are
    summed where the mask is (CPU or GPU) and copied to the host once: H + W numbers."""
    mask = torch.as_tensor(mask)
    height, width = mask.shape
    counts = torch.cat([mask.sum(dim=0), mask.sum(dim=1)]).cpu().numpy()  # (W + H,)
    columns, rows = counts[:width], counts[width:]
    area = int(columns.sum())
    if area == 0:
        return EMPTY_GEOMETRY
    xs, ys = np.flatnonzero(columns), np.flatnonzero(rows)
    centroid = (float(columns @ np.arange(width)) / area, float(rows @ np.arange(height)) / area)
    return MaskGeometry(box=(int(xs[0]), int(ys[0]), int(xs[-1]), int(ys[-1])), centroid=centroid, area=area)


@dataclass(frozen=True)
class ObjectResult:
    """One object on one frame.

    mask_logits: (H, W) float32 at the input image's resolution, on the model's device;
        the object is where the logit is > 0.
    object_score: logit that the object is visible; visibility is its sigmoid in [0, 1].
    iou: the model's own estimate of the mask's IoU with the object.
    object_pointer: (C,) the object's embedding on this frame (SAM 2's object pointer).
    geometry: box, centroid and area of the mask (mask_logits > 0), computed once.
    class_id: the object's class, as a detector named it (DetectionTracker); "" when unknown.
    health: TRACKED, or LOST_TO_OTHER when other objects took most of its mask (the tracker's
        `exclusive` option): then it is not visible, whatever its object score.
    """

    object_id: int
    mask_logits: torch.Tensor
    object_score: float
    iou: float
    object_pointer: torch.Tensor
    geometry: MaskGeometry
    class_id: str = ""
    health: TrackHealth = TrackHealth.TRACKED

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) pixel box of the mask, x1/y1 inclusive, or None when the mask is empty."""
        return self.geometry.box

    @property
    def visibility(self) -> float:
        return float(torch.sigmoid(torch.tensor(self.object_score)))

    @property
    def visible(self) -> bool:
        return self.object_score > 0 and self.health is TrackHealth.TRACKED

    @property
    def mask(self) -> torch.Tensor:
        """(H, W) bool."""
        return self.mask_logits > 0


@dataclass(frozen=True)
class FrameResult:
    """Every tracked object on one frame. frame_index counts frames since start or reset."""

    frame_index: int
    objects: dict[int, ObjectResult] = field(default_factory=dict)
