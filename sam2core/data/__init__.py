"""Training and evaluation data: seeded synthetic videos with ground truth."""

from sam2core.data.families import FAMILIES, SceneFamily, family
from sam2core.data.geometric import (
    GEOMETRIC_BENCHMARK,
    GEOMETRIC_HELD_OUT,
    GEOMETRIC_TRAIN,
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
from sam2core.data.tabletop import TABLETOP_BENCHMARK, TABLETOP_HELD_OUT, TabletopConfig, generate_tabletop_sequence

__all__ = [
    "BENCHMARK",
    "FAMILIES",
    "GEOMETRIC_BENCHMARK",
    "GEOMETRIC_HELD_OUT",
    "GEOMETRIC_TRAIN",
    "GeometricConfig",
    "SceneFamily",
    "HELD_OUT",
    "TRAIN",
    "TRAINING",
    "HiddenInterval",
    "SceneConfig",
    "SceneSequence",
    "Split",
    "TABLETOP_BENCHMARK",
    "TABLETOP_HELD_OUT",
    "TabletopConfig",
    "family",
    "generate_geometric_sequence",
    "generate_sequence",
    "generate_tabletop_sequence",
    "held_out_sequences",
    "split_of",
    "training_clip",
]
