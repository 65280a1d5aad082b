"""Image preprocessing: a plain square resize, then ImageNet normalisation. Meta's video frame
loader resizes with PIL (`preprocess_image`); its image predictor resizes the float image
bilinearly (`preprocess_image_bilinear`)."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_like_pil(image: Tensor, size: int) -> Tensor:
    """Bicubic, antialiased resize of a (3, H, W) uint8 image to (3, size, size) float values
    in 0..255, as PIL's `Image.resize` (the loader's resize): the width first, then the height,
    rounding to 8 bits after each pass. Agrees with PIL to within 2 grey levels."""
    x = image[None].float()
    for target in ((x.shape[-2], size), (size, size)):
        if tuple(x.shape[-2:]) != target:
            x = F.interpolate(x, size=target, mode="bicubic", antialias=True)
            x = x.round().clamp(0, 255)
    return x[0]


def preprocess_image(image: np.ndarray | Tensor, image_size: int, device: torch.device) -> Tensor:
    """(H, W, 3) uint8 RGB image -> (1, 3, image_size, image_size) normalised float32 input."""
    pixels = _rgb_pixels(image, device)
    return _normalise(resize_like_pil(pixels.permute(2, 0, 1), image_size) / 255.0)


def preprocess_image_bilinear(image: np.ndarray | Tensor, image_size: int, device: torch.device) -> Tensor:
    """(H, W, 3) uint8 RGB image -> (1, 3, image_size, image_size) normalised float32 input,
    scaled to 0..1 first, then resized bilinearly with antialiasing (no rounding)."""
    pixels = _rgb_pixels(image, device).permute(2, 0, 1)[None] / 255.0  # (1, 3, H, W)
    size = (image_size, image_size)
    resized = F.interpolate(pixels, size=size, mode="bilinear", align_corners=False, antialias=True)
    return _normalise(resized[0])


def _rgb_pixels(image: np.ndarray | Tensor, device: torch.device) -> Tensor:
    """The image as an (H, W, 3) uint8 tensor on `device`, or ValueError."""
    pixels = torch.as_tensor(image, device=device)
    if pixels.dtype != torch.uint8 or pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {tuple(pixels.shape)} {pixels.dtype}")
    return pixels


def _normalise(image: Tensor) -> Tensor:
    """(3, S, S) values in 0..1 -> (1, 3, S, S) ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, device=image.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=image.device)[:, None, None]
    return ((image - mean) / std)[None]
