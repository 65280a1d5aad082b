"""Stand-ins for the few torchvision pieces Meta's image predictor and mask generator import
(torchvision has no build for the CPU torch used here). Test code only: `install()` puts them in
sys.modules before Meta's modules are imported.

Semantics are torchvision's: ToTensor scales HWC uint8 to CHW float in 0..1; Resize on tensors is
bilinear with antialiasing; nms keeps boxes greedily in order of decreasing score (a stable
sort), dropping every later box of the same class whose IoU with a kept one is above the
threshold (an IoU of 0 / 0 drops nothing).
"""

import sys
import types

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ToTensor:
    def __call__(self, image: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0


class Resize(nn.Module):
    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = [int(size[0]), int(size[1])]

    def forward(self, image: Tensor) -> Tensor:
        batched = image if image.dim() == 4 else image.unsqueeze(0)
        resized = F.interpolate(batched, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        return resized if image.dim() == 4 else resized.squeeze(0)


class Normalize(nn.Module):
    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.mean = mean
        self.std = std

    def forward(self, image: Tensor) -> Tensor:
        mean = torch.tensor(self.mean, dtype=image.dtype).reshape(-1, 1, 1)
        std = torch.tensor(self.std, dtype=image.dtype).reshape(-1, 1, 1)
        return (image - mean) / std


def box_area(boxes: Tensor) -> Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    return batched_nms(boxes, scores, torch.zeros(len(boxes)), iou_threshold=iou_threshold)


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    order = torch.sort(scores, descending=True, stable=True).indices
    boxes, idxs = boxes[order].float(), idxs[order]
    low = torch.max(boxes[:, None, :2], boxes[None, :, :2])  # (N, N, 2) x0, y0 of overlaps
    high = torch.min(boxes[:, None, 2:], boxes[None, :, 2:])
    intersection = (high - low).clamp(min=0).prod(dim=-1)
    areas = box_area(boxes)
    iou = intersection / (areas[:, None] + areas[None, :] - intersection)  # NaN for 0 / 0
    suppresses = ((iou > iou_threshold) & (idxs[:, None] == idxs[None, :])).tolist()
    removed = [False] * len(order)
    kept = []
    for rank in range(len(order)):
        if not removed[rank]:
            kept.append(rank)
            removed = [r or s for r, s in zip(removed, suppresses[rank])]
    return order[torch.tensor(kept, dtype=torch.int64)]


def install() -> None:
    """Register the stand-ins as torchvision.transforms and torchvision.ops.boxes, unless a
    working torchvision is importable."""
    try:
        import torchvision.ops  # noqa: F401

        return
    except Exception:  # a broken wheel fails at import with a RuntimeError
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
    root = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    transforms.ToTensor, transforms.Resize, transforms.Normalize = ToTensor, Resize, Normalize
    ops = types.ModuleType("torchvision.ops")
    boxes = types.ModuleType("torchvision.ops.boxes")
    boxes.box_area, boxes.nms, boxes.batched_nms = box_area, nms, batched_nms
    root.transforms, root.ops, ops.boxes = transforms, ops, boxes
    sys.modules.update(
        {
            "torchvision": root,
            "torchvision.transforms": transforms,
            "torchvision.ops": ops,
            "torchvision.ops.boxes": boxes,
        }
    )
