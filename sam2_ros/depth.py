"""Depth intake for the node's `use_depth` outputs: depth images and CameraInfo in, matched to
colour images by stamp, and each tracked image's objects located in 3D (sam2core.locating).

No node logic and no graph: the node (and the bag runner) hand in depth images, CameraInfo and
tracker results; sam2_ros.depth_messages turns what is located into messages.

Depth images are matched to colour images by stamp as an image leaves the node's mailbox
(DepthStage.pairing, a sam2_ros.pairing.Pairing): while objects are tracked an image waits there up to
`max_offset` for its depth image, never later on the tracking thread. Depth messages are kept
serialised (the node subscribes raw): only the stamp is read on arrival (serialized_stamp_ns), and
only a matched one is deserialised, so a 30 FPS depth stream costs the node's executor little more
than copying bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import cv2
import numpy as np
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image

from sam2_ros.pairing import Pairing
from sam2core.geometry import PinholeCamera
from sam2core.locating import DepthSettings, ObjectDepth, ObjectLocator
from sam2core.tracking import ObjectResult

DEPTH_ENCODINGS = {"16UC1": np.uint16, "mono16": np.uint16, "32FC1": np.float32}  # 16-bit: millimetres


class DepthError(ValueError):
    """A depth image or CameraInfo that cannot be used: the text says why."""


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


class DepthStage:
    """Depth and CameraInfo in, each tracked image's objects in 3D out: what the node and the bag
    runner run with use_depth. `add_depth`, `set_camera_info` and the matching (`pairing`, which
    the worker's mailbox runs) may be called from any thread, `locate` from one thread (the one
    tracking). Depth locates objects: with none tracked an image does not wait for it; with objects
    tracked the node's mailbox holds an image up to `max_wait` seconds for its depth (the bag
    runner reads in stamp order and needs no wait)."""

    def __init__(
        self,
        settings: DepthSettings,
        *,
        max_offset_ns: int,
        buffer_size: int,
        warn: Callable[[str], None],
        max_wait: float = 0.0,
    ):
        self.pairing = Pairing(
            "depth", max_offset_ns, buffer_size, max_wait=max_wait, needed_untracked=False, consume=False
        )
        self.locator = ObjectLocator(settings)
        self.rejected = 0  # depth images or camera_info that could not be used
        self._camera_info: CameraInfo | None = None
        self._warn = warn

    def add_depth(self, raw: bytes) -> None:
        """A serialised sensor_msgs/Image (a raw subscription's or a bag's bytes); one too short
        to hold a stamp is counted as rejected."""
        try:
            self.pairing.add(serialized_stamp_ns(raw), raw)
        except DepthError as error:
            self.rejected += 1
            self._warn(f"depth not used: {error}")

    def set_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def locate(self, raw: bytes | None, results: list[ObjectResult], stamp_ns: int) -> list[ObjectDepth]:
        """Every result's object in 3D on the colour image stamped `stamp_ns` with its matched
        serialised depth image `raw`, ordered by object id; without a usable depth image or
        camera_info the image is located without depth (NO_DEPTH) and a warning says why."""
        results = sorted(results, key=lambda result: result.object_id)
        masks = {result.object_id: _visible_mask(result) for result in results}
        depth = camera = None
        if results:
            depth, camera = self._usable_depth(raw, *masks[results[0].object_id].shape)
        visible = {result.object_id: result.visible for result in results}
        located = self.locator.locate(masks, visible, depth, camera, stamp_ns)
        return [located[result.object_id] for result in results]

    def counts(self) -> dict[str, str]:
        """Depth figures for the node's diagnostics."""
        matcher = self.pairing.matcher
        return {"depth_matched": str(matcher.matched), "depth_unmatched": str(matcher.unmatched),
                "depth_rejected": str(self.rejected)}  # fmt: skip

    def _usable_depth(
        self, raw: bytes | None, height: int, width: int
    ) -> tuple[np.ndarray | None, PinholeCamera | None]:
        """The matched depth in metres at the image's size and the camera; (None, None) with a warning."""
        if raw is None:
            offset_ms = self.pairing.matcher.max_offset_ns / 1e6
            self._warn(f"no depth image within {offset_ms:g} ms of the colour image: no 3D")
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
    mask = result.mask.numpy()  # the tracker's host copy
    return mask if result.visible else np.zeros(mask.shape, bool)
