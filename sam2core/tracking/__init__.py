"""Streaming tracking: prompts in, per-object masks, pointers and visibility out, frame by frame.

Its names load their modules on first use: the prompt checks and the result types come without
the tracker and the model."""

from sam2core.lazy_exports import lazy_exports

# Each public name and the module it lives in.
HOMES = {
    "Detection": "sam2core.tracking.detections",
    "DetectionOptions": "sam2core.tracking.reacquire",
    "DetectionStats": "sam2core.tracking.detections",
    "DetectionTracker": "sam2core.tracking.reacquire",
    "FrameResult": "sam2core.tracking.results",
    "ObjectResult": "sam2core.tracking.results",
    "Prompt": "sam2core.tracking.prompt",
    "PromptError": "sam2core.tracking.prompt",
    "StreamingTracker": "sam2core.tracking.tracker",
    "TrackHealth": "sam2core.tracking.exclusivity",
    "TrackerOptions": "sam2core.tracking.tracker",
    "UnknownObjectError": "sam2core.tracking.tracker",
}
__all__ = sorted(HOMES)
__getattr__, __dir__ = lazy_exports(__name__, HOMES)
