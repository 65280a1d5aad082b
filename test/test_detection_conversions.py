"""Detections in ROS messages to sam2core Detections, without a graph: our DetectionArray, and any
object laid out as vision_msgs/Detection2DArray (stand-ins here, as vision_msgs is not installed)."""

import math
from types import SimpleNamespace

import pytest
from std_msgs.msg import Header

from sam2_ros.conversions import detection_array, detections_from_msg, detections_from_vision_msgs
from sam2_ros.msg import Detection as DetectionMsg
from sam2_ros.msg import DetectionArray
from sam2core.tracking import Detection


def test_detection_array_boxes_are_centre_and_size():
    msg = DetectionArray(header=Header(frame_id="camera"), detections=[
        DetectionMsg(center_x=20.0, center_y=30.0, size_x=10.0, size_y=4.0, class_id="cup", score=0.75),
        DetectionMsg(center_x=3.0, center_y=1.0, size_x=-2.0, size_y=1.0, class_id="", score=math.nan),
    ])  # fmt: skip
    first, second = detections_from_msg(msg)
    assert first == Detection((15.0, 28.0, 25.0, 32.0), "cup", 0.75)
    assert second.box == (4.0, 0.5, 2.0, 1.5) and math.isnan(second.score)  # passed on, for the tracker to reject
    assert detections_from_msg(detection_array(msg.header, [first])) == [first]
    assert detections_from_msg(DetectionArray()) == []


def vision_detection(cx, cy, sx, sy, hypotheses):
    """A stand-in of vision_msgs/Detection2D: bbox.center.position, bbox.size_x/y, results[].hypothesis."""
    bbox = SimpleNamespace(
        center=SimpleNamespace(position=SimpleNamespace(x=cx, y=cy), theta=0.0), size_x=sx, size_y=sy
    )
    results = [SimpleNamespace(hypothesis=SimpleNamespace(class_id=c, score=s)) for c, s in hypotheses]
    return SimpleNamespace(bbox=bbox, results=results, id="")


def test_vision_msgs_layout_keeps_each_detections_best_hypothesis():
    msg = SimpleNamespace(header=Header(), detections=[
        vision_detection(50.0, 40.0, 20.0, 10.0, [("dog", 0.3), ("cat", 0.9), ("cow", 0.1)]),
        vision_detection(5.0, 5.0, 2.0, 2.0, []),
    ])  # fmt: skip
    assert detections_from_vision_msgs(msg) == [
        Detection((40.0, 35.0, 60.0, 45.0), "cat", 0.9),
        Detection((4.0, 4.0, 6.0, 6.0), "", 1.0),
    ]


@pytest.mark.parametrize("convert", [detections_from_msg, detections_from_vision_msgs])
def test_an_empty_array_is_no_detection(convert):
    assert convert(SimpleNamespace(header=Header(), detections=[])) == []
