"""The click_to_prompt bridge: which object a click goes to, and on a real graph, clicks from a
test node through the bridge (its own process) to the tracker (the bundled model, its own
process): a click starts a tracked object, new_object starts another, negative clicks correct."""

import itertools
import re
import sys
from pathlib import Path

import pytest
from geometry_msgs.msg import PointStamped
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from std_msgs.msg import Empty

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import ros_graph  # noqa: E402
import tracker_harness as harness  # noqa: E402

from sam2_ros.click_to_prompt import ClickSelection  # noqa: E402
from sam2_ros.conversions import object_mask  # noqa: E402
from sam2_ros.msg import Prompt  # noqa: E402

NAMESPACE = "/click_test"
INDICES = itertools.count()


def test_first_click_starts_an_object_and_later_clicks_correct_it():
    selection = ClickSelection(first_object_id=4)
    assert selection.click(1.0, 2.0, negative=True) is None  # nothing to correct yet
    first = selection.click(1.0, 2.0, negative=False)
    assert (first.object_id, first.label, first.starts_object) == (4, Prompt.LABEL_POSITIVE, True)
    negative = selection.click(5.0, 6.0, negative=True)
    assert (negative.object_id, negative.label, negative.starts_object) == (4, Prompt.LABEL_NEGATIVE, False)
    assert selection.click(7.0, 8.0, negative=False).label == Prompt.LABEL_POSITIVE
    selection.new_object()
    assert selection.click(1.0, 1.0, negative=False).object_id == 5


def test_a_refused_start_frees_the_selection_but_a_refused_correction_keeps_it():
    selection = ClickSelection(first_object_id=1)
    start = selection.click(1.0, 2.0, negative=False)
    correction = selection.click(3.0, 4.0, negative=True)
    selection.failed(correction)
    assert selection.selected == 1
    selection.failed(start)
    assert selection.selected is None
    assert selection.click(1.0, 2.0, negative=False).object_id == 2


def click(x: float, y: float) -> PointStamped:
    msg = PointStamped()
    msg.header.frame_id = "overlay"
    msg.point.x, msg.point.y = x, y
    return msg


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """The tracker on the bundled model, the bridge, and the test's node (images, clicks)."""
    folder = tmp_path_factory.mktemp("click_to_prompt")
    arguments = harness.node_arguments("default", namespace=NAMESPACE)
    bridge_log = folder / "click_to_prompt.log"
    bridge = ros_graph.start_process(
        ["-m", "sam2_ros.click_to_prompt", "--ros-args", "-r", f"__ns:={NAMESPACE}"], bridge_log
    )
    try:
        with harness.tracker_node(arguments, folder / "node.log", NAMESPACE) as client:
            node = client.node
            client.clicks = node.create_publisher(PointStamped, "clicked_point", 10)
            client.negative_clicks = node.create_publisher(PointStamped, "clicked_point_negative", 10)
            client.new_object = node.create_publisher(Empty, "new_object", 10)
            client.bridge, client.bridge_log, client.log_seen = bridge, bridge_log, 0
            client.wait_connected(timeout=120)
            client.spin_until(
                lambda: (
                    min(p.get_subscription_count() for p in (client.clicks, client.negative_clicks, client.new_object))
                    > 0
                ),  # fmt: skip
                "the bridge's subscriptions",
            )
            yield client
    finally:
        assert ros_graph.stop_process(bridge) == 0, bridge_log.read_text()


def wait_for_log(client, pattern: str, timeout: float = 60.0) -> re.Match:
    """The first match of `pattern` in the bridge's log after what earlier waits matched."""
    seen = client.log_seen

    def find():
        return re.compile(pattern).search(client.bridge_log.read_text(), seen)

    client.spin_until(lambda: find() is not None, f"{pattern!r} in the bridge's log", timeout)
    match = find()
    client.log_seen = match.end()
    return match


def track_until(client, condition, what: str, images: int = 40):
    """Publish images until one's array satisfies `condition`; that array."""
    for _ in range(images):
        array = client.track(harness.image_msg(next(INDICES)))
        if condition(array):
            return array
    raise AssertionError(f"no array within {images} images: {what}")


def test_clicks_start_and_correct_tracked_objects(graph):
    client = graph
    client.track(harness.image_msg(next(INDICES)))
    client.clicks.publish(click(18.0, 20.0))  # on the bright square
    wait_for_log(client, r"object 1 prompted on frame \d+: new object click \(18, 20\)")
    index = next(INDICES)
    array = client.track(harness.image_msg(index))
    assert [o.object_id for o in array.objects] == [1]
    square = (harness.scene(index) == (230, 200, 40)).all(axis=2)  # the bright square, moved on since the click
    tracked = object_mask(array.objects[0], array.image_height, array.image_width) > 0
    assert (square & tracked).sum() / (square | tracked).sum() > 0.5  # IoU with the clicked object

    client.new_object.publish(Empty())
    wait_for_log(client, "the next click starts a new object")
    client.clicks.publish(click(50.0, 40.0))
    wait_for_log(client, r"object 2 prompted on frame \d+: new object click \(50, 40\)")
    client.negative_clicks.publish(click(52.0, 42.0))
    wait_for_log(client, r"object 2 prompted on frame \d+: negative click \(52, 42\)")
    track_until(client, lambda a: [o.object_id for o in a.objects] == [1, 2], "objects 1 and 2 tracked")


def test_with_use_click_stamp_a_click_prompts_the_image_of_its_stamp(graph):
    client = graph
    clicked = client.track(harness.image_msg(clicked_index := next(INDICES)))
    newest = client.track(harness.image_msg(next(INDICES)))
    parameters = AsyncParameterClient(client.node, f"{NAMESPACE}/click_to_prompt")
    client.spin_until(parameters.services_are_ready, "the bridge's parameter services")
    future = parameters.set_parameters([Parameter("use_click_stamp", value=True)])
    client.spin_until(future.done, "use_click_stamp set")
    assert future.result().results[0].successful

    client.new_object.publish(Empty())
    wait_for_log(client, "the next click starts a new object")
    stamped = click(18.0, 20.0)
    stamped.header = harness.header(clicked_index)
    client.clicks.publish(stamped)
    match = wait_for_log(client, r"object 3 prompted on frame (\d+): new object click")
    assert int(match.group(1)) == clicked.frame_index < newest.frame_index


def test_a_click_waiting_for_the_tracker_does_not_hold_the_bridge(graph, tmp_path):
    """A second bridge, in a namespace with no tracker: its click waits for the service while a
    new_object sent after it is handled at once; SERVICE_WAIT_S later the click is dropped."""
    log = tmp_path / "orphan_bridge.log"
    bridge = ros_graph.start_process(["-m", "sam2_ros.click_to_prompt", "--ros-args", "-r", "__ns:=/orphan"], log)
    try:
        clicks = graph.node.create_publisher(PointStamped, "/orphan/clicked_point", 10)
        new_object = graph.node.create_publisher(Empty, "/orphan/new_object", 10)
        graph.spin_until(
            lambda: min(clicks.get_subscription_count(), new_object.get_subscription_count()) > 0,
            "the second bridge's subscriptions",
        )
        clicks.publish(click(1.0, 2.0))
        new_object.publish(Empty())
        graph.spin_until(lambda: "click ignored" in log.read_text(), "the waiting click dropped", timeout=30)
        text = log.read_text()
        assert "the next click starts a new object" in text, text
        assert text.index("the next click starts a new object") < text.index("click ignored"), text
    finally:
        assert ros_graph.stop_process(bridge) == 0, log.read_text()
