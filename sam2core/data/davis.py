"""Your own videos in the DAVIS / SA-V folder layout, as SceneSequences the evaluation runs on:

    ROOT/JPEGImages/<sequence>/<frame>.jpg
    ROOT/Annotations/<sequence>/<frame>.png   one per image, same name; palette colours

Annotations use the DAVIS palette (the PASCAL VOC colour map): colour 0 (black) is background,
colour i is object i. Images are read with OpenCV, which expands palette PNGs to colours; the
colours are mapped back to ids. A missing or unreadable file, an unknown colour, images of
different sizes or a sequence without images raise DatasetError naming the file.
"""

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from sam2core.data.sequence import SceneSequence
from sam2core.data.synthetic import hidden_intervals

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DatasetError(ValueError):
    """A data set file that is missing, unreadable or not in the expected format."""


def davis_palette(size: int = 256) -> np.ndarray:
    """(size, 3) uint8 RGB colour of each object id: the PASCAL VOC colour map, which spreads
    the bits of the id over the high bits of red, green and blue."""
    palette = np.zeros((size, 3), np.uint8)
    for index in range(size):
        value, colour = index, [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                colour[channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
        palette[index] = colour
    return palette


def davis_sequence_names(root: Path) -> list[str]:
    """The sequences of a DAVIS folder, in name order."""
    images = Path(root) / "JPEGImages"
    if not images.is_dir():
        raise DatasetError(f"{images} is not a folder: expected ROOT/JPEGImages/<sequence>/*.jpg")
    return sorted(folder.name for folder in images.iterdir() if folder.is_dir())


def read_davis(root: Path, names: list[str] | None = None) -> Iterator[SceneSequence]:
    """The sequences of a DAVIS folder (all, or those named), one at a time."""
    for index, name in enumerate(names or davis_sequence_names(root)):
        yield read_davis_sequence(Path(root), name, index)


def read_davis_sequence(root: Path, name: str, index: int = 0) -> SceneSequence:
    """One sequence of a DAVIS folder; objects are the ids seen in any of its annotations."""
    frame_paths = sorted(
        path for path in (root / "JPEGImages" / name).glob("*") if path.suffix.lower() in IMAGE_SUFFIXES
    )
    if not frame_paths:
        raise DatasetError(f"sequence {name!r} has no images in {root / 'JPEGImages' / name}")
    frames = np.stack(_same_size([read_rgb(path) for path in frame_paths], frame_paths))
    labels = np.stack([read_palette_ids(root / "Annotations" / name / f"{path.stem}.png") for path in frame_paths])
    if labels.shape[1:] != frames.shape[1:3]:
        raise DatasetError(f"annotations of {name!r} are {labels.shape[1:]} but images {frames.shape[1:3]}")
    object_ids = tuple(int(i) for i in np.unique(labels) if i != 0)
    masks = np.stack([labels == object_id for object_id in object_ids], axis=1)  # (T, K, H, W)
    if not object_ids:
        masks = np.zeros((len(frames), 0, *frames.shape[1:3]), bool)
    visibility = masks.any(axis=(2, 3))
    return SceneSequence(
        frames=frames,
        masks=masks,
        full_masks=masks,  # only the visible part is annotated
        visibility=visibility,
        object_ids=object_ids,
        hidden=hidden_intervals(visibility=visibility, in_view=np.ones_like(visibility), object_ids=object_ids),
        seed=index,
        split=f"davis:{name}",
        photos=(),
    )


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file, or DatasetError."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if Path(path).is_file() else None
    if image is None:
        raise DatasetError(f"cannot read the image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_palette_ids(path: Path) -> np.ndarray:
    """(H, W) object ids of a DAVIS annotation PNG (colours of davis_palette), or DatasetError."""
    if not Path(path).is_file():
        raise DatasetError(f"missing annotation {path}")
    rgb = read_rgb(path)
    palette = davis_palette().astype(np.int64)
    codes = (rgb.astype(np.int64) << np.array([16, 8, 0])).sum(axis=-1)  # (H, W) 0xRRGGBB
    palette_codes = (palette << np.array([16, 8, 0])).sum(axis=-1)  # (256,)
    order = np.argsort(palette_codes)
    position = np.searchsorted(palette_codes, codes, sorter=order).clip(max=len(order) - 1)
    ids = order[position]
    unknown = palette_codes[ids] != codes
    if unknown.any():
        y, x = np.argwhere(unknown)[0]
        raise DatasetError(f"{path}: colour {tuple(rgb[y, x])} at ({x}, {y}) is not a DAVIS palette colour")
    return ids.astype(np.int32)


def write_davis_sequence(root: Path, name: str, frames: np.ndarray, labels: np.ndarray) -> None:
    """Write (T, H, W, 3) uint8 RGB frames and (T, H, W) object ids in the DAVIS layout (ids
    coloured with davis_palette, lossless PNG images so that they read back exactly)."""
    if labels.max(initial=0) > 255 or labels.min(initial=0) < 0:
        raise ValueError("object ids of a DAVIS annotation are 0..255")
    images, annotations = root / "JPEGImages" / name, root / "Annotations" / name
    images.mkdir(parents=True, exist_ok=True)
    annotations.mkdir(parents=True, exist_ok=True)
    palette = davis_palette()
    for index, (frame, label) in enumerate(zip(frames, labels)):
        stem = f"{index:05d}"
        cv2.imwrite(
            str(images / f"{stem}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100]
        )
        cv2.imwrite(str(annotations / f"{stem}.png"), cv2.cvtColor(palette[label], cv2.COLOR_RGB2BGR))


def _same_size(images: list[np.ndarray], paths: list[Path]) -> list[np.ndarray]:
    for image, path in zip(images, paths):
        if image.shape != images[0].shape:
            raise DatasetError(f"{path} is {image.shape[:2]} but {paths[0]} is {images[0].shape[:2]}")
    return images
