"""SAM2Model: the components of SAM 2 and the per-frame operations a video tracker composes.

The tracker decides which frames, prompts and memories to use; each method here is one step of
Meta's `SAM2Base` with the same arithmetic. Shapes: B objects, C model width, Cm memory width,
S input size, h = w = S / 16.
"""

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam2core.config import SAM2Config
from sam2core.modeling.common import MLP
from sam2core.modeling.image_encoder import ImageEncoder
from sam2core.modeling.mask_decoder import MaskDecoder, MaskPrediction
from sam2core.modeling.memory_attention import MemoryAttention
from sam2core.modeling.memory_encoder import MemoryEncoder
from sam2core.modeling.outputs import DecoderOutput, ImageFeatures, MemoryContext
from sam2core.modeling.position_encoding import sine_encoding_1d
from sam2core.modeling.preprocess import preprocess_image
from sam2core.modeling.prompt_encoder import PromptEncoder
from sam2core.point_labels import PADDING

# Mask logit of every pixel of an object predicted to be absent.
NO_OBJECT_MASK_LOGIT = -1024.0
# A mask prompt used as output becomes logits of -10 / +10 (sigmoid(-10) = 4.5e-5).
MASK_AS_OUTPUT_SCALE = 20.0
MASK_AS_OUTPUT_BIAS = -10.0


class SAM2Model(nn.Module):
    """SAM 2 / SAM 2.1 with parameter names identical to Meta's `SAM2Base`."""

    def __init__(
        self,
        *,
        config: SAM2Config,
        image_encoder: ImageEncoder,
        memory_attention: MemoryAttention,
        memory_encoder: MemoryEncoder,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
    ) -> None:
        super().__init__()
        hidden_dim, memory_dim = config.hidden_dim, config.memory_dim
        self.config = config
        self.image_encoder = image_encoder
        # Turns a mask prompt (B, 1, S, S) into low-res logits for the decoder.
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.memory_attention = memory_attention
        self.memory_encoder = memory_encoder
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(config.num_maskmem, 1, 1, memory_dim))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, hidden_dim))  # in checkpoints only
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, hidden_dim))
        self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, memory_dim)) if config.no_obj_embed_spatial else None
        self.sam_prompt_encoder = prompt_encoder
        self.sam_mask_decoder = mask_decoder
        self.obj_ptr_proj = MLP((hidden_dim,) * 4)
        self.obj_ptr_tpos_proj = (
            nn.Linear(hidden_dim, memory_dim) if config.proj_tpos_enc_in_obj_ptrs else nn.Identity()
        )
        embeddings = (
            self.maskmem_tpos_enc,
            self.no_mem_embed,
            self.no_mem_pos_enc,
            self.no_obj_ptr,
            self.no_obj_embed_spatial,
        )
        for embedding in embeddings:
            if embedding is not None:
                nn.init.trunc_normal_(embedding, std=0.02)

    @property
    def device(self) -> torch.device:
        return self.no_obj_ptr.device

    def preprocess(self, image: np.ndarray | Tensor) -> Tensor:
        """(H, W, 3) uint8 RGB image -> (1, 3, S, S) normalised input on the model's device."""
        return preprocess_image(image, self.config.image_size, self.device)

    def encode_image(self, images: Tensor) -> ImageFeatures:
        """(B, 3, S, S) normalised images -> their features (see ImageFeatures)."""
        levels, vision_pos = self.image_encoder(images)
        high_res_features = (
            self.sam_mask_decoder.conv_s0(levels[0]),  # (B, C/8, S/4, S/4)
            self.sam_mask_decoder.conv_s1(levels[1]),  # (B, C/4, S/8, S/8)
        )
        return ImageFeatures(
            vision_features=levels[-1],
            vision_pos=vision_pos,
            high_res_features=high_res_features,
        )

    def decode_masks(
        self,
        features: ImageFeatures,
        *,
        points: Tensor | None = None,
        labels: Tensor | None = None,
        mask_input: Tensor | None = None,
        multimask: bool,
        pixel_features: Tensor | None = None,
    ) -> DecoderOutput:
        """Predict one mask per object from its prompts (Meta's `_forward_sam_heads`).

        points: (B, N, 2) xy in model-input pixels (0..S), with labels (B, N): 1 positive,
            as sam2core.point_labels (clicks, box corners, padding). Without
            points, the prompt is one padding point.
        mask_input: (B, 1, S/4, S/4) low-res mask logits, e.g. the previous prediction.
        multimask: predict 3 candidate masks and keep the one with the highest predicted IoU.
        pixel_features: (B, C, h, w) memory-conditioned features replacing
            `features.vision_features`.
        """
        if points is None:
            image = features.vision_features if pixel_features is None else pixel_features
            points = torch.zeros(image.shape[0], 1, 2, device=image.device)
            labels = torch.full((image.shape[0], 1), PADDING, dtype=torch.int32, device=image.device)
        prediction = self.predict_masks(
            features, points, labels, mask_input, multimask=multimask, pixel_features=pixel_features
        )
        return self._select_best_mask(prediction)

    def predict_masks(
        self,
        features: ImageFeatures,
        points: Tensor | None,
        labels: Tensor | None,
        mask_input: Tensor | None,
        *,
        multimask: bool,
        pixel_features: Tensor | None = None,
    ) -> MaskPrediction:
        """The prompt encoder and the mask decoder: every candidate mask (B, M, S/4, S/4) of B
        objects with its predicted IoU, mask token and the object score, as the decoder gives
        them. points (B, N, 2) with labels (B, N), or None for a mask prompt alone;
        mask_input (B, 1, S/4, S/4) or None; pixel_features as in `decode_masks`."""
        image = features.vision_features if pixel_features is None else pixel_features
        sparse, dense = self.sam_prompt_encoder(points, labels, mask_input)
        return self.sam_mask_decoder(
            image_embeddings=image,
            image_pe=self.sam_prompt_encoder.dense_positional_encoding(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            high_res_features=features.high_res_features,
            multimask=multimask,
        )

    def decode_from_mask(self, features: ImageFeatures, mask: Tensor) -> DecoderOutput:
        """Use a mask prompt (B, 1, S, S), binary or in [0, 1], as the output itself (Meta's
        `_use_mask_as_output`). The object pointer comes from the decoder prompted with the
        downsampled mask; the object counts as present where the mask has a positive pixel."""
        mask = mask.float()
        high_res_masks = mask * MASK_AS_OUTPUT_SCALE + MASK_AS_OUTPUT_BIAS
        low_res_size = self.sam_prompt_encoder.mask_input_size
        low_res_masks = F.interpolate(
            high_res_masks,
            size=(low_res_size, low_res_size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        prompt = self.mask_downsample(mask)  # (B, 1, S/4, S/4)
        decoded = self.decode_masks(features, mask_input=prompt, multimask=False)
        visibility = (mask.flatten(1) > 0).any(dim=1, keepdim=True).float()  # (B, 1)
        iou = torch.ones_like(visibility)
        return DecoderOutput(
            low_res_masks=low_res_masks,
            high_res_masks=high_res_masks,
            iou=iou,
            object_pointer=self._mix_no_object_pointer(decoded.object_pointer, visibility),
            object_score_logits=MASK_AS_OUTPUT_SCALE * visibility + MASK_AS_OUTPUT_BIAS,
            low_res_multimasks=low_res_masks,
            multimask_iou=iou,
            multimask_tokens=decoded.multimask_tokens,
        )

    def condition_on_memory(
        self, features: ImageFeatures, memory: MemoryContext | None = None, *, objects_per_pass: int = 0
    ) -> Tensor:
        """The frame's features (B, C, h, w) conditioned on the memory of B objects. Without
        memory (an initial conditioning frame) they are the vision features plus `no_mem_embed`.
        Features of one frame (batch 1) shared by B objects' memories are worked on once where
        the arithmetic does not yet depend on the memory. `objects_per_pass`: objects that go
        through memory attention together (0: all); the result is the same either way."""
        vision = features.vision_features
        if memory is None:
            return vision + self.no_mem_embed.reshape(1, -1, 1, 1)
        curr = vision.flatten(2).permute(2, 0, 1)  # (hw, 1 or B, C)
        curr_pos = features.vision_pos.flatten(2).permute(2, 0, 1)
        objects = memory.tokens.shape[1]
        step = objects_per_pass or objects
        shared = curr.shape[1] == 1  # one frame for every object
        passes = []
        for first in range(0, objects, step):
            part = memory.select(first, first + step)
            passes.append(
                self.memory_attention(
                    curr=curr if shared else curr[:, first : first + step],
                    memory=part.tokens,
                    curr_pos=curr_pos if shared else curr_pos[:, first : first + step],
                    memory_pos=part.pos,
                    num_obj_ptr_tokens=part.num_pointer_tokens,
                    memory_valid=part.valid,
                )
            )  # (hw, objects of the pass, C)
        conditioned = torch.cat(passes, dim=1) if len(passes) > 1 else passes[0]  # (hw, B, C)
        return conditioned.permute(1, 2, 0).reshape(conditioned.shape[1], *vision.shape[1:])

    def encode_memory(
        self,
        features: ImageFeatures,
        high_res_masks: Tensor,
        object_score_logits: Tensor,
        *,
        masks_from_points: bool,
    ) -> tuple[Tensor, Tensor]:
        """Encode a frame's prediction into memory (Meta's `_encode_new_memory`).

        features: the frame's unconditioned features, batch B or 1 (one frame shared by the B
        masks: its pixel path then runs once); high_res_masks: (B, 1, S, S) logits;
        object_score_logits: (B, 1); masks_from_points: the masks answer point or box prompts
        (binarised in eval when `binarize_mask_from_pts_for_mem_enc`).
        Returns memory features and their position encoding, each (B, Cm, h, w).
        """
        config = self.config
        if masks_from_points and config.binarize_mask_from_pts_for_mem_enc and not self.training:
            mask = (high_res_masks > 0).float()
        else:
            mask = torch.sigmoid(high_res_masks)
        mask = mask * config.sigmoid_scale_for_mem_enc + config.sigmoid_bias_for_mem_enc
        memory_features, memory_pos = self.memory_encoder(features.vision_features, mask)
        if self.no_obj_embed_spatial is not None:
            absent = (object_score_logits <= 0).float()[..., None, None]  # (B, 1, 1, 1)
            memory_features = memory_features + absent * self.no_obj_embed_spatial[..., None, None]
        return memory_features, memory_pos

    def spatial_memory_tokens(
        self, memory_features: Tensor, memory_pos: Tensor, temporal_index: int
    ) -> tuple[Tensor, Tensor]:
        """One frame's memory (B, Cm, h, w), possibly stored in bfloat16, and its position
        encoding -> tokens and pos (hw, B, Cm), the temporal encoding added to pos.

        temporal_index: Meta's t_pos. 0 for a conditioning frame; num_maskmem - k for the frame
        k frames away from the current one (1 <= k < num_maskmem), so the previous frame is 6.
        """
        tokens = memory_features.flatten(2).permute(2, 0, 1).to(memory_pos.dtype)
        temporal = self.maskmem_tpos_enc[self.config.num_maskmem - temporal_index - 1]
        return tokens, memory_pos.flatten(2).permute(2, 0, 1) + temporal

    def pointer_tokens(self, pointers: Tensor, temporal_offsets: Tensor | Sequence[int]) -> tuple[Tensor, Tensor]:
        """Object pointers (P, B, C) of P frames -> tokens and pos (P * C / Cm, B, Cm).

        temporal_offsets: (P,) signed frame offsets, current frame minus the pointer's frame
        (Meta negates them when tracking in reverse), normalised by max_obj_ptrs_in_encoder - 1
        (Meta's normaliser for a video of at least that many frames; a stream has no end).
        Each pointer is split into C / Cm tokens that share its temporal encoding.
        """
        num_pointers, batch, hidden_dim = pointers.shape
        memory_dim = self.config.memory_dim
        pos = self._pointer_encoding(temporal_offsets, pointers.device)  # (P, Cm)
        pos = pos.unsqueeze(1).expand(-1, batch, -1)  # (P, B, Cm)
        split = hidden_dim // memory_dim
        tokens = pointers.reshape(num_pointers, batch, split, memory_dim)
        tokens = tokens.permute(0, 2, 1, 3).flatten(0, 1)  # (P * split, B, Cm)
        return tokens, pos.repeat_interleave(split, dim=0)

    def use_multimask(self, num_points: int, *, is_initial_conditioning_frame: bool) -> bool:
        """Whether Meta's tracker asks for multimask output on a frame with `num_points` prompt
        points (box corners included; 0 on frames tracked without prompts)."""
        config = self.config
        return (
            config.multimask_output_in_sam
            and (is_initial_conditioning_frame or config.multimask_output_for_tracking)
            and config.multimask_min_pt_num <= num_points <= config.multimask_max_pt_num
        )

    def choose_masks(self, output: DecoderOutput, chosen: Tensor) -> DecoderOutput:
        """`output` keeping candidate `chosen` (B,) of each object instead of the one with the best
        predicted IoU: its mask, IoU and object pointer. For outputs of `decode_masks`."""
        return self._keep_candidates(
            output.low_res_multimasks, output.multimask_iou, output.multimask_tokens, output.object_score_logits, chosen
        )

    def _select_best_mask(self, prediction: MaskPrediction) -> DecoderOutput:
        """Fill absent objects' masks and keep the mask with the best predicted IoU."""
        visible = prediction.object_score_logits > 0  # (B, 1)
        masks = torch.where(visible[..., None, None], prediction.masks, NO_OBJECT_MASK_LOGIT)
        best = prediction.iou.argmax(dim=-1)  # (B,)
        return self._keep_candidates(
            masks.float(), prediction.iou, prediction.mask_tokens, prediction.object_score_logits, best
        )

    def _keep_candidates(
        self, masks: Tensor, iou: Tensor, tokens: Tensor, object_score_logits: Tensor, chosen: Tensor
    ) -> DecoderOutput:
        """Candidates (B, M, 4h, 4w) with absent objects already filled, their IoU (B, M) and
        tokens (B, M, C) -> the output keeping candidate `chosen` (B,): the mask upsampled and
        the object pointer made from its token."""
        rows = torch.arange(masks.shape[0], device=masks.device)
        low_res_masks = masks[rows, chosen].unsqueeze(1)
        pointer = self.obj_ptr_proj(tokens[rows, chosen])
        size = self.config.image_size
        return DecoderOutput(
            low_res_masks=low_res_masks,
            high_res_masks=F.interpolate(low_res_masks, size=(size, size), mode="bilinear", align_corners=False),
            iou=iou[rows, chosen].unsqueeze(1),
            object_pointer=self._mix_no_object_pointer(pointer, (object_score_logits > 0).float()),
            object_score_logits=object_score_logits,
            low_res_multimasks=masks,
            multimask_iou=iou,
            multimask_tokens=tokens,
        )

    def _mix_no_object_pointer(self, pointer: Tensor, visibility: Tensor) -> Tensor:
        """(B, C) pointers where visibility (B, 1) is 1, the learned `no_obj_ptr` where 0."""
        return visibility * pointer + (1 - visibility) * self.no_obj_ptr

    def _pointer_encoding(self, offsets: Tensor | Sequence[int], device: torch.device) -> Tensor:
        """(P,) frame offsets -> (P, Cm) temporal encoding of object pointers."""
        config = self.config
        offsets = torch.as_tensor(offsets, device=device)
        if not config.add_tpos_enc_to_obj_ptrs:
            return torch.zeros(len(offsets), config.memory_dim, device=device)
        if not config.use_signed_tpos_enc_to_obj_ptrs:
            offsets = offsets.abs()
        max_offset = config.max_obj_ptrs_in_encoder - 1
        dim = config.hidden_dim if config.proj_tpos_enc_in_obj_ptrs else config.memory_dim
        return self.obj_ptr_tpos_proj(sine_encoding_1d(offsets / max_offset, dim))
