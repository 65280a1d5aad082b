#!/usr/bin/env python3
"""A camera of synthetic held-out videos, publishing their ground truth alongside.

Plays the first `sequences` held-out synthetic sequences of sam2core.data (the benchmark's
scenes, `frames` frames each) one after another at `rate` images per second:

- `image` (sensor_msgs/Image rgb8, sensor-data QoS): each frame, stamped with the time it is
  published and `frame_id`.
- `depth` (16UC1 millimetres, registered to `image`, same header and QoS) and `camera_info`: the
  scene's depth as a depth camera would report it (sam2core.data.depth: noise, dropouts).
- `ground_truth` (sam2_ros/TrackedObjectArray, reliable): the same header, `frame_index` the
  frame's index in its sequence (0 starts a sequence), and every target with its true mask,
  visibility, 3D position and visibility reason, as a tracker that is always right would report it.
- `detections` (sam2_ros/DetectionArray, reliable), with `publish_detections`: a simulated
  detector's boxes (sam2core.data.detector, set by `detector`), on the images it runs on, with
  the image's header and published just before it.

`first_frame_hold` keeps each sequence's first frame the newest image for that many seconds,
rounded up to whole frame periods (time for an operator to prompt it); `wait_for_subscribers`
holds back the first image until both topics have a subscriber; `loop` (default true) starts over
after the last sequence instead of going quiet.

    python -m sam2_ros.demo.synthetic_camera --ros-args -p sequences:=3 -p rate:=8.0
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from sam2_ros.conversions import detection_array, rgb_to_image, tracked_object_array
from sam2_ros.depth_messages import camera_info, depth_image
from sam2_ros.msg import DetectionArray, TrackedObject, TrackedObjectArray
from sam2_ros.node_main import run_node
from sam2_ros.parameters import declare, parameter, usage
from sam2core.data import BENCHMARK, SceneSequence, held_out_sequences
from sam2core.data.depth import sensor_depth, synthetic_camera, visibility_causes
from sam2core.data.detector import DetectorConfig, simulate_detections
from sam2core.settings_text import parse_settings
from sam2core.tracking import Detection, ObjectResult
from sam2core.tracking.results import mask_geometry

# Logit of a ground-truth pixel or object score: its sigmoid is 1 (or 0) to within 1e-8.
CERTAIN_LOGIT = 20.0
REASONS = {"visible": TrackedObject.REASON_VISIBLE, "occluded": TrackedObject.REASON_OCCLUDED,
           "out_of_view": TrackedObject.REASON_OUT_OF_VIEW}  # fmt: skip
GROUND_TRUTH_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
FINISHED = object()  # what the schedule gives after the last frame


def camera_sequences(count: int, frames: int = BENCHMARK.num_frames) -> list[SceneSequence]:
    """The sequences the camera plays: the first `count` held-out benchmark scenes, `frames` long."""
    return list(held_out_sequences(count, config=replace(BENCHMARK, num_frames=frames)))


def ground_truth_array(sequence: SceneSequence, frame: int, header: Header) -> TrackedObjectArray:
    """Every target of `sequence` on `frame` with its true mask and visibility, stamped `header`."""
    results = []
    for mask, visible, object_id in zip(sequence.masks[frame], sequence.visibility[frame], sequence.object_ids):
        truth = torch.from_numpy(mask)
        results.append(
            ObjectResult(
                object_id=object_id,
                mask_logits=torch.where(truth, CERTAIN_LOGIT, -CERTAIN_LOGIT),
                object_score=CERTAIN_LOGIT if visible else -CERTAIN_LOGIT,
                iou=1.0,
                object_pointer=torch.zeros(0),
                geometry=mask_geometry(truth),
            )
        )
    array = tracked_object_array(header, frame, results, sequence.frames.shape[1:3])
    causes = visibility_causes(sequence.visibility, sequence.hidden, sequence.object_ids)[frame]
    for msg, cause, position in zip(array.objects, causes, sequence.positions[frame]):
        msg.visibility_reason = REASONS[cause]
        if msg.visible:
            msg.position.x, msg.position.y, msg.position.z = (float(value) for value in position)
    return array


def camera_depth(sequence: SceneSequence, frame: int) -> np.ndarray:
    """(H, W) uint16 millimetres: the depth camera's reading of `frame` (the same on every call)."""
    return sensor_depth(sequence.depth[frame], np.random.default_rng([sequence.seed, frame]))


@dataclass(frozen=True)
class CameraSettings:
    """The camera's parameters."""

    sequences: int = parameter(3, "Held-out synthetic sequences to play.", limits=(1, 1000))
    frames: int = parameter(BENCHMARK.num_frames, "Frames of each sequence.", limits=(1, 10000))
    rate: float = parameter(10.0, "Images per second.", limits=(0.01, 1000.0))
    first_frame_hold: float = parameter(
        0.0, "Seconds each sequence's first frame stays the newest image.", limits=(0.0, 3600.0)
    )
    frame_id: str = parameter("camera", "frame_id of the images and ground truth.")
    wait_for_subscribers: bool = parameter(False, "Hold back the first image until both topics have a subscriber.")
    loop: bool = parameter(True, "Start over after the last sequence instead of going quiet.")
    publish_detections: bool = parameter(False, "Publish a simulated detector's boxes on detections.")
    detector: str = parameter(
        "",
        "The simulated detector: NAME=VALUE pairs of sam2core.data.detector.DetectorConfig, separated by commas "
        "(empty: every=4,jitter=0.1,miss_rate=0.2,false_positives=0.2).",
    )


class SyntheticCamera(Node):
    """Publishes the frames of camera_sequences() and their ground truth on a timer."""

    def __init__(self, **kwargs):
        super().__init__("synthetic_camera", **kwargs)
        settings = declare(self, CameraSettings)
        self.frame_id = settings.frame_id
        self.waiting = settings.wait_for_subscribers
        sequences = camera_sequences(settings.sequences, settings.frames)
        self.detections: dict[int, list[tuple[Detection, ...] | None]] = {}  # sequence seed -> per frame
        if settings.publish_detections:
            detector = parse_settings(DetectorConfig, settings.detector)
            self.detections = {sequence.seed: simulate_detections(sequence, detector) for sequence in sequences}
            self.detection_pub = self.create_publisher(DetectionArray, "detections", GROUND_TRUTH_QOS)
        hold_ticks = max(math.ceil(settings.first_frame_hold * settings.rate) - 1, 0)
        self.schedule = schedule(sequences, hold_ticks=hold_ticks, loop=settings.loop)
        self.image_pub = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self.truth_pub = self.create_publisher(TrackedObjectArray, "ground_truth", GROUND_TRUTH_QOS)
        self.depth_pub = self.create_publisher(Image, "depth", qos_profile_sensor_data)
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self.camera = synthetic_camera(BENCHMARK)  # camera_sequences() draws BENCHMARK's frame size
        self.timer = self.create_timer(1.0 / settings.rate, self._tick)
        self.get_logger().info(f"{len(sequences)} sequences of {settings.frames} frames at {settings.rate:g} images/s")

    def _tick(self) -> None:
        if self.waiting:
            self.waiting = not (self.image_pub.get_subscription_count() and self.truth_pub.get_subscription_count())
            return
        item = next(self.schedule, FINISHED)
        if item is FINISHED:
            self.timer.cancel()
            self.get_logger().info("every sequence published")
        elif item is not None:
            sequence, frame = item
            header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)
            self.depth_pub.publish(depth_image(camera_depth(sequence, frame), header))
            self.info_pub.publish(camera_info(self.camera, header))
            found = self.detections[sequence.seed][frame] if self.detections else None
            if found is not None:
                self.detection_pub.publish(detection_array(header, list(found)))
            self.image_pub.publish(rgb_to_image(sequence.frames[frame], header))
            self.truth_pub.publish(ground_truth_array(sequence, frame, header))


def schedule(
    sequences: list[SceneSequence], *, hold_ticks: int, loop: bool
) -> Iterator[tuple[SceneSequence, int] | None]:
    """What each tick of the camera's timer publishes: (sequence, frame index) of every frame in
    play order, and None for the `hold_ticks` ticks after each first frame; forever when `loop`."""
    ticks = []
    for sequence in sequences:
        for frame in range(len(sequence.frames)):
            ticks.append((sequence, frame))
            ticks.extend([None] * (hold_ticks if frame == 0 else 0))
    return itertools.cycle(ticks) if loop else iter(ticks)


def main(args: list[str] | None = None) -> int:
    """Run the camera until Ctrl-C, SIGTERM or shutdown; 2 for a bad parameter."""
    text = usage("synthetic_camera", __doc__.splitlines()[0], CameraSettings)
    return run_node("synthetic_camera", text, SyntheticCamera, args=args)


if __name__ == "__main__":
    sys.exit(main())
