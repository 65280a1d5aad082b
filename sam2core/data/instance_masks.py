"""Your own single images with instance masks, as one-frame SceneSequences for training:

- `masks` layout: ROOT/images/<name>.jpg|png and ROOT/masks/<name>.png, one mask per image, each
  pixel the id of its instance (0 background; 8- or 16-bit grey).
- `coco` layout: a COCO instances JSON (ROOT/annotations.json, or the file given) whose images
  lie beside it (or in ROOT/images), with segmentations as polygons, uncompressed RLE or COCO's
  compressed RLE strings.

Missing or unreadable files, masks of another size and malformed annotations raise
DatasetError naming the file.
"""

import json
from pathlib import Path

import cv2
import numpy as np

from sam2core.data.davis import IMAGE_SUFFIXES, DatasetError, read_rgb
from sam2core.data.sequence import SceneSequence
from sam2core.masks import decode_coco_counts, rle_to_mask


def read_mask_folder(root: Path) -> list[SceneSequence]:
    """Every image of ROOT/images with its instance mask from ROOT/masks."""
    root = Path(root)
    images = sorted(p for p in (root / "images").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(f"no images in {root / 'images'}")
    sequences = []
    for index, path in enumerate(images):
        mask_path = root / "masks" / f"{path.stem}.png"
        ids = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED) if mask_path.is_file() else None
        if ids is None:
            raise DatasetError(f"missing or unreadable mask {mask_path}")
        if ids.ndim != 2:
            raise DatasetError(f"{mask_path}: instance masks are one grey channel, got shape {ids.shape}")
        rgb = read_rgb(path)
        object_ids = [int(i) for i in np.unique(ids) if i != 0]
        masks = np.stack([ids == i for i in object_ids]) if object_ids else np.zeros((0, *ids.shape), bool)
        sequences.append(single_frame(rgb, masks, tuple(object_ids), f"masks:{path.stem}", index, mask_path))
    return sequences


def read_coco(path: Path) -> list[SceneSequence]:
    """Every image of a COCO instances JSON that has at least one annotation."""
    path = Path(path)
    json_path = path / "annotations.json" if path.is_dir() else path
    try:
        document = json.loads(json_path.read_text())
        images = {image["id"]: image for image in document["images"]}
        annotations = document["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DatasetError(f"{json_path} is not a COCO instances file: {error}") from None
    by_image: dict[int, list[dict]] = {}
    for annotation in annotations:
        by_image.setdefault(annotation.get("image_id"), []).append(annotation)
    sequences = []
    for index, (image_id, image_annotations) in enumerate(sorted(by_image.items(), key=lambda item: str(item[0]))):
        if image_id not in images:
            raise DatasetError(f"{json_path}: annotation for unknown image id {image_id}")
        image = images[image_id]
        candidates = [json_path.parent / image["file_name"], json_path.parent / "images" / image["file_name"]]
        rgb = read_rgb(next((p for p in candidates if p.is_file()), candidates[0]))
        height, width = rgb.shape[:2]
        masks = np.stack([_coco_mask(a, height, width, json_path) for a in image_annotations])
        object_ids = tuple(range(1, len(masks) + 1))
        sequences.append(single_frame(rgb, masks, object_ids, f"coco:{image['file_name']}", index, json_path))
    if not sequences:
        raise DatasetError(f"{json_path} has no annotations")
    return sequences


def single_frame(
    rgb: np.ndarray, masks: np.ndarray, object_ids: tuple[int, ...], split: str, index: int, source: Path
) -> SceneSequence:
    """A one-frame SceneSequence of an image (H, W, 3) and its instance masks (K, H, W) bool."""
    if masks.shape[1:] != rgb.shape[:2]:
        raise DatasetError(f"{source}: mask is {masks.shape[1:]} but the image is {rgb.shape[:2]}")
    visibility = masks.any(axis=(1, 2))[None]
    return SceneSequence(
        frames=rgb[None],
        masks=masks[None],
        full_masks=masks[None],
        visibility=visibility,
        object_ids=object_ids,
        hidden=(),
        seed=index,
        split=split,
        photos=(),
    )


def _coco_mask(annotation: dict, height: int, width: int, source: Path) -> np.ndarray:
    """(H, W) bool mask of one COCO annotation's segmentation."""
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, list):  # polygons [x0, y0, x1, y1, ...]
        mask = np.zeros((height, width), np.uint8)
        polygons = [np.round(np.asarray(p, float).reshape(-1, 2)).astype(np.int32) for p in segmentation]
        cv2.fillPoly(mask, polygons, 1)
        return mask.astype(bool)
    if isinstance(segmentation, dict) and "counts" in segmentation:
        counts = segmentation["counts"]
        if isinstance(counts, str):
            counts = decode_coco_counts(counts)
        if list(segmentation.get("size", [])) != [height, width]:
            raise DatasetError(f"{source}: RLE of annotation {annotation.get('id')} is not {height}x{width}")
        try:
            return rle_to_mask({"size": [height, width], "counts": counts})
        except ValueError as error:
            raise DatasetError(f"{source}: annotation {annotation.get('id')}: {error}") from None
    raise DatasetError(f"{source}: annotation {annotation.get('id')} has no polygon or RLE segmentation")
