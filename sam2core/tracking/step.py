"""One frame for a batch of objects: decode from a prompt or from memory, then encode memory.

Shared by the streaming tracker and by training, so both run the same arithmetic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sam2core.modeling.outputs import DecoderOutput, ImageFeatures, MemoryContext
from sam2core.modeling.sam2 import SAM2Model
from sam2core.tracking.prompt import ModelPrompt

# Largest magnitude of previous mask logits fed back to the decoder on a correction.
PREVIOUS_MASK_LIMIT = 32.0


def decode_prompted(
    model: SAM2Model,
    features: ImageFeatures,
    prompt: ModelPrompt,
    *,
    memory: MemoryContext | None,
    previous_mask_logits: torch.Tensor | None,
) -> DecoderOutput:
    """Objects prompted on this frame.

    memory None: the frame starts the objects (no memory, as on an initial conditioning frame).
    Otherwise a correction: clicks are decoded on memory-conditioned features, with the
    previous mask logits (B, 1, S/4, S/4) as mask input. A mask prompt is its own output.
    """
    if prompt.mask is not None:
        return model.decode_from_mask(features, prompt.mask)
    mask_input = None
    if previous_mask_logits is not None:
        mask_input = previous_mask_logits.clamp(-PREVIOUS_MASK_LIMIT, PREVIOUS_MASK_LIMIT)
    return model.decode_masks(
        features,
        points=prompt.points,
        labels=prompt.labels,
        mask_input=mask_input,
        multimask=model.use_multimask(prompt.click_count, is_initial_conditioning_frame=memory is None),
        pixel_features=model.condition_on_memory(features, memory),
    )


def decode_tracked(
    model: SAM2Model, features: ImageFeatures, memory: MemoryContext, *, objects_per_pass: int = 0
) -> DecoderOutput:
    """Objects followed from their memory alone. features: batch B, or 1 for one frame shared
    by the B objects of `memory`; objects_per_pass: through memory attention (0: all at once)."""
    pixel_features = model.condition_on_memory(features, memory, objects_per_pass=objects_per_pass)  # (B, C, h, w)
    if features.batch_size != pixel_features.shape[0]:
        features = features.expand(pixel_features.shape[0])
    return model.decode_masks(
        features,
        multimask=model.use_multimask(0, is_initial_conditioning_frame=False),
        pixel_features=pixel_features,
    )


def encode_memory(
    model: SAM2Model, features: ImageFeatures, output: DecoderOutput, *, prompted: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(memory features (B, Cm, h, w), memory position encoding (B, Cm, h, w)) of this frame.

    A prompted frame is remembered from the low-resolution mask the user sees (upsampled, and
    binarised like a mask from clicks); a tracked frame from the decoder's high-resolution mask.
    """
    masks = output.high_res_masks
    if prompted:
        size = (model.config.image_size,) * 2
        masks = F.interpolate(output.low_res_masks.float(), size=size, mode="bilinear", align_corners=False)
    return model.encode_memory(features, masks, output.object_score_logits, masks_from_points=prompted)
