"""Mask utilities of the automatic mask generator: run-length encoding (uncompressed and COCO's
compressed strings), boxes of masks, non-maximum suppression, point grids, image crops and the
filling of small holes and specks. Masks are (N, H, W) bool tensors; boxes are x0 y0 x1 y1 with
inclusive pixel indices."""

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

# A mask box within this many pixels of a crop's edge (and not of the image's) was cut by the
# crop and is dropped.
CROP_EDGE_TOLERANCE = 20.0


def mask_to_rle(masks: Tensor) -> list[dict]:
    """(N, H, W) bool masks -> uncompressed COCO RLEs {"size": [H, W], "counts": [...]}: run
    lengths over the pixels in column-major order, starting with a (possibly empty) run of 0s."""
    num_masks, height, width = masks.shape
    if num_masks == 0:
        return []
    columns = masks.transpose(1, 2).reshape(num_masks, height * width)  # column-major pixels
    mask_index, position = torch.nonzero(columns[:, 1:] != columns[:, :-1], as_tuple=True)
    changes_per_mask = torch.bincount(mask_index, minlength=num_masks).tolist()
    starts_with_one = columns[:, 0].tolist()
    rles = []
    for changes, first in zip(torch.split(position + 1, changes_per_mask), starts_with_one):
        edges = np.concatenate([[0], changes.cpu().numpy(), [height * width]])
        runs = np.diff(edges).tolist()
        rles.append({"size": [height, width], "counts": [0, *runs] if first else runs})
    return rles


def rle_to_mask(rle: dict) -> np.ndarray:
    """An uncompressed RLE -> (H, W) bool mask."""
    height, width = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != height * width:
        raise ValueError(f"RLE counts add up to {counts.sum()}, not {height} x {width} pixels")
    values = np.arange(len(counts)) % 2 == 1  # runs alternate 0, 1, 0, ...
    return np.repeat(values, counts).reshape(width, height).T


def rle_area(rle: dict) -> int:
    """Foreground pixels of an uncompressed RLE (the sum of its odd runs)."""
    return int(sum(rle["counts"][1::2]))


def encode_coco_counts(counts: list[int]) -> str:
    """COCO's compressed RLE string: each run, minus the run two before it (from the third on),
    as little-endian groups of 5 bits with a continuation bit, offset into printable ASCII."""
    characters = []
    for index, count in enumerate(counts):
        value = count - counts[index - 2] if index > 2 else count
        while True:
            group = value & 0x1F
            value >>= 5  # arithmetic shift: negative differences end at -1
            done = value == -1 if group & 0x10 else value == 0
            characters.append(chr(group + 48 if done else (group | 0x20) + 48))
            if done:
                break
    return "".join(characters)


def decode_coco_counts(text: str) -> list[int]:
    """The run lengths of a COCO compressed RLE string (the inverse of encode_coco_counts)."""
    counts: list[int] = []
    value, shift = 0, 0
    for character in text:
        group = ord(character) - 48
        value |= (group & 0x1F) << shift
        shift += 5
        if group & 0x20:
            continue
        if group & 0x10:  # sign-extend
            value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
        value, shift = 0, 0
    return counts


def coco_rle(rle: dict) -> dict:
    """An uncompressed RLE -> COCO's compressed form {"size": [H, W], "counts": str}."""
    return {"size": list(rle["size"]), "counts": encode_coco_counts(list(rle["counts"]))}


def masks_to_boxes(masks: Tensor) -> Tensor:
    """(N, H, W) bool -> (N, 4) int64 boxes x0 y0 x1 y1 (inclusive); all zeros for empty masks."""
    num_masks, height, width = masks.shape
    if masks.numel() == 0:
        return torch.zeros(num_masks, 4, dtype=torch.int64, device=masks.device)
    rows = masks.any(dim=2).to(torch.uint8)  # (N, H)
    columns = masks.any(dim=1).to(torch.uint8)  # (N, W)
    top, left = rows.argmax(dim=1), columns.argmax(dim=1)  # first occupied row / column
    bottom = height - 1 - rows.flip(1).argmax(dim=1)
    right = width - 1 - columns.flip(1).argmax(dim=1)
    boxes = torch.stack([left, top, right, bottom], dim=1)
    return boxes * rows.any(dim=1, keepdim=True)


def box_xyxy_to_xywh(box: Tensor | np.ndarray) -> list:
    """One x0 y0 x1 y1 box -> [x0, y0, width, height] as Python numbers."""
    x0, y0, x1, y1 = np.asarray(box).tolist()
    return [x0, y0, x1 - x0, y1 - y0]


def box_areas(boxes: Tensor) -> Tensor:
    """(N, 4) x0 y0 x1 y1 -> (N,) areas (x1 - x0) * (y1 - y0)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def non_max_suppression(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Indices of the boxes kept, by decreasing score (ties in input order): a box is dropped
    when its IoU with a kept box of higher score is above `iou_threshold`."""
    boxes = boxes.detach().double().cpu()
    order = torch.sort(scores.detach().cpu(), descending=True, stable=True).indices
    boxes = boxes[order]
    top_left = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    bottom_right = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    overlap = (bottom_right - top_left).clamp(min=0).prod(dim=-1)  # (N, N)
    areas = box_areas(boxes)
    union = areas[:, None] + areas[None, :] - overlap
    overlaps_too_much = (overlap > iou_threshold * union).numpy()  # IoU > threshold
    suppressed = np.zeros(len(order), dtype=bool)
    kept = []
    for rank in range(len(order)):
        if not suppressed[rank]:
            kept.append(rank)
            suppressed |= overlaps_too_much[rank]
    return order[torch.tensor(kept, dtype=torch.int64)]


def point_grid(points_per_side: int) -> np.ndarray:
    """(n * n, 2) xy points in 0..1 at the centres of an n x n grid of cells, row by row."""
    centres = (np.arange(points_per_side) + 0.5) / points_per_side
    ys, xs = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def layer_point_grids(points_per_side: int, num_layers: int, downscale: int) -> list[np.ndarray]:
    """One grid for the whole image and one per crop layer, each with `downscale` times fewer
    points per side than the layer before."""
    return [point_grid(int(points_per_side / downscale**layer)) for layer in range(num_layers + 1)]


@dataclass(frozen=True)
class Crop:
    box: tuple[int, int, int, int]  # x0 y0 x1 y1 (exclusive end) in image pixels
    layer: int  # 0 for the whole image, k for the 2^k x 2^k crops of layer k


def image_crops(image_size: tuple[int, int], num_layers: int, overlap_ratio: float) -> list[Crop]:
    """The whole image, then for each layer k = 1..num_layers a 2^k x 2^k grid of overlapping
    crops (column by column), the overlap being overlap_ratio of the short side / 2^(k-1)."""
    height, width = image_size
    crops = [Crop((0, 0, width, height), 0)]
    for layer in range(1, num_layers + 1):
        per_side = 2**layer
        overlap = int(overlap_ratio * min(height, width) * 2 / per_side)
        crop_width = math.ceil((overlap * (per_side - 1) + width) / per_side)
        crop_height = math.ceil((overlap * (per_side - 1) + height) / per_side)
        for column in range(per_side):
            for row in range(per_side):
                x0, y0 = int((crop_width - overlap) * column), int((crop_height - overlap) * row)
                box = (x0, y0, min(x0 + crop_width, width), min(y0 + crop_height, height))
                crops.append(Crop(box, layer))
    return crops


def near_crop_edge(boxes: Tensor, crop_box: tuple, image_size: tuple[int, int]) -> Tensor:
    """(N,) True for boxes (in crop pixels) within CROP_EDGE_TOLERANCE of an edge of the crop
    that is not also an edge of the image."""
    height, width = image_size
    x0, y0 = crop_box[:2]
    image_boxes = boxes.float() + torch.tensor([x0, y0, x0, y0], device=boxes.device)
    crop = torch.tensor(crop_box, dtype=torch.float, device=boxes.device)
    image = torch.tensor([0, 0, width, height], dtype=torch.float, device=boxes.device)
    near_crop = (image_boxes - crop).abs() <= CROP_EDGE_TOLERANCE
    near_image = (image_boxes - image).abs() <= CROP_EDGE_TOLERANCE
    return (near_crop & ~near_image).any(dim=1)


def fill_small_regions(logits: Tensor, threshold: float, max_hole_area: float, max_sprinkle_area: float) -> Tensor:
    """Mask logits (..., H, W) with each background region (8-connected, logits <= threshold)
    of at most max_hole_area pixels set to threshold + 10, and each foreground region of at most
    max_sprinkle_area pixels set to threshold - 10, both regions found on the given logits
    (0 turns either off). Runs on the CPU."""
    if max_hole_area <= 0 and max_sprinkle_area <= 0:
        return logits
    filled = logits.detach().float().cpu().numpy().copy()
    for mask in filled.reshape(-1, *filled.shape[-2:]):  # views into `filled`
        foreground = mask > threshold
        holes = _small_components(~foreground, max_hole_area)
        specks = _small_components(foreground, max_sprinkle_area)
        mask[holes] = threshold + 10.0
        mask[specks] = threshold - 10.0
    return torch.from_numpy(filled).to(device=logits.device, dtype=logits.dtype)


def _small_components(mask: np.ndarray, max_area: float) -> np.ndarray:
    """(H, W) bool: the pixels of 8-connected regions of `mask` with at most max_area pixels."""
    if max_area <= 0:
        return np.zeros_like(mask)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = stats[:, cv2.CC_STAT_AREA][labels]
    return (labels > 0) & (areas <= max_area)
