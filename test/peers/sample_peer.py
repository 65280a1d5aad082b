"""A peer process for the interface tests: publishes every sample message and answers services.

Messages go out once with transient-local durability, so a subscriber that joins later still
gets them. Runs until killed or until --seconds pass.
"""

import argparse
import sys
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sample_messages  # noqa: E402

from sam2_ros.srv import AddPrompt, RemoveObject, Reset  # noqa: E402

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    rclpy.init()
    try:
        node = rclpy.create_node("sample_peer")
        publishers = []
        for topic, (msg_type, build) in sample_messages.TOPICS.items():
            publisher = node.create_publisher(msg_type, topic, LATCHED)
            publisher.publish(build())
            publishers.append(publisher)
        node.create_service(
            AddPrompt,
            "samples/add_prompt",
            lambda request, _: sample_messages.add_prompt_response(request),
        )
        node.create_service(
            RemoveObject,
            "samples/remove_object",
            lambda request, _: sample_messages.remove_object_response(request),
        )
        node.create_service(Reset, "samples/reset", lambda _request, _: sample_messages.reset_response())
        print("sample_peer: ready", flush=True)
        deadline = node.get_clock().now().nanoseconds + int(args.seconds * 1e9)
        while rclpy.ok() and node.get_clock().now().nanoseconds < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # SIGINT: a clean stop, whether it lands inside or outside spin_once
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
