"""Clean-up of predicted mask logits: small holes filled, small specks removed.

SAM 2's video predictor fills holes of at most ``fill_hole_area`` pixels in its low-resolution
mask logits (default 8) before it stores or upsamples them; its image predictor can also remove
foreground specks (``max_sprinkle_area``), and its automatic mask generator removes small regions
(``min_mask_region_area``). This module does both on logits of any batch, with OpenCV's
connected components (8-connectivity) on the CPU: the masks are low-resolution, so the copy is
small. Areas are in pixels of the logits given (for the tracker: the model's low-resolution
mask, a quarter of its input side).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

# Logits given to filled holes and removed specks: SAM 2's values (just inside the object; far
# outside it), so that a mask encoded from them is the same binary mask.
HOLE_LOGIT = 0.1
SPECK_LOGIT = -10.0


def clean_mask_logits(logits: torch.Tensor, *, fill_hole_area: int, min_region_area: int) -> torch.Tensor:
    """(B, 1, h, w) logits with holes of at most ``fill_hole_area`` pixels filled, then regions
    of fewer than ``min_region_area`` pixels removed, except each mask's largest region (an
    object is never wiped out for being small). 0 turns either off; the input is not changed.
    """
    if fill_hole_area <= 0 and min_region_area <= 0:
        return logits
    foreground = (logits > 0).flatten(0, 1).cpu().numpy()  # (B, h, w) bool
    holes = np.stack([_small_components(~mask, max_area=fill_hole_area) for mask in foreground])
    foreground |= holes
    specks = np.stack([_small_components(mask, max_area=min_region_area - 1, keep_largest=True) for mask in foreground])
    holes = torch.from_numpy(holes).to(logits.device).view_as(logits)
    specks = torch.from_numpy(specks).to(logits.device).view_as(logits)
    logits = torch.where(holes, torch.full_like(logits, HOLE_LOGIT), logits)
    return torch.where(specks, torch.full_like(logits, SPECK_LOGIT), logits)


def _small_components(mask: np.ndarray, *, max_area: int, keep_largest: bool = False) -> np.ndarray:
    """(h, w) bool: the pixels of the 8-connected components of (h, w) bool ``mask`` with at most
    ``max_area`` pixels; with ``keep_largest``, never the largest component."""
    if max_area <= 0 or not mask.any():
        return np.zeros_like(mask)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = stats[:, cv2.CC_STAT_AREA]  # (count,), label 0 is outside the mask
    small = areas <= max_area
    small[0] = False
    if keep_largest:
        small[1 + np.argmax(areas[1:])] = False
    return small[labels]
