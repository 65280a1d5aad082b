"""Messages of objects in 3D and of depth: TrackedObject's 3D fields, the objects' PointCloud2,
RViz markers and TF frames, and depth images and CameraInfo (for cameras, tests and demos).
No node logic: sam2_ros.depth locates the objects, this module writes what was located."""

from __future__ import annotations

import array

import numpy as np
from geometry_msgs.msg import Point, TransformStamped, Vector3
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from sam2_ros.conversions import ConversionError
from sam2_ros.msg import TrackedObject
from sam2core.geometry import PinholeCamera
from sam2core.locating import ObjectDepth, VisibilityReason
from sam2core.visualization import object_colour

CLOUD_FIELDS = (("x", PointField.FLOAT32), ("y", PointField.FLOAT32), ("z", PointField.FLOAT32),
                ("object_id", PointField.UINT32))  # fmt: skip
CLOUD_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("object_id", "<u4")])
MIN_MARKER_SIZE = 0.01  # metres: a box no thinner than this, so RViz draws it
REASON_TO_MSG = {
    VisibilityReason.NO_DEPTH: TrackedObject.REASON_NO_DEPTH,
    VisibilityReason.VISIBLE: TrackedObject.REASON_VISIBLE,
    VisibilityReason.OCCLUDED: TrackedObject.REASON_OCCLUDED,
    VisibilityReason.OUT_OF_VIEW: TrackedObject.REASON_OUT_OF_VIEW,
    VisibilityReason.LOST: TrackedObject.REASON_LOST,
    VisibilityReason.LOST_TO_OTHER: TrackedObject.REASON_LOST_TO_OTHER,
}
REASON_FROM_MSG = {value: reason for reason, value in REASON_TO_MSG.items()}


def depth_image(depth: np.ndarray, header: Header) -> Image:
    """A sensor_msgs/Image of an (H, W) depth array: uint16 millimetres as 16UC1, float32 metres as 32FC1."""
    encodings = {np.dtype(np.uint16): "16UC1", np.dtype(np.float32): "32FC1"}
    if depth.ndim != 2 or depth.dtype not in encodings:
        raise ConversionError(f"expected an (H, W) uint16 or float32 depth array, got {depth.shape} {depth.dtype}")
    depth = np.ascontiguousarray(depth, depth.dtype.newbyteorder("<"))
    return Image(
        header=header, height=depth.shape[0], width=depth.shape[1], encoding=encodings[depth.dtype],
        is_bigendian=0, step=depth.strides[0], data=array.array("B", depth.tobytes()),
    )  # fmt: skip


def camera_info(camera: PinholeCamera, header: Header) -> CameraInfo:
    """The CameraInfo of an undistorted pinhole camera (K, P; R the identity)."""
    return CameraInfo(
        header=header, width=camera.width, height=camera.height, distortion_model="plumb_bob", d=[0.0] * 5,
        k=[camera.fx, 0.0, camera.cx, 0.0, camera.fy, camera.cy, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )  # fmt: skip


def fill_tracked_object(msg: TrackedObject, located: ObjectDepth) -> None:
    """Set the 3D fields of `msg` from `located` (left zero when not measured); a LOST_TO_OTHER
    reason set from the tracker's result stays."""
    if msg.visibility_reason != TrackedObject.REASON_LOST_TO_OTHER:
        msg.visibility_reason = REASON_TO_MSG[located.reason]
    msg.depth_points = located.depth_points
    if located.position is not None:
        msg.position, msg.extent_min, msg.extent_max = (
            Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))
            for p in (located.position, located.extent_min, located.extent_max)
        )


def point_cloud(header: Header, located: list[ObjectDepth]) -> PointCloud2:
    """One PointCloud2 (x, y, z float32, object_id uint32; unorganised) of every object's points."""
    points = np.zeros(sum(len(each.points) for each in located), CLOUD_DTYPE)
    start = 0
    for each in located:
        stop = start + len(each.points)
        for axis, name in enumerate("xyz"):
            points[name][start:stop] = each.points[:, axis]
        points["object_id"][start:stop] = each.object_id
        start = stop
    fields = [PointField(name=name, offset=CLOUD_DTYPE.fields[name][1], datatype=kind, count=1)
              for name, kind in CLOUD_FIELDS]  # fmt: skip
    return PointCloud2(
        header=header, height=1, width=len(points), fields=fields, is_bigendian=False,
        point_step=CLOUD_DTYPE.itemsize, row_step=CLOUD_DTYPE.itemsize * len(points), is_dense=True,
        data=array.array("B", points.tobytes()),
    )  # fmt: skip


class MarkerBook:
    """RViz markers of the objects: a box and an id label per measured object, and DELETE for the
    markers of objects no longer measured (hidden, removed or reset). Not thread-safe."""

    BOX, LABEL = "sam2_object_boxes", "sam2_object_ids"

    def __init__(self) -> None:
        self._shown: set[int] = set()

    def for_frame(self, header: Header, located: list[ObjectDepth]) -> MarkerArray:
        """The markers of one frame's objects, and DELETE for those shown before and not now."""
        measured = [each for each in located if each.position is not None]
        markers = [marker for each in measured for marker in _object_markers(header, each)]
        gone = self._shown - {each.object_id for each in measured}
        for object_id in sorted(gone):
            for namespace in (self.BOX, self.LABEL):
                markers.append(Marker(header=header, ns=namespace, id=object_id, action=Marker.DELETE))
        self._shown = {each.object_id for each in measured}
        return MarkerArray(markers=markers)


def _object_markers(header: Header, located: ObjectDepth) -> tuple[Marker, Marker]:
    red, green, blue = (channel / 255.0 for channel in object_colour(located.object_id))
    centre = (located.extent_min + located.extent_max) / 2.0
    size = np.maximum(located.extent_max - located.extent_min, MIN_MARKER_SIZE)
    box = Marker(header=header, ns=MarkerBook.BOX, id=located.object_id, type=Marker.CUBE, action=Marker.ADD)
    box.pose.position = Point(x=float(centre[0]), y=float(centre[1]), z=float(centre[2]))
    box.pose.orientation.w = 1.0
    box.scale = Vector3(x=float(size[0]), y=float(size[1]), z=float(size[2]))
    box.color = ColorRGBA(r=red, g=green, b=blue, a=0.5)
    label = Marker(header=header, ns=MarkerBook.LABEL, id=located.object_id, type=Marker.TEXT_VIEW_FACING,
                   action=Marker.ADD, text=str(located.object_id))  # fmt: skip
    label.pose.position = Point(x=float(centre[0]), y=float(located.extent_min[1]) - 0.05, z=float(centre[2]))
    label.pose.orientation.w = 1.0
    label.scale.z = 0.1
    label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    return box, label


def object_transforms(header: Header, located: list[ObjectDepth], prefix: str) -> list[TransformStamped]:
    """A TransformStamped per measured object: frame `<prefix><id>` at its position, parented to
    the colour image's frame (header.frame_id), not rotated."""
    transforms = []
    for each in located:
        if each.position is None:
            continue
        transform = TransformStamped(header=header, child_frame_id=f"{prefix}{each.object_id}")
        x, y, z = (float(value) for value in each.position)
        transform.transform.translation = Vector3(x=x, y=y, z=z)
        transform.transform.rotation.w = 1.0
        transforms.append(transform)
    return transforms
