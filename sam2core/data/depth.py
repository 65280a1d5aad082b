"""Depth for the synthetic scenes: where each layer of a scene plan stands in front of the camera.

Every synthetic scene is seen by one pinhole camera (:func:`synthetic_camera`, 60 degrees across).
Its layers are flat cut-outs facing the camera, each at one depth for the whole sequence, given
by their drawing order alone (no random draw, so adding depth changed no existing scene): the
background is a plane at :data:`BACKGROUND_DEPTH`, and the layers, back to front, stand evenly
spaced between it and :data:`NEAREST_DEPTH`, so the occluder (drawn last) is the nearest.

:func:`sensor_depth` turns a true depth image into what a depth camera would publish: millimetres
with noise growing with the square of the distance, and pixels without a reading (zero).
"""

from __future__ import annotations

import numpy as np

from sam2core.data.scene import SceneConfig, ScenePlan
from sam2core.data.sequence import HiddenInterval
from sam2core.geometry import PinholeCamera

HORIZONTAL_FOV_DEGREES = 60.0
BACKGROUND_DEPTH = 4.0  # metres
NEAREST_DEPTH = 1.0  # metres, the front layer
NOISE_PER_SQUARE_METRE = 0.0015  # depth noise standard deviation = this * depth**2 (metres)
DROPOUT = 0.02  # share of pixels with no depth reading


def synthetic_camera(config: SceneConfig) -> PinholeCamera:
    """The camera every synthetic scene of ``config`` is seen by."""
    return PinholeCamera.from_field_of_view(config.width, config.height, HORIZONTAL_FOV_DEGREES)


def layer_depths(plan: ScenePlan) -> np.ndarray:
    """(L,) float32 depth in metres of each layer of ``plan`` (back to front)."""
    count = len(plan.layers)
    step = (BACKGROUND_DEPTH - NEAREST_DEPTH) / max(count, 1)
    return (BACKGROUND_DEPTH - step * np.arange(1, count + 1)).astype(np.float32)


def compose_depth(layer_masks: list[np.ndarray], depths: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 depth image of one frame of ``shape`` from the (H, W) bool masks of the
    layers (back to front) and their depths: each pixel shows the nearest layer covering it, else
    the background."""
    depth = np.full(shape, BACKGROUND_DEPTH, np.float32)
    for mask, layer_depth in zip(layer_masks, depths):
        depth[mask] = layer_depth
    return depth


def target_positions(masks: np.ndarray, depth: np.ndarray, camera: PinholeCamera) -> np.ndarray:
    """(T, K, 3) float32 true position of each target in the camera's optical frame (metres): the
    centroid of its visible pixels at its depth; NaN where it is not visible.

    masks: (T, K, H, W) bool visible masks; depth: (T, H, W) true depth (the target's own depth
    on its visible pixels).
    """
    positions = np.full((*masks.shape[:2], 3), np.nan, np.float32)
    for t, k in zip(*np.nonzero(masks.any(axis=(2, 3)))):
        v, u = np.nonzero(masks[t, k])
        z = depth[t, v[0], u[0]]
        positions[t, k] = camera.back_project(u.mean(), v.mean(), z)
    return positions


def sensor_depth(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(H, W) uint16 millimetres, as a depth camera reports ``depth`` (metres): Gaussian noise of
    standard deviation NOISE_PER_SQUARE_METRE * depth**2, and DROPOUT of the pixels zero (no reading)."""
    noisy = depth + rng.standard_normal(depth.shape, dtype=np.float32) * (NOISE_PER_SQUARE_METRE * depth**2)
    millimetres = np.clip(np.round(noisy * 1000.0), 1, np.iinfo(np.uint16).max).astype(np.uint16)
    millimetres[rng.random(depth.shape) < DROPOUT] = 0
    return millimetres


def visibility_causes(
    visibility: np.ndarray, hidden: tuple[HiddenInterval, ...], object_ids: tuple[int, ...]
) -> np.ndarray:
    """(T, K) str: why each target of a sequence is or is not seen on each frame: "visible", or the
    cause of the hidden interval it is in ("occluded", "out_of_view"). Arguments are the
    Sequence's fields of the same names."""
    causes = np.where(visibility, "visible", "").astype(object)
    for interval in hidden:
        causes[interval.start : interval.stop, object_ids.index(interval.object_id)] = interval.cause
    return causes
