"""torch.compile for training, measured by benchmarks/train_step.py (docs/demo_model/training.md).

A training step runs the image encoder on a fixed batch (clips_per_step frames of one size), so
it compiles once, for static shapes. The other modules see a batch of objects whose count changes
with every step (each clip brings 1-3); compiled with dynamic sizes, as the tracker compiles them,
their backward fails in PyTorch 2.13's inductor ("cannot determine truth value of Relational", in
the memory encoder), so they stay eager.
"""

from __future__ import annotations

from sam2core.modeling.sam2 import SAM2Model

COMPILE_CHOICES = ("off", "encoder")


def compile_for_training(model: SAM2Model, choice: str) -> None:
    """torch.compile nothing ("off") or `model`'s image encoder ("encoder"), in place."""
    if choice not in COMPILE_CHOICES:
        raise ValueError(f"compile must be one of {COMPILE_CHOICES}, got {choice!r}")
    if choice == "encoder":
        model.image_encoder.compile(dynamic=False)
