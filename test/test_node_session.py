"""The node's inference side without a ROS graph: where stamped prompts apply (TrackingSession),
image size changes, and the worker thread's mailbox and queue. Real tracker, random demo weights."""

import math
import threading
import time
from concurrent.futures import CancelledError, Future

import numpy as np
import pytest

from sam2_ros.frame_stats import Counts
from sam2_ros.session import Frame, FrameRejected, PromptRejected, PromptRequest, TrackingSession
from sam2_ros.worker import TrackingWorker
from sam2core import build_model
from sam2core.tracking import Prompt, PromptError, StreamingTracker, TrackerOptions, UnknownObjectError

HEIGHT, WIDTH = 48, 64
CLICK = Prompt(points=np.array([[20.0, 16.0]]), labels=np.array([1]))
BOX = Prompt(box=(10.0, 8.0, 40.0, 30.0))


@pytest.fixture(scope="module")
def model():
    return build_model("sam2.1_hiera_demo")


@pytest.fixture
def session(model):
    return TrackingSession(StreamingTracker(model, TrackerOptions(frame_history=4, precision="float32")))


def frame(stamp_s: float, height: int = HEIGHT, width: int = WIDTH) -> Frame:
    rng = np.random.default_rng(int(stamp_s * 100))
    return Frame(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), int(stamp_s * 1e9), header=f"h{stamp_s}")


def prompt(session: TrackingSession, object_id: int, stamp_s: float, what: Prompt = CLICK, deadline=math.inf) -> Future:
    future = Future()
    session.prompt(PromptRequest(object_id, what, int(stamp_s * 1e9), deadline), future)
    return future


def test_zero_stamp_before_any_image_applies_to_the_first(session):
    future = prompt(session, 1, 0)
    assert not future.done()
    outcome = session.process(frame(1.0))
    assert future.result().frame_index == 0 and future.result().header == "h1.0"
    assert list(outcome.objects) == [1] and outcome.objects[1].mask_logits.shape == (HEIGHT, WIDTH)


def test_zero_stamp_applies_to_the_newest_held_image(session):
    session.process(frame(1.0))
    session.process(frame(2.0))
    outcome = prompt(session, 1, 0).result(timeout=0)
    assert (outcome.frame_index, outcome.header) == (1, "h2.0")
    assert list(session.process(frame(3.0)).objects) == [1]


def test_stamp_of_a_held_image_applies_there_at_once(session):
    for stamp in (1.0, 2.0, 3.0):
        session.process(frame(stamp))
    outcome = prompt(session, 4, 2.0).result(timeout=0)
    assert (outcome.frame_index, outcome.stamp_ns, outcome.header) == (1, 2_000_000_000, "h2.0")
    assert outcome.result.object_pointer.shape == (64,)


def test_newer_stamp_waits_for_its_image(session):
    session.process(frame(1.0))
    future = prompt(session, 2, 3.0)
    assert not session.process(frame(2.0)).objects and not future.done()
    outcome = session.process(frame(3.0))
    assert future.result().frame_index == 2 and list(outcome.objects) == [2]


def test_dropped_image_prompt_goes_to_the_next_processed_one(session):
    session.process(frame(1.0))
    waiting = prompt(session, 1, 2.0)  # image 2.0 never reaches the session (dropped)
    session.process(frame(3.0))
    assert waiting.result().stamp_ns == 3_000_000_000
    session.process(frame(5.0))
    assert prompt(session, 2, 4.0).result(timeout=0).stamp_ns == 5_000_000_000  # between held images


def test_stamp_older_than_every_held_image_is_rejected(session):
    for stamp in range(1, 7):  # frame_history 4: images 3..6 are held
        session.process(frame(float(stamp)))
    with pytest.raises(PromptRejected, match="older than every image the tracker holds"):
        prompt(session, 1, 2.0).result(timeout=0)
    assert session.object_ids == []


def test_waiting_prompt_expires_at_its_deadline(session):
    future = prompt(session, 1, 9.0, deadline=100.0)
    assert session.next_deadline == 100.0
    session.expire(now=99.0)
    assert not future.done()
    session.expire(now=100.5)
    with pytest.raises(PromptRejected, match="no image with stamp 9.000000000 or later"):
        future.result(timeout=0)
    assert session.next_deadline == float("inf")


def test_cancelled_prompt_is_not_applied(session):
    future = prompt(session, 1, 2.0)
    future.cancel()
    session.process(frame(2.0))
    assert session.object_ids == []


def test_bad_prompt_is_rejected_alone(session):
    session.process(frame(1.0))
    outside = Prompt(points=np.array([[500.0, 5.0]]), labels=np.array([1]))
    good, bad = prompt(session, 1, 2.0), prompt(session, 2, 2.0, outside)
    outcome = session.process(frame(2.0))
    assert good.result().frame_index == 1
    with pytest.raises(PromptError, match="outside the 64x48 image"):
        bad.result(timeout=0)
    assert list(outcome.objects) == [1] and session.object_ids == [1]
    with pytest.raises(PromptError, match="empty prompt"):
        prompt(session, 1, 0, Prompt()).result(timeout=0)
    assert list(session.process(frame(3.0)).objects) == [1]


def test_two_prompts_for_one_object_on_one_image_both_apply(session):
    first, second = prompt(session, 1, 1.0), prompt(session, 1, 1.0, BOX)
    outcome = session.process(frame(1.0))
    assert first.result().frame_index == second.result().frame_index == 0
    assert outcome.objects[1] is second.result().result


def test_image_size_change_is_rejected_while_objects_are_tracked(session):
    prompt(session, 1, 0)
    session.process(frame(1.0))
    with pytest.raises(FrameRejected, match="image is 32x24 but this stream's images are 64x48"):
        session.process(frame(2.0, 24, 32))
    assert list(session.process(frame(3.0)).objects) == [1]
    session.remove_object(1)
    restarted = session.process(frame(4.0, 24, 32))  # no object left: a new stream at the new size
    assert restarted.frame_index == 0 and restarted.objects == {}


def test_reset_forgets_objects_and_rejects_waiting_prompts(session):
    prompt(session, 1, 0)
    session.process(frame(1.0))
    waiting = prompt(session, 2, 5.0)
    session.reset()
    with pytest.raises(PromptRejected, match="reset"):
        waiting.result(timeout=0)
    outcome = session.process(frame(2.0))
    assert (outcome.frame_index, outcome.objects, session.object_ids) == (0, {}, [])
    with pytest.raises(UnknownObjectError, match="unknown object id 1"):
        session.remove_object(1)


def test_a_prompt_for_an_image_that_never_comes_says_how_far_ahead_it_was(session):
    session.process(frame(1.0))
    waiting = prompt(session, 1, 3.5, deadline=0.0)
    session.expire(1.0)
    with pytest.raises(PromptRejected, match=r"processed in time: the prompt is 2\.500 s ahead of the newest image"):
        waiting.result(timeout=0)


def test_time_jumping_back_starts_a_new_stream_and_a_small_step_back_does_not(session):
    prompt(session, 1, 0)
    session.process(frame(5.0))
    assert session.process(frame(4.95)).jumped_back_from_ns is None  # within the tolerance: same stream
    waiting = prompt(session, 2, 6.0)
    outcome = session.process(frame(1.0))
    assert (outcome.frame_index, outcome.objects, outcome.jumped_back_from_ns) == (0, {}, 5_000_000_000)
    assert "time jumped back 4.000 s" in outcome.jump_warning
    with pytest.raises(PromptRejected, match="time jumped back"):
        waiting.result(timeout=0)


def test_start_objects_takes_the_ids_after_the_highest_in_one_call(session):
    prompt(session, 3, 0)
    session.process(frame(1.0))
    session.process(frame(2.0))
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[10:20, 10:30] = True
    assert session.start_objects([mask, ~mask], 1_000_000_000) == [4, 5]
    assert session.object_ids == [3, 4, 5] and list(session.process(frame(3.0)).objects) == [3, 4, 5]
    with pytest.raises(PromptRejected):
        session.start_objects([mask], 500_000_000)  # older than every held image


# ----------------------------------------------------------------------------- the worker thread


def test_worker_keeps_only_the_newest_image_and_runs_work_in_order(session):
    entered, release = threading.Event(), threading.Event()
    published, warnings = [], []

    def decode(stamp_s: float) -> Frame:
        entered.set()
        release.wait(30)  # hold the first image in progress while more arrive
        if stamp_s < 0:
            raise ValueError("unsupported image encoding 'bayer'")
        return frame(stamp_s)

    worker = TrackingWorker(session, decode=decode, publish=published.append, warn=warnings.append,
                            error=pytest.fail, prompt_timeout=30.0)  # fmt: skip
    worker.start()
    try:
        worker.submit_frame(1.0)
        assert entered.wait(30)
        prompted = worker.submit_prompt(1, CLICK, 0)  # queued: runs after image 1.0, before 4.0
        for stamp in (2.0, 3.0, 4.0):
            worker.submit_frame(stamp)
        release.set()
        assert prompted.result(timeout=60).stamp_ns == 1_000_000_000
        with pytest.raises(UnknownObjectError):
            worker.call(lambda s: s.remove_object(7)).result(timeout=60)
        worker.submit_frame(-1.0)
        assert worker.call(lambda s: s.object_ids).result(timeout=60) == [1]
    finally:
        worker.stop()
    stats = worker.stats.take()
    assert [outcome.frame.stamp_ns for outcome in published] == [1_000_000_000, 4_000_000_000]
    assert stats.total == Counts(received=5, processed=2, dropped=2, rejected=1, failed=0)
    assert stats.object_count == 1 and worker.stats.take().window == Counts()
    assert len(stats.latencies) == 2 and warnings == ["image dropped: unsupported image encoding 'bayer'"]
    with pytest.raises(CancelledError):
        worker.call(lambda s: s.object_ids).result(timeout=1)


def test_an_image_waits_for_the_messages_it_needs_and_no_longer(session):
    """Detections (which may start objects) are waited for with nothing tracked, depth only while
    objects are tracked; each for at most its own max_wait; whatever arrives goes with the image."""
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    from sam2_ros.depth import DepthStage
    from sam2_ros.pairing import Pairing
    from sam2core.locating import DepthSettings
    from sam2core.tracking import Detection

    wait = 1.0
    detections = Pairing("detections", 0, 8, max_wait=wait, needed_untracked=True, consume=True)
    depth = DepthStage(DepthSettings(), max_offset_ns=0, buffer_size=8, warn=pytest.fail, max_wait=wait)
    published, done = [], threading.Semaphore(0)

    def message(stamp_s: float) -> Image:
        msg = Image(encoding="16UC1", height=HEIGHT, width=WIDTH, step=2 * WIDTH)
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp_s), round(stamp_s % 1 * 1e9)
        msg.data = bytes(2 * HEIGHT * WIDTH)
        return msg

    def publish(outcome) -> None:
        published.append((time.monotonic(), outcome.frame))
        done.release()

    worker = TrackingWorker(session, decode=lambda msg: frame(msg.header.stamp.sec), publish=publish,
                            warn=pytest.fail, error=pytest.fail, prompt_timeout=30.0,
                            pairings=(detections, depth.pairing))  # fmt: skip
    boxes = [Detection(box=(10.0, 8.0, 40.0, 30.0), class_id="cup", score=0.9)]
    worker.start()
    try:
        worker.submit_frame(message(1.0))  # nothing tracked: waits for detections, not for depth
        time.sleep(0.3)
        assert not published
        detections.add(1_000_000_000, boxes)
        worker.wake()
        assert done.acquire(timeout=30)
        first = published[-1]
        worker.submit_prompt(1, BOX, 0).result(timeout=60)  # now an object is tracked

        worker.submit_frame(message(2.0))  # waits for both
        depth.add_depth(serialize_message(message(2.0)))
        worker.wake()
        time.sleep(0.3)
        assert len(published) == 1  # the depth image came, the detections not yet
        detections.add(2_000_000_000, boxes)
        worker.wake()
        assert done.acquire(timeout=30)
        second = published[-1]

        sent = time.monotonic()
        worker.submit_frame(message(3.0))  # nothing comes: it goes on after the wait, without them
        assert done.acquire(timeout=30)
        third = published[-1]
    finally:
        worker.stop()
    assert first[1].detections == boxes and first[1].depth is None
    assert second[1].detections == boxes and second[1].depth is not None
    assert third[1].detections is None and third[1].depth is None and third[0] - sent >= wait
    assert (detections.matcher.matched, detections.matcher.unmatched) == (2, 1)
    assert (depth.pairing.matcher.matched, depth.pairing.matcher.unmatched) == (1, 2)
