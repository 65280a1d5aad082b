#!/usr/bin/env python3
"""Track objects through a recorded rosbag2 offline and write the results to a new bag.

    python -m sam2_ros.tools.bag_runner --bag IN --image-topic /camera/image_raw --prompts prompts.yaml \
        --out OUT --checkpoint model.pt [--prompt-topic /prompts] [--overlay-topic /overlay]

Every image of the image topic (sensor_msgs/Image or CompressedImage) is tracked, none dropped.
Prompts come from the bag's prompt topic (sam2_ros/Prompt, applied as the node applies them) and
from a YAML file (sam2_ros/tools/prompt_file.py). The output bag (MCAP) gets one
sam2_ros/TrackedObjectArray per image, at the image's receive time (masks as --mask-mode and
--mask-encoding say), and optionally overlays and label images: the messages the node publishes
(sam2_ros/frame_messages.py).
Messages are read and written with rosbags and (de)serialised by rclpy, so no ROS graph is needed.
With --depth-topic and --camera-info-topic the objects are located in 3D as the node does with
use_depth (sam2_ros/depth.py; each image waits until the bag is `--depth-max-offset` past it, so
depth recorded just after its image still matches), and the objects' point clouds and markers
are written too.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader, Writer
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from tqdm import tqdm

from sam2_ros import parameters
from sam2_ros.conversions import compressed_to_rgb, image_to_rgb, prompt_from_msg, stamp_to_ns
from sam2_ros.depth import DepthStage
from sam2_ros.frame_messages import FrameMessageWriter, OutputChoice
from sam2_ros.loading import load_tracker
from sam2_ros.msg import Prompt as PromptMsg
from sam2_ros.session import Frame, PromptRequest, TrackingSession
from sam2_ros.tools.prompt_file import ScheduledPrompt, read_prompt_file
from sam2core.tracking import Prompt

IMAGE_TYPES = {
    "sensor_msgs/msg/Image": (Image, image_to_rgb),
    "sensor_msgs/msg/CompressedImage": (CompressedImage, compressed_to_rgb),
}
OUR_MESSAGES = ("Prompt", "TrackedObject", "TrackedObjectArray")


@dataclass
class Summary:
    """What a run did."""

    images: int = 0
    tracked: int = 0
    prompts_applied: int = 0
    problems: list[str] = field(default_factory=list)


def sam2_typestore() -> Typestore:
    """rosbags' ROS 2 Jazzy types plus sam2_ros's messages, read from the installed .msg files."""
    typestore = get_typestore(Stores.ROS2_JAZZY)
    msg_dir = Path(get_package_share_directory("sam2_ros")) / "msg"
    for name in OUR_MESSAGES:
        typestore.register(get_types_from_msg((msg_dir / f"{name}.msg").read_text(), f"sam2_ros/msg/{name}"))
    return typestore


def run(args: argparse.Namespace) -> Summary:
    """Track through `args.bag` and write `args.out`; see parse_args for the options."""
    entries = read_prompt_file(args.prompts) if args.prompts else []
    settings = parameters.settings_of(args)
    tracker = load_tracker(settings.load_spec(), settings.tracker_options())
    with Reader(args.bag) as reader:
        images = _image_connections(reader, args.image_topic)
        with Writer(args.out, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
            bag_run = _BagRun(args, TrackingSession(tracker), reader, images, writer)
            for entry in entries:
                bag_run.schedule(entry)
            bag_run.track()
    return bag_run.finish()


def _image_connections(reader: Reader, topic: str) -> list[Connection]:
    """The bag's connections of the image topic; ValueError when it has none of an image type."""
    images = [c for c in reader.connections if c.topic == topic]
    if not images or images[0].msgtype not in IMAGE_TYPES:
        found = sorted({(c.topic, c.msgtype) for c in reader.connections})
        raise ValueError(f"no image topic {topic!r} in {reader.path}; topics: {found}")
    return images


class _BagRun:
    """One pass over a bag: prompts to the session, images through it, results to the writer."""

    def __init__(
        self,
        args: argparse.Namespace,
        session: TrackingSession,
        reader: Reader,
        images: list[Connection],
        writer: Writer,
    ):
        self.args, self.session, self.reader, self.images, self.writer = args, session, reader, images, writer
        self.summary = Summary()
        self.by_frame: dict[int, list[ScheduledPrompt]] = defaultdict(list)
        self.image_type, self.to_rgb = IMAGE_TYPES[self.images[0].msgtype]
        self.prompts = [c for c in reader.connections if c.topic == args.prompt_topic]
        self.depth_inputs = [c for c in reader.connections if c.topic in (args.depth_topic, args.camera_info_topic)]
        self.depth: DepthStage | None = None
        self.waiting: list[tuple[Image | CompressedImage, int]] = []  # images waiting for their depth
        if args.depth_topic:
            self.depth = DepthStage(
                parameters.Settings().depth_settings(),
                max_offset_ns=round(args.depth_max_offset * 1e9), buffer_size=64,
                warn=lambda text: self.problem(f"depth: {text}"),
            )  # fmt: skip
        typestore = sam2_typestore()
        self.frame_writer = FrameMessageWriter(self.depth)
        self.choice = OutputChoice(
            args.mask_encoding, args.mask_mode, bool(args.overlay_topic), bool(args.labels_topic)
        )
        topics = {
            "tracked": (args.output_topic, "sam2_ros/msg/TrackedObjectArray"),
            "overlay": (args.overlay_topic, "sensor_msgs/msg/Image"),
            "labels": (args.labels_topic, "sensor_msgs/msg/Image"),
            "cloud": (args.cloud_topic if self.depth is not None else "", "sensor_msgs/msg/PointCloud2"),
            "markers": (args.markers_topic if self.depth is not None else "", "visualization_msgs/msg/MarkerArray"),
        }
        self.connections = {
            output: writer.add_connection(topic, msgtype, typestore=typestore)
            for output, (topic, msgtype) in topics.items()
            if topic
        }

    def schedule(self, entry: ScheduledPrompt) -> None:
        """A file prompt: by frame index, applied when that image comes; by stamp, handed over now."""
        if entry.frame is None:
            self.submit(entry.object_id, entry.prompt, entry.stamp_ns)
        else:
            self.by_frame[entry.frame].append(entry)

    def track(self) -> None:
        connections = self.images + self.prompts + self.depth_inputs
        messages = self.reader.messages(connections=connections)
        for connection, timestamp, raw in tqdm(messages, total=sum(c.msgcount for c in connections), unit="msg"):
            self.track_waiting(timestamp)
            if connection.topic == self.args.prompt_topic:
                self.prompt_message(deserialize_message(raw, PromptMsg))
            elif connection.topic == self.args.depth_topic:
                self.depth.add_depth(raw)
            elif connection.topic == self.args.camera_info_topic:
                self.depth.set_camera_info(deserialize_message(raw, CameraInfo))
            elif self.depth is None:
                self.image(deserialize_message(raw, self.image_type), timestamp)
            else:
                self.waiting.append((deserialize_message(raw, self.image_type), timestamp))
        self.track_waiting(None)

    def track_waiting(self, now: int | None) -> None:
        """Track the images waiting for depth that the bag has passed by more than the offset (all: None)."""
        offset = round(self.args.depth_max_offset * 1e9)
        while self.waiting and (now is None or self.waiting[0][1] + offset < now):
            self.image(*self.waiting.pop(0))

    def prompt_message(self, msg: PromptMsg) -> None:
        try:
            prompt = prompt_from_msg(msg)
        except ValueError as error:
            self.problem(f"prompt for object {msg.object_id} rejected: {error}")
            return
        self.submit(msg.object_id, prompt, stamp_to_ns(msg.header.stamp))

    def image(self, msg: Image | CompressedImage, timestamp: int) -> None:
        """Track one image (after the file prompts for it) and write its results at `timestamp`."""
        index, stamp_ns = self.summary.images, stamp_to_ns(msg.header.stamp)
        self.summary.images += 1
        for entry in self.by_frame.pop(index, []):
            self.submit(entry.object_id, entry.prompt, stamp_ns)
        try:
            frame = Frame(self.to_rgb(msg), stamp_ns, msg.header)
            outcome = self.session.process(self.depth.pairing.attach(frame) if self.depth is not None else frame)
        except ValueError as error:  # an undecodable image, or one of another size (FrameRejected)
            self.problem(f"image {index} skipped: {error}")
            return
        if outcome.jump_warning is not None:
            self.problem(f"image {index}: {outcome.jump_warning}")
        messages = self.frame_writer.messages(outcome, self.choice)
        for problem in messages.problems:
            self.problem(f"image {index}: {problem}")
        for output, connection in self.connections.items():
            message = getattr(messages, output)
            if message is not None:
                self.writer.write(connection, timestamp, serialize_message(message))
        self.summary.tracked += 1

    def submit(self, object_id: int, prompt: Prompt, stamp_ns: int) -> None:
        """Hand a prompt to the session; count it when applied, report it when rejected."""
        future: Future = Future()
        future.add_done_callback(lambda done: self.prompt_done(object_id, done))
        self.session.prompt(PromptRequest(object_id, prompt, stamp_ns), future)

    def prompt_done(self, object_id: int, future: Future) -> None:
        if future.exception() is None:
            self.summary.prompts_applied += 1
        else:
            self.problem(f"prompt for object {object_id} rejected: {future.exception()}")

    def finish(self) -> Summary:
        """Reject what never found its image, and return the summary."""
        self.session.close("the bag ended before an image for this prompt")
        for frame, entries in self.by_frame.items():
            self.problem(
                f"{len(entries)} prompt(s) for frame {frame} not applied: the bag has {self.summary.images} images"
            )
        return self.summary

    def problem(self, text: str) -> None:
        self.summary.problems.append(text)
        tqdm.write(f"bag_runner: {text}", file=sys.stderr)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sam2_ros.tools.bag_runner",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--bag", required=True, help="input rosbag2 folder (MCAP or SQLite 3)")
    parser.add_argument("--image-topic", required=True, help="sensor_msgs/Image or CompressedImage topic to track on")
    parser.add_argument("--out", required=True, help="output bag folder (must not exist), MCAP")
    parser.add_argument("--prompts", help="YAML prompt file (see sam2_ros/tools/prompt_file.py); none by default")
    parser.add_argument("--prompt-topic", default="/prompts", help="sam2_ros/Prompt topic of the input bag")
    parser.add_argument("--output-topic", default="/tracked_objects", help="TrackedObjectArray topic to write")
    parser.add_argument("--overlay-topic", default="", help="also write overlay images on this topic; '' for none")
    parser.add_argument("--labels-topic", default="", help="also write label images (id + 1 per pixel) on this topic")
    parser.add_argument("--depth-topic", default="", help="registered depth images (16UC1 mm / 32FC1 m): 3D outputs")
    parser.add_argument("--camera-info-topic", default="", help="CameraInfo of the colour camera (with --depth-topic)")
    parser.add_argument("--cloud-topic", default="/objects_cloud", help="PointCloud2 topic to write, with depth")
    parser.add_argument("--markers-topic", default="/markers", help="MarkerArray topic to write, with depth")
    parameters.add_arguments(parser, ("mask_encoding", "mask_mode", "depth_max_offset", *parameters.TRACKER_SETTINGS))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if bool(args.depth_topic) != bool(args.camera_info_topic):
        print("bag_runner: --depth-topic and --camera-info-topic go together", file=sys.stderr)
        return 2
    try:
        summary = run(args)
    except (ValueError, KeyError, OSError) as error:  # bad checkpoint, model, prompt file or bag
        print(f"bag_runner: {error}", file=sys.stderr)
        return 1
    print(
        f"bag_runner: {summary.images} images, {summary.tracked} tracked, {summary.prompts_applied} prompts applied, "
        f"{len(summary.problems)} problems; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
