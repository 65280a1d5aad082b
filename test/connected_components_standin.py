"""A CPU stand-in for `sam2.utils.misc.get_connected_components`, which Meta implements only as a
CUDA kernel (`sam2._C`); without it Meta's predictor skips hole and speck filling on the CPU.
Test code only, from the kernel's documented contract: 8-connected components of (N, 1, H, W)
masks -> per pixel its component label (0 outside the mask) and its component's area."""

import cv2
import numpy as np
import torch
from torch import Tensor


def get_connected_components(masks: Tensor) -> tuple[Tensor, Tensor]:
    labels = np.zeros(masks.shape, dtype=np.int32)
    areas = np.zeros(masks.shape, dtype=np.int32)
    for index, mask in enumerate(masks[:, 0].cpu().numpy().astype(np.uint8)):
        _, mask_labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        labels[index, 0] = mask_labels
        areas[index, 0] = np.where(mask_labels > 0, stats[mask_labels, cv2.CC_STAT_AREA], 0)
    return torch.from_numpy(labels).to(masks.device), torch.from_numpy(areas).to(masks.device)


def install() -> None:
    """Patch it into Meta's package (imported by its transforms at each call)."""
    import sam2.utils.misc

    sam2.utils.misc.get_connected_components = get_connected_components
