"""Streaming tracking: prompts in, per-object masks, pointers and visibility out, frame by frame."""

from sam2core.tracking.detections import Detection, DetectionStats
from sam2core.tracking.prompt import Prompt, PromptError
from sam2core.tracking.reacquire import DetectionOptions, DetectionTracker
from sam2core.tracking.results import FrameResult, ObjectResult
from sam2core.tracking.tracker import StreamingTracker, TrackerOptions, UnknownObjectError

__all__ = [
    "Detection",
    "DetectionOptions",
    "DetectionStats",
    "DetectionTracker",
    "FrameResult",
    "ObjectResult",
    "Prompt",
    "PromptError",
    "StreamingTracker",
    "TrackerOptions",
    "UnknownObjectError",
]
