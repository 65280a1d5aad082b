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
    pixels: np.ndarray  # (M,) flat indices of the valid pixels the median was taken over
    image_size: int  # H * W


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
    pixels = v * depth.shape[1] + u
    return _Measurement(position, points.min(axis=0), points.max(axis=0), points, int(v.size), pixels, depth.size)


@dataclass
class _LastSeen:
    """What is remembered of an object from the last image it was measured on."""

    position: np.ndarray  # (3,)
    velocity: np.ndarray  # (3,) metres per image
    pixels: np.ndarray  # flat indices where its depth was read
    image_size: int  # H * W of the image they index
    images_since: int = 0


class ObjectLocator:
    """Measures every tracked object in 3D on each image and says why hidden ones are hidden.

    Remembers each object's last measured position, velocity (per image) and pixels; objects no
    longer tracked are forgotten. One instance per stream; not thread-safe.
    """

    def __init__(self, settings: DepthSettings):
        self.settings = settings
        self._seen: dict[int, _LastSeen] = {}

    def reset(self) -> None:
        self._seen.clear()

    def locate(
        self, masks: dict[int, np.ndarray], visible: dict[int, bool], depth: np.ndarray | None,
        camera: PinholeCamera | None,
    ) -> dict[int, ObjectDepth]:  # fmt: skip
        """Each object of `masks` ((H, W) bool, empty when hidden) in 3D; `depth` (H, W) metres
        (NaN = no reading) and `camera` None when this image has no usable depth."""
        self._seen = {object_id: seen for object_id, seen in self._seen.items() if object_id in masks}
        for seen in self._seen.values():
            seen.images_since += 1
        return {
            object_id: self._locate_one(object_id, mask, visible[object_id], depth, camera)
            for object_id, mask in masks.items()
        }

    def _locate_one(
        self, object_id: int, mask: np.ndarray, visible: bool, depth: np.ndarray | None, camera: PinholeCamera | None
    ) -> ObjectDepth:
        if depth is None or camera is None:
            reason = VisibilityReason.VISIBLE if visible else VisibilityReason.NO_DEPTH
            return ObjectDepth(object_id, reason)
        if not visible:
            return ObjectDepth(object_id, self._hidden_reason(object_id, depth, camera))
        found = measure(mask, depth, camera, self.settings)
        if found is None:
            return ObjectDepth(object_id, VisibilityReason.VISIBLE)
        self._remember(object_id, found)
        points = decimate(found.points, self.settings.cloud_max_points)
        return ObjectDepth(
            object_id, VisibilityReason.VISIBLE, found.depth_points, found.position, found.extent_min,
            found.extent_max, points,
        )  # fmt: skip

    def _remember(self, object_id: int, found: _Measurement) -> None:
        previous = self._seen.get(object_id)
        velocity = np.zeros(3, np.float32)
        if previous is not None:
            velocity = (found.position - previous.position) / max(previous.images_since, 1)
        self._seen[object_id] = _LastSeen(found.position, velocity, found.pixels, found.image_size)

    def _hidden_reason(self, object_id: int, depth: np.ndarray, camera: PinholeCamera) -> VisibilityReason:
        """OCCLUDED, OUT_OF_VIEW or LOST for a hidden object (NO_DEPTH when it was never measured)."""
        seen = self._seen.get(object_id)
        if seen is None or seen.image_size != depth.size:  # never measured, or on images of another size
            return VisibilityReason.NO_DEPTH
        settings = self.settings
        there = depth.reshape(-1)[seen.pixels]
        there = there[np.isfinite(there)]
        if there.size and float(np.median(there)) < seen.position[2] - settings.occlusion_margin:
            return VisibilityReason.OCCLUDED
        predicted = seen.position + seen.velocity * seen.images_since
        if not settings.depth_min <= predicted[2] <= settings.depth_max:
            return VisibilityReason.OUT_OF_VIEW
        u, v = camera.project(predicted)
        border_u, border_v = settings.out_of_view_border * camera.width, settings.out_of_view_border * camera.height
        inside = border_u <= u <= camera.width - 1 - border_u and border_v <= v <= camera.height - 1 - border_v
        return VisibilityReason.LOST if inside else VisibilityReason.OUT_OF_VIEW


def decimate(points: np.ndarray, max_points: int) -> np.ndarray:
    """At most `max_points` of (N, 3) `points`, evenly strided."""
    if len(points) <= max_points:
        return points
    return points[:: -(-len(points) // max_points)]
