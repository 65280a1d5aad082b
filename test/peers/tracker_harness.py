"""Drive a sam2_tracker node running in its own process from a test's rclpy node.

The model is sam2.1_hiera_demo with random weights, saved as a real checkpoint file: masks may be
empty, so tests check the plumbing (stamps, ids, sizes), not mask quality.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import rclpy
import ros_graph
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point32
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from sam2_ros.msg import Prompt, TrackedObjectArray
from sam2_ros.srv import AddPrompt, RemoveObject, Reset, Segment, SegmentEverything

ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = ROOT / "config" / "sam2_tracker.yaml"
MODEL = "sam2.1_hiera_demo"
POINTER_LENGTH = 64  # the demo model's hidden size
HEIGHT, WIDTH = 48, 64
FIRST_STAMP_NS = 1_700_000_000 * 10**9
FRAME_NS = 33_000_000
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def write_demo_checkpoint(path: Path) -> Path:
    """A random-weight sam2.1_hiera_demo checkpoint in Meta's format."""
    from sam2core import build_model, save_checkpoint

    save_checkpoint(build_model(MODEL), path)
    return path


def node_arguments(checkpoint: Path, namespace: str = "/", **parameters: str) -> list[str]:
    """`python -m sam2_ros.tracker_node` arguments: the package's YAML file, then overrides. Each
    test module's node gets its own namespace, so a node of an earlier module that discovery still
    lists is never the one answering."""
    overrides = {"model": MODEL, "checkpoint": str(checkpoint), "device": "cpu", **parameters}
    pairs = [item for name, value in overrides.items() for item in ("-p", f"{name}:={value}")]
    ros_args = ["--params-file", str(PARAMS_FILE), "-r", f"__ns:={namespace}", *pairs]
    return ["-m", "sam2_ros.tracker_node", "--ros-args", *ros_args]


@contextlib.contextmanager
def tracker_node(arguments: list[str], log: Path, namespace: str, compressed: bool = False) -> Iterator[TrackerClient]:
    """Start the node process with `arguments` (logging to `log`) and a test node in the same
    `namespace` talking to it; on exit, stop both and check the node process ended cleanly."""
    process = ros_graph.start_process(arguments, log)
    rclpy.init()
    try:
        yield TrackerClient(rclpy.create_node("tracker_test", namespace=namespace), process, compressed)
    finally:
        rclpy.shutdown()
        code = ros_graph.stop_process(process)
    assert code == 0, log.read_text()


def header(index: int) -> Header:
    msg = Header(frame_id="test_camera")
    stamp_ns = FIRST_STAMP_NS + index * FRAME_NS
    msg.stamp.sec, msg.stamp.nanosec = divmod(stamp_ns, 10**9)
    return msg


def scene(index: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """(H, W, 3) uint8 RGB: a bright square moving right over a dark gradient."""
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 2] = np.linspace(0, 80, width, dtype=np.uint8)
    x = 8 + 2 * index % (width - 24)
    image[12:28, x : x + 16] = (230, 200, 40)
    return image


def image_msg(index: int, height: int = HEIGHT, width: int = WIDTH, encoding: str = "rgb8") -> Image:
    pixels = scene(index, height, width)
    return Image(header=header(index), height=height, width=width, encoding=encoding, step=3 * width,
                 data=pixels.tobytes())  # fmt: skip


def compressed_msg(index: int) -> CompressedImage:
    ok, png = cv2.imencode(".png", cv2.cvtColor(scene(index), cv2.COLOR_RGB2BGR))
    assert ok
    return CompressedImage(header=header(index), format="png", data=png.tobytes())


def stamp_ns(msg: Header) -> int:
    return msg.stamp.sec * 10**9 + msg.stamp.nanosec


class TrackerClient:
    """The test's side of the graph: publishers, subscriptions and service clients of one node."""

    def __init__(self, node: Node, process: subprocess.Popen, compressed: bool = False):
        self.node, self.process = node, process
        self.image_pub = node.create_publisher(CompressedImage if compressed else Image,
                                               "image/compressed" if compressed else "image", RELIABLE)  # fmt: skip
        self.prompt_pub = node.create_publisher(Prompt, "prompts", RELIABLE)
        self.arrays: dict[int, TrackedObjectArray] = {}
        self.overlays: dict[int, Image] = {}
        self.diagnostics = []
        self.array_sub = node.create_subscription(TrackedObjectArray, "tracked_objects", self._on_array, RELIABLE)
        node.create_subscription(Image, "overlay", self._on_overlay, RELIABLE)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.add_client = node.create_client(AddPrompt, "add_prompt")
        self.remove_client = node.create_client(RemoveObject, "remove_object")
        self.reset_client = node.create_client(Reset, "reset")
        self.segment_client = node.create_client(Segment, "segment")
        self.everything_client = node.create_client(SegmentEverything, "segment_everything")

    def _on_array(self, msg: TrackedObjectArray) -> None:
        self.arrays.setdefault(stamp_ns(msg.header), msg)

    def _on_overlay(self, msg: Image) -> None:
        self.overlays.setdefault(stamp_ns(msg.header), msg)

    def spin_until(self, condition, what: str, timeout: float = 60.0) -> None:
        ros_graph.spin_until(self.node, condition, timeout, what, (self.process,))

    def wait_connected(self, timeout: float = 60.0) -> None:
        """Until the node subscribes to our images and prompts, publishes to us and serves."""
        self.spin_until(
            lambda: (
                self.image_pub.get_subscription_count() > 0
                and self.prompt_pub.get_subscription_count() > 0
                and self.array_sub.get_publisher_count() > 0
                and self.add_client.service_is_ready()
            ),
            "the tracker node's topics and services",
            timeout,
        )

    def track(self, msg: Image | CompressedImage, timeout: float = 60.0) -> TrackedObjectArray:
        """Publish one image and return the array stamped with it (published again every 10 s:
        the image subscription is best effort)."""
        stamp = stamp_ns(msg.header)
        self.arrays.pop(stamp, None)
        deadline = time.monotonic() + timeout
        while True:
            self.image_pub.publish(msg)
            try:
                self.spin_until(lambda: stamp in self.arrays, f"the array of image {stamp}", min(10.0, timeout))
                return self.arrays[stamp]
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    def add_prompt(self, prompt: Prompt) -> AddPrompt.Response:
        request = AddPrompt.Request(prompt=prompt)
        return ros_graph.call_service(self.node, self.add_client, request, 60.0, (self.process,))

    def remove(self, object_id: int) -> RemoveObject.Response:
        request = RemoveObject.Request(object_id=object_id)
        return ros_graph.call_service(self.node, self.remove_client, request, 60.0, (self.process,))

    def reset(self) -> Reset.Response:
        return ros_graph.call_service(self.node, self.reset_client, Reset.Request(), 60.0, (self.process,))

    def segment(self, request: Segment.Request) -> Segment.Response:
        return ros_graph.call_service(self.node, self.segment_client, request, 120.0, (self.process,))

    def segment_everything(self, request: SegmentEverything.Request) -> SegmentEverything.Response:
        return ros_graph.call_service(self.node, self.everything_client, request, 300.0, (self.process,))

    def diagnostic_values(self) -> list[dict[str, str]]:
        """The key/value pairs of every diagnostics message of our tracker received so far."""
        name = f"{self.node.get_namespace().rstrip('/')}/sam2_tracker: tracking"
        statuses = [status for msg in self.diagnostics for status in msg.status if status.name == name]
        return [{kv.key: kv.value for kv in status.values} for status in statuses]


def click_prompt(object_id: int, index: int | None, points=((16.0, 20.0),), labels=(1,), **fields) -> Prompt:
    """A Prompt of clicks on the image `index` (None: a zero stamp, the newest image)."""
    clicks = [Point32(x=float(x), y=float(y)) for x, y in points]
    msg = Prompt(object_id=object_id, points=clicks, labels=list(labels), **fields)
    if index is not None:
        msg.header = header(index)
    return msg
