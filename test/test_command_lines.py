"""Every installed executable behaves on the command line: --help prints usage and exits 0 without
starting anything, a bad parameter or flag ends with one line and exit 2, SIGINT and SIGTERM end
the nodes with exit 0; and the node runs where the demo's extra dependencies cannot be imported."""

import argparse
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import tracker_harness as harness  # noqa: E402
from tracker_harness import click_prompt, image_msg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXECUTABLES = ROOT / "install" / "sam2_ros" / "lib" / "sam2_ros"
NODES = ("sam2_tracker", "synthetic_camera", "click_to_prompt")
TOOLS = ("bag_runner", "demo")
# What the node must run without: the demo's extras and the synthetic data built on them.
DEMO_ONLY = ("skimage", "matplotlib", "imageio", "sam2core.data")
BLOCK_DEMO_ONLY = f"""
import importlib.abc, runpy, sys
class BlockDemoOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == blocked or name.startswith(blocked + ".") for blocked in {DEMO_ONLY!r}):
            raise ImportError(f"{{name}} is blocked: the node must not need it")
sys.meta_path.insert(0, BlockDemoOnly())
runpy.run_module(sys.argv.pop(1), run_name="__main__")
"""


# Every command-line program with argparse flags, by module.
FLAG_PROGRAMS = ("sam2_ros.tools.bag_runner", "sam2_ros.demo.demo", "sam2core.train.__main__", "sam2core.train.bundle",
                 "sam2core.evaluation.__main__")  # fmt: skip


class _Parsed(Exception):
    """Raised in place of parsing, to hand the parser a main() built back to the test."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


def parser_of(module: str, monkeypatch) -> argparse.ArgumentParser:
    def capture(parser, *args, **kwargs):
        raise _Parsed(parser)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_Parsed) as parsed:
        importlib.import_module(module).main([])
    return parsed.value.parser


@pytest.mark.parametrize("module", FLAG_PROGRAMS)
def test_every_flag_says_what_it_is_and_its_default(module, monkeypatch):
    parser = parser_of(module, monkeypatch)
    assert parser.formatter_class is argparse.ArgumentDefaultsHelpFormatter  # prints every default
    for action in parser._actions:
        assert action.help and len(action.help) > 10, f"{module}: {action.option_strings or action.dest} has no help"


def run_all(commands: list[list[str]], timeout: float = 240) -> list[subprocess.CompletedProcess]:
    """Run the installed executables `commands` ([name, *args]) side by side, as `ros2 run` would
    start them (the file itself, its shebang finding this Python), and wait for every one."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    processes = [
        subprocess.Popen(
            [str(EXECUTABLES / name), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )  # fmt: skip
        for name, *args in commands
    ]
    results = []
    try:
        for command, process in zip(commands, processes):
            out, err = process.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    finally:
        for process in processes:
            process.kill()
            process.wait()
    return results


@pytest.mark.slow
def test_help_prints_usage_and_starts_nothing():
    results = run_all(
        [[name, "--help"] for name in (*NODES, *TOOLS)] + [[name, "--ros-args", "--help"] for name in NODES]
    )
    for result in results:
        assert result.returncode == 0, result
        assert "usage:" in result.stdout and "Traceback" not in result.stderr, result
        assert "[INFO]" not in result.stdout + result.stderr, f"{result.args} started its node: {result}"
    tracker, camera, bridge, bag_runner, demo = (result.stdout for result in results[:5])
    assert "prompt_wait_timeout (float; default 2.0; 0.0..600.0; can change while running)" in tracker
    assert "Seconds a prompt waits" in tracker
    assert "rate (float; default 10.0; 0.01..1000.0; read-only)" in camera
    assert "negative_clicks (bool; default False; can change while running)" in bridge
    for tool in (bag_runner, demo):  # every tracker option, none dropped
        assert "--max-conditioning-frames" in tool and "--frame-history" in tool and "(default: 4)" in tool


@pytest.mark.slow
def test_bad_parameters_end_with_one_line_and_exit_2(tmp_path):
    wrong_type = tmp_path / "wrong_type.yaml"
    wrong_type.write_text("sam2_tracker:\n  ros__parameters:\n    max_objects: many\n")
    cases = {
        "int for a float": ["sam2_tracker", "--ros-args", "-p", "prompt_wait_timeout:=2"],
        "string for an int": ["sam2_tracker", "--ros-args", "-p", "image_size:=big"],
        "out of range": ["sam2_tracker", "--ros-args", "-p", "max_objects:=0"],
        "not a choice": ["sam2_tracker", "--ros-args", "-p", "precision:=int8"],
        "bad device": ["sam2_tracker", "--ros-args", "-p", "device:=gpu7"],
        "wrong type in a file": ["sam2_tracker", "--ros-args", "--params-file", str(wrong_type)],
        "missing file": ["sam2_tracker", "--ros-args", "--params-file", str(tmp_path / "missing.yaml")],
        "no value": ["sam2_tracker", "--ros-args", "-p", "model"],
        "unknown --ros-args flag": ["sam2_tracker", "--ros-args", "--frobnicate"],
        "camera out of range": ["synthetic_camera", "--ros-args", "-p", "rate:=0.0"],
        "camera int for a float": ["synthetic_camera", "--ros-args", "-p", "rate:=8"],
        "bridge out of range": ["click_to_prompt", "--ros-args", "-p", "first_object_id:=-1"],
        "tool out of range": ["bag_runner", "--bag", "b", "--image-topic", "i", "--out", "o", "--max-objects", "0"],
        "tool not a number": ["demo", "--rate", "fast"],
        "tool not a choice": ["demo", "--precision", "int8"],
        "tool bad device": ["bag_runner", "--bag", "b", "--image-topic", "i", "--out", "o", "--device", "gpu7"],
    }
    for case, result in zip(cases, run_all(list(cases.values()))):
        assert result.returncode == 2, (case, result)
        assert "Traceback" not in result.stderr, (case, result.stderr)
        own_lines = [line for line in result.stderr.splitlines() if not line.startswith("[ERROR] [")]  # rcl's log
        if result.args[0] in NODES:
            assert len(own_lines) == 1 and own_lines[0].startswith(f"{result.args[0]}: "), (case, result.stderr)
        else:  # argparse: the usage, then one line saying what is wrong
            assert ": error: argument --" in own_lines[-1], (case, result.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_nodes_stop_cleanly_on_signals_while_images_flow(tmp_path, sent):
    """The camera streams images into the tracker; the tracker is stopped mid-stream (its worker
    publishing), then the camera (its timer publishing)."""
    checkpoint = harness.write_demo_checkpoint(tmp_path / "demo.pt")
    commands = {
        "synthetic_camera": ["--ros-args", "-p", "sequences:=1", "-p", "rate:=30.0"],
        "sam2_tracker": ["--ros-args", "-p", f"checkpoint:={checkpoint}", "-p", "device:=cpu"],
    }
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    processes, logs = {}, {name: tmp_path / f"{name}.log" for name in commands}
    try:
        for name, args in commands.items():
            with open(logs[name], "w") as out:
                processes[name] = subprocess.Popen([str(EXECUTABLES / name), *args], stdout=out,
                                                   stderr=subprocess.STDOUT, env=env)  # fmt: skip
        deadline = time.monotonic() + 240
        while "tracking images" not in logs["sam2_tracker"].read_text():  # the model is loaded and subscribed
            assert all(p.poll() is None for p in processes.values()), {n: log.read_text() for n, log in logs.items()}
            assert time.monotonic() < deadline, logs["sam2_tracker"].read_text()
            time.sleep(0.2)
        time.sleep(3.0)  # images flow and the tracker publishes results
        for name in ("sam2_tracker", "synthetic_camera"):
            processes[name].send_signal(sent)
            assert processes[name].wait(timeout=60) == 0, logs[name].read_text()
            text = logs[name].read_text()
            assert "Traceback" not in text and "RCLError" not in text and "failed" not in text, text
    finally:
        for process in processes.values():
            process.kill()
            process.wait()


@pytest.mark.slow
def test_node_runs_and_answers_without_the_demo_dependencies(tmp_path):
    blocked = subprocess.run([sys.executable, "-c", BLOCK_DEMO_ONLY, "sam2_ros.demo.synthetic_camera", "--help"],
                             capture_output=True, text=True, timeout=240)  # fmt: skip
    assert blocked.returncode != 0 and "is blocked" in blocked.stderr, "the blocker lets the demo's imports through"

    checkpoint = harness.write_demo_checkpoint(tmp_path / "demo.pt")
    node_args = harness.node_arguments(checkpoint, namespace="/no_demo_extras")
    assert node_args[:2] == ["-m", "sam2_ros.tracker_node"]
    arguments = ["-c", BLOCK_DEMO_ONLY, "sam2_ros.tracker_node", *node_args[2:]]
    with harness.tracker_node(arguments, tmp_path / "node.log", "/no_demo_extras") as client:
        client.wait_connected(timeout=180)
        first = client.track(image_msg(0))
        response = client.add_prompt(click_prompt(1, 0))
        assert response.success, response.message
        assert [obj.object_id for obj in client.track(image_msg(1)).objects] == [1]
    assert first.objects == []
