"""Training and evaluation data: seeded synthetic videos with ground truth."""

from sam2core.data.families import FAMILIES, SceneFamily, family
from sam2core.data.geometric import (
    GEOMETRIC_BENCHMARK,
    GEOMETRIC_HELD_OUT,
    generate_geometric_sequence,
)
from sam2core.data.scene import GeometricConfig, SceneConfig
from sam2core.data.sequence import HiddenInterval, SceneSequence, Split
from sam2core.data.synthetic import (
    BENCHMARK,
    HELD_OUT,
    TRAIN,
    TRAINING,
    generate_sequence,
    held_out_sequences,
    split_of,
    training_clip,
)

__all__ = [
    "BENCHMARK",
    "FAMILIES",
    "GEOMETRIC_BENCHMARK",
    "GEOMETRIC_HELD_OUT",
    "GeometricConfig",
    "SceneFamily",
    "HELD_OUT",
    "TRAIN",
    "TRAINING",
    "HiddenInterval",
    "SceneConfig",
    "SceneSequence",
    "Split",
    "family",
    "generate_geometric_sequence",
    "generate_sequence",
    "held_out_sequences",
    "split_of",
    "training_clip",
]
