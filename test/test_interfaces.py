"""Every generated message and service crosses a real rclpy graph between two processes intact."""

import pytest
import rclpy
import ros_graph
import sample_messages
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from sam2_ros.srv import AddPrompt, RemoveObject, Reset

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """(the test's node, the peer process) on this run's ROS domain."""
    log = tmp_path_factory.mktemp("peer") / "sample_peer.log"
    peer = ros_graph.start_process([str(ros_graph.TEST_DIR / "peers" / "sample_peer.py")], log)
    rclpy.init()
    try:
        yield rclpy.create_node("interfaces_test"), peer
    finally:
        rclpy.shutdown()
    assert ros_graph.stop_process(peer) == 0, log.read_text()


@pytest.mark.parametrize("topic", sorted(sample_messages.TOPICS))
def test_message_arrives_intact(graph, topic):
    node, peer = graph
    msg_type, build = sample_messages.TOPICS[topic]
    received = []
    node.create_subscription(msg_type, topic, received.append, LATCHED)
    ros_graph.spin_until(node, lambda: received, 30.0, f"a message on {topic}", (peer,))
    assert received[0] == build()


def test_samples_are_full_size():
    array = sample_messages.tracked_object_array()
    for obj in array.objects:
        assert (obj.mask.width, obj.mask.height, len(obj.mask.data)) == (640, 480, 640 * 480)
        assert len(obj.object_pointer) == 256
        assert obj.mask_area == sum(obj.mask.data) // 255 > 0


def test_services_answer_across_processes(graph):
    node, peer = graph
    add = node.create_client(AddPrompt, "samples/add_prompt")
    request = AddPrompt.Request(prompt=sample_messages.prompt(object_id=5))
    response = ros_graph.call_service(node, add, request, peers=(peer,))
    assert response.success and response.object == sample_messages.tracked_object(5)

    remove = node.create_client(RemoveObject, "samples/remove_object")
    assert ros_graph.call_service(node, remove, RemoveObject.Request(object_id=3), peers=(peer,)).success
    assert not ros_graph.call_service(node, remove, RemoveObject.Request(object_id=4), peers=(peer,)).success

    reset = node.create_client(Reset, "samples/reset")
    response = ros_graph.call_service(node, reset, Reset.Request(), peers=(peer,))
    assert response == sample_messages.reset_response()
