"""The image encoder: Hiera trunk + FPN neck -> multi-scale features and their encodings."""

from collections import OrderedDict

import torch.nn.functional as F
from torch import Tensor, nn

from sam2core.modeling.hiera import Hiera
from sam2core.modeling.position_encoding import SinePositionEncoding2d


class FpnNeck(nn.Module):
    """Feature pyramid without output convs: each stage is projected to `d_model` channels by
    a 1x1 conv, and the levels in `top_down_levels` also add the upsampled level below them."""

    def __init__(
        self,
        *,
        d_model: int,
        backbone_channel_list: tuple[int, ...],
        top_down_levels: tuple[int, ...],
        interpolation: str,
    ) -> None:
        super().__init__()
        # convs[0] projects the lowest-resolution stage.
        self.convs = nn.ModuleList(
            nn.Sequential(OrderedDict(conv=nn.Conv2d(channels, d_model, kernel_size=1)))
            for channels in backbone_channel_list
        )
        self.top_down_levels = top_down_levels
        self.interpolation = interpolation

    def forward(self, stages: list[Tensor]) -> list[Tensor]:
        """Trunk stages, highest resolution first -> (B, d_model, H_i, W_i) per level, same
        order."""
        levels: list[Tensor] = []
        previous = None
        for conv, stage in zip(self.convs, reversed(stages)):
            level_index = len(stages) - 1 - len(levels)
            lateral = conv(stage)
            if previous is not None and level_index in self.top_down_levels:
                lateral = lateral + F.interpolate(previous, scale_factor=2.0, mode=self.interpolation)
            previous = lateral
            levels.append(lateral)
        return levels[::-1]


class ImageEncoder(nn.Module):
    """Trunk + neck; drops the `scalp` lowest-resolution levels and encodes the positions of
    the lowest remaining one (SAM 2 uses no other level's position encoding)."""

    def __init__(self, *, trunk: Hiera, neck: FpnNeck, scalp: int, d_model: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp
        self.position_encoding = SinePositionEncoding2d(num_pos_feats=d_model)

    def forward(self, images: Tensor) -> tuple[list[Tensor], Tensor]:
        """(B, 3, S, S) normalised images -> features, a list of (B, d_model, S / 4 / 2**i,
        S / 4 / 2**i) maps, highest resolution first, and the position encoding of the last."""
        levels = self.neck(self.trunk(images))
        levels = levels[: len(levels) - self.scalp]
        return levels, self.position_encoding(levels[-1])
