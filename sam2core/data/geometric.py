"""The geometric scene family: a second, independent generator of held-out test videos.

A run may train on its own seeds (``GEOMETRIC_TRAIN``, beyond every held-out one) and be judged
on the third family (sam2core.data.tabletop). Where the first family (sam2core.data.synthetic)
cuts blobs out of photographs and moves them along smooth random paths, this one draws
flat-coloured geometric figures (polygons, stars, rings, crescents, crosses, letters) with
procedural textures (stripes, checkers, value noise, gradients) over a procedural background,
moving in other ways: bouncing
off the frame's edges at constant velocity, orbiting a point, stopping and starting. Its
occluders are of three kinds: a foreground pillar that the panning camera passes (it moves
faster than the background, being nearer), a hand reaching in over a target and withdrawing, and
a larger figure crossing in front. One target may leave the frame and come back.

The ground truth and visibility rule are the first family's (:class:`~sam2core.data.SceneSequence`,
``synthetic.annotated_sequence``), so one evaluation scores both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from sam2core.data import figure_paths, procedural
from sam2core.data.scene import GeometricConfig, SceneConfig
from sam2core.data.sequence import SceneSequence, Split
from sam2core.data.synthetic import first_frame_checked

OCCLUDERS = ("pillar", "hand", "crossing")
MAX_OCCLUDER_HALF_WIDTH = 0.3  # of the frame's shorter side

GEOMETRIC_HELD_OUT = Split(name="geometric_held_out", seeds=range(0, 2**32), photos=())
GEOMETRIC_TRAIN = Split(name="geometric_train", seeds=range(2**32, 2**33), photos=())


GEOMETRIC_BENCHMARK = GeometricConfig()


@dataclass(frozen=True)
class Figure:
    """Something drawn over the background: an RGBA sprite placed by a per-frame pose.

    sprite: (h, w, 4) float32, RGB premultiplied by alpha. centre: (T, 2) xy of the sprite's
    centre in the frame; angle: (T,) degrees; scale: (T,) sprite pixels to frame pixels.
    object_id: 1.. for targets, 0 for occluders.
    """

    role: Literal["target", "occluder"]
    object_id: int
    sprite: np.ndarray
    centre: np.ndarray
    angle: np.ndarray
    scale: np.ndarray

    def matrix(self, frame: int) -> np.ndarray:
        """(2, 3) affine map of sprite pixel xy to frame pixel xy on ``frame``."""
        middle = ((self.sprite.shape[1] - 1) / 2.0, (self.sprite.shape[0] - 1) / 2.0)
        matrix = cv2.getRotationMatrix2D(middle, float(self.angle[frame]), float(self.scale[frame]))
        matrix[:, 2] += self.centre[frame] - middle
        return matrix

    @property
    def area(self) -> np.ndarray:
        """(T,) its area in frame pixels, uncut by the frame and unoccluded."""
        return float((self.sprite[..., 3] >= 0.5).sum()) * self.scale**2


def generate_geometric_sequence(*, seed: int, config: GeometricConfig = GEOMETRIC_BENCHMARK) -> SceneSequence:
    """The geometric sequence of ``seed``: the same seed and config always give the same arrays."""
    split = next((split for split in (GEOMETRIC_HELD_OUT, GEOMETRIC_TRAIN) if seed in split.seeds), None)
    if split is None:
        raise ValueError(f"seed {seed} is outside the geometric family's seeds {GEOMETRIC_HELD_OUT.seeds.start}.."
                         f"{GEOMETRIC_TRAIN.seeds.stop - 1}")  # fmt: skip
    return first_frame_checked(
        seed=seed,
        split=split.name,
        plan=lambda rng: _plan(rng, config),
        unoccluded_area=_unoccluded_area,
        render=lambda rng, plan, frames: _render(rng, config, *plan, num_frames=frames),
        num_frames=config.num_frames,
    )


def _unoccluded_area(plan: tuple[_Background, list[Figure]]) -> np.ndarray:
    """(T, K) each target's area, in object id order."""
    targets = sorted((figure for figure in plan[1] if figure.role == "target"), key=lambda figure: figure.object_id)
    return np.stack([figure.area for figure in targets], axis=1)


def geometric_training_clip(*, rng: np.random.Generator, config: SceneConfig) -> SceneSequence:
    """A sequence from a random training seed drawn with ``rng``, of the size, length and event
    probabilities of the first family's ``config``."""
    seed = int(rng.integers(GEOMETRIC_TRAIN.seeds.start, GEOMETRIC_TRAIN.seeds.stop))
    shape = GeometricConfig(height=config.height, width=config.width, num_frames=config.num_frames,
                            occlusion_prob=config.occlusion_prob, leave_prob=config.leave_prob)  # fmt: skip
    return generate_geometric_sequence(seed=seed, config=shape)


# ---------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _Background:
    """A procedural plate larger than the frame and the (T, 2) xy of the frame's corner on it."""

    plate: np.ndarray
    corner: np.ndarray


def _plan(rng: np.random.Generator, config: GeometricConfig) -> tuple[_Background, list[Figure]]:
    """The background and every figure, targets first (in random depth order), occluder last."""
    occluder_kind = OCCLUDERS[int(rng.integers(len(OCCLUDERS)))] if rng.random() < config.occlusion_prob else None
    background = _background(rng, config, panning=occluder_kind == "pillar")
    count = int(rng.integers(config.num_targets[0], config.num_targets[1] + 1))
    leaving = int(rng.integers(1, count + 1)) if rng.random() < config.leave_prob else 0
    early, late = (0.2, 0.45), (0.55, 0.8)  # of the sequence: when the two events happen
    leave_window, occlusion_window = (early, late) if rng.random() < 0.5 else (late, early)
    starts = _spread_starts(rng, config, count)
    targets = [
        _target(rng, config, object_id=k + 1, start=starts[k], leave_window=leave_window if k + 1 == leaving else None)
        for k in range(count)
    ]
    figures = [targets[i] for i in rng.permutation(count)]
    if occluder_kind is not None:
        candidates = sorted(targets, key=lambda figure: figure.object_id == leaving)
        occluder = _occluder(rng, config, kind=occluder_kind, candidates=candidates, window=occlusion_window,
                             pan=background.corner)  # fmt: skip
        figures += [occluder] if occluder is not None else []
    return background, figures


def _background(rng: np.random.Generator, config: GeometricConfig, *, panning: bool) -> _Background:
    """Two procedural textures blended, dimmed so the figures stand out, and the camera's pan:
    a steady sweep along x or y when a pillar is to pass, a slow drift otherwise."""
    speed = rng.uniform(0.008, 0.016) * config.side if panning else rng.uniform(0.0, 0.002) * config.side
    heading = rng.integers(4) * np.pi / 2 if panning else rng.uniform(0, 2 * np.pi)
    velocity = speed * np.array([np.cos(heading), np.sin(heading)])
    margin = int(np.ceil(speed * config.num_frames / 2)) + 2
    height, width = config.height + 2 * margin, config.width + 2 * margin
    layers = [
        procedural.texture(
            rng, kind=procedural.TEXTURES[int(rng.integers(len(procedural.TEXTURES)))], height=height, width=width,
            period=rng.uniform(0.05, 0.3) * config.side,
            colours=tuple(procedural.vivid_colour(rng, saturation=(0.0, 0.6)) for _ in range(2)),
        )
        for _ in range(2)
    ]  # fmt: skip
    plate = (0.6 * layers[0] + 0.4 * layers[1]) * rng.uniform(0.6, 0.9)
    times = np.arange(config.num_frames) - (config.num_frames - 1) / 2.0
    return _Background(plate=plate.astype(np.float32), corner=margin + times[:, None] * velocity)


def _spread_starts(rng: np.random.Generator, config: GeometricConfig, count: int) -> np.ndarray:
    """(count, 2) xy starting points in different cells of a 3 x 3 grid over the frame."""
    cells = rng.permutation(9)[:count]
    cell = config.size / 3.0
    return (np.stack([cells % 3, cells // 3], axis=1) + rng.uniform(0.35, 0.65, size=(count, 2))) * cell


def _target(
    rng: np.random.Generator,
    config: GeometricConfig,
    *,
    object_id: int,
    start: np.ndarray,
    leave_window: tuple[float, float] | None,
) -> Figure:
    """A textured figure on a random path; with ``leave_window``, it leaves the frame and comes back."""
    kind = procedural.SHAPES[int(rng.integers(len(procedural.SHAPES)))]
    probe = procedural.shape_alpha(np.random.default_rng(rng.integers(2**32)), kind=kind, radius=32.0)
    area = np.exp(rng.uniform(*np.log(config.target_area))) * config.height * config.width
    largest = 32.0 * np.sqrt(area / float((probe >= 0.5).sum())) * (1.0 + config.pulse)
    alpha = procedural.shape_alpha(rng, kind=kind, radius=largest)
    side = alpha.shape[0]
    colours = (procedural.vivid_colour(rng), procedural.vivid_colour(rng))
    kind = procedural.TEXTURES[int(rng.integers(len(procedural.TEXTURES)))]
    rgb = procedural.texture(rng, kind=kind, height=side, width=side, period=rng.uniform(0.2, 0.6) * largest,
                             colours=colours)  # fmt: skip
    pulse = rng.uniform(0.0, config.pulse)
    times = np.arange(config.num_frames)
    phase = 2 * np.pi * times / rng.uniform(12, 40) + rng.uniform(0, 2 * np.pi)
    scale = (1.0 + pulse * np.sin(phase)) / (1.0 + config.pulse)
    radius = largest * scale  # (T,) the figure always lies within this distance of its centre
    centre = figure_paths.wander(rng, config, start=start, radius=float(radius.max()))
    if leave_window is not None:
        centre = figure_paths.leave_and_return(
            rng, config, path=centre, radius=float(radius.max()), window=leave_window
        )
    angle = rng.uniform(0, 360) + rng.uniform(-config.spin, config.spin) * times
    sprite = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=2)
    return Figure(role="target", object_id=object_id, sprite=sprite, centre=centre, angle=angle, scale=scale)


# ---------------------------------------------------------------------------- occluders


def _occluder(
    rng: np.random.Generator,
    config: GeometricConfig,
    *,
    kind: str,
    candidates: list[Figure],
    window: tuple[float, float],
    pan: np.ndarray,
) -> Figure | None:
    """An occluder of ``kind`` that wholly hides one of ``candidates`` (tried in order) for 2 or
    more frames from a frame in ``window``; None when none can be hidden by one at most
    :data:`MAX_OCCLUDER_HALF_WIDTH` wide."""
    largest = MAX_OCCLUDER_HALF_WIDTH * config.side
    longest = max(3, int(0.12 * config.num_frames))
    for target in candidates:
        radius = _target_radius(target)
        for middle in (rng.uniform(*window, size=3) * config.num_frames).astype(int):
            hold = int(rng.integers(2, longest + 1))
            frames = np.arange(middle - hold // 2, middle - hold // 2 + hold)
            if frames[0] < 2 or frames[-1] >= config.num_frames - 1:  # shown before and after
                continue
            centres, margins = target.centre[frames], radius[frames, None]
            if not np.all((centres >= margins) & (centres <= config.size - margins)):
                continue
            occluder = _OCCLUDER_MAKERS[kind](rng, config, target=target, frames=frames, radius=radius, pan=pan)
            if occluder is not None and occluder.half_width <= largest:
                return occluder.figure(rng)
    return None


def _target_radius(target: Figure) -> np.ndarray:
    """(T,) distance from its centre within which a target lies on each frame."""
    alpha = target.sprite[..., 3]
    ys, xs = np.nonzero(alpha > 0)
    half = (alpha.shape[0] - 1) / 2.0
    return (float(np.hypot(xs - half, ys - half).max()) + 1.0) * target.scale


@dataclass(frozen=True)
class _Cover:
    """An occluder's path and size, before it is drawn: ``half_width`` is how far from its
    centre line (pillar) or centre point (hand, crossing figure) it covers."""

    kind: str
    centre: np.ndarray  # (T, 2)
    angle: float  # degrees
    half_width: float
    length: float

    def figure(self, rng: np.random.Generator) -> Figure:
        alpha = _COVER_SHAPES[self.kind](rng, half_width=self.half_width, length=self.length)
        colours = tuple(procedural.vivid_colour(rng, saturation=(0.2, 0.9)) for _ in range(2))
        texture = "noise" if self.kind == "hand" else procedural.TEXTURES[int(rng.integers(len(procedural.TEXTURES)))]
        rgb = procedural.texture(rng, kind=texture, height=alpha.shape[0], width=alpha.shape[1],
                                 period=rng.uniform(0.3, 1.0) * self.half_width, colours=colours)  # fmt: skip
        num_frames = len(self.centre)
        return Figure(
            role="occluder",
            object_id=0,
            sprite=np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=2),
            centre=self.centre,
            angle=np.full(num_frames, self.angle),
            scale=np.ones(num_frames),
        )


def _pillar(rng, config, *, target: Figure, frames: np.ndarray, radius: np.ndarray, pan: np.ndarray) -> _Cover:
    """A bar across the whole frame, fixed in a world nearer the camera than the background, so
    it crosses the frame against the pan 2-3.5 times faster. It is centred on the target in the
    middle of ``frames``; its half width covers the target's whole extent on each of them."""
    velocity = -(pan[1] - pan[0]) * rng.uniform(2.0, 3.5)  # (2,) frame pixels per frame
    axis = int(np.argmax(np.abs(velocity)))
    middle = frames[len(frames) // 2]
    times = np.arange(config.num_frames) - middle
    centre = target.centre[middle] + times[:, None] * velocity
    centre[:, 1 - axis] = config.size[1 - axis] / 2.0
    offsets = np.abs(target.centre[frames, axis] - centre[frames, axis]) + radius[frames]
    return _Cover("pillar", centre=centre, angle=90.0 * axis, half_width=float(offsets.max()) + 1.0,
                  length=2.0 * float(np.hypot(*config.size)))  # fmt: skip


def _hand(rng, config, *, target: Figure, frames: np.ndarray, radius: np.ndarray, pan: np.ndarray) -> _Cover:
    """A hand whose palm (a disc over the target's whole extent) reaches in from the nearest
    edge in 3-6 frames, follows the target over ``frames`` and withdraws as it came; its arm
    trails off the frame."""
    palm = float(radius[frames].max()) + 2.0
    first, last = target.centre[frames[0]], target.centre[frames[-1]]
    gaps = np.concatenate([first, config.size - first])  # to the left, top, right, bottom edges
    edge = int(np.argmin(gaps))
    axis, boundary = edge % 2, (0.0 if edge < 2 else config.size[edge % 2])
    inward = np.zeros(2)
    inward[axis] = 1.0 if edge < 2 else -1.0
    reach = 2.2 * palm + 2.0  # the centre this far past the edge: the fingers are out of view

    def outside(point: np.ndarray) -> np.ndarray:
        """``point`` moved along the hand's axis to ``reach`` past the edge."""
        moved = point.copy()
        moved[axis] = boundary - reach * inward[axis]
        return moved

    centre = np.empty((config.num_frames, 2))
    centre[frames] = target.centre[frames]
    approach = int(rng.integers(3, 7))
    for index in range(frames[0]):
        progress = np.clip((index - (frames[0] - approach)) / approach, 0.0, 1.0)
        centre[index] = outside(first) + progress * (first - outside(first))
    for index in range(frames[-1] + 1, config.num_frames):
        progress = np.clip((index - frames[-1]) / approach, 0.0, 1.0)
        centre[index] = last + progress * (outside(last) - last)
    angle = float(np.degrees(np.arctan2(-inward[1], inward[0])))
    return _Cover("hand", centre=centre, angle=angle, half_width=palm, length=float(np.hypot(*config.size)))


def _crossing(rng, config, *, target: Figure, frames: np.ndarray, radius: np.ndarray, pan: np.ndarray) -> _Cover:
    """A larger disc crossing the frame in a straight line, over the target in the middle of
    ``frames`` and large enough to cover it on each of them."""
    speed = rng.uniform(1.5, 3.0) * config.speed[1] * config.side
    heading = rng.uniform(0, 2 * np.pi)
    middle = frames[len(frames) // 2]
    times = np.arange(config.num_frames) - middle
    centre = target.centre[middle] + times[:, None] * speed * np.array([np.cos(heading), np.sin(heading)])
    reach = np.linalg.norm(target.centre[frames] - centre[frames], axis=1) + radius[frames]
    return _Cover("crossing", centre=centre, angle=0.0, half_width=float(reach.max()) + 1.0, length=0.0)


_OCCLUDER_MAKERS = {"pillar": _pillar, "hand": _hand, "crossing": _crossing}
_COVER_SHAPES = {"pillar": procedural.bar_alpha, "hand": procedural.hand_alpha, "crossing": procedural.disc_alpha}


# ---------------------------------------------------------------------------- drawing


def _render(
    rng: np.random.Generator,
    config: GeometricConfig,
    background: _Background,
    figures: list[Figure],
    *,
    num_frames: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the first ``num_frames`` frames: the figures (back to front) over the panning
    background, with a brightness flicker and sensor noise. Returns frames (T, H, W, 3) uint8 RGB
    and the targets' visible and full masks (T, K, H, W) bool, K in object id order."""
    targets = sorted(figure.object_id for figure in figures if figure.role == "target")
    shape = (num_frames, len(targets), config.height, config.width)
    masks, full_masks = np.zeros(shape, bool), np.zeros(shape, bool)
    frames = np.empty((num_frames, config.height, config.width, 3), np.uint8)
    times = np.arange(num_frames)
    flicker = 1.0 + rng.uniform(0.0, 0.12) * np.sin(2 * np.pi * times / rng.uniform(8, 30) + rng.uniform(0, 6.3))
    noise_std = rng.uniform(0.0, config.noise_std) / 255.0
    for t in range(num_frames):
        shift = np.array([[1.0, 0.0, -background.corner[t, 0]], [0.0, 1.0, -background.corner[t, 1]]])
        canvas = cv2.warpAffine(background.plate, shift, (config.width, config.height), flags=cv2.INTER_LINEAR)
        coverage = []  # (H, W) bool of each figure, back to front
        for figure in figures:
            coverage.append(np.zeros((config.height, config.width), bool))
            window = _window(figure.matrix(t), sprite=figure.sprite.shape, size=(config.height, config.width))
            if window is None:
                continue
            (rows, columns), matrix = window
            size = (columns.stop - columns.start, rows.stop - rows.start)
            drawn = cv2.warpAffine(figure.sprite, matrix, size, flags=cv2.INTER_LINEAR)
            alpha = cv2.merge([drawn[..., 3]] * 3)
            canvas[rows, columns] = canvas[rows, columns] * (1.0 - alpha) + drawn[..., :3]
            coverage[-1][rows, columns] = drawn[..., 3] >= 0.5
        in_front = np.zeros((config.height, config.width), bool)
        for figure, covers in zip(reversed(figures), reversed(coverage)):
            if figure.role == "target":
                k = targets.index(figure.object_id)
                full_masks[t, k], masks[t, k] = covers, covers & ~in_front
            in_front |= covers
        canvas *= np.float32(flicker[t])
        canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(noise_std)
        frames[t] = np.clip(canvas * 255.0 + 0.5, 0, 255)
    return frames, masks, full_masks


def _window(
    matrix: np.ndarray, *, sprite: tuple[int, ...], size: tuple[int, int]
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Where a sprite of shape ``sprite`` (h, w, ...) placed by (2, 3) ``matrix`` falls in a frame
    of ``size`` (H, W): (rows, columns) slices of the frame and the matrix into that window, or
    None when it misses the frame."""
    height, width = sprite[:2]
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], np.float64) @ matrix.T
    low = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 1, 0)
    high = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, (size[1], size[0]))
    if np.any(high <= low):
        return None
    shifted = matrix.copy()
    shifted[:, 2] -= low
    return (slice(low[1], high[1]), slice(low[0], high[0])), shifted
