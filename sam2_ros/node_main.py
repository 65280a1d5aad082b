"""The one main() of every node executable: the tracker node, the synthetic camera.

`run_node` gives them the same command line: `--help` (anywhere, also after `--ros-args`) prints
the usage and exits 0 without starting ROS; a bad parameter value or type, a malformed
`--ros-args` or an unreadable parameter file ends with one line on stderr and exit 2; SIGINT and
SIGTERM stop the node cleanly with exit 0.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.node import Node

EXIT_OK, EXIT_FAILED, EXIT_BAD_PARAMETER = 0, 1, 2
HELP_FLAGS = ("-h", "--help")
# What rclpy.init raises for --ros-args it cannot parse: `-p name` without `:=`, a missing
# --params-file (RCLError), an unknown flag (UnknownROSArgsError).
_BAD_ARGUMENTS = (rclpy_implementation.RCLError, rclpy_implementation.UnknownROSArgsError)

N = TypeVar("N", bound=Node)


def run_node(
    program: str,
    usage: str,
    create: Callable[[], N],
    *,
    args: Sequence[str] | None = None,
    start: Callable[[N], bool] = lambda node: True,
    close: Callable[[N], None] = lambda node: None,
    executor: Callable[[], Executor] = SingleThreadedExecutor,
) -> int:
    """Create the node with `create`, `start` it (False: exit 1) and spin it until shutdown.

    `args` are the command-line arguments without the program name (default: sys.argv[1:]);
    `close` runs before the node is destroyed, however the run ends.
    """
    args = list(sys.argv[1:] if args is None else args)
    if any(flag in args for flag in HELP_FLAGS):
        print(usage)
        return EXIT_OK
    try:
        rclpy.init(args=[program, *args])
    except _BAD_ARGUMENTS as error:
        print(f"{program}: bad --ros-args: {_first_line(error)}", file=sys.stderr)
        return EXIT_BAD_PARAMETER
    node = None
    try:
        node = create()
        if not start(node):
            return EXIT_FAILED
        spinner = executor()
        spinner.add_node(node)
        spinner.spin()
    except ParameterException as error:
        print(f"{program}: {_first_line(error)}", file=sys.stderr)
        return EXIT_BAD_PARAMETER
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except rclpy_implementation.RCLError:
        # A callback that was running when a signal shut the context down (a publish on a dead
        # context) is part of the clean stop; with the context still up it is a real error.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            close(node)
            node.destroy_node()
        rclpy.try_shutdown()
    return EXIT_OK


def _first_line(error: BaseException) -> str:
    """What is wrong, without the C source locations that rcl appends (", at /project/src/...")."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].split(", at /")[0]
