"""The streaming tracker against Meta's video predictor, frame by frame and object by object.

Both sides get identical weights (test/oracle.py) and identical frames already at the model's
size. Each scenario is a script of stream events; the reference replays it with its offline
flow (prompts added on a frame, then propagation from that frame), which SAM 2 defines as
equal. Per frame and object: mask logits, object score and object pointer within
oracle.TOLERANCE, and the binary masks identical wherever the logit is farther than that from 0.

Our tracker runs with its default mask clean-up. Meta's hole filling (fill_hole_area) needs its
CUDA connected-components kernel and is skipped on the CPU, and its video predictor removes no
specks; so, like for like, the reference fills holes with the tracker's default through its own
code, with the kernel replaced by OpenCV's (`reference_postprocessing`), and then removes
specks as our tracker does.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import oracle
import pytest
import torch
from PIL import Image

from sam2core.data import BENCHMARK, HELD_OUT, generate_sequence
from sam2core.tracking import Prompt, StreamingTracker, TrackerOptions
from sam2core.tracking.postprocess import clean_mask_logits

NAME, SIZE = "sam2.1_hiera_t", 256
LONG, SHORT = 24, 14  # frames: the one-object stream is long enough to fill the pointer window


@dataclasses.dataclass(frozen=True)
class Event:
    """At `frame`: prompt object `object_id` on that frame, or on the held `past_frame` after
    tracking `frame`; or remove the object before tracking `frame` (`prompt=None`)."""

    frame: int
    object_id: int
    prompt: Prompt | None
    past_frame: int | None = None


def clicks(*points_and_labels) -> Prompt:
    points = np.array([p[:2] for p in points_and_labels], dtype=np.float32)
    return Prompt(points=points, labels=np.array([p[2] for p in points_and_labels]))


def cpu_connected_components(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Meta's CUDA kernel's contract on the CPU: (N, 1, H, W) binary masks in; each pixel's
    8-connected component label (0 off the mask) and that component's area (0 off the mask)."""
    labels, areas = torch.zeros(mask.shape, dtype=torch.int32), torch.zeros(mask.shape, dtype=torch.int32)
    for index, plane in enumerate(mask[:, 0].to(torch.uint8).numpy()):
        _, plane_labels, stats, _ = cv2.connectedComponentsWithStats(plane, connectivity=8)
        plane_areas = np.where(plane_labels > 0, stats[plane_labels, cv2.CC_STAT_AREA], 0)
        labels[index, 0], areas[index, 0] = torch.from_numpy(plane_labels), torch.from_numpy(plane_areas)
    return labels, areas


@pytest.fixture(autouse=True)
def reference_postprocessing(monkeypatch):
    """Meta's hole filling run on the CPU, followed by our speck removal (see the module's doc)."""
    from sam2 import sam2_video_predictor
    from sam2.utils import misc

    monkeypatch.setattr(misc, "get_connected_components", cpu_connected_components)
    options = TrackerOptions()

    def fill_holes_then_remove_specks(mask: torch.Tensor, max_area: int) -> torch.Tensor:
        filled = misc.fill_holes_in_mask_scores(mask, max_area)
        return clean_mask_logits(filled, fill_hole_area=0, min_region_area=options.min_region_area)

    monkeypatch.setattr(sam2_video_predictor, "fill_holes_in_mask_scores", fill_holes_then_remove_specks)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """(LONG, S, S, 3) uint8 frames of a held-out synthetic sequence."""
    config = dataclasses.replace(BENCHMARK, height=SIZE, width=SIZE, num_frames=LONG)
    return generate_sequence(seed=HELD_OUT.seeds[3], config=config).frames


class ReferenceStream:
    """Meta's video predictor driven like a stream over already-preprocessed frames."""

    def __init__(self, predictor, ours, frames: np.ndarray, tmp_path):
        Image.fromarray(frames[0]).save(tmp_path / "0.jpg")
        # Our corrections become conditioning frames (the semantics); the reference's
        # predictor does so when this flag is set.
        predictor.add_all_frames_to_correct_as_cond = True
        predictor.fill_hole_area = TrackerOptions().fill_hole_area  # Meta's builder sets 8 too
        self.predictor = predictor
        self.state = predictor.init_state(str(tmp_path))
        self.state["images"] = torch.cat([ours.preprocess(frame) for frame in frames])
        self.state["num_frames"] = len(frames)
        self.state["cached_features"] = {}  # init_state encoded frame 0 from the JPEG
        self.outputs: dict[int, dict[int, tuple]] = {}  # frame -> object id -> (logits, score, ptr)

    def prompt(self, frame: int, object_id: int, prompt: Prompt) -> tuple:
        """Apply `prompt` on `frame`; (mask logits, object score, object pointer) of the object."""
        if prompt.mask is not None:
            _, ids, masks = self.predictor.add_new_mask(self.state, frame, object_id, prompt.mask)
        else:
            _, ids, masks = self.predictor.add_new_points_or_box(
                self.state, frame, object_id, points=prompt.points, labels=prompt.labels, box=prompt.box
            )
        return self._output(frame, object_id, masks[list(ids).index(object_id), 0], "temp_output_dict_per_obj")

    def remove(self, object_id: int) -> None:
        self.predictor.remove_object(self.state, object_id, need_output=False)

    def propagate(self, start: int, stop: int) -> None:
        """Track frames start..stop-1. A frame's first output is kept: frames re-tracked after a
        correction on a past frame were already published before it."""
        for frame, ids, masks in self.predictor.propagate_in_video(
            self.state, start_frame_idx=start, max_frame_num_to_track=stop - start - 1
        ):
            for index, object_id in enumerate(ids):
                output = self._output(frame, object_id, masks[index, 0], "output_dict_per_obj")
                self.outputs.setdefault(frame, {}).setdefault(object_id, output)

    def _output(self, frame: int, object_id: int, logits: torch.Tensor, store: str) -> tuple:
        stored = self.state[store][self.state["obj_id_to_idx"][object_id]]
        out = stored["cond_frame_outputs"].get(frame) or stored["non_cond_frame_outputs"].get(frame)
        return logits.clone(), out["object_score_logits"].flatten().clone(), out["obj_ptr"].flatten().clone()


def run_scenario(events: list[Event], frames: np.ndarray, length: int, tmp_path, **pair_options):
    """Our results and the reference's on the first `length` frames, for the same script of
    events. The reference holds every frame, so that (as in a stream of unknown length) its
    pointer window is the full 16 frames."""
    ours, predictor = oracle.model_pair(NAME, SIZE, released_postprocessing=True, **pair_options)
    tracker = StreamingTracker(ours, TrackerOptions(precision="float32"))  # the reference computes in float32
    reference = ReferenceStream(predictor, ours, frames, tmp_path)
    our_outputs: dict[int, dict[int, tuple]] = {}
    by_frame = {}
    for event in events:
        by_frame.setdefault(event.frame, []).append(event)
    segment_start = 0
    for frame_index, frame in enumerate(frames[:length]):
        todo = by_frame.get(frame_index, [])
        now = [e for e in todo if e.prompt is not None and e.past_frame is None]
        if todo and frame_index > segment_start:
            reference.propagate(segment_start, frame_index)
            segment_start = frame_index
        for event in todo:
            if event.prompt is None:
                tracker.remove_object(event.object_id)
                reference.remove(event.object_id)
        for event in now:
            reference.outputs.setdefault(frame_index, {})[event.object_id] = reference.prompt(
                frame_index, event.object_id, event.prompt
            )
        result = tracker.track(frame, {e.object_id: e.prompt for e in now})
        our_outputs[frame_index] = {
            obj: (out.mask_logits, torch.tensor([out.object_score]), out.object_pointer)
            for obj, out in result.objects.items()
        }
        for event in [e for e in todo if e.past_frame is not None]:
            # The reference has tracked up to here; its click lands on a frame already tracked.
            reference.propagate(segment_start, frame_index + 1)
            corrected = tracker.add_prompt(event.object_id, event.prompt, event.past_frame)
            key = ("corrected", event.past_frame)
            our_outputs[key] = {
                event.object_id: (
                    corrected.mask_logits,
                    torch.tensor([corrected.object_score]),
                    corrected.object_pointer,
                )
            }
            reference.outputs[key] = {
                event.object_id: reference.prompt(event.past_frame, event.object_id, event.prompt)
            }
            segment_start = event.past_frame
    reference.propagate(segment_start, length)
    return our_outputs, reference.outputs


def assert_same_stream(ours: dict, reference: dict, tolerance: float = oracle.TOLERANCE) -> None:
    assert set(ours) <= set(reference), "frames missing on the reference side"
    for frame, objects in ours.items():
        assert set(objects) == set(reference[frame]), (
            f"frame {frame}: objects {set(objects)} vs {set(reference[frame])}"
        )
        for object_id, (logits, score, pointer) in objects.items():
            ref_logits, ref_score, ref_pointer = reference[frame][object_id]
            label = f"frame {frame} object {object_id}"
            oracle.assert_masks_match(f"{label} mask", logits, ref_logits, tolerance)
            oracle.assert_close(f"{label} score", score, ref_score, tolerance)
            oracle.assert_close(f"{label} pointer", pointer, ref_pointer, tolerance)


SCENARIOS = {  # name: (events, frames)
    "one click, 24 frames": ([Event(0, 1, clicks((70, 90, 1)))], LONG),
    "box": ([Event(0, 1, Prompt(box=(40, 50, 150, 140)))], SHORT),
    "clicks and box": (
        [Event(0, 1, Prompt(box=(40, 50, 150, 140), points=np.array([[60, 80]]), labels=np.array([0])))],
        SHORT,
    ),
    "mask": ([Event(0, 1, Prompt(mask=np.pad(np.ones((60, 80), bool), ((40, 156), (30, 146)))))], SHORT),
    "second object added later": (
        [Event(0, 1, clicks((70, 90, 1))), Event(8, 2, Prompt(box=(120, 130, 220, 230)))],
        SHORT,
    ),
    "object removed mid-stream": (
        [Event(0, 1, clicks((70, 90, 1))), Event(0, 2, clicks((180, 190, 1), (60, 60, 0))), Event(9, 2, None)],
        SHORT,
    ),
    "correction click on a past frame": (
        [Event(0, 1, clicks((70, 90, 1))), Event(11, 1, clicks((70, 90, 1), (120, 100, 0)), past_frame=9)],
        SHORT,
    ),
    "known object re-prompted on a new frame": (
        [Event(0, 1, clicks((70, 90, 1))), Event(6, 1, Prompt(box=(30, 40, 160, 150)))],
        SHORT,
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_stream_matches_reference(scenario, frames, tmp_path):
    events, length = SCENARIOS[scenario]
    ours, reference = run_scenario(events, frames, length, tmp_path)
    assert_same_stream(ours, reference)


def test_visibility_switching_matches_reference(frames, tmp_path):
    """With the object-score bias near zero, objects flip between visible and hidden."""
    ours, reference = run_scenario(
        [Event(0, 1, clicks((70, 90, 1))), Event(0, 2, Prompt(box=(120, 130, 220, 230)))],
        frames,
        SHORT,
        tmp_path,
        object_score_bias=None,
    )
    scores = torch.cat([score for objects in ours.values() for _, score, _ in objects.values()])
    assert (scores > 0).any() and (scores < 0).any(), "the case must exercise both visible and hidden"
    assert_same_stream(ours, reference)


def test_a_broken_tracker_fails_the_comparison(frames, tmp_path, monkeypatch):
    """The comparison can fail: feed memory one frame too few and see the masks drift."""
    from sam2core.tracking import memory

    original = memory.ObjectMemory.spatial_memories
    monkeypatch.setattr(
        memory.ObjectMemory, "spatial_memories", lambda self, f: original(self, f)[:-1] or original(self, f)
    )
    events, _ = SCENARIOS["one click, 24 frames"]
    ours, reference = run_scenario(events, frames, SHORT, tmp_path)
    with pytest.raises(AssertionError):
        assert_same_stream(ours, reference)
