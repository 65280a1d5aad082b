"""The mask decoder: output tokens + prompt tokens attend to the image and predict masks."""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from sam2core.config import MaskDecoderConfig
from sam2core.modeling.common import MLP, LayerNorm2d
from sam2core.modeling.transformer import TwoWayTransformer


class MaskPrediction(NamedTuple):
    """What the decoder predicts for M masks (M = 3 with multimask output, else 1)."""

    masks: Tensor  # (B, M, 4h, 4w) mask logits
    iou: Tensor  # (B, M) predicted IoU of each mask
    mask_tokens: Tensor  # (B, M, C) output token of each mask, the source of object pointers
    object_score_logits: Tensor  # (B, 1) > 0 where the object is present


class MaskDecoder(nn.Module):
    """SAM's mask decoder with SAM 2's additions: an object-score token and high-resolution
    skip connections from the image encoder."""

    def __init__(self, *, transformer_dim: int, config: MaskDecoderConfig) -> None:
        super().__init__()
        dim = transformer_dim
        self.transformer_dim = transformer_dim
        self.config = config
        self.num_mask_tokens = config.num_multimask_outputs + 1  # token 0: the single mask
        self.transformer = TwoWayTransformer(embedding_dim=dim, config=config)
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        self.obj_score_token = nn.Embedding(1, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        # Projections of the two high-resolution FPN levels (applied once per image).
        self.conv_s0 = nn.Conv2d(dim, dim // 8, kernel_size=1)
        self.conv_s1 = nn.Conv2d(dim, dim // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP((dim, dim, dim, dim // 8)) for _ in range(self.num_mask_tokens)
        )
        iou_hidden_widths = [config.iou_head_hidden_dim] * (config.iou_head_depth - 1)
        self.iou_prediction_head = MLP((dim, *iou_hidden_widths, self.num_mask_tokens), sigmoid_output=True)
        self.pred_obj_score_head = MLP((dim, dim, dim, 1))
        self.dynamic_multimask_via_stability = config.dynamic_multimask_via_stability
        self.stability_delta = config.dynamic_multimask_stability_delta
        self.stability_thresh = config.dynamic_multimask_stability_thresh

    def forward(
        self,
        *,
        image_embeddings: Tensor,
        image_pe: Tensor,
        sparse_prompt_embeddings: Tensor,
        dense_prompt_embeddings: Tensor,
        high_res_features: tuple[Tensor, Tensor],
        multimask: bool,
    ) -> MaskPrediction:
        """image_embeddings (B, C, h, w), image_pe (1, C, h, w), sparse prompts (B, N, C), dense
        prompts (B, C, h, w), high-res features ((B, C/8, 4h, 4w), (B, C/4, 2h, 2w)).

        multimask: the 3 multimask outputs; otherwise the single-mask output (in eval, replaced
        by the best multimask output when unstable, if so configured).
        """
        batch = sparse_prompt_embeddings.shape[0]
        output_tokens = torch.cat([self.obj_score_token.weight, self.iou_token.weight, self.mask_tokens.weight])
        tokens = torch.cat(
            [output_tokens.unsqueeze(0).expand(batch, -1, -1), sparse_prompt_embeddings], dim=1
        )  # (B, 2 + num_mask_tokens + N, C)
        image = image_embeddings + dense_prompt_embeddings
        image_pe = image_pe.expand(batch, -1, -1, -1)
        return self._select(self.predict_all_masks(tokens, image, image_pe, high_res_features), multimask)

    def predict_all_masks(
        self,
        tokens: Tensor,
        image: Tensor,
        image_pe: Tensor,
        high_res_features: tuple[Tensor, Tensor],
    ) -> MaskPrediction:
        """The raw prediction, before the choice of masks: tokens (B, T, C) (the output tokens, then
        the prompt's), image and image_pe (B, C, h, w), high-res features ((B, C/8, 4h, 4w),
        (B, C/4, 2h, 2w)) -> the masks of all num_mask_tokens output tokens
        (B, num_mask_tokens, 4h, 4w), their IoU (B, num_mask_tokens), tokens (B, num_mask_tokens, C)
        and the object score (B, 1). What the exported mask decoder graph computes."""
        hidden, image_tokens = self.transformer(image, image_pe, tokens)
        mask_tokens = hidden[:, 2 : 2 + self.num_mask_tokens]  # (B, num_mask_tokens, C)
        image = image_tokens.transpose(1, 2).reshape(image.shape)
        upscaled = self._upscale(image, high_res_features)  # (B, C/8, 4h, 4w)
        hyper_in = torch.stack(
            [mlp(mask_tokens[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)],
            dim=1,
        )  # (B, num_mask_tokens, C/8)
        masks = (hyper_in @ upscaled.flatten(2)).unflatten(-1, upscaled.shape[-2:])
        iou = self.iou_prediction_head(hidden[:, 1])
        object_score_logits = self.pred_obj_score_head(hidden[:, 0])
        return MaskPrediction(masks, iou, mask_tokens, object_score_logits)

    def _select(self, prediction: MaskPrediction, multimask: bool) -> MaskPrediction:
        """The multimask outputs (tokens 1..3) or the single-mask output (token 0)."""
        masks, iou, mask_tokens, object_score_logits = prediction
        if multimask:
            return MaskPrediction(masks[:, 1:], iou[:, 1:], mask_tokens[:, 1:], object_score_logits)
        if self.dynamic_multimask_via_stability and not self.training:
            single_mask, single_iou = self._stable_single_mask(masks, iou)
        else:
            single_mask, single_iou = masks[:, :1], iou[:, :1]
        return MaskPrediction(single_mask, single_iou, mask_tokens[:, :1], object_score_logits)

    def _upscale(self, image: Tensor, high_res_features: tuple[Tensor, Tensor]) -> Tensor:
        """(B, C, h, w) -> (B, C/8, 4h, 4w): two transposed convolutions doubling the grid,
        each followed by adding the high-resolution feature map of its size."""
        to_half_res, norm, activation, to_full_res, _ = self.output_upscaling
        full_res_skip, half_res_skip = high_res_features  # (B, C/8, 4h, 4w), (B, C/4, 2h, 2w)
        half_res = activation(norm(to_half_res(image) + half_res_skip))  # (B, C/4, 2h, 2w)
        return activation(to_full_res(half_res) + full_res_skip)

    def _stable_single_mask(self, masks: Tensor, iou: Tensor) -> tuple[Tensor, Tensor]:
        """masks (B, num_mask_tokens, H, W) and iou (B, num_mask_tokens) -> the single-mask
        output (B, 1, H, W) and its IoU (B, 1) where it is stable, else the multimask output with
        the highest predicted IoU."""
        most_confident = iou[:, 1:].argmax(dim=1, keepdim=True) + 1  # (B, 1) token index
        fallback_iou = iou.gather(1, most_confident)
        fallback_mask = masks.gather(1, most_confident[..., None, None].expand(-1, -1, *masks.shape[-2:]))
        single_mask, single_iou = masks[:, :1], iou[:, :1]
        stable = self._stability_score(single_mask) >= self.stability_thresh  # (B, 1)
        return (
            torch.where(stable[..., None, None], single_mask, fallback_mask),
            torch.where(stable, single_iou, fallback_iou),
        )

    def _stability_score(self, mask_logits: Tensor) -> Tensor:
        """(B, M, H, W) -> (B, M): how little each mask changes when its threshold moves from
        -delta to +delta, as the area above +delta over the area above -delta (1 when both are
        empty)."""
        pixels = (-2, -1)
        core_area = (mask_logits > self.stability_delta).sum(dim=pixels, dtype=torch.float32)
        extent_area = (mask_logits > -self.stability_delta).sum(dim=pixels, dtype=torch.float32)
        return torch.where(extent_area > 0, core_area / extent_area, 1.0)
