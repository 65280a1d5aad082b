"""Attention layers and the two-way transformer of the mask decoder."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam2core.config import MaskDecoderConfig
from sam2core.modeling.common import MLP
from sam2core.modeling.position_encoding import AxialRotaryEncoding, RotaryAngles


class Attention(nn.Module):
    """Multi-head attention whose projections may shrink the width by `downsample_rate`.

    Queries come in with `embedding_dim` channels, keys and values with `kv_in_dim` (default:
    the same); all three are projected to embedding_dim / downsample_rate channels, split into
    `num_heads` heads, and the attended values are projected back to embedding_dim.
    """

    def __init__(
        self,
        *,
        embedding_dim: int,
        num_heads: int,
        kv_in_dim: int | None = None,
        downsample_rate: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        inner_width = embedding_dim // downsample_rate
        if inner_width % num_heads:
            raise ValueError(f"{num_heads} heads do not divide the width {inner_width}")
        source_width = kv_in_dim or embedding_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(embedding_dim, inner_width)
        self.k_proj = nn.Linear(source_width, inner_width)
        self.v_proj = nn.Linear(source_width, inner_width)
        self.out_proj = nn.Linear(inner_width, embedding_dim)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """q (B, Nq, C), k and v (B, Nk, kv_in_dim) -> (B, Nq, C)."""
        return self._attend(*self._heads(q, k, v))

    def _heads(self, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Project queries, keys and values, each (B, N, ·) -> (B, heads, N, head_dim)."""
        projected = (self.q_proj(q), self.k_proj(k), self.v_proj(v))
        return tuple(x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2) for x in projected)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, key_valid: Tensor | None = None) -> Tensor:
        """Heads (B, heads, N, head_dim) -> (B, Nq, C). key_valid (B, Nk) bool: the keys that
        may be attended to (None: all)."""
        mask = None if key_valid is None else key_valid[:, None, None, :]  # (B, 1, 1, Nk)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )  # (B, heads, Nq, head_dim)
        return self.out_proj(attended.transpose(1, 2).flatten(2))


class RoPEAttention(Attention):
    """Attention with 2-D rotary encoding of queries and keys.

    Keys may hold several frames of the query grid one after another (memories), followed by
    tokens that are not rotated (object pointers): `key_angles` say which.
    """

    def __init__(self, *, rotary: AxialRotaryEncoding, **attention_args) -> None:
        super().__init__(**attention_args)
        self.rotary = rotary

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        query_angles: RotaryAngles,
        key_angles: RotaryAngles,
        key_valid: Tensor | None = None,
    ) -> Tensor:
        """q (B, Nq, C); k and v (B, Nk, kv_in_dim); angles of Nq and Nk tokens
        (AxialRotaryEncoding.angles); key_valid (B, Nk) or None -> (B, Nq, C)."""
        q, k, v = self._heads(q, k, v)
        k = self.rotary(k, key_angles)
        queries = self.rotary(q, query_angles)  # a batch of 1 serves every key batch
        if not torch.onnx.is_in_onnx_export():  # the traced expand would fix the batch; MatMul broadcasts
            queries = queries.expand(k.shape[0], -1, -1, -1)
        return self._attend(queries, k, v, key_valid)


class TwoWayAttentionBlock(nn.Module):
    """One layer of the decoder transformer between the sparse tokens (output and prompt tokens)
    and the image tokens, each step followed by a LayerNorm of its residual sum:

    1. the tokens attend to themselves (`self_attn`, `norm1`);
    2. the tokens attend to the image (`cross_attn_token_to_image`, `norm2`);
    3. an MLP on each token (`mlp`, `norm3`);
    4. the image attends to the tokens (`cross_attn_image_to_token`, `norm4`).

    Position encodings are added to queries and keys, never to values. In the first layer the
    tokens are their own encoding, so its self-attention takes them as they are and replaces
    them (no residual).
    """

    def __init__(
        self,
        *,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        attention_downsample_rate: int,
        first_layer: bool,
    ) -> None:
        super().__init__()
        narrow = dict(
            embedding_dim=embedding_dim,
            num_heads=num_heads,
            downsample_rate=attention_downsample_rate,
        )
        # Registered in the checkpoint's key order: each step's module, then its norm.
        self.self_attn = Attention(embedding_dim=embedding_dim, num_heads=num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(**narrow)
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = MLP((embedding_dim, mlp_dim, embedding_dim))
        self.norm3, self.norm4 = nn.LayerNorm(embedding_dim), nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(**narrow)
        self.first_layer = first_layer

    def forward(self, tokens: Tensor, image: Tensor, tokens_pe: Tensor, image_pe: Tensor) -> tuple[Tensor, Tensor]:
        """tokens (B, N, C) and image (B, HW, C), with their position encodings of the same
        shapes -> the updated (tokens, image)."""
        tokens = self.norm1(self._tokens_attend_to_themselves(tokens, tokens_pe))
        located_image = image + image_pe
        read = self.cross_attn_token_to_image(q=tokens + tokens_pe, k=located_image, v=image)
        tokens = self.norm2(tokens + read)
        tokens = self.norm3(tokens + self.mlp(tokens))
        written = self.cross_attn_image_to_token(q=located_image, k=tokens + tokens_pe, v=tokens)
        return tokens, self.norm4(image + written)

    def _tokens_attend_to_themselves(self, tokens: Tensor, tokens_pe: Tensor) -> Tensor:
        """(B, N, C) -> (B, N, C), before norm1."""
        if self.first_layer:
            return self.self_attn(q=tokens, k=tokens, v=tokens)
        located = tokens + tokens_pe
        return tokens + self.self_attn(q=located, k=located, v=tokens)


class TwoWayTransformer(nn.Module):
    """SAM's decoder transformer: `config.transformer_depth` TwoWayAttentionBlocks, then the tokens attend to the
    image once more (`final_attn_token_to_image`, `norm_final_attn`)."""

    def __init__(self, *, embedding_dim: int, config: MaskDecoderConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                embedding_dim=embedding_dim,
                num_heads=config.transformer_num_heads,
                mlp_dim=config.transformer_mlp_dim,
                attention_downsample_rate=config.attention_downsample_rate,
                first_layer=index == 0,
            )
            for index in range(config.transformer_depth)
        )
        self.final_attn_token_to_image = Attention(
            embedding_dim=embedding_dim,
            num_heads=config.transformer_num_heads,
            downsample_rate=config.attention_downsample_rate,
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(self, image_embedding: Tensor, image_pe: Tensor, point_embedding: Tensor) -> tuple[Tensor, Tensor]:
        """image_embedding and image_pe (B, C, H, W), point_embedding (B, N, C): the output and
        prompt tokens, which are also their own position encoding
        -> (tokens (B, N, C), image tokens (B, HW, C))."""
        image = image_embedding.flatten(2).transpose(1, 2)  # (B, HW, C)
        image_pe_tokens = image_pe.flatten(2).transpose(1, 2)  # (B, HW, C)
        tokens = point_embedding
        for layer in self.layers:
            tokens, image = layer(tokens, image, point_embedding, image_pe_tokens)
        read = self.final_attn_token_to_image(q=tokens + point_embedding, k=image + image_pe_tokens, v=image)
        return self.norm_final_attn(tokens + read), image
