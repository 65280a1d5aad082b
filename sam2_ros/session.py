"""A StreamingTracker fed with stamped images and stamped prompts.

No ROS and no threads: the node runs a session on its worker thread, the bag runner in its loop.
The session maps image stamps to the frames the tracker holds and decides where a prompt applies:

- A zero stamp means the newest image: the newest held frame (tracker.add_prompt), or the first
  image processed when none is held yet.
- Otherwise the prompt applies to the first image, in stream order, whose stamp is not older than
  the prompt's: the image with exactly that stamp when it was processed; the next processed one
  when that image was dropped (a busy node keeps only the newest image). A held image is prompted
  at once with tracker.add_prompt; a newer one is waited for until the request's deadline, and the
  prompt is then applied with the image in tracker.track.
- A stamp older than every held frame is rejected: the tracker no longer holds that image.

Time that jumps back (a bag played in a loop, a simulator reset): an image stamped more than
JUMP_BACK_TOLERANCE_NS before the newest image processed starts a new stream, as reset does
(every object forgotten, waiting prompts rejected); its FrameOutcome says so.

Image size: the first image fixes the stream's size. While objects are tracked, an image of
another size is rejected (FrameRejected) and the objects keep tracking; with no object tracked
it starts a new stream at the new size.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from sam2core.tracking import (
    Detection,
    DetectionOptions,
    DetectionTracker,
    ObjectResult,
    Prompt,
    PromptError,
    StreamingTracker,
)

JUMP_BACK_TOLERANCE_NS = 100_000_000  # images this much older than the newest are still one stream


class PromptRejected(ValueError):
    """A prompt that names no image the tracker can use; the text says why."""


class FrameRejected(ValueError):
    """An image the session does not track; the text says why."""


@dataclass(frozen=True)
class Frame:
    """One camera image: (H, W, 3) uint8 RGB, its stamp, the transport's header (handed back), and
    what was matched to it by stamp (sam2_ros.pairing): its serialised depth image (None: none
    matched, or no depth used) and the detector's boxes on it (None: the detector did not run on it)."""

    image: np.ndarray
    stamp_ns: int
    header: Any = None
    depth: bytes | None = None
    detections: list[Detection] | None = None


@dataclass(frozen=True)
class PromptRequest:
    """A prompt for `object_id` on the image stamped `stamp_ns` (0 = the newest image).

    deadline: time.monotonic() after which a prompt still waiting for its image is rejected.
    """

    object_id: int
    prompt: Prompt
    stamp_ns: int = 0
    deadline: float = math.inf


@dataclass(frozen=True)
class PromptOutcome:
    """The prompted object on the image the prompt was applied to."""

    frame_index: int
    stamp_ns: int
    header: Any
    result: ObjectResult


@dataclass(frozen=True)
class FrameOutcome:
    """Every tracked object on one processed image."""

    frame: Frame
    frame_index: int
    objects: dict[int, ObjectResult]
    jumped_back_from_ns: int | None = None  # the newest stamp before time jumped back to this image's

    @property
    def jump_warning(self) -> str | None:
        """What to tell the user when time jumped back before this image (None when it did not)."""
        if self.jumped_back_from_ns is None:
            return None
        back = (self.jumped_back_from_ns - self.frame.stamp_ns) / 1e9
        return (
            f"time jumped back {back:.3f} s (image stamped {_seconds(self.frame.stamp_ns)} after "
            f"{_seconds(self.jumped_back_from_ns)}): every object was forgotten and a new stream started"
        )


@dataclass(frozen=True)
class _StampedImage:
    """A frame the tracker holds (see StreamingTracker.held_frames): its ROS stamp and header, and
    its image."""

    stamp_ns: int
    header: Any
    image: np.ndarray  # (H, W, 3) uint8 RGB, for the segment services


@dataclass(frozen=True)
class _Waiting:
    request: PromptRequest
    future: Future


class TrackingSession:
    """Feeds one StreamingTracker (through a DetectionTracker, which uses each frame's detections);
    every method must be called from one thread."""

    def __init__(self, tracker: StreamingTracker, detection_options: DetectionOptions | None = None):
        self.tracker = tracker
        self.detections = DetectionTracker(tracker, detection_options)
        self._held: dict[int, _StampedImage] = {}  # frame index -> its stamp, header and image, in stream order
        self._waiting: list[_Waiting] = []
        self._size: tuple[int, int] | None = None  # (H, W) of the stream's images
        self._newest_stamp_ns: int | None = None  # of the images processed in this stream

    @property
    def object_ids(self) -> list[int]:
        return self.tracker.object_ids

    @property
    def next_deadline(self) -> float:
        """The earliest deadline of a waiting prompt (inf when none waits)."""
        return min((waiting.request.deadline for waiting in self._waiting), default=math.inf)

    def prompt(self, request: PromptRequest, future: Future) -> None:
        """Apply `request` now if its image is held, else keep it waiting for its image.

        `future` gets a PromptOutcome, or PromptError / PromptRejected; a cancelled future is
        dropped without applying its prompt.
        """
        if future.cancelled():
            return
        try:
            target = self._target_frame(request.stamp_ns)
        except PromptRejected as error:
            _reject(future, str(error))
            return
        if target is None:
            self._waiting.append(_Waiting(request, future))
        else:
            _settle(future, lambda: self._add_prompt(request, target))

    def held_frame(self, stamp_ns: int) -> Frame:
        """The held image a request stamped `stamp_ns` names (as for prompts; 0: the newest),
        or PromptRejected when it is not held (yet or any more)."""
        target = self._target_frame(stamp_ns)
        if target is None:
            raise PromptRejected(
                "no image has been processed yet"
                if not self._held
                else f"no image stamped {_seconds(stamp_ns)} or later has been processed yet"
            )
        held = self._held[target]
        return Frame(held.image, held.stamp_ns, held.header)

    def start_objects(self, masks: list[np.ndarray], stamp_ns: int) -> list[int]:
        """Start tracking each (H, W) bool mask as a new object on the held image stamped
        `stamp_ns`, with the ids after the highest tracked one; one call, so no other prompt can
        take these ids in between. PromptRejected when that image is no longer held."""
        target = self._target_frame(stamp_ns)
        if target is None:
            raise PromptRejected(f"no image stamped {_seconds(stamp_ns)} is held")
        first_id = max(self.object_ids, default=-1) + 1
        object_ids = list(range(first_id, first_id + len(masks)))
        for object_id, mask in zip(object_ids, masks):
            self._add_prompt(PromptRequest(object_id, Prompt(mask=mask), stamp_ns), target)
        return object_ids

    def process(self, frame: Frame) -> FrameOutcome:
        """Track every object on `frame`, after applying the prompts waiting for it."""
        jumped_back_from = self._check_time(frame)
        self._check_size(frame)
        attached = [w for w in self._take_waiting(frame.stamp_ns) if w.future.set_running_or_notify_cancel()]
        try:
            outcome = self._track(frame, attached)
        except BaseException as error:
            for waiting in attached:
                if not waiting.future.done():
                    waiting.future.set_exception(error)
            raise
        self._newest_stamp_ns = max(frame.stamp_ns, self._newest_stamp_ns or frame.stamp_ns)
        return dataclasses.replace(outcome, jumped_back_from_ns=jumped_back_from)

    def expire(self, now: float) -> None:
        """Reject the prompts whose deadline has passed."""
        expired = [waiting for waiting in self._waiting if waiting.request.deadline <= now]
        self._waiting = [waiting for waiting in self._waiting if waiting.request.deadline > now]
        newest = self._newest_stamp_ns
        for waiting in expired:
            stamp = waiting.request.stamp_ns
            wanted = f"with stamp {_seconds(stamp)} or later" if stamp else "at all"
            ahead = (
                f": the prompt is {(stamp - newest) / 1e9:.3f} s ahead of the newest image ({_seconds(newest)})"
                if stamp and newest is not None else ""
            )  # fmt: skip
            _reject(waiting.future, f"no image {wanted} was processed in time{ahead}")

    def remove_object(self, object_id: int) -> None:
        """Stop tracking `object_id` (UnknownObjectError if it is not tracked)."""
        self.detections.remove_object(object_id)

    def reset(self) -> None:
        """Forget every object and image; prompts still waiting are rejected."""
        self.close("the tracker was reset")
        self._restart()

    def close(self, reason: str) -> None:
        """Reject every waiting prompt with `reason`."""
        waiting, self._waiting = self._waiting, []
        for each in waiting:
            _reject(each.future, reason)

    # ----------------------------------------------------------------- internals

    def _track(self, frame: Frame, attached: list[_Waiting]) -> FrameOutcome:
        """tracker.track with the first prompt of each object; further ones (a second prompt for
        the same object, or all of them when one is bad) are applied one by one on the frame."""
        first: dict[int, _Waiting] = {}
        later: list[_Waiting] = []
        for waiting in attached:
            if waiting.request.object_id in first:
                later.append(waiting)
            else:
                first[waiting.request.object_id] = waiting
        try:
            prompts = {obj: waiting.request.prompt for obj, waiting in first.items()}
            result = self.detections.track(frame.image, frame.detections, prompts)
        except PromptError as error:
            if len(first) == 1:
                next(iter(first.values())).future.set_exception(error)
            else:
                later = [*first.values(), *later]
            first = {}
            result = self.detections.track(frame.image, frame.detections)
        self._held[result.frame_index] = _StampedImage(frame.stamp_ns, frame.header, frame.image)
        objects = dict(result.objects)
        for obj, waiting in first.items():
            waiting.future.set_result(PromptOutcome(result.frame_index, frame.stamp_ns, frame.header, objects[obj]))
        for waiting in later:
            try:
                outcome = self._add_prompt(waiting.request, result.frame_index)
            except PromptError as error:
                waiting.future.set_exception(error)
                continue
            objects[waiting.request.object_id] = outcome.result
            waiting.future.set_result(outcome)
        self._forget_released()
        return FrameOutcome(frame, result.frame_index, objects)

    def _target_frame(self, stamp_ns: int) -> int | None:
        """The held frame a prompt stamped `stamp_ns` applies to; None when it waits for an image."""
        if not self._held:
            return None
        if stamp_ns == 0:
            return next(reversed(self._held))
        oldest, newest = (self._held[index].stamp_ns for index in (next(iter(self._held)), next(reversed(self._held))))
        if stamp_ns < oldest:
            raise PromptRejected(
                f"stamp {_seconds(stamp_ns)} is older than every image the tracker holds "
                f"(oldest {_seconds(oldest)}, newest {_seconds(newest)})"
            )
        return next((index for index, image in self._held.items() if image.stamp_ns >= stamp_ns), None)

    def _add_prompt(self, request: PromptRequest, frame_index: int) -> PromptOutcome:
        held = self._held[frame_index]
        result = self.tracker.add_prompt(request.object_id, request.prompt, frame_index)
        result = dataclasses.replace(result, class_id=self.detections.class_of(request.object_id))
        self._forget_released()
        return PromptOutcome(frame_index, held.stamp_ns, held.header, result)

    def _take_waiting(self, stamp_ns: int) -> list[_Waiting]:
        """The waiting prompts an image stamped `stamp_ns` answers, removed from the waiting list."""
        taken = [w for w in self._waiting if w.request.stamp_ns <= stamp_ns]
        self._waiting = [w for w in self._waiting if w.request.stamp_ns > stamp_ns]
        return taken

    def _check_time(self, frame: Frame) -> int | None:
        """Start a new stream when `frame` is stamped well before the newest image (time jumped
        back); the newest stamp before the jump, or None."""
        newest = self._newest_stamp_ns
        if newest is None or frame.stamp_ns >= newest - JUMP_BACK_TOLERANCE_NS:
            return None
        self.close(f"time jumped back to {_seconds(frame.stamp_ns)} from {_seconds(newest)}: a new stream started")
        self._restart()
        return newest

    def _check_size(self, frame: Frame) -> None:
        size = frame.image.shape[:2]
        if self._size is not None and size != self._size:
            if self.tracker.object_ids:
                raise FrameRejected(
                    f"image is {size[1]}x{size[0]} but this stream's images are {self._size[1]}x{self._size[0]}: "
                    f"images of another size are dropped while objects are tracked (reset starts a new stream)"
                )
            self._restart()
        self._size = size

    def _restart(self) -> None:
        self.detections.reset()
        self._held.clear()
        self._size = None
        self._newest_stamp_ns = None

    def _forget_released(self) -> None:
        """Keep the frame table in step with the frames the tracker still holds."""
        held = set(self.tracker.held_frames)
        self._held = {index: image for index, image in self._held.items() if index in held}


def _settle(future: Future, outcome: Callable[[], PromptOutcome]) -> None:
    """Compute `outcome` for a caller still waiting on `future` and hand it the result or error."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(outcome())
    except Exception as error:  # a bad prompt, or a tracker failure the caller must hear of
        future.set_exception(error)


def _reject(future: Future, reason: str) -> None:
    if future.set_running_or_notify_cancel():
        future.set_exception(PromptRejected(reason))


def _seconds(stamp_ns: int) -> str:
    return f"{stamp_ns // 1_000_000_000}.{stamp_ns % 1_000_000_000:09d}"
