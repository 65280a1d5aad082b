"""The tabletop scene family: a third generator of held-out test videos, what a robot's head
camera sees over a table. No training run draws from it.

The other families move sprites over a backdrop; here the world is a table and the camera moves
over it as a robot's head does: it drifts, turns, zooms, and now and then looks away so that a
target leaves the view and comes back. On the table lie shaded solids seen from above (pucks,
boxes, cups), one of them often an identical twin of a target. Objects lie still or are pushed
(slide and stop); a clutter object may be lifted, carried over the others (hiding what it
passes, its shadow apart) and set down; a gripper arm reaches in from the frame's edge over a
target and withdraws. The light drifts in brightness and colour; a slight blur and sensor noise.

The ground truth and visibility rule are the first family's (``synthetic.annotated_sequence``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sam2core.data.procedural import value_noise, vivid_colour
from sam2core.data.scene import FramedScene
from sam2core.data.sequence import SceneSequence, Split
from sam2core.data.synthetic import first_frame_checked

KINDS = ("puck", "box", "cup")
SUBPIXEL_BITS = 4  # polygons are filled with 1/16 pixel vertex precision
MIN_FRAMES_FOR_EVENTS = 8  # shorter sequences get no push, carry, look-away or arm
LIFT_SCALE = 0.3  # a carried object looks this much larger (nearer the camera)

TABLETOP_HELD_OUT = Split(name="tabletop_held_out", seeds=range(0, 2**32), photos=())


@dataclass(frozen=True)
class TabletopConfig(FramedScene):
    """What a tabletop sequence looks like; sizes relative to the frame's shorter side."""

    clutter: tuple[int, int] = (1, 3)  # other objects on the table, inclusive range
    target_area: tuple[float, float] = (0.012, 0.06)  # area / frame area at zoom 1, log-uniform
    twin_prob: float = 0.6  # chance that one clutter object is an exact copy of a target
    carry_prob: float = 0.6  # chance that a clutter object is carried over a target
    occlusion_prob: float = 1.0  # chance of the arm reaching over one target, hiding it wholly
    leave_prob: float = 0.9  # chance that the camera looks away from one target and back
    noise_std: float = 3.0  # largest sensor noise, 8-bit levels


TABLETOP_BENCHMARK = TabletopConfig()


@dataclass(frozen=True)
class Solid:
    """An object on the table. outline: (P, 2) its shape around its centre, table pixels;
    position: (T, 2) table xy; heading: (T,) radians; lift: (T,) 0 on the table, 1 carried.
    object_id: 1.. for targets, 0 for clutter."""

    object_id: int
    kind: str
    outline: np.ndarray
    colour: np.ndarray
    position: np.ndarray
    heading: np.ndarray
    lift: np.ndarray

    @property
    def radius(self) -> float:
        return float(np.linalg.norm(self.outline, axis=1).max())


@dataclass(frozen=True)
class Camera:
    """Where the camera looks on each frame: table xy at the frame's centre (T, 2), its roll
    (T,) radians and zoom (T,); frame xy = zoom * rotate(roll) (table xy - look) + middle."""

    look: np.ndarray
    roll: np.ndarray
    zoom: np.ndarray
    middle: np.ndarray

    def to_frame(self, t: int, points: np.ndarray) -> np.ndarray:
        """Frame xy of table xy ``points`` (..., 2) on frame ``t``."""
        matrix = self.matrix(t)
        return points @ matrix[:, :2].T + matrix[:, 2]

    def matrix(self, t: int) -> np.ndarray:
        """(2, 3) affine map of table xy to frame xy."""
        linear = self.zoom[t] * _rotation(self.roll[t])
        return np.hstack([linear, (self.middle - linear @ self.look[t])[:, None]])


@dataclass(frozen=True)
class Arm:
    """A gripper arm in frame coordinates: from ``base`` (2,) beyond the frame's edge towards
    ``tip`` (T, 2), ``half_width`` pixels either side; NaN tips where it is withdrawn."""

    base: np.ndarray
    tip: np.ndarray
    half_width: float


def generate_tabletop_sequence(*, seed: int, config: TabletopConfig = TABLETOP_BENCHMARK) -> SceneSequence:
    """The tabletop sequence of ``seed``: the same seed and config always give the same arrays."""
    if seed not in TABLETOP_HELD_OUT.seeds:
        raise ValueError(f"seed {seed} is outside the tabletop family's seeds {TABLETOP_HELD_OUT.seeds}")
    return first_frame_checked(
        seed=seed,
        split=TABLETOP_HELD_OUT.name,
        plan=lambda rng: _plan(rng, config),
        unoccluded_area=lambda plan: _unoccluded_area(*plan[1:3]),
        render=lambda rng, plan, frames: _render(rng, config, *plan, num_frames=frames),
        num_frames=config.num_frames,
    )


# ---------------------------------------------------------------------------- plan


def _plan(rng: np.random.Generator, config: TabletopConfig) -> tuple[np.ndarray, list[Solid], Camera, Arm | None]:
    """The table's plate, the solids (targets first, back to front at rest), the camera, the arm."""
    frames = config.num_frames
    camera = _camera(rng, config)
    count = int(rng.integers(config.num_targets[0], config.num_targets[1] + 1))
    spots = _spread(rng, config, count + int(rng.integers(config.clutter[0], config.clutter[1] + 1)))
    solids = []
    for index, spot in enumerate(spots):
        target = index < count
        if not target and index == count and rng.random() < config.twin_prob:
            twin = solids[int(rng.integers(count))]
            kind, outline, colour = twin.kind, twin.outline, twin.colour
        else:
            kind, outline, colour = _look(rng, config)
        position, heading = _pushes(rng, config, spot)
        solids.append(Solid(index + 1 if target else 0, kind, outline, colour, position, heading, np.zeros(frames)))
    if frames >= MIN_FRAMES_FOR_EVENTS and count < len(solids) and rng.random() < config.carry_prob:
        solids[-1] = _carried(rng, solids[-1], over=solids[int(rng.integers(count))])
    if frames >= MIN_FRAMES_FOR_EVENTS and rng.random() < config.leave_prob:
        camera = _look_away(rng, config, camera, solids[int(rng.integers(count))])
    arm = None
    if frames >= MIN_FRAMES_FOR_EVENTS and rng.random() < config.occlusion_prob:
        arm = _arm(rng, config, camera, solids[int(rng.integers(count))])
    return _table(rng, config), solids, camera, arm


def _rotation(angle: float) -> np.ndarray:
    cos, sin = np.cos(angle), np.sin(angle)
    return np.array([[cos, -sin], [sin, cos]])


def _window(rng: np.random.Generator, frames: int, length: tuple[float, float]) -> tuple[int, int]:
    """A run of frames [start, stop) after frame 1, its length a random fraction of the clip."""
    span = max(2, int(rng.uniform(*length) * frames))
    start = int(rng.integers(2, max(3, frames - span)))
    return start, min(start + span, frames)


def _ramp(frames: int, start: int, stop: int, edge: int) -> np.ndarray:
    """(T,) 0 outside [start, stop), rising to 1 over ``edge`` frames at each end, smoothly."""
    t = np.arange(frames, dtype=np.float64)
    rise = np.clip(np.minimum(t - start + 1, stop - t) / max(edge, 1), 0.0, 1.0)
    return rise * rise * (3 - 2 * rise)


def _camera(rng: np.random.Generator, config: TabletopConfig) -> Camera:
    """A slow drift, roll and zoom: a few random sines each."""
    t = np.arange(config.num_frames, dtype=np.float64)[:, None]
    periods, phases = rng.uniform(30, 120, (2, 3)), rng.uniform(0, 2 * np.pi, (2, 3))
    waves = np.sin(2 * np.pi * t[:, :, None] / periods[None] + phases[None])  # (T, 2, 3)
    middle = np.array([config.width, config.height], np.float64) / 2
    look = middle + rng.uniform(0.02, 0.08) * config.side * waves[:, :, 0]
    roll = np.radians(rng.uniform(0, 8)) * waves[:, 0, 1]
    zoom = np.exp(rng.uniform(0, 0.15) * waves[:, 1, 2])
    return Camera(look, roll, zoom, middle)


def _spread(rng: np.random.Generator, config: TabletopConfig, count: int) -> np.ndarray:
    """(count, 2) table xy of the objects at rest, apart from each other, well inside the view."""
    low, high = 0.2 * np.array([config.width, config.height]), 0.8 * np.array([config.width, config.height])
    best = rng.uniform(low, high, (count, 2))
    for _ in range(30):
        candidate = rng.uniform(low, high, (count, 2))
        if _closest(candidate) > _closest(best):
            best = candidate
    return best


def _closest(points: np.ndarray) -> float:
    gaps = np.linalg.norm(points[:, None] - points[None], axis=-1) + np.eye(len(points)) * 1e9
    return float(gaps.min())


def _look(rng: np.random.Generator, config: TabletopConfig) -> tuple[str, np.ndarray, np.ndarray]:
    """A kind, its outline (P, 2) around its centre and its colour (3,)."""
    kind = KINDS[int(rng.integers(len(KINDS)))]
    area = np.exp(rng.uniform(*np.log(config.target_area))) * config.height * config.width
    theta = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    if kind == "box":
        aspect = rng.uniform(1.0, 2.2)
        half = np.sqrt(area / aspect) / 2 * np.array([aspect, 1.0])
        outline = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * half
    else:
        stretch = rng.uniform(1.0, 1.3) if kind == "puck" else 1.0
        radius = np.sqrt(area / np.pi / stretch)
        outline = radius * np.stack([stretch * np.cos(theta), np.sin(theta)], axis=1)
    return kind, outline, vivid_colour(rng, saturation=(0.3, 0.9)).astype(np.float64)


def _pushes(rng: np.random.Generator, config: TabletopConfig, spot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) position and (T,) heading of an object that lies still or is pushed once or twice."""
    frames = config.num_frames
    position = np.repeat(spot[None], frames, axis=0)
    heading = np.full(frames, rng.uniform(0, np.pi))
    for _ in range(int(rng.integers(0, 3)) if frames >= MIN_FRAMES_FOR_EVENTS else 0):
        start, stop = _window(rng, frames, (0.15, 0.4))
        progress = np.clip((np.arange(frames) - start) / max(stop - start, 1), 0.0, 1.0)
        progress = progress * progress * (3 - 2 * progress)
        push = rng.normal(size=2) * rng.uniform(0.1, 0.3) * config.side / np.sqrt(2)
        position = position + progress[:, None] * push
        heading = heading + progress * rng.uniform(-0.8, 0.8)
    return position, heading


def _carried(rng: np.random.Generator, solid: Solid, *, over: Solid) -> Solid:
    """``solid`` lifted, carried across ``over`` (above its position half-way) and set down."""
    frames = len(solid.lift)
    start, stop = _window(rng, frames, (0.3, 0.5))
    lift = _ramp(frames, start, stop, edge=3)
    t = np.arange(frames)
    progress = np.clip((t - start) / max(stop - start - 1, 1), 0.0, 1.0)
    begin, end = solid.position[start], 2 * over.position[(start + stop) // 2] - solid.position[start]
    path = begin + progress[:, None] * (end - begin)
    position = np.where((t >= start)[:, None], path, solid.position)
    position = np.where((t >= stop)[:, None], end, position)
    return Solid(solid.object_id, solid.kind, solid.outline, solid.colour, position, solid.heading, lift)


def _look_away(rng: np.random.Generator, config: TabletopConfig, camera: Camera, target: Solid) -> Camera:
    """The camera turned, for a while, far enough from ``target`` that it leaves the view."""
    frames = config.num_frames
    start, stop = _window(rng, frames, (0.2, 0.35))
    weight = _ramp(frames, start, stop, edge=4)
    look = camera.look.copy()
    for t in np.flatnonzero(weight):
        away = camera.to_frame(t, target.position[t]) - camera.middle  # frame xy from the middle
        distance = np.linalg.norm(away)
        direction = away / distance if distance > 1 else np.array([1.0, 0.0])
        to_edge = np.min(camera.middle / np.maximum(np.abs(direction), 1e-6))
        pan = (to_edge - distance + 1.4 * target.radius * camera.zoom[t] * (1 + LIFT_SCALE)) * direction
        look[t] = look[t] - weight[t] * (pan @ _rotation(camera.roll[t])) / camera.zoom[t]
    return Camera(look, camera.roll, camera.zoom, camera.middle)


def _arm(rng: np.random.Generator, config: TabletopConfig, camera: Camera, target: Solid) -> Arm:
    """An arm from the frame edge nearest ``target`` reaching over it for a while."""
    frames = config.num_frames
    start, stop = _window(rng, frames, (0.15, 0.3))
    reach = _ramp(frames, start, stop, edge=3)
    centre = camera.to_frame(start, target.position[start])
    size = np.array([config.width, config.height], np.float64)
    gaps = np.concatenate([centre, size - centre])  # to the left, top, right, bottom edges
    side = int(np.argmin(gaps))
    half_width = 1.3 * target.radius * camera.zoom.max()
    base = centre.copy()  # beyond that edge, so the arm comes in from outside even over a target astride it
    base[side % 2] = -2 * half_width if side < 2 else size[side % 2] + 2 * half_width
    tip = np.full((frames, 2), np.nan)
    for t in np.flatnonzero(reach > 0):
        over = camera.to_frame(t, target.position[t])
        length = np.linalg.norm(over - base) + 1.5 * half_width
        tip[t] = base + reach[t] * length * (over - base) / max(np.linalg.norm(over - base), 1e-6)
    return Arm(base, tip, half_width)


def _table(rng: np.random.Generator, config: TabletopConfig) -> np.ndarray:
    """(3S, 3S, 3) float32 RGB plate of wood grain or speckled laminate, table pixels from -S."""
    side = 3 * config.side
    base = vivid_colour(rng, saturation=(0.1, 0.5)) * 0.6 + 0.3
    wobble = value_noise(rng, height=side, width=side, period=rng.uniform(20, 60))
    if rng.random() < 0.5:
        ys = np.mgrid[0:side, 0:side][0].astype(np.float32)
        grain = 0.5 + 0.5 * np.sin(2 * np.pi * (ys / rng.uniform(4, 12) + 3.0 * wobble))
    else:
        grain = value_noise(rng, height=side, width=side, period=3.0, octaves=2)
    shade = 1.0 - rng.uniform(0.1, 0.3) * grain
    return (base[None, None] * shade[..., None]).astype(np.float32)


def _unoccluded_area(solids: list[Solid], camera: Camera) -> np.ndarray:
    """(T, K) each target's area in frame pixels, uncut by the frame and unoccluded."""
    targets = [solid for solid in solids if solid.object_id]
    polygon = np.array([cv2.contourArea(target.outline.astype(np.float32)) for target in targets])  # (K,)
    scale = camera.zoom[:, None] * (1 + LIFT_SCALE * np.stack([target.lift for target in targets], axis=1))
    return polygon[None] * scale**2


# ---------------------------------------------------------------------------- render


def _render(
    rng: np.random.Generator,
    config: TabletopConfig,
    table: np.ndarray,
    solids: list[Solid],
    camera: Camera,
    arm: Arm | None,
    *,
    num_frames: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the first ``num_frames`` frames. Returns frames (T, H, W, 3) uint8 RGB and the targets'
    visible and full masks (T, K, H, W) bool, K in object id order."""
    size = (config.width, config.height)
    count = sum(1 for solid in solids if solid.object_id)
    masks = np.zeros((num_frames, count, config.height, config.width), bool)
    full_masks = np.zeros_like(masks)
    frames = np.empty((num_frames, config.height, config.width, 3), np.uint8)
    light = rng.uniform(-1, 1, 2)
    light /= np.linalg.norm(light)
    t_axis = np.arange(num_frames)[:, None]
    drift = 1 + rng.uniform(0, 0.1, 3) * np.sin(2 * np.pi * t_axis / rng.uniform(20, 60) + rng.uniform(0, 6.3, 3))
    blur = rng.uniform(0.0, 0.8)
    noise_std = rng.uniform(0.0, config.noise_std) / 255.0
    for t in range(num_frames):
        plate = camera.matrix(t) @ _plate_offset(config)
        canvas = cv2.warpAffine(table, plate, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        order = sorted(range(len(solids)), key=lambda i: (solids[i].lift[t] > 0, i))
        in_front = np.zeros((config.height, config.width), bool)
        coverage = {}
        for i in order:
            coverage[i] = _draw_solid(canvas, solids[i], camera, t, light=light)
        if arm is not None and not np.isnan(arm.tip[t, 0]):
            coverage[len(solids)] = _draw_arm(canvas, arm, t)
        for i in reversed(list(coverage)):  # front to back: the arm, then the solids
            if i < len(solids) and solids[i].object_id:
                k = solids[i].object_id - 1
                full_masks[t, k], masks[t, k] = coverage[i], coverage[i] & ~in_front
            in_front |= coverage[i]
        if blur > 0.3:
            canvas = cv2.GaussianBlur(canvas, (0, 0), blur)
        canvas = canvas * drift[t].astype(np.float32)
        canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(noise_std)
        frames[t] = np.clip(canvas * 255.0 + 0.5, 0, 255)
    return frames, masks, full_masks


def _plate_offset(config: TabletopConfig) -> np.ndarray:
    """(3, 3) map of plate pixels to table xy (the plate starts one side before the table's 0)."""
    return np.array([[1.0, 0.0, -config.side], [0.0, 1.0, -config.side], [0.0, 0.0, 1.0]])


def _fill(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    """(H, W) float32 coverage in [0, 1] of a polygon (P, 2) in frame xy, anti-aliased."""
    alpha = np.zeros(shape, np.uint8)
    points = np.round(polygon * (1 << SUBPIXEL_BITS)).astype(np.int32)
    cv2.fillPoly(alpha, [points], 255, lineType=cv2.LINE_AA, shift=SUBPIXEL_BITS)
    return alpha.astype(np.float32) / 255.0


def _draw_solid(canvas: np.ndarray, solid: Solid, camera: Camera, t: int, *, light: np.ndarray) -> np.ndarray:
    """Draw ``solid``'s shadow and then it, shaded, on frame ``t``; returns its coverage (H, W) bool."""
    scale = 1 + LIFT_SCALE * solid.lift[t]
    placed = solid.outline * scale @ _rotation(solid.heading[t]).T + solid.position[t]
    polygon = camera.to_frame(t, placed)
    shape = canvas.shape[:2]
    zoom = camera.zoom[t]
    shadow = _fill(shape, polygon + (0.08 + 0.5 * solid.lift[t]) * solid.radius * zoom * -light)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 1.0 + 3.0 * solid.lift[t])
    canvas *= (1.0 - 0.35 * shadow)[..., None]
    alpha = _fill(shape, polygon)
    rows, columns = np.nonzero(alpha)
    if len(rows) == 0:
        return alpha >= 0.5
    centre = camera.to_frame(t, solid.position[t])
    local = (np.stack([columns, rows], axis=1) - centre) / (zoom * scale * solid.radius)  # (N, 2) in ~[-1, 1]
    colour = solid.colour[None] * _shading(solid.kind, local, light)[:, None]
    if solid.kind == "box":  # a label band across its middle, in its own frame
        band = np.abs((local @ _rotation(camera.roll[t] + solid.heading[t]))[:, 0]) < 0.18
        colour[band] = 0.5 * colour[band] + 0.45
    weight = alpha[rows, columns][:, None]
    canvas[rows, columns] = canvas[rows, columns] * (1 - weight) + weight * colour.astype(np.float32)
    return alpha >= 0.5


def _shading(kind: str, local: np.ndarray, light: np.ndarray) -> np.ndarray:
    """(N,) brightness of points (N, 2) about the solid's centre in frame axes (its radius 1), lit
    from the frame direction ``light``."""
    radius = np.linalg.norm(local, axis=1)
    facing = local @ light
    if kind == "puck":
        return 0.75 + 0.2 * facing - 0.2 * radius**2 + 0.35 * np.exp(-8 * np.sum((local - 0.4 * light) ** 2, axis=1))
    if kind == "cup":
        inside = radius < 0.72
        return np.where(inside, 0.45 - 0.2 * facing, 0.85 + 0.15 * facing)
    return 0.8 + 0.15 * facing


def _draw_arm(canvas: np.ndarray, arm: Arm, t: int) -> np.ndarray:
    """Draw the arm with its two fingers on frame ``t``; returns its coverage (H, W) bool."""
    along = arm.tip[t] - arm.base
    along /= max(np.linalg.norm(along), 1e-6)
    across = np.array([-along[1], along[0]]) * arm.half_width
    body = np.array([arm.base - across, arm.tip[t] - across, arm.tip[t] + across, arm.base + across])
    alpha = _fill(canvas.shape[:2], body)
    for side in (-1, 1):
        finger = arm.tip[t] + side * 0.7 * across
        width, length = 0.25 * across, along * arm.half_width * 0.8
        alpha = np.maximum(
            alpha,
            _fill(
                canvas.shape[:2],
                np.array([finger - width, finger + length - width, finger + length + width, finger + width]),
            ),
        )
    ys, xs = np.mgrid[0 : canvas.shape[0], 0 : canvas.shape[1]]
    metal = 0.45 + 0.2 * np.cos(((np.stack([xs, ys], -1) - arm.base) @ across) / arm.half_width**2 * 2.5)
    canvas *= (1 - alpha)[..., None]
    canvas += (alpha * metal)[..., None].astype(np.float32) * np.array([0.9, 0.92, 1.0], np.float32)
    return alpha >= 0.5
