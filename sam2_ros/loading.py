"""Loading the model into a tracker, and giving its memory back."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import torch

from sam2core import build_model
from sam2core.preparation import Preparation, prepare_model
from sam2core.tracking import StreamingTracker, TrackerOptions


@dataclass(frozen=True)
class LoadSpec:
    """Which model to load, where, and how to prepare it (sam2core.preparation)."""

    model: str  # a registered model name (sam2core.MODEL_NAMES)
    checkpoint: str = "default"  # a file in Meta's format, or "default": the bundled weights
    device: str = "auto"  # "auto" (the first GPU when there is one, else the CPU), "cpu", "cuda:N", ...
    image_size: int = 0  # side of the model's square input; 0 keeps the model's own
    preparation: Preparation = Preparation()


def resolve_device(name: str) -> torch.device:
    """The torch device for a device parameter: "auto" is the first GPU when there is one, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but PyTorch sees no CUDA GPU")
    return device


def load_tracker(spec: LoadSpec, options: TrackerOptions = TrackerOptions()) -> StreamingTracker:
    """A StreamingTracker with `options` on the model `spec` names, built with its checkpoint and
    prepared as it asks (for the tracker's precision, which OpenVINO graphs are compiled for).

    Raises sam2core.CheckpointError for a missing, unreadable or mismatched checkpoint, KeyError for
    an unknown model and ValueError for an unusable device or export folder.
    """
    model = build_model(
        spec.model, checkpoint=spec.checkpoint, image_size=spec.image_size or None, device=resolve_device(spec.device)
    )
    return StreamingTracker(prepare_model(model, spec.preparation, options.precision), options)


def release_device_memory(device: torch.device) -> None:
    """Return cached GPU memory to the driver once the model's last reference is gone."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
