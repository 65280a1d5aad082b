"""The package builds and installs the way users get it: colcon for ROS, pip for the library."""

import ast
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROS_MODULES = ("rclpy", "rosidl", "sensor_msgs", "std_msgs", "geometry_msgs", "sam2_ros", "builtin_interfaces")


def test_colcon_install_space_stands_alone(tmp_path):
    """A shell that sources only install/setup.bash (outside the source tree) gets both packages."""
    script = f"""
set -e
. {ROOT}/install/setup.bash
export AMENT_PREFIX_PATH=$AMENT_PREFIX_PATH:{ROOT}/.venv
cd {tmp_path}
{ROOT}/.venv/bin/python -c '
import sam2_ros, sam2core
from sam2_ros.msg import Prompt, TrackedObject, TrackedObjectArray
from sam2_ros.srv import AddPrompt, RemoveObject, Reset
from ament_index_python.packages import get_package_share_directory
print(sam2_ros.msg.__file__, sam2core.__file__, get_package_share_directory("sam2_ros"))
'
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMENT", "COLCON", "PYTHONPATH", "CMAKE"))}
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    msg_file, core_file, share = result.stdout.split()
    assert msg_file.startswith(f"{ROOT}/install/")
    assert core_file.startswith(f"{ROOT}/install/")
    for interface in ("msg/Prompt.msg", "msg/TrackedObject.msg", "msg/TrackedObjectArray.msg", "srv/AddPrompt.srv"):
        assert (Path(share) / interface).is_file(), interface


def test_sam2core_never_imports_ros():
    """The library half has no ROS import anywhere, and importing all of it (its names load their
    modules on first use) loads no ROS module."""
    for source in (ROOT / "sam2core").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            bad = [name for name in names if name.split(".")[0] in ROS_MODULES]
            assert not bad, f"{source.relative_to(ROOT)} imports {bad}"
    check = "import sys; from sam2core import *; print(sorted(m for m in sys.modules if m.split('.')[0] in {}))".format(
        ROS_MODULES
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_pip_install_gives_the_library_without_ros(tmp_path):
    """`pip install .` in a plain virtual environment: sam2core imports, no ROS wheel is present."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # on the base interpreter
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AMENT", "COLCON", "PYTHONPATH", "LD_LIBRARY", "_ROS"))
    }
    # The CPU torch first (pip takes it from this machine's disk), so `pip install .` keeps it.
    subprocess.run([*pip, "torch==2.13.0"], check=True, env=env, timeout=600)
    subprocess.run([*pip, str(ROOT)], check=True, env=env, timeout=600)
    probe = (
        "import importlib.util, sam2core; "
        "print(sam2core.__file__); "
        "print([m for m in ('rclpy', 'sensor_msgs', 'sam2_ros') if importlib.util.find_spec(m)])"
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    core_file, ros_found = result.stdout.split("\n")[:2]
    assert core_file.startswith(str(venv)), core_file
    assert ros_found == "[]"


# Import name -> rosdep key, for every third-party or ROS module that sam2_ros/, sam2core/ or the
# launch files import (at any depth, lazy imports included).
ROSDEP_KEYS = {
    "ament_index_python": "ament_index_python",
    "builtin_interfaces": "builtin_interfaces",
    "diagnostic_msgs": "diagnostic_msgs",
    "geometry_msgs": "geometry_msgs",
    "launch": "launch",
    "launch_ros": "launch_ros",
    "rcl_interfaces": "rcl_interfaces",
    "rclpy": "rclpy",
    "sensor_msgs": "sensor_msgs",
    "std_msgs": "std_msgs",
    "tf2_ros": "tf2_ros",  # imported only with publish_tf; a robot's ROS has it (not installable here)
    "vision_msgs": "vision_msgs",  # imported only with detection_format vision_msgs (not installable here)
    "visualization_msgs": "visualization_msgs",
    "cv2": "python3-opencv",
    "matplotlib": "python3-matplotlib",
    "numpy": "python3-numpy",
    "rosbags": "python3-rosbags-pip",
    "skimage": "python3-skimage",
    "torch": "python3-torch",
    "tqdm": "python3-tqdm",
    "yaml": "python3-yaml",
}
# sam2core.visualization writes H.264 with imageio_ffmpeg, else OpenCV's codec; the exported-graph
# runtimes (sam2core.runtime) are optional extras, imported only when a tracker asks for them.
OPTIONAL_IMPORTS = {"imageio_ffmpeg", "onnxruntime", "openvino"}
# Depends that are no import: what rosidl-generated interface packages need at run time.
NOT_IMPORTED = {"rosidl_default_runtime"}


def imported_modules() -> dict[str, str]:
    """Top-level names of the non-standard-library modules our sources import, each with a file
    that imports it."""
    found = {}
    sources = [*(ROOT / "sam2_ros").rglob("*.py"), *(ROOT / "sam2core").rglob("*.py"), *(ROOT / "launch").glob("*.py")]
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("sam2_ros", "sam2core"):
                    found.setdefault(top, str(source.relative_to(ROOT)))
    return found


def test_package_xml_depends_on_exactly_what_is_imported():
    root = ElementTree.parse(ROOT / "package.xml").getroot()
    declared = {element.text for tag in ("depend", "exec_depend") for element in root.iter(tag)}
    imported = imported_modules()
    unmapped = {
        name: source for name, source in imported.items() if name not in ROSDEP_KEYS | dict.fromkeys(OPTIONAL_IMPORTS)
    }
    assert not unmapped, f"imports with no rosdep key in this test: {unmapped}"
    needed = {ROSDEP_KEYS[name] for name in imported if name not in OPTIONAL_IMPORTS}
    assert needed - declared == set(), f"imported but not in package.xml: {sorted(needed - declared)}"
    unused = declared - needed - NOT_IMPORTED
    assert unused == set(), f"in package.xml, never imported: {sorted(unused)}"
    assert [url.text for url in root.iter("url")], "package.xml has no <url>"
