"""Simulated user prompts, as in SAM 2's interactive training.

Masks are (B, S, S) bool numpy arrays at the model's input size; prompts come back as batched
`ModelPrompt`s in model pixels, every object of a batch with the same kind and number of points.
- first prompt: one positive click inside the object, its box (jittered), or its mask;
- correction: one click in the largest error region, at its most interior pixel (where a person
  would click); positive on a missed part, negative on a spurious one.
"""

from __future__ import annotations

import numpy as np
import torch

from sam2core.point_labels import BOX_CORNER_LABELS, NEGATIVE, POSITIVE
from sam2core.tracking.prompt import PROMPT_KINDS, ModelPrompt, most_interior_pixel

BOX_JITTER = 0.1  # of the box side, per corner coordinate, at most
BOX_JITTER_MAX_PIXELS = 20


def first_prompt(kind: str, masks: np.ndarray, rng: np.random.Generator, device: torch.device) -> ModelPrompt:
    """The prompt that starts each object: `kind` is "click", "box" or "mask"."""
    if kind == "mask":
        return ModelPrompt(mask=torch.from_numpy(masks[:, None].astype(np.float32)).to(device))
    if kind == "click":
        points = np.stack([_random_pixel(mask, rng) for mask in masks])[:, None]  # (B, 1, 2)
        labels = np.full((len(masks), 1), POSITIVE)
    elif kind == "box":
        points = np.stack([_jittered_box(mask, rng) for mask in masks])  # (B, 2, 2)
        labels = np.tile(BOX_CORNER_LABELS, (len(masks), 1))
    else:
        raise ValueError(f"unknown prompt kind {kind!r}; expected one of {PROMPT_KINDS}")
    return _points_prompt(points, labels, device)


def correction_clicks(
    predicted: np.ndarray, masks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One corrective click per object: points (B, 1, 2) float32 xy and labels (B, 1).

    The click goes to the most interior pixel of the largest error region (missed object ->
    positive, spurious mask -> negative). Without any error, a positive click inside the object.
    """
    points, labels = [], []
    for prediction, mask in zip(predicted, masks):
        missed, spurious = mask & ~prediction, prediction & ~mask
        error, label = (missed, POSITIVE) if missed.sum() >= spurious.sum() else (spurious, NEGATIVE)
        if not error.any():
            error, label = mask, POSITIVE
        points.append(most_interior_pixel(error, rng))
        labels.append(label)
    return np.stack(points)[:, None].astype(np.float32), np.array(labels)[:, None]


def with_clicks(
    prompt: ModelPrompt | None, points: np.ndarray, labels: np.ndarray, device: torch.device
) -> ModelPrompt:
    """`prompt`'s points followed by new clicks (a mask prompt's clicks start afresh)."""
    new = _points_prompt(points, labels, device)
    if prompt is None or prompt.points is None:
        return new
    return ModelPrompt(
        points=torch.cat([prompt.points, new.points], 1), labels=torch.cat([prompt.labels, new.labels], 1)
    )


def _points_prompt(points: np.ndarray, labels: np.ndarray, device: torch.device) -> ModelPrompt:
    return ModelPrompt(
        points=torch.as_tensor(points, dtype=torch.float32, device=device),
        labels=torch.as_tensor(labels, dtype=torch.int32, device=device),
    )


def _random_pixel(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """xy (2,) of a uniformly drawn pixel of `mask`, at its centre."""
    ys, xs = np.nonzero(mask)
    i = rng.integers(len(xs))
    return np.array([xs[i] + 0.5, ys[i] + 0.5], dtype=np.float32)


def _jittered_box(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(2, 2) top-left and bottom-right corners of the mask's box, each coordinate moved by up to
    BOX_JITTER of the box side (and BOX_JITTER_MAX_PIXELS), kept inside the image."""
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)
    side = np.array([box[2] - box[0], box[3] - box[1]] * 2)
    jitter = rng.uniform(-1, 1, 4) * np.minimum(side * BOX_JITTER, BOX_JITTER_MAX_PIXELS)
    height, width = mask.shape
    box = np.clip(box + jitter, 0, [width, height, width, height])
    return box.reshape(2, 2)
