"""Objects in 3D without a graph: back-projection, depth images, the stamp matcher, positions,
visibility reasons, and the cloud, markers and transforms the node publishes."""

import struct

import numpy as np
import pytest
import torch
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from sam2_ros.depth import DepthError, DepthStage, camera_from_info, depth_to_metres, serialized_stamp_ns
from sam2_ros.depth_messages import (
    CLOUD_DTYPE,
    MarkerBook,
    camera_info,
    depth_image,
    fill_tracked_object,
    object_transforms,
    point_cloud,
)
from sam2_ros.msg import TrackedObject
from sam2_ros.pairing import StampMatcher
from sam2core.geometry import PinholeCamera
from sam2core.locating import DepthSettings, ObjectDepth, ObjectLocator, VisibilityReason, measure
from sam2core.tracking import ObjectResult

CAMERA = PinholeCamera(fx=100.0, fy=200.0, cx=50.0, cy=40.0, width=101, height=81)
HEADER = Header(frame_id="camera_color_optical_frame")


def test_back_projection_matches_hand_computed_points():
    points = CAMERA.back_project(np.array([150.0, 50.0, 0.0]), np.array([40.0, 80.0, 0.0]), np.array([2.0, 1.0, 4.0]))
    # x = (u - cx) z / fx, y = (v - cy) z / fy
    np.testing.assert_allclose(points, [[2.0, 0.0, 2.0], [0.0, 0.2, 1.0], [-2.0, -0.8, 4.0]], rtol=1e-6)
    np.testing.assert_allclose(CAMERA.project(points), [[150, 40], [50, 80], [0, 0]], atol=1e-4)


def test_field_of_view_camera_and_resizing():
    camera = PinholeCamera.from_field_of_view(640, 480, 90.0)
    assert (camera.fx, camera.cx, camera.cy) == pytest.approx((320.0, 319.5, 239.5))
    half = camera.resized(320, 240)
    assert (half.fx, half.fy, half.cx, half.cy) == pytest.approx((160.0, 160.0, 159.5, 119.5))
    with pytest.raises(ValueError, match="positive focal"):
        PinholeCamera(0.0, 1.0, 0.0, 0.0, 4, 4)


def test_camera_info_round_trip_and_scaling():
    info = camera_info(CAMERA, HEADER)
    assert camera_from_info(info, 81, 101) == CAMERA
    assert camera_from_info(info, 162, 202).fx == pytest.approx(200.0)
    with pytest.raises(DepthError, match="no image size"):
        camera_from_info(CameraInfo(), 81, 101)
    with pytest.raises(DepthError, match="unusable"):
        camera_from_info(CameraInfo(width=101, height=81), 81, 101)  # K all zero


def test_depth_images_in_millimetres_and_metres():
    millimetres = np.array([[1000, 0], [2500, 65535]], np.uint16)
    np.testing.assert_allclose(depth_to_metres(depth_image(millimetres, HEADER)), [[1.0, np.nan], [2.5, 65.535]])
    metres = np.array([[1.5, np.nan], [np.inf, -1.0]], np.float32)
    np.testing.assert_allclose(depth_to_metres(depth_image(metres, HEADER)), [[1.5, np.nan], [np.nan, np.nan]])
    big_endian_padded = Image(height=1, width=2, encoding="16UC1", is_bigendian=1, step=6,
                              data=np.array([1000, 2000, 7], ">u2").tobytes())  # fmt: skip
    np.testing.assert_allclose(depth_to_metres(big_endian_padded), [[1.0, 2.0]])
    with pytest.raises(DepthError, match="unsupported depth encoding 'rgb8'"):
        depth_to_metres(Image(height=1, width=1, encoding="rgb8", step=3, data=b"abc"))
    with pytest.raises(DepthError, match="malformed"):
        depth_to_metres(Image(height=2, width=2, encoding="16UC1", step=4, data=b"\0" * 4))


def test_stamps_are_read_from_serialised_depth_without_deserialising_it():
    header = Header()
    header.stamp.sec, header.stamp.nanosec = 1_700_000_123, 456_789
    raw = serialize_message(depth_image(plane(1.0, 2, 2), header))
    assert serialized_stamp_ns(raw) == 1_700_000_123 * 10**9 + 456_789
    big_endian = b"\x00\x00\x00\x00" + struct.pack(">iI", 7, 8) + raw[12:]
    assert serialized_stamp_ns(big_endian) == 7 * 10**9 + 8
    with pytest.raises(DepthError, match="has no header"):
        serialized_stamp_ns(b"\x00\x01")


def test_undeserialisable_depth_is_a_warning():
    warnings = []
    stage = DepthStage(DepthSettings(), max_offset_ns=0, buffer_size=4, warn=warnings.append)
    stage.set_camera_info(camera_info(CAMERA, HEADER))
    stage.add_depth(b"\x00\x01\x00\x00" + struct.pack("<iI", 0, 0) + b"not an image")
    stage.add_depth(b"\x00")
    assert stage.locate(stage.pairing.matcher.match(0), [result(1, square_mask())], 0)[0].position is None
    assert stage.rejected == 2 and "cannot be deserialised" in warnings[-1]


def test_matcher_late_missing_and_reordered_depth():
    matcher = StampMatcher(max_offset_ns=20_000_000, capacity=3)
    assert matcher.match(1_000_000_000) is None  # missing: nothing buffered
    matcher.add(1_030_000_000, "late")  # arrives after its colour image was received, before it is tracked
    assert matcher.match(1_033_000_000) == "late"
    assert not matcher.has_match(1_060_000_000)  # the colour image waits in the mailbox for it
    matcher.add(1_060_000_000, "still on its way")
    assert matcher.has_match(1_060_000_000) and matcher.match(1_060_000_000) == "still on its way"
    matcher.add(1_100_000_000, "newer")
    matcher.add(1_066_000_000, "older, arrived second")  # reordered stamps
    assert matcher.match(1_070_000_000) == "older, arrived second"
    assert matcher.match(1_095_000_000) == "newer"
    assert matcher.match(1_200_000_000) is None  # 100 ms away from every buffered stamp
    matcher.add(1_100_000_000, "same stamp, newest wins")
    assert matcher.match(1_100_000_000) == "same stamp, newest wins"
    matcher.add(1_130_000_000, "fourth")  # capacity 3: the oldest stamp (1.060 s) goes
    assert matcher.match(1_040_000_000) is None
    assert (matcher.matched, matcher.unmatched) == (5, 3)


def plane(z: float, height: int = 81, width: int = 101) -> np.ndarray:
    return np.full((height, width), z, np.float32)


def square_mask(top=30, left=40, size=21, height=81, width=101) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[top : top + size, left : left + size] = True
    return mask


def test_position_is_the_median_over_the_eroded_mask_ignoring_invalid_depth():
    mask = square_mask()
    depth = plane(3.0)
    depth[mask] = 2.0
    depth[30:33, 40:61] = 2.9  # the mask's top rows bleed onto the background: eroded away
    depth[40, 45:55] = np.nan  # no readings
    found = measure(mask, depth, CAMERA, DepthSettings(erosion=3))
    inner = square_mask(33, 43, 15) & np.isfinite(depth)
    assert found.depth_points == inner.sum()
    # the square's centre pixel (50, 40) at 2 m is the camera's axis
    np.testing.assert_allclose(found.position, [0.0, 0.0, 2.0], atol=1e-6)
    # box of the inlier points: columns 43..57, rows 33..47 at 2 m
    np.testing.assert_allclose(found.extent_min, [(43 - 50) * 2 / 100, (33 - 40) * 2 / 200, 2.0], rtol=1e-5)
    np.testing.assert_allclose(found.extent_max, [(57 - 50) * 2 / 100, (47 - 40) * 2 / 200, 2.0], rtol=1e-5)
    assert measure(mask, plane(np.nan), CAMERA, DepthSettings()) is None


def test_a_mask_half_on_the_object_half_on_the_wall_has_a_measured_median():
    mask = square_mask(size=20)
    depth = plane(1.0)
    depth[:, 50:] = 4.0  # no reading lies near the midpoint 2.5 m of the two middle ones
    found = measure(mask, depth, CAMERA, DepthSettings(erosion=0, inlier_distance=0.15))
    assert found.position[2] == 1.0 and found.extent_max[2] == 1.0 and len(found.points) == 200


def test_tiny_masks_fall_back_to_every_pixel():
    mask = square_mask(size=3)
    found = measure(mask, plane(1.5), CAMERA, DepthSettings(erosion=3))
    assert found.depth_points == 9 and found.position[2] == pytest.approx(1.5)


def locate_one(locator, mask, visible, depth, camera=CAMERA, stamp_ns=0) -> ObjectDepth:
    return locator.locate({7: mask if visible else np.zeros_like(mask)}, {7: visible}, depth, camera, stamp_ns)[7]


def test_visibility_reasons():
    settings = DepthSettings(occlusion_margin=0.1, out_of_view_border=0.05)
    mask = square_mask()
    scene = plane(3.0)
    scene[mask] = 2.0

    occluded = ObjectLocator(settings)
    assert locate_one(occluded, mask, True, scene).reason == VisibilityReason.VISIBLE
    in_front = scene.copy()
    in_front[20:60, 30:70] = 1.0  # a panel in front of where the object was
    assert locate_one(occluded, mask, False, in_front).reason == VisibilityReason.OCCLUDED
    assert locate_one(occluded, mask, False, None, None).reason == VisibilityReason.NO_DEPTH
    other_size = np.zeros((40, 50), bool)  # a new stream: what was remembered indexes other pixels
    assert locate_one(occluded, other_size, False, plane(1.0, 40, 50)).reason == VisibilityReason.NO_DEPTH

    lost = ObjectLocator(settings)
    locate_one(lost, mask, True, scene)
    assert locate_one(lost, mask, False, plane(3.0)).reason == VisibilityReason.LOST  # gone, nothing in front

    leaving = ObjectLocator(settings)
    for index, left in enumerate((40, 60, 78)):  # moving right 20 px per 0.1 s, last seen at the border
        moved = plane(3.0)
        moved[square_mask(left=left, width=101)[:, :101]] = 2.0
        located = locate_one(leaving, square_mask(left=left), True, moved, stamp_ns=index * 10**8)
        assert located.reason == VisibilityReason.VISIBLE
    assert locate_one(leaving, mask, False, plane(3.0), stamp_ns=3 * 10**8).reason == VisibilityReason.OUT_OF_VIEW

    never_seen = ObjectLocator(settings)
    assert locate_one(never_seen, mask, False, scene).reason == VisibilityReason.NO_DEPTH


def result(object_id: int, mask: np.ndarray, visible: bool = True) -> ObjectResult:
    return ObjectResult(object_id, torch.where(torch.from_numpy(mask), 5.0, -5.0), 3.0 if visible else -3.0, 0.9,
                        torch.zeros(4), None)  # fmt: skip


@pytest.mark.parametrize(
    "bad, warning",
    [
        (Image(height=81, width=101, encoding="rgb8", step=303, data=bytes(81 * 303)), "unsupported depth encoding"),
        (depth_image(np.zeros((81, 101), np.uint16), Header()), None),  # all zeros: no reading anywhere
        (depth_image(plane(np.nan), Header()), None),
        (Image(height=81, width=101, encoding="16UC1", step=202, data=bytes(10)), "malformed"),
    ],
)
def test_bad_depth_gives_no_position_and_a_warning_never_a_crash(bad, warning):
    warnings = []
    stage = DepthStage(DepthSettings(), max_offset_ns=0, buffer_size=4, warn=warnings.append)
    stage.set_camera_info(camera_info(CAMERA, HEADER))
    good = plane(2.0)
    stage.add_depth(serialize_message(depth_image(good, Header())))
    assert stage.locate(stage.pairing.matcher.match(0), [result(1, square_mask())], 0)[0].position is not None
    bad.header.stamp.sec = 1
    stage.add_depth(serialize_message(bad))
    both = [result(1, square_mask(), visible=False), result(2, square_mask())]
    hidden_after = stage.locate(stage.pairing.matcher.match(10**9), both, 10**9)
    assert [each.position for each in hidden_after] == [None, None]
    assert hidden_after[1].reason == VisibilityReason.VISIBLE
    if warning is not None:
        assert hidden_after[0].reason == VisibilityReason.NO_DEPTH and stage.rejected == 1
        assert warning in warnings[-1]
    else:  # a depth image without readings is usable but tells nothing
        assert hidden_after[0].reason == VisibilityReason.LOST


def test_depth_of_another_size_is_resized_with_a_warning_and_missing_depth_is_no_depth():
    warnings = []
    stage = DepthStage(DepthSettings(), max_offset_ns=5, buffer_size=4, warn=warnings.append)
    stage.add_depth(serialize_message(depth_image(plane(2.0, 41, 51), HEADER)))
    assert stage.locate(stage.pairing.matcher.match(0), [result(1, square_mask())], 0)[0].position is None
    assert "no camera_info" in warnings[-1]
    stage.set_camera_info(camera_info(CAMERA, HEADER))
    located = stage.locate(stage.pairing.matcher.match(0), [result(1, square_mask())], 0)[0]
    assert located.position[2] == pytest.approx(2.0) and "resized (nearest)" in warnings[-1]
    assert (
        stage.locate(stage.pairing.matcher.match(10**9), [result(1, square_mask(), visible=False)], 10**9)[0].reason
        == VisibilityReason.NO_DEPTH
    )
    assert "no depth image within" in warnings[-1]
    assert stage.counts() == {"depth_matched": "2", "depth_unmatched": "1", "depth_rejected": "1"}


def test_point_cloud_holds_every_object_with_its_id_and_is_decimated():
    stage = DepthStage(DepthSettings(erosion=0, cloud_max_points=100), max_offset_ns=0, buffer_size=2, warn=print)
    stage.set_camera_info(camera_info(CAMERA, HEADER))
    stage.add_depth(serialize_message(depth_image(plane(2.0), HEADER)))
    located = stage.locate(
        stage.pairing.matcher.match(0), [result(3, square_mask(size=5)), result(4, square_mask(left=70, size=20))], 0
    )
    cloud = point_cloud(HEADER, located)
    assert [(f.name, f.offset) for f in cloud.fields] == [("x", 0), ("y", 4), ("z", 8), ("object_id", 12)]
    points = np.frombuffer(bytes(cloud.data), CLOUD_DTYPE)
    assert cloud.width == len(points) == 25 + 100 and cloud.row_step == 16 * cloud.width
    assert (points["object_id"] == 3).sum() == 25 and (points["object_id"] == 4).sum() == 100
    assert np.all(points["z"] == 2.0)
    first = points[points["object_id"] == 3][0]
    assert (first["x"], first["y"]) == pytest.approx(((40 - 50) * 2 / 100, (30 - 40) * 2 / 200))


def test_markers_box_and_id_per_object_deleted_when_the_object_goes():
    book = MarkerBook()
    here = ObjectDepth(5, VisibilityReason.VISIBLE, 10, np.array([0.0, 0.0, 2.0]), np.array([-0.1, -0.2, 1.9]),
                       np.array([0.1, 0.2, 2.1]))  # fmt: skip
    markers = book.for_frame(HEADER, [here]).markers
    assert [(m.ns, m.id, m.type, m.action) for m in markers] == [
        (MarkerBook.BOX, 5, Marker.CUBE, Marker.ADD),
        (MarkerBook.LABEL, 5, Marker.TEXT_VIEW_FACING, Marker.ADD),
    ]
    assert (markers[0].scale.x, markers[0].scale.y, markers[0].scale.z) == pytest.approx((0.2, 0.4, 0.2))
    assert markers[0].pose.position.z == pytest.approx(2.0) and markers[1].text == "5"
    assert markers[0].header.frame_id == HEADER.frame_id
    gone = book.for_frame(HEADER, []).markers
    deleted = [(MarkerBook.BOX, 5, Marker.DELETE), (MarkerBook.LABEL, 5, Marker.DELETE)]
    assert [(m.ns, m.id, m.action) for m in gone] == deleted
    assert book.for_frame(HEADER, []).markers == []


def test_transforms_put_a_frame_at_each_measured_object():
    here = ObjectDepth(2, VisibilityReason.VISIBLE, 1, np.array([0.5, -0.25, 1.5]), np.zeros(3), np.zeros(3))
    transforms = object_transforms(HEADER, [here, ObjectDepth(3, VisibilityReason.LOST)], "sam2_object_")
    assert len(transforms) == 1
    (transform,) = transforms
    assert (transform.header.frame_id, transform.child_frame_id) == (HEADER.frame_id, "sam2_object_2")
    t = transform.transform
    assert (t.translation.x, t.translation.y, t.translation.z) == (0.5, -0.25, 1.5)
    assert (t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w) == (0.0, 0.0, 0.0, 1.0)


def test_every_reason_maps_to_its_message_constant():
    for reason in VisibilityReason:
        msg = TrackedObject()
        fill_tracked_object(msg, ObjectDepth(1, reason))
        assert msg.visibility_reason == getattr(TrackedObject, f"REASON_{reason.name}")
