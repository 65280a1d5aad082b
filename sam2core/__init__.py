"""sam2core: SAM 2 in pure PyTorch (no ROS). Its names load their modules on first use."""

from sam2core.lazy_exports import lazy_exports
from sam2core.tracking import HOMES as TRACKING_HOMES

_HOMES = {
    "AutomaticMaskGenerator": "sam2core.automatic_mask_generator",
    "MaskCandidates": "sam2core.automatic_mask_generator",
    "CheckpointError": "sam2core.build",
    "build_model": "sam2core.build",
    "load_checkpoint": "sam2core.build",
    "save_checkpoint": "sam2core.build",
    "MODEL_NAMES": "sam2core.config",
    "SAM2Config": "sam2core.config",
    "get_config": "sam2core.config",
    "ImagePredictor": "sam2core.image_predictor",
    "Segmentation": "sam2core.image_predictor",
    "DecoderOutput": "sam2core.modeling.outputs",
    "ImageFeatures": "sam2core.modeling.outputs",
    "MemoryContext": "sam2core.modeling.outputs",
    "SAM2Model": "sam2core.modeling.sam2",
    "Preparation": "sam2core.preparation",
    "prepare_model": "sam2core.preparation",
    **TRACKING_HOMES,
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
