"""What depth adds to the node's work per image, measured in one process (so machine load affects
both alike): the tracker and the TrackedObjectArray, against the depth stage (match, deserialise,
convert, measure, fill the message, point cloud, markers), on 640x480 images of a disc moving over
a 3 m wall, the disc 1 m away, one object, on the CPU.

    . scripts/env.sh && python benchmarks/depth_cost.py [--frames 30] [--model sam2.1_hiera_demo]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from sam2_ros.conversions import tracked_object_array
from sam2_ros.depth import DepthStage
from sam2_ros.depth_messages import MarkerBook, camera_info, depth_image, fill_tracked_object, point_cloud
from sam2_ros.loading import LoadSpec, load_tracker
from sam2core.geometry import PinholeCamera
from sam2core.locating import DepthSettings
from sam2core.tracking import Prompt

HEIGHT, WIDTH = 480, 640


def scene(index: int) -> tuple[np.ndarray, bytes]:
    """An rgb8 frame and its serialised 16UC1 depth image stamped `index` seconds."""
    rows, columns = np.mgrid[:HEIGHT, :WIDTH]
    disc = (rows - 240) ** 2 + (columns - (160 + 10 * index)) ** 2 < 60**2
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[..., 2] = (columns * 120 // WIDTH).astype(np.uint8)
    image[disc] = (220, 180, 40)
    header = Header()
    header.stamp.sec = index
    return image, serialize_message(depth_image(np.where(disc, 1000, 3000).astype(np.uint16), header))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--model", default="sam2.1_hiera_demo")
    parser.add_argument("--checkpoint", default="default")
    args = parser.parse_args()
    tracker = load_tracker(LoadSpec(model=args.model, checkpoint=args.checkpoint, device="cpu"))
    stage = DepthStage(DepthSettings(), max_offset_ns=20_000_000, buffer_size=8, warn=print)
    stage.set_camera_info(camera_info(PinholeCamera.from_field_of_view(WIDTH, HEIGHT, 60.0), Header()))
    markers = MarkerBook()
    scenes = [scene(index) for index in range(args.frames)]
    tracker.track(scenes[0][0], {1: Prompt(points=np.array([[160.0, 240.0]]), labels=np.array([1]))})
    tracking = depth = 0.0
    for index, (image, raw_depth) in enumerate(scenes[1:], start=1):
        started = time.perf_counter()
        results = list(tracker.track(image).objects.values())
        array = tracked_object_array(Header(), index, results, (HEIGHT, WIDTH))
        tracked = time.perf_counter()
        stage.add_depth(raw_depth)
        located = stage.locate(stage.pairing.matcher.match(index * 10**9), results, index * 10**9)
        for msg, each in zip(array.objects, located):
            fill_tracked_object(msg, each)
        point_cloud(Header(), located)
        markers.for_frame(Header(), located)
        depth += time.perf_counter() - tracked
        tracking += tracked - started
    count = args.frames - 1
    print(
        f"depth_cost: {args.model}, {WIDTH}x{HEIGHT}, one object, {count} images: tracking + TrackedObjectArray "
        f"{1000 * tracking / count:.1f} ms, depth stage {1000 * depth / count:.1f} ms per image "
        f"({100 * depth / tracking:.1f}% extra); {located[0].depth_points} depth points on the last"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
