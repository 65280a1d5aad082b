#!/usr/bin/env python3
"""The sam2_tracker node: camera images and prompts in, tracked objects out.

A lifecycle node that wires ROS to sam2_ros.worker (which runs the tracker off the executor):
configure loads the model, activate opens the topics, services and the inference thread,
deactivate closes them and forgets every object, cleanup frees the model's memory. With the
parameter `autostart` (default true) it configures and activates itself.

    python -m sam2_ros.tracker_node --ros-args --params-file config/sam2_tracker.yaml
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from typing import TypeVar

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import Executor, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.lifecycle import LifecycleNode, LifecyclePublisher, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.task import Future as RclpyFuture
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from sam2_ros import parameters
from sam2_ros.conversions import (
    compressed_to_rgb,
    detections_from_msg,
    detections_from_vision_msgs,
    image_to_rgb,
    prompt_from_msg,
    stamp_to_ns,
    tracked_object,
)
from sam2_ros.depth import DepthStage
from sam2_ros.diagnostics import NO_IMAGE_WARNING_AFTER, diagnostic_array, no_image_warning
from sam2_ros.frame_messages import FrameMessageWriter, OutputChoice
from sam2_ros.loading import load_tracker, release_device_memory
from sam2_ros.msg import DetectionArray, Prompt, TrackedObjectArray
from sam2_ros.node_main import run_node
from sam2_ros.pairing import Pairing
from sam2_ros.segmentation import segment, segment_everything
from sam2_ros.session import Frame, FrameOutcome, PromptOutcome, TrackingSession
from sam2_ros.srv import AddPrompt, RemoveObject, Reset, Segment, SegmentEverything
from sam2_ros.worker import TrackingWorker
from sam2core.automatic_mask_generator import GenerationStopped
from sam2core.tracking import StreamingTracker

T = TypeVar("T")
# What a service reports as a failure: bad requests, unknown ids, timeouts, deactivation.
SERVICE_FAILURES = (ValueError, KeyError, TimeoutError, CancelledError)
# What loading a model raises for a bad checkpoint, model, device or option.
LOAD_FAILURES = (ValueError, KeyError, RuntimeError, OSError)


@dataclass(frozen=True)
class _Outputs:
    """The node's publishers; lifecycle publishers publish only while the node is active."""

    tracked: LifecyclePublisher
    overlay: LifecyclePublisher
    labels: LifecyclePublisher
    diagnostics: LifecyclePublisher
    cloud: LifecyclePublisher | None = None  # with use_depth
    markers: LifecyclePublisher | None = None  # with use_depth

    def all(self) -> tuple[LifecyclePublisher, ...]:
        everything = (self.tracked, self.overlay, self.labels, self.diagnostics, self.cloud, self.markers)
        return tuple(publisher for publisher in everything if publisher is not None)


class TrackerNode(LifecycleNode):
    """ROS topics, services and parameters around a TrackingWorker; no model logic."""

    def __init__(self, **kwargs):
        super().__init__("sam2_tracker", **kwargs)
        self.settings = parameters.declare(self)
        self.add_post_set_parameters_callback(self._on_parameters_set)
        self._tracker: StreamingTracker | None = None
        self._worker: TrackingWorker | None = None
        self._outputs: _Outputs | None = None
        self._inputs: list[Subscription] = []  # of the active state
        self._servers: list[Service] = []  # of the active state
        self._diagnostics_timer = None
        # A service's coroutine holds its callback group until it answers: in a group of their own
        # (reentrant: several may wait at once), services never keep the images waiting.
        self._service_group = ReentrantCallbackGroup()
        self._depth: DepthStage | None = None  # of the active state, with use_depth
        self._writer: FrameMessageWriter | None = None  # of the active state (the worker's thread)
        self._detections: Pairing | None = None  # detection arrays by stamp, of the active state
        self._detection_counts = {"detection_arrays_received": 0}
        self._tf_sender = None  # tf2_ros.TransformBroadcaster with publish_tf, when tf2_ros is installed

    def start(self) -> bool:
        """Configure and activate (what `autostart` does); False when either step fails."""
        return (
            self.trigger_configure() == TransitionCallbackReturn.SUCCESS
            and self.trigger_activate() == TransitionCallbackReturn.SUCCESS
        )

    def close(self) -> None:
        """Stop the inference thread and drop the model, whatever the lifecycle state."""
        self._stop_worker()
        self._drop_model()

    # ----------------------------------------------------------------- lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = self.settings
        self.get_logger().info(f"loading {settings.model} from checkpoint {settings.checkpoint!r}")
        try:
            self._tracker = load_tracker(settings.load_spec(), settings.tracker_options())
        except LOAD_FAILURES as error:
            self.get_logger().error(f"cannot load the model: {error}")
            return TransitionCallbackReturn.FAILURE
        precision = self._tracker.precision
        parts = ", ".join(f"{part} {value}" for part, value in self._tracker.precision_by_part.items())
        self.get_logger().info(
            f"model {settings.model} ready on {self._tracker.device}, {precision.name} ({precision.reason}); {parts}"
        )
        reliable = parameters.reliable_qos(settings)
        self._outputs = _Outputs(
            tracked=self.create_lifecycle_publisher(TrackedObjectArray, settings.tracked_objects_topic, reliable),
            overlay=self.create_lifecycle_publisher(Image, settings.overlay_topic, reliable),
            labels=self.create_lifecycle_publisher(Image, settings.labels_topic, reliable),
            diagnostics=self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", 10),
            cloud=self.create_lifecycle_publisher(PointCloud2, settings.objects_cloud_topic, reliable)
            if settings.use_depth else None,
            markers=self.create_lifecycle_publisher(MarkerArray, settings.markers_topic, reliable)
            if settings.use_depth else None,
        )  # fmt: skip
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = self.settings
        if settings.use_depth:
            self._depth = self._depth_stage()
        self._writer = FrameMessageWriter(self._depth)
        detection_options = settings.detection_options()
        self._detections = Pairing(
            "detections",
            round(settings.detection_max_offset * 1e9),
            settings.detection_buffer_size,
            max_wait=settings.detection_wait,
            needed_untracked=bool(detection_options.new_objects_from),  # detections may start objects
            consume=True,
        )
        self._detection_counts = {"detection_arrays_received": 0}
        self._worker = TrackingWorker(
            TrackingSession(self._tracker, detection_options),
            decode=self._decoder(),
            publish=self._publish,
            warn=lambda text: self.get_logger().warning(text, throttle_duration_sec=5.0),
            error=self.get_logger().error,
            prompt_timeout=settings.prompt_wait_timeout,
            pairings=(self._detections,) if self._depth is None else (self._detections, self._depth.pairing),
        )
        self._worker.start()
        reliable, services = parameters.reliable_qos(settings), self._service_group
        self._inputs = [
            self._image_subscription(),
            self.create_subscription(Prompt, settings.prompts_topic, self._on_prompt, reliable),
        ]
        self._inputs += self._detection_subscriptions()
        self._servers = [
            self.create_service(AddPrompt, "add_prompt", self._on_add_prompt, callback_group=services),
            self.create_service(RemoveObject, "remove_object", self._on_remove_object, callback_group=services),
            self.create_service(Reset, "reset", self._on_reset, callback_group=services),
            self.create_service(Segment, "segment", self._on_segment, callback_group=services),
            self.create_service(
                SegmentEverything, "segment_everything", self._on_segment_everything, callback_group=services
            ),
        ]
        if settings.use_depth:
            self._open_depth_inputs()
        self._diagnostics_timer = self.create_timer(settings.diagnostics_period, self._publish_diagnostics)
        self.get_logger().info(f"tracking images from {self._image_subscription_topic()}")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._close_inputs()
        self._stop_worker()
        self._depth = self._writer = self._detections = None
        self._tracker.reset()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for publisher in self._outputs.all():
            self.destroy_lifecycle_publisher(publisher)
        self._outputs = None
        self._drop_model()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._close_inputs()
        self.close()
        return super().on_shutdown(state)

    # ----------------------------------------------------------------- inputs

    def _image_subscription(self) -> Subscription:
        message_type = CompressedImage if self.settings.image_transport == "compressed" else Image
        qos = parameters.image_qos(self.settings)
        return self.create_subscription(message_type, self._image_subscription_topic(), self._worker.submit_frame, qos)

    def _detection_subscriptions(self) -> list[Subscription]:
        """The subscription to detections_topic in detection_format; none (with an error line) for
        vision_msgs where it is not installed."""
        settings, qos = self.settings, parameters.reliable_qos(self.settings)
        if settings.detection_format == "sam2_ros":
            message_type, convert = DetectionArray, detections_from_msg
        else:
            try:
                from vision_msgs.msg import Detection2DArray
            except ImportError:
                self.get_logger().error(
                    "detection_format is vision_msgs but vision_msgs is not installed: no detections are read"
                )
                return []
            message_type, convert = Detection2DArray, detections_from_vision_msgs

        pairing, worker = self._detections, self._worker  # of this active state

        def received(msg) -> None:
            detections = convert(msg)
            self._detection_counts["detection_arrays_received"] += 1
            pairing.add(stamp_to_ns(msg.header.stamp), detections)
            worker.wake()  # an image in the mailbox may be waiting for these

        return [self.create_subscription(message_type, settings.detections_topic, received, qos)]

    def _depth_stage(self) -> DepthStage:
        settings = self.settings
        return DepthStage(
            settings.depth_settings(),
            max_offset_ns=round(settings.depth_max_offset * 1e9),
            buffer_size=settings.depth_buffer_size,
            max_wait=settings.depth_wait,
            warn=lambda text: self.get_logger().warning(text, throttle_duration_sec=5.0),
        )

    def _open_depth_inputs(self) -> None:
        """The depth and camera_info subscriptions of the depth stage, and the TF sender."""
        settings = self.settings
        qos = parameters.image_qos(settings)
        # depth queues as many as the matcher holds: a busy executor loses none of them
        depth_qos = QoSProfile(depth=settings.depth_buffer_size, reliability=qos.reliability)
        self._inputs += [
            self.create_subscription(Image, settings.depth_topic, self._on_depth, depth_qos, raw=True),
            self.create_subscription(CameraInfo, settings.camera_info_topic, self._depth.set_camera_info, qos),
        ]
        if settings.publish_tf and self._tf_sender is None:
            self._tf_sender = self._transform_broadcaster()

    def _on_depth(self, raw: bytes) -> None:
        self._depth.add_depth(raw)
        worker = self._worker
        if worker is not None:
            worker.wake()  # an image in the mailbox may be waiting for this depth image

    def _transform_broadcaster(self):
        """tf2_ros's TransformBroadcaster, or None (with a warning) where tf2_ros is not installed:
        it comes with a robot's ROS installation, not with this package's Python requirements."""
        try:
            from tf2_ros import TransformBroadcaster
        except ImportError:
            self.get_logger().warning("publish_tf is true but tf2_ros is not installed: no TF frames are sent")
            return None
        return TransformBroadcaster(self)

    def _image_subscription_topic(self) -> str:
        """image_topic after remapping, or its /compressed sub-topic (as image_transport names it)."""
        topic = self.resolve_topic_name(self.settings.image_topic)
        return f"{topic}/compressed" if self.settings.image_transport == "compressed" else topic

    def _decoder(self) -> Callable[[Image | CompressedImage], Frame]:
        to_rgb = compressed_to_rgb if self.settings.image_transport == "compressed" else image_to_rgb

        def decode(msg) -> Frame:  # on the worker thread
            return Frame(to_rgb(msg), stamp_to_ns(msg.header.stamp), msg.header)

        return decode

    def _on_prompt(self, msg: Prompt) -> None:
        try:
            future = self._submit_prompt(msg)
        except ValueError as error:
            self.get_logger().warning(f"prompt for object {msg.object_id} rejected: {error}")
            return
        future.add_done_callback(lambda done: self._log_prompt(msg.object_id, done))

    def _log_prompt(self, object_id: int, future: Future[PromptOutcome]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self.get_logger().warning(f"prompt for object {object_id} rejected: {error}")
        else:
            self.get_logger().info(f"object {object_id} prompted on frame {future.result().frame_index}")

    def _running_worker(self) -> TrackingWorker:
        """The worker, for callbacks that may race with deactivation (a service resumes after awaiting)."""
        worker = self._worker
        if worker is None:
            raise CancelledError("the node is not active")
        return worker

    def _submit_prompt(self, msg: Prompt) -> Future[PromptOutcome]:
        return self._running_worker().submit_prompt(msg.object_id, prompt_from_msg(msg), stamp_to_ns(msg.header.stamp))

    async def _on_add_prompt(self, request: AddPrompt.Request, response: AddPrompt.Response) -> AddPrompt.Response:
        try:
            outcome = await self._answer(self._submit_prompt(request.prompt))
        except SERVICE_FAILURES as error:
            return _failure(response, error)
        response.object = tracked_object(outcome.result, outcome.header, self.settings.mask_encoding)
        response.success = True
        response.message = f"object {request.prompt.object_id} prompted on frame {outcome.frame_index}"
        return response

    async def _on_remove_object(
        self, request: RemoveObject.Request, response: RemoveObject.Response
    ) -> RemoveObject.Response:
        try:
            await self._answer(self._running_worker().call(lambda session: session.remove_object(request.object_id)))
        except SERVICE_FAILURES as error:
            return _failure(response, error)
        response.success, response.message = True, f"object {request.object_id} removed"
        return response

    async def _on_reset(self, request: Reset.Request, response: Reset.Response) -> Reset.Response:
        try:
            await self._answer(self._running_worker().call(lambda session: session.reset()))
        except SERVICE_FAILURES as error:
            return _failure(response, error)
        response.success, response.message = True, "every object forgotten; the next image is frame 0"
        return response

    async def _on_segment(self, request: Segment.Request, response: Segment.Response) -> Segment.Response:
        try:
            stamp_ns = stamp_to_ns(request.prompt.header.stamp)
            work = self._running_worker().call(
                lambda session: segment(session.tracker, session.held_frame(stamp_ns), request)
            )
            response = await self._answer(work)
        except SERVICE_FAILURES as error:
            return _failure(response, error)
        response.success, response.message = True, f"{len(response.masks)} candidate masks"
        return response

    async def _on_segment_everything(
        self, request: SegmentEverything.Request, response: SegmentEverything.Response
    ) -> SegmentEverything.Response:
        try:
            stamp_ns, worker = stamp_to_ns(request.header.stamp), self._running_worker()
            deadline = time.monotonic() + self.settings.service_timeout

            def should_stop() -> bool:  # past the deadline (the caller has its answer) or closing
                return worker.stopping or time.monotonic() > deadline

            def segment_and_track(session: TrackingSession) -> SegmentEverything.Response:
                frame = session.held_frame(stamp_ns)
                found, to_track = segment_everything(session.tracker, frame, request, should_stop)
                found.object_ids = session.start_objects(to_track, frame.stamp_ns)
                return found

            try:
                response = await self._answer(worker.call(segment_and_track))
            except GenerationStopped as stopped:  # the deadline passed (or the node closes) mid-work
                if worker.stopping:
                    raise CancelledError(f"the node is closing ({stopped})") from None
                timeout = self.settings.service_timeout
                raise TimeoutError(f"the tracker did not answer within {timeout:g} s ({stopped})") from None
        except SERVICE_FAILURES as error:
            return _failure(response, error)
        response.success = True
        response.message = f"{len(response.masks)} masks, {len(response.object_ids)} tracked"
        return response

    async def _answer(self, future: Future[T]) -> T:
        """The future's result within service_timeout, awaited without holding an executor thread:
        the worker completes it and wakes the executor, which resumes the service. On timeout the
        work is cancelled if not started."""
        settled = await_concurrent(future, self.settings.service_timeout, self.executor)
        await settled
        if not future.done():
            future.cancel()
            raise TimeoutError(f"the tracker did not answer within {self.settings.service_timeout:g} s")
        return future.result()

    def _on_parameters_set(self, changed: list[Parameter]) -> None:
        self.settings = parameters.updated(self.settings, changed)
        if self._worker is not None:
            self._worker.prompt_timeout = self.settings.prompt_wait_timeout

    # ----------------------------------------------------------------- outputs (worker thread)

    def _publish(self, outcome: FrameOutcome) -> None:
        settings = self.settings
        choice = OutputChoice(
            settings.mask_encoding, settings.mask_mode, settings.publish_overlay, settings.publish_labels,
            settings.tf_prefix if self._tf_sender is not None else None,
        )  # fmt: skip
        messages = self._writer.messages(outcome, choice)
        for problem in messages.problems:
            self.get_logger().warning(problem, throttle_duration_sec=5.0)
        outputs = self._outputs
        try:
            outputs.tracked.publish(messages.tracked)
            for publisher, msg in ((outputs.cloud, messages.cloud), (outputs.markers, messages.markers),
                                   (outputs.overlay, messages.overlay), (outputs.labels, messages.labels)):  # fmt: skip
                if msg is not None:
                    publisher.publish(msg)
            if messages.transforms:
                self._tf_sender.sendTransform(messages.transforms)
        except rclpy_implementation.RCLError:
            if self.context.ok():
                raise
            # SIGINT/SIGTERM shut ROS down while the worker tracked this image: nowhere to publish.

    def _publish_diagnostics(self) -> None:
        worker, topic = self._worker, self._image_subscription_topic()
        warning = no_image_warning(
            topic, time.monotonic() - worker.last_image_at, since_start=worker.last_image_at == worker.started_at
        )
        if warning is not None:
            self.get_logger().warning(warning, throttle_duration_sec=NO_IMAGE_WARNING_AFTER)
        stats = worker.stats.take()
        self._outputs.diagnostics.publish(
            diagnostic_array(
                self.get_clock().now().to_msg(),
                f"{self.get_fully_qualified_name()}: tracking",
                stats,
                model=self.settings.model,
                device=str(self._tracker.device),
                precision=self._tracker.precision.name,
                precision_by_part=self._tracker.precision_by_part,
                worker_alive=worker.alive,
                image_topic=topic,
                extra={**self._detection_diagnostics(), **(self._depth.counts() if self._depth is not None else {})},
            )
        )

    def _detection_diagnostics(self) -> dict[str, str]:
        """Detections since activation: arrays received, detections received, matched to an
        object, re-prompting one, starting one, rejected (and why)."""
        stats = self._worker.session.detections.stats.as_dict()
        counts = {
            **self._detection_counts,
            "detection_arrays_paired": self._detections.matcher.matched,
            **{f"detections_{name}": value for name, value in stats.items()},
        }
        return {key: str(value) for key, value in counts.items()}

    # ----------------------------------------------------------------- teardown

    def _close_inputs(self) -> None:
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        for server in self._servers:
            self.destroy_service(server)
        self._inputs, self._servers = [], []
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def _drop_model(self) -> None:
        if self._tracker is not None:
            device, self._tracker = self._tracker.device, None
            release_device_memory(device)


def await_concurrent(future: Future, timeout: float, executor: Executor) -> RclpyFuture:
    """An rclpy Future done when `future` is done or `timeout` seconds have passed; `executor`
    is woken then, so that a coroutine awaiting it resumes at once."""
    settled, lock = RclpyFuture(), threading.Lock()

    def settle(_: object = None) -> None:
        with lock:
            if settled.done():
                return
            settled.set_result(None)
        timer.cancel()
        executor.wake()

    timer = threading.Timer(timeout, settle)
    timer.daemon = True
    timer.start()
    future.add_done_callback(settle)
    return settled


def _failure(response: T, error: BaseException) -> T:
    response.success = False
    response.message = str(error) or f"{type(error).__name__}: the node stopped tracking"
    return response


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C, SIGTERM or shutdown; 1 when autostart cannot load the model, 2 for a bad parameter."""
    return run_node(
        "sam2_tracker",
        parameters.usage("sam2_tracker", __doc__.splitlines()[0]),
        TrackerNode,
        args=args,
        start=lambda node: not node.settings.autostart or node.start(),
        close=TrackerNode.close,
        # One executor thread: no callback blocks it (services await the tracking thread), and it
        # measured lower latencies than four threads with depth (docs/design/node.md).
        executor=SingleThreadedExecutor,
    )


if __name__ == "__main__":
    sys.exit(main())
