"""Paths of the geometric family's targets: bouncing, orbiting, stopping and going, and a trip
out of the frame and back. Positions are (T, 2) xy frame pixels of a figure's centre."""

from __future__ import annotations

import numpy as np

from sam2core.data.scene import GeometricConfig

MOTIONS = ("bounce", "orbit", "stop_and_go")


def wander(rng: np.random.Generator, config: GeometricConfig, *, start: np.ndarray, radius: float) -> np.ndarray:
    """(T, 2) xy of a centre that stays ``radius`` inside the frame, moving by a random model."""
    low, high = np.full(2, radius), np.maximum(config.size - radius, radius + 1.0)
    start = np.clip(start, low, high)
    speed = rng.uniform(*config.speed) * config.side
    times = np.arange(config.num_frames)
    motion = MOTIONS[int(rng.integers(len(MOTIONS)))]
    if motion == "orbit":
        span = float(np.min(np.minimum(start - low, high - start)))
        orbit = max(min(rng.uniform(0.15, 0.3) * config.side, span / 2.0), 1.0)
        phase = rng.uniform(0, 2 * np.pi)
        pivot = start - orbit * np.array([np.cos(phase), np.sin(phase)])
        turn = phase + np.sign(rng.uniform(-1, 1)) * min(speed / orbit, 0.3) * times
        return np.clip(pivot + orbit * np.stack([np.cos(turn), np.sin(turn)], axis=1), low, high)
    heading = rng.uniform(0, 2 * np.pi)
    steps = np.tile(speed * np.array([np.cos(heading), np.sin(heading)]), (config.num_frames, 1))
    if motion == "stop_and_go":  # runs of 4-10 frames, each still or in a new direction
        frame = 0
        while frame < config.num_frames:
            run = int(rng.integers(4, 11))
            heading = rng.uniform(0, 2 * np.pi)
            still = rng.random() < 0.5
            steps[frame : frame + run] = 0.0 if still else speed * np.array([np.cos(heading), np.sin(heading)])
            frame += run
    travelled = start + np.concatenate([np.zeros((1, 2)), np.cumsum(steps[:-1], axis=0)])
    return reflect(travelled, low=low, high=high)


def reflect(points: np.ndarray, *, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(N, 2) ``points`` folded into the box [low, high] as a ball bounces off its walls."""
    span = high - low
    folded = np.mod(points - low, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


def leave_and_return(
    rng: np.random.Generator, config: GeometricConfig, *, path: np.ndarray, radius: float, window: tuple[float, float]
) -> np.ndarray:
    """``path`` interrupted by a trip out of the frame: from a frame in ``window`` the centre
    goes straight out past the nearest edge, waits 2-6 frames wholly outside, comes back the
    same way and then goes on with ``path`` where it left it."""
    leave = int(rng.uniform(*window) * config.num_frames)
    point = path[leave]
    gaps = np.concatenate([point, config.size - point])  # to the left, top, right, bottom edges
    edge = int(np.argmin(gaps))
    direction = np.array([[-1.0, 0.0], [0.0, -1.0], [1.0, 0.0], [0.0, 1.0]])[edge]
    distance = gaps[edge] + radius + 2.0
    speed = max(rng.uniform(*config.speed) * config.side * 1.5, distance / 8.0)  # out within 8 frames
    out = np.minimum(np.arange(1, int(np.ceil(distance / speed)) + 1) * speed, distance)
    away = np.concatenate([out, np.full(int(rng.integers(2, 7)), distance), out[::-1][1:], [0.0]])
    if leave + len(away) + 2 > config.num_frames:  # too late to be back: leave earlier, if there is time
        if leave < 2:
            return path
        return leave_and_return(rng, config, path=path, radius=radius, window=(window[0] / 2, window[0]))
    trip = point + away[:, None] * direction
    return np.concatenate([path[:leave], trip, path[leave + 1 :]])[: config.num_frames]
