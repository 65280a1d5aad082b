"""The types every source of sequences shares: a video with its ground truth, the runs of frames
in which a target is hidden, and the splits of the synthetic data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Split:
    """A disjoint part of the synthetic data: its seeds and the photographs its textures come from."""

    name: str
    seeds: range
    photos: tuple[str, ...]


@dataclass(frozen=True)
class HiddenInterval:
    """A maximal run of frames [start, stop) in which target ``object_id`` is not visible.

    ``stop`` is the frame it is visible again (the sequence length if never). ``cause`` is
    "occluded" when the target was inside the frame throughout, hidden behind something, and
    "out_of_view" when it was (at least partly) outside the frame.
    """

    object_id: int
    start: int
    stop: int
    cause: Literal["occluded", "out_of_view"]


@dataclass(frozen=True, eq=False)
class SceneSequence:
    """A synthetic video and its ground truth; T frames, K targets.

    Attributes:
        frames: (T, H, W, 3) uint8 RGB.
        masks: (T, K, H, W) bool, the visible part of each target (after occlusion by other
            objects and cutting by the frame border); empty exactly where ``visibility`` is False.
        full_masks: (T, K, H, W) bool, each target's extent inside the frame ignoring occlusion.
        visibility: (T, K) bool, by the rule in `sam2core.data.synthetic`'s docstring.
        object_ids: (K,) ids of the targets; ``masks[:, k]`` belongs to ``object_ids[k]``.
        hidden: every run of frames in which a target is not visible, by object then start.
        seed: the seed it was drawn from.
        split: name of its split; for your own data `FORMAT:NAME`, the folder or file it was read from.
        photos: the photographs its textures were cut from.
        depth: (T, H, W) float32 true depth in metres (sam2core.data.depth), None for scenes
            drawn without it.
        positions: (T, K, 3) float32 true position of each target's visible part in the camera's
            optical frame (metres; NaN where not visible), None without depth.
    """

    frames: np.ndarray
    masks: np.ndarray
    full_masks: np.ndarray
    visibility: np.ndarray
    object_ids: tuple[int, ...]
    hidden: tuple[HiddenInterval, ...]
    seed: int
    split: str
    photos: tuple[str, ...]
    depth: np.ndarray | None = None
    positions: np.ndarray | None = None

    @property
    def name(self) -> str:
        """What reports call it: the folder or file it was read from, else its seed."""
        return self.split.partition(":")[2] or str(self.seed)
