"""Hiera, the hierarchical vision transformer trunk of the image encoder.

Tokens stay in a (B, H, W, C) layout. Each stage after the first halves the resolution by
max-pooling the queries of its first block, and doubles the channels.
"""

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam2core.config import HieraConfig
from sam2core.modeling.common import MLP


def window_partition(x: Tensor, window_size: int) -> Tensor:
    """(B, H, W, C) -> (B * num_windows, window, window, C), zero-padding H and W up to
    multiples of the window."""
    batch, height, width, channels = x.shape
    padded_h, padded_w = (_round_up(size, window_size) for size in (height, width))
    x = F.pad(x, (0, 0, 0, padded_w - width, 0, padded_h - height))
    x = x.reshape(batch, padded_h // window_size, window_size, padded_w // window_size, window_size, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, channels)


def window_unpartition(windows: Tensor, window_size: int, hw: tuple[int, int]) -> Tensor:
    """Inverse of `window_partition` for an (H, W) grid: -> (B, H, W, C)."""
    height, width = hw
    padded_h, padded_w = (_round_up(size, window_size) for size in hw)
    batch = windows.shape[0] // (padded_h // window_size * padded_w // window_size)
    x = windows.reshape(batch, padded_h // window_size, padded_w // window_size, window_size, window_size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch, padded_h, padded_w, -1)
    return x[:, :height, :width, :]


def _round_up(size: int, multiple: int) -> int:
    return (size + multiple - 1) // multiple * multiple  # no negative floor division: ONNX truncates


def pool_tokens(x: Tensor, pool: nn.Module) -> Tensor:
    """Apply a 2-D pooling to (B, H, W, C) tokens -> (B, H', W', C)."""
    return pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class PatchEmbed(nn.Module):
    """Image (B, 3, H, W) -> patch tokens (B, H / stride, W / stride, C)."""

    def __init__(self, *, embed_dim: int, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=kernel_size, stride=stride, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class MultiScaleAttention(nn.Module):
    """Self-attention whose queries may be pooled, shrinking the output grid.

    Parameters: `qkv` (dim -> 3 * dim_out, queries then keys then values, each split into
    heads) and `proj` (dim_out -> dim_out).
    """

    def __init__(self, *, dim: int, dim_out: int, num_heads: int, q_pool: nn.Module | None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: Tensor) -> Tensor:
        """(B, H, W, dim) -> (B, H', W', dim_out); H' = H / q_stride with query pooling."""
        batch, height, width, _ = x.shape
        projected = self.qkv(x).view(batch, height * width, 3, self.num_heads, -1)
        queries, keys, values = projected.permute(2, 0, 3, 1, 4)  # each (B, heads, HW, c)
        if self.q_pool is not None:
            queries, (height, width) = self._pool_queries(queries, (height, width))
        attended = F.scaled_dot_product_attention(queries, keys, values)  # (B, heads, H'W', c)
        return self.proj(attended.transpose(1, 2).reshape(batch, height, width, -1))

    def _pool_queries(self, queries: Tensor, hw: tuple[int, int]) -> tuple[Tensor, tuple[int, int]]:
        """(B, heads, HW, c) -> (B, heads, H'W', c) pooled over the (H, W) grid, and (H', W')."""
        batch, num_heads, _, head_dim = queries.shape
        grid = queries.transpose(1, 2).reshape(batch, *hw, num_heads * head_dim)
        pooled = pool_tokens(grid, self.q_pool)  # (B, H', W', heads * c)
        pooled_hw = tuple(pooled.shape[1:3])
        return pooled.reshape(batch, -1, num_heads, head_dim).transpose(1, 2), pooled_hw


class MultiScaleBlock(nn.Module):
    """Pre-norm transformer block with windowed (or global) attention and optional pooling.

    A block that widens the tokens (dim_out > dim_in) carries its shortcut through `proj` (and the
    query pooling), applied to the normalised input.
    """

    def __init__(
        self,
        *,
        dim_in: int,
        dim_out: int,
        num_heads: int,
        mlp_ratio: float,
        q_stride: int | None,
        window_size: int,
    ) -> None:
        super().__init__()
        self.window_size = window_size
        self.pool = None if q_stride is None else nn.MaxPool2d(q_stride, stride=q_stride)
        self.norm1 = nn.LayerNorm(dim_in, eps=1e-6)  # modules in the checkpoint's key order
        self.attn = MultiScaleAttention(dim=dim_in, dim_out=dim_out, num_heads=num_heads, q_pool=self.pool)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = MLP((dim_out, int(dim_out * mlp_ratio), dim_out), activation=nn.GELU)
        self.proj = nn.Linear(dim_in, dim_out) if dim_in != dim_out else None

    def forward(self, x: Tensor) -> Tensor:
        """(B, H, W, dim_in) -> (B, H', W', dim_out)."""
        normed = self.norm1(x)
        shortcut = x if self.proj is None else self._widened(normed)  # (B, H', W', dim_out)
        x = shortcut + self._windowed_attention(normed, output_hw=shortcut.shape[1:3])
        return x + self.mlp(self.norm2(x))

    def _widened(self, normed: Tensor) -> Tensor:
        """(B, H, W, dim_in) -> (B, H', W', dim_out): the shortcut of a widening block."""
        widened = self.proj(normed)
        return widened if self.pool is None else pool_tokens(widened, self.pool)

    def _windowed_attention(self, x: Tensor, output_hw: tuple[int, int]) -> Tensor:
        if self.window_size == 0:
            return self.attn(x)
        windows = self.attn(window_partition(x, self.window_size))  # pooling shrinks windows
        return window_unpartition(windows, windows.shape[1], output_hw)


class Hiera(nn.Module):
    """The trunk: patch embedding, windowed position embedding and the stages of blocks."""

    def __init__(self, *, config: HieraConfig) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(
            embed_dim=config.embed_dim,
            kernel_size=config.patch_kernel_size,
            stride=config.patch_stride,
            padding=config.patch_padding,
        )
        background_size = config.window_pos_embed_bkg_spatial_size
        window = config.window_spec[0]
        self.pos_embed = nn.Parameter(torch.zeros(1, config.embed_dim, *background_size))
        self.pos_embed_window = nn.Parameter(torch.zeros(1, config.embed_dim, window, window))
        self.blocks = nn.ModuleList(_stage_blocks(config))
        self.stage_ends = tuple(end - 1 for end in itertools.accumulate(config.stages))

    def forward(self, images: Tensor) -> list[Tensor]:
        """(B, 3, S, S) -> one (B, C_i, S / (4 * 2**i), S / (4 * 2**i)) map per stage, highest
        resolution first."""
        x = self.patch_embed(images)  # (B, S/4, S/4, C)
        x = x + self._position_embedding(x.shape[1:3])
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs

    def _position_embedding(self, hw: tuple[int, int]) -> Tensor:
        """(1, H, W, C): the background embedding resized to the grid, plus the window
        embedding tiled over it."""
        background = F.interpolate(self.pos_embed, size=hw, mode="bicubic")
        window = self.pos_embed_window
        tiles = [size // window_size for size, window_size in zip(hw, window.shape[2:])]
        return (background + window.tile([1, 1, *tiles])).permute(0, 2, 3, 1)


def _stage_blocks(config: HieraConfig) -> list[MultiScaleBlock]:
    """The blocks of every stage in order. The block that opens a stage (after the first)
    multiplies the channels and heads, pools the queries (in the first `q_pool` transitions)
    and still attends within the previous stage's window size."""
    blocks = []
    dim, num_heads = config.embed_dim, config.num_heads
    for stage, stage_depth in enumerate(config.stages):
        for position in range(stage_depth):
            opens_stage = stage > 0 and position == 0
            dim_out = int(dim * config.dim_mul) if opens_stage else dim
            num_heads = int(num_heads * config.head_mul) if opens_stage else num_heads
            window_stage = stage - 1 if opens_stage else stage
            is_global = len(blocks) in config.global_att_blocks
            blocks.append(
                MultiScaleBlock(
                    dim_in=dim,
                    dim_out=dim_out,
                    num_heads=num_heads,
                    mlp_ratio=config.mlp_ratio,
                    q_stride=config.q_stride if opens_stage and stage <= config.q_pool else None,
                    window_size=0 if is_global else config.window_spec[window_stage],
                )
            )
            dim = dim_out
    return blocks
