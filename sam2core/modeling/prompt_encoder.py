"""The prompt encoder: points (and box corners) to sparse tokens, a mask to a dense embedding."""

import torch
from torch import Tensor, nn

from sam2core.modeling.common import LayerNorm2d
from sam2core.modeling.position_encoding import RandomFourierPositionEncoding
from sam2core.point_labels import NUM_POINT_LABELS, PADDING


class PromptEncoder(nn.Module):
    """Encodes prompts for the mask decoder of a model with square `image_size` inputs."""

    def __init__(self, *, embed_dim: int, image_embedding_size: int, image_size: int, mask_in_chans: int) -> None:
        super().__init__()
        self.image_embedding_size = image_embedding_size
        self.image_size = image_size
        self.pe_layer = RandomFourierPositionEncoding(num_pos_feats=embed_dim // 2)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(NUM_POINT_LABELS))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    @property
    def mask_input_size(self) -> int:
        """Side of a mask prompt: 4 x the image embedding (the low-res mask size)."""
        return 4 * self.image_embedding_size

    def dense_positional_encoding(self) -> Tensor:
        """(1, C, h, w) encoding of the image embedding's grid."""
        return self.pe_layer.encode_grid(self.image_embedding_size)[None]

    def forward(self, points: Tensor | None, labels: Tensor | None, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """Points (B, N, 2) xy in input pixels, labels (B, N) and an optional mask (B, 1, 4h, 4w)
        of logits -> sparse tokens (B, N + 1, C) and dense embedding (B, C, h, w).

        One padding point is always appended: SAM 2 passes boxes as labelled corner points.
        Without points (a mask prompt alone) there are no sparse tokens: (B, 0, C).
        """
        if points is None:
            batch = 1 if mask is None else mask.shape[0]
            embed_dim = self.no_mask_embed.embedding_dim
            sparse = self.no_mask_embed.weight.new_zeros(batch, 0, embed_dim)
            return sparse, self._embed_mask(mask, batch)
        batch = points.shape[0]
        points = points + 0.5  # pixel centres
        padding = torch.full((batch, 1), PADDING, dtype=labels.dtype, device=labels.device)
        points = torch.cat([points, torch.zeros_like(points[:, :1])], dim=1)
        labels = torch.cat([labels, padding], dim=1)
        return self._embed_points(points, labels), self._embed_mask(mask, batch)

    def _embed_points(self, points: Tensor, labels: Tensor) -> Tensor:
        encoding = self.pe_layer.encode(points / self.image_size)  # (B, N, C)
        label_embeddings = torch.cat([embedding.weight for embedding in self.point_embeddings])
        labelled = encoding + label_embeddings[labels.clamp(min=0).long()]
        is_padding = (labels == PADDING).unsqueeze(-1)
        return torch.where(is_padding, self.not_a_point_embed.weight, labelled)

    def _embed_mask(self, mask: Tensor | None, batch: int) -> Tensor:
        if mask is None:
            size = self.image_embedding_size
            return self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, size, size)
        side = self.mask_input_size
        if mask.shape[1:] != (1, side, side):
            raise ValueError(f"mask prompts are (B, 1, {side}, {side}), got {tuple(mask.shape)}")
        return self.mask_downscaling(mask)
