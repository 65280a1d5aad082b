"""Tests of the overlay drawing and the mp4 writer."""

import cv2
import numpy as np
import pytest

from sam2core.visualization import VideoWriter, object_colour, overlay


def _disc(*, centre: tuple[int, int], radius: int, shape=(120, 160)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, centre, radius, 1, cv2.FILLED)
    return mask.astype(bool)


def _grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(120, 160, 3), dtype=np.uint8)


def test_colours_are_stable_and_distinct_per_id():
    colours = [object_colour(object_id) for object_id in range(64)]
    assert colours == [object_colour(object_id) for object_id in range(64)]
    assert len(set(colours)) == len(colours)
    for colour in colours:
        assert len(colour) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in colour)


def test_overlay_leaves_the_image_alone_away_from_masks(image):
    masks = {1: _disc(centre=(40, 60), radius=20), 2: _disc(centre=(115, 60), radius=25)}
    drawn = overlay(image, masks=masks, captions=False)
    near_a_mask = _grown(masks[1] | masks[2], 2)
    np.testing.assert_array_equal(drawn[~near_a_mask], image[~near_a_mask])
    assert drawn.dtype == np.uint8 and drawn.shape == image.shape
    assert not np.array_equal(drawn[masks[1]], image[masks[1]])


def test_overlay_does_not_modify_its_input(image):
    original = image.copy()
    overlay(image, masks={3: _disc(centre=(80, 60), radius=30)}, boxes={3: (10, 10, 50, 50)}, scores={3: 0.5})
    np.testing.assert_array_equal(image, original)


def test_overlay_tints_each_object_with_its_own_colour():
    grey = np.full((120, 160, 3), 128, np.uint8)
    masks = {1: _disc(centre=(40, 60), radius=20), 7: _disc(centre=(115, 60), radius=25)}
    drawn = overlay(grey, masks=masks, alpha=0.5, captions=False)
    for object_id, mask in masks.items():
        inner = cv2.erode(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        expected = (np.array(object_colour(object_id)) + 128) / 2
        np.testing.assert_allclose(drawn[inner].mean(axis=0), expected, atol=1.0)
    assert object_colour(1) != object_colour(7)


def test_overlay_draws_boxes_and_captions(image):
    box = (20.0, 30.0, 90.0, 100.0)
    drawn = overlay(image, masks={}, boxes={4: box}, labels={4: "cup"}, scores={4: 0.87})
    assert tuple(drawn[65, 20]) == object_colour(4), "left edge of the box"
    caption_band = (slice(10, 30), slice(20, 90))
    assert not np.array_equal(drawn[caption_band], image[caption_band])
    inside_box = (slice(40, 90), slice(30, 80))
    np.testing.assert_array_equal(drawn[inside_box], image[inside_box])


def test_overlay_rejects_mismatched_inputs(image):
    with pytest.raises(ValueError):
        overlay(image, masks={1: np.zeros((10, 10), bool)})
    with pytest.raises(ValueError):
        overlay(image.astype(np.float32), masks={})


def _read_back(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


@pytest.mark.parametrize("backend", ["ffmpeg", "opencv"])
def test_video_writer_writes_a_playable_mp4(tmp_path, backend):
    path = tmp_path / "nested" / f"{backend}.mp4"
    red = np.zeros((64, 96, 3), np.uint8)
    red[..., 0] = 220
    with VideoWriter(path, fps=10, backend=backend) as writer:
        for _ in range(7):
            writer.write(red)
    frames = _read_back(path)
    assert len(frames) == 7
    assert frames[0].shape == red.shape
    assert frames[3][..., 0].mean() > 180 and frames[3][..., 2].mean() < 60, "colours stay RGB"


def test_video_writer_accepts_odd_frame_sizes(tmp_path):
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, fps=5) as writer:
        for value in range(0, 250, 50):
            writer.write(np.full((45, 67, 3), value, np.uint8))
    assert len(_read_back(path)) == 5


def test_video_writer_rejects_a_change_of_frame_size(tmp_path):
    with VideoWriter(tmp_path / "size.mp4", backend="opencv") as writer:
        writer.write(np.zeros((32, 32, 3), np.uint8))
        with pytest.raises(ValueError):
            writer.write(np.zeros((32, 48, 3), np.uint8))


def test_video_writer_refuses_frames_after_closing(tmp_path):
    writer = VideoWriter(tmp_path / "closed.mp4", backend="opencv")
    writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.close()
    with pytest.raises(ValueError):
        writer.write(np.zeros((32, 32, 3), np.uint8))
