"""Training and evaluation data: seeded synthetic videos with ground truth."""

from sam2core.data.scene import SceneConfig
from sam2core.data.synthetic import (
    BENCHMARK,
    HELD_OUT,
    TRAIN,
    TRAINING,
    HiddenInterval,
    Sequence,
    Split,
    generate_sequence,
    held_out_sequences,
    split_of,
    training_clip,
)

__all__ = [
    "BENCHMARK",
    "HELD_OUT",
    "TRAIN",
    "TRAINING",
    "HiddenInterval",
    "SceneConfig",
    "Sequence",
    "Split",
    "generate_sequence",
    "held_out_sequences",
    "split_of",
    "training_clip",
]
