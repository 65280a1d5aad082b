"""sam2core: SAM 2 in pure PyTorch (no ROS)."""

from sam2core.automatic_mask_generator import AutomaticMaskGenerator, MaskCandidates
from sam2core.build import CheckpointError, build_model, load_checkpoint, save_checkpoint
from sam2core.config import MODEL_NAMES, SAM2Config, get_config
from sam2core.image_predictor import ImagePredictor, Segmentation
from sam2core.modeling.outputs import DecoderOutput, ImageFeatures, MemoryContext
from sam2core.modeling.sam2 import SAM2Model
from sam2core.tracking import (
    FrameResult,
    ObjectResult,
    Prompt,
    PromptError,
    StreamingTracker,
    TrackerOptions,
    TrackHealth,
    UnknownObjectError,
)

__all__ = [
    "AutomaticMaskGenerator",
    "MODEL_NAMES",
    "CheckpointError",
    "DecoderOutput",
    "FrameResult",
    "ImageFeatures",
    "ImagePredictor",
    "MaskCandidates",
    "MemoryContext",
    "ObjectResult",
    "Prompt",
    "PromptError",
    "SAM2Config",
    "SAM2Model",
    "Segmentation",
    "StreamingTracker",
    "TrackerOptions",
    "TrackHealth",
    "UnknownObjectError",
    "build_model",
    "get_config",
    "load_checkpoint",
    "save_checkpoint",
]
