"""Appearance of the synthetic scenes: real photographs, texture crops, colour jitter and sprites.

Every texture is cut from a photograph bundled inside the scikit-image wheel (its ``data``
directory), so nothing is downloaded at run time. Colours are float32 RGB in [0, 1].
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import skimage.data
import skimage.io

PHOTO_DIR = Path(skimage.data.data_dir)
MIN_TEXTURE_STD = 0.05  # a crop flatter than this (e.g. the black rim of retina.jpg) is redrawn
SHAPE_KINDS = ("ellipse", "polygon", "blob", "rounded_rect")


@dataclass(frozen=True)
class Sprite:
    """A textured object drawn at its largest size, to be warped into frames.

    Attributes:
        rgba: (S, S, 4) float32, RGB premultiplied by alpha, alpha in [0, 1]; the object's
            centre is the image centre.
        radius: distance in sprite pixels from the centre to the farthest opaque pixel.
        area: opaque area in sprite pixels (sum of alpha).
    """

    rgba: np.ndarray
    radius: float
    area: float


@functools.lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """Return photograph ``name`` of scikit-image's bundled data as (H, W, 3) float32 RGB in [0, 1].

    Grey photographs are returned with three equal channels. The array is cached and read-only.
    """
    image = skimage.io.imread(PHOTO_DIR / name)
    if image.ndim == 2:
        image = np.stack([image, image, image], axis=2)
    rgb = image[..., :3].astype(np.float32) / 255.0
    rgb.flags.writeable = False
    return rgb


def crop_photo(
    rng: np.random.Generator, *, photo: str, height: int, width: int, zoom: tuple[float, float]
) -> np.ndarray:
    """Cut a random window of ``photo`` and resize it to (height, width, 3) float32 RGB.

    ``zoom`` is the range of output pixels per photograph pixel (log-uniform); the window shrinks
    to fit the photograph where needed. Flat windows are redrawn a few times.
    """
    image = load_photo(photo)
    for _ in range(5):
        crop = _random_window(rng, image=image, height=height, width=width, zoom=zoom)
        if crop.std() >= MIN_TEXTURE_STD:
            break
    return crop


def _random_window(
    rng: np.random.Generator, *, image: np.ndarray, height: int, width: int, zoom: tuple[float, float]
) -> np.ndarray:
    """One random window of ``image`` resized to (height, width, 3), randomly mirrored."""
    scale = np.exp(rng.uniform(np.log(zoom[0]), np.log(zoom[1])))
    scale = max(scale, height / image.shape[0], width / image.shape[1])
    window_h = min(image.shape[0], int(np.ceil(height / scale)))
    window_w = min(image.shape[1], int(np.ceil(width / scale)))
    y0 = int(rng.integers(0, image.shape[0] - window_h + 1))
    x0 = int(rng.integers(0, image.shape[1] - window_w + 1))
    window = image[y0 : y0 + window_h, x0 : x0 + window_w]
    if rng.random() < 0.5:
        window = window[:, ::-1]
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(window, (width, height), interpolation=interpolation)


def jitter_colours(rng: np.random.Generator, rgb: np.ndarray, *, strength: float) -> np.ndarray:
    """Recolour (..., 3) float32 RGB by a random tint, hue rotation, saturation and contrast.

    ``strength`` in [0, 1] scales every change; grey photographs get their colour from the tint.
    """
    tint = 1.0 + strength * rng.uniform(-0.6, 0.6, size=3)
    hue = np.deg2rad(strength * rng.uniform(-180.0, 180.0))
    saturation = 1.0 + strength * rng.uniform(-0.5, 0.8)
    matrix = _hue_saturation_matrix(hue=hue, saturation=saturation) @ np.diag(tint)
    recoloured = rgb @ matrix.T.astype(np.float32)
    mean = recoloured.mean()
    contrast = 1.0 + strength * rng.uniform(-0.3, 0.4)
    brightness = strength * rng.uniform(-0.12, 0.12)
    return np.clip((recoloured - mean) * contrast + mean + brightness, 0.0, 1.0)


def _hue_saturation_matrix(*, hue: float, saturation: float) -> np.ndarray:
    """(3, 3) matrix that rotates RGB about the grey axis by ``hue`` radians and scales chroma."""
    grey = np.full((3, 3), 1.0 / 3.0)
    axis = np.ones(3) / np.sqrt(3.0)
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    rotation = np.cos(hue) * (np.eye(3) - grey) + np.sin(hue) * cross + grey
    return grey + saturation * (rotation - grey)


def random_outline(rng: np.random.Generator) -> np.ndarray:
    """A closed outline (N, 2) float xy of a random kind in :data:`SHAPE_KINDS`, centred on 0,
    whose farthest point is at distance 1."""
    kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
    if kind == "rounded_rect":
        angle = rng.uniform(0.25, 0.5) * np.pi / 2.0
        points = rounded_rect_outline(
            half_width=np.cos(angle), half_height=np.sin(angle), corner=rng.uniform(0.05, 0.5) * np.sin(angle)
        )
    else:
        theta = np.linspace(0.0, 2.0 * np.pi, 72, endpoint=False)
        if kind == "polygon":  # corners at roughly even angles, so it is never a sliver
            gaps = rng.uniform(0.6, 1.4, size=int(rng.integers(3, 9)))
            theta = rng.uniform(0.0, 2.0 * np.pi) + 2.0 * np.pi * np.cumsum(gaps) / gaps.sum()
        radius = _outline_radius(rng, kind=kind, theta=theta)
        points = np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1)
    points -= (points.max(axis=0) + points.min(axis=0)) / 2.0
    return points / np.linalg.norm(points, axis=1).max()


def _outline_radius(rng: np.random.Generator, *, kind: str, theta: np.ndarray) -> np.ndarray:
    """Radius of an ellipse, star polygon or smooth blob at the angles ``theta``."""
    if kind == "ellipse":
        aspect = rng.uniform(0.45, 1.0)
        return aspect / np.sqrt((aspect * np.cos(theta)) ** 2 + np.sin(theta) ** 2)
    if kind == "polygon":
        return rng.uniform(0.6, 1.0, size=theta.shape)
    if kind == "blob":
        orders = np.arange(2, 6)[:, None]
        amplitude = rng.uniform(0.0, 0.35, size=(4, 1)) / orders * 2.0
        phase = rng.uniform(0.0, 2.0 * np.pi, size=(4, 1))
        return 1.0 + (amplitude * np.cos(orders * theta + phase)).sum(axis=0)
    raise ValueError(f"unknown shape kind {kind!r}; expected one of {SHAPE_KINDS}")


def rounded_rect_outline(*, half_width: float, half_height: float, corner: float) -> np.ndarray:
    """Outline (N, 2) float xy of an axis-aligned rectangle with rounded corners, centred on 0."""
    corner = min(corner, half_width, half_height)
    angles = np.linspace(0.0, np.pi / 2.0, 10)[None] + np.arange(4)[:, None] * np.pi / 2.0  # (corner, step)
    corner_x = np.array([[1.0], [-1.0], [-1.0], [1.0]]) * (half_width - corner)
    corner_y = np.array([[1.0], [1.0], [-1.0], [-1.0]]) * (half_height - corner)
    x, y = corner_x + corner * np.cos(angles), corner_y + corner * np.sin(angles)
    return np.stack([x.ravel(), y.ravel()], axis=1)


def outline_area(outline: np.ndarray) -> float:
    """Area enclosed by an (N, 2) outline (shoelace formula)."""
    x, y = outline[:, 0], outline[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def make_sprite(*, outline: np.ndarray, radius: float, texture: np.ndarray) -> Sprite:
    """Cut ``texture`` to ``outline`` scaled to ``radius`` pixels, with soft edges and shading.

    Args:
        outline: (N, 2) float xy with its farthest point at distance 1 (see :func:`random_outline`).
        radius: size of the sprite in pixels from centre to farthest point.
        texture: (S, S, 3) float32 RGB, resized to the sprite's side if needed.
    """
    size = sprite_size(radius)
    alpha = _rasterise(outline * radius + (size - 1) / 2.0, size=size)
    if texture.shape[:2] != (size, size):
        texture = cv2.resize(texture, (size, size), interpolation=cv2.INTER_LINEAR)
    rgb = texture * _shading(alpha, radius=radius)
    rgba = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=2)
    return Sprite(rgba=rgba, radius=radius, area=float(alpha.sum()))


def sprite_size(radius: float) -> int:
    """Side in pixels of the square sprite image holding an object of ``radius`` pixels."""
    return 2 * int(np.ceil(radius)) + 4


def _rasterise(points: np.ndarray, *, size: int) -> np.ndarray:
    """(size, size) float32 alpha of the polygon ``points`` (N, 2) in pixel xy: the fraction of
    each pixel it covers, from filling it at 4x resolution."""
    scale, subpixel_bits = 4, 4
    canvas = np.zeros((size * scale, size * scale), np.uint8)
    fine = (points + 0.5) * scale - 0.5  # pixel centres of the finer grid
    cv2.fillPoly(canvas, [np.round(fine * (1 << subpixel_bits)).astype(np.int32)], 255, shift=subpixel_bits)
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _shading(alpha: np.ndarray, *, radius: float) -> np.ndarray:
    """(S, S, 1) float32 brightness: darker towards the rim and away from a light at the
    object's top-left (it turns with the object, like paint)."""
    inside = (alpha > 0.5).astype(np.uint8)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 3) / max(0.3 * radius, 1.0)
    rim = 0.72 + 0.28 * np.sqrt(np.minimum(depth, 1.0))
    coordinates = (np.arange(alpha.shape[0], dtype=np.float32) - alpha.shape[0] / 2.0) / radius
    light = 1.0 - 0.1 * (coordinates[:, None] + coordinates[None, :])
    return (rim * light)[..., None]
