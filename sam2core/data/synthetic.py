"""Seeded synthetic videos with per-object ground truth, for training and held-out evaluation.

A sequence shows 1-3 textured target objects (and optionally look-alike distractors and an
occluder passing in front) moving over a panning photograph, drawn with motion blur, a lighting
drift and sensor noise. Its ground truth is each target's visible mask, its unoccluded extent,
its visibility and the runs of frames in which it is hidden.

Splits never share anything: each has its own seed range and its own photographs (see
:data:`TRAIN` and :data:`HELD_OUT`); the split of a sequence follows from its seed.

Visibility: a target is visible in a frame when its visible mask has at least
``max(MIN_VISIBLE_PIXELS, MIN_VISIBLE_FRACTION * A)`` pixels, where ``A`` is the area it would
cover unoccluded and uncut by the frame border. Where it is not visible its mask is empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TypeVar

import cv2
import numpy as np

from sam2core.data.depth import compose_depth, layer_depths, synthetic_camera, target_positions
from sam2core.data.scene import Layer, SceneConfig, ScenePlan, Shadow, plan_scene
from sam2core.data.sequence import HiddenInterval, SceneSequence, Split

MIN_VISIBLE_PIXELS = 16
MIN_VISIBLE_FRACTION = 0.005
FIRST_FRAME_MIN_VISIBLE = 0.5  # every target shows at least half of itself in frame 0
MAX_ATTEMPTS = 8  # scenes failing the first-frame rule are redrawn from the next sub-seed
MAX_SMEAR = 0.08  # longest motion-blur streak / min(H, W)
P = TypeVar("P")  # a family's plan of a sequence

TRAINING = SceneConfig()
BENCHMARK = SceneConfig(num_frames=48, target_area=(0.01, 0.08), occlusion_prob=1.0, leave_prob=0.9)


TRAIN = Split(
    name="train",
    seeds=range(0, 2**31),
    photos=(
        "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coins.png", "grass.png",
        "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png", "motorcycle_right.png",
        "page.png", "retina.jpg",
    ),
)  # fmt: skip
HELD_OUT = Split(
    name="held_out",
    seeds=range(2**31, 2**32),
    photos=("coffee.png", "gravel.png", "rocket.jpg", "text.png"),
)


def split_of(seed: int) -> Split:
    """The split whose seed range holds ``seed``."""
    for split in (TRAIN, HELD_OUT):
        if seed in split.seeds:
            return split
    raise ValueError(f"seed {seed} is in no split; use 0 <= seed < 2**32")


def generate_sequence(*, seed: int, config: SceneConfig) -> SceneSequence:
    """Draw the sequence of ``seed``: the same seed and config always give identical arrays."""
    split = split_of(seed)
    plan, frames, masks, full_masks, depth = _draw_promptable_scene(seed=seed, config=config, photos=split.photos)
    sequence = annotated_sequence(
        frames=frames,
        masks=masks,
        full_masks=full_masks,
        unoccluded_area=_unoccluded_area(plan),
        seed=seed,
        split=split.name,
        photos=plan.photos,
    )
    positions = target_positions(sequence.masks, depth, synthetic_camera(config))
    return replace(sequence, depth=depth, positions=positions)


def annotated_sequence(
    *,
    frames: np.ndarray,
    masks: np.ndarray,
    full_masks: np.ndarray,
    unoccluded_area: np.ndarray,
    seed: int,
    split: str,
    photos: tuple[str, ...],
) -> SceneSequence:
    """The SceneSequence of a drawn video with targets 1..K: its visibility by the rule of the module
    docstring from (T, K) ``unoccluded_area``, ``masks`` emptied where a target is not visible
    (in place), and the hidden intervals."""
    threshold = np.maximum(MIN_VISIBLE_PIXELS, MIN_VISIBLE_FRACTION * unoccluded_area)
    visibility = masks.sum(axis=(2, 3)) >= threshold
    in_view = full_masks.sum(axis=(2, 3)) >= threshold
    masks &= visibility[:, :, None, None]
    object_ids = tuple(range(1, masks.shape[1] + 1))
    return SceneSequence(
        frames=frames,
        masks=masks,
        full_masks=full_masks,
        visibility=visibility,
        object_ids=object_ids,
        hidden=hidden_intervals(visibility=visibility, in_view=in_view, object_ids=object_ids),
        seed=seed,
        split=split,
        photos=photos,
    )


def first_frame_checked(
    *,
    seed: int,
    split: str,
    plan: Callable[[np.random.Generator], P],
    unoccluded_area: Callable[[P], np.ndarray],
    render: Callable[[np.random.Generator, P, int], tuple[np.ndarray, np.ndarray, np.ndarray]],
    num_frames: int,
) -> SceneSequence:
    """The annotated sequence of a family whose generator plans from a random generator and
    renders (frames, masks, full_masks) of a plan: plans from the sub-seeds of ``seed`` until
    frame 0, drawn alone, shows every target's :data:`FIRST_FRAME_MIN_VISIBLE` (the last try is
    kept if none does), then all ``num_frames``, rendering's noise always from ``seed``."""
    for attempt in range(MAX_ATTEMPTS):
        planned = plan(np.random.default_rng([seed, attempt]))
        area = unoccluded_area(planned)  # (T, K)
        _, first_masks, _ = render(np.random.default_rng(seed), planned, 1)
        if np.all(first_masks[0].sum(axis=(1, 2)) >= FIRST_FRAME_MIN_VISIBLE * area[0]):
            break
    frames, masks, full_masks = render(np.random.default_rng(seed), planned, num_frames)
    return annotated_sequence(
        frames=frames, masks=masks, full_masks=full_masks, unoccluded_area=area, seed=seed, split=split, photos=()
    )


def _draw_promptable_scene(
    *, seed: int, config: SceneConfig, photos: tuple[str, ...]
) -> tuple[ScenePlan, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plan and render scenes from the sub-seeds of ``seed`` until every target shows at least
    :data:`FIRST_FRAME_MIN_VISIBLE` of itself in frame 0 (the last try is kept if none does)."""
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, attempt])
        plan = plan_scene(rng, config=config, photos=photos)
        frames, masks, full_masks, depth = render(rng, plan=plan, config=config)
        shown = masks[0].sum(axis=(1, 2)) >= FIRST_FRAME_MIN_VISIBLE * _unoccluded_area(plan)[0]
        if shown.all():
            break
    return plan, frames, masks, full_masks, depth


def held_out_sequences(n: int, *, config: SceneConfig = BENCHMARK) -> Iterator[SceneSequence]:
    """The first ``n`` held-out sequences, always the same ones, generated lazily."""
    for seed in HELD_OUT.seeds[:n]:
        yield generate_sequence(seed=seed, config=config)


def training_clip(*, rng: np.random.Generator | int, config: SceneConfig = TRAINING) -> SceneSequence:
    """A sequence from a random training seed drawn with ``rng`` (a Generator or a seed for one)."""
    rng = np.random.default_rng(rng)
    seed = int(rng.integers(TRAIN.seeds.start, TRAIN.seeds.stop))
    return generate_sequence(seed=seed, config=config)


def hidden_intervals(
    *, visibility: np.ndarray, in_view: np.ndarray, object_ids: tuple[int, ...]
) -> tuple[HiddenInterval, ...]:
    """Runs of invisible frames of (T, K) bool ``visibility``, labelled by (T, K) bool ``in_view``."""
    intervals = []
    for k, object_id in enumerate(object_ids):
        edges = np.diff(np.concatenate([[0], (~visibility[:, k]).astype(np.int8), [0]]))
        for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            cause = "occluded" if in_view[start:stop, k].all() else "out_of_view"
            intervals.append(HiddenInterval(object_id=object_id, start=int(start), stop=int(stop), cause=cause))
    return tuple(intervals)


def _unoccluded_area(plan: ScenePlan) -> np.ndarray:
    """(T, K) float64 area in pixels of each target, uncut by the frame and unoccluded."""
    return np.stack(
        [(layer.trajectory.radius / layer.sprite.radius) ** 2 * layer.sprite.area for layer in plan.targets], axis=1
    )


def render(
    rng: np.random.Generator, *, plan: ScenePlan, config: SceneConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``plan``; ``rng`` draws the sensor noise.

    Returns:
        frames: (T, H, W, 3) uint8 RGB.
        masks: (T, K, H, W) bool, each target's pixels not covered by a nearer object.
        full_masks: (T, K, H, W) bool, each target's pixels inside the frame.
        depth: (T, H, W) float32 true depth in metres (sam2core.data.depth).
    """
    shape = (config.num_frames, len(plan.targets), config.height, config.width)
    frames = np.empty((config.num_frames, config.height, config.width, 3), np.uint8)
    masks, full_masks = np.zeros(shape, bool), np.zeros(shape, bool)
    depth = np.empty((config.num_frames, config.height, config.width), np.float32)
    depths = layer_depths(plan)
    velocities = [layer.trajectory.velocity() * config.motion_blur for layer in plan.layers]
    noise = _NoiseField(rng, height=config.height, width=config.width, std=plan.noise_std)
    for t in range(config.num_frames):
        canvas = _background_frame(plan, frame=t, config=config)
        layer_masks = [
            _draw_layer(canvas, layer=layer, frame=t, smear=velocity[t], shadow=plan.shadow)
            for layer, velocity in zip(plan.layers, velocities)
        ]
        _split_masks(plan.layers, layer_masks=layer_masks, masks=masks[t], full_masks=full_masks[t])
        depth[t] = compose_depth(layer_masks, depths, (config.height, config.width))
        canvas *= plan.gain[t]
        canvas += plan.bias[t] + noise.sample(rng)
        frames[t] = np.clip(canvas * 255.0 + 0.5, 0.0, 255.0, out=canvas)
    return frames, masks, full_masks, depth


class _NoiseField:
    """Gaussian sensor noise: one field drawn per sequence, shifted at random for each frame."""

    margin = 16

    def __init__(self, rng: np.random.Generator, *, height: int, width: int, std: float) -> None:
        self.size = (height, width)
        self.field = rng.standard_normal((height + self.margin, width + self.margin, 3), dtype=np.float32) * std

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """(H, W, 3) float32 noise for one frame."""
        top, left = rng.integers(0, self.margin + 1, size=2)
        return self.field[top : top + self.size[0], left : left + self.size[1]]


def _background_frame(plan: ScenePlan, *, frame: int, config: SceneConfig) -> np.ndarray:
    """(H, W, 3) float32 window of the background plate at this frame's pan."""
    shift = np.array([[1.0, 0.0, -plan.pan[frame, 0]], [0.0, 1.0, -plan.pan[frame, 1]]])
    return cv2.warpAffine(plan.background, shift, (config.width, config.height), flags=cv2.INTER_LINEAR)


def _draw_layer(canvas: np.ndarray, *, layer: Layer, frame: int, smear: np.ndarray, shadow: Shadow) -> np.ndarray:
    """Composite ``layer`` and its shadow onto (H, W, 3) float32 ``canvas`` in place, streaked
    along ``smear`` (xy pixels).

    Returns its (H, W) bool mask: where it is at least half opaque. Only the object's bounding
    box, grown by the streak and the shadow's blur, is warped; it may reach past the frame so
    that blur is right at the border.
    """
    height, width = canvas.shape[:2]
    mask = np.zeros((height, width), bool)
    smear = smear * min(1.0, MAX_SMEAR * min(height, width) / max(float(np.linalg.norm(smear)), 1e-6))
    pad = int(np.ceil(np.abs(smear).max() / 2.0 + 2.0 * shadow.blur)) + 1
    matrix = layer.affine(frame)
    x0, y0, x1, y1 = _footprint(matrix, side=layer.sprite.rgba.shape[0], pad=pad, width=width, height=height)
    offset = shadow.offset * (2 if layer.role == "occluder" else 1)
    region = _overlap(left=x0, top=y0, size=(y1 - y0, x1 - x0), frame=(height, width))
    shadow_region = _overlap(left=x0 + offset[0], top=y0 + offset[1], size=(y1 - y0, x1 - x0), frame=(height, width))
    if region is None and shadow_region is None:
        return mask
    matrix[:, 2] -= (x0, y0)
    patch = cv2.warpAffine(layer.sprite.rgba, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
    if np.abs(smear).max() >= 1.0:
        patch = cv2.filter2D(patch, -1, _streak_kernel(smear), borderType=cv2.BORDER_CONSTANT)
    alpha = cv2.extractChannel(patch, 3)
    if shadow_region is not None:
        in_frame, in_patch = shadow_region
        darkness = cv2.GaussianBlur(alpha, (0, 0), shadow.blur) * shadow.strength
        canvas[in_frame] *= 1.0 - _three_channels(darkness)[in_patch]
    if region is not None:
        in_frame, in_patch = region
        canvas[in_frame] *= 1.0 - _three_channels(alpha)[in_patch]
        canvas[in_frame] += cv2.cvtColor(patch, cv2.COLOR_RGBA2RGB)[in_patch]
        mask[in_frame] = alpha[in_patch] >= 0.5
    return mask


def _three_channels(image: np.ndarray) -> np.ndarray:
    """(h, w, 3) copy of an (h, w) image; numpy multiplies by it far faster than by (h, w, 1)."""
    return cv2.merge([image, image, image])


def _overlap(
    *, left: int, top: int, size: tuple[int, int], frame: tuple[int, int]
) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """Where a patch of ``size`` (h, w) with its top-left pixel at (left, top) overlaps a frame
    of ``frame`` (H, W): (rows, columns) slices into the frame and into the patch, or None."""
    bottom, right = min(top + size[0], frame[0]), min(left + size[1], frame[1])
    first_row, first_column = max(top, 0), max(left, 0)
    if bottom <= first_row or right <= first_column:
        return None
    in_frame = (slice(first_row, bottom), slice(first_column, right))
    in_patch = (slice(first_row - top, bottom - top), slice(first_column - left, right - left))
    return in_frame, in_patch


def _footprint(matrix: np.ndarray, *, side: int, pad: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer box (x0, y0, x1, y1) around a warped side x side sprite, grown by ``pad`` and
    clipped to the frame grown by ``pad``."""
    corners = np.array([[0, 0, 1], [side, 0, 1], [0, side, 1], [side, side, 1]], dtype=np.float64)
    warped = corners @ matrix.T
    low = np.floor(warped.min(axis=0)).astype(int) - pad
    high = np.ceil(warped.max(axis=0)).astype(int) + pad
    return (max(low[0], -pad), max(low[1], -pad), min(high[0], width + pad), min(high[1], height + pad))


def _streak_kernel(smear: np.ndarray) -> np.ndarray:
    """Normalised float32 kernel drawing an anti-aliased line of vector ``smear`` (xy pixels)."""
    half = int(np.ceil(np.abs(smear).max() / 2.0))
    kernel = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    subpixel_bits = 4
    ends = np.round((half + np.array([-smear / 2.0, smear / 2.0])) * (1 << subpixel_bits)).astype(int)
    cv2.line(kernel, tuple(ends[0]), tuple(ends[1]), 1.0, thickness=1, lineType=cv2.LINE_AA, shift=subpixel_bits)
    return kernel / kernel.sum()


def _split_masks(
    layers: tuple[Layer, ...], *, layer_masks: list[np.ndarray], masks: np.ndarray, full_masks: np.ndarray
) -> None:
    """Fill (K, H, W) ``masks`` with each target's uncovered pixels and ``full_masks`` with all of
    them, from the (H, W) bool masks of ``layers`` (back to front)."""
    covered = np.zeros(masks.shape[1:], bool)
    for layer, mask in zip(reversed(layers), reversed(layer_masks)):
        if layer.role == "target":
            full_masks[layer.object_id - 1] = mask
            masks[layer.object_id - 1] = mask & ~covered
        covered |= mask
