"""sam2_ros.conversions without a ROS graph: images, masks, results and prompts, good and malformed."""

import dataclasses
import math

import cv2
import numpy as np
import pytest
import torch
from geometry_msgs.msg import Point32
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from sam2_ros import conversions
from sam2_ros.conversions import ConversionError
from sam2_ros.depth_messages import fill_tracked_object
from sam2_ros.msg import Prompt as PromptMsg
from sam2_ros.msg import TrackedObject
from sam2core.locating import ObjectDepth, VisibilityReason
from sam2core.tracking import ObjectResult, TrackHealth
from sam2core.tracking.results import mask_geometry

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)  # (H, W, 3)
HEADER = Header(frame_id="camera")
HEADER.stamp.sec, HEADER.stamp.nanosec = 12, 345


def image_msg(pixels: np.ndarray, encoding: str, padding: int = 0, bigendian: bool = False) -> Image:
    """An Image of `pixels` (H, W[, C]) with `padding` junk bytes after every row."""
    height, width = pixels.shape[:2]
    if pixels.dtype == np.uint16:
        pixels = pixels.astype(">u2" if bigendian else "<u2")
    rows = pixels.reshape(height, -1).view(np.uint8)
    junk = np.full((height, padding), 0xAB, np.uint8)
    data = np.hstack([rows, junk])
    return Image(header=HEADER, height=height, width=width, encoding=encoding, is_bigendian=int(bigendian),
                 step=data.shape[1], data=data.tobytes())  # fmt: skip


# ----------------------------------------------------------------------------- images in


@pytest.mark.parametrize("padding", [0, 3, 64])
@pytest.mark.parametrize(
    "encoding, pixels",
    [
        ("rgb8", RGB),
        ("bgr8", RGB[..., ::-1]),
        ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 7, np.uint8)])),
        ("bgra8", np.dstack([RGB[..., ::-1], np.full(RGB.shape[:2], 7, np.uint8)])),
    ],
)
def test_colour_encodings_give_rgb(encoding, pixels, padding):
    rgb = conversions.image_to_rgb(image_msg(np.ascontiguousarray(pixels), encoding, padding))
    assert rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb, RGB)


@pytest.mark.parametrize("padding", [0, 5])
def test_mono8_is_grey_rgb(padding):
    grey = RGB[..., 0]
    rgb = conversions.image_to_rgb(image_msg(grey, "mono8", padding))
    np.testing.assert_array_equal(rgb, np.dstack([grey] * 3))


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("padding", [0, 2])
def test_16_bit_encodings_honour_the_byte_order(bigendian, padding):
    wide = RGB.astype(np.uint16) * 256 + 0x7F  # high byte = the 8-bit value, low byte = noise
    rgb = conversions.image_to_rgb(image_msg(wide, "rgb16", padding, bigendian))
    np.testing.assert_array_equal(rgb, RGB)
    bgr = conversions.image_to_rgb(image_msg(np.ascontiguousarray(wide[..., ::-1]), "bgr16", padding, bigendian))
    np.testing.assert_array_equal(bgr, RGB)
    mono = conversions.image_to_rgb(image_msg(wide[..., 1], "mono16", padding, bigendian))
    np.testing.assert_array_equal(mono, np.dstack([RGB[..., 1]] * 3))


def test_wrong_byte_order_flag_changes_16_bit_result():
    wide = RGB.astype(np.uint16) * 256
    msg = image_msg(wide, "rgb16", bigendian=False)
    msg.is_bigendian = 1
    assert not np.array_equal(conversions.image_to_rgb(msg), RGB)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(encoding="32FC1"), "unsupported image encoding '32FC1'"),
        (dict(encoding="yuv422"), "unsupported image encoding"),
        (dict(step=7 * 3 - 1), "step 20 is smaller than a row"),
        (dict(data=bytes(7 * 3 * 5 - 1)), "fewer than step \\* height"),
        (dict(height=0, data=b""), "image is empty"),
    ],
)
def test_malformed_images_raise(change, message):
    msg = image_msg(RGB, "rgb8")
    for name, value in change.items():
        setattr(msg, name, value)
    with pytest.raises(ConversionError, match=message):
        conversions.image_to_rgb(msg)
    assert issubclass(ConversionError, ValueError)


def test_png_and_jpeg_decode_to_rgb():
    big = cv2.resize(RGB, (70, 50), interpolation=cv2.INTER_NEAREST)
    ok, png = cv2.imencode(".png", cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    assert ok
    np.testing.assert_array_equal(conversions.compressed_to_rgb(CompressedImage(format="png", data=png.tobytes())), big)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])
    decoded = conversions.compressed_to_rgb(CompressedImage(format="rgb8; jpeg compressed bgr8", data=jpeg.tobytes()))
    assert decoded.shape == big.shape and np.abs(decoded.astype(int) - big).mean() < 8


@pytest.mark.parametrize(
    "msg, message",
    [
        (CompressedImage(format="jpeg", data=b"not an image"), "cannot decode"),
        (CompressedImage(format="16UC1; compressedDepth png", data=b"x"), "compressed depth"),
    ],
)
def test_undecodable_compressed_images_raise(msg, message):
    with pytest.raises(ConversionError, match=message):
        conversions.compressed_to_rgb(msg)


# ----------------------------------------------------------------------------- images out


def test_rgb_round_trip_and_header():
    msg = conversions.rgb_to_image(RGB[:, ::-1], HEADER)  # a non-contiguous view
    assert (msg.encoding, msg.width, msg.height, msg.step, msg.header) == ("rgb8", 7, 5, 21, HEADER)
    np.testing.assert_array_equal(conversions.image_to_rgb(msg), RGB[:, ::-1])
    with pytest.raises(ConversionError):
        conversions.rgb_to_image(RGB[..., 0], HEADER)


def test_overlay_is_an_rgb8_image_of_the_input_size():
    mask = torch.zeros(5, 7)
    mask[1:3, 2:5] = 4.0
    msg = conversions.overlay_image(RGB, [object_result(mask, score=2.0)], HEADER)
    assert (msg.encoding, msg.height, msg.width, msg.header) == ("rgb8", 5, 7, HEADER)
    assert not np.array_equal(conversions.image_to_rgb(msg), RGB)


# ----------------------------------------------------------------------------- tracker results


def object_result(logits: torch.Tensor, score: float, object_id: int = 4, pointer_length: int = 64) -> ObjectResult:
    pointer = torch.arange(pointer_length, dtype=torch.float32) / 8
    return ObjectResult(object_id, logits, score, 0.75, pointer, mask_geometry(logits > 0))


def disc_logits(height=48, width=64) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return 6.0 - ((yy - 20.0) ** 2 + (xx - 30.0) ** 2).sqrt()  # > 0 inside a disc of radius 6 at (30, 20)


def test_visible_object_becomes_a_mono8_mask_with_its_geometry():
    logits = disc_logits()
    msg = conversions.tracked_object(object_result(logits, score=2.0), HEADER)
    mask = np.frombuffer(msg.mask.data, np.uint8).reshape(48, 64)
    expected = (logits > 0).numpy()
    assert (msg.mask.encoding, msg.mask.width, msg.mask.height, msg.mask.header) == ("mono8", 64, 48, HEADER)
    np.testing.assert_array_equal(mask, expected * 255)
    ys, xs = np.nonzero(expected)
    assert msg.mask_area == expected.sum()
    assert (msg.box.x_offset, msg.box.y_offset) == (xs.min(), ys.min())
    assert (msg.box.width, msg.box.height) == (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    assert math.isclose(msg.centroid.x, xs.mean()) and math.isclose(msg.centroid.y, ys.mean())
    assert msg.visible and math.isclose(msg.visibility, 1 / (1 + math.exp(-2.0)), rel_tol=1e-6)
    assert (msg.object_id, msg.object_score, msg.predicted_iou) == (4, 2.0, 0.75)
    assert list(msg.object_pointer) == [i / 8 for i in range(64)]


def test_hidden_object_has_an_all_zero_mask_and_empty_geometry():
    msg = conversions.tracked_object(object_result(disc_logits(), score=-1.0), HEADER)
    assert not msg.visible and msg.visibility < 0.5
    assert not any(msg.mask.data) and msg.mask_area == 0
    assert (msg.box.width, msg.box.height, msg.centroid.x) == (0, 0, 0.0)
    assert len(msg.object_pointer) == 64


def test_object_lost_to_another_is_hidden_with_its_reason():
    """A track whose mask other tracks took is published hidden, with the LOST_TO_OTHER reason,
    and a depth stage's reason does not overwrite it; a tracked object keeps NO_DEPTH."""
    lost = dataclasses.replace(object_result(disc_logits(), score=2.0), health=TrackHealth.LOST_TO_OTHER)
    msg = conversions.tracked_object(lost, HEADER)
    assert msg.visibility_reason == TrackedObject.REASON_LOST_TO_OTHER
    assert not msg.visible and msg.visibility > 0.5 and not any(msg.mask.data) and msg.mask_area == 0
    fill_tracked_object(msg, ObjectDepth(lost.object_id, VisibilityReason.LOST))
    assert msg.visibility_reason == TrackedObject.REASON_LOST_TO_OTHER
    tracked = conversions.tracked_object(object_result(disc_logits(), score=2.0), HEADER)
    assert tracked.visible and tracked.visibility_reason == TrackedObject.REASON_NO_DEPTH
    fill_tracked_object(tracked, ObjectDepth(4, VisibilityReason.VISIBLE))
    assert tracked.visibility_reason == TrackedObject.REASON_VISIBLE


def test_probability_masks_scale_the_sigmoid():
    logits = disc_logits()
    msg = conversions.tracked_object(object_result(logits, score=1.0), HEADER, mask_encoding="mono8_probability")
    mask = np.frombuffer(msg.mask.data, np.uint8).reshape(48, 64)
    expected = np.where(logits > 0, np.rint(torch.sigmoid(logits).numpy() * 255), 0)
    np.testing.assert_array_equal(mask, expected)
    assert 250 <= mask.max() and 128 <= mask[mask > 0].min() < 250
    with pytest.raises(ConversionError, match="unknown mask encoding"):
        conversions.tracked_object(object_result(logits, score=1.0), HEADER, mask_encoding="rle")


def test_array_keeps_the_image_header_and_orders_objects():
    results = [object_result(disc_logits(), 1.0, object_id=9), object_result(disc_logits(), 1.0, object_id=2)]
    msg = conversions.tracked_object_array(HEADER, 17, results, (48, 64))
    assert (msg.header, msg.frame_index, [o.object_id for o in msg.objects]) == (HEADER, 17, [2, 9])
    assert conversions.tracked_object_array(HEADER, 3, [], (48, 64)).objects == []


def test_array_gives_the_image_size_with_objects_or_none():
    msg = conversions.tracked_object_array(HEADER, 5, [object_result(disc_logits(), 1.0)], (48, 64))
    assert (msg.image_height, msg.image_width) == (48, 64)
    empty = conversions.tracked_object_array(HEADER, 5, [], (48, 64))
    assert (empty.image_height, empty.image_width) == (48, 64)


# ----------------------------------------------------------------------------- lighter masks and labels


@pytest.mark.parametrize("mask_encoding", conversions.MASK_ENCODINGS)
def test_cropped_mask_is_the_box_and_decodes_to_the_full_mask(mask_encoding):
    result = object_result(disc_logits(), score=1.0)
    full = conversions.tracked_object(result, HEADER, mask_encoding)
    cropped = conversions.tracked_object(result, HEADER, mask_encoding, mask_mode="cropped")
    assert (cropped.mask.width, cropped.mask.height) == (cropped.box.width, cropped.box.height) == (11, 11)
    assert len(cropped.mask.data) == 11 * 11 < len(full.mask.data) / 25
    assert (cropped.box, cropped.mask_area, cropped.centroid) == (full.box, full.mask_area, full.centroid)
    expected = np.frombuffer(full.mask.data, np.uint8).reshape(48, 64)
    np.testing.assert_array_equal(conversions.object_mask(cropped, 48, 64), expected)
    np.testing.assert_array_equal(conversions.object_mask(full, 48, 64), expected)


def test_hidden_or_unpublished_masks_are_empty_and_decode_to_zero():
    hidden = conversions.tracked_object(object_result(disc_logits(), score=-1.0), HEADER, mask_mode="cropped")
    unpublished = conversions.tracked_object(object_result(disc_logits(), score=1.0), HEADER, mask_mode="none")
    for msg in (hidden, unpublished):
        assert (msg.mask.width, msg.mask.height, len(msg.mask.data)) == (0, 0, 0)
        assert not conversions.object_mask(msg, 48, 64).any()
    assert unpublished.mask_area == (disc_logits() > 0).sum() and unpublished.visible
    with pytest.raises(ConversionError, match="unknown mask mode"):
        conversions.tracked_object(object_result(disc_logits(), score=1.0), HEADER, mask_mode="rle")


def test_cropped_mask_that_does_not_fit_the_image_raises():
    cropped = conversions.tracked_object(object_result(disc_logits(), score=1.0), HEADER, mask_mode="cropped")
    with pytest.raises(ConversionError, match="does not fit"):
        conversions.object_mask(cropped, 20, 30)


def shifted_disc(dx: int, height: int = 48, width: int = 64) -> torch.Tensor:
    return torch.roll(disc_logits(height, width), dx, dims=1)


def test_labels_round_trip_with_overlap_won_by_the_larger_logit():
    left, right = shifted_disc(-4), shifted_disc(4) + 0.5  # overlapping discs; the right one is surer
    results = [object_result(left, 1.0, object_id=0), object_result(right, 1.0, object_id=7),
               object_result(shifted_disc(20), -1.0, object_id=9)]  # fmt: skip
    msg = conversions.labels_image(results, (48, 64), HEADER)
    assert (msg.encoding, msg.width, msg.height, msg.step, msg.header) == ("mono8", 64, 48, 64, HEADER)
    objects = conversions.objects_in_labels(msg)
    assert set(objects) == {0, 7}  # the hidden object 9 is not in it
    overlap = ((left > 0) & (right > 0)).numpy()
    right_wins = (right > left).numpy()
    assert (overlap & right_wins).sum() > 10 and (overlap & ~right_wins).sum() > 10  # both win somewhere
    np.testing.assert_array_equal(objects[7], (right > 0).numpy() & (right_wins | ~overlap))
    np.testing.assert_array_equal(objects[0], (left > 0).numpy() & ~(overlap & right_wins))


def test_equal_logits_go_to_the_lower_id():
    results = [object_result(disc_logits(), 1.0, object_id=5), object_result(disc_logits(), 1.0, object_id=3)]
    assert set(conversions.objects_in_labels(conversions.labels_image(results, (48, 64), HEADER))) == {3}


def test_labels_switch_to_mono16_for_large_ids_and_refuse_ids_beyond_it():
    results = [object_result(shifted_disc(-10), 1.0, object_id=2), object_result(shifted_disc(10), 1.0, object_id=300)]
    msg = conversions.labels_image(results, (48, 64), HEADER)
    assert (msg.encoding, msg.step, msg.is_bigendian) == ("mono16", 128, 0)
    assert np.frombuffer(msg.data, "<u2").max() == 301
    objects = conversions.objects_in_labels(msg)
    np.testing.assert_array_equal(objects[300], (shifted_disc(10) > 0).numpy())
    np.testing.assert_array_equal(objects[2], (shifted_disc(-10) > 0).numpy())
    with pytest.raises(ConversionError, match="does not fit a labels image"):
        conversions.labels_image([object_result(disc_logits(), 1.0, object_id=70000)], (48, 64), HEADER)


def test_labels_of_no_object_are_all_zero_and_other_encodings_are_refused():
    msg = conversions.labels_image([], (48, 64), HEADER)
    assert (msg.width, msg.height, any(msg.data)) == (64, 48, False)
    assert conversions.objects_in_labels(msg) == {}
    with pytest.raises(ConversionError, match="mono8 or mono16"):
        conversions.objects_in_labels(image_msg(np.zeros((4, 4, 3), np.uint8), "rgb8"))


# ----------------------------------------------------------------------------- prompts


def prompt_msg(**fields) -> PromptMsg:
    return PromptMsg(header=HEADER, object_id=fields.pop("object_id", 3), **fields)


def test_clicks_box_and_mask_become_a_sam2core_prompt():
    points = [Point32(x=1.5, y=2.0), Point32(x=30.0, y=40.25)]
    prompt = conversions.prompt_from_msg(prompt_msg(points=points, labels=[1, 0], has_box=True,
                                                    box_x0=1.0, box_y0=2.0, box_x1=30.0, box_y1=40.0))  # fmt: skip
    np.testing.assert_array_equal(prompt.points, [[1.5, 2.0], [30.0, 40.25]])
    np.testing.assert_array_equal(prompt.labels, [1, 0])
    assert prompt.box == (1.0, 2.0, 30.0, 40.0) and prompt.mask is None

    mask = np.zeros((5, 7), np.uint8)
    mask[1:3, 2:4] = 200
    prompt = conversions.prompt_from_msg(prompt_msg(mask=image_msg(mask, "mono8", padding=3)))
    np.testing.assert_array_equal(prompt.mask, mask > 0)
    assert prompt.points is None and prompt.box is None


def test_box_is_ignored_without_has_box_and_empty_prompt_stays_empty():
    prompt = conversions.prompt_from_msg(prompt_msg(box_x0=1.0, box_x1=5.0))
    assert (prompt.points, prompt.labels, prompt.box, prompt.mask) == (None, None, None, None)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(points=[Point32(x=1.0, y=2.0)], labels=[1, 0]), "1 points but 2 labels"),
        (dict(points=[Point32(x=1.0, y=2.0)], labels=[2]), r"LABEL_POSITIVE \(1\) or LABEL_NEGATIVE \(0\), got \[2\]"),
        (dict(points=[Point32(x=float("nan"), y=2.0)], labels=[1]), "finite"),
        (dict(has_box=True, box_x0=0.0, box_y0=float("inf"), box_x1=3.0, box_y1=3.0), "finite"),
        (dict(object_id=-1), "object_id must be >= 0"),
        (dict(mask=image_msg(RGB, "rgb8")), "must be mono8"),
        (dict(mask=Image(width=7, height=5, encoding="mono8", step=7, data=bytes(20))), "fewer than step"),
    ],
)
def test_malformed_prompts_raise(fields, message):
    with pytest.raises(ConversionError, match=message):
        conversions.prompt_from_msg(prompt_msg(**fields))


def test_stamp_to_ns():
    assert conversions.stamp_to_ns(HEADER.stamp) == 12_000_000_345
