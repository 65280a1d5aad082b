"""The memory encoder: fuses a frame's image features with its predicted mask into a memory."""

import math

import torch
from torch import Tensor, nn

from sam2core.config import MemoryEncoderConfig
from sam2core.modeling.common import LayerNorm2d
from sam2core.modeling.position_encoding import SinePositionEncoding2d


class MaskDownSampler(nn.Module):
    """Downsamples a mask by `total_stride` with strided convs, growing channels by stride**2
    at each step, then projects to `embed_dim` channels."""

    def __init__(self, *, embed_dim: int, kernel_size: int, stride: int, padding: int, total_stride: int) -> None:
        super().__init__()
        num_layers = round(math.log(total_stride, stride))
        if stride**num_layers != total_stride:
            raise ValueError(f"total_stride {total_stride} is not a power of stride {stride}")
        self.encoder = nn.Sequential()
        channels = 1
        for _ in range(num_layers):
            out_channels = channels * stride**2
            self.encoder.append(nn.Conv2d(channels, out_channels, kernel_size, stride=stride, padding=padding))
            self.encoder.append(LayerNorm2d(out_channels))
            self.encoder.append(nn.GELU())
            channels = out_channels
        self.encoder.append(nn.Conv2d(channels, embed_dim, kernel_size=1))

    def forward(self, mask: Tensor) -> Tensor:
        """(B, 1, S, S) -> (B, embed_dim, S / total_stride, S / total_stride)."""
        return self.encoder(mask)


class CXBlock(nn.Module):
    """ConvNeXt block: depthwise conv, LayerNorm, pointwise MLP, layer scale, residual."""

    def __init__(self, *, dim: int, kernel_size: int, layer_scale_init_value: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    def __init__(self, *, dim: int, num_layers: int, kernel_size: int, layer_scale: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            CXBlock(dim=dim, kernel_size=kernel_size, layer_scale_init_value=layer_scale) for _ in range(num_layers)
        )

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    def __init__(self, *, in_dim: int, config: MemoryEncoderConfig) -> None:
        super().__init__()
        self.mask_downsampler = MaskDownSampler(
            embed_dim=in_dim,
            kernel_size=config.mask_kernel_size,
            stride=config.mask_stride,
            padding=config.mask_padding,
            total_stride=config.mask_total_stride,
        )
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = Fuser(
            dim=in_dim,
            num_layers=config.fuser_num_layers,
            kernel_size=config.fuser_kernel_size,
            layer_scale=config.layer_scale_init_value,
        )
        self.out_proj = nn.Conv2d(in_dim, config.out_dim, kernel_size=1)
        self.position_encoding = SinePositionEncoding2d(num_pos_feats=config.out_dim)

    def forward(self, image_features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """image_features (B, C, h, w) and mask (B, 1, 16h, 16w), already scaled to the memory
        encoder's range -> memory features (B, Cm, h, w) and their position encoding."""
        x = self.pix_feat_proj(image_features) + self.mask_downsampler(mask)
        x = self.out_proj(self.fuser(x))
        return x, self.position_encoding(x)
