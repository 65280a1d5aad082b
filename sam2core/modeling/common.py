"""Small building blocks shared by several components."""

import itertools

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """Fully connected network through the feature widths `widths` (input, hidden..., output):
    one Linear layer per consecutive pair, `activation` between consecutive layers, optionally a
    sigmoid on the output.

    Parameters: `layers.{i}.weight` and `layers.{i}.bias`, as in the checkpoints.
    """

    def __init__(
        self,
        widths: tuple[int, ...],
        *,
        activation: type[nn.Module] = nn.ReLU,
        sigmoid_output: bool = False,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(width_in, width_out) for width_in, width_out in itertools.pairwise(widths)
        )
        self.activation = activation()
        self.sigmoid_output = sigmoid_output

    def forward(self, features: Tensor) -> Tensor:
        """(..., widths[0]) -> (..., widths[-1])."""
        *hidden_layers, output_layer = self.layers
        for layer in hidden_layers:
            features = self.activation(layer(features))
        output = output_layer(features)
        return output.sigmoid() if self.sigmoid_output else output


class LayerNorm2d(nn.Module):
    """Layer normalisation of each pixel's channel vector in a (B, C, H, W) map, followed by a
    per-channel affine map (`weight`, `bias`: (C,))."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, feature_map: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W), zero mean and unit variance over C before the affine."""
        centred = feature_map - feature_map.mean(dim=1, keepdim=True)
        variance = centred.square().mean(dim=1, keepdim=True)  # (B, 1, H, W), biased
        normalised = centred / (variance + self.eps).sqrt()
        per_channel = (-1, 1, 1)
        return normalised * self.weight.view(per_channel) + self.bias.view(per_channel)
