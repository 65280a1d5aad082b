"""Attention layers and the two-way transformer of the mask decoder."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam2core.modeling.common import MLP
from sam2core.modeling.position_encoding import AxialRotaryEncoding


class Attention(nn.Module):
    """Multi-head attention whose projections may shrink the width by `downsample_rate`."""

    def __init__(
        self,
        *,
        embedding_dim: int,
        num_heads: int,
        downsample_rate: int = 1,
        dropout: float = 0.0,
        kv_in_dim: int | None = None,
    ) -> None:
        super().__init__()
        internal_dim = embedding_dim // downsample_rate
        if internal_dim % num_heads:
            raise ValueError(f"{num_heads} heads do not divide the width {internal_dim}")
        kv_in_dim = embedding_dim if kv_in_dim is None else kv_in_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(embedding_dim, internal_dim)
        self.k_proj = nn.Linear(kv_in_dim, internal_dim)
        self.v_proj = nn.Linear(kv_in_dim, internal_dim)
        self.out_proj = nn.Linear(internal_dim, embedding_dim)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """q (B, Nq, C), k and v (B, Nk, kv_in_dim) -> (B, Nq, C)."""
        return self._attend(*self._project_heads(q, k, v))

    def _project_heads(self, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Project and split into heads: (B, N, C) -> (B, heads, N, C / heads)."""
        return tuple(
            projection(x).unflatten(-1, (self.num_heads, -1)).transpose(1, 2)
            for projection, x in ((self.q_proj, q), (self.k_proj, k), (self.v_proj, v))
        )

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, key_valid: Tensor | None = None) -> Tensor:
        """key_valid (B, Nk) bool: keys that may be attended to (None: all)."""
        dropout = self.dropout if self.training else 0.0
        mask = None if key_valid is None else key_valid[:, None, None, :]  # (B, 1, 1, Nk)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)  # (B, heads, Nq, c)
        return self.out_proj(out.transpose(1, 2).flatten(2))  # (B, Nq, C)


class RoPEAttention(Attention):
    """Attention with 2-D rotary encoding of queries and keys.

    Keys may hold several frames of the query grid one after another (memories), followed by
    `num_k_exclude_rope` tokens that are not rotated (object pointers).
    """

    def __init__(self, *, rotary: AxialRotaryEncoding, **attention_args) -> None:
        super().__init__(**attention_args)
        self.rotary = rotary

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        num_k_exclude_rope: int = 0,
        key_valid: Tensor | None = None,
    ) -> Tensor:
        q, k, v = self._project_heads(q, k, v)
        num_k_rope = k.shape[-2] - num_k_exclude_rope
        q = self.rotary(q).expand(k.shape[0], -1, -1, -1)  # queries of batch 1 serve every key batch
        k = torch.cat([self.rotary(k[:, :, :num_k_rope]), k[:, :, num_k_rope:]], dim=2)
        return self._attend(q, k, v, key_valid)


class TwoWayAttentionBlock(nn.Module):
    """Sparse tokens attend to themselves and to the image; the image attends to the tokens."""

    def __init__(
        self,
        *,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        attention_downsample_rate: int,
        skip_first_layer_pe: bool,
    ) -> None:
        super().__init__()
        cross_args = dict(
            embedding_dim=embedding_dim,
            num_heads=num_heads,
            downsample_rate=attention_downsample_rate,
        )
        self.self_attn = Attention(embedding_dim=embedding_dim, num_heads=num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(**cross_args)
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = MLP(
            input_dim=embedding_dim, hidden_dim=mlp_dim, output_dim=embedding_dim, num_layers=2
        )
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(**cross_args)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self, queries: Tensor, keys: Tensor, query_pe: Tensor, key_pe: Tensor
    ) -> tuple[Tensor, Tensor]:
        """queries (B, N, C) and keys (B, HW, C) with their encodings -> updated both."""
        if self.skip_first_layer_pe:
            queries = self.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q=q, k=q, v=queries)
        queries = self.norm1(queries)

        q, k = queries + query_pe, keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q=q, k=k, v=keys))
        queries = self.norm3(queries + self.mlp(queries))

        q = queries + query_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(q=k, k=q, v=queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """SAM's decoder transformer between prompt tokens and the image embedding."""

    def __init__(
        self,
        *,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        attention_downsample_rate: int,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                embedding_dim=embedding_dim,
                num_heads=num_heads,
                mlp_dim=mlp_dim,
                attention_downsample_rate=attention_downsample_rate,
                skip_first_layer_pe=(i == 0),
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(
            embedding_dim=embedding_dim,
            num_heads=num_heads,
            downsample_rate=attention_downsample_rate,
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(
        self, image_embedding: Tensor, image_pe: Tensor, point_embedding: Tensor
    ) -> tuple[Tensor, Tensor]:
        """image_embedding and image_pe (B, C, H, W), point_embedding (B, N, C)
        -> (tokens (B, N, C), image (B, HW, C))."""
        keys = image_embedding.flatten(2).permute(0, 2, 1)  # (B, HW, C)
        key_pe = image_pe.flatten(2).permute(0, 2, 1)  # (B, HW, C)
        queries = point_embedding
        for layer in self.layers:
            queries, keys = layer(queries, keys, query_pe=point_embedding, key_pe=key_pe)
        attended = self.final_attn_token_to_image(
            q=queries + point_embedding, k=keys + key_pe, v=keys
        )
        return self.norm_final_attn(queries + attended), keys
