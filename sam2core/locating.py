"""Objects in 3D from their masks and a depth image, and why hidden ones are hidden.

Pure functions and one stateful locator per stream, no ROS: sam2_ros feeds them the matched
depth image (metres, NaN where the camera has no reading) and the tracker's masks, and maps the
VisibilityReason to its message constants. Positions are in the camera's optical frame
(sam2core.geometry).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import cv2
import numpy as np

from sam2core.geometry import PinholeCamera


class VisibilityReason(enum.IntEnum):
    """Why an object is or is not seen on an image."""

    NO_DEPTH = 0  # no usable depth for this image, or a hidden object never measured
    VISIBLE = 1
    OCCLUDED = 2  # something nearer covers where the object should be
    OUT_OF_VIEW = 3  # its predicted position left the image or the depth range
    LOST = 4  # none of the above: the tracker lost it
    LOST_TO_OTHER = 5  # exclusive tracking: other objects took most of its mask (set by the tracker's result)


@dataclass(frozen=True)
class DepthSettings:
    """How objects are measured in depth and why hidden ones are hidden (node parameters)."""

    erosion: int = 3  # pixels the mask is eroded by before its depths are read
    inlier_distance: float = 0.15  # metres from the median depth that a point may be and still count
    occlusion_margin: float = 0.1  # metres nearer than the object that mean "something is in front"
    out_of_view_border: float = 0.03  # share of the image side: a predicted position this near an edge is out
    depth_min: float = 0.1  # metres: the depth camera's range
    depth_max: float = 10.0
    cloud_max_points: int = 2000  # per object


@dataclass(frozen=True)
class ObjectDepth:
    """One object on one image in 3D; position and extent are None when it was not measured."""

    object_id: int
    reason: VisibilityReason
    depth_points: int = 0
    position: np.ndarray | None = None  # (3,) metres, optical frame
    extent_min: np.ndarray | None = None  # (3,)
    extent_max: np.ndarray | None = None  # (3,)
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))  # (N, 3) inliers, decimated


@dataclass(frozen=True)
class _Measurement:
    position: np.ndarray  # (3,)
    extent_min: np.ndarray  # (3,)
    extent_max: np.ndarray  # (3,)
    points: np.ndarray  # (N, 3) inliers
    depth_points: int
    footprint: Footprint


def measure(mask: np.ndarray, depth: np.ndarray, camera: PinholeCamera, settings: DepthSettings) -> _Measurement | None:
    """An object's 3D position and extent from its (H, W) bool mask and (H, W) depth (NaN = none):
    the median of the valid depths over the mask eroded by `erosion` pixels (the whole mask when
    erosion leaves no valid depth; the lower of the middle two for an even count); None without
    any valid depth under the mask."""
    left, top, width, height = cv2.boundingRect(mask.view(np.uint8))
    if width == 0:
        return None
    crop = np.s_[top : top + height, left : left + width]  # the work is done on the mask's box only
    inside, valid = mask[crop], np.isfinite(depth[crop])
    eroded = inside
    if settings.erosion > 0:
        kernel = np.ones((2 * settings.erosion + 1,) * 2, np.uint8)
        eroded = cv2.erode(inside.astype(np.uint8), kernel, borderValue=0).astype(bool)
    v, u = np.nonzero(eroded & valid)
    if v.size == 0:
        v, u = np.nonzero(inside & valid)
    if v.size == 0:
        return None
    v, u = v + top, u + left
    z = depth[v, u]
    middle = (z.size - 1) // 2  # the lower median: a measured depth, so at least one point is an inlier
    median = float(np.partition(z, middle)[middle])
    inliers = np.abs(z - median) <= settings.inlier_distance
    points = camera.back_project(u[inliers], v[inliers], z[inliers])  # (N, 3)
    position = np.array([np.median(points[:, 0]), np.median(points[:, 1]), median], np.float32)
    footprint = Footprint(inside, top, left, mask.shape)
    return _Measurement(position, points.min(axis=0), points.max(axis=0), points, int(v.size), footprint)


@dataclass(frozen=True)
class Footprint:
    """Where an object's mask lies on an image: its (h, w) bool crop with the crop's top-left pixel."""

    crop: np.ndarray  # (h, w) bool
    top: int
    left: int
    image_shape: tuple[int, int]  # (H, W)

    def depths_when_moved(self, depth: np.ndarray, rows: int, columns: int) -> np.ndarray:
        """(N,) the valid depths of (H, W) `depth` under this footprint moved by `rows` down and
        `columns` right; the part moved off the image is left out."""
        height, width = self.crop.shape
        top, left = self.top + rows, self.left + columns
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + height, depth.shape[0]), min(left + width, depth.shape[1])
        if y0 >= y1 or x0 >= x1:
            return np.zeros(0, depth.dtype)
        under = depth[y0:y1, x0:x1][self.crop[y0 - top : y1 - top, x0 - left : x1 - left]]
        return under[np.isfinite(under)]


@dataclass(frozen=True)
class _LastSeen:
    """What is remembered of an object from the last image it was measured on."""

    position: np.ndarray  # (3,)
    velocity: np.ndarray  # (3,) metres per second
    stamp_ns: int  # of that image
    footprint: Footprint


class ObjectLocator:
    """Measures every tracked object in 3D on each image and says why hidden ones are hidden.

    A hidden object's reason is read where it should be now: its last mask (footprint) moved by
    the motion predicted from its last position and velocity (metres per second, from the images'
    stamps, so dropped images do not bend it). Something nearer than the predicted depth by more
    than `occlusion_margin` under most of that footprint: OCCLUDED; a predicted position off the
    image (within `out_of_view_border`) or outside the depth range: OUT_OF_VIEW; else LOST. The
    footprint is moved, not scaled with depth. Objects no longer tracked are forgotten. One
    instance per stream; not thread-safe.
    """

    def __init__(self, settings: DepthSettings):
        self.settings = settings
        self._seen: dict[int, _LastSeen] = {}

    def reset(self) -> None:
        self._seen.clear()

    def locate(
        self, masks: dict[int, np.ndarray], visible: dict[int, bool], depth: np.ndarray | None,
        camera: PinholeCamera | None, stamp_ns: int,
    ) -> dict[int, ObjectDepth]:  # fmt: skip
        """Each object of `masks` ((H, W) bool, empty when hidden) in 3D on the image stamped
        `stamp_ns`; `depth` (H, W) metres (NaN = no reading) and `camera` None when this image has
        no usable depth."""
        self._seen = {object_id: seen for object_id, seen in self._seen.items() if object_id in masks}
        return {
            object_id: self._locate_one(object_id, mask, visible[object_id], depth, camera, stamp_ns)
            for object_id, mask in masks.items()
        }

    def _locate_one(
        self, object_id: int, mask: np.ndarray, visible: bool, depth: np.ndarray | None, camera: PinholeCamera | None,
        stamp_ns: int,
    ) -> ObjectDepth:  # fmt: skip
        if depth is None or camera is None:
            reason = VisibilityReason.VISIBLE if visible else VisibilityReason.NO_DEPTH
            return ObjectDepth(object_id, reason)
        if not visible:
            return ObjectDepth(object_id, self._hidden_reason(object_id, depth, camera, stamp_ns))
        found = measure(mask, depth, camera, self.settings)
        if found is None:
            return ObjectDepth(object_id, VisibilityReason.VISIBLE)
        self._remember(object_id, found, stamp_ns)
        points = decimate(found.points, self.settings.cloud_max_points)
        return ObjectDepth(
            object_id, VisibilityReason.VISIBLE, found.depth_points, found.position, found.extent_min,
            found.extent_max, points,
        )  # fmt: skip

    def _remember(self, object_id: int, found: _Measurement, stamp_ns: int) -> None:
        previous = self._seen.get(object_id)
        velocity = np.zeros(3, np.float32)
        if previous is not None and stamp_ns > previous.stamp_ns:
            velocity = (found.position - previous.position) / np.float32((stamp_ns - previous.stamp_ns) / 1e9)
        self._seen[object_id] = _LastSeen(found.position, velocity, stamp_ns, found.footprint)

    def _hidden_reason(
        self, object_id: int, depth: np.ndarray, camera: PinholeCamera, stamp_ns: int
    ) -> VisibilityReason:
        """OCCLUDED, OUT_OF_VIEW or LOST for a hidden object (NO_DEPTH when it was never measured)."""
        seen = self._seen.get(object_id)
        if seen is None or seen.footprint.image_shape != depth.shape:  # never measured, or on another size
            return VisibilityReason.NO_DEPTH
        settings = self.settings
        predicted = seen.position + seen.velocity * max(stamp_ns - seen.stamp_ns, 0) / 1e9  # (3,)
        if not settings.depth_min <= predicted[2] <= settings.depth_max:
            return VisibilityReason.OUT_OF_VIEW
        (u, v), (last_u, last_v) = camera.project(np.stack([predicted, seen.position]))
        there = seen.footprint.depths_when_moved(depth, round(v - last_v), round(u - last_u))
        if there.size and float(np.median(there)) < predicted[2] - settings.occlusion_margin:
            return VisibilityReason.OCCLUDED
        border_u, border_v = settings.out_of_view_border * camera.width, settings.out_of_view_border * camera.height
        inside = border_u <= u <= camera.width - 1 - border_u and border_v <= v <= camera.height - 1 - border_v
        return VisibilityReason.LOST if inside else VisibilityReason.OUT_OF_VIEW


def decimate(points: np.ndarray, max_points: int) -> np.ndarray:
    """At most `max_points` of (N, 3) `points`, evenly strided."""
    if len(points) <= max_points:
        return points
    return points[:: -(-len(points) // max_points)]
