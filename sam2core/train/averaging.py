"""An exponential moving average of a model's weights (what a run bundles and evaluates)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


class WeightAverage:
    """average <- decay * average + (1 - decay) * weight, after every optimiser step.

    Covers every floating-point tensor of the state dict (parameters and persistent buffers).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.weights: dict[str, Tensor] = {
            name: tensor.detach().clone() for name, tensor in model.state_dict().items() if tensor.is_floating_point()
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        current = model.state_dict()
        for name, average in self.weights.items():
            average.lerp_(current[name], 1.0 - self.decay)

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """`model` holding the averaged weights inside the block, its own weights again after it."""
        own = {name: tensor.detach().clone() for name, tensor in model.state_dict().items() if name in self.weights}
        model.load_state_dict(self.weights, strict=False)
        try:
            yield model
        finally:
            model.load_state_dict(own, strict=False)
