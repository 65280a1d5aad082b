"""Your own videos in the DAVIS layout: the palette, a written-and-read-back data set, clear
errors for broken files, and the evaluation command running on it end to end."""

import dataclasses
import json

import cv2
import numpy as np
import pytest

from sam2core import build_model
from sam2core.data import BENCHMARK, HELD_OUT, generate_sequence
from sam2core.data.davis import (
    DatasetError,
    davis_palette,
    read_davis,
    read_davis_sequence,
    write_davis_sequence,
)
from sam2core.evaluation import evaluate
from sam2core.evaluation.__main__ import main as evaluation_main


@pytest.fixture(scope="module")
def sequence():
    return generate_sequence(seed=HELD_OUT.seeds[1], config=dataclasses.replace(BENCHMARK, num_frames=6))


def labels_of(sequence) -> np.ndarray:
    """(T, H, W) object ids (1..K) of a synthetic sequence's visible masks."""
    ids = np.zeros(sequence.masks.shape[:1] + sequence.masks.shape[2:], np.int32)
    for k in range(sequence.masks.shape[1]):
        ids[sequence.masks[:, k]] = k + 1
    return ids


@pytest.fixture
def dataset(tmp_path, sequence):
    write_davis_sequence(tmp_path, "clip", sequence.frames, labels_of(sequence))
    return tmp_path


def test_palette_is_the_davis_one():
    palette = davis_palette()
    assert palette[:5].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128]]
    assert len({tuple(colour) for colour in palette}) == 256


def test_written_sequence_reads_back(dataset, sequence):
    [read] = read_davis(dataset)
    num_objects = sequence.masks.shape[1]
    assert read.object_ids == tuple(range(1, num_objects + 1))
    visible = [k for k in range(num_objects) if sequence.masks[:, k].any()]
    assert np.array_equal(read.masks, sequence.masks[:, visible])
    assert np.abs(read.frames.astype(int) - sequence.frames).mean() < 2.0  # JPEG, quality 100
    assert np.array_equal(read.visibility, sequence.masks[:, visible].any(axis=(2, 3)))
    assert read.split == "davis:clip"


def test_broken_files_are_named(dataset):
    annotations = dataset / "Annotations" / "clip"
    (annotations / "00002.png").unlink()
    with pytest.raises(DatasetError, match="missing annotation .*00002.png"):
        read_davis_sequence(dataset, "clip")
    cv2.imwrite(str(annotations / "00002.png"), np.full((4, 4, 3), (10, 200, 30), np.uint8))
    with pytest.raises(DatasetError, match="00002.png: colour .* is not a DAVIS palette colour"):
        read_davis_sequence(dataset, "clip")
    (dataset / "JPEGImages" / "clip" / "00003.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="cannot read the image .*00003.jpg"):
        read_davis_sequence(dataset, "clip")
    (dataset / "JPEGImages" / "empty").mkdir()
    with pytest.raises(DatasetError, match="'empty' has no images"):
        read_davis_sequence(dataset, "empty")
    with pytest.raises(DatasetError, match="JPEGImages"):
        list(read_davis(dataset / "nowhere"))


def test_evaluation_command_on_a_davis_folder(dataset, sequence, tmp_path, capsys):
    out = tmp_path / "out"
    arguments = ["--data", str(dataset), "--format", "davis", "--checkpoint", "default", "--out", str(out)]
    assert evaluation_main(arguments) == 0
    report = json.loads((out / "evaluation.json").read_text())[dataset.name]
    [score] = report["tracker"]["sequences"]
    assert score["num_frames"] == 6
    assert report["sequence_names"] == {str(score["seed"]): "clip"}  # named by its folder
    table = capsys.readouterr().out
    assert any(line.split()[:1] == ["clip"] for line in table.splitlines()), table
    # Read back from JPEGs and palette PNGs, the clip scores as the synthetic sequence it was
    # written from (the JPEG's rounding of the frames is all that differs).
    direct = evaluate(build_model("sam2.1_hiera_demo", checkpoint="default"), [sequence], prompt="mask", description="")
    assert report["tracker"]["jf"] == pytest.approx(direct.tracker.jf, abs=0.05)
    (dataset / "Annotations" / "clip" / "00001.png").unlink()
    assert evaluation_main(arguments) == 2
    assert "missing annotation" in capsys.readouterr().err


def test_evaluation_of_single_images_says_to_use_videos(tmp_path, capsys):
    for data_format in ("masks", "coco"):
        arguments = ["--data", str(tmp_path), "--format", data_format, "--out", str(tmp_path / "out")]
        with pytest.raises(SystemExit) as exit_status:
            evaluation_main(arguments)
        assert exit_status.value.code == 2
        assert f"--format {data_format} holds single images" in capsys.readouterr().err
