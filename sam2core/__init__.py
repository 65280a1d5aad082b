"""sam2core: SAM 2 in pure PyTorch (no ROS)."""

from sam2core.build import CheckpointError, build_model, load_checkpoint, save_checkpoint
from sam2core.config import MODEL_NAMES, SAM2Config, get_config
from sam2core.modeling.outputs import DecoderOutput, ImageFeatures, MemoryContext
from sam2core.modeling.sam2 import SAM2Model

__all__ = [
    "MODEL_NAMES",
    "CheckpointError",
    "DecoderOutput",
    "ImageFeatures",
    "MemoryContext",
    "SAM2Config",
    "SAM2Model",
    "build_model",
    "get_config",
    "load_checkpoint",
    "save_checkpoint",
]
