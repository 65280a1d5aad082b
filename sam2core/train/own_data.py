"""Fine-tuning on your own data: a Trainer whose batches come from a data set read from disk
(sam2core.data.datasets) instead of the synthetic generator. Images (formats masks, coco) train the single-image stage
with simulated clicks, boxes and masks; videos (format davis) also the clip stage. Frames and
masks are resized to the model's square input."""

from pathlib import Path

import cv2
import numpy as np

from sam2core.data.davis import DatasetError
from sam2core.data.sequence import SceneSequence
from sam2core.train.trainer import Trainer

MAX_DRAWS = 100  # clips drawn before giving up on finding a visible object


def sample_clip(sequences: list[SceneSequence], rng: np.random.Generator, length: int, side: int) -> SceneSequence:
    """`length` consecutive frames of a random sequence, resized to side x side, with the
    objects visible on its first frame."""
    for _ in range(MAX_DRAWS):
        sequence = sequences[rng.integers(len(sequences))]
        if len(sequence.frames) < length:
            continue
        start = int(rng.integers(len(sequence.frames) - length + 1))
        window = slice(start, start + length)
        present = np.flatnonzero(sequence.visibility[start])
        if len(present):
            break
    else:
        raise DatasetError(f"no sequence of {length} frames with an object visible on its first frame")
    frames = np.stack([cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in sequence.frames[window]])
    masks = sequence.masks[window][:, present]  # (T, K, H, W)
    resized = np.stack(
        [
            [cv2.resize(m.astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST) > 0 for m in frame]
            for frame in masks
        ]
    )
    return SceneSequence(
        frames=frames,
        masks=resized,
        full_masks=resized,
        visibility=resized.any(axis=(2, 3)),
        object_ids=tuple(sequence.object_ids[k] for k in present),
        hidden=(),
        seed=sequence.seed,
        split=sequence.split,
        photos=(),
    )


class OwnDataTrainer(Trainer):
    """A Trainer drawing its clips from `sequences` (see read_data)."""

    def __init__(
        self, model, config, out: Path, sequences: list[SceneSequence], evaluate=None, precision: str = "float32"
    ):
        super().__init__(model, config, out, evaluate=evaluate, precision=precision)
        self.sequences = sequences

    def draw_clips(self, count: int, length: int) -> list[SceneSequence]:
        side = self.model.config.image_size
        return [sample_clip(self.sequences, self.rng, length, side) for _ in range(count)]
