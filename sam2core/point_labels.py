"""Prompts as the prompt encoder reads them: points in model-input pixels, each with a label.

A box x0, y0, x1, y1 is two points (SAM 2's rule): its top-left corner labelled BOX_TOP_LEFT, then
its bottom-right corner labelled BOX_BOTTOM_RIGHT, before any click. The prompt encoder, the
tracker's prompt checks, the image predictor and training's simulated prompts all take the labels
and the rule from here; this module loads no model code.
"""

from __future__ import annotations

import torch
from torch import Tensor

NEGATIVE = 0  # a click on what is not the object
POSITIVE = 1  # a click on the object
BOX_TOP_LEFT = 2
BOX_BOTTOM_RIGHT = 3
BOX_CORNER_LABELS = (BOX_TOP_LEFT, BOX_BOTTOM_RIGHT)
PADDING = -1  # not a point: fills a prompt up to its batch's length
NUM_POINT_LABELS = 4  # the labels with an embedding of their own: 0 to 3


def box_corner_points(
    points: Tensor | None, labels: Tensor | None, boxes: Tensor | None
) -> tuple[Tensor | None, Tensor | None]:
    """Boxes (B, 4) as corner points before the clicks (B, N, 2) with their labels (B, N):
    points (B, 2 + N, 2) and labels (B, 2 + N); the clicks unchanged (None, None when there are
    none) without boxes."""
    if (points is None) != (labels is None):
        raise ValueError("points and labels must be given together")
    if boxes is None:
        return points, labels
    corners = boxes.reshape(-1, 2, 2)  # (B, 2, 2)
    label_dtype = torch.int32 if labels is None else labels.dtype
    corner_labels = torch.tensor(BOX_CORNER_LABELS, dtype=label_dtype, device=boxes.device)
    corner_labels = corner_labels.expand(corners.shape[0], -1)  # (B, 2)
    if points is None:
        return corners, corner_labels
    return torch.cat([corners, points], dim=1), torch.cat([corner_labels, labels], dim=1)
