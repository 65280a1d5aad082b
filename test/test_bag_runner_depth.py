"""The offline bag runner carries depth through: depth recorded just after each image still
matches, every object gets its 3D fields, and the cloud and markers are written beside."""

import sys
from pathlib import Path

import numpy as np
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, Writer
from rosbags.rosbag2.enums import StoragePlugin
from sensor_msgs.msg import PointCloud2
from visualization_msgs.msg import MarkerArray

from sam2_ros.depth_messages import camera_info, depth_image
from sam2_ros.msg import TrackedObjectArray
from sam2_ros.tools import bag_runner
from sam2core.geometry import PinholeCamera

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import tracker_harness as harness  # noqa: E402
from tracker_harness import HEIGHT, WIDTH, image_msg  # noqa: E402

IMAGES = 4
RECEIVED_NS = 5_000_000_000
DEPTH_LATE_NS = 5_000_000  # depth is recorded 5 ms after its image, with the image's stamp
CAMERA = PinholeCamera(fx=50.0, fy=50.0, cx=31.5, cy=23.5, width=WIDTH, height=HEIGHT)


def write_bag(path: Path) -> None:
    """Images, then 5 ms later their depth (a 2 m plane: every mask point is at 2 m) and camera_info."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        typestore = bag_runner.sam2_typestore()
        camera = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=typestore)
        depth = writer.add_connection("/camera/depth", "sensor_msgs/msg/Image", typestore=typestore)
        info = writer.add_connection("/camera/camera_info", "sensor_msgs/msg/CameraInfo", typestore=typestore)
        for index in range(IMAGES):
            received = RECEIVED_NS + index * harness.FRAME_NS
            writer.write(camera, received, serialize_message(image_msg(index)))
            plane = np.full((HEIGHT, WIDTH), 2000, np.uint16)
            writer.write(depth, received + DEPTH_LATE_NS, serialize_message(depth_image(plane, harness.header(index))))
            writer.write(info, received + DEPTH_LATE_NS, serialize_message(camera_info(CAMERA, harness.header(index))))


def read_topic(path: Path, topic: str, message_type) -> list:
    with Reader(path) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        return [deserialize_message(raw, message_type) for _, _, raw in reader.messages(connections=connections)]


def test_runner_writes_positions_clouds_and_markers_with_late_depth(tmp_path, capsys):
    write_bag(tmp_path / "in")
    (tmp_path / "prompts.yaml").write_text("prompts: [{object_id: 1, frame: 0, box: [8, 12, 24, 28]}]")
    code = bag_runner.main([
        "--bag", str(tmp_path / "in"), "--image-topic", "/camera/image_raw",
        "--prompts", str(tmp_path / "prompts.yaml"),
        "--out", str(tmp_path / "out"), "--depth-topic", "/camera/depth", "--camera-info-topic", "/camera/camera_info",
        "--model", harness.MODEL, "--checkpoint", "default", "--device", "cpu",  # trained: a mask
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"{IMAGES} images, {IMAGES} tracked, 1 prompts applied, 0 problems" in captured.out
    arrays = read_topic(tmp_path / "out", "/tracked_objects", TrackedObjectArray)
    clouds = read_topic(tmp_path / "out", "/objects_cloud", PointCloud2)
    markers = read_topic(tmp_path / "out", "/markers", MarkerArray)
    assert len(arrays) == len(clouds) == len(markers) == IMAGES
    measured = [obj for array in arrays for obj in array.objects if obj.mask_area]
    assert measured
    for obj in measured:  # the mask is the model's, the depth under it is 2 m everywhere
        assert obj.depth_points > 0 and obj.position.z == 2.0 and obj.extent_min.z == obj.extent_max.z == 2.0
    assert sum(cloud.width for cloud in clouds) > 0


def test_depth_topic_needs_camera_info(capsys):
    assert bag_runner.main(["--bag", "b", "--image-topic", "/i", "--out", "o", "--depth-topic", "/d"]) == 2
    assert "go together" in capsys.readouterr().err
