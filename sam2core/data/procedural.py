"""Procedural shapes and textures of the geometric scene family (sam2core.data.geometric).

Everything is drawn from formulas and random numbers, nothing from photographs. A shape is an
alpha image (float32 in [0, 1], anti-aliased by drawing at SUPERSAMPLE times the size and
averaging) centred in a square canvas; a texture is a float32 RGB image in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

SUPERSAMPLE = 4
SHAPES = ("polygon", "star", "ring", "crescent", "cross", "letter")
TEXTURES = ("stripes", "checker", "noise", "gradient")
LETTERS = "AEFHKMNRSWXZ"


def shape_alpha(rng: np.random.Generator, *, kind: str, radius: float) -> np.ndarray:
    """(S, S) float32 alpha of a random shape of ``kind`` that fits the disc of ``radius`` pixels
    centred in the canvas, S = 2 * ceil(radius) + 3."""
    side = 2 * int(np.ceil(radius)) + 3
    big = side * SUPERSAMPLE
    canvas = np.zeros((big, big), np.uint8)
    centre = np.array([big / 2.0, big / 2.0])
    scale = radius * SUPERSAMPLE
    _DRAWERS[kind](rng, canvas, centre, scale)
    return cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _fill(canvas: np.ndarray, points: np.ndarray) -> None:
    """Fill the polygon of (N, 2) float xy ``points`` with 255."""
    cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 255)


def _around(centre: np.ndarray, radii: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(N, 2) xy points at ``radii`` and ``angles`` (radians) around ``centre``."""
    return centre + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _polygon(rng: np.random.Generator, canvas: np.ndarray, centre: np.ndarray, scale: float) -> None:
    sides = int(rng.integers(3, 9))
    angles = rng.uniform(0, 2 * np.pi) + np.arange(sides) * 2 * np.pi / sides
    _fill(canvas, _around(centre, np.full(sides, scale), angles))


def _star(rng: np.random.Generator, canvas: np.ndarray, centre: np.ndarray, scale: float) -> None:
    tips = int(rng.integers(4, 8))
    angles = rng.uniform(0, 2 * np.pi) + np.arange(2 * tips) * np.pi / tips
    radii = np.where(np.arange(2 * tips) % 2 == 0, scale, scale * rng.uniform(0.4, 0.6))
    _fill(canvas, _around(centre, radii, angles))


def _ring(rng: np.random.Generator, canvas: np.ndarray, centre: np.ndarray, scale: float) -> None:
    cv2.circle(canvas, tuple(np.round(centre).astype(int)), int(scale), 255, -1)
    cv2.circle(canvas, tuple(np.round(centre).astype(int)), int(scale * rng.uniform(0.35, 0.6)), 0, -1)


def _crescent(rng: np.random.Generator, canvas: np.ndarray, centre: np.ndarray, scale: float) -> None:
    cv2.circle(canvas, tuple(np.round(centre).astype(int)), int(scale), 255, -1)
    heading = rng.uniform(0, 2 * np.pi)
    bite = centre + rng.uniform(0.45, 0.7) * scale * np.array([np.cos(heading), np.sin(heading)])
    cv2.circle(canvas, tuple(np.round(bite).astype(int)), int(scale * rng.uniform(0.7, 0.9)), 0, -1)


def _cross(rng: np.random.Generator, canvas: np.ndarray, centre: np.ndarray, scale: float) -> None:
    arm = scale * rng.uniform(0.2, 0.35)  # half the arms' thickness
    reach = np.sqrt(scale**2 - arm**2)
    outline = np.array(
        [[arm, reach], [arm, arm], [reach, arm], [reach, -arm], [arm, -arm], [arm, -reach],
         [-arm, -reach], [-arm, -arm], [-reach, -arm], [-reach, arm], [-arm, arm], [-arm, reach]]
    )  # fmt: skip
    turn = rng.uniform(0, np.pi / 2)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    _fill(canvas, centre + outline @ rotation.T)


def _letter(rng: np.random.Generator, canvas: np.ndarray, centre: np.ndarray, scale: float) -> None:
    letter = LETTERS[int(rng.integers(len(LETTERS)))]
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 10  # bold: strokes a model at 128 px can resolve
    (width, height), _ = cv2.getTextSize(letter, font, 1.0, thickness)
    size = 1.9 * scale / np.hypot(width, height)  # the glyph's box fits the disc
    thickness = max(1, int(thickness * size))
    (width, height), _ = cv2.getTextSize(letter, font, size, thickness)
    origin = (int(centre[0] - width / 2), int(centre[1] + height / 2))
    cv2.putText(canvas, letter, origin, font, size, 255, thickness, cv2.LINE_8)


_DRAWERS: dict[str, Callable[[np.random.Generator, np.ndarray, np.ndarray, float], None]] = {
    "polygon": _polygon,
    "star": _star,
    "ring": _ring,
    "crescent": _crescent,
    "cross": _cross,
    "letter": _letter,
}


# Occluders' shapes: (rows, columns) alpha, centred, the long axis upright or along +x.


def bar_alpha(rng: np.random.Generator, *, half_width: float, length: float) -> np.ndarray:
    """(L, 2w + 3) alpha of an upright bar, soft-edged by a pixel."""
    columns = np.arange(2 * int(np.ceil(half_width)) + 3) - (2 * int(np.ceil(half_width)) + 2) / 2.0
    profile = np.clip(half_width + 0.5 - np.abs(columns), 0.0, 1.0).astype(np.float32)
    return np.tile(profile, (int(length), 1))


def hand_alpha(rng: np.random.Generator, *, half_width: float, length: float) -> np.ndarray:
    """Alpha of a hand pointing along +x from the sprite's centre: a palm of radius
    ``half_width``, four fingers fanned ahead of it and a thumb, and an arm ``length`` long behind."""
    palm = half_width * SUPERSAMPLE
    side = 2 * int(np.ceil(length * SUPERSAMPLE + 2.5 * palm))
    canvas = np.zeros((side, side), np.uint8)
    centre = (side // 2, side // 2)
    cv2.circle(canvas, centre, int(palm), 255, -1)
    cv2.rectangle(canvas, (0, int(side / 2 - 0.75 * palm)), (side // 2, int(side / 2 + 0.75 * palm)), 255, -1)
    finger = rng.uniform(0.7, 1.0) * palm
    for degrees in (*np.linspace(-36, 36, 4) + rng.uniform(-6, 6, 4), rng.choice([-80.0, 80.0])):
        turn = np.radians(degrees)
        root = np.array(centre) + 0.8 * palm * np.array([np.cos(turn), np.sin(turn)])
        tip = root + finger * np.array([np.cos(turn), np.sin(turn)])
        cv2.line(canvas, tuple(np.round(root).astype(int)), tuple(np.round(tip).astype(int)), 255, int(0.32 * palm))
    small = side // SUPERSAMPLE
    return cv2.resize(canvas, (small, small), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def disc_alpha(rng: np.random.Generator, *, half_width: float, length: float) -> np.ndarray:
    """Alpha of a disc of radius ``half_width``."""
    side = 2 * int(np.ceil(half_width)) + 3
    ys, xs = np.mgrid[0:side, 0:side] - (side - 1) / 2.0
    return np.clip(half_width + 0.5 - np.hypot(xs, ys), 0.0, 1.0).astype(np.float32)


def vivid_colour(rng: np.random.Generator, *, saturation: tuple[float, float] = (0.5, 1.0)) -> np.ndarray:
    """(3,) float32 RGB in [0, 1] of a random hue."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*saturation) * 255, rng.uniform(0.35, 1.0) * 255]]])
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def texture(
    rng: np.random.Generator, *, kind: str, height: int, width: int, period: float, colours: tuple[np.ndarray, ...]
) -> np.ndarray:
    """(height, width, 3) float32 RGB texture of ``kind`` between two ``colours``, its features
    about ``period`` pixels apart."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    heading = rng.uniform(0, np.pi)
    along = xs * np.cos(heading) + ys * np.sin(heading)
    across = -xs * np.sin(heading) + ys * np.cos(heading)
    if kind == "stripes":
        blend = 0.5 + 0.5 * np.tanh(rng.uniform(1.0, 6.0) * np.sin(2 * np.pi * along / period))
    elif kind == "checker":
        blend = (np.floor(along / period) + np.floor(across / period)) % 2
    elif kind == "noise":
        blend = value_noise(rng, height=height, width=width, period=period)
    elif kind == "gradient":
        radial = rng.random() < 0.5
        distance = np.hypot(xs - rng.uniform(0, width), ys - rng.uniform(0, height)) if radial else along
        blend = (distance - distance.min()) / max(float(np.ptp(distance)), 1e-6)
    else:
        raise ValueError(f"unknown texture {kind!r}; known: {TEXTURES}")
    first, second = colours
    return first + blend[..., None].astype(np.float32) * (second - first)


def value_noise(rng: np.random.Generator, *, height: int, width: int, period: float, octaves: int = 3) -> np.ndarray:
    """(height, width) float32 in [0, 1]: random grids of cell ``period``, ``period / 2``, ...
    upsampled smoothly and summed with halving weights."""
    total = np.zeros((height, width), np.float32)
    weight, cell = 1.0, period
    for _ in range(octaves):
        grid = rng.random((int(height / cell) + 2, int(width / cell) + 2)).astype(np.float32)
        total += weight * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        weight, cell = weight / 2, max(cell / 2, 2.0)
    return (total - total.min()) / max(float(np.ptp(total)), 1e-6)
