"""The node's lifecycle driven from another process, compressed input, and start-up failures that
must end the process with a clear message."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import ros_graph
import torch
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import tracker_harness as harness  # noqa: E402
from tracker_harness import click_prompt, compressed_msg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "/lifecycle_test"
INSTALLED = ROOT / "install" / "sam2_ros" / "lib" / "sam2_ros" / "sam2_tracker"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return harness.write_demo_checkpoint(tmp_path_factory.mktemp("lifecycle") / "demo.pt")


@pytest.fixture(scope="module")
def managed(checkpoint, tmp_path_factory):
    """A node left to a lifecycle manager (this test), on compressed images."""
    log = tmp_path_factory.mktemp("lifecycle_log") / "node.log"
    arguments = harness.node_arguments(
        checkpoint, namespace=NAMESPACE, autostart="false", image_transport="compressed", publish_overlay="false"
    )
    with harness.tracker_node(arguments, log, NAMESPACE, compressed=True) as client:
        yield client


def state(client) -> int:
    get_state = client.node.create_client(GetState, "sam2_tracker/get_state")
    return ros_graph.call_service(client.node, get_state, GetState.Request(), 60.0, (client.process,)).current_state.id


def transition(client, transition_id: int) -> None:
    change = client.node.create_client(ChangeState, "sam2_tracker/change_state")
    request = ChangeState.Request(transition=Transition(id=transition_id))
    assert ros_graph.call_service(client.node, change, request, 120.0, (client.process,)).success


def test_lifecycle_opens_and_closes_the_node(managed):
    assert state(managed) == State.PRIMARY_STATE_UNCONFIGURED
    transition(managed, Transition.TRANSITION_CONFIGURE)
    assert state(managed) == State.PRIMARY_STATE_INACTIVE
    assert managed.image_pub.get_subscription_count() == 0 and not managed.add_client.service_is_ready()

    transition(managed, Transition.TRANSITION_ACTIVATE)
    managed.wait_connected()
    first = managed.track(compressed_msg(0))
    assert managed.add_prompt(click_prompt(1, 0)).success
    assert [obj.object_id for obj in managed.track(compressed_msg(1)).objects] == [1]
    assert (first.frame_index, first.header) == (0, compressed_msg(0).header)

    transition(managed, Transition.TRANSITION_DEACTIVATE)
    managed.spin_until(lambda: managed.image_pub.get_subscription_count() == 0, "the image subscription to close")
    transition(managed, Transition.TRANSITION_ACTIVATE)
    managed.wait_connected()
    after = managed.track(compressed_msg(2))
    assert (after.frame_index, after.objects) == (0, [])  # deactivation dropped the tracker state

    transition(managed, Transition.TRANSITION_DEACTIVATE)
    transition(managed, Transition.TRANSITION_CLEANUP)
    assert state(managed) == State.PRIMARY_STATE_UNCONFIGURED
    transition(managed, Transition.TRANSITION_CONFIGURE)
    transition(managed, Transition.TRANSITION_ACTIVATE)
    managed.wait_connected()
    assert managed.track(compressed_msg(3)).frame_index == 0


def broken_checkpoints(folder: Path, checkpoint: Path) -> dict[str, Path]:
    corrupt = folder / "corrupt.pt"
    corrupt.write_bytes(os.urandom(4096))
    state_dict = torch.load(checkpoint, weights_only=True)["model"]
    state_dict.pop(next(iter(state_dict)))
    mismatched = folder / "mismatched.pt"
    torch.save({"model": state_dict}, mismatched)
    return {
        "does not exist": folder / "missing.pt",
        "not a readable torch file": corrupt,
        "does not fit the model": mismatched,
    }


@pytest.mark.slow
def test_bad_checkpoints_and_parameters_end_the_process_with_a_message(checkpoint, tmp_path):
    """Run side by side: each process imports torch, which takes seconds."""
    runs = {
        message: [sys.executable, *harness.node_arguments(path)]
        for message, path in broken_checkpoints(tmp_path, checkpoint).items()
    }
    runs["does not exist"] = [str(INSTALLED), *runs["does not exist"][3:]]  # what ros2 run starts, not python -m
    runs["max_objects out of range"] = [sys.executable, *harness.node_arguments(checkpoint, max_objects="0")]
    processes = {
        message: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for message, command in runs.items()
    }
    for message, process in processes.items():
        _, stderr = process.communicate(timeout=180)
        expected_code = 2 if "out of range" in message else 1
        assert process.returncode == expected_code and message in stderr, stderr
        assert "Traceback" not in stderr, stderr
