"""Conversions between ROS messages and the numpy / sam2core values the tracker works with.

No cv_bridge and no node logic: every function takes messages or arrays and returns the other
kind. Malformed input raises ConversionError (a ValueError) that says what is wrong.
Images in sam2core are (H, W, 3) uint8 RGB numpy arrays.
"""

from __future__ import annotations

import array
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Point32
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

from sam2_ros.msg import Detection as DetectionMsg
from sam2_ros.msg import DetectionArray, TrackedObject, TrackedObjectArray
from sam2_ros.msg import Prompt as PromptMsg
from sam2core.point_labels import NEGATIVE, POSITIVE
from sam2core.tracking import Detection, ObjectResult, Prompt, TrackHealth
from sam2core.tracking.results import EMPTY_GEOMETRY, MaskGeometry
from sam2core.visualization import overlay

# What the node publishes an object's mask as: 0/255, or the mask probability scaled to 0..255.
MASK_ENCODINGS = ("mono8", "mono8_probability")
# How much of the image an object's mask covers: all of it, the object's box (the mask's top-left
# pixel is the box's x_offset, y_offset), or nothing (an empty image: use the labels image).
MASK_MODES = ("full", "cropped", "none")
# The largest object id a labels image can hold in each of its encodings (pixel = object id + 1).
LABEL_LIMITS = {"mono8": 254, "mono16": 65534}


class ConversionError(ValueError):
    """A message that cannot be converted: the text says which field is wrong and how."""


@dataclass(frozen=True)
class _PixelFormat:
    """How one sensor_msgs/Image encoding is laid out and turned into RGB."""

    channels: int
    bytes_per_channel: int
    to_rgb: int | None  # cv2 colour conversion code, None when the pixels are already RGB


PIXEL_FORMATS: dict[str, _PixelFormat] = {
    "rgb8": _PixelFormat(3, 1, None),
    "bgr8": _PixelFormat(3, 1, cv2.COLOR_BGR2RGB),
    "rgba8": _PixelFormat(4, 1, cv2.COLOR_RGBA2RGB),
    "bgra8": _PixelFormat(4, 1, cv2.COLOR_BGRA2RGB),
    "mono8": _PixelFormat(1, 1, cv2.COLOR_GRAY2RGB),
    "rgb16": _PixelFormat(3, 2, None),
    "bgr16": _PixelFormat(3, 2, cv2.COLOR_BGR2RGB),
    "mono16": _PixelFormat(1, 2, cv2.COLOR_GRAY2RGB),
}


def stamp_to_ns(stamp: Time) -> int:
    """A builtin_interfaces/Time as integer nanoseconds."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


# ----------------------------------------------------------------------------- images in


def image_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a sensor_msgs/Image of an encoding in PIXEL_FORMATS.

    Rows may be padded (`step` larger than a row); 16-bit encodings honour `is_bigendian` and
    keep their high byte.
    """
    pixel = PIXEL_FORMATS.get(msg.encoding)
    if pixel is None:
        raise ConversionError(f"unsupported image encoding {msg.encoding!r}; supported: {', '.join(PIXEL_FORMATS)}")
    rows = _pixel_rows(msg, msg.height, msg.width, pixel.channels * pixel.bytes_per_channel)
    if pixel.bytes_per_channel == 2:
        rows = np.ascontiguousarray(rows).view(">u2" if msg.is_bigendian else "<u2") >> 8
    pixels = rows.astype(np.uint8, copy=False).reshape(msg.height, msg.width, pixel.channels)
    if pixel.to_rgb is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), pixel.to_rgb)


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a sensor_msgs/CompressedImage (JPEG, PNG, ... decoded by OpenCV)."""
    if "compresseddepth" in msg.format.lower():
        raise ConversionError(f"compressed depth images cannot be tracked (format {msg.format!r})")
    bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ConversionError(
            f"OpenCV cannot decode the compressed image (format {msg.format!r}, {len(msg.data)} bytes)"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def mono8_mask(msg: Image) -> np.ndarray:
    """(H, W) bool from a mono8 mask image: non-zero is the object. Padded rows are honoured."""
    if msg.encoding not in ("mono8", "8UC1"):
        raise ConversionError(f"a prompt mask must be mono8, got encoding {msg.encoding!r}")
    return _pixel_rows(msg, msg.height, msg.width, 1) != 0


def _pixel_rows(msg: Image, height: int, width: int, pixel_bytes: int) -> np.ndarray:
    """(height, width * pixel_bytes) uint8 view of an image's rows, without their padding."""
    if height == 0 or width == 0:
        raise ConversionError(f"image is empty ({width}x{height})")
    row_bytes = width * pixel_bytes
    if msg.step < row_bytes:
        raise ConversionError(
            f"step {msg.step} is smaller than a row of {width} {msg.encoding} pixels ({row_bytes} bytes)"
        )
    if len(msg.data) < msg.step * height:
        raise ConversionError(f"image data has {len(msg.data)} bytes, fewer than step * height = {msg.step} * {height}")
    data = np.frombuffer(msg.data, np.uint8, count=msg.step * height)
    return data.reshape(height, msg.step)[:, :row_bytes]


# ----------------------------------------------------------------------------- images out


def rgb_to_image(rgb: np.ndarray, header: Header) -> Image:
    """A sensor_msgs/Image rgb8 (unpadded) of an (H, W, 3) uint8 array."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ConversionError(f"expected an (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    return _image(rgb, header, "rgb8")


def mask_to_image(mask: np.ndarray, header: Header) -> Image:
    """A sensor_msgs/Image mono8 (unpadded) of an (H, W) uint8 array."""
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ConversionError(f"expected an (H, W) uint8 mask, got {mask.shape} {mask.dtype}")
    return _image(mask, header, "mono8")


def _image(pixels: np.ndarray, header: Header, encoding: str) -> Image:
    pixels = np.ascontiguousarray(pixels)
    return Image(
        header=header,
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=0,
        step=pixels.itemsize * int(np.prod(pixels.shape[1:])),
        data=array.array("B", pixels.tobytes()),
    )


# ----------------------------------------------------------------------------- tracker results


def tracked_object(
    result: ObjectResult, header: Header, mask_encoding: str = "mono8", mask_mode: str = "full"
) -> TrackedObject:
    """A TrackedObject of one tracker result on the image of `header`.

    The mask is all zero when the object is not visible, and box, centroid and area describe the
    published mask. mask_encoding: "mono8" (255 on the object) or "mono8_probability"
    (sigmoid of the mask logits times 255, zero where the object is not). mask_mode: see
    MASK_MODES; a cropped mask of a hidden or empty object is an empty image. visibility_reason
    is LOST_TO_OTHER for an object other objects took its mask from, else NO_DEPTH (the depth
    stage, when there is one, says more: sam2_ros.depth.fill_tracked_object).
    """
    if mask_encoding not in MASK_ENCODINGS:
        raise ConversionError(f"unknown mask encoding {mask_encoding!r}; known: {', '.join(MASK_ENCODINGS)}")
    if mask_mode not in MASK_MODES:
        raise ConversionError(f"unknown mask mode {mask_mode!r}; known: {', '.join(MASK_MODES)}")
    logits = result.mask_logits  # (H, W) on the host: the tracker's one copy of the frame's results
    binary = (logits > 0) & result.visible
    if mask_encoding == "mono8":
        pixels = binary.to(torch.uint8) * 255
    else:
        pixels = torch.where(binary, torch.sigmoid(logits) * 255, 0).round().to(torch.uint8)
    box, centroid, area = _geometry_fields(result.geometry if result.visible else EMPTY_GEOMETRY)
    return TrackedObject(
        object_id=result.object_id,
        mask=mask_to_image(_mask_pixels(pixels.numpy(), box, mask_mode), header),
        visibility=result.visibility,
        visible=result.visible,
        predicted_iou=result.iou,
        object_score=result.object_score,
        box=box,
        centroid=centroid,
        mask_area=area,
        object_pointer=array.array("f", result.object_pointer.numpy().tobytes()),
        class_id=result.class_id,
        visibility_reason=visibility_reason(result),
    )


def visibility_reason(result: ObjectResult) -> int:
    """The TrackedObject.REASON_* the tracker alone can give: LOST_TO_OTHER or NO_DEPTH."""
    if result.health is TrackHealth.LOST_TO_OTHER:
        return TrackedObject.REASON_LOST_TO_OTHER
    return TrackedObject.REASON_NO_DEPTH


def _mask_pixels(pixels: np.ndarray, box: RegionOfInterest, mask_mode: str) -> np.ndarray:
    """The part of an (H, W) mask that mask_mode publishes."""
    if mask_mode == "cropped":
        return pixels[box.y_offset : box.y_offset + box.height, box.x_offset : box.x_offset + box.width]
    if mask_mode == "none":
        return pixels[:0, :0]
    return pixels


def tracked_object_array(
    header: Header,
    frame_index: int,
    results: list[ObjectResult],
    image_size: tuple[int, int],
    mask_encoding: str = "mono8",
    mask_mode: str = "full",
) -> TrackedObjectArray:
    """Every object on one image of `image_size` (H, W), stamped with that image's header, ordered
    by object id; the size is carried with no object too."""
    results = sorted(results, key=lambda r: r.object_id)
    height, width = image_size
    return TrackedObjectArray(
        header=header,
        frame_index=frame_index,
        image_height=height,
        image_width=width,
        objects=[tracked_object(result, header, mask_encoding, mask_mode) for result in results],
    )


def object_mask(obj: TrackedObject, image_height: int, image_width: int) -> np.ndarray:
    """(H, W) uint8 mask of a received TrackedObject at the image's size, full or cropped.

    A mask of the image's size is the full mask; any other size is a crop whose top-left pixel is
    the box's (x_offset, y_offset); an empty mask (mask_mode none, or a hidden object) is all zero.
    """
    mask = np.zeros((image_height, image_width), np.uint8)
    if obj.mask.width == 0 or obj.mask.height == 0:
        return mask
    pixels = _pixel_rows(obj.mask, obj.mask.height, obj.mask.width, 1)
    if (obj.mask.height, obj.mask.width) == (image_height, image_width):
        return pixels.copy()
    x, y = obj.box.x_offset, obj.box.y_offset
    if y + obj.mask.height > image_height or x + obj.mask.width > image_width:
        raise ConversionError(
            f"a {obj.mask.width}x{obj.mask.height} mask at ({x}, {y}) does not fit a {image_width}x{image_height} image"
        )
    mask[y : y + obj.mask.height, x : x + obj.mask.width] = pixels
    return mask


def labels_image(results: list[ObjectResult], image_shape: tuple[int, int], header: Header) -> Image:
    """Every visible object on one image as one label image: pixel = object id + 1, 0 = no object.

    mono8 while every id is at most 254, else mono16 (little-endian, ids up to 65534). Where
    masks overlap, the object with the larger mask logit wins (on a tie, the lower id).
    """
    visible = sorted((result for result in results if result.visible), key=lambda r: r.object_id)
    ids = [result.object_id for result in visible]
    encoding = "mono8" if max(ids, default=0) <= LABEL_LIMITS["mono8"] else "mono16"
    if max(ids, default=0) > LABEL_LIMITS["mono16"]:
        raise ConversionError(f"object id {max(ids)} does not fit a labels image (at most {LABEL_LIMITS['mono16']})")
    labels = np.zeros(image_shape, np.uint8 if encoding == "mono8" else np.uint16)
    if visible:
        logits = torch.stack([result.mask_logits for result in visible])  # (N, H, W) on the host
        best_logit, best = logits.max(dim=0)  # (H, W): max returns the first of equal values
        label_of = torch.tensor(ids) + 1  # (N,)
        labels[...] = torch.where(best_logit > 0, label_of[best], 0).numpy()
    return _image(labels, header, encoding)


def objects_in_labels(msg: Image) -> dict[int, np.ndarray]:
    """{object id: (H, W) bool mask} of a received labels image (mono8 or mono16)."""
    if msg.encoding not in ("mono8", "mono16"):
        raise ConversionError(f"a labels image is mono8 or mono16, got encoding {msg.encoding!r}")
    pixel_bytes = 1 if msg.encoding == "mono8" else 2
    rows = np.ascontiguousarray(_pixel_rows(msg, msg.height, msg.width, pixel_bytes))
    labels = rows if pixel_bytes == 1 else rows.view(">u2" if msg.is_bigendian else "<u2")
    return {int(label) - 1: labels == label for label in np.unique(labels) if label > 0}


def overlay_image(rgb: np.ndarray, results: list[ObjectResult], header: Header) -> Image:
    """An rgb8 Image of `rgb` with every visible object's mask, box and id drawn in its colour."""
    visible = [result for result in results if result.visible]
    masks = {result.object_id: result.mask.numpy() for result in visible}
    boxes = {result.object_id: result.box for result in visible if result.box is not None}
    return rgb_to_image(overlay(rgb, masks=masks, boxes=boxes), header)


def _geometry_fields(geometry: MaskGeometry) -> tuple[RegionOfInterest, Point, int]:
    """The message's box (all zero when empty), centroid (x, y pixels) and area of a mask's geometry."""
    if geometry.box is None:
        return RegionOfInterest(), Point(), 0
    x0, y0, x1, y1 = geometry.box
    box = RegionOfInterest(x_offset=x0, y_offset=y0, width=x1 - x0 + 1, height=y1 - y0 + 1)
    return box, Point(x=geometry.centroid[0], y=geometry.centroid[1]), geometry.area


# ----------------------------------------------------------------------------- prompts


# The message's click labels and sam2core's: the same meaning, each side with its own constants.
LABELS_FROM_MSG = {PromptMsg.LABEL_POSITIVE: POSITIVE, PromptMsg.LABEL_NEGATIVE: NEGATIVE}
LABELS_TO_MSG = {label: msg_label for msg_label, label in LABELS_FROM_MSG.items()}


def prompt_from_msg(msg: PromptMsg) -> Prompt:
    """A sam2core Prompt of a sam2_ros/Prompt: clicks, the box if has_box, the mask if it has pixels.

    Checks the message's own consistency (lengths, finite numbers, mask format); whether the
    prompt fits the image is the tracker's to check.
    """
    if msg.object_id < 0:
        raise ConversionError(f"object_id must be >= 0, got {msg.object_id}")
    if len(msg.points) != len(msg.labels):
        raise ConversionError(f"{len(msg.points)} points but {len(msg.labels)} labels")
    points = labels = box = mask = None
    if len(msg.points):
        points = np.array([(point.x, point.y) for point in msg.points], dtype=np.float32)
        unknown = sorted(set(msg.labels) - set(LABELS_FROM_MSG))
        if unknown:
            raise ConversionError(f"click labels must be LABEL_POSITIVE (1) or LABEL_NEGATIVE (0), got {unknown}")
        labels = np.array([LABELS_FROM_MSG[label] for label in msg.labels], dtype=np.int32)
        if not np.isfinite(points).all():
            raise ConversionError("prompt points must be finite numbers (got NaN or infinity)")
    if msg.has_box:
        box = (msg.box_x0, msg.box_y0, msg.box_x1, msg.box_y1)
        if not np.isfinite(box).all():
            raise ConversionError(f"prompt box must be four finite numbers, got {box}")
    if msg.mask.width * msg.mask.height > 0:
        mask = mono8_mask(msg.mask)
    return Prompt(points=points, labels=labels, box=box, mask=mask)


def prompt_to_msg(object_id: int, prompt: Prompt, header: Header) -> PromptMsg:
    """The sam2_ros/Prompt of a sam2core Prompt drawn on the image of `header` (what
    prompt_from_msg reads back)."""
    msg = PromptMsg(header=header, object_id=object_id)
    if prompt.points is not None:
        msg.points = [Point32(x=float(x), y=float(y)) for x, y in prompt.points]
        msg.labels = [LABELS_TO_MSG[int(label)] for label in prompt.labels]
    if prompt.box is not None:
        msg.has_box = True
        msg.box_x0, msg.box_y0, msg.box_x1, msg.box_y1 = (float(value) for value in prompt.box)
    if prompt.mask is not None:
        msg.mask = mask_to_image(prompt.mask.astype(np.uint8) * 255, header)
    return msg


# ----------------------------------------------------------------------------- detections


def detections_from_msg(msg: DetectionArray) -> list[Detection]:
    """The sam2core Detections of a sam2_ros/DetectionArray (box from centre and size). Nothing
    is checked here: DetectionTracker rejects or clips bad boxes and counts them."""
    return [
        _detection(each.center_x, each.center_y, each.size_x, each.size_y, each.class_id, each.score)
        for each in msg.detections
    ]


def detections_from_vision_msgs(msg) -> list[Detection]:
    """The sam2core Detections of any object laid out as vision_msgs/Detection2DArray:
    ``detections[i].bbox.center.position.x/y``, ``.bbox.size_x/size_y`` and
    ``.results[j].hypothesis.class_id/score``. Each detection keeps its best-scoring hypothesis;
    one without any gets class "" and score 1."""
    detections = []
    for each in msg.detections:
        box, hypotheses = each.bbox, [result.hypothesis for result in each.results]
        best = max(hypotheses, key=lambda hypothesis: hypothesis.score, default=None)
        class_id, score = ("", 1.0) if best is None else (best.class_id, best.score)
        detections.append(
            _detection(box.center.position.x, box.center.position.y, box.size_x, box.size_y, class_id, score)
        )
    return detections


def detection_array(header: Header, detections: list[Detection]) -> DetectionArray:
    """A sam2_ros/DetectionArray of `detections` on the image of `header`."""
    messages = []
    for each in detections:
        x0, y0, x1, y1 = (float(value) for value in each.box)
        messages.append(DetectionMsg(center_x=(x0 + x1) / 2, center_y=(y0 + y1) / 2, size_x=x1 - x0, size_y=y1 - y0,
                                     class_id=each.class_id, score=float(each.score)))  # fmt: skip
    return DetectionArray(header=header, detections=messages)


def _detection(
    center_x: float, center_y: float, size_x: float, size_y: float, class_id: str, score: float
) -> Detection:
    half_width, half_height = float(size_x) / 2, float(size_y) / 2
    box = (
        float(center_x) - half_width,
        float(center_y) - half_height,
        float(center_x) + half_width,
        float(center_y) + half_height,
    )
    return Detection(box, str(class_id), float(score))
