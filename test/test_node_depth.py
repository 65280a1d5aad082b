"""The sam2_tracker node with use_depth on a real rclpy graph: a square 1 m in front of the
camera over a wall 3 m away, seen by a known camera; the node must publish its 3D position, its
points and its markers, and carry on without depth or with bad depth."""

import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from visualization_msgs.msg import Marker, MarkerArray

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import tracker_harness as harness  # noqa: E402
from tracker_harness import HEIGHT, RELIABLE, WIDTH, image_msg  # noqa: E402

from sam2_ros.conversions import mask_to_image  # noqa: E402
from sam2_ros.depth_messages import CLOUD_DTYPE, MarkerBook, camera_info, depth_image  # noqa: E402
from sam2_ros.msg import Prompt, TrackedObject  # noqa: E402
from sam2core.geometry import PinholeCamera  # noqa: E402

NAMESPACE = "/depth_test"
CAMERA = PinholeCamera(fx=50.0, fy=50.0, cx=31.5, cy=23.5, width=WIDTH, height=HEIGHT)
SQUARE_DEPTH, WALL_DEPTH = 1.0, 3.0
CLOUD_MAX_POINTS = 40


def square(index: int) -> np.ndarray:
    """(H, W) bool: where tracker_harness.scene(index) draws its square."""
    mask = np.zeros((HEIGHT, WIDTH), bool)
    x = 8 + 2 * index % (WIDTH - 24)
    mask[12:28, x : x + 16] = True
    return mask


def depth_msg(index: int) -> Image:
    depth = np.where(square(index), SQUARE_DEPTH, WALL_DEPTH).astype(np.float32)
    return depth_image(depth, harness.header(index))


class DepthPeer:
    """The test's depth, camera_info, cloud and marker topics beside the harness's client."""

    def __init__(self, client):
        node = client.node
        self.depth_pub = node.create_publisher(Image, "depth", RELIABLE)
        self.info_pub = node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self.clouds: dict[int, PointCloud2] = {}
        self.markers: dict[int, MarkerArray] = {}
        node.create_subscription(PointCloud2, "objects_cloud", lambda m: self.clouds.setdefault(stamp(m), m), RELIABLE)
        node.create_subscription(MarkerArray, "markers", self._on_markers, RELIABLE)

    def _on_markers(self, msg: MarkerArray) -> None:
        if msg.markers:
            self.markers.setdefault(stamp(msg.markers[0]), msg)

    def publish(self, index: int, depth: Image | None) -> None:
        self.info_pub.publish(camera_info(CAMERA, harness.header(index)))
        if depth is not None:
            self.depth_pub.publish(depth)


def stamp(msg) -> int:
    return harness.stamp_ns(msg.header)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tracker_node_depth")
    checkpoint = harness.write_demo_checkpoint(folder / "demo.pt")
    arguments = harness.node_arguments(
        checkpoint, namespace=NAMESPACE, use_depth="true", publish_tf="true", prompt_wait_timeout="30.0",
        cloud_max_points=str(CLOUD_MAX_POINTS), diagnostics_period="0.3",
    )  # fmt: skip
    with harness.tracker_node(arguments, folder / "node.log", NAMESPACE) as client:
        client.wait_connected(timeout=120)
        peer = DepthPeer(client)
        client.spin_until(lambda: peer.depth_pub.get_subscription_count() > 0, "the depth subscription")
        yield client, peer, folder / "node.log"


def track_with_mask_prompt(client, peer, index: int):
    """Prompt object 1 with the square's mask on image `index` (waiting for it), then send it with its depth."""
    prompt = Prompt(header=harness.header(index), object_id=1)
    prompt.mask = mask_to_image(square(index).astype(np.uint8) * 255, harness.header(index))
    client.prompt_pub.publish(prompt)
    spin_for(client, 1.0)  # the prompt reaches the node and waits for its image
    peer.publish(index, depth_msg(index))
    spin_for(client, 0.3)
    return client.track(image_msg(index))


def spin_for(client, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rclpy.spin_once(client.node, timeout_sec=0.05)


def test_position_cloud_and_markers_of_a_square_at_known_depth(tracked):
    client, peer, log = tracked
    index = 3
    array = track_with_mask_prompt(client, peer, index)
    (obj,) = array.objects
    assert obj.visible and obj.visibility_reason == TrackedObject.REASON_VISIBLE
    # the square's centre, columns x + 7.5, rows 19.5, back-projected at 1 m
    x = 8 + 2 * index
    expected = ((x + 7.5 - CAMERA.cx) / CAMERA.fx, (19.5 - CAMERA.cy) / CAMERA.fy, SQUARE_DEPTH)
    assert (obj.position.x, obj.position.y, obj.position.z) == pytest.approx(expected, abs=0.03)
    assert obj.depth_points > 50 and obj.extent_min.z == pytest.approx(1.0) and obj.extent_max.z == pytest.approx(1.0)
    assert obj.extent_max.x - obj.extent_min.x == pytest.approx(9 / CAMERA.fx, abs=0.05)

    key = stamp(array)
    client.spin_until(lambda: key in peer.clouds and key in peer.markers, "the cloud and markers of the image")
    cloud = peer.clouds[key]
    points = np.frombuffer(bytes(cloud.data), CLOUD_DTYPE)
    assert cloud.header.frame_id == "test_camera" and 0 < len(points) <= CLOUD_MAX_POINTS
    assert set(points["object_id"]) == {1} and np.allclose(points["z"], SQUARE_DEPTH)
    markers = peer.markers[key].markers
    added = [(MarkerBook.BOX, 1, Marker.ADD), (MarkerBook.LABEL, 1, Marker.ADD)]
    assert [(m.ns, m.id, m.action) for m in markers] == added
    assert markers[0].pose.position.z == pytest.approx(SQUARE_DEPTH)
    assert "tf2_ros is not installed" in log.read_text()  # publish_tf without tf2_ros: a warning, no crash


def test_without_depth_or_with_bad_depth_the_node_carries_on(tracked):
    client, peer, _ = tracked
    track_with_mask_prompt(client, peer, 10)
    peer.publish(11, None)  # no depth for this image
    unmatched = client.track(image_msg(11))
    assert [obj.depth_points for obj in unmatched.objects] == [0]
    bad = depth_msg(12)
    bad.encoding = "rgb8"
    peer.publish(12, bad)
    spin_for(client, 0.3)
    rejected = client.track(image_msg(12))
    assert [obj.depth_points for obj in rejected.objects] == [0]
    client.spin_until(
        lambda: any(int(v.get("depth_unmatched", 0)) >= 1 and int(v.get("depth_rejected", 0)) >= 1
                    for v in client.diagnostic_values()),
        "diagnostics counting the unmatched and the rejected depth",
    )  # fmt: skip
    assert math.isfinite(rejected.objects[0].visibility)


def test_markers_are_deleted_when_the_object_is_removed(tracked):
    client, peer, _ = tracked
    track_with_mask_prompt(client, peer, 20)
    assert client.remove(1).success
    peer.publish(21, depth_msg(21))
    spin_for(client, 0.3)
    array = client.track(image_msg(21))
    assert array.objects == []
    key = stamp(array)
    client.spin_until(lambda: key in peer.markers, "the markers of the image after the removal")
    deleted = [(m.ns, m.id, m.action) for m in peer.markers[key].markers]
    assert deleted == [(MarkerBook.BOX, 1, Marker.DELETE), (MarkerBook.LABEL, 1, Marker.DELETE)]
