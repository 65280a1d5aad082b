"""Depth in, objects in 3D out: the pure functions behind the node's `use_depth` outputs.

No node logic and no graph: the node (and the bag runner) hand in depth images, CameraInfo and
tracker results, and get back 3D positions, visibility reasons and the messages to publish.

Stamp matching (DepthMatcher), our own policy since message_filters cannot be installed here:
depth images wait in a small buffer keyed by their stamp (a second image with the same stamp
replaces the first: newest wins; when the buffer is full the oldest stamp goes). A colour image
takes the depth image with the nearest stamp within `max_offset`, looked up when the image is
tracked; in the node an image with objects waits up to `max_offset` for one still on its way. So
depth that arrives after its colour image still matches, and arrival order does not matter. A
colour image without one is tracked without depth and counted as unmatched. Depth messages are kept serialised (the node subscribes raw): only the stamp is read
on arrival (serialized_stamp_ns), and only a matched one is deserialised, so a 30 FPS depth stream
costs the node's executor little more than copying bytes.
"""

from __future__ import annotations

import array
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from geometry_msgs.msg import Point, TransformStamped, Vector3
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from sam2_ros.msg import TrackedObject
from sam2core.geometry import PinholeCamera
from sam2core.tracking import ObjectResult
from sam2core.visualization import object_colour

DEPTH_ENCODINGS = {"16UC1": np.uint16, "mono16": np.uint16, "32FC1": np.float32}  # 16-bit: millimetres
CLOUD_FIELDS = (("x", PointField.FLOAT32), ("y", PointField.FLOAT32), ("z", PointField.FLOAT32),
                ("object_id", PointField.UINT32))  # fmt: skip
CLOUD_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("object_id", "<u4")])
MIN_MARKER_SIZE = 0.01  # metres: a box no thinner than this, so RViz draws it


class DepthError(ValueError):
    """A depth image or CameraInfo that cannot be used: the text says why."""


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


# ----------------------------------------------------------------------------- inputs


def depth_to_metres(msg: Image) -> np.ndarray:
    """(H, W) float32 metres of a 16UC1 / mono16 (millimetres) or 32FC1 (metres) image; NaN where
    the camera has no reading (0, NaN, infinity). Padded rows and big-endian data are honoured."""
    dtype = DEPTH_ENCODINGS.get(msg.encoding)
    if dtype is None:
        raise DepthError(f"unsupported depth encoding {msg.encoding!r}; supported: {', '.join(DEPTH_ENCODINGS)}")
    dtype = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = msg.width * dtype.itemsize
    if msg.width == 0 or msg.height == 0 or msg.step < row_bytes or len(msg.data) < msg.step * msg.height:
        raise DepthError(
            f"depth image {msg.width}x{msg.height} {msg.encoding} with step {msg.step} and {len(msg.data)} bytes "
            "is malformed"
        )
    rows = np.frombuffer(msg.data, np.uint8, count=msg.step * msg.height).reshape(msg.height, msg.step)
    raw = np.ascontiguousarray(rows[:, :row_bytes]).view(dtype)
    if dtype.kind == "u":
        metres = raw * np.float32(0.001)
        metres[raw == 0] = np.nan
    else:
        metres = raw.astype(np.float32)
        metres[~(metres > 0) | (metres == np.inf)] = np.nan
    return metres


def serialized_stamp_ns(raw: bytes) -> int:
    """header.stamp in nanoseconds of a CDR-serialised message that begins with a std_msgs/Header
    (sensor_msgs/Image), read without deserialising it: after the 4-byte encapsulation header
    (its second byte odd: little-endian) come stamp.sec (int32) and stamp.nanosec (uint32)."""
    if len(raw) < 12:
        raise DepthError(f"a serialised message of {len(raw)} bytes has no header")
    seconds, nanoseconds = struct.unpack_from("<iI" if raw[1] & 1 else ">iI", raw, 4)
    return seconds * 1_000_000_000 + nanoseconds


def fit_depth(depth: np.ndarray, height: int, width: int) -> tuple[np.ndarray, bool]:
    """`depth` at the colour image's size: as it is, or resized nearest-neighbour (True)."""
    if depth.shape == (height, width):
        return depth, False
    return cv2.resize(depth, (width, height), interpolation=cv2.INTER_NEAREST), True


def camera_from_info(msg: CameraInfo, height: int, width: int) -> PinholeCamera:
    """The pinhole camera of a CameraInfo (its K), scaled to a colour image of `width` x `height`."""
    fx, _, cx, _, fy, cy = msg.k[:6]
    if msg.width == 0 or msg.height == 0:
        raise DepthError("camera_info has no image size (width or height 0)")
    try:
        camera = PinholeCamera(float(fx), float(fy), float(cx), float(cy), int(msg.width), int(msg.height))
    except ValueError as error:
        raise DepthError(f"camera_info is unusable: {error}") from None
    return camera if (camera.width, camera.height) == (width, height) else camera.resized(width, height)


class DepthMatcher:
    """Depth messages by stamp, matched to colour images (policy in the module docstring). Thread-safe."""

    def __init__(self, max_offset_ns: int, capacity: int = 8):
        self.max_offset_ns, self.capacity = max_offset_ns, capacity
        self._arrived = threading.Condition()
        self._buffer: dict[int, object] = {}
        self.matched = self.unmatched = 0

    def add(self, stamp_ns: int, message: object) -> None:
        with self._arrived:
            self._buffer[stamp_ns] = message
            while len(self._buffer) > self.capacity:
                del self._buffer[min(self._buffer)]
            self._arrived.notify_all()

    def match(self, stamp_ns: int, wait: float = 0.0) -> object | None:
        """The buffered message nearest to `stamp_ns` within max_offset, or None (counted); waits
        up to `wait` seconds for one to arrive (a depth image still on its way)."""
        with self._arrived:
            self._arrived.wait_for(lambda: self._nearest(stamp_ns) is not None, timeout=wait)
            nearest = self._nearest(stamp_ns)
            if nearest is None:
                self.unmatched += 1
                return None
            self.matched += 1
            return self._buffer[nearest]

    def _nearest(self, stamp_ns: int) -> int | None:
        nearest = min(self._buffer, key=lambda stamp: abs(stamp - stamp_ns), default=None)
        return nearest if nearest is not None and abs(nearest - stamp_ns) <= self.max_offset_ns else None


def depth_image(depth: np.ndarray, header: Header) -> Image:
    """A sensor_msgs/Image of an (H, W) depth array: uint16 millimetres as 16UC1, float32 metres as 32FC1."""
    encodings = {np.dtype(np.uint16): "16UC1", np.dtype(np.float32): "32FC1"}
    if depth.ndim != 2 or depth.dtype not in encodings:
        raise DepthError(f"expected an (H, W) uint16 or float32 depth array, got {depth.shape} {depth.dtype}")
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


# ----------------------------------------------------------------------------- objects in 3D


@dataclass(frozen=True)
class ObjectDepth:
    """One object on one image in 3D; position and extent are None when it was not measured."""

    object_id: int
    reason: int  # a TrackedObject.REASON_* constant
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
            reason = TrackedObject.REASON_VISIBLE if visible else TrackedObject.REASON_NO_DEPTH
            return ObjectDepth(object_id, reason)
        if not visible:
            return ObjectDepth(object_id, self._hidden_reason(object_id, depth, camera))
        found = measure(mask, depth, camera, self.settings)
        if found is None:
            return ObjectDepth(object_id, TrackedObject.REASON_VISIBLE)
        self._remember(object_id, found)
        points = decimate(found.points, self.settings.cloud_max_points)
        return ObjectDepth(
            object_id, TrackedObject.REASON_VISIBLE, found.depth_points, found.position, found.extent_min,
            found.extent_max, points,
        )  # fmt: skip

    def _remember(self, object_id: int, found: _Measurement) -> None:
        previous = self._seen.get(object_id)
        velocity = np.zeros(3, np.float32)
        if previous is not None:
            velocity = (found.position - previous.position) / max(previous.images_since, 1)
        self._seen[object_id] = _LastSeen(found.position, velocity, found.pixels, found.image_size)

    def _hidden_reason(self, object_id: int, depth: np.ndarray, camera: PinholeCamera) -> int:
        """OCCLUDED, OUT_OF_VIEW or LOST for a hidden object (NO_DEPTH when it was never measured)."""
        seen = self._seen.get(object_id)
        if seen is None or seen.image_size != depth.size:  # never measured, or on images of another size
            return TrackedObject.REASON_NO_DEPTH
        settings = self.settings
        there = depth.reshape(-1)[seen.pixels]
        there = there[np.isfinite(there)]
        if there.size and float(np.median(there)) < seen.position[2] - settings.occlusion_margin:
            return TrackedObject.REASON_OCCLUDED
        predicted = seen.position + seen.velocity * seen.images_since
        if not settings.depth_min <= predicted[2] <= settings.depth_max:
            return TrackedObject.REASON_OUT_OF_VIEW
        u, v = camera.project(predicted)
        border_u, border_v = settings.out_of_view_border * camera.width, settings.out_of_view_border * camera.height
        inside = border_u <= u <= camera.width - 1 - border_u and border_v <= v <= camera.height - 1 - border_v
        return TrackedObject.REASON_LOST if inside else TrackedObject.REASON_OUT_OF_VIEW


def decimate(points: np.ndarray, max_points: int) -> np.ndarray:
    """At most `max_points` of (N, 3) `points`, evenly strided."""
    if len(points) <= max_points:
        return points
    return points[:: -(-len(points) // max_points)]


class DepthStage:
    """Depth and CameraInfo in, each tracked image's objects in 3D out: what the node and the bag
    runner run with use_depth. `add_depth` and `set_camera_info` may be called from any thread,
    `locate` from one thread (the one tracking)."""

    def __init__(
        self, settings: DepthSettings, *, max_offset_ns: int, buffer_size: int, warn: Callable[[str], None],
        wait_for_depth: bool = True,
    ):  # fmt: skip
        """wait_for_depth: an image with objects waits up to max_offset for its depth (live streams;
        off where every depth image that will come is already in, as in a bag)."""
        self.wait_for_depth = wait_for_depth
        self.matcher = DepthMatcher(max_offset_ns, buffer_size)
        self.locator = ObjectLocator(settings)
        self.markers = MarkerBook()
        self.rejected = 0  # depth images or camera_info that could not be used
        self._camera_info: CameraInfo | None = None
        self._warn = warn

    def add_depth(self, raw: bytes) -> None:
        """A serialised sensor_msgs/Image (a raw subscription's or a bag's bytes); one too short
        to hold a stamp is counted as rejected."""
        try:
            self.matcher.add(serialized_stamp_ns(raw), raw)
        except DepthError as error:
            self.rejected += 1
            self._warn(f"depth not used: {error}")

    def set_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def locate(self, stamp_ns: int, results: list[ObjectResult]) -> list[ObjectDepth]:
        """Every result's object in 3D on the image stamped `stamp_ns`, ordered by object id;
        without a usable depth image or camera_info the image is located without depth (NO_DEPTH)
        and a warning says why."""
        results = sorted(results, key=lambda result: result.object_id)
        masks = {result.object_id: _visible_mask(result) for result in results}
        wait = self.matcher.max_offset_ns / 1e9 if results and self.wait_for_depth else 0.0
        raw = self.matcher.match(stamp_ns, wait)  # every image counts as matched or not, objects or none
        depth = camera = None
        if results:
            depth, camera = self._usable_depth(raw, *masks[results[0].object_id].shape)
        visible = {result.object_id: result.visible for result in results}
        located = self.locator.locate(masks, visible, depth, camera)
        return [located[result.object_id] for result in results]

    def counts(self) -> dict[str, str]:
        """Depth figures for the node's diagnostics."""
        return {"depth_matched": str(self.matcher.matched), "depth_unmatched": str(self.matcher.unmatched),
                "depth_rejected": str(self.rejected)}  # fmt: skip

    def _usable_depth(
        self, raw: bytes | None, height: int, width: int
    ) -> tuple[np.ndarray | None, PinholeCamera | None]:
        """The matched depth in metres at the image's size and the camera; (None, None) with a warning."""
        if raw is None:
            self._warn(f"no depth image within {self.matcher.max_offset_ns / 1e6:g} ms of the colour image: no 3D")
            return None, None
        info = self._camera_info
        try:
            if info is None:
                raise DepthError("no camera_info received yet")
            camera = camera_from_info(info, height, width)
            message = _deserialized_image(raw)
            depth, resized = fit_depth(depth_to_metres(message), height, width)
        except DepthError as error:
            self.rejected += 1
            self._warn(f"depth not used: {error}")
            return None, None
        if resized:
            self._warn(f"depth image {message.width}x{message.height} resized (nearest) to {width}x{height}")
        return depth, camera


def _deserialized_image(raw: bytes) -> Image:
    try:
        return deserialize_message(raw, Image)
    except Exception as error:  # bytes from the network: whatever rclpy raises for them is bad input
        raise DepthError(f"the depth message cannot be deserialised as sensor_msgs/Image: {error}") from None


def _visible_mask(result: ObjectResult) -> np.ndarray:
    """(H, W) bool: the object's mask, empty when it is not visible (as the node publishes it)."""
    logits = result.mask_logits.detach().cpu().numpy()
    return logits > 0 if result.visible else np.zeros(logits.shape, bool)


# ----------------------------------------------------------------------------- outputs


def fill_tracked_object(msg: TrackedObject, located: ObjectDepth) -> None:
    """Set the 3D fields of `msg` from `located` (left zero when not measured); a LOST_TO_OTHER
    reason set from the tracker's result stays."""
    if msg.visibility_reason != TrackedObject.REASON_LOST_TO_OTHER:
        msg.visibility_reason = located.reason
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

    def markers(self, header: Header, located: list[ObjectDepth]) -> MarkerArray:
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


# ----------------------------------------------------------------------------- scoring against the truth

REASON_NAMES = {
    TrackedObject.REASON_NO_DEPTH: "no_depth",
    TrackedObject.REASON_VISIBLE: "visible",
    TrackedObject.REASON_OCCLUDED: "occluded",
    TrackedObject.REASON_OUT_OF_VIEW: "out_of_view",
    TrackedObject.REASON_LOST: "lost",
    TrackedObject.REASON_LOST_TO_OTHER: "lost_to_other",
}


@dataclass
class DepthScore:
    """3D positions and visibility reasons against the ground truth, object-frame by object-frame.

    Position error counts the object-frames truly visible that were measured: |z - true z| / true z
    (depth error) and |position - true position| / true z. Reason accuracy counts every object-frame
    with a true cause (sam2core.data.depth.visibility_causes).
    """

    depth_errors: list[float] = field(default_factory=list)
    position_errors: list[float] = field(default_factory=list)
    visible_unmeasured: int = 0
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)  # (true, said) -> count

    def add(self, true_position: np.ndarray, true_cause: str, reason: int, position: np.ndarray | None) -> None:
        """One object-frame: its true (3,) position (NaN when hidden) and cause, and what was
        published: a TrackedObject.REASON_* and the (3,) position, None when not measured."""
        said = REASON_NAMES[reason]
        self.confusion[true_cause, said] = self.confusion.get((true_cause, said), 0) + 1
        if true_cause != "visible":
            return
        if position is None:
            self.visible_unmeasured += 1
            return
        true_z = float(true_position[2])
        self.depth_errors.append(abs(float(position[2]) - true_z) / true_z)
        self.position_errors.append(float(np.linalg.norm(position - true_position)) / true_z)

    def summary(self) -> dict[str, object]:
        depth, position = np.array(self.depth_errors), np.array(self.position_errors)
        total = sum(self.confusion.values())
        right = sum(count for (truth, said), count in self.confusion.items() if truth == said)
        return {
            "measured_visible": len(depth),
            "visible_unmeasured": self.visible_unmeasured,
            "depth_error_median_pct": _percent(np.median, depth),
            "depth_error_p95_pct": _percent(lambda e: np.percentile(e, 95), depth),
            "depth_within_2pct": float(np.mean(depth <= 0.02)) if len(depth) else None,
            "position_error_median_pct": _percent(np.median, position),
            "position_within_2pct": float(np.mean(position <= 0.02)) if len(position) else None,
            "reason_accuracy": right / total if total else None,
            "reason_object_frames": total,
            "reason_confusion": {f"{truth}->{said}": count for (truth, said), count in sorted(self.confusion.items())},
        }


def _percent(statistic, errors: np.ndarray) -> float | None:
    return 100.0 * float(statistic(errors)) if len(errors) else None
