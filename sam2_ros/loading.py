"""Loading the model into a tracker, and giving its memory back."""

from __future__ import annotations

import gc

import torch

from sam2core import build_model
from sam2core.tracking import StreamingTracker


def resolve_device(name: str) -> torch.device:
    """The torch device for a device parameter: "auto" is the first GPU when there is one, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but PyTorch sees no CUDA GPU")
    return device


def load_tracker(*, model: str, checkpoint: str, device: str, image_size: int = 0, **options) -> StreamingTracker:
    """A StreamingTracker on the registered model `model` with the weights of `checkpoint`.

    image_size 0 keeps the model's own input size. `options` are StreamingTracker's keywords (the
    fields of TrackerOptions: max_objects, precision, compile, backend, export_dir, ...). Raises
    sam2core.CheckpointError for a missing, unreadable or mismatched checkpoint, KeyError for an
    unknown model and ValueError for an unusable device or option.
    """
    sam2 = build_model(model, checkpoint=checkpoint, image_size=image_size or None, device=resolve_device(device))
    return StreamingTracker(sam2, **options)


def release_device_memory(device: torch.device) -> None:
    """Return cached GPU memory to the driver once the model's last reference is gone."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
