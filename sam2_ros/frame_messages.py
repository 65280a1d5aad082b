"""Everything published for one tracked image, built in one place: the node publishes these
messages and the bag runner writes them, so both honour the same choices (mask encoding and
mode, overlay, labels) and carry the same 3D fields.

No graph: a FrameOutcome (with its matched depth, if any) in, a FrameMessages out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from geometry_msgs.msg import TransformStamped
from sensor_msgs.msg import Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from sam2_ros.conversions import ConversionError, labels_image, overlay_image, tracked_object_array
from sam2_ros.depth import DepthStage
from sam2_ros.depth_messages import MarkerBook, fill_tracked_object, object_transforms, point_cloud
from sam2_ros.msg import TrackedObjectArray
from sam2_ros.session import FrameOutcome


@dataclass(frozen=True)
class OutputChoice:
    """Which messages a frame gets and how its masks are written (node parameters, bag runner flags)."""

    mask_encoding: str = "mono8"
    mask_mode: str = "full"
    overlay: bool = False
    labels: bool = False
    tf_prefix: str | None = None  # with depth: an object frame named <tf_prefix><id> per measured object


@dataclass(frozen=True)
class FrameMessages:
    """One image's messages; None (or empty) for the outputs not chosen."""

    tracked: TrackedObjectArray
    overlay: Image | None = None
    labels: Image | None = None
    cloud: PointCloud2 | None = None  # with depth
    markers: MarkerArray | None = None  # with depth
    transforms: list[TransformStamped] = field(default_factory=list)  # with depth and a tf_prefix
    problems: list[str] = field(default_factory=list)  # outputs left out, and why


class FrameMessageWriter:
    """Turns each tracked image into its messages; with a DepthStage, also its objects in 3D.
    Keeps the markers shown so far (MarkerBook), so one writer serves one stream, from one thread."""

    def __init__(self, depth: DepthStage | None = None):
        self.depth = depth
        self._markers = MarkerBook()

    def messages(self, outcome: FrameOutcome, choice: OutputChoice) -> FrameMessages:
        frame, results = outcome.frame, list(outcome.objects.values())
        header, image_size = frame.header, frame.image.shape[:2]
        tracked = tracked_object_array(
            header, outcome.frame_index, results, image_size, choice.mask_encoding, choice.mask_mode
        )
        problems: list[str] = []
        labels = None
        if choice.labels:
            try:
                labels = labels_image(results, image_size, header)
            except ConversionError as error:  # an id too large for mono16: the other outputs go out
                problems.append(f"labels not published: {error}")
        overlay = overlay_image(frame.image, results, header) if choice.overlay else None
        if self.depth is None:
            return FrameMessages(tracked, overlay, labels, problems=problems)
        located = self.depth.locate(frame.depth, results, frame.stamp_ns)
        for msg, each in zip(tracked.objects, located):
            fill_tracked_object(msg, each)
        transforms = object_transforms(header, located, choice.tf_prefix) if choice.tf_prefix is not None else []
        return FrameMessages(
            tracked, overlay, labels, point_cloud(header, located), self._markers.for_frame(header, located),
            transforms, problems,
        )  # fmt: skip
