"""A real rclpy graph for tests: the test's own node, and peers in other processes.

Every test run gets its own ROS_DOMAIN_ID, so concurrent runs on one machine never see each
other, and DDS discovery is kept on this machine.
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.node import Node

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))

TEST_DIR = Path(__file__).resolve().parent


def start_process(args: list[str], log_path: Path) -> subprocess.Popen:
    """Start `python args...` in its own process with this test run's ROS environment."""
    log = open(log_path, "w")
    return subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> int:
    """Ask the process to stop (SIGINT, as ros2 run would), kill it if it does not; its exit code."""
    if process.poll() is None:
        process.send_signal(2)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def spin_until(
    node: Node,
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    peers: tuple[subprocess.Popen, ...] = (),
) -> None:
    """Spin `node` until `condition()` holds; fail with `what` after `timeout` seconds, or at
    once when one of `peers` has exited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        for peer in peers:
            if peer.poll() is not None:
                raise RuntimeError(f"{peer.args} exited with {peer.returncode} while waiting for {what}")
        rclpy.spin_once(node, timeout_sec=0.05)


def call_service(node: Node, client, request, timeout: float = 30.0, peers: tuple[subprocess.Popen, ...] = ()):
    """Wait for the service, call it and return the response."""
    spin_until(node, client.service_is_ready, timeout, f"service {client.srv_name}", peers)
    future = client.call_async(request)
    spin_until(node, future.done, timeout, f"a response from {client.srv_name}", peers)
    return future.result()
