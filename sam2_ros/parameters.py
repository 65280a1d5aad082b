"""Every parameter of the sam2_tracker node, declared in one place with its description.

`Settings` is the one list: each field's default, description, range, choices and whether it can
change while the node runs (read-only ones need a restart). `declare` declares them all on a
node with validation; config/sam2_tracker.yaml sets the same names.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from sam2_ros.conversions import MASK_ENCODINGS
from sam2core import MODEL_NAMES
from sam2core.precision import PRECISIONS

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def _parameter(
    default: bool | int | float | str,
    description: str,
    *,
    read_only: bool = True,
    choices: tuple[str, ...] = (),
    limits: tuple[float, float] | None = None,
):
    """A Settings field that is also a ROS parameter."""
    return field(
        default=default,
        metadata={"description": description, "read_only": read_only, "choices": choices, "limits": limits},
    )


@dataclass(frozen=True)
class Settings:
    """The node's parameters; read-only ones take effect on (re)start, the others at once."""

    autostart: bool = _parameter(True, "Configure and activate on start-up (for use without a lifecycle manager).")
    model: str = _parameter(
        "sam2.1_hiera_demo", "SAM 2 model architecture (Meta's sizes need their checkpoint file).", choices=MODEL_NAMES
    )
    checkpoint: str = _parameter(
        "default", "Checkpoint file in Meta's format ({'model': state_dict}); 'default' is the bundled trained model."
    )
    device: str = _parameter(
        "auto", "Torch device: 'auto' (the GPU if there is one, else the CPU), 'cpu', 'cuda', 'cuda:N'."
    )
    precision: str = _parameter(
        "auto", "Arithmetic of the model: auto (bfloat16 where the device runs it natively, else float32), "
        "float32, or autocast to bfloat16 / float16.",
        choices=PRECISIONS,
    )
    compile: bool = _parameter(
        False, "torch.compile the model: faster frames after a one-time compilation on the first ones."
    )
    backend: str = _parameter(
        "torch", "Where the model runs: torch, or onnxruntime / openvino on the graphs in export_dir (CPU, float32).",
        choices=("torch", "onnxruntime", "openvino"),
    )
    export_dir: str = _parameter("", "Folder written by python -m sam2core.export, for the onnxruntime / openvino backends.")
    image_size: int = _parameter(
        0, "Side of the model's square input in pixels; 0 keeps the model's own.", limits=(0, 4096)
    )
    max_objects: int = _parameter(
        32, "Most objects tracked at once; a prompt for one more is rejected.", limits=(1, 1024)
    )
    frame_history: int = _parameter(
        16, "Images the tracker holds for prompts on past images (stamped prompts).", limits=(1, 1000)
    )
    max_conditioning_frames: int = _parameter(4, "Prompted images remembered per object.", limits=(1, 64))
    image_transport: str = _parameter(
        "raw", "Subscribe to sensor_msgs/Image on image_topic ('raw') or CompressedImage on image_topic/compressed.",
        choices=("raw", "compressed"),
    )
    image_topic: str = _parameter("image", "Camera images to track objects on.")
    prompts_topic: str = _parameter("prompts", "sam2_ros/Prompt messages: add or correct an object.")
    tracked_objects_topic: str = _parameter("tracked_objects", "sam2_ros/TrackedObjectArray, one per processed image.")
    overlay_topic: str = _parameter("overlay", "rgb8 image with every object drawn, when publish_overlay is true.")
    image_qos_reliability: str = _parameter(
        "best_effort", "Reliability of the image subscription (best_effort: sensor data).",
        choices=("best_effort", "reliable"),
    )
    image_qos_depth: int = _parameter(1, "Queue depth of the image subscription.", limits=(1, 100))
    output_qos_depth: int = _parameter(10, "Queue depth of the (reliable) output and prompt topics.", limits=(1, 1000))
    publish_overlay: bool = _parameter(True, "Publish the overlay image.", read_only=False)
    mask_encoding: str = _parameter(
        "mono8", "Object masks: mono8 (255 on the object, else 0) or mono8_probability (mask probability * 255).",
        read_only=False, choices=MASK_ENCODINGS,
    )
    prompt_wait_timeout: float = _parameter(
        2.0, "Seconds a prompt waits for its image to be processed before it is rejected.",
        read_only=False, limits=(0.0, 600.0),
    )
    service_timeout: float = _parameter(
        30.0, "Seconds a service call waits for the tracker before it answers with a failure.",
        read_only=False, limits=(0.1, 3600.0),
    )
    diagnostics_period: float = _parameter(1.0, "Seconds between /diagnostics messages.", limits=(0.1, 60.0))

    def tracker_options(self) -> dict[str, str | int]:
        """Keyword arguments of sam2_ros.loading.load_tracker."""
        names = ("model", "checkpoint", "device", "image_size", "precision", "max_objects", "frame_history",
                 "max_conditioning_frames", "compile", "backend", "export_dir")  # fmt: skip
        return {name: getattr(self, name) for name in names}


FIELDS = {spec.name: spec for spec in dataclasses.fields(Settings)}


def descriptor(name: str) -> ParameterDescriptor:
    """The ParameterDescriptor of parameter `name`: description, range, choices, read-only."""
    spec = FIELDS[name]
    meta = spec.metadata
    result = ParameterDescriptor(name=name, description=meta["description"], read_only=meta["read_only"])
    if meta["choices"]:
        result.additional_constraints = f"one of: {', '.join(meta['choices'])}"
    if meta["limits"] is not None and isinstance(spec.default, int):
        result.integer_range = [IntegerRange(from_value=meta["limits"][0], to_value=meta["limits"][1], step=1)]
    elif meta["limits"] is not None:
        result.floating_point_range = [FloatingPointRange(from_value=meta["limits"][0], to_value=meta["limits"][1])]
    return result


def declare(node: Node) -> Settings:
    """Declare every parameter on `node` (values from overrides such as --params-file) and return them.

    Raises rclpy's InvalidParameterValueException when an override is out of range or not one
    of the choices.
    """
    node.add_on_set_parameters_callback(validate)
    node.declare_parameters("", [(name, spec.default, descriptor(name)) for name, spec in FIELDS.items()])
    return Settings(**{name: node.get_parameter(name).value for name in FIELDS})


def validate(parameters: list[Parameter]) -> SetParametersResult:
    """Reject values that the ranges of the descriptors do not cover: choices and device names."""
    for parameter in parameters:
        spec = FIELDS.get(parameter.name)
        if spec is None:
            continue
        choices = spec.metadata["choices"]
        if choices and parameter.value not in choices:
            reason = f"{parameter.name} must be one of {', '.join(choices)}, got {parameter.value!r}"
            return SetParametersResult(successful=False, reason=reason)
        if parameter.name == "device" and not _DEVICE.fullmatch(parameter.value):
            return SetParametersResult(
                successful=False, reason=f"device must be auto, cpu, cuda, cuda:N or mps, got {parameter.value!r}"
            )
    return SetParametersResult(successful=True)


def updated(settings: Settings, parameters: list[Parameter]) -> Settings:
    """`settings` with the values of `parameters` that were just set."""
    return dataclasses.replace(settings, **{p.name: p.value for p in parameters if p.name in FIELDS})


def image_qos(settings: Settings) -> QoSProfile:
    """The image subscription's QoS: keep-last `image_qos_depth`, best effort by default."""
    reliability = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=settings.image_qos_depth,
        reliability=reliability[settings.image_qos_reliability],
    )


def reliable_qos(settings: Settings) -> QoSProfile:
    """Outputs and prompts: reliable, keep-last `output_qos_depth`."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=settings.output_qos_depth, reliability=ReliabilityPolicy.RELIABLE
    )
