"""Every parameter of the sam2_tracker node, declared in one place with its description.

`Settings` is the one list: each field's default, description, range, choices and whether it can
change while the node runs (read-only ones need a restart). `declare` declares them all on a
node with validation; config/sam2_tracker.yaml sets the same names. Other nodes (the synthetic
camera) describe theirs with `parameter` fields in a frozen dataclass of their own, and get the same
declaration, validation and --help text; `add_arguments` makes command-line flags of the fields
for the tools that run the tracker without ROS parameters.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import re
from dataclasses import dataclass, field

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from sam2_ros.conversions import MASK_ENCODINGS, MASK_MODES
from sam2_ros.loading import LoadSpec
from sam2core import MODEL_NAMES
from sam2core.locating import DepthSettings
from sam2core.precision import PRECISIONS
from sam2core.preparation import Preparation
from sam2core.runtime import BACKENDS
from sam2core.tracking import DetectionOptions, TrackerOptions
from sam2core.tracking.reacquire import REPROMPT_MODES

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


# The public name: other nodes' settings (the synthetic camera's) declare their fields with it.
parameter = _parameter


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
        "auto",
        "Arithmetic of the model: auto (bfloat16 where the device runs it natively, else float32), "
        "float32, or autocast to bfloat16 / float16.",
        choices=PRECISIONS,
    )
    compile: bool = _parameter(
        False, "torch.compile the model: faster frames after a one-time compilation on the first ones."
    )
    backend: str = _parameter(
        "torch",
        "Where the model runs: torch, or onnxruntime / openvino on the graphs in export_dir (CPU, float32).",
        choices=BACKENDS,
    )
    export_dir: str = _parameter(
        "", "Folder written by python -m sam2core.export, for the onnxruntime / openvino backends."
    )
    image_size: int = _parameter(
        0, "Side of the model's square input in pixels, a multiple of 32; 0 keeps the model's own.", limits=(0, 4096)
    )
    max_objects: int = _parameter(
        32, "Most objects tracked at once; a prompt for one more is rejected.", limits=(1, 1024)
    )
    frame_history: int = _parameter(
        16, "Images the tracker holds for prompts on past images (stamped prompts).", limits=(1, 1000)
    )
    max_conditioning_frames: int = _parameter(4, "Prompted images remembered per object.", limits=(1, 64))
    motion: bool = _parameter(
        False,
        "Motion-aware memory per object (SAMURAI's method): a Kalman filter on each object's box helps "
        "choose its mask, and memory keeps its reliable images.",
    )
    exclusive: bool = _parameter(
        False,
        "Objects compete for pixels (one owner per pixel); a track that loses most of its mask to others is "
        "published not visible with visibility_reason LOST_TO_OTHER and not remembered on that image.",
    )
    min_kept_fraction: float = _parameter(
        0.5, "Least share of its mask a visible object keeps to stay visible, with exclusive.", limits=(0.0, 1.0)
    )
    image_transport: str = _parameter(
        "raw",
        "Subscribe to sensor_msgs/Image on image_topic ('raw') or CompressedImage on image_topic/compressed.",
        choices=("raw", "compressed"),
    )
    image_topic: str = _parameter("image", "Camera images to track objects on.")
    prompts_topic: str = _parameter("prompts", "sam2_ros/Prompt messages: add or correct an object.")
    tracked_objects_topic: str = _parameter("tracked_objects", "sam2_ros/TrackedObjectArray, one per processed image.")
    overlay_topic: str = _parameter("overlay", "rgb8 image with every object drawn, when publish_overlay is true.")
    labels_topic: str = _parameter(
        "labels", "mono8/mono16 image of object id + 1 per pixel (0: none), when publish_labels is true."
    )
    image_qos_reliability: str = _parameter(
        "best_effort",
        "Reliability of the image subscription (best_effort: sensor data).",
        choices=("best_effort", "reliable"),
    )
    image_qos_depth: int = _parameter(1, "Queue depth of the image subscription.", limits=(1, 100))
    output_qos_depth: int = _parameter(10, "Queue depth of the (reliable) output and prompt topics.", limits=(1, 1000))
    publish_overlay: bool = _parameter(True, "Publish the overlay image.", read_only=False)
    mask_encoding: str = _parameter(
        "mono8",
        "Object masks: mono8 (255 on the object, else 0) or mono8_probability (mask probability * 255).",
        read_only=False,
        choices=MASK_ENCODINGS,
    )
    mask_mode: str = _parameter(
        "full",
        "Each object's mask in tracked_objects: full (image size), cropped (to its box, offset = box) "
        "or none (an empty image; publish_labels instead).",
        read_only=False,
        choices=MASK_MODES,
    )
    publish_labels: bool = _parameter(
        False, "Publish every object as one label image on labels_topic, one per processed image.", read_only=False
    )
    prompt_wait_timeout: float = _parameter(
        2.0,
        "Seconds a prompt waits for its image to be processed before it is rejected.",
        read_only=False,
        limits=(0.0, 600.0),
    )
    service_timeout: float = _parameter(
        30.0,
        "Seconds a service call waits for the tracker before it answers with a failure.",
        read_only=False,
        limits=(0.1, 3600.0),
    )
    diagnostics_period: float = _parameter(1.0, "Seconds between /diagnostics messages.", limits=(0.1, 60.0))

    # Depth: objects in 3D (sam2_ros/depth.py). Off by default; without depth nothing changes.
    use_depth: bool = _parameter(False, "Read a registered depth image and camera_info; publish objects in 3D.")
    depth_topic: str = _parameter("depth", "sensor_msgs/Image registered to the colour image: 16UC1 mm or 32FC1 m.")
    camera_info_topic: str = _parameter("camera_info", "sensor_msgs/CameraInfo of the colour camera.")
    depth_max_offset: float = _parameter(
        0.02, "Largest |depth stamp - colour stamp| in seconds for a depth image to match.", limits=(0.0, 10.0)
    )
    depth_wait: float = _parameter(
        0.05,
        "Seconds a tracked image waits at most for its depth image to arrive (arrival ends the wait at once).",
        limits=(0.0, 1.0),
    )
    depth_buffer_size: int = _parameter(8, "Depth images held for matching by stamp.", limits=(1, 1000))
    depth_erosion: int = _parameter(3, "Pixels the mask is eroded by before its depths are read.", limits=(0, 100))
    depth_inlier_distance: float = _parameter(
        0.15, "Metres from the median depth within which a point belongs to the object.", limits=(0.001, 100.0)
    )
    occlusion_margin: float = _parameter(
        0.1,
        "A hidden object is OCCLUDED when the depth where it was is nearer by more than this (metres).",
        limits=(0.0, 100.0),
    )
    out_of_view_border: float = _parameter(
        0.03,
        "A hidden object is OUT_OF_VIEW when its predicted position is this share of the image from an edge.",
        limits=(0.0, 0.5),
    )
    depth_min: float = _parameter(0.1, "Nearest depth (metres) the camera measures.", limits=(0.0, 1000.0))
    depth_max: float = _parameter(10.0, "Farthest depth (metres) the camera measures.", limits=(0.0, 1000.0))
    cloud_max_points: int = _parameter(2000, "Most points per object in objects_cloud.", limits=(1, 1_000_000))
    objects_cloud_topic: str = _parameter("objects_cloud", "sensor_msgs/PointCloud2: x, y, z, object_id.")
    markers_topic: str = _parameter("markers", "visualization_msgs/MarkerArray: a box and an id per object.")
    publish_tf: bool = _parameter(False, "Send a TF frame per object at its 3D position (needs tf2_ros).")
    tf_prefix: str = _parameter("sam2_object_", "TF frame of object N: <tf_prefix>N.")

    # Detections: a detector's boxes keep tracks on their objects (sam2core.tracking.DetectionTracker).
    detections_topic: str = _parameter(
        "detections",
        "Boxes of a detector: sam2_ros/DetectionArray, or vision_msgs/Detection2DArray (detection_format).",
    )
    detection_format: str = _parameter(
        "sam2_ros",
        "Message type on detections_topic: sam2_ros (DetectionArray) or vision_msgs (Detection2DArray; "
        "needs vision_msgs installed).",
        choices=("sam2_ros", "vision_msgs"),
    )
    detection_max_offset: float = _parameter(
        0.05,
        "Largest |detections stamp - image stamp| in seconds for detections to pair with an image.",
        limits=(0.0, 10.0),
    )
    detection_wait: float = _parameter(
        0.0,
        "Seconds an image waits at most for its detections to arrive (an image the detector skips waits it all).",
        limits=(0.0, 1.0),
    )
    detection_buffer_size: int = _parameter(
        8, "Detection arrays held for pairing with images by stamp.", limits=(1, 1000)
    )
    match_iou: float = _parameter(
        0.3, "Least IoU of an object's mask box with a detection's box to pair them.", limits=(0.01, 1.0)
    )
    drift_iou: float = _parameter(
        0.2,
        "A paired object whose mask box has less IoU with its detection is re-prompted with the box.",
        limits=(0.0, 1.0),
    )
    min_object_score: float = _parameter(
        0.0,
        "A paired object whose object score (logit) is below this is re-prompted with its detection's box "
        "(0: never; a visible object scores above 0).",
        limits=(-1000.0, 1000.0),
    )
    reprompt_mode: str = _parameter(
        "correction",
        "How a re-prompt decodes the detection's box: on the object's memory from its last mask, on its memory, "
        "or the box alone.",
        choices=REPROMPT_MODES,
    )
    reacquire_distance: float = _parameter(
        2.0,
        "A lost or astray object takes a free detection at most this many diagonals of its last box away (0: any).",
        limits=(0.0, 1000.0),
    )
    new_objects_from: str = _parameter(
        "", "Class ids, separated by commas, whose unpaired detections start new objects (empty: none do)."
    )
    max_new_objects: int = _parameter(
        1, "At most this many new objects from detections in any new_object_window images.", limits=(0, 1000)
    )
    new_object_window: int = _parameter(8, "Images over which max_new_objects counts.", limits=(1, 100000))
    known_classes: str = _parameter(
        "", "Class ids, separated by commas, that detections may have (empty: any); others are rejected."
    )
    min_detection_score: float = _parameter(0.0, "Detections scoring below this are rejected.", limits=(0.0, 1.0))
    max_detections: int = _parameter(
        100, "Most detections used per image; the lowest-scoring beyond it are rejected.", limits=(0, 100000)
    )

    def detection_options(self) -> DetectionOptions:
        """How detections steer the tracks (sam2core.tracking.DetectionOptions)."""
        return DetectionOptions(
            match_iou=self.match_iou, drift_iou=self.drift_iou, min_object_score=self.min_object_score,
            reprompt_mode=self.reprompt_mode, reacquire_distance=self.reacquire_distance,
            new_objects_from=_class_ids(self.new_objects_from), max_new_objects=self.max_new_objects,
            new_object_window=self.new_object_window, known_classes=_class_ids(self.known_classes),
            min_score=self.min_detection_score, max_detections=self.max_detections,
        )  # fmt: skip

    def load_spec(self) -> LoadSpec:
        """The model to load and how to prepare it (sam2_ros.loading.load_tracker's first argument)."""
        return LoadSpec(
            model=self.model, checkpoint=self.checkpoint, device=self.device, image_size=self.image_size,
            preparation=Preparation(backend=self.backend, export_dir=self.export_dir, compile=self.compile),
        )  # fmt: skip

    def tracker_options(self) -> TrackerOptions:
        """How the tracker tracks (sam2_ros.loading.load_tracker's second argument)."""
        return TrackerOptions(
            max_objects=self.max_objects, frame_history=self.frame_history,
            max_conditioning_frames=self.max_conditioning_frames, precision=self.precision, motion=self.motion,
            exclusive=self.exclusive, min_kept_fraction=self.min_kept_fraction,
        )  # fmt: skip

    def depth_settings(self) -> DepthSettings:
        """How sam2_ros.depth measures objects and explains hidden ones."""
        return DepthSettings(
            erosion=self.depth_erosion, inlier_distance=self.depth_inlier_distance,
            occlusion_margin=self.occlusion_margin, out_of_view_border=self.out_of_view_border,
            depth_min=self.depth_min, depth_max=self.depth_max, cloud_max_points=self.cloud_max_points,
        )  # fmt: skip


def _class_ids(text: str) -> tuple[str, ...]:
    """("a", "b") of "a, b"; () of ""."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


# The Settings fields that make the tracker (load_spec and tracker_options); the offline tools
# take them as flags.
TRACKER_SETTINGS = (
    "model", "checkpoint", "device", "image_size", "precision", "max_objects", "frame_history",
    "max_conditioning_frames", "compile", "backend", "export_dir", "motion", "exclusive", "min_kept_fraction",
)  # fmt: skip


def fields_of(settings_class: type) -> dict[str, dataclasses.Field]:
    """The parameter fields of a settings dataclass, by name."""
    return {spec.name: spec for spec in dataclasses.fields(settings_class)}


FIELDS = fields_of(Settings)


def descriptor(spec: dataclasses.Field) -> ParameterDescriptor:
    """The ParameterDescriptor of a parameter field: description, range, choices, read-only."""
    meta = spec.metadata
    result = ParameterDescriptor(name=spec.name, description=meta["description"], read_only=meta["read_only"])
    if meta["choices"]:
        result.additional_constraints = f"one of: {', '.join(meta['choices'])}"
    if meta["limits"] is not None and isinstance(spec.default, int):
        result.integer_range = [IntegerRange(from_value=meta["limits"][0], to_value=meta["limits"][1], step=1)]
    elif meta["limits"] is not None:
        result.floating_point_range = [FloatingPointRange(from_value=meta["limits"][0], to_value=meta["limits"][1])]
    return result


def declare(node: Node, settings_class: type = Settings):
    """Declare every parameter of `settings_class` on `node` (values from overrides such as
    --params-file) and return them as a `settings_class`.

    Raises rclpy's InvalidParameterValueException when an override is out of range or not one
    of the choices, InvalidParameterTypeException when it has another type than the default.
    """
    fields = fields_of(settings_class)
    node.add_on_set_parameters_callback(functools.partial(validate, fields=fields))
    node.declare_parameters("", [(name, spec.default, descriptor(spec)) for name, spec in fields.items()])
    return settings_class(**{name: node.get_parameter(name).value for name in fields})


def validate(parameters: list[Parameter], fields: dict[str, dataclasses.Field] = FIELDS) -> SetParametersResult:
    """Reject values that the ranges of the descriptors do not cover: choices and device names."""
    for parameter in parameters:
        spec = fields.get(parameter.name)
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


def usage(program: str, summary: str, settings_class: type = Settings) -> str:
    """The --help text of a node: how to set parameters, then each one with its type, default,
    range or choices, whether it can change while the node runs, and its description (with units)."""
    lines = [summary, "", f"usage: {program} [--help] [--ros-args [-p NAME:=VALUE ...] [--params-file FILE]]", "",
             "parameters:"]  # fmt: skip
    for name, spec in fields_of(settings_class).items():
        lines.append(f"  {name} ({_constraints(spec)})")
        lines.append(f"      {spec.metadata['description']}")
    return "\n".join(lines)


def _constraints(spec: dataclasses.Field) -> str:
    meta = spec.metadata
    parts = [type(spec.default).__name__, f"default {spec.default!r}"]
    if meta["limits"] is not None:
        parts.append(f"{meta['limits'][0]}..{meta['limits'][1]}")
    if meta["choices"]:
        parts.append(f"one of {', '.join(meta['choices'])}")
    parts.append("read-only" if meta["read_only"] else "can change while running")
    return "; ".join(parts)


def add_arguments(parser: argparse.ArgumentParser, names: tuple[str, ...] = TRACKER_SETTINGS) -> None:
    """Flags (`--image-size`) for the Settings fields `names`, with their types, defaults, choices and
    help (the parser's ArgumentDefaultsHelpFormatter adds the default)."""
    for name in names:
        spec = FIELDS[name]
        meta = spec.metadata
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=_argument_type(spec),
            default=spec.default,
            choices=meta["choices"] or None,
            help=meta["description"] + (f" Range {meta['limits'][0]}..{meta['limits'][1]}." if meta["limits"] else ""),
        )


def _boolean(text: str) -> bool:
    """A flag's boolean, spelt out (bool("false") would be True)."""
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"{text} is neither true nor false")
    return text.lower() == "true"


def _argument_type(spec: dataclasses.Field):
    """An argparse type that converts and checks the value as the node checks the parameter (range,
    device name), so a bad flag is a usage error."""
    kind, limits = type(spec.default), spec.metadata["limits"]

    def convert(text: str):
        value = _boolean(text) if kind is bool else kind(text)
        if limits is not None and not limits[0] <= value <= limits[1]:
            raise argparse.ArgumentTypeError(f"{text} is outside {limits[0]}..{limits[1]}")
        checked = validate([Parameter(spec.name, value=value)])
        if not checked.successful:
            raise argparse.ArgumentTypeError(checked.reason)
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its "invalid int value" message
    return convert


def chosen(args: argparse.Namespace, names: tuple[str, ...] = TRACKER_SETTINGS) -> dict[str, object]:
    """The values of the flags add_arguments made, by field name."""
    return {name: getattr(args, name) for name in names}


def settings_of(args: argparse.Namespace, names: tuple[str, ...] = TRACKER_SETTINGS) -> Settings:
    """Settings with the values of the flags add_arguments made for `names`, the defaults elsewhere."""
    return Settings(**chosen(args, names))
