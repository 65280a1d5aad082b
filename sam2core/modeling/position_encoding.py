"""Position encodings: 2-D and 1-D sine, random Fourier features, and 2-D rotary (RoPE)."""

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn


def paired_wavelengths(num_channels: int, temperature: float, device: torch.device) -> Tensor:
    """(ceil(num_channels / 2),) wavelengths temperature ** (2k / num_channels), k = 0, 1, ...:
    the transformer sine encoding gives each of them to two consecutive channels."""
    even_channels = torch.arange(0, num_channels, 2, dtype=torch.float32, device=device)
    return temperature ** (even_channels / num_channels)


def sine_encoding_1d(positions: Tensor, dim: int, temperature: float = 10000.0) -> Tensor:
    """Transformer sine encoding of scalar positions: (...,) -> (..., dim).

    Channels 0 .. dim/2 - 1 are sin(position / wavelength), channels dim/2 .. dim - 1 the
    cosines of the same angles; channels 2k and 2k + 1 of each half share a wavelength.
    """
    half = dim // 2
    wavelengths = paired_wavelengths(half, temperature, positions.device)
    angles = positions.unsqueeze(-1) / wavelengths.repeat_interleave(2)[:half]  # (..., dim / 2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class SinePositionEncoding2d(nn.Module):
    """Normalised 2-D sine encoding of a feature map's grid (DETR style).

    Channels: num_pos_feats/2 for y, then num_pos_feats/2 for x; within each, channel 2k is
    sin(angle_k) and channel 2k + 1 cos(angle_k).
    """

    def __init__(self, *, num_pos_feats: int, temperature: float = 10000.0) -> None:
        super().__init__()
        self.num_feats = num_pos_feats // 2
        self.temperature = temperature

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) feature map -> (B, num_pos_feats, H, W) encoding of its grid."""
        batch, _, height, width = x.shape
        rows = self._encode_axis(height, x.device)[:, None].expand(-1, width, -1)  # (H, W, F)
        columns = self._encode_axis(width, x.device)[None].expand(height, -1, -1)  # (H, W, F)
        grid = torch.cat((rows, columns), dim=-1).permute(2, 0, 1)  # (2F, H, W)
        return grid.to(x.dtype).expand(batch, -1, -1, -1)

    def _encode_axis(self, length: int, device: torch.device) -> Tensor:
        """(length, F): positions 1..length scaled to (0, 2*pi], sin and cos interleaved."""
        position = torch.arange(1, length + 1, dtype=torch.float32, device=device)
        position = position / (position[-1] + 1e-6) * (2 * math.pi)
        wavelengths = paired_wavelengths(self.num_feats, self.temperature, device)
        angles = position[:, None] / wavelengths  # (length, F / 2)
        return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(1)


class RandomFourierPositionEncoding(nn.Module):
    """Encoding of continuous (x, y) positions by random spatial frequencies (SAM's prompt PE)."""

    def __init__(self, *, num_pos_feats: int, scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats)))

    def encode(self, coords: Tensor) -> Tensor:
        """(..., 2) xy normalised to [0, 1] -> (..., 2 * num_pos_feats): sines then cosines."""
        centred = 2 * coords - 1  # (..., 2) in [-1, 1]
        angles = 2 * math.pi * (centred @ self.positional_encoding_gaussian_matrix)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)

    def encode_grid(self, size: int) -> Tensor:
        """(2 * num_pos_feats, size, size) encoding of the pixel centres of a square grid."""
        device = self.positional_encoding_gaussian_matrix.device
        centres = (torch.arange(size, dtype=torch.float32, device=device) + 0.5) / size
        grid_y, grid_x = torch.meshgrid(centres, centres, indexing="ij")
        return self.encode(torch.stack([grid_x, grid_y], dim=-1)).permute(2, 0, 1)


@dataclass(frozen=True)
class RotaryAngles:
    """Per token and channel, the rotation that AxialRotaryEncoding applies: cos (N, head_dim)
    holds each pair's cosine twice, sin (N, head_dim) its sine as (-sin, sin). A token left
    unrotated has cos 1 and sin 0. `turns` (N, head_dim / 2): the same as unit complex numbers
    cos + i sin, one per pair; None in a traced graph (ONNX has no complex numbers)."""

    cos: Tensor
    sin: Tensor
    turns: Tensor | None = None


class AxialRotaryEncoding(nn.Module):
    """2-D axial rotary position encoding (RoPE) for tokens of a square grid.

    The channels of a head form pairs (a, b) = (2i, 2i + 1), each rotated by an angle: the first
    half of the pairs by x * frequency, the second half by y * frequency. Tokens are numbered
    row-major over a `side` x `side` grid. A pair becomes (a cos - b sin, b cos + a sin): the
    complex number a + ib times cos + i sin, one multiplication per pair (4x faster on a CPU than
    the real form for (1, 1, 7212, 256) keys). Traced for ONNX or torch.compile, the same rotation
    runs in real arithmetic for whole rows of head_dim channels: the row times cos plus the row
    with its pairs swapped, (b, a), times (-sin, sin) (RotaryAngles).
    """

    def __init__(self, *, head_dim: int, side: int, theta: float) -> None:
        super().__init__()
        num_pairs_per_axis = head_dim // 4
        exponents = torch.arange(num_pairs_per_axis, dtype=torch.float32) * 4 / head_dim
        frequencies = 1.0 / (theta**exponents)  # (head_dim / 4,)
        coordinates = torch.arange(side, dtype=torch.float32)
        y, x = (grid.flatten() for grid in torch.meshgrid(coordinates, coordinates, indexing="ij"))
        angles = torch.cat([torch.outer(x, frequencies), torch.outer(y, frequencies)], dim=-1)  # (N, head_dim / 2)
        self.register_buffer("cos", angles.cos().repeat_interleave(2, dim=-1), persistent=False)  # (N, head_dim)
        signed_sin = torch.stack([-angles.sin(), angles.sin()], dim=-1).flatten(-2)  # (N, head_dim)
        self.register_buffer("sin", signed_sin, persistent=False)

    def angles(self, num_rotated: int, num_unrotated: int = 0) -> RotaryAngles:
        """The angles of `num_rotated` tokens, r stacked copies of the N-token grid, followed by
        `num_unrotated` tokens left as they are (object pointers). Token t takes grid cell t mod N,
        so that r never becomes a dimension of its own (torch.compile would specialise it, and
        ONNX would fix it). Computed once for every layer and object that reads the same tokens."""
        cell = torch.arange(num_rotated, device=self.cos.device) % self.cos.shape[0]
        unrotated = self.cos.new_ones(num_unrotated, self.cos.shape[1])
        cos = torch.cat([self.cos[cell], unrotated])  # (num_rotated + num_unrotated, head_dim)
        sin = torch.cat([self.sin[cell], torch.zeros_like(unrotated)])
        turns = None if _traced() else torch.complex(cos[:, 0::2], sin[:, 1::2])  # (N, head_dim / 2)
        return RotaryAngles(cos=cos, sin=sin, turns=turns)

    def forward(self, x: Tensor, angles: RotaryAngles) -> Tensor:
        """Rotate (B, heads, N, head_dim) tokens by `angles` of N tokens, in float32; returned in
        the dtype of x."""
        tokens = x.float()
        pairs = tokens.unflatten(-1, (-1, 2))  # (B, heads, N, head_dim / 2, 2)
        if angles.turns is not None:  # computed outside a traced graph (angles)
            return torch.view_as_real(torch.view_as_complex(pairs) * angles.turns).flatten(-2).type_as(x)
        swapped = torch.stack([pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)  # (b, a) per pair
        return torch.addcmul(tokens * angles.cos, swapped, angles.sin).type_as(x)


def _traced() -> bool:
    """Whether the code runs under ONNX export or torch.compile, which take real arithmetic only."""
    return torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling() or torch.jit.is_tracing()
