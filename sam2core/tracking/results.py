"""What the tracker returns for each frame and object."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class ObjectResult:
    """One object on one frame.

    mask_logits: (H, W) float32 at the input image's resolution, on the model's device;
        the object is where the logit is > 0.
    object_score: logit that the object is visible; visibility is its sigmoid in [0, 1].
    iou: the model's own estimate of the mask's IoU with the object.
    object_pointer: (C,) the object's embedding on this frame (SAM 2's object pointer).
    box: (x0, y0, x1, y1) pixel box of the mask, x1/y1 inclusive, or None when the mask is empty.
    """

    object_id: int
    mask_logits: torch.Tensor
    object_score: float
    iou: float
    object_pointer: torch.Tensor
    box: tuple[int, int, int, int] | None

    @property
    def visibility(self) -> float:
        return float(torch.sigmoid(torch.tensor(self.object_score)))

    @property
    def visible(self) -> bool:
        return self.object_score > 0

    @property
    def mask(self) -> torch.Tensor:
        """(H, W) bool."""
        return self.mask_logits > 0


@dataclass(frozen=True)
class FrameResult:
    """Every tracked object on one frame. frame_index counts frames since start or reset."""

    frame_index: int
    objects: dict[int, ObjectResult] = field(default_factory=dict)


def mask_box(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) inclusive pixel box of an (H, W) bool mask, None when it is empty."""
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    if rows.numel() == 0:
        return None
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])
