"""Tracking with a detector: detections keep tracks on their objects and may start new ones.

`DetectionTracker.track(image, detections, prompts)` runs the StreamingTracker on the image, then
uses the image's detections (checked and clipped by `check_detections`):

1. Matching: visible tracks and detections are paired one to one by the IoU of the track's
   mask box with the detection's box (greedy, best pair first, at least `match_iou`; a track
   whose class is known only pairs with detections of that class).
2. Re-prompting: a matched track whose IoU is below `drift_iou` (drifting) or whose object
   score is below `min_object_score` (poor health), or every matched
   track with `reprompt_every_match`, is prompted with its detection's box on this image
   (StreamingTracker.add_prompt, decoded as `reprompt_mode` says; with `forget_on_reprompt` the
   track first forgets the frames it was tracked on, which followed the wrong thing).
3. Re-acquisition: tracks still unmatched that are lost (not visible), that took a detection's
   place only by proximity and were not confirmed by a match since, that sit on a detection
   another track matched better (a duplicate), or that were left unmatched on
   `reacquire_unmatched_after` images with detections in a row (astray), are paired with the
   remaining detections by the distance of the detection to where the track was last anchored
   (at most `reacquire_distance` of its diagonals), nearest first, and re-prompted.
4. New objects: remaining detections of a class in `new_objects_from` that overlap no track start
   new objects (ids after the highest one ever used), at most `max_new_objects` every
   `new_object_window` images.

A track's class is that of its first matched detection (or of the detection that started it); it
travels in ObjectResult.class_id. Bad detections are counted (DetectionStats) and change nothing.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from sam2core.modeling.sam2 import SAM2Model
from sam2core.tracking.detections import Detection, DetectionStats, box_iou, check_detections, match_greedy
from sam2core.tracking.prompt import Prompt
from sam2core.tracking.results import FrameResult, ObjectResult
from sam2core.tracking.tracker import StreamingTracker, TrackerOptions

REPROMPT_MODES = ("correction", "memory", "box")


@dataclass(frozen=True)
class DetectionOptions:
    """How detections steer the tracks. Every field is a keyword of DetectionTracker's options."""

    # Least IoU of a track's mask box with a detection's box to pair them.
    match_iou: float = 0.3
    # A paired track whose mask box has less IoU than this with its detection is re-prompted.
    drift_iou: float = 0.2
    # A paired track whose object score (logit) is below this is in poor health: re-prompted too
    # (0: never, as a visible track scores above 0).
    min_object_score: float = 0.0
    # Re-prompt every paired track with its detection's box, drifting or not.
    reprompt_every_match: bool = False
    # How a re-prompt decodes the box: "correction" (on the track's memory, from its mask on the
    # image, as SAM 2 corrects), "memory" (on its memory, not from its mask) or "box" (the box alone).
    reprompt_mode: str = "correction"
    # Before a re-prompt, forget what the track remembers of the frames it was tracked on since its
    # prompts: it followed the wrong thing there.
    forget_on_reprompt: bool = True
    # Re-acquire lost, unconfirmed and duplicate tracks with the nearest remaining detection.
    reacquire_lost: bool = True
    # A detection farther than this many diagonals of a track's last box (centre to centre) does
    # not re-acquire it (0: any distance).
    reacquire_distance: float = 2.0
    # Also re-acquire a visible track left unmatched on this many images with detections in a
    # row (0: never).
    reacquire_unmatched_after: int = 1
    # Classes whose unmatched detections start new objects (empty: none do).
    new_objects_from: tuple[str, ...] = ()
    # At most this many new objects in any `new_object_window` consecutive images.
    max_new_objects: int = 1
    new_object_window: int = 8
    # Classes accepted (empty: any); a detection of another class is rejected as unknown.
    known_classes: tuple[str, ...] = ()
    # Detections scoring below this are rejected.
    min_score: float = 0.0
    # Most detections used per image; beyond it the lowest-scoring are rejected.
    max_detections: int = 100

    def __post_init__(self) -> None:
        for name in ("match_iou", "drift_iou"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.match_iou <= 0.0:
            raise ValueError(f"match_iou must be above 0, got {self.match_iou}")
        for name in ("max_new_objects", "max_detections"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
        if self.reacquire_distance < 0 or self.reacquire_unmatched_after < 0:
            raise ValueError("reacquire_distance and reacquire_unmatched_after must be at least 0")
        if self.reprompt_mode not in REPROMPT_MODES:
            raise ValueError(f"reprompt_mode must be one of {REPROMPT_MODES}, got {self.reprompt_mode!r}")
        if self.new_object_window < 1:
            raise ValueError(f"new_object_window must be at least 1, got {self.new_object_window}")
        for name in ("new_objects_from", "known_classes"):
            if isinstance(getattr(self, name), str):
                raise ValueError(f"{name} is a tuple of class ids, got the string {getattr(self, name)!r}")


@dataclass
class _TrackState:
    """What the detections have taught about one object."""

    class_id: str = ""
    anchor: tuple[float, float, float, float] | None = None  # box of its last prompt or match
    confirmed: bool = True  # False after a re-acquisition by proximity, until a match by IoU
    unmatched: int = 0  # images with detections in a row on which it was left unmatched


class DetectionTracker:
    """A StreamingTracker steered by a detector's boxes (see the module's docstring)."""

    def __init__(self, tracker: StreamingTracker, options: DetectionOptions | None = None):
        self.tracker = tracker
        self.options = options or DetectionOptions()
        self.stats = DetectionStats()  # summed over every image since construction
        self.last_stats = DetectionStats()  # of the newest image
        self._states: dict[int, _TrackState] = {}
        self._new_object_frames: deque[int] = deque()  # frame indices of recent new objects
        self._next_new_id = 0

    @classmethod
    def from_model(
        cls,
        model: SAM2Model,
        options: DetectionOptions | None = None,
        tracker_options: TrackerOptions = TrackerOptions(),
    ) -> DetectionTracker:
        """A DetectionTracker around a new StreamingTracker(model, tracker_options)."""
        return cls(StreamingTracker(model, tracker_options), options)

    @property
    def object_ids(self) -> list[int]:
        return self.tracker.object_ids

    def class_of(self, object_id: int) -> str:
        """The class of `object_id` ("" while no detection has given it one)."""
        state = self._states.get(object_id)
        return state.class_id if state is not None else ""

    def reset(self) -> None:
        """Forget every object and frame (StreamingTracker.reset) and what detections taught."""
        self.tracker.reset()
        self._states.clear()
        self._new_object_frames.clear()

    def remove_object(self, object_id: int) -> None:
        self.tracker.remove_object(object_id)
        self._states.pop(object_id, None)

    def track(
        self,
        image: np.ndarray | torch.Tensor,
        detections: Iterable[Detection] | None = None,
        prompts: dict[int, Prompt] | None = None,
    ) -> FrameResult:
        """Track every object on a new image, with that image's detections and prompts.

        image: (H, W, 3) uint8 RGB. detections: Detection boxes in the image's pixels, or None
        (an image the detector did not run on). prompts: object id -> Prompt, as for
        StreamingTracker.track (a bad prompt raises PromptError and nothing changes). Returns
        every object's result on the image, each with its class_id.
        """
        image_size = (int(image.shape[0]), int(image.shape[1]))
        options = self.options
        checked = check_detections(
            detections or (),
            image_size,
            known_classes=options.known_classes,
            min_score=options.min_score,
            max_detections=options.max_detections,
        )
        result = self.tracker.track(image, prompts)
        stats = checked.stats
        objects = dict(result.objects)
        for object_id in prompts or {}:
            state = self._states.setdefault(object_id, _TrackState())
            state.anchor, state.confirmed = _box(objects[object_id]), True
        self._forget_removed()
        if checked.detections:
            self._use_detections(result.frame_index, list(checked.detections), objects, set(prompts or {}), stats)
        self.stats.add(stats)
        self.last_stats = stats
        classed = {obj: dataclasses.replace(res, class_id=self.class_of(obj)) for obj, res in objects.items()}
        return FrameResult(result.frame_index, classed)

    # ----------------------------------------------------------------- steps

    def _use_detections(
        self,
        frame_index: int,
        detections: list[Detection],
        objects: dict[int, ObjectResult],
        prompted: set[int],
        stats: DetectionStats,
    ) -> None:
        """Match, re-prompt, re-acquire and start objects on the newest frame; `objects` is
        updated with every object prompted here."""
        options = self.options
        detection_boxes = np.array([d.box for d in detections])  # (M, 4)
        visible = [obj for obj, res in objects.items() if res.visible and res.box is not None]
        iou = box_iou(np.array([_box(objects[obj]) for obj in visible]).reshape(-1, 4), detection_boxes)  # (N, M)
        iou *= self._class_agreement(visible, detections)
        pairs = {visible[row]: column for row, column in match_greedy(iou, threshold=options.match_iou)}
        reprompt: dict[int, int] = {}  # object id -> detection index
        for obj, column in pairs.items():
            state = self._states.setdefault(obj, _TrackState())
            state.class_id = state.class_id or detections[column].class_id
            state.confirmed, state.unmatched = True, 0
            drifting = (
                iou[visible.index(obj), column] < options.drift_iou
                or objects[obj].object_score < options.min_object_score
            )
            if obj not in prompted and (drifting or options.reprompt_every_match):
                reprompt[obj] = column
            else:
                state.anchor = detections[column].box
        if options.reacquire_lost:
            reprompt.update(self._reacquire(objects, visible, iou, pairs, detections, prompted))
        stats.matched += len(pairs) + len(reprompt) - sum(obj in pairs for obj in reprompt)
        for obj, column in reprompt.items():
            box = Prompt(box=detections[column].box)
            if self.options.forget_on_reprompt:
                self.tracker.forget_tracked_frames(obj)
            mode = self.options.reprompt_mode
            objects[obj] = self.tracker.add_prompt(
                obj, box, from_memory=mode != "box", from_previous_mask=mode == "correction"
            )
            self._states[obj].anchor = detections[column].box
        stats.reprompted += len(reprompt)
        used = set(pairs.values()) | set(reprompt.values())
        self._start_objects(frame_index, detections, used, objects, stats)

    def _reacquire(
        self,
        objects: dict[int, ObjectResult],
        visible: list[int],
        iou: np.ndarray,
        pairs: dict[int, int],
        detections: list[Detection],
        prompted: set[int],
    ) -> dict[int, int]:
        """Object id -> detection index for the tracks that need their object back (lost,
        unconfirmed or duplicate), nearest remaining detection of a compatible class first."""
        taken = set(pairs.values())
        free = [
            j for j in range(len(detections)) if j not in taken and not self._overlaps_track(j, visible, iou, pairs)
        ]
        wanting = []
        for obj in objects:
            if obj in pairs or obj in prompted:
                continue
            state = self._states.setdefault(obj, _TrackState())
            state.unmatched += 1
            duplicate = obj in visible and iou[visible.index(obj)].max(initial=0.0) >= self.options.match_iou
            stray = 0 < self.options.reacquire_unmatched_after <= state.unmatched
            if obj not in visible or not state.confirmed or duplicate or stray:
                wanting.append(obj)
        if not wanting or not free:
            return {}
        nearness = np.array(
            [[self._nearness(obj, detections[j]) for j in free] for obj in wanting]
        )  # (wanting, free), 0 where the classes differ
        chosen = {}
        distance = self.options.reacquire_distance
        for row, column in match_greedy(nearness, threshold=1.0 / (1.0 + distance) if distance > 0 else 1e-12):
            state, detection = self._states[wanting[row]], detections[free[column]]
            chosen[wanting[row]] = free[column]
            state.confirmed, state.unmatched = False, 0
            state.class_id = state.class_id or detection.class_id
        return chosen

    def _start_objects(
        self,
        frame_index: int,
        detections: list[Detection],
        used: set[int],
        objects: dict[int, ObjectResult],
        stats: DetectionStats,
    ) -> None:
        """Start new objects from unused detections of `new_objects_from` that overlap no track."""
        options = self.options
        while self._new_object_frames and self._new_object_frames[0] <= frame_index - options.new_object_window:
            self._new_object_frames.popleft()
        track_boxes = np.array([_box(res) for res in objects.values() if res.visible and res.box is not None]).reshape(
            -1, 4
        )
        candidates = [
            j for j in range(len(detections))
            if j not in used and detections[j].class_id in options.new_objects_from
        ]  # fmt: skip
        candidates.sort(key=lambda j: -detections[j].score)
        for j in candidates:
            box = np.array([detections[j].box])
            if box_iou(box, track_boxes).max(initial=0.0) >= options.match_iou:
                continue
            room = len(self.tracker.object_ids) < self.tracker.options.max_objects
            if len(self._new_object_frames) >= options.max_new_objects or not room:
                stats.rate_limited += 1
                continue
            object_id = max([self._next_new_id - 1, *self.tracker.object_ids]) + 1
            self._next_new_id = object_id + 1
            objects[object_id] = self.tracker.add_prompt(object_id, Prompt(box=detections[j].box))
            self._states[object_id] = _TrackState(detections[j].class_id, detections[j].box, True)
            self._new_object_frames.append(frame_index)
            track_boxes = np.concatenate([track_boxes, box])
            stats.new_objects += 1

    # ----------------------------------------------------------------- helpers

    def _class_agreement(self, object_ids: list[int], detections: list[Detection]) -> np.ndarray:
        """(N, M) 1 where object i may pair with detection j (its class unknown or equal), else 0."""
        classes = [self.class_of(obj) for obj in object_ids]
        return np.array([[float(not c or c == d.class_id) for d in detections] for c in classes]).reshape(
            len(object_ids), len(detections)
        )

    def _nearness(self, object_id: int, detection: Detection) -> float:
        """In (0, 1], higher for a detection nearer where the object was last anchored (distance
        of the centres over the anchor's diagonal); 0 when their classes differ."""
        state = self._states[object_id]
        if state.class_id and state.class_id != detection.class_id:
            return 0.0
        if state.anchor is None:
            return 0.5
        anchor, box = np.array(state.anchor), np.array(detection.box)
        diagonal = max(float(np.hypot(*(anchor[2:] - anchor[:2]))), 1.0)
        distance = float(np.hypot(*((box[:2] + box[2:]) / 2 - (anchor[:2] + anchor[2:]) / 2)))
        return 1.0 / (1.0 + distance / diagonal)

    def _overlaps_track(self, column: int, visible: list[int], iou: np.ndarray, pairs: dict[int, int]) -> bool:
        """Whether detection `column` overlaps (IoU >= match_iou) a visible track that is matched
        to another detection: such a detection is that track's duplicate, not a lost object."""
        matched_rows = [visible.index(obj) for obj in pairs]
        return bool(matched_rows) and bool((iou[matched_rows, column] >= self.options.match_iou).any())

    def _forget_removed(self) -> None:
        tracked = set(self.tracker.object_ids)
        self._states = {obj: state for obj, state in self._states.items() if obj in tracked}


def _box(result: ObjectResult) -> tuple[float, float, float, float] | None:
    """The mask's box as x0, y0, x1, y1 with exclusive x1, y1 (a detection's convention)."""
    if result.box is None:
        return None
    x0, y0, x1, y1 = result.box
    return (float(x0), float(y0), float(x1 + 1), float(y1 + 1))
