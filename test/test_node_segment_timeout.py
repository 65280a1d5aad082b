"""A segment_everything request longer than the node's service_timeout fails with the reason,
frees its thread, and images keep being tracked meanwhile (node in its own process; a module of
its own, since a module holds one rclpy context)."""

import itertools
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import tracker_harness as harness  # noqa: E402
from tracker_harness import image_msg  # noqa: E402

from sam2_ros.srv import SegmentEverything  # noqa: E402
from sam2core.build import BUNDLED_CHECKPOINTS  # noqa: E402

INDICES = itertools.count()


@pytest.fixture(scope="module")
def impatient_client(tmp_path_factory):
    """A node whose services give up after 0.5 s."""
    folder = tmp_path_factory.mktemp("impatient_node")
    namespace = "/impatient_segment_test"
    arguments = harness.node_arguments(BUNDLED_CHECKPOINTS[harness.MODEL], namespace=namespace, service_timeout="0.5")
    with harness.tracker_node(arguments, folder / "node.log", namespace) as client:
        client.wait_connected(timeout=120)
        client.spin_until(lambda: client.everything_client.service_is_ready(), "segment services")
        yield client


def test_long_segment_everything_times_out_and_images_keep_flowing(impatient_client):
    client = impatient_client
    client.track(image_msg(next(INDICES)))
    request = SegmentEverything.Request(
        points_per_side=64, points_per_batch=16, pred_iou_thresh=0.05, stability_score_thresh=0.05
    )
    response = client.segment_everything(request)
    assert not response.success and "did not answer within 0.5 s" in response.message
    started = time.monotonic()
    array = client.track(image_msg(next(INDICES)))  # while the 4,096 clicks are still decoded
    assert array.frame_index >= 1 and time.monotonic() - started < 20.0
