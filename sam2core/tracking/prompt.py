"""Prompts: what a user gives to say "track this", checked and mapped to the model's input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike

from sam2core.point_labels import NEGATIVE, POSITIVE, box_corner_points

# How a person (or a simulated one, in training and evaluation) first points at an object.
PromptKind = Literal["click", "box", "mask"]
PROMPT_KINDS: tuple[PromptKind, ...] = ("click", "box", "mask")


class PromptError(ValueError):
    """A prompt that cannot be applied: the message says why; no state was changed."""


@dataclass(frozen=True)
class Prompt:
    """Clicks, a box or a mask on one image, in that image's pixels.

    points: (N, 2) x, y pixels; labels: (N,) 1 positive, 0 negative. box: x0, y0, x1, y1 pixels.
    mask: (H, W) bool of the image's size. A mask cannot be combined with clicks or a box.
    """

    points: np.ndarray | None = None
    labels: np.ndarray | None = None
    box: tuple[float, float, float, float] | None = None
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class ModelPrompt:
    """A checked prompt mapped to the model's input square of side S.

    Either `points` (1, N, 2) model pixels with `labels` (1, N) int32 (a box as its two corner
    points first, sam2core.point_labels), or `mask` (1, 1, S, S) float 0/1.
    """

    points: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    @property
    def click_count(self) -> int:
        """Number of prompt points, a box counting as two (what SAM 2's multimask rule counts)."""
        return 0 if self.labels is None else self.labels.shape[1]


def prepare_prompt(prompt: Prompt, image_size: tuple[int, int], model_size: int, device: torch.device) -> ModelPrompt:
    """Check `prompt` against an image of `image_size` (H, W) and map it to the model's input.

    Raises PromptError for an empty prompt, a mask combined with clicks or a box, non-finite
    numbers, labels other than 0/1, clicks outside the image, a degenerate box or one entirely
    outside the image, or a mask of the wrong size or with no pixel set. A box partly outside
    the image is clipped to it.
    """
    height, width = image_size
    has_clicks = prompt.points is not None or prompt.labels is not None
    if prompt.mask is not None:
        if has_clicks or prompt.box is not None:
            raise PromptError("a mask prompt cannot be combined with clicks or a box")
        return ModelPrompt(mask=_mask_to_model(prompt.mask, image_size, model_size, device))
    if not has_clicks and prompt.box is None:
        raise PromptError("empty prompt: give clicks, a box or a mask")

    corners = _box_corners(prompt.box, width, height)  # (2, 2) or None
    clicks, click_labels = _clicks(prompt.points, prompt.labels, width, height)
    if corners is None and len(clicks) == 0:
        raise PromptError("empty prompt: no clicks and no box")
    to_model = np.array([model_size / width, model_size / height], dtype=np.float32)
    boxes = None if corners is None else torch.from_numpy(corners.astype(np.float32) * to_model).reshape(1, 4)
    points, labels = box_corner_points(
        torch.from_numpy(clicks.astype(np.float32) * to_model)[None], torch.from_numpy(click_labels)[None], boxes
    )  # (1, N, 2), (1, N)
    return ModelPrompt(points=points.to(device), labels=labels.to(device))


def _clicks(
    points: ArrayLike | None, labels: ArrayLike | None, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) float pixels and (N,) labels, checked; empty arrays for no clicks."""
    if points is None and labels is None:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.int32)
    if points is None or labels is None:
        raise PromptError("clicks need both points and labels")
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    labels = np.asarray(labels).reshape(-1)
    if len(points) != len(labels):
        raise PromptError(f"{len(points)} points but {len(labels)} labels")
    if not np.all(np.isfinite(points)):
        raise PromptError("click coordinates must be finite numbers")
    if not np.all(np.isin(labels, (POSITIVE, NEGATIVE))):
        raise PromptError(f"click labels must be 1 (positive) or 0 (negative), got {sorted(set(labels.tolist()))}")
    outside = (points[:, 0] < 0) | (points[:, 0] > width) | (points[:, 1] < 0) | (points[:, 1] > height)
    if outside.any():
        x, y = points[np.argmax(outside)]
        raise PromptError(f"click ({x:g}, {y:g}) is outside the {width}x{height} image")
    return points, labels.astype(np.int32)


def _box_corners(box: ArrayLike | None, width: int, height: int) -> np.ndarray | None:
    """Box corners (2, 2), top-left then bottom-right, clipped to the image; None for no box."""
    if box is None:
        return None
    values = np.asarray(box, dtype=np.float64).reshape(-1)
    if values.size != 4 or not np.all(np.isfinite(values)):
        raise PromptError(f"a box is four finite numbers x0, y0, x1, y1, got {box!r}")
    x0, y0, x1, y1 = values
    if x1 <= x0 or y1 <= y0:
        raise PromptError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) needs x1 > x0 and y1 > y0")
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise PromptError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is outside the {width}x{height} image")
    return np.array([[max(x0, 0), max(y0, 0)], [min(x1, width), min(y1, height)]])


def _mask_to_model(
    mask: ArrayLike | torch.Tensor, image_size: tuple[int, int], model_size: int, device: torch.device
) -> torch.Tensor:
    """(H, W) bool mask -> (1, 1, S, S) float 0/1, resized as SAM 2's video predictor does."""
    mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
    if tuple(mask.shape) != tuple(image_size):
        raise PromptError(f"mask is {tuple(mask.shape)} but the image is {tuple(image_size)} (H, W)")
    mask = mask.to(device=device).bool()
    if not mask.any():
        raise PromptError("mask prompt has no pixel set")
    mask = mask[None, None].float()  # (1, 1, H, W)
    if mask.shape[-2:] == (model_size, model_size):
        return mask
    resized = F.interpolate(mask, size=(model_size, model_size), mode="bilinear", align_corners=False, antialias=True)
    return (resized >= 0.5).float()


def most_interior_pixel(region: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Where a person would click on an (H, W) bool `region`: xy (2,) float32, the centre of the
    pixel of its largest connected part farthest from the part's outside (the frame's edge counts
    as outside). Among equals, the first in raster order, or one drawn with `rng`."""
    _, parts, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    distance = cv2.distanceTransform(np.pad(parts == largest, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    ys, xs = np.nonzero(distance >= distance.max() - 1e-6)
    chosen = 0 if rng is None else rng.integers(len(xs))
    return np.array([xs[chosen] + 0.5, ys[chosen] + 0.5], dtype=np.float32)
