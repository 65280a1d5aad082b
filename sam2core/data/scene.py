"""The configurations of the synthetic scenes (cut-outs, and the geometric family's) and the
random plan of one cut-out sequence.

A plan fixes everything random about a sequence before it is drawn: the background plate and
its pan, every object's sprite and per-frame pose, the depth order, the shadows, the lighting
drift and the noise level. Depth order: background < targets and distractors (in random order)
< the occluder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from sam2core.data import motion, textures
from sam2core.data.motion import Trajectory

MIN_FRAMES_FOR_EVENTS = 6  # shorter sequences get no planned leave or full occlusion
OCCLUDER_MAX_HALF_WIDTH = 0.35  # of min(H, W): an occluder never covers more than ~70% across
OCCLUDER_MIN_SPEED = 0.02  # of min(H, W) per frame relative to its target, so it passes quickly
Role = Literal["target", "distractor", "occluder"]


@dataclass(frozen=True)
class SceneConfig:
    """What a synthetic sequence looks like.

    Ranges are (low, high); probabilities are per sequence and 0 turns the feature off.
    Sizes and speeds are relative to the frame so one config works at any resolution.
    """

    height: int = 256
    width: int = 256
    num_frames: int = 8
    num_targets: tuple[int, int] = (1, 3)  # inclusive range of tracked objects, at most 3
    target_area: tuple[float, float] = (0.01, 0.12)  # first-frame area / frame area, log-uniform
    speed: tuple[float, float] = (0.004, 0.06)  # centre speed / min(H, W) per frame, log-uniform
    scale_change: float = 0.35  # largest |log(scale / first-frame scale)|
    rotation_speed: float = 4.0  # largest mean spin, degrees per frame
    distractor_prob: float = 0.5  # chance of 1-2 recoloured look-alikes of the targets
    occlusion_prob: float = 0.5  # chance that an occluder wholly hides one target for some frames
    leave_prob: float = 0.3  # chance that one target leaves the frame and comes back
    camera_pan: float = 0.004  # largest background pan / min(H, W) per frame
    motion_blur: float = 0.5  # exposure time / frame interval; 0 turns motion blur off
    lighting_change: float = 0.25  # largest relative brightness / contrast drift
    noise_std: float = 3.0  # largest sensor noise standard deviation, 8-bit levels

    def __post_init__(self) -> None:
        if not 1 <= self.num_targets[0] <= self.num_targets[1] <= 3:
            raise ValueError(f"num_targets must lie within 1..3, got {self.num_targets}")
        if min(self.height, self.width) < 32 or self.num_frames < 1:
            raise ValueError("frames must be at least 32x32 and there must be at least one")
        for name in ("distractor_prob", "occlusion_prob", "leave_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")

    @property
    def frame_side(self) -> int:
        """The shorter frame side in pixels, the unit of relative sizes and speeds."""
        return min(self.height, self.width)

    @property
    def frame_size(self) -> np.ndarray:
        """(2,) float64 (W, H), the extent of frame positions xy."""
        return np.array([self.width, self.height], dtype=np.float64)


@dataclass(frozen=True)
class Layer:
    """One object drawn over the background; ``object_id`` is 1.. for targets and 0 otherwise."""

    role: Role
    object_id: int
    sprite: textures.Sprite
    trajectory: Trajectory
    photo: str  # the photograph its texture was cut from

    def affine(self, frame: int) -> np.ndarray:
        """(2, 3) float64 matrix mapping sprite pixel xy to frame pixel xy at ``frame``."""
        return self.trajectory.affine(frame, sprite_side=self.sprite.rgba.shape[0], sprite_radius=self.sprite.radius)


@dataclass(frozen=True)
class Shadow:
    """The soft shadow every object casts on what is behind it (occluders at twice the offset)."""

    offset: np.ndarray  # (2,) int xy pixels
    blur: float  # Gaussian standard deviation, pixels
    strength: float  # darkening under an opaque object, in [0, 1]


@dataclass(frozen=True)
class ScenePlan:
    """Everything random about one sequence, ready to be drawn.

    Attributes:
        background: (H + 2m, W + 2m, 3) float32 RGB plate, larger than a frame by the pan margin.
        background_photo: the photograph the plate was cut from.
        pan: (T, 2) float64 xy of the frame's top-left corner in the plate.
        layers: the objects, back to front.
        gain: (T, 3) float32 per-channel gain of the lighting drift.
        bias: (T, 3) float32 per-channel offset of the lighting drift, in [0, 1] units.
        noise_std: sensor noise standard deviation, in [0, 1] units.
        shadow: the shadow the objects cast.
    """

    background: np.ndarray
    background_photo: str
    pan: np.ndarray
    layers: tuple[Layer, ...]
    gain: np.ndarray
    bias: np.ndarray
    noise_std: float
    shadow: Shadow

    @property
    def photos(self) -> tuple[str, ...]:
        """Names of every photograph this scene's textures were cut from."""
        return tuple(dict.fromkeys([self.background_photo, *(layer.photo for layer in self.layers)]))

    @property
    def targets(self) -> list[Layer]:
        """The target layers in object id order."""
        return sorted((layer for layer in self.layers if layer.role == "target"), key=lambda layer: layer.object_id)


@dataclass(frozen=True)
class _Look:
    """A target's shape, first-frame radius and uncoloured texture, kept so a distractor can copy it."""

    outline: np.ndarray
    radius: float
    texture: np.ndarray
    photo: str


@dataclass(frozen=True)
class _Crossing:
    """How an occluder crosses its target: it hides the target wholly from ``start`` for
    ``hidden_frames`` frames, moving at ``speed`` pixels per frame relative to it."""

    target: Trajectory
    target_radius: float  # largest around the crossing, plus a pixel
    start: float
    hidden_frames: float
    speed: float
    half_size: np.ndarray  # (2,) half width along the motion, half length across it


def plan_scene(rng: np.random.Generator, *, config: SceneConfig, photos: tuple[str, ...]) -> ScenePlan:
    """Draw a random scene whose textures all come from ``photos``."""
    background_photo = _pick(rng, photos)
    background, pan = _background(rng, config=config, photo=background_photo)
    object_photos = tuple(p for p in photos if p != background_photo) or photos
    leave_window, occlusion_window = _event_windows(rng, num_frames=config.num_frames)
    num_targets = int(rng.integers(config.num_targets[0], config.num_targets[1] + 1))
    leaving = int(rng.integers(1, num_targets + 1)) if _happens(rng, config.leave_prob, config) else 0
    layers: list[Layer] = []
    looks: list[_Look] = []
    for object_id in range(1, num_targets + 1):
        window = leave_window if object_id == leaving else None
        layer, look = _target(
            rng, config=config, object_id=object_id, photos=object_photos, others=layers, leave_window=window
        )
        layers.append(layer)
        looks.append(look)
    if rng.random() < config.distractor_prob:
        layers += _distractors(rng, config=config, looks=looks, others=layers)
    layers = [layers[i] for i in rng.permutation(len(layers))]
    if _happens(rng, config.occlusion_prob, config):
        layers += _occluder(
            rng, config=config, photos=object_photos, window=occlusion_window, others=layers, avoid_id=leaving
        )
    gain, bias = _lighting(rng, config=config)
    return ScenePlan(
        background=background,
        background_photo=background_photo,
        pan=pan,
        layers=tuple(layers),
        gain=gain,
        bias=bias,
        noise_std=float(rng.uniform(0.0, config.noise_std)) / 255.0,
        shadow=_shadow(rng, config=config),
    )


def _pick(rng: np.random.Generator, names: tuple[str, ...]) -> str:
    """One of ``names`` at random."""
    return names[int(rng.integers(len(names)))]


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A number drawn log-uniformly between ``bounds`` (low, high)."""
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def _happens(rng: np.random.Generator, probability: float, config: SceneConfig) -> bool:
    """Draw a planned event; sequences too short for one never get it."""
    return bool(rng.random() < probability) and config.num_frames >= MIN_FRAMES_FOR_EVENTS


def _event_windows(rng: np.random.Generator, *, num_frames: int) -> tuple[tuple[float, float], ...]:
    """Two disjoint windows of frames in which the leave/re-enter event and the full occlusion
    begin, in random order; neither begins before frame 2."""
    early = (max(2.0, 0.2 * num_frames), 0.5 * num_frames)
    late = (0.55 * num_frames, 0.85 * num_frames)
    return (early, late) if rng.random() < 0.5 else (late, early)


def _background(rng: np.random.Generator, *, config: SceneConfig, photo: str) -> tuple[np.ndarray, np.ndarray]:
    """A photograph plate (H + 2m, W + 2m, 3), sometimes defocused, and the (T, 2) xy pan of
    the frame across it."""
    step = rng.uniform(0.0, config.camera_pan) * config.frame_side
    margin = int(np.ceil(step * config.num_frames / 2.0)) + 1
    plate = textures.crop_photo(
        rng, photo=photo, height=config.height + 2 * margin, width=config.width + 2 * margin, zoom=(0.5, 1.5)
    )
    plate = textures.jitter_colours(rng, plate, strength=0.3)
    defocus = rng.uniform(0.0, 1.5)
    if defocus > 0.5:
        plate = cv2.GaussianBlur(plate, (0, 0), defocus)
    heading = rng.uniform(0.0, 2.0 * np.pi)
    times = np.arange(config.num_frames) - (config.num_frames - 1) / 2.0
    pan = margin + step * times[:, None] * np.array([np.cos(heading), np.sin(heading)])
    return plate, pan


def _target(
    rng: np.random.Generator,
    *,
    config: SceneConfig,
    object_id: int,
    photos: tuple[str, ...],
    others: list[Layer],
    leave_window: tuple[float, float] | None,
) -> tuple[Layer, _Look]:
    """A target of random shape, size, texture and path; also its look for distractors to copy."""
    outline = textures.random_outline(rng)
    area = _log_uniform(rng, config.target_area) * config.height * config.width
    radius = float(np.sqrt(area / textures.outline_area(outline)))
    trajectory = _wander(rng, config=config, radius=radius, others=others, leave_window=leave_window)
    photo = _pick(rng, photos)
    side = textures.sprite_size(float(trajectory.radius.max()))
    texture = textures.crop_photo(rng, photo=photo, height=side, width=side, zoom=(0.35, 1.2))
    look = _Look(outline=outline, radius=radius, texture=texture, photo=photo)
    return _layer(rng, role="target", object_id=object_id, look=look, trajectory=trajectory), look


def _distractors(
    rng: np.random.Generator, *, config: SceneConfig, looks: list[_Look], others: list[Layer]
) -> list[Layer]:
    """One or two recoloured copies of random targets, each on its own path."""
    layers: list[Layer] = []
    for _ in range(int(rng.integers(1, 3))):
        look = looks[int(rng.integers(len(looks)))]
        radius = look.radius * rng.uniform(0.8, 1.2)
        trajectory = _wander(rng, config=config, radius=radius, others=others + layers, leave_window=None)
        layers.append(_layer(rng, role="distractor", object_id=0, look=look, trajectory=trajectory))
    return layers


def _layer(rng: np.random.Generator, *, role: Role, object_id: int, look: _Look, trajectory: Trajectory) -> Layer:
    """Colour ``look``'s texture at random (strongly for distractors) and cut it to its outline
    at the trajectory's largest size."""
    texture = textures.jitter_colours(rng, look.texture, strength=0.4 if role == "target" else 1.0)
    sprite = textures.make_sprite(outline=look.outline, radius=float(trajectory.radius.max()), texture=texture)
    return Layer(role=role, object_id=object_id, sprite=sprite, trajectory=trajectory, photo=look.photo)


def _wander(
    rng: np.random.Generator,
    *,
    config: SceneConfig,
    radius: float,
    others: list[Layer],
    leave_window: tuple[float, float] | None,
) -> Trajectory:
    """A random path starting as far as possible from ``others`` in frame 0."""
    low, high = motion.walk_bounds(frame_size=config.frame_size, radius=radius)
    candidates = rng.uniform(low, high, size=(12, 2))
    if others:
        centres = np.array([layer.trajectory.centre[0] for layer in others])
        radii = np.array([layer.trajectory.radius[0] for layer in others])
        gaps = np.linalg.norm(candidates[:, None] - centres[None], axis=2) - radii[None] - radius
        candidates = candidates[np.argsort(-gaps.min(axis=1))]
    return motion.object_trajectory(
        rng,
        frame_size=config.frame_size,
        num_frames=config.num_frames,
        start=candidates[0],
        radius=radius,
        speed=_log_uniform(rng, config.speed) * config.frame_side,
        scale_change=config.scale_change,
        rotation_speed=config.rotation_speed,
        leave_window=leave_window,
    )


def _occluder(
    rng: np.random.Generator,
    *,
    config: SceneConfig,
    photos: tuple[str, ...],
    window: tuple[float, float],
    others: list[Layer],
    avoid_id: int,
) -> list[Layer]:
    """A panel or pole that passes in front of a target and hides it wholly for a few frames.

    Targets other than ``avoid_id`` (the one leaving the frame) are tried first, smallest first;
    the first that an occluder at most :data:`OCCLUDER_MAX_HALF_WIDTH` wide can cover is crossed.
    """
    targets = sorted(
        (layer for layer in others if layer.role == "target"),
        key=lambda layer: (layer.object_id == avoid_id, layer.trajectory.radius.max()),
    )
    crossings = (_plan_crossing(rng, config=config, target=layer.trajectory, window=window) for layer in targets)
    crossing = next((crossing for crossing in crossings if crossing is not None), None)
    if crossing is None:
        return []
    centre, heading = motion.crossing_path(
        rng,
        target=crossing.target,
        middle=crossing.start + crossing.hidden_frames / 2.0,
        hold=crossing.hidden_frames / 2.0 + 1.0,
        speed=crossing.speed,
        half_size=crossing.half_size,
        others=[layer.trajectory for layer in targets],
    )
    half_width, half_length = crossing.half_size
    radius = float(np.hypot(half_width, half_length))
    corner = rng.uniform(0.1, 1.0) * crossing.target_radius  # no rounder than the target: it stays covered
    outline = textures.rounded_rect_outline(half_width=half_width, half_height=half_length, corner=corner) / radius
    photo = _pick(rng, photos)
    side = textures.sprite_size(radius)
    texture = textures.crop_photo(rng, photo=photo, height=side, width=side, zoom=(0.5, 1.5))
    texture = textures.jitter_colours(rng, texture, strength=0.6)
    sprite = textures.make_sprite(outline=outline, radius=radius, texture=texture)
    num_frames = config.num_frames
    trajectory = Trajectory(
        centre=centre, radius=np.full(num_frames, radius), angle=np.full(num_frames, -np.rad2deg(heading))
    )
    return [Layer(role="occluder", object_id=0, sprite=sprite, trajectory=trajectory, photo=photo)]


def _plan_crossing(
    rng: np.random.Generator, *, config: SceneConfig, target: Trajectory, window: tuple[float, float]
) -> _Crossing | None:
    """Timing, speed and size of an occluder hiding ``target`` from a frame in ``window``, or
    None if the target is out of view there or too large to hide for two frames.

    The occluder is a rounded rectangle whose half width exceeds the target's radius by the
    distance it travels relative to the target while hiding it.
    """
    longest = max(2.0, 0.15 * config.num_frames)
    start = _crossing_start(rng, config=config, target=target, window=window, longest=longest)
    if start is None:
        return None
    frames = slice(max(int(start) - 1, 0), int(start + longest) + 2)
    target_radius = float(target.radius[frames].max()) + 1.0
    target_speed = float(np.linalg.norm(target.velocity()[frames], axis=1).mean())
    largest_half_width = OCCLUDER_MAX_HALF_WIDTH * config.frame_side
    speed = max(
        _log_uniform(rng, config.speed) * config.frame_side,
        OCCLUDER_MIN_SPEED * config.frame_side,
        1.5 * target_speed,  # it passes the target once it stops following it
        (1.5 * target_radius + 4.0) / start,  # far enough from the target in frame 0
    )
    hidden_frames = min(rng.uniform(2.0, longest), 2.0 * (largest_half_width - target_radius - 2.0) / speed)
    if hidden_frames < 2.0:
        return None
    half_width = target_radius + 2.0 + speed * hidden_frames / 2.0
    is_pole = rng.random() < 0.4
    across = rng.uniform(0.6, 0.75) * config.frame_size.max() if is_pole else half_width * rng.uniform(1.0, 2.0)
    return _Crossing(
        target=target,
        target_radius=target_radius,
        start=start,
        hidden_frames=hidden_frames,
        speed=speed,
        half_size=np.array([half_width, across]),
    )


def _crossing_start(
    rng: np.random.Generator, *, config: SceneConfig, target: Trajectory, window: tuple[float, float], longest: float
) -> float | None:
    """A frame in ``window`` from which ``target``'s centre stays in the frame for ``longest``
    frames, so that a full occlusion is not lost in a spell out of view; None if a few tries fail."""
    for start in rng.uniform(*window, size=4):
        centres = target.centre[max(int(start) - 1, 0) : int(start + longest) + 2]
        if np.all((centres >= 0.0) & (centres <= config.frame_size)):
            return float(start)
    return None


def _shadow(rng: np.random.Generator, *, config: SceneConfig) -> Shadow:
    """A shadow cast away from a random light direction."""
    length = rng.uniform(0.005, 0.025) * config.frame_side
    direction = rng.uniform(0.0, 2.0 * np.pi)
    offset = np.round(length * np.array([np.cos(direction), np.sin(direction)])).astype(int)
    return Shadow(offset=offset, blur=0.5 * length + 1.0, strength=float(rng.uniform(0.15, 0.45)))


def _lighting(rng: np.random.Generator, *, config: SceneConfig) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3) gain and (T, 3) bias of a smooth brightness, contrast and colour drift."""
    spacing = max(2.0, config.num_frames / 2.0)
    count = int((config.num_frames - 1) // spacing) + 4
    keys = rng.uniform(-1.0, 1.0, size=(count, 5)) * config.lighting_change
    drift = motion.catmull_rom(keys, spacing=spacing, num_frames=config.num_frames)
    brightness, contrast, colour = 1.0 + drift[:, :1], 1.0 + drift[:, 1:2], 1.0 + 0.3 * drift[:, 2:]
    gain = brightness * contrast * colour
    bias = brightness * colour * 0.5 * (1.0 - contrast)
    return gain.astype(np.float32), bias.astype(np.float32)


@dataclass(frozen=True)
class FramedScene:
    """The frame and target count of a benchmark family's sequences (geometric, tabletop)."""

    height: int = 256
    width: int = 256
    num_frames: int = 48
    num_targets: tuple[int, int] = (1, 3)  # inclusive range

    def __post_init__(self) -> None:
        if not 1 <= self.num_targets[0] <= self.num_targets[1] <= 3:
            raise ValueError(f"num_targets must lie within 1..3, got {self.num_targets}")
        if min(self.height, self.width) < 64 or self.num_frames < 1:
            raise ValueError("frames must be at least 64x64 and there must be at least one")

    @property
    def side(self) -> int:
        return min(self.height, self.width)


@dataclass(frozen=True)
class GeometricConfig(FramedScene):
    """What a geometric sequence looks like; sizes and speeds relative to the shorter side."""

    target_area: tuple[float, float] = (0.012, 0.06)  # area / frame area, log-uniform
    speed: tuple[float, float] = (0.006, 0.03)  # per frame, uniform
    spin: float = 5.0  # largest rotation, degrees per frame
    pulse: float = 0.15  # largest relative change of size
    occlusion_prob: float = 1.0  # chance of an occluder hiding one target wholly for a while
    leave_prob: float = 0.9  # chance that one target leaves the frame and comes back
    noise_std: float = 4.0  # largest sensor noise, 8-bit levels

    @property
    def size(self) -> np.ndarray:
        """(2,) float64 (W, H)."""
        return np.array([self.width, self.height], np.float64)
