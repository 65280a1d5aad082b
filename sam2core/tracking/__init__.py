"""Streaming tracking: prompts in, per-object masks, pointers and visibility out, frame by frame."""

from sam2core.tracking.exclusivity import TrackHealth
from sam2core.tracking.prompt import Prompt, PromptError
from sam2core.tracking.results import FrameResult, ObjectResult
from sam2core.tracking.tracker import StreamingTracker, TrackerOptions, UnknownObjectError

__all__ = [
    "FrameResult",
    "ObjectResult",
    "Prompt",
    "PromptError",
    "StreamingTracker",
    "TrackHealth",
    "TrackerOptions",
    "UnknownObjectError",
]
