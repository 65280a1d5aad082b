"""Memory attention: conditions the current frame's features on the memory bank."""

import torch.nn.functional as F
from torch import Tensor, nn

from sam2core.config import MemoryAttentionConfig
from sam2core.modeling.position_encoding import AxialRotaryEncoding, RotaryAngles
from sam2core.modeling.transformer import RoPEAttention


class MemoryAttentionLayer(nn.Module):
    """Pre-norm layer: rotary self-attention, rotary cross-attention to memory, MLP."""

    def __init__(
        self,
        *,
        d_model: int,
        memory_dim: int,
        num_heads: int,
        dim_feedforward: int,
        dropout: float,
        rotary: AxialRotaryEncoding,
    ) -> None:
        super().__init__()
        attention_args = dict(embedding_dim=d_model, num_heads=num_heads, dropout=dropout, rotary=rotary)
        self.self_attn = RoPEAttention(**attention_args)
        self.cross_attn_image = RoPEAttention(kv_in_dim=memory_dim, **attention_args)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        memory_pos: Tensor,
        grid_angles: RotaryAngles,
        memory_angles: RotaryAngles,
        memory_valid: Tensor | None = None,
    ) -> Tensor:
        """x (B or 1, HW, C); memory and memory_pos (B, M, Cm); the rotary angles of the HW grid
        tokens and of the M memory tokens (object pointers not rotated); memory_valid (B, M) bool
        or None -> (B, HW, C). With x of batch 1 (one frame for B objects) the self-attention and
        the cross-attention's queries are computed once."""
        normed = self.norm1(x)
        x = x + self.dropout(self.self_attn(normed, normed, normed, query_angles=grid_angles, key_angles=grid_angles))
        x = x + self.dropout(
            self.cross_attn_image(
                q=self.norm2(x),
                k=memory + memory_pos,
                v=memory,
                query_angles=grid_angles,
                key_angles=memory_angles,
                key_valid=memory_valid,
            )
        )
        hidden = self.dropout(F.relu(self.linear1(self.norm3(x))))
        return x + self.dropout(self.linear2(hidden))


class MemoryAttention(nn.Module):
    def __init__(self, *, d_model: int, memory_dim: int, feature_size: int, config: MemoryAttentionConfig) -> None:
        super().__init__()
        rotary = AxialRotaryEncoding(head_dim=d_model // config.num_heads, side=feature_size, theta=config.rope_theta)
        self.rotary = rotary
        self.layers = nn.ModuleList(
            MemoryAttentionLayer(
                d_model=d_model,
                memory_dim=memory_dim,
                num_heads=config.num_heads,
                dim_feedforward=config.dim_feedforward,
                dropout=config.dropout,
                rotary=rotary,
            )
            for _ in range(config.num_layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self,
        curr: Tensor,
        memory: Tensor,
        curr_pos: Tensor,
        memory_pos: Tensor,
        num_obj_ptr_tokens: int = 0,
        memory_valid: Tensor | None = None,
    ) -> Tensor:
        """curr and curr_pos (HW, B or 1, C) current frame; memory and memory_pos (M, B, Cm), ending
        with `num_obj_ptr_tokens` object-pointer tokens; memory_valid (B, M) marks real memory
        tokens (None: all) -> conditioned features (HW, B, C)."""
        x = (curr + 0.1 * curr_pos).transpose(0, 1)  # (B or 1, HW, C)
        memory, memory_pos = memory.transpose(0, 1), memory_pos.transpose(0, 1)  # (B, M, Cm)
        grid_angles = self.rotary.angles(x.shape[1])
        memory_angles = self.rotary.angles(memory.shape[1] - num_obj_ptr_tokens, num_obj_ptr_tokens)
        for layer in self.layers:
            x = layer(x, memory, memory_pos, grid_angles, memory_angles, memory_valid)
        return self.norm(x).transpose(0, 1)
