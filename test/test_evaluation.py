"""Tests of the evaluation: metrics on hand-made masks, the baseline, and a tiny benchmark run."""

import json
from dataclasses import asdict, replace

import cv2
import numpy as np
import pytest
import torch

from sam2core import TrackerOptions, build_model
from sam2core.data import BENCHMARK, FAMILIES, HiddenInterval, family, held_out_sequences
from sam2core.evaluation import (
    BASELINES,
    Prediction,
    Report,
    boundary_f_measure,
    compare,
    empty_baseline,
    evaluate,
    first_frame_baseline,
    quick_score,
    region_similarity,
    score_object,
)
from sam2core.evaluation import __main__ as command
from sam2core.evaluation.benchmark import (
    FLOAT32,
    first_frame_prompts,
    score_sequence,
    summarize,
    tracker_options_from_text,
)
from sam2core.evaluation.metrics import collapses, recovery_stats

SIZE = 100  # a 100 x 100 frame: the boundary tolerance is ceil(0.008 * 141.4) = 2 pixels


def _square(*, left: int, top: int, side: int = 20) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), bool)
    mask[top : top + side, left : left + side] = True
    return mask


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Torch on one thread: a tiny model runs fastest so, above all on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sequence():
    return next(held_out_sequences(1))


def test_j_of_half_overlapping_squares_is_a_third():
    truth = _square(left=20, top=20)
    shifted = _square(left=30, top=20)  # shares half of each: 200 of 600 pixels
    assert region_similarity(shifted, truth) == pytest.approx(1 / 3)
    assert region_similarity(truth, truth) == 1.0
    assert region_similarity(_square(left=60, top=60), truth) == 0.0


def test_j_of_empty_masks_and_batches():
    empty = np.zeros((SIZE, SIZE), bool)
    square = _square(left=20, top=20)
    predicted = np.stack([np.stack([empty, square]), np.stack([square, empty])])  # (2, 2, H, W)
    truth = np.stack([np.stack([empty, square]), np.stack([empty, square])])
    np.testing.assert_array_equal(region_similarity(predicted, truth), [[1.0, 1.0], [0.0, 0.0]])


def test_f_is_one_within_the_tolerance_and_drops_beyond_it():
    truth = _square(left=20, top=20)
    assert boundary_f_measure(truth, truth) == 1.0
    assert boundary_f_measure(_square(left=22, top=20), truth) == 1.0  # 2 pixels: matched
    assert boundary_f_measure(_square(left=23, top=20), truth) < 0.6  # 3 pixels: sides unmatched
    assert boundary_f_measure(_square(left=60, top=60), truth) == 0.0


def test_f_of_a_spurious_extra_region_halves_precision():
    truth = _square(left=10, top=10)
    predicted = truth | _square(left=60, top=60)  # same boundary length again, far away
    assert boundary_f_measure(predicted, truth) == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_f_of_empty_masks():
    empty = np.zeros((SIZE, SIZE), bool)
    square, whole = _square(left=20, top=20), np.ones((SIZE, SIZE), bool)
    np.testing.assert_array_equal(
        boundary_f_measure(np.stack([empty, empty, square, whole]), np.stack([empty, square, empty, empty])),
        [1.0, 0.0, 0.0, 0.0],
    )


def test_recovery_counts_frames_until_the_mask_is_back():
    """Object 1 over 20 frames, hidden in [3, 5), [8, 10), [12, 14) and [18, 20)."""
    truth = np.stack([_square(left=20, top=20)] * 20)
    visible = np.ones(20, bool)
    hidden = (
        HiddenInterval(object_id=1, start=3, stop=5, cause="occluded"),  # back at 5, found at 7
        HiddenInterval(object_id=1, start=8, stop=10, cause="occluded"),  # hides again before found
        HiddenInterval(object_id=1, start=12, stop=14, cause="out_of_view"),  # found at once
        HiddenInterval(object_id=1, start=18, stop=20, cause="occluded"),  # never back: no event
        HiddenInterval(object_id=2, start=1, stop=2, cause="occluded"),  # another object's
    )
    for interval in hidden[:4]:
        visible[interval.start : interval.stop] = False
    truth[~visible] = False
    predicted = truth.copy()
    predicted[5] = _square(left=70, top=70)  # lost two frames after re-appearing:
    predicted[6] = _square(left=30, top=20)  # J = 1/3, below the threshold
    predicted[14] = _square(left=24, top=20)  # J = 2/3, above it
    predicted[10:12] = False  # both empty on the hidden frames 8, 9 and 12, 13: J = 1 there
    score = score_object(
        object_id=1,
        predicted_masks=predicted,
        predicted_visible=predicted.any(axis=(1, 2)),
        truth_masks=truth,
        truth_visible=visible,
        hidden=hidden,
    )
    assert [(event.stop, event.frames) for event in score.recoveries] == [(5, 2), (10, None), (14, 0)]
    occluded = recovery_stats(score.recoveries, cause="occluded")
    assert (occluded.events, occluded.recovered, occluded.quickly_recovered) == (2, 0.5, 0.5)
    assert occluded.median_frames is None  # one of two never recovered: the median is "never"
    out_of_view = recovery_stats(score.recoveries, cause="out_of_view")
    assert (out_of_view.events, out_of_view.median_frames, out_of_view.recovered) == (1, 0.0, 1.0)
    assert score.visibility_accuracy == pytest.approx(17 / 19)  # wrong on frames 10 and 11
    every = recovery_stats(score.recoveries, cause=None)
    assert (every.cause, every.events) == (None, 3)
    assert every.recovered == every.quickly_recovered == pytest.approx(2 / 3)


def test_collapse_counts_visible_tracks_on_one_object_whose_true_objects_are_apart():
    """Three objects over 5 frames (frame 0, the prompt, is not scored). Objects 0 and 1 are apart
    in truth; object 2's true extent is object 0's (one in front of the other)."""
    left, right = _square(left=10, top=10), _square(left=60, top=60)
    full = np.stack([np.stack([left, right, left])] * 5)  # (T, K, H, W)
    predicted = full.copy()
    visible = np.ones((5, 3), bool)
    predicted[1, 1] = predicted[2, 1] = left  # object 1 on object 0's target: collapses on frames 1, 2
    predicted[2, 1] = _square(left=14, top=10)  # IoU 16/24 with object 0's mask: still above 0.5
    predicted[3, 1] = _square(left=20, top=10)  # IoU 10/30 = 1/3: overlapping, not collapsed
    predicted[4, 1], visible[4, 1] = left, False  # on it but reported hidden: no pair
    predicted[0, 1] = left  # frame 0 is not scored
    counted = collapses(predicted_masks=predicted, predicted_visible=visible, full_masks=full)
    # Visible pairs: 3 per frame on frames 1..3, 1 on frame 4. Object 1 collapses onto both 0 and
    # 2 on frames 1 and 2; pair (0, 2) overlaps but is one object in truth: never a collapse.
    assert (counted.visible_pairs, counted.collapsed_pairs) == (10, 4)
    assert (counted.object_frames, counted.collapsed_object_frames) == (12, 6)
    one = collapses(predicted_masks=predicted[:, :1], predicted_visible=visible[:, :1], full_masks=full[:, :1])
    assert (one.visible_pairs, one.object_frames, one.collapsed_object_frames) == (0, 0, 0)
    empty = np.zeros_like(predicted)
    assert collapses(predicted_masks=empty, predicted_visible=visible, full_masks=full).collapsed_pairs == 0


def test_method_summary_has_the_collapse_rate_recovery_and_cost():
    """Every target of a three-target sequence predicted as the first target's frame-0 mask."""
    sequence = next(family("geometric").held_out(1, num_frames=8))
    masks = np.repeat(sequence.masks[:1, :1], sequence.masks.shape[1], axis=1)
    visible = np.ones(sequence.visibility.shape, bool)
    predicted = Prediction(masks=np.broadcast_to(masks, sequence.masks.shape), visible=visible, seconds=2.0)
    scored = score_sequence(predicted, sequence)
    method = summarize([scored], name="copy", description="", frames_per_second=4.0)
    count = len(sequence.object_ids)
    apart = scored.collapses.collapsed_pairs
    assert count >= 2 and 0 < apart <= (len(sequence.frames) - 1) * count * (count - 1) // 2
    assert method.collapse_rate == scored.collapses.collapsed_object_frames / ((len(sequence.frames) - 1) * count)
    assert method.ms_per_frame == 250.0
    events = [event for score in scored.objects for event in score.recoveries]
    assert method.recovered_within_3 == (recovery_stats(events, cause=None).quickly_recovered if events else None)


def test_tracker_options_from_text():
    options = tracker_options_from_text("exclusive=true,min_kept_fraction=0.25,max_objects=3")
    assert options == TrackerOptions(exclusive=True, min_kept_fraction=0.25, max_objects=3, precision="float32")
    assert tracker_options_from_text("precision=auto").precision == "auto"
    for bad in ("exclusive=maybe", "max_objects=two", "no_such_option=1", "exclusive", "min_kept_fraction=2"):
        with pytest.raises(ValueError):
            tracker_options_from_text(bad)


def test_first_frame_baseline_on_a_held_out_sequence(sequence):
    score = score_sequence(first_frame_baseline(sequence), sequence)
    assert len(score.objects) == len(sequence.object_ids)
    for k, result in enumerate(score.objects):
        j = np.array(result.j_per_frame)
        assert j[0] == 1.0  # the prompted frame is its own ground truth
        np.testing.assert_array_equal(j[~sequence.visibility[:, k]], 0.0)  # a mask where none is
        assert result.visibility_accuracy == pytest.approx(sequence.visibility[1:, k].mean())
        assert 0.0 < result.jf < 1.0
        ending = [i for i in sequence.hidden if i.object_id == result.object_id and i.stop < len(j)]
        assert len(result.recoveries) == len(ending)
    assert any(interval.cause == "occluded" for interval in sequence.hidden)


def test_empty_baseline_scores_the_hidden_frames(sequence):
    score = score_sequence(empty_baseline(sequence), sequence)
    hidden = ~sequence.visibility[1:]
    assert score.j == pytest.approx(hidden.mean(axis=0).mean())
    assert score.f == score.j == score.visibility_accuracy
    assert all(event.frames is None for result in score.objects for event in result.recoveries)


def test_first_frame_prompts(sequence):
    masks = sequence.masks[0]
    boxes = first_frame_prompts(sequence, kind="box")
    clicks = first_frame_prompts(sequence, kind="click")
    for object_id, mask in zip(sequence.object_ids, masks):
        ys, xs = np.nonzero(mask)
        assert boxes[object_id].box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        ((x, y),) = clicks[object_id].points
        assert mask[int(y), int(x)] and clicks[object_id].labels.tolist() == [1]
    with pytest.raises(ValueError, match="unknown prompt kind"):
        first_frame_prompts(sequence, kind="scribble")


def test_evaluate_end_to_end_with_a_random_model():
    model = build_model("sam2.1_hiera_demo")
    short = replace(BENCHMARK, num_frames=4)
    seen = []
    report = evaluate(
        model,
        held_out_sequences(1, config=short),
        prompt="mask",
        tracker_options=TrackerOptions(max_conditioning_frames=2),
        on_sequence=lambda sequence, prediction: seen.append((sequence, prediction)),
        progress=False,
    )
    assert isinstance(report, Report) and report.prompt == "mask"
    [(sequence, prediction)] = seen
    assert prediction.masks.shape == sequence.masks.shape and prediction.visible.shape == sequence.visibility.shape
    assert report.tracker.frames_per_second > 0
    assert [method.name for method in report.baselines] == [baseline.name for baseline in BASELINES]
    assert all(method.frames_per_second is None for method in report.baselines)
    for method in report.methods:
        [scored] = method.sequences
        assert scored.seed == sequence.seed and scored.num_frames == 4
        assert [score.object_id for score in scored.objects] == list(sequence.object_ids)
        assert method.j == pytest.approx(np.mean([score.j for score in scored.objects]))  # a mean over objects
        assert method.f == pytest.approx(np.mean([score.f for score in scored.objects]))
        assert method.jf == pytest.approx((method.j + method.f) / 2)
        assert [stats.cause for stats in method.recovery] == ["occluded", "out_of_view"]
    for result in report.tracker.sequences[0].objects:
        assert result.j_per_frame[0] > 0.9  # a mask prompt comes back on its frame, even untrained
    loaded = json.loads(report.to_json())
    assert loaded["tracker_options"] == asdict(TrackerOptions(max_conditioning_frames=2))
    assert loaded["tracker"]["jf"] == report.tracker.jf
    assert loaded["baselines"][0]["sequences"][0]["objects"][0]["j_per_frame"] == list(
        report.baselines[0].sequences[0].objects[0].j_per_frame
    )
    table = command.format_table(report)
    assert str(sequence.seed) in table and f"{report.tracker.jf:.3f}" in table


def test_quick_score_for_the_trainer_is_the_evaluation_of_the_same_sequences():
    model = build_model("sam2.1_hiera_demo", checkpoint="default")  # trained: each kind of prompt scores apart
    scores = quick_score(model, n_sequences=1, num_frames=3)
    sequences = held_out_sequences(1, config=replace(BENCHMARK, num_frames=3))
    report = evaluate(model, sequences, prompt="mask", tracker_options=FLOAT32, progress=False)
    assert scores == {"jf": pytest.approx(report.tracker.jf), "visibility_accuracy": report.tracker.visibility_accuracy}


@pytest.mark.parametrize("prompt", ["box", "click"])
def test_command_writes_report_plot_and_video(prompt, tmp_path, capsys):
    argv = ["--sequences", "1", "--frames", "3", "--video", "1", "--prompt", prompt, "--out", str(tmp_path)]
    assert command.main(argv) == 0
    reports = json.loads((tmp_path / "evaluation.json").read_text())
    assert list(reports) == [family.name for family in FAMILIES]
    for name, report in reports.items():
        assert report["prompt"] == prompt and len(report["tracker"]["sequences"]) == 1
        assert [method["name"] for method in report["baselines"]] == ["still", "empty"]
        [video_path] = tmp_path.glob(f"sequence_{name}_*.mp4")
        video = cv2.VideoCapture(str(video_path))
        assert video.get(cv2.CAP_PROP_FRAME_COUNT) == 3 and video.get(cv2.CAP_PROP_FRAME_WIDTH) == 2 * 256
    assert (tmp_path / "jf_per_sequence.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert all(f"{family.name} scenes" in printed for family in FAMILIES) and "J&F sam2" in printed


# Family -> (J&F margin over "still", over "empty") the bundled model must beat on 4 sequences.
# About half of what it measured (`python -m sam2core.evaluation --checkpoint default --sequences
# 4 --threads 1`): cutouts J&F 0.547 against 0.097 still and 0.161 empty (20 sequences: 0.525,
# 0.101, 0.179); geometric 0.687 against 0.175 and 0.130 (0.712, 0.163, 0.115); tabletop 0.763
# against 0.204 and 0.189 (0.622, 0.232, 0.160). The model before it scored 0.457, 0.580 and
# 0.658 here. Raise them with the model.
MARGINS = {"cutouts": (0.22, 0.19), "geometric": (0.25, 0.27), "tabletop": (0.28, 0.28)}


@pytest.mark.slow
def test_bundled_model_beats_the_baselines_on_held_out_sequences_of_every_family(tmp_path):
    """The evaluation command on the bundled model, 4 held-out sequences of each family."""
    assert command.main(["--checkpoint", "default", "--sequences", "4", "--out", str(tmp_path)]) == 0
    reports = json.loads((tmp_path / "evaluation.json").read_text())
    assert sorted(reports) == sorted(MARGINS)
    for name, (over_still, over_empty) in MARGINS.items():
        tracker = reports[name]["tracker"]["jf"]
        baselines = {method["name"]: method["jf"] for method in reports[name]["baselines"]}
        assert tracker > baselines["still"] + over_still and tracker > baselines["empty"] + over_empty, (
            name, tracker, baselines,
        )  # fmt: skip


def test_two_runs_compared_sequence_by_sequence(tmp_path, capsys):
    """Random weights against the bundled model on the same 3 sequences: the bundled model ahead
    on J&F in each family (on 2 of 3 sequences at least), the differences and their standard
    error those of the per-sequence scores, and runs of different sequences refused."""
    runs = {}
    for name, checkpoint, sequences in (("random", [], 3), ("bundled", ["--checkpoint", "default"], 3), ("two", [], 2)):
        argv = [*checkpoint, "--sequences", str(sequences), "--frames", "24", "--out", str(tmp_path / name)]
        assert command.main(argv) == 0
        runs[name] = tmp_path / name / "evaluation.json"
    capsys.readouterr()
    base, other = (json.loads(runs[name].read_text()) for name in ("random", "bundled"))
    differences = compare.paired_differences(base, other)
    assert [(d.family, d.metric) for d in differences] == [
        (name, metric) for name in base for metric in ("jf", "visibility_accuracy")
    ]
    for d in differences:
        deltas = np.array([
            b[d.metric] - a[d.metric]
            for a, b in zip(base[d.family]["tracker"]["sequences"], other[d.family]["tracker"]["sequences"])
        ])  # fmt: skip
        assert d.mean == pytest.approx(deltas.mean()) and d.sequences == 3
        assert d.standard_error == pytest.approx(deltas.std(ddof=1) / np.sqrt(3))
        assert (d.base, d.other) == (base[d.family]["tracker"][d.metric], other[d.family]["tracker"][d.metric])
        if d.metric == "jf":
            assert d.mean > 0 and d.ahead > d.behind, d
    assert compare.main([str(runs["random"]), str(runs["bundled"])]) == 0
    assert "paired +" in capsys.readouterr().out
    with pytest.raises(ValueError, match="different sequences"):
        compare.paired_differences(base, json.loads(runs["two"].read_text()))
    assert compare.main([str(runs["random"]), str(runs["two"])]) == 2


def test_command_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        command.main(["--sequences", "0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        command.main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path)])
