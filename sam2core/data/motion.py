"""Smooth object paths for the synthetic scenes: key poses joined by Catmull-Rom splines.

Positions are frame pixels xy with the origin at the top-left pixel's centre; ``frame_size``
is (W, H). Key i of a path is at frame (i - 1) * spacing, so key 1 is the first frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Trajectory:
    """Pose of one object at every frame.

    Attributes:
        centre: (T, 2) float64 xy of the object's centre in frame pixels.
        radius: (T,) float64 distance in frame pixels from the centre to the farthest point.
        angle: (T,) float64 rotation in degrees, counter-clockwise on screen.
    """

    centre: np.ndarray
    radius: np.ndarray
    angle: np.ndarray

    def affine(self, frame: int, *, sprite_side: int, sprite_radius: float) -> np.ndarray:
        """(2, 3) float64 matrix mapping the pixel xy of a square sprite image (``sprite_side``
        pixels, object of ``sprite_radius`` pixels at its centre) to frame pixel xy."""
        middle = (sprite_side - 1) / 2.0
        scale = self.radius[frame] / sprite_radius
        matrix = cv2.getRotationMatrix2D((middle, middle), float(self.angle[frame]), scale)
        matrix[:, 2] += self.centre[frame] - middle
        return matrix

    def velocity(self) -> np.ndarray:
        """(T, 2) float64 centre velocity in frame pixels per frame."""
        if len(self.centre) < 2:
            return np.zeros_like(self.centre)
        return np.gradient(self.centre, axis=0)


def object_trajectory(
    rng: np.random.Generator,
    *,
    frame_size: np.ndarray,
    num_frames: int,
    start: np.ndarray,
    radius: float,
    speed: float,
    scale_change: float,
    rotation_speed: float,
    leave_window: tuple[float, float] | None,
) -> Trajectory:
    """A path from ``start`` wandering at about ``speed`` pixels per frame, growing and
    shrinking by up to ``exp(±scale_change)`` and spinning at up to ``rotation_speed`` degrees
    per frame. It stays mostly in view, except that with ``leave_window`` it leaves the frame
    wholly in that window of frames and comes back."""
    spacing = rng.uniform(4.0, 10.0)
    if leave_window is not None:
        spacing = min(spacing, max(2.0, num_frames / 6.0))
    count = int((num_frames - 1) // spacing) + 4
    log_scale = _scale_keys(rng, count=count, scale_change=scale_change)
    spin = rng.uniform(-1.0, 1.0) * rotation_speed * spacing
    angles = rng.uniform(0.0, 360.0) + spin * (np.arange(count) - 1) + rng.normal(0.0, 10.0, size=count)
    low, high = walk_bounds(frame_size=frame_size, radius=radius)
    walk = random_walk(rng, start=start, count=count - 1, step=speed * spacing, low=low, high=high)
    positions = np.concatenate([2.0 * walk[:1] - walk[1:2], walk])  # enters frame 0 moving smoothly
    if leave_window is not None:
        positions = _leave_and_reenter(
            rng, frame_size=frame_size, num_frames=num_frames, keys=positions, spacing=spacing,
            window=leave_window, radius=radius * float(np.exp(log_scale.max())),
        )  # fmt: skip
    poses = catmull_rom(np.column_stack([positions, log_scale, angles]), spacing=spacing, num_frames=num_frames)
    return Trajectory(centre=poses[:, :2], radius=radius * np.exp(poses[:, 2]), angle=poses[:, 3])


def _scale_keys(rng: np.random.Generator, *, count: int, scale_change: float) -> np.ndarray:
    """(count,) log scale keys: a random walk within ±scale_change that is 0 at key 1."""
    steps = rng.normal(0.0, scale_change / 2.0, size=count)
    keys = np.clip(np.cumsum(steps) - steps[:2].sum(), -scale_change, scale_change)
    keys[1] = 0.0
    return keys


def walk_bounds(*, frame_size: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest xy a centre may take so at most ~40% of the object leaves the frame."""
    margin = np.minimum(0.6 * radius, frame_size / 2.0)
    return margin, frame_size - margin


def random_walk(
    rng: np.random.Generator, *, start: np.ndarray, count: int, step: float, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """(count, 2) points from ``start`` by steps of length ``step``, turning smoothly and
    reflecting off the box [low, high]."""
    heading = rng.uniform(0.0, 2.0 * np.pi)
    points = [np.asarray(start, dtype=np.float64)]
    for _ in range(count - 1):
        heading += rng.normal(0.0, 0.7)
        direction = np.array([np.cos(heading), np.sin(heading)])
        point = points[-1] + step * direction
        below, above = point < low, point > high
        point = np.clip(np.where(below, 2 * low - point, np.where(above, 2 * high - point, point)), low, high)
        direction = np.where(below | above, -direction, direction)
        heading = float(np.arctan2(direction[1], direction[0]))
        points.append(point)
    return np.stack(points)


def _leave_and_reenter(
    rng: np.random.Generator,
    *,
    frame_size: np.ndarray,
    num_frames: int,
    keys: np.ndarray,
    spacing: float,
    window: tuple[float, float],
    radius: float,
) -> np.ndarray:
    """Move two consecutive position keys just outside the nearest border, then walk back in.

    The first moved key is in ``window`` or as near it as can be with the walk back inside
    before the last frame. ``keys`` is (N, 2) xy; ``radius`` is the object's largest radius, so it is
    wholly out of view at both moved keys (a Catmull-Rom segment between two keys on the far
    side of a border, approached from inside, bulges further out).
    """
    times = (np.arange(len(keys)) - 1) * spacing
    possible = (times >= spacing) & (times + 2.0 * spacing <= num_frames - 1)
    if not possible.any():
        return keys
    distance_to_window = np.maximum(window[0] - times, 0.0) + np.maximum(times - window[1], 0.0)
    candidates = np.flatnonzero(possible & (distance_to_window == distance_to_window[possible].min()))
    exit_key = int(rng.choice(candidates))
    last_inside = keys[exit_key - 1]
    border = int(np.argmin(np.concatenate([last_inside, frame_size - last_inside])))  # left, top, right, bottom
    axis = border % 2
    outside = -radius - 2.0 if border < 2 else frame_size[axis] + radius + 2.0
    moved = keys.copy()
    for offset in (0, 1):
        moved[exit_key + offset] = last_inside + rng.normal(0.0, 0.15, size=2) * frame_size
        moved[exit_key + offset, axis] = outside
    low, high = walk_bounds(frame_size=frame_size, radius=radius)
    step = float(np.linalg.norm(np.diff(keys, axis=0), axis=1).mean())
    reentry = np.clip(moved[exit_key + 1], low, high)
    count = len(keys) - exit_key - 2
    moved[exit_key + 2 :] = random_walk(rng, start=reentry, count=count, step=step, low=low, high=high)
    return moved


def crossing_path(
    rng: np.random.Generator,
    *,
    target: Trajectory,
    middle: float,
    hold: float,
    speed: float,
    half_size: np.ndarray,
    others: list[Trajectory],
) -> tuple[np.ndarray, float]:
    """(T, 2) xy centres of a rectangle (``half_size``: half extent along and across its
    heading) that crosses ``target`` at frame ``middle``, and that heading in radians.

    It moves at ``speed`` pixels per frame relative to the target, and within ``hold`` frames of
    ``middle`` it also follows the target's own motion, so their offset there is exactly
    ``speed * (t - middle)`` along the heading. Of a few random headings the one is kept that
    wholly covers none of ``others`` away from the crossing and leaves them most visible in
    frame 0.
    """
    frames = np.arange(len(target.centre), dtype=np.float64)
    reference = target.centre[int(np.clip(round(middle), 0, len(frames) - 1))]
    ramp = float(np.clip(middle - hold, 0.5, 2.0 + 0.05 * len(frames)))  # lets go of the target before frame 0
    follow = 1.0 - _smoothstep((np.abs(frames - middle) - hold) / ramp)
    carried = reference + follow[:, None] * (target.centre - reference)
    away = np.abs(frames - middle) > hold

    def path(heading: float) -> np.ndarray:
        return carried + speed * (frames - middle)[:, None] * np.array([np.cos(heading), np.sin(heading)])

    headings = rng.uniform(0.0, 2.0 * np.pi, size=12)
    heading = float(
        min(headings, key=lambda h: _harm(path(h), heading=h, half_size=half_size, others=others, away=away))
    )
    return path(heading), heading


def _harm(
    centre: np.ndarray, *, heading: float, half_size: np.ndarray, others: list[Trajectory], away: np.ndarray
) -> tuple[int, float]:
    """How much a rectangle on path ``centre`` (T, 2) hides ``others``: the number of frames where
    ``away`` (T,) bool is set in which it covers one wholly, then the most it cuts, in pixels,
    into half the disc of one in frame 0."""
    stray_frames, cut = 0, 0.0
    for other in others:
        offsets = _local_offsets(other.centre - centre, heading=heading)
        stray_frames += int(np.sum(np.all(offsets <= half_size - other.radius[:, None], axis=1) & away))
        gap = float(np.linalg.norm(np.maximum(offsets[0] - half_size, 0.0))) - 0.5 * other.radius[0]
        cut = max(cut, -gap)
    return stray_frames, cut


def _local_offsets(offsets: np.ndarray, *, heading: float) -> np.ndarray:
    """(T, 2) absolute values of xy ``offsets`` (T, 2) in axes rotated by ``heading`` radians."""
    cos, sin = np.cos(heading), np.sin(heading)
    along = cos * offsets[:, 0] + sin * offsets[:, 1]
    across = cos * offsets[:, 1] - sin * offsets[:, 0]
    return np.abs(np.stack([along, across], axis=1))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, a smooth cubic in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def catmull_rom(keys: np.ndarray, *, spacing: float, num_frames: int) -> np.ndarray:
    """Sample a uniform Catmull-Rom spline through ``keys`` (N, D), key i at frame (i - 1) * spacing.

    Returns (num_frames, D) float64 at frames 0 .. num_frames - 1; needs N >= (T - 1) / spacing + 4.
    """
    position = np.arange(num_frames) / spacing + 1.0
    index = np.minimum(np.floor(position).astype(int), len(keys) - 3)
    u = (position - index)[:, None]
    p0, p1, p2, p3 = keys[index - 1], keys[index], keys[index + 1], keys[index + 2]
    return 0.5 * (
        2.0 * p1 + (p2 - p0) * u + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * u**2 + (3.0 * p1 - p0 - 3.0 * p2 + p3) * u**3
    )
