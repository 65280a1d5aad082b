"""Load check of the sam2_tracker node: a camera stream into a node in its own process.

Publishes rgb8 images (640x480 at 30 FPS for 60 s by default) into a tracker node started as a
separate process on the CPU, prompts one object, and prints the published rate, the rate and
latency of the results (receipt time minus image stamp: mean and p95), the frames the node
dropped (from its diagnostics) and its resident memory at the start and the end.

    . scripts/env.sh && python benchmarks/node_load.py --duration 30

With no --checkpoint the model has random weights (a checkpoint is written to a temporary folder):
the figures are about throughput, not mask quality. With --depth every image comes with a 16UC1
depth image (the disc at 1 m over a 3 m wall) and camera_info, and the node runs with use_depth
(positions, cloud, markers): run it with and without to see what depth costs. With --depth-unused
the same streams are published but the node does not use them: the difference to a run without
depth is what the extra streams cost this machine, not the node's depth work.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(101 + os.getpid() % 100))

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import Point32  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from sam2_ros.depth_messages import camera_info  # noqa: E402
from sam2_ros.msg import Prompt, TrackedObjectArray  # noqa: E402
from sam2_ros.srv import AddPrompt  # noqa: E402
from sam2core.geometry import PinholeCamera  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of streaming")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--model", default="sam2.1_hiera_t")
    parser.add_argument("--image-size", type=int, default=0, help="model input side; 0 = the model's own")
    parser.add_argument("--checkpoint", help="checkpoint file (default: random weights)")
    parser.add_argument("--overlay", action="store_true", help="let the node publish overlays too")
    parser.add_argument("--depth", action="store_true", help="publish depth and camera_info; the node uses them")
    parser.add_argument(
        "--depth-unused",
        action="store_true",
        help="publish depth and camera_info to a node without use_depth: what the two streams cost "
        "this machine (the publisher shares its cores) apart from the node's depth work",
    )
    args = parser.parse_args()
    if args.depth and args.depth_unused:
        parser.error("--depth and --depth-unused exclude each other")
    return args


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def camera_frames(width: int, height: int, count: int = 30) -> tuple[list[bytes], list[bytes]]:
    """`count` rgb8 frames of a disc moving over a gradient, and their 16UC1 depth (the disc at
    1 m, the rest at 3 m)."""
    yy, xx = np.mgrid[:height, :width]
    frames, depths = [], []
    for index in range(count):
        image = np.zeros((height, width, 3), np.uint8)
        image[..., 2] = (xx * 120 // width).astype(np.uint8)
        cx = width // 4 + index * width // (2 * count)
        disc = (yy - height // 2) ** 2 + (xx - cx) ** 2 < (height // 8) ** 2
        image[disc] = (220, 180, 40)
        frames.append(image.tobytes())
        depths.append(np.where(disc, 1000, 3000).astype("<u2").tobytes())
    return frames, depths


class LoadClient(Node):
    """Publishes the stream and records the node's results and diagnostics."""

    def __init__(self, args: argparse.Namespace):
        super().__init__("node_load")
        self.args = args
        self.frames, self.depths = camera_frames(args.width, args.height)
        self.image_pub = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self.depth_pub = self.create_publisher(Image, "depth", qos_profile_sensor_data)
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self.camera = PinholeCamera.from_field_of_view(args.width, args.height, 60.0)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(TrackedObjectArray, "tracked_objects", self.on_array, reliable)
        self.create_subscription(DiagnosticArray, "/diagnostics", self.on_diagnostics, 10)
        self.add_prompt = self.create_client(AddPrompt, "add_prompt")
        self.published = 0
        self.latencies: list[float] = []
        self.object_counts: list[int] = []
        self.diagnostics: dict[str, str] = {}

    def publish_image(self) -> None:
        msg = Image(height=self.args.height, width=self.args.width, encoding="rgb8", step=3 * self.args.width)
        msg.header.frame_id = "camera"
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.data = self.frames[self.published % len(self.frames)]
        if self.args.depth or self.args.depth_unused:
            depth = Image(header=msg.header, height=msg.height, width=msg.width, encoding="16UC1", step=2 * msg.width)
            depth.data = self.depths[self.published % len(self.depths)]
            self.depth_pub.publish(depth)
            self.info_pub.publish(camera_info(self.camera, msg.header))
        self.image_pub.publish(msg)
        self.published += 1

    def on_array(self, msg: TrackedObjectArray) -> None:
        stamp_ns = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        self.latencies.append((self.get_clock().now().nanoseconds - stamp_ns) / 1e9)
        self.object_counts.append(len(msg.objects))

    def on_diagnostics(self, msg: DiagnosticArray) -> None:
        if msg.status:
            self.diagnostics = {kv.key: kv.value for kv in msg.status[0].values}

    def spin(self, seconds: float, until: Callable[[], bool] = lambda: False) -> bool:
        """Spin for up to `seconds`; True as soon as `until()` holds."""
        deadline = time.monotonic() + seconds
        while not until():
            if time.monotonic() > deadline:
                return False
            rclpy.spin_once(self, timeout_sec=0.05)
        return True

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        if not self.spin(timeout, condition):
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_node(args: argparse.Namespace, folder: Path) -> subprocess.Popen:
    checkpoint = args.checkpoint
    if checkpoint is None:
        from sam2core import build_model, save_checkpoint

        checkpoint = folder / "random.pt"
        save_checkpoint(build_model(args.model), checkpoint)
    overrides = {"model": args.model, "checkpoint": checkpoint, "device": "cpu", "image_size": args.image_size,
                 "publish_overlay": str(args.overlay).lower(), "use_depth": str(args.depth).lower()}  # fmt: skip
    command = [sys.executable, "-m", "sam2_ros.tracker_node", "--ros-args",
               "--params-file", str(ROOT / "config" / "sam2_tracker.yaml")]  # fmt: skip
    for name, value in overrides.items():
        command += ["-p", f"{name}:={value}"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(folder / "node.log", "w"))


def run(args: argparse.Namespace, client: LoadClient, node: subprocess.Popen) -> None:
    client.wait(
        lambda: client.image_pub.get_subscription_count() > 0 and client.add_prompt.service_is_ready(),
        300, "the node to start",
    )  # fmt: skip
    for _ in range(300):  # one image a second until the first result (the model warms up)
        client.publish_image()
        if client.spin(1.0, lambda: bool(client.latencies)):
            break
    request = AddPrompt.Request()
    request.prompt.object_id = 1
    request.prompt.points = [Point32(x=args.width / 4.0, y=args.height / 2.0)]
    request.prompt.labels = [Prompt.LABEL_POSITIVE]
    future = client.add_prompt.call_async(request)
    client.wait(future.done, 300, "the prompt")
    assert future.result().success, future.result().message

    rss_start = rss_mb(node.pid)
    received_before = int(client.diagnostics.get("frames_received", 0))
    dropped_before = int(client.diagnostics.get("frames_dropped", 0))
    client.published, client.latencies, client.object_counts = 0, [], []
    period, start = 1.0 / args.fps, time.monotonic()
    while time.monotonic() - start < args.duration:
        next_publish = start + client.published * period
        rclpy.spin_once(client, timeout_sec=max(next_publish - time.monotonic(), 0.0))
        if time.monotonic() >= next_publish:
            client.publish_image()
    elapsed = time.monotonic() - start
    client.spin(3.0)  # the results still on their way
    report(args, client, elapsed, rss_start, rss_mb(node.pid), received_before, dropped_before)


def report(args, client: LoadClient, elapsed: float, rss_start: float, rss_end: float, received_before: int,
           dropped_before: int) -> None:  # fmt: skip
    latencies = np.array(client.latencies) * 1000
    received = int(client.diagnostics.get("frames_received", 0)) - received_before
    dropped = int(client.diagnostics.get("frames_dropped", 0)) - dropped_before
    print(
        f"node_load: {args.model} (input {args.image_size or 'default'}) on cpu, {args.width}x{args.height} rgb8 "
        f"at {args.fps:g} FPS for {elapsed:.0f} s, one prompted object, overlay {'on' if args.overlay else 'off'}, "
        f"depth {'on' if args.depth else 'published, not used' if args.depth_unused else 'off'}"
    )
    print(f"  published   {client.published} images, {client.published / elapsed:.1f} Hz")
    print(
        f"  results     {len(latencies)} arrays, {len(latencies) / elapsed:.2f} Hz, "
        f"object in {sum(c > 0 for c in client.object_counts)} of them"
    )
    if len(latencies):
        print(
            f"  latency     mean {latencies.mean():.0f} ms, p95 {np.percentile(latencies, 95):.0f} ms "
            f"(result receipt - image stamp)"
        )
    print(f"  dropped     {dropped} of {received} images the node received (node diagnostics)")
    if args.depth:
        counts = {name: client.diagnostics.get(f"depth_{name}", "?") for name in ("matched", "unmatched", "rejected")}
        print(
            f"  depth       {counts['matched']} images matched, {counts['unmatched']} unmatched, "
            f"{counts['rejected']} rejected (node diagnostics, since the start)"
        )
    print(f"  node RSS    {rss_start:.0f} MB at the start, {rss_end:.0f} MB at the end")


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory() as folder:
        node = start_node(args, Path(folder))
        rclpy.init()
        try:
            run(args, LoadClient(args), node)
        finally:
            rclpy.shutdown()
            node.send_signal(2)
            node.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
