#!/usr/bin/env python3
"""The demo: the sam2_tracker node following synthetic held-out videos, scored and drawn.

Starts the tracker node (the bundled demonstration model by default) and the synthetic camera
(sam2_ros.demo.synthetic_camera) in their own processes. When the camera starts a sequence, the demo
prompts every target on that first image through the node's `add_prompt` service, stamped with the
image's stamp (the true box by default, what an operator would draw), having removed the previous
sequence's objects; the camera holds that image for `--hold` seconds meanwhile. It records
`tracked_objects` and, once every image is answered, stops both processes and writes into OUT:

- demo.mp4: every camera image with the tracked masks, boxes and ids, the true contours, each
  object's visible/hidden state, latency, and the frames the node dropped;
- summary.json, also printed: J&F and visibility accuracy per sequence and overall next to the
  "still" baseline, frames processed of those published, latency and the tracker's rate; the node
  runs with depth (use_depth), and `depth` scores its 3D positions and visibility reasons;
- logs/: the output of the node and the camera.

By default (`--detector both`) it runs twice: without detections, then with the camera
publishing a simulated detector's boxes (`--detector-settings`) that the node uses to re-acquire
lost objects; the second run writes the same files into OUT/with_detector/ and the summary holds
it under "with_detector". `--detector off` or `on` runs once, without or with them.

    python -m sam2_ros.demo.demo --out outputs/demo [--sequences 3] [--rate 8] [--checkpoint default] [--prompt box] \
        [--detector off|on|both]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rclpy
from ament_index_python.packages import get_package_share_directory
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from std_msgs.msg import Header

from sam2_ros import parameters
from sam2_ros.conversions import mono8_mask, prompt_to_msg, stamp_to_ns
from sam2_ros.demo.demo_report import Clip, Observation, Recording, format_summary, score_recording, summary
from sam2_ros.demo.demo_video import write_video
from sam2_ros.demo.synthetic_camera import camera_sequences
from sam2_ros.depth_messages import REASON_FROM_MSG
from sam2_ros.msg import TrackedObject, TrackedObjectArray
from sam2_ros.srv import AddPrompt, RemoveObject
from sam2core.data import BENCHMARK
from sam2core.data.detector import DetectorConfig
from sam2core.evaluation import PROMPT_KINDS
from sam2core.evaluation.benchmark import PromptKind, first_frame_prompts
from sam2core.settings_text import parse_settings

RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
START_TIMEOUT = 180.0  # seconds for the node to load its model and open its services
QUIET_TIMEOUT = 30.0  # seconds without a message from the camera or the node end the recording
LOG_TAIL = 20  # lines of a failed process's log in the error message
DIAGNOSTICS_PERIOD = 0.25  # seconds between the node's diagnostics, which the demo reads detection counts from
DETECTION_WAIT = 0.02  # seconds an image waits for its detections, sent just before it on another topic


class DemoError(RuntimeError):
    """Why the demo could not finish; main prints it."""


class Child:
    """A process the demo started, logging to its own file."""

    def __init__(self, name: str, module: str, ros_arguments: list[str], log: Path):
        self.name, self.log = name, log
        with open(log, "w") as output:
            command = [sys.executable, "-m", module, "--ros-args", *ros_arguments]
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)

    def check(self) -> None:
        """DemoError with the end of the log when the process has exited."""
        code = self.process.poll()
        if code is not None:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-LOG_TAIL:])
            raise DemoError(f"the {self.name} exited with code {code}; the end of {self.log}:\n{tail}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT (what Ctrl-C sends), then kill when it has not ended after `timeout` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"demo: the {self.name} ignored SIGINT for {timeout:g} s; killed", file=sys.stderr)
                self.process.kill()
                self.process.wait()


class DemoClient(Node):
    """The demo's end of the graph: prompts each sequence's targets when the camera starts it, and
    records the node's results into a Recording."""

    def __init__(self, recording: Recording, prompt: PromptKind):
        super().__init__("sam2_demo")
        self.recording, self.prompt_kind = recording, prompt
        self.add_prompt = self.create_client(AddPrompt, "add_prompt")
        self.remove_object = self.create_client(RemoveObject, "remove_object")
        self.results = self.create_subscription(TrackedObjectArray, "tracked_objects", self._on_result, RELIABLE)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.detection_counts: dict[str, int] = {}  # the node's detection counts, as last reported
        self.tracked: tuple[int, ...] = ()  # the ids prompted for the sequence playing
        self.failures: list[str] = []
        self.last_heard = time.monotonic()

    def tracker_ready(self) -> bool:
        """The node's services answer and it publishes results."""
        services = self.add_prompt.service_is_ready() and self.remove_object.service_is_ready()
        return services and self.results.get_publisher_count() > 0

    @property
    def quiet(self) -> bool:
        """Nothing came from the camera or the node for QUIET_TIMEOUT seconds."""
        return time.monotonic() - self.last_heard > QUIET_TIMEOUT

    def listen_to_camera(self) -> None:
        """Subscribe to the ground truth; the camera starts once the node and the demo listen."""
        self.create_subscription(TrackedObjectArray, "ground_truth", self._on_truth, RELIABLE)
        self.last_heard = time.monotonic()

    def _on_truth(self, msg: TrackedObjectArray) -> None:
        self.last_heard = time.monotonic()
        clip = self.recording.add_frame(stamp_to_ns(msg.header.stamp), msg.frame_index)
        if msg.frame_index == 0:
            self._start_sequence(clip, msg.header)

    def _start_sequence(self, clip: Clip, header: Header) -> None:
        """Remove the previous sequence's objects, then prompt this one's targets on `header`'s image."""
        played, count = len(self.recording.clips), len(self.recording.sequences)
        targets = " ".join(map(str, clip.sequence.object_ids))
        print(f"demo: sequence {played}/{count} (targets {targets}): prompting each with its true {self.prompt_kind}")
        removals = [self.remove_object.call_async(RemoveObject.Request(object_id=i)) for i in self.tracked]
        self.tracked = clip.sequence.object_ids
        _after_all(removals, lambda: self._prompt_targets(clip, header))

    def _prompt_targets(self, clip: Clip, header: Header) -> None:
        for object_id, prompt in first_frame_prompts(clip.sequence, kind=self.prompt_kind).items():
            request = AddPrompt.Request(prompt=prompt_to_msg(object_id, prompt, header))
            future = self.add_prompt.call_async(request)
            future.add_done_callback(lambda done, object_id=object_id: self._on_prompted(clip, object_id, header, done))

    def _on_prompted(self, clip: Clip, object_id: int, header: Header, future: Future) -> None:
        response = future.result()
        where = f"sequence {clip.sequence.seed}, object {object_id}"
        if not response.success:
            self.failures.append(f"{where}: {response.message}")
        elif response.object.mask.header.stamp != header.stamp:
            self.failures.append(f"{where}: prompted on a later image than the first")
        else:
            clip.prompted[object_id] = observation(response.object)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith("sam2_tracker: tracking"):
                values = {kv.key: kv.value for kv in status.values if kv.key.startswith("detection")}
                self.detection_counts = {key: int(value) for key, value in values.items()}

    def _on_result(self, msg: TrackedObjectArray) -> None:
        self.last_heard = time.monotonic()
        objects = {obj.object_id: observation(obj) for obj in msg.objects}
        self.recording.add_result(stamp_to_ns(msg.header.stamp), objects, self.get_clock().now().nanoseconds)


def _after_all(futures: list[Future], then: Callable[[], None]) -> None:
    """Call `then` once every one of `futures` is done (at once when there are none)."""
    pending = set(futures)
    if not pending:
        then()

    def done(future: Future) -> None:
        pending.discard(future)
        if not pending:
            then()

    for future in futures:
        future.add_done_callback(done)


def observation(msg: TrackedObject) -> Observation:
    """An Observation of a TrackedObject (its pixel box made XYXY, None when the mask is empty)."""
    box = msg.box
    xyxy = (box.x_offset, box.y_offset, box.x_offset + box.width - 1, box.y_offset + box.height - 1)
    position = np.array([msg.position.x, msg.position.y, msg.position.z]) if msg.depth_points else None
    return Observation(mono8_mask(msg.mask), msg.visible, msg.visibility, xyxy if box.width else None, position,
                       REASON_FROM_MSG[msg.visibility_reason])  # fmt: skip


def spin_until(node: Node, condition: Callable[[], bool], children: list[Child], timeout: float, what: str) -> None:
    """Spin `node` until `condition()`; DemoError when a child exits or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        for child in children:
            child.check()
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")
        rclpy.spin_once(node, timeout_sec=0.05)


def record(client: DemoClient, children: list[Child]) -> None:
    """Wait for the node, let the camera play every sequence and wait for the last result."""
    print("demo: starting the tracker node and the camera")
    spin_until(client, client.tracker_ready, children, START_TIMEOUT, "the tracker node to start")
    client.listen_to_camera()
    spin_until(client, lambda: client.recording.complete or client.quiet, children, math.inf, "the camera")
    if not client.recording.complete:
        raise DemoError(f"nothing came from the camera or the node for {QUIET_TIMEOUT:.0f} s; see the logs")
    settled = time.monotonic() + 3 * DIAGNOSTICS_PERIOD  # the node's counts of the last images
    spin_until(client, lambda: time.monotonic() > settled, children, math.inf, "the node's last diagnostics")


def start_children(args: argparse.Namespace, logs: Path, *, detector: bool) -> list[Child]:
    """The tracker node (the package's parameter file, the demo's model, no overlay topic) and
    the camera (waiting for its subscribers, playing every sequence once; with `detector`,
    publishing the simulated detector's boxes, which each image waits up to DETECTION_WAIT for)."""
    params_file = Path(get_package_share_directory("sam2_ros")) / "config" / "sam2_tracker.yaml"
    node = {**parameters.chosen(args), "publish_overlay": "false", "use_depth": "true",
            "detection_wait": DETECTION_WAIT if detector else 0.0,
            "diagnostics_period": DIAGNOSTICS_PERIOD}  # fmt: skip
    camera = {"sequences": args.sequences, "frames": args.frames, "rate": float(args.rate),
              "first_frame_hold": float(args.hold), "wait_for_subscribers": "true", "loop": "false",
              "publish_detections": str(detector).lower(), "detector": args.detector_settings}  # fmt: skip
    return [
        Child("tracker node", "sam2_ros.tracker_node", ["--params-file", str(params_file), *_overrides(node)],
              logs / "tracker.log"),
        Child("camera", "sam2_ros.demo.synthetic_camera", _overrides(camera), logs / "camera.log"),
    ]  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    """The runs --detector asks for; the summary's figures (of the second run under "with_detector")."""
    if args.detector == "on":
        return run_once(args, args.out, detector=True)
    figures = run_once(args, args.out, detector=False)
    if args.detector == "both":
        figures["with_detector"] = run_once(args, args.out / "with_detector", detector=True)
    return figures


def run_once(args: argparse.Namespace, out: Path, *, detector: bool) -> dict:
    """Run the node and the camera, record, score and draw into `out`; the run's figures."""
    print(f"demo: a run {'with' if detector else 'without'} the simulated detector's boxes")
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children = start_children(args, logs, detector=detector)
    rclpy.init()
    client = None
    try:
        client = DemoClient(Recording(camera_sequences(args.sequences, args.frames)), args.prompt)
        record(client, children)
    finally:
        if client is not None:  # its subscriptions leave the graph now: the next run's camera waits for its own
            client.destroy_node()
        rclpy.try_shutdown()
        for child in children:
            child.stop()
    for failure in client.failures:
        print(f"demo: a prompt failed: {failure}", file=sys.stderr)
    scores = score_recording(client.recording)
    figures = summary(scores, model=args.model, checkpoint=args.checkpoint, prompt=args.prompt, rate=args.rate)
    figures["prompt_failures"] = client.failures
    figures["unmatched_results"] = client.recording.unmatched_results
    figures["video_frames"] = write_video(out / "demo.mp4", scores, prompt=args.prompt, fps=args.rate)
    figures["detector"] = (args.detector_settings or "default") if detector else None
    figures["node_detection_counts"] = client.detection_counts
    return figures


def _overrides(parameters: dict[str, object]) -> list[str]:
    # rcl reads each value as YAML: an empty string must be spelt '' to stay one.
    return [
        item for name, value in parameters.items() for item in ("-p", f"{name}:={value if value != '' else repr('')}")
    ]


def command_line() -> argparse.ArgumentParser:
    """The demo's arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m sam2_ros.demo.demo",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="folder of demo.mp4, summary.json, logs")
    parser.add_argument("--sequences", type=int, default=3, help="held-out synthetic sequences to play")
    parser.add_argument("--frames", type=int, default=BENCHMARK.num_frames, help="frames of each sequence")
    parser.add_argument("--rate", type=float, default=8.0, help="camera images per second")
    parser.add_argument("--hold", type=float, default=1.0, help="seconds each sequence's first image is held")
    parser.add_argument("--prompt", choices=PROMPT_KINDS, default="box", help="the true box, mask or one click")
    parser.add_argument(
        "--detector",
        choices=("off", "on", "both"),
        default="both",
        help="run without the simulated detector's boxes, with them, or both one after the other",
    )
    parser.add_argument(
        "--detector-settings",
        default="",
        metavar="NAME=VALUE,...",
        help="the simulated detector (sam2core.data.detector.DetectorConfig); empty: every 4th image, "
        "10%% jitter, 20%% misses, 0.2 false positives an image",
    )
    parameters.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 1 with a message when it cannot finish, 130 when interrupted."""
    parser = command_line()
    args = parser.parse_args(argv)
    if args.sequences < 1 or args.frames < 2 or args.rate <= 0 or args.hold < 0:
        parser.error("--sequences must be at least 1, --frames at least 2, --rate positive, --hold not negative")
    try:
        parse_settings(DetectorConfig, args.detector_settings)
    except (ValueError, TypeError) as error:
        parser.error(f"--detector-settings: {error}")
    if args.checkpoint != "default":
        args.checkpoint = str(Path(args.checkpoint).resolve())
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    started = time.monotonic()
    try:
        figures = run(args)
    except DemoError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        print("demo: interrupted; the node and the camera were stopped", file=sys.stderr)
        return 130
    figures["runtime_s"] = time.monotonic() - started
    figures["load_average_1min"] = os.getloadavg()[0]  # other work on the machine slows the node
    (args.out / "summary.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(format_summary(figures))
    print(f"wrote {args.out / 'demo.mp4'} and {args.out / 'summary.json'} in {figures['runtime_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
