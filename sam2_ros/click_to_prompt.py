#!/usr/bin/env python3
"""The click_to_prompt node: clicks on an image become sam2_tracker prompts.

An operator clicks on the tracker's `overlay` in rqt_image_view (with "mouse clicks" enabled it
publishes geometry_msgs/PointStamped in pixels on `<image topic>_mouse_left`); remap that topic to
`clicked_point`:

    ros2 run sam2_ros click_to_prompt --ros-args -r clicked_point:=/overlay_mouse_left

- A click on `clicked_point` with no object selected starts a new object (the next free id) and
  selects it; further clicks are positive clicks on the selected object (negative ones while the
  parameter `negative_clicks` is true).
- A click on `clicked_point_negative` is a negative click on the selected object.
- A message on `new_object` (std_msgs/Empty) ends the selection: the next click starts a new object.

Each click is one `add_prompt` call, in the order of the clicks; the node logs the object's id
and the answer. Clicks that come before this node has found the tracker's service wait in a
queue (the node goes on handling messages meanwhile) and are sent when it appears; one that
waited SERVICE_WAIT_S seconds is dropped with a warning.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass

from geometry_msgs.msg import Point32, PointStamped
from rclpy.node import Node
from rclpy.task import Future
from std_msgs.msg import Empty

from sam2_ros.msg import Prompt
from sam2_ros.node_main import run_node
from sam2_ros.parameters import declare, parameter, usage
from sam2_ros.srv import AddPrompt

# Seconds a click waits for this node to discover the tracker's add_prompt service (the tracker
# may start after it, and discovery takes a moment even when it started first) before it is dropped.
SERVICE_WAIT_S = 5.0
SERVICE_POLL_S = 0.1  # how often waiting clicks look for the service


@dataclass(frozen=True)
class BridgeSettings:
    """The bridge's parameters."""

    first_object_id: int = parameter(1, "Id of the first object this node starts; the next ones count up from it.",
                                     limits=(0, 2**31 - 1))  # fmt: skip
    negative_clicks: bool = parameter(
        False, "Clicks on clicked_point are negative clicks on the selected object.", read_only=False
    )
    use_click_stamp: bool = parameter(
        False,
        "Prompt the image of the click's stamp; false prompts the newest image (rqt_image_view stamps a click "
        "with the time of the click, not of the image).",
        read_only=False,
    )


@dataclass(frozen=True)
class Click:
    """One click to send: the object it is for, its pixel and label, and whether it starts the object."""

    object_id: int
    x: float
    y: float
    label: int  # Prompt.LABEL_POSITIVE or Prompt.LABEL_NEGATIVE
    starts_object: bool

    @property
    def kind(self) -> str:
        if self.starts_object:
            return "new object"
        return "negative" if self.label == Prompt.LABEL_NEGATIVE else "positive"


class ClickSelection:
    """Which object clicks go to: the selected one, or a new one with the next free id."""

    def __init__(self, first_object_id: int):
        self.selected: int | None = None
        self._next_id = first_object_id

    def click(self, x: float, y: float, negative: bool) -> Click | None:
        """The Click for a click at (x, y); None for a negative click with no object selected."""
        if self.selected is None:
            if negative:
                return None
            self.selected, self._next_id = self._next_id, self._next_id + 1
            return Click(self.selected, x, y, Prompt.LABEL_POSITIVE, starts_object=True)
        label = Prompt.LABEL_NEGATIVE if negative else Prompt.LABEL_POSITIVE
        return Click(self.selected, x, y, label, starts_object=False)

    def failed(self, click: Click) -> None:
        """The tracker refused `click`: an object it should have started is not selected any more."""
        if click.starts_object and self.selected == click.object_id:
            self.selected = None

    def new_object(self) -> None:
        self.selected = None


class ClickToPrompt(Node):
    """Subscribes to clicks and `new_object`, calls the tracker's add_prompt service."""

    def __init__(self, **kwargs):
        super().__init__("click_to_prompt", **kwargs)
        settings = declare(self, BridgeSettings)
        self.selection = ClickSelection(settings.first_object_id)
        self._client = self.create_client(AddPrompt, "add_prompt")
        self._waiting: deque[tuple[float, Click, AddPrompt.Request]] = deque()  # (monotonic time, click, request)
        self._poll = self.create_timer(SERVICE_POLL_S, self._send_waiting)
        self._poll.cancel()
        self.create_subscription(PointStamped, "clicked_point", self._on_click, 10)
        self.create_subscription(PointStamped, "clicked_point_negative", self._on_negative_click, 10)
        self.create_subscription(Empty, "new_object", self._on_new_object, 10)

    def _on_click(self, msg: PointStamped) -> None:
        self._send(msg, negative=self.get_parameter("negative_clicks").value)

    def _on_negative_click(self, msg: PointStamped) -> None:
        self._send(msg, negative=True)

    def _on_new_object(self, msg: Empty) -> None:
        self.selection.new_object()
        self.get_logger().info("the next click starts a new object")

    def _send(self, msg: PointStamped, negative: bool) -> None:
        click = self.selection.click(msg.point.x, msg.point.y, negative)
        if click is None:
            self.get_logger().warning("negative click ignored: no object is selected (click on one first)")
            return
        prompt = Prompt(object_id=click.object_id, points=[Point32(x=click.x, y=click.y)], labels=[click.label])
        if self.get_parameter("use_click_stamp").value:
            prompt.header = msg.header
        self._waiting.append((time.monotonic(), click, AddPrompt.Request(prompt=prompt)))
        self._send_waiting()

    def _send_waiting(self) -> None:
        """Send the waiting clicks in order once the service is found; until then drop those that
        waited too long and look again in SERVICE_POLL_S."""
        if self._client.service_is_ready():
            self._poll.cancel()
            while self._waiting:
                _, click, request = self._waiting.popleft()
                future = self._client.call_async(request)
                future.add_done_callback(lambda done, click=click: self._log_answer(click, done))
            return
        while self._waiting and time.monotonic() - self._waiting[0][0] >= SERVICE_WAIT_S:
            _, click, _ = self._waiting.popleft()
            self.get_logger().warning(f"no add_prompt service at {self._client.srv_name}: click ignored")
            self.selection.failed(click)
        if self._waiting:
            self._poll.reset()
        else:
            self._poll.cancel()

    def _log_answer(self, click: Click, future: Future) -> None:
        response = future.result()
        kind, where = click.kind, f"({click.x:.0f}, {click.y:.0f})"
        if not response.success:
            self.selection.failed(click)
            self.get_logger().warning(f"{kind} click {where} on object {click.object_id} refused: {response.message}")
            return
        obj = response.object  # response.message: "object N prompted on frame F"
        self.get_logger().info(
            f"{response.message}: {kind} click {where}, mask of {obj.mask_area} px, "
            f"{'visible' if obj.visible else 'hidden'} ({obj.visibility:.2f})"
        )


def main(args: list[str] | None = None) -> int:
    """Run the bridge until SIGINT/SIGTERM; --help and bad parameters as every node of the package."""
    text = usage("click_to_prompt", __doc__.splitlines()[0], BridgeSettings)
    return run_node("click_to_prompt", text, ClickToPrompt, args=args)


if __name__ == "__main__":
    sys.exit(main())
