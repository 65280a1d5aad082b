"""The inference thread: a TrackingSession run off the executor, fed through a one-slot mailbox.

Callbacks of the node only hand work over and return: `submit_frame` puts an image in the
mailbox (the newest image wins; one replaced before it was processed counts as dropped), and
`submit_prompt` / `call` queue work that returns a Future. The thread runs queued work in order
before each image, so every tracker call happens on this one thread. No ROS here: images are
decoded and results published through the functions the node passes in.

With pairings (sam2_ros.pairing: the node's depth and detections), an image leaves the mailbox
once each pairing it needs has its message, or that pairing's `max_wait` seconds after the image's
receipt without one; each pairing then attaches what it has to the Frame, so nothing waits for it
later. An image waits for depth only while objects are tracked or prompts wait for an image (for
detections also without, when they may start objects); queued work runs meanwhile, and a newer
image replaces it.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sam2_ros.frame_stats import FrameStats
from sam2_ros.session import Frame, FrameOutcome, FrameRejected, PromptOutcome, PromptRequest, TrackingSession
from sam2core.tracking import Prompt

if TYPE_CHECKING:
    from sam2_ros.pairing import Pairing

T = TypeVar("T")


@dataclass
class _Mail:
    message: Any
    received: float  # time.monotonic() at receipt


class TrackingWorker:
    """Owns a TrackingSession and the thread that runs it.

    decode: message -> Frame (raises ValueError for an unusable message).
    publish: called on the worker thread with every processed image's FrameOutcome.
    warn, error: log a line (warn may be throttled by the caller).
    pairings: match each image to their messages (Frame.depth, Frame.detections) as it leaves the mailbox.
    """

    def __init__(
        self,
        session: TrackingSession,
        *,
        decode: Callable[[Any], Frame],
        publish: Callable[[FrameOutcome], None],
        warn: Callable[[str], None],
        error: Callable[[str], None],
        prompt_timeout: float,
        pairings: Sequence[Pairing] = (),
    ):
        self.session = session
        self.prompt_timeout = prompt_timeout
        self._decode, self._publish, self._warn, self._error = decode, publish, warn, error
        self._pairings = tuple(pairings)
        self._wake = threading.Condition()
        self._mailbox: _Mail | None = None
        self._queue: list[tuple[Callable[[], None], Future]] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sam2_tracking", daemon=True)
        self.stats = FrameStats()
        self.started_at = self.last_image_at = time.monotonic()  # the newest image's receipt, or the creation

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        """Whether stop was called: long work on the thread should end."""
        return self._stopping

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Finish the image in progress, cancel queued work, reject waiting prompts, end the thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout)
        for _, future in self._queue:
            future.cancel()
        self._queue.clear()

    def submit_frame(self, message: Any) -> None:
        """Put an image message in the mailbox, replacing (dropping) one not yet processed."""
        with self._wake:
            dropped = self._mailbox is not None
            self._mailbox = _Mail(message, time.monotonic())
            self.last_image_at = self._mailbox.received
            self._wake.notify()
        self.stats.count(received=1, dropped=int(dropped))

    def wake(self) -> None:
        """Look at the mailbox again: a paired message (depth, detections) has arrived."""
        with self._wake:
            self._wake.notify()

    def submit_prompt(self, object_id: int, prompt: Prompt, stamp_ns: int) -> Future[PromptOutcome]:
        """Apply a prompt on the worker thread (see TrackingSession.prompt for where it applies)."""
        request = PromptRequest(object_id, prompt, stamp_ns, deadline=time.monotonic() + self.prompt_timeout)
        future: Future[PromptOutcome] = Future()
        self._enqueue(lambda: self.session.prompt(request, future), future)
        return future

    def call(self, function: Callable[[TrackingSession], T]) -> Future[T]:
        """Run `function(session)` on the worker thread; its result or exception goes to the Future."""
        future: Future[T] = Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function(self.session))
                except Exception as error:  # handed to the caller, who reports it
                    future.set_exception(error)

        self._enqueue(run, future)
        return future

    # ----------------------------------------------------------------- the thread

    def _enqueue(self, work: Callable[[], None], future: Future) -> None:
        with self._wake:
            if self._stopping:
                future.cancel()
                return
            self._queue.append((work, future))
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wait_for_work()
                if self._stopping:
                    break
                work, self._queue = self._queue, []
                mail = self._mailbox if self._mail_ready() else None
                if mail is not None:
                    self._mailbox = None
            for run, _ in work:
                run()
            self.session.expire(time.monotonic())
            if mail is not None:
                self._process(mail)
        self.session.close("the tracker stopped")

    def _wait_for_work(self) -> None:
        """Wait (holding the lock) for work, or until a prompt's deadline or the mailbox's wait ends;
        each wake-up recomputes the deadline, since a new image brings its own."""
        while not self._has_work():
            remaining = min(self.session.next_deadline, self._mail_deadline()) - time.monotonic()
            if remaining <= 0.0:
                return
            self._wake.wait(None if remaining == float("inf") else remaining)

    def _has_work(self) -> bool:
        return self._stopping or bool(self._queue) or self._mail_ready()

    def _mail_ready(self) -> bool:
        """Whether the image in the mailbox may leave it (see the module docstring)."""
        return time.monotonic() >= self._mail_deadline()

    def _mail_deadline(self) -> float:
        """When the image in the mailbox stops waiting (inf: no image): its receipt, plus the
        longest wait of the pairings it needs whose message has not arrived."""
        mail = self._mailbox
        if mail is None:
            return float("inf")
        tracking = bool(self.session.object_ids) or self.session.next_deadline != float("inf")
        waits = [
            pairing.max_wait
            for pairing in self._pairings
            if (tracking or pairing.needed_untracked) and not pairing.has_companion(mail.message)
        ]
        return mail.received + max(waits, default=0.0)

    def _process(self, mail: _Mail) -> None:
        """Decode, track and publish one image; a failure is logged and counted, never raised."""
        try:
            frame = self._decode(mail.message)
            for pairing in self._pairings:
                frame = pairing.attach(frame)
        except ValueError as error:
            self._reject(error)
            return
        try:
            outcome = self.session.process(frame)
            if outcome.jump_warning is not None:
                self._warn(outcome.jump_warning)
                self.stats.count(time_jumps=1)
            self._publish(outcome)
        except FrameRejected as error:
            self._reject(error)
            return
        except Exception:  # the thread must outlive any failure; the traceback says what broke
            self._error(f"tracking failed on an image:\n{traceback.format_exc()}")
            self.stats.count(failed=1)
            return
        self.stats.processed(time.monotonic() - mail.received, len(outcome.objects))

    def _reject(self, error: ValueError) -> None:
        self._warn(f"image dropped: {error}")
        self.stats.count(rejected=1)
