"""Deterministic messages of every generated type, built the same way in every process.

float32 fields hold values that float32 represents exactly, so what crosses the graph compares
equal to what is built here.
"""

import numpy as np
from geometry_msgs.msg import Point, Point32
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Header

from sam2_ros.msg import Prompt, TrackedObject, TrackedObjectArray
from sam2_ros.srv import AddPrompt, RemoveObject, Reset

POINTER_LENGTH = 256


def header(frame_index: int) -> Header:
    msg = Header(frame_id="camera_optical_frame")
    msg.stamp.sec = 1_700_000_000 + frame_index
    msg.stamp.nanosec = 33_000_000 * (frame_index % 30)
    return msg


def mono8(mask: np.ndarray, frame_index: int) -> Image:
    height, width = mask.shape
    return Image(
        header=header(frame_index),
        height=height,
        width=width,
        encoding="mono8",
        is_bigendian=0,
        step=width,
        data=(mask.astype(np.uint8) * 255).tobytes(),
    )


def disc_mask(object_id: int, height: int = 480, width: int = 640) -> np.ndarray:
    """(H, W) bool: a disc whose place and size depend on the object id."""
    rng = np.random.default_rng(object_id)
    radius = int(rng.integers(height // 10, height // 5))
    cy, cx = rng.integers(radius, height - radius), rng.integers(radius, width - radius)
    yy, xx = np.mgrid[:height, :width]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2


def prompt(object_id: int = 3) -> Prompt:
    return Prompt(
        header=header(7),
        object_id=object_id,
        points=[Point32(x=120.5, y=88.0), Point32(x=300.0, y=200.25)],
        labels=[Prompt.LABEL_POSITIVE, Prompt.LABEL_NEGATIVE],
        has_box=True,
        box_x0=100.0,
        box_y0=60.0,
        box_x1=340.0,
        box_y1=260.0,
        mask=mono8(disc_mask(object_id, 48, 64), 7),
    )


def tracked_object(object_id: int = 3, frame_index: int = 12) -> TrackedObject:
    mask = disc_mask(object_id)
    ys, xs = np.nonzero(mask)
    rng = np.random.default_rng(1000 + object_id)
    return TrackedObject(
        object_id=object_id,
        mask=mono8(mask, frame_index),
        visibility=0.9375,
        visible=True,
        predicted_iou=0.8125,
        object_score=2.625,
        box=RegionOfInterest(
            x_offset=int(xs.min()),
            y_offset=int(ys.min()),
            width=int(xs.max() - xs.min() + 1),
            height=int(ys.max() - ys.min() + 1),
        ),
        centroid=Point(x=float(xs.mean()), y=float(ys.mean())),
        mask_area=int(mask.sum()),
        object_pointer=rng.standard_normal(POINTER_LENGTH).astype(np.float32).tolist(),
    )


def tracked_object_array(frame_index: int = 12) -> TrackedObjectArray:
    return TrackedObjectArray(
        header=header(frame_index),
        frame_index=frame_index,
        objects=[tracked_object(object_id, frame_index) for object_id in (1, 2, 5)],
    )


TOPICS = {
    "samples/prompt": (Prompt, prompt),
    "samples/tracked_object": (TrackedObject, tracked_object),
    "samples/tracked_object_array": (TrackedObjectArray, tracked_object_array),
}


def add_prompt_response(request: AddPrompt.Request) -> AddPrompt.Response:
    """What the sample service peer answers: the tracked object of the prompted id."""
    return AddPrompt.Response(success=True, message="", object=tracked_object(request.prompt.object_id))


def remove_object_response(request: RemoveObject.Request) -> RemoveObject.Response:
    return RemoveObject.Response(success=request.object_id == 3, message=f"removed {request.object_id}")


def reset_response() -> Reset.Response:
    return Reset.Response(success=True, message="reset")
