"""What the tracker returns for each frame and object."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

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
    """Box, centroid and area of an (H, W) bool mask."""
    mask = torch.as_tensor(mask)
    return geometry_from_counts(mask.sum(dim=0).cpu().numpy(), mask.sum(dim=1).cpu().numpy())


def geometry_from_counts(columns: np.ndarray, rows: np.ndarray) -> MaskGeometry:
    """Box, centroid and area of a mask from its pixel counts per column (W,) and per row (H,)."""
    area = int(columns.sum())
    if area == 0:
        return EMPTY_GEOMETRY
    xs, ys = np.flatnonzero(columns), np.flatnonzero(rows)
    centroid = (float(columns @ np.arange(len(columns))) / area, float(rows @ np.arange(len(rows))) / area)
    return MaskGeometry(box=(int(xs[0]), int(ys[0]), int(xs[-1]), int(ys[-1])), centroid=centroid, area=area)


@dataclass(frozen=True)
class ObjectResult:
    """One object on one frame.

    mask_logits: (H, W) float32 at the input image's resolution, on the host (CPU) whatever the
        model's device: the frame's results leave the device once, together (object_results);
        the object is where the logit is > 0.
    object_score: logit that the object is visible; visibility is its sigmoid in [0, 1].
    iou: the model's own estimate of the mask's IoU with the object.
    object_pointer: (C,) the object's embedding on this frame (SAM 2's object pointer), on the host.
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


def object_results(
    object_ids: list[int],
    low_res_masks: torch.Tensor,
    object_score_logits: torch.Tensor,
    iou: torch.Tensor,
    object_pointers: torch.Tensor,
    image_size: tuple[int, int],
    health: list[TrackHealth],
) -> dict[int, ObjectResult]:
    """The results of N objects on one frame from their decoder outputs, on the model's device:
    low_res_masks (N, 1, h, w) logits, object_score_logits and iou (N, 1), object_pointers (N, C).
    The masks are upsampled to image_size (H, W) and their geometry counted as one batch there,
    then everything is copied to the host in one transfer (to_host)."""
    mask_logits = F.interpolate(low_res_masks.float(), size=image_size, mode="bilinear", align_corners=False)[:, 0]
    masks = (mask_logits > 0).float()  # (N, H, W); summed as float32, exact to 2**24 pixels per row or column
    counts = torch.cat([masks.sum(dim=1), masks.sum(dim=2)], dim=1)  # (N, W + H): per column, per row
    scores = torch.cat([object_score_logits.float(), iou.float()], dim=1)  # (N, 2)
    mask_logits, counts, scores, object_pointers = to_host([mask_logits, counts, scores, object_pointers.float()])
    width = image_size[1]
    counts, scores = counts.numpy(), scores.tolist()
    return {
        object_id: ObjectResult(
            object_id=object_id,
            mask_logits=mask_logits[i],
            object_score=scores[i][0],
            iou=scores[i][1],
            object_pointer=object_pointers[i],
            geometry=geometry_from_counts(counts[i, :width], counts[i, width:]),
            health=health[i],
        )
        for i, object_id in enumerate(object_ids)
    }


def to_host(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """float32 tensors of one device on the host, in one device-to-host copy (one
    synchronisation): flattened into one buffer there and split here. On the CPU, as they are."""
    if tensors[0].device.type == "cpu":
        return tensors
    buffer = torch.cat([tensor.flatten() for tensor in tensors]).cpu()
    parts = buffer.split([tensor.numel() for tensor in tensors])
    return [part.view(tensor.shape) for part, tensor in zip(parts, tensors)]
