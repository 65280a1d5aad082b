"""Your own images with instance masks (a masks folder, COCO JSON) and fine-tuning on them and
on DAVIS videos: readers checked against the masks they were written from, clear errors for
broken files, and `python -m sam2core.train --data` running end to end."""

import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch

from sam2core import load_checkpoint
from sam2core.data import BENCHMARK, HELD_OUT, generate_sequence
from sam2core.data.datasets import read_data
from sam2core.data.davis import DatasetError, write_davis_sequence
from sam2core.data.instance_masks import read_coco, read_mask_folder
from sam2core.masks import coco_rle, mask_to_rle
from sam2core.train.__main__ import main as train_main
from sam2core.train.own_data import sample_clip


@pytest.fixture(scope="module")
def sequence():
    return generate_sequence(seed=HELD_OUT.seeds[2], config=dataclasses.replace(BENCHMARK, num_frames=4))


def instance_ids(masks: np.ndarray) -> np.ndarray:
    """(K, H, W) bool -> (H, W) uint16 ids 1..K (0 background)."""
    ids = np.zeros(masks.shape[1:], np.uint16)
    for k, mask in enumerate(masks):
        ids[mask] = k + 1
    return ids


@pytest.fixture
def mask_folder(tmp_path, sequence):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for t, frame in enumerate(sequence.frames):
        cv2.imwrite(str(tmp_path / "images" / f"im{t}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(tmp_path / "masks" / f"im{t}.png"), instance_ids(sequence.masks[t]))
    return tmp_path


def test_mask_folder_reads_back(mask_folder, sequence):
    images = read_mask_folder(mask_folder)
    assert len(images) == len(sequence.frames)
    for t, image in enumerate(images):
        assert np.array_equal(image.frames[0], sequence.frames[t])
        visible = [k for k in range(sequence.masks.shape[1]) if sequence.masks[t, k].any()]
        assert np.array_equal(image.masks[0], sequence.masks[t, visible])
        assert image.object_ids == tuple(k + 1 for k in visible)


def test_mask_folder_errors_name_the_file(mask_folder):
    (mask_folder / "masks" / "im1.png").unlink()
    with pytest.raises(DatasetError, match="missing or unreadable mask .*im1.png"):
        read_mask_folder(mask_folder)
    cv2.imwrite(str(mask_folder / "masks" / "im1.png"), np.zeros((5, 5), np.uint8))
    with pytest.raises(DatasetError, match="im1.png: mask is"):
        read_mask_folder(mask_folder)


def test_coco_polygons_and_both_rles(tmp_path):
    image = np.full((12, 16, 3), 90, np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    square = np.zeros((1, 12, 16), bool)
    square[0, 2:6, 9:14] = True
    plain = mask_to_rle(torch.from_numpy(square))[0]
    document = {
        "images": [{"id": 7, "file_name": "a.png", "height": 12, "width": 16}],
        "annotations": [
            {"id": 1, "image_id": 7, "segmentation": [[2, 3, 10, 3, 10, 8, 2, 8]]},
            {"id": 2, "image_id": 7, "segmentation": coco_rle(plain)},
            {"id": 3, "image_id": 7, "segmentation": plain},
        ],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(document))
    [read] = read_coco(tmp_path)
    polygon = np.zeros((12, 16), bool)
    polygon[3:9, 2:11] = True  # the polygon's pixels, its edges included
    assert np.array_equal(read.masks[0, 0], polygon)
    assert np.array_equal(read.masks[0, 1], square[0]) and np.array_equal(read.masks[0, 2], square[0])
    document["annotations"][1]["segmentation"] = {"size": [12, 16], "counts": [5]}
    (tmp_path / "annotations.json").write_text(json.dumps(document))
    with pytest.raises(DatasetError, match="annotation 2: RLE counts add up to 5"):
        read_coco(tmp_path)
    (tmp_path / "annotations.json").write_text("{")
    with pytest.raises(DatasetError, match="annotations.json is not a COCO instances file"):
        read_coco(tmp_path)


def test_sampled_clips_are_square_and_start_with_visible_objects(tmp_path, sequence):
    labels = np.zeros(sequence.frames.shape[:3], np.uint16)
    labels[:, 5:20, 5:20] = 1
    labels[2:, 30:40, 30:40] = 2  # object 2 appears on frame 2
    write_davis_sequence(tmp_path, "clip", sequence.frames, labels)
    sequences = read_data(tmp_path, "davis")
    rng = np.random.default_rng(0)
    clips = [sample_clip(sequences, rng, length=2, side=64) for _ in range(12)]
    assert all(clip.frames.shape == (2, 64, 64, 3) and clip.masks.shape[2:] == (64, 64) for clip in clips)
    assert all(clip.visibility[0].all() for clip in clips)
    assert {clip.object_ids for clip in clips} == {(1,), (1, 2)}


@pytest.mark.parametrize("data_format, stage", [("masks", "images"), ("davis", "clips")])
def test_train_command_fine_tunes_on_own_data(data_format, stage, tmp_path, mask_folder, sequence):
    data = mask_folder
    if data_format == "davis":
        data = tmp_path / "davis"
        write_davis_sequence(data, "clip", sequence.frames, instance_ids(sequence.masks.transpose(1, 0, 2, 3)))
    out = tmp_path / "run"
    train_main(
        [
            "--data",
            str(data),
            "--format",
            data_format,
            "--stage",
            stage,
            "--steps",
            "2",
            "--clips-per-step",
            "2",
            "--clip-length",
            "2",
            "--init",
            "default",
            "--out",
            str(out),
            "--evaluate-every",
            "1000",
        ]
    )
    assert (out / "checkpoint.pt").is_file()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all(np.isfinite(entry["total"]) for entry in log)
    from sam2core import build_model

    load_checkpoint(build_model("sam2.1_hiera_demo"), out / "checkpoint.pt")


def test_train_command_refuses_clips_of_single_images(mask_folder, tmp_path):
    with pytest.raises(SystemExit):
        train_main(["--data", str(mask_folder), "--format", "masks", "--stage", "clips", "--out", str(tmp_path)])
