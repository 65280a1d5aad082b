"""Streaming tracker behaviour that needs no oracle: bounded state, bad prompts, isolation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam2core import build_model
from sam2core.tracking import Prompt, PromptError, StreamingTracker, TrackerOptions, UnknownObjectError
from sam2core.tracking.exclusivity import TrackHealth
from sam2core.tracking.prompt import most_interior_pixel
from sam2core.tracking.results import EMPTY_GEOMETRY, mask_geometry, object_results

SIZE = 128  # the smallest input the demo configuration accepts: cheap frames


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = build_model("sam2.1_hiera_demo", image_size=SIZE)
    with torch.no_grad():  # random weights see no object anywhere; make masks real
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(6.0)
    return model


def frame(index: int, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(index).integers(0, 256, (size, size, 3), dtype=np.uint8)


def click(x: float, y: float, label: int = 1) -> Prompt:
    return Prompt(points=np.array([[x, y]]), labels=np.array([label]))


def state_bytes(tracker: StreamingTracker) -> int:
    """Bytes of every tensor the tracker keeps per object."""
    total = 0
    for memory in tracker._objects.values():
        for entry in [*memory.conditioning.values(), *memory.tracked.values()]:
            for tensor in (entry.memory_features, entry.mask_logits, entry.object_pointer, entry.object_score):
                total += 0 if tensor is None else tensor.numel() * tensor.element_size()
    return total


@pytest.mark.slow
def test_state_is_bounded_over_a_long_stream(model):
    """1,200 frames with corrections every 50 frames: state stops growing once the windows fill."""
    tracker = StreamingTracker(model, TrackerOptions(frame_history=8, max_conditioning_frames=3, precision="float32"))
    tracker.track(frame(0), {1: click(30, 40), 2: Prompt(box=(60, 60, 120, 110))})
    sizes = {}
    for index in range(1, 1200):
        tracker.track(frame(index % 17))
        if index % 50 == 0:
            tracker.add_prompt(1, click(35, 45), frame_index=index - 3)
        if index in (399, 1199):  # the same phase relative to the corrections
            sizes[index] = state_bytes(tracker)
        for memory in tracker._objects.values():
            assert len(memory.conditioning) <= 3
            assert len(memory.tracked) <= 8 + 15 + 3  # held frames + pointer window (+ demoted)
            with_features = [e for e in memory.tracked.values() if e.memory_features is not None]
            assert len(with_features) <= 8 + 6 + 3
        assert len(tracker.held_frames) <= 8
    assert tracker.frame_index == 1199
    assert sizes[1199] == sizes[399] > 0


def test_bad_prompts_are_rejected_and_change_nothing(model):
    tracker = StreamingTracker(model, TrackerOptions(precision="float32"))
    tracker.track(frame(0), {1: click(30, 40)})
    bad = {
        "empty": Prompt(),
        "click outside": click(SIZE + 5, 10),
        "NaN": Prompt(points=np.array([[np.nan, 3.0]]), labels=np.array([1])),
        "bad label": Prompt(points=np.array([[3.0, 3.0]]), labels=np.array([7])),
        "points without labels": Prompt(points=np.array([[3.0, 3.0]])),
        "box outside": Prompt(box=(SIZE + 1, 0, SIZE + 50, 20)),
        "inverted box": Prompt(box=(50, 50, 10, 10)),
        "mask of another size": Prompt(mask=np.ones((10, 10), bool)),
        "empty mask": Prompt(mask=np.zeros((SIZE, SIZE), bool)),
        "mask and clicks": Prompt(
            mask=np.ones((SIZE, SIZE), bool), points=np.array([[1.0, 1.0]]), labels=np.array([1])
        ),
    }
    for name, prompt in bad.items():
        with pytest.raises(PromptError):
            tracker.track(frame(1), {2: prompt, 1: click(30, 40)})
        assert tracker.object_ids == [1] and tracker.frame_index == 0, name
        with pytest.raises(PromptError):
            tracker.add_prompt(1, prompt)
    with pytest.raises(PromptError, match="not held"):
        tracker.add_prompt(1, click(3, 3), frame_index=5)
    with pytest.raises(UnknownObjectError, match="unknown object id 9"):
        tracker.remove_object(9)
    result = tracker.track(frame(1))
    assert list(result.objects) == [1] and result.frame_index == 1


def test_box_partly_outside_is_clipped(model):
    tracker = StreamingTracker(model, TrackerOptions(precision="float32"))
    inside = tracker.track(frame(0), {1: Prompt(box=(-20, 10, 60, SIZE + 30))}).objects[1]
    tracker.reset()
    clipped = tracker.track(frame(0), {1: Prompt(box=(0, 10, 60, SIZE))}).objects[1]
    torch.testing.assert_close(inside.mask_logits, clipped.mask_logits)


def test_other_objects_do_not_disturb_a_track(model):
    """Object 1 gives the same results whether object 2 exists, joins late or is removed (in
    float32: autocast to bfloat16 rounds a batch of two otherwise than a batch of one)."""
    alone = StreamingTracker(model, TrackerOptions(precision="float32"))
    crowded = StreamingTracker(model, TrackerOptions(precision="float32"))
    for index in range(12):
        prompts = {1: click(30, 40)} if index == 0 else {}
        other = {2: Prompt(box=(60, 60, 120, 110))} if index == 4 else {}
        a = alone.track(frame(index), prompts).objects[1]
        b = crowded.track(frame(index), {**prompts, **other}).objects[1]
        if index == 9:
            crowded.remove_object(2)
        torch.testing.assert_close(b.mask_logits, a.mask_logits, atol=1e-4, rtol=0)
        assert b.object_score == pytest.approx(a.object_score, abs=1e-4)
    assert crowded.object_ids == [1]


def test_capacity_and_results(model):
    tracker = StreamingTracker(model, TrackerOptions(max_objects=2, precision="float32"))
    result = tracker.track(frame(0, size=96), {1: click(30, 40), 2: click(70, 20)})
    with pytest.raises(PromptError, match="at most 2"):
        tracker.track(frame(1, size=96), {3: click(10, 10)})
    obj = result.objects[1]
    assert obj.mask_logits.shape == (96, 96) and obj.mask_logits.dtype == torch.float32
    assert obj.object_pointer.shape == (model.config.hidden_dim,)
    ys, xs = torch.nonzero(obj.mask, as_tuple=True)
    assert obj.box == (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))


def test_mask_geometry_is_the_box_centroid_and_area_of_the_set_pixels():
    mask = np.random.default_rng(3).random((37, 53)) > 0.97
    mask[5, 40] = True
    geometry = mask_geometry(torch.from_numpy(mask))
    ys, xs = np.nonzero(mask)
    assert geometry.box == (xs.min(), ys.min(), xs.max(), ys.max())
    assert geometry.area == len(xs)
    np.testing.assert_allclose(geometry.centroid, (xs.mean(), ys.mean()), rtol=1e-12)
    assert mask_geometry(mask) == geometry  # numpy masks too
    assert mask_geometry(np.zeros((4, 6), bool)) == EMPTY_GEOMETRY


def test_most_interior_pixel_is_the_centre_of_the_largest_part():
    region = np.zeros((40, 60), bool)
    region[5:16, 8:19] = True  # 11 x 11 square: its centre pixel is (13, 10)
    region[30:33, 0:60] = True  # a thin bar, larger than the square: the largest part
    region[20:23, 40:43] = True  # a smaller part, ignored
    assert most_interior_pixel(region)[1] == 31.5
    region[30:33] = False
    np.testing.assert_array_equal(most_interior_pixel(region), [13.5, 10.5])
    bar = np.zeros((9, 30), bool)
    bar[3:6, 2:28] = True  # ties along the bar's middle row: first in raster order, or drawn
    assert most_interior_pixel(bar)[1] == 4.5 and most_interior_pixel(bar)[0] < 4
    drawn = {tuple(most_interior_pixel(bar, np.random.default_rng(seed))) for seed in range(6)}
    assert len(drawn) > 1 and all(y == 4.5 for _, y in drawn)


def test_a_frames_results_are_one_batch_on_the_host_equal_to_each_objects_own():
    """object_results upsamples, measures and copies all objects of a frame at once: each object
    gets what it would get alone, the geometry of its own mask, its own scores, pointer and
    health, all on the host. A non-square image catches rows and columns swapped."""
    generator = torch.Generator().manual_seed(0)
    low_res = torch.randn(3, 1, 16, 16, generator=generator)
    low_res[2] = -5.0  # an empty mask
    scores, iou = torch.randn(3, 1, generator=generator), torch.rand(3, 1, generator=generator)
    pointers = torch.randn(3, 32, generator=generator)
    health = [TrackHealth.TRACKED, TrackHealth.LOST_TO_OTHER, TrackHealth.TRACKED]
    ids, size = [4, 7, 9], (40, 56)
    together = object_results(ids, low_res, scores, iou, pointers, size, health)
    assert list(together) == ids
    for i, object_id in enumerate(ids):
        one = slice(i, i + 1)
        alone = object_results([object_id], low_res[one], scores[one], iou[one], pointers[one], size, health[one])
        result = alone[object_id]
        assert torch.equal(together[object_id].mask_logits, result.mask_logits)
        assert result.mask_logits.shape == size and result.mask_logits.device.type == "cpu"
        assert together[object_id].geometry == mask_geometry(result.mask)
        assert together[object_id].object_score == pytest.approx(float(scores[i, 0]))
        assert together[object_id].iou == pytest.approx(float(iou[i, 0]))
        assert torch.equal(together[object_id].object_pointer, pointers[i])
        assert together[object_id].health is health[i]
    assert together[9].geometry == EMPTY_GEOMETRY and together[4].geometry.area > 0
