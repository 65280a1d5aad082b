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
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from typing import TypeVar

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecyclePublisher, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.service import Service
from rclpy.subscription import Subscription
from sensor_msgs.msg import CompressedImage, Image

from sam2_ros import parameters
from sam2_ros.conversions import (
    compressed_to_rgb,
    image_to_rgb,
    overlay_image,
    prompt_from_msg,
    stamp_to_ns,
    tracked_object,
    tracked_object_array,
)
from sam2_ros.diagnostics import diagnostic_array
from sam2_ros.loading import load_tracker, release_device_memory
from sam2_ros.msg import Prompt, TrackedObjectArray
from sam2_ros.session import Frame, FrameOutcome, PromptOutcome, TrackingSession
from sam2_ros.srv import AddPrompt, RemoveObject, Reset
from sam2_ros.worker import TrackingWorker
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
    diagnostics: LifecyclePublisher

    def all(self) -> tuple[LifecyclePublisher, ...]:
        return self.tracked, self.overlay, self.diagnostics


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
        self._service_group = ReentrantCallbackGroup()

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
        options = self.settings.tracker_options()
        self.get_logger().info(f"loading {options['model']} from checkpoint {options['checkpoint']!r}")
        try:
            self._tracker = load_tracker(**options)
        except LOAD_FAILURES as error:
            self.get_logger().error(f"cannot load the model: {error}")
            return TransitionCallbackReturn.FAILURE
        precision = self._tracker.precision
        self.get_logger().info(f"model {options['model']} ready on {self._tracker.device}, {precision.name} ({precision.reason})")
        settings = self.settings
        reliable = parameters.reliable_qos(settings)
        self._outputs = _Outputs(
            tracked=self.create_lifecycle_publisher(TrackedObjectArray, settings.tracked_objects_topic, reliable),
            overlay=self.create_lifecycle_publisher(Image, settings.overlay_topic, reliable),
            diagnostics=self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", 10),
        )
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = self.settings
        self._worker = TrackingWorker(
            TrackingSession(self._tracker),
            decode=self._decoder(),
            publish=self._publish,
            warn=lambda text: self.get_logger().warning(text, throttle_duration_sec=5.0),
            error=self.get_logger().error,
            prompt_timeout=settings.prompt_wait_timeout,
        )
        self._worker.start()
        reliable, services = parameters.reliable_qos(settings), self._service_group
        self._inputs = [
            self._image_subscription(),
            self.create_subscription(Prompt, settings.prompts_topic, self._on_prompt, reliable),
        ]
        self._servers = [
            self.create_service(AddPrompt, "add_prompt", self._on_add_prompt, callback_group=services),
            self.create_service(RemoveObject, "remove_object", self._on_remove_object, callback_group=services),
            self.create_service(Reset, "reset", self._on_reset, callback_group=services),
        ]
        self._diagnostics_timer = self.create_timer(settings.diagnostics_period, self._publish_diagnostics)
        self.get_logger().info(f"tracking images from {self._image_subscription_topic()}")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._close_inputs()
        self._stop_worker()
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

    def _image_subscription_topic(self) -> str:
        """image_topic after remapping, or its /compressed sub-topic (as image_transport names it)."""
        topic = self.resolve_topic_name(self.settings.image_topic)
        return f"{topic}/compressed" if self.settings.image_transport == "compressed" else topic

    def _decoder(self) -> Callable[[Image | CompressedImage], Frame]:
        to_rgb = compressed_to_rgb if self.settings.image_transport == "compressed" else image_to_rgb
        return lambda msg: Frame(to_rgb(msg), stamp_to_ns(msg.header.stamp), msg.header)

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
        """The worker, for callbacks that may race with deactivation (services run in parallel)."""
        worker = self._worker
        if worker is None:
            raise CancelledError("the node is not active")
        return worker

    def _submit_prompt(self, msg: Prompt) -> Future[PromptOutcome]:
        return self._running_worker().submit_prompt(msg.object_id, prompt_from_msg(msg), stamp_to_ns(msg.header.stamp))

    def _on_add_prompt(self, request: AddPrompt.Request, response: AddPrompt.Response) -> AddPrompt.Response:
        try:
            outcome = self._wait(self._submit_prompt(request.prompt))
        except SERVICE_FAILURES as error:
            return _failure(response, error)
        response.object = tracked_object(outcome.result, outcome.header, self.settings.mask_encoding)
        response.success = True
        response.message = f"object {request.prompt.object_id} prompted on frame {outcome.frame_index}"
        return response

    def _on_remove_object(
        self, request: RemoveObject.Request, response: RemoveObject.Response
    ) -> RemoveObject.Response:
        try:
            self._wait(self._running_worker().call(lambda session: session.remove_object(request.object_id)))
        except SERVICE_FAILURES as error:
            return _failure(response, error)
        response.success, response.message = True, f"object {request.object_id} removed"
        return response

    def _on_reset(self, request: Reset.Request, response: Reset.Response) -> Reset.Response:
        try:
            self._wait(self._running_worker().call(lambda session: session.reset()))
        except SERVICE_FAILURES as error:
            return _failure(response, error)
        response.success, response.message = True, "every object forgotten; the next image is frame 0"
        return response

    def _wait(self, future: Future[T]) -> T:
        """The future's result within service_timeout; on timeout the work is cancelled if not started."""
        try:
            return future.result(timeout=self.settings.service_timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"the tracker did not answer within {self.settings.service_timeout:g} s") from None

    def _on_parameters_set(self, changed: list[Parameter]) -> None:
        self.settings = parameters.updated(self.settings, changed)
        if self._worker is not None:
            self._worker.prompt_timeout = self.settings.prompt_wait_timeout

    # ----------------------------------------------------------------- outputs (worker thread)

    def _publish(self, outcome: FrameOutcome) -> None:
        header, results = outcome.frame.header, list(outcome.objects.values())
        self._outputs.tracked.publish(
            tracked_object_array(header, outcome.frame_index, results, self.settings.mask_encoding)
        )
        if self.settings.publish_overlay:
            self._outputs.overlay.publish(overlay_image(outcome.frame.image, results, header))

    def _publish_diagnostics(self) -> None:
        stats = self._worker.stats.take()
        self._outputs.diagnostics.publish(
            diagnostic_array(
                self.get_clock().now().to_msg(),
                f"{self.get_fully_qualified_name()}: tracking",
                stats,
                model=self.settings.model,
                device=str(self._tracker.device),
                precision=self._tracker.precision.name,
                worker_alive=self._worker.alive,
            )
        )

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


def _failure(response: T, error: BaseException) -> T:
    response.success = False
    response.message = str(error) or f"{type(error).__name__}: the node stopped tracking"
    return response


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C or shutdown; 1 when autostart cannot load the model, 2 for a bad parameter."""
    rclpy.init(args=args)
    node = None
    try:
        node = TrackerNode()
        if node.settings.autostart and not node.start():
            return 1
        executor = MultiThreadedExecutor(num_threads=4)
        executor.add_node(node)
        executor.spin()
    except InvalidParameterValueException as error:
        print(f"sam2_tracker: {error}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
