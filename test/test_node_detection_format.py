"""The sam2_tracker node in its own process told to read vision_msgs/Detection2DArray where
vision_msgs is not installed (as here): it says so and tracks as ever."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import tracker_harness as harness  # noqa: E402
from lost_square import PATH, square_scene  # noqa: E402

from sam2_ros.conversions import rgb_to_image  # noqa: E402

pytestmark = pytest.mark.slow


def test_without_vision_msgs_the_node_says_so_and_tracks(tmp_path):
    namespace = "/node_detections_vision_test"
    arguments = harness.node_arguments("default", namespace=namespace, detection_format="vision_msgs")
    log = tmp_path / "node.log"
    with harness.tracker_node(arguments, log, namespace) as other:
        other.wait_connected(timeout=120)
        header = harness.header(0)
        array = other.track(rgb_to_image(square_scene(PATH[0])[0], header))
        assert array.header == header
        assert "detection_format is vision_msgs but vision_msgs is not installed" in log.read_text()
        assert other.node.count_publishers(f"{namespace}/detections") == 0
        assert not other.node.get_subscriptions_info_by_topic(f"{namespace}/detections")
