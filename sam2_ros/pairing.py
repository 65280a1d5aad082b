"""Streams matched to camera images by stamp: depth images (sam2_ros.depth.DepthStage) and a
detector's boxes (the node's detections), both through one mechanism, a Pairing.

Each Pairing buffers its messages by stamp (StampMatcher, our own policy since message_filters
cannot be installed here: a second message with the same stamp replaces the first, newest wins;
when the buffer is full the oldest stamp goes). An image waits in the worker's mailbox
(sam2_ros.worker) until every pairing it needs has its message, or until that pairing's
`max_wait` after the image's receipt; then each pairing attaches what it has to the Frame. So a
message that arrives after its image still matches, arrival order does not matter, and nothing
waits later on the tracking thread. An image without its message goes on without it, counted
as unmatched.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from sam2_ros.conversions import stamp_to_ns
from sam2_ros.session import Frame


class StampMatcher:
    """Messages by stamp, each matched to the image nearest in stamp within `max_offset_ns`.
    Thread-safe: messages are added on the executor, matched on the tracking thread."""

    def __init__(self, max_offset_ns: int, capacity: int = 8):
        self.max_offset_ns, self.capacity = max_offset_ns, capacity
        self._lock = threading.Lock()
        self._buffer: dict[int, object] = {}
        self.matched = self.unmatched = 0

    def add(self, stamp_ns: int, message: object) -> None:
        with self._lock:
            self._buffer[stamp_ns] = message
            while len(self._buffer) > self.capacity:
                del self._buffer[min(self._buffer)]

    def has_match(self, stamp_ns: int) -> bool:
        """Whether a message within max_offset of `stamp_ns` is buffered (nothing counted)."""
        with self._lock:
            return self._nearest(stamp_ns) is not None

    def match(self, stamp_ns: int, *, consume: bool = False) -> object | None:
        """The buffered message nearest to `stamp_ns` within max_offset, or None (counted).
        `consume`: the message is removed, so that no other image matches it."""
        with self._lock:
            nearest = self._nearest(stamp_ns)
            if nearest is None:
                self.unmatched += 1
                return None
            self.matched += 1
            return self._buffer.pop(nearest) if consume else self._buffer[nearest]

    def _nearest(self, stamp_ns: int) -> int | None:
        nearest = min(self._buffer, key=lambda stamp: abs(stamp - stamp_ns), default=None)
        return nearest if nearest is not None and abs(nearest - stamp_ns) <= self.max_offset_ns else None


class Pairing:
    """One stream matched to each image by stamp as the image leaves the mailbox (the module
    docstring): its messages buffered in a StampMatcher, attached to the Frame's `field`.

    max_wait: seconds an image waits in the mailbox for its message. needed_untracked: whether an
    image waits for it while no object is tracked or prompted. consume: a matched message is
    removed, so that no other image takes it (detections: each array is used once; depth: a
    depth image may serve two colour images)."""

    def __init__(
        self,
        field: str,
        max_offset_ns: int,
        buffer_size: int,
        *,
        max_wait: float,
        needed_untracked: bool,
        consume: bool,
    ):
        if field not in {each.name for each in dataclasses.fields(Frame)}:
            raise ValueError(f"Frame has no field {field!r}")
        self.field, self.matcher = field, StampMatcher(max_offset_ns, buffer_size)
        self.max_wait, self.needed_untracked, self.consume = max_wait, needed_untracked, consume

    def add(self, stamp_ns: int, message: object) -> None:
        self.matcher.add(stamp_ns, message)

    def has_companion(self, image: Any) -> bool:
        """Whether the message of the image message `image` has arrived (nothing counted)."""
        return self.matcher.has_match(stamp_to_ns(image.header.stamp))

    def attach(self, frame: Frame) -> Frame:
        """`frame` with its message matched by its stamp, or with None (counted either way)."""
        message = self.matcher.match(frame.stamp_ns, consume=self.consume)
        return dataclasses.replace(frame, **{self.field: message})
