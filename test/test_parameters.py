"""The node's parameters: declared once with descriptions, matched by the YAML file and the launch
file, validated when set. The node is built in this process without loading a model."""

import functools
import importlib.util
import math
import sys
import types
from pathlib import Path

import pytest
import rclpy
import yaml
from rclpy.parameter import Parameter

from sam2_ros import parameters
from sam2_ros.loading import LoadSpec
from sam2_ros.tracker_node import TrackerNode
from sam2core import Preparation, TrackerOptions, get_config
from sam2core.runtime import BACKENDS

ROOT = Path(__file__).resolve().parents[1]
YAML_FILE = ROOT / "config" / "sam2_tracker.yaml"
LAUNCH_FILE = ROOT / "launch" / "sam2_tracker.launch.py"


def yaml_parameters() -> dict:
    ((node_key, content),) = yaml.safe_load(YAML_FILE.read_text()).items()
    assert node_key.endswith("/sam2_tracker"), node_key
    return content["ros__parameters"]


@pytest.fixture(scope="module")
def node():
    """The node with the YAML file as its parameter file, never configured."""
    context = rclpy.Context()
    rclpy.init(args=["--ros-args", "--params-file", str(YAML_FILE)], context=context)
    node = TrackerNode(context=context)
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_yaml_sets_only_declared_parameters_and_the_node_takes_them(node):
    values = yaml_parameters()
    assert set(values) <= set(parameters.FIELDS)
    assert all(node.has_parameter(name) for name in parameters.FIELDS)
    for name, value in values.items():
        assert node.get_parameter(name).value == value, name
        assert getattr(node.settings, name) == value, name


def test_every_parameter_is_described_with_ranges_and_read_only_flags(node):
    for name, spec in parameters.FIELDS.items():
        descriptor = node.describe_parameter(name)
        assert len(descriptor.description) > 15, name
        if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
            assert descriptor.integer_range or descriptor.floating_point_range, f"{name} has no range"
    dynamic = {name for name in parameters.FIELDS if not node.describe_parameter(name).read_only}
    assert dynamic == {"publish_overlay", "mask_encoding", "mask_mode", "publish_labels", "prompt_wait_timeout",
                       "service_timeout"}  # fmt: skip


@pytest.mark.parametrize(
    "name, value",
    [
        ("mask_encoding", "rle"),
        ("mask_encoding", 3),
        ("prompt_wait_timeout", -1.0),
        ("service_timeout", math.inf),
        ("model", "sam2.1_hiera_s"),  # read-only
        ("max_objects", 8),  # read-only
    ],
)
def test_bad_or_read_only_changes_are_refused(node, name, value):
    before = node.settings
    result = node.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful and result.reason
    assert node.settings == before


def test_dynamic_changes_reach_the_settings(node):
    results = node.set_parameters(
        [Parameter("mask_encoding", value="mono8_probability"), Parameter("prompt_wait_timeout", value=0.5)]
    )
    assert all(result.successful for result in results)
    assert (node.settings.mask_encoding, node.settings.prompt_wait_timeout) == ("mono8_probability", 0.5)


@pytest.mark.parametrize(
    "device, ok", [("cpu", True), ("cuda:1", True), ("auto", True), ("gpu", False), ("cuda:", False)]
)
def test_device_names_are_validated(device, ok):
    assert parameters.validate([Parameter("device", value=device)]).successful is ok


# ----------------------------------------------------------------------------- the launch file


class Recorded:
    """Stands in for every launch class: keeps what it was built with."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


@functools.cache
def recorded_class(name: str) -> type:
    return type(name, (Recorded,), {})


@pytest.fixture
def launch_description(monkeypatch):
    """The launch file's LaunchDescription, built against stub `launch` / `launch_ros` modules."""
    for module_name in ("launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions",
                        "launch_ros.substitutions"):  # fmt: skip
        module = types.ModuleType(module_name)
        module.__getattr__ = recorded_class
        monkeypatch.setitem(sys.modules, module_name, module)
    spec = importlib.util.spec_from_file_location("sam2_tracker_launch", LAUNCH_FILE)
    launch_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_module)
    return launch_module.generate_launch_description()


LAUNCH_ARGUMENTS = {"params_file", "model", "checkpoint", "device", "namespace", "image_topic", "use_sim_time",
                    "log_level"}  # fmt: skip


def launched_node(launch_description, **values):
    """The Node the launch file starts with the launch arguments' defaults, then `values`."""
    entities = launch_description.args[0]
    arguments = {e.args[0]: e.kwargs for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    (opaque,) = [e for e in entities if type(e).__name__ == "OpaqueFunction"]
    defaults = {name: kwargs["default_value"] for name, kwargs in arguments.items()}
    context = types.SimpleNamespace(launch_configurations={**defaults, "params_file": "my.yaml", **values})
    (node,) = opaque.kwargs["function"](context)
    return arguments, node


def test_launch_file_takes_the_arguments_a_robot_needs(launch_description):
    arguments, node = launched_node(launch_description)
    assert set(arguments) == LAUNCH_ARGUMENTS
    assert all(len(kwargs["description"]) > 10 for kwargs in arguments.values())
    started = (node.kwargs["package"], node.kwargs["executable"], node.kwargs["name"])
    assert started == ("sam2_ros", "sam2_tracker", "sam2_tracker")
    default_file = arguments["params_file"]["default_value"].args[0]
    assert default_file[1:] == ["config", "sam2_tracker.yaml"] and default_file[0].args == ("sam2_ros",)
    assert node.kwargs["parameters"] == ["my.yaml", {"use_sim_time": False}]  # empty overrides keep the file's
    assert node.kwargs["ros_arguments"] == ["--log-level", "info"]
    assert (node.kwargs["namespace"], node.kwargs["remappings"]) == ("", [("image", "image")])


def test_launch_arguments_reach_the_node(launch_description):
    values = dict(model="sam2.1_hiera_t", checkpoint="/m/sam2.1_hiera_tiny.pt", device="cuda:1", namespace="wrist",
                  image_topic="/camera/color/image_raw", use_sim_time="true", log_level="debug")  # fmt: skip
    _, node = launched_node(launch_description, **values)
    params_file, overrides = node.kwargs["parameters"]
    assert params_file == "my.yaml"
    assert overrides == {"model": "sam2.1_hiera_t", "checkpoint": "/m/sam2.1_hiera_tiny.pt", "device": "cuda:1",
                         "use_sim_time": True}  # fmt: skip
    assert set(overrides) - {"use_sim_time"} <= set(parameters.FIELDS)
    assert parameters.validate([Parameter(name, value=value) for name, value in overrides.items()]).successful
    assert node.kwargs["ros_arguments"] == ["--log-level", "debug"]
    topics = {getattr(parameters.Settings, name) for name in parameters.FIELDS if name.endswith("_topic")}
    assert node.kwargs["remappings"] == [("image", "/camera/color/image_raw")] and "image" in topics
    assert node.kwargs["namespace"] == "wrist"


# ----------------------------------------------------------------------------- per-model parameter files

MODEL_FILES = sorted((ROOT / "config").glob("sam2.1_hiera_*.yaml"))


def test_there_is_a_parameter_file_for_each_public_size_on_gpu_and_tiny_on_cpu():
    names = {path.stem for path in MODEL_FILES}
    assert names == {"sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large",
                     "sam2.1_hiera_tiny_cpu"}  # fmt: skip


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda path: path.stem)
def test_model_parameter_files_are_valid_and_match_their_checkpoint(path):
    ((node_key, content),) = yaml.safe_load(path.read_text()).items()
    assert node_key == "/**/sam2_tracker"
    values = content["ros__parameters"]
    assert set(values) <= set(parameters.FIELDS)
    assert parameters.validate([Parameter(name, value=value) for name, value in values.items()]).successful
    size = path.stem.removeprefix("sam2.1_hiera_").removesuffix("_cpu")
    assert values["checkpoint"] == f"sam2.1_hiera_{size}.pt"
    assert values["model"] == {"tiny": "sam2.1_hiera_t", "small": "sam2.1_hiera_s", "base_plus": "sam2.1_hiera_b+",
                               "large": "sam2.1_hiera_l"}[size]  # fmt: skip
    on_cpu = path.stem.endswith("_cpu")
    assert values["device"] == ("cpu" if on_cpu else "cuda")
    assert values["precision"] == ("float32" if on_cpu else "bfloat16")
    get_config(values["model"], values["image_size"])  # raises for a size the model cannot take
    assert values["image_size"] < 1024 if on_cpu else values["image_size"] == 1024
    for name, value in values.items():
        limits = parameters.FIELDS[name].metadata["limits"]
        assert limits is None or limits[0] <= value <= limits[1], name


def test_image_size_help_states_the_multiple_every_model_needs():
    """--help and the parameter's description say what get_config enforces for every model."""
    assert "a multiple of 32" in parameters.FIELDS["image_size"].metadata["description"]
    for name in parameters.FIELDS["model"].metadata["choices"]:
        get_config(name, 32 * 7)
        with pytest.raises(ValueError, match="multiple of 32"):
            get_config(name, 32 * 7 + 16)


def test_settings_build_the_load_spec_and_the_tracker_options_from_their_fields():
    settings = parameters.Settings(
        model="sam2.1_hiera_t", checkpoint="tiny.pt", device="cpu", image_size=512, backend="openvino",
        export_dir="graphs", compile=True, precision="float32", max_objects=3, frame_history=5,
        max_conditioning_frames=2, motion=True, exclusive=True, min_kept_fraction=0.25,
    )  # fmt: skip
    assert settings.load_spec() == LoadSpec(
        model="sam2.1_hiera_t", checkpoint="tiny.pt", device="cpu", image_size=512,
        preparation=Preparation(backend="openvino", export_dir="graphs", compile=True),
    )  # fmt: skip
    assert settings.tracker_options() == TrackerOptions(
        precision="float32", max_objects=3, frame_history=5, max_conditioning_frames=2, motion=True,
        exclusive=True, min_kept_fraction=0.25,
    )  # fmt: skip
    with pytest.raises(ValueError, match="needs export_dir"):
        parameters.Settings(backend="onnxruntime").load_spec()


def test_the_backend_parameter_offers_the_runtimes_backends():
    assert parameters.FIELDS["backend"].metadata["choices"] == BACKENDS
