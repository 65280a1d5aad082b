"""Your own data sets in the formats training and evaluation read: DAVIS-style videos, single images
with instance masks, COCO instances."""

from pathlib import Path

from sam2core.data.davis import DatasetError, read_davis
from sam2core.data.instance_masks import read_coco, read_mask_folder
from sam2core.data.sequence import SceneSequence

DATA_FORMATS = ("davis", "masks", "coco")


def read_data(path: Path, data_format: str) -> list[SceneSequence]:
    """The sequences (one frame each for images) of a data set in `data_format`."""
    if data_format == "davis":
        sequences = list(read_davis(path))
    elif data_format == "masks":
        sequences = read_mask_folder(path)
    elif data_format == "coco":
        sequences = read_coco(path)
    else:
        raise ValueError(f"unknown data format {data_format!r}; known: {', '.join(DATA_FORMATS)}")
    if not any(sequence.visibility.any() for sequence in sequences):
        raise DatasetError(f"{path}: no annotated object in any image")
    return sequences
