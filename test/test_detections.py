"""Detections: checking, matching to tracks, the simulated detector, and DetectionTracker on the
bundled model (float32): a detection re-acquires a lost object, bad detections change nothing,
unmatched detections of listed classes start objects at a limited rate."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from lost_square import HEIGHT, PATH, RETURN, WIDTH, iou, path_scene, returned_box, square_scene

from sam2core import build_model
from sam2core.data import family
from sam2core.data.detector import DetectorConfig, simulate_detections, true_box
from sam2core.settings_text import parse_settings
from sam2core.tracking import Detection, DetectionOptions, DetectionTracker, Prompt, StreamingTracker, TrackerOptions
from sam2core.tracking.detections import box_iou, check_detections, match_greedy


def test_bad_detections_are_rejected_or_clipped_and_counted():
    detections = [
        Detection((10, 10, 30, 30), "cup", 0.9),  # kept as it is
        Detection((-5, 80, 20, 120), "cup", 0.8),  # clipped to the image
        Detection((math.nan, 0, 10, 10), "cup", 0.9),
        Detection((0, 0, 10, 10), "cup", math.inf),
        Detection((30, 10, 10, 30), "cup", 0.9),  # inverted
        Detection((10, 10, 10, 30), "cup", 0.9),  # no width
        Detection((200, 10, 220, 30), "cup", 0.9),  # right of the image
        Detection((10, -40, 30, 0), "cup", 0.9),  # above it
        Detection((10, 10, 30, 30), "dog", 0.9),  # unknown class
        Detection((10, 10, 30, 30), "cup", 0.05),  # below min_score
    ]
    checked = check_detections(detections, (HEIGHT, WIDTH), known_classes=("cup",), min_score=0.1)
    assert checked.detections == (
        Detection((10.0, 10.0, 30.0, 30.0), "cup", 0.9),
        Detection((0.0, 80.0, 20.0, 96.0), "cup", 0.8),
    )
    stats = checked.stats
    assert (stats.received, stats.accepted, stats.clipped, stats.rejected) == (10, 2, 1, 8)
    assert (stats.rejected_nonfinite, stats.rejected_inverted, stats.rejected_outside) == (2, 2, 2)
    assert (stats.rejected_unknown_class, stats.rejected_low_score, stats.rejected_over_limit) == (1, 1, 0)
    assert check_detections([], (HEIGHT, WIDTH)).stats.received == 0


def test_a_thousand_boxes_keep_the_best_scoring():
    rng = np.random.default_rng(0)
    scores = rng.permutation(1000) / 1000
    detections = [Detection((i % 100, 0, i % 100 + 10, 10), "", float(score)) for i, score in enumerate(scores)]
    checked = check_detections(detections, (HEIGHT, WIDTH), max_detections=100)
    assert len(checked.detections) == 100 and checked.stats.rejected_over_limit == 900
    assert min(d.score for d in checked.detections) == pytest.approx(0.9)
    assert checked.stats.clipped == sum(d.box[2] > WIDTH for d in checked.detections)


def test_box_iou_and_one_to_one_matching_best_first():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 100, 120]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 50 / 150, 0.0], [0.0, 0.0, 0.0]])
    # row 0 prefers column 0, which row 1 wants more: the best pair goes first, row 0 takes column 1
    affinity = np.array([[0.6, 0.5], [0.9, 0.1], [0.2, 0.25]])
    assert match_greedy(affinity, threshold=0.3) == [(1, 0), (0, 1)]
    assert match_greedy(np.array([[0.9, 0.8]]), threshold=0.3) == [(0, 0)]  # one detection per track
    assert match_greedy(np.zeros((0, 3)), threshold=0.3) == []


def test_simulated_detector_runs_every_nth_image_with_true_boxes_errors_and_a_seed():
    sequence = family("geometric").generate(family("geometric").seeds[0], 24)
    exact = simulate_detections(
        sequence, DetectorConfig(every=4, offset=1, jitter=0.0, miss_rate=0.0, false_positives=0.0)
    )
    assert [index for index, found in enumerate(exact) if found is not None] == [1, 5, 9, 13, 17, 21]
    for index in (1, 5, 9, 13, 17, 21):
        truth = {true_box(mask) for mask, shown in zip(sequence.masks[index], sequence.visibility[index]) if shown}
        assert {d.box for d in exact[index]} == truth
    noisy = DetectorConfig(every=1, jitter=0.1, miss_rate=0.2, false_positives=0.5, seed=3)
    first, again = simulate_detections(sequence, noisy), simulate_detections(sequence, noisy)
    assert first == again
    assert first != simulate_detections(
        sequence, DetectorConfig(every=1, jitter=0.1, miss_rate=0.2, false_positives=0.5, seed=4)
    )
    visible = int(sequence.visibility.sum())  # about 60 target-images

    def count(**errors) -> int:
        config = DetectorConfig(every=1, jitter=0.0, miss_rate=0.0, false_positives=0.0, seed=5)
        return sum(len(each) for each in simulate_detections(sequence, replace(config, **errors)))

    assert count() == visible
    assert 0.3 * visible < count(miss_rate=0.5) < 0.7 * visible
    assert 24 < count(false_positives=2.0) - visible < 72  # 2 an image over 24 images: 48 expected
    offsets = []  # each edge's displacement over the box's size along it; std 0.1, mean |.| 0.08
    for index, found in enumerate(
        simulate_detections(sequence, DetectorConfig(every=1, miss_rate=0.0, false_positives=0.0))
    ):
        truth = np.array(
            [true_box(mask) for mask, shown in zip(sequence.masks[index], sequence.visibility[index]) if shown]
        )
        for detection in found:
            box = truth[np.argmax(box_iou(np.array([detection.box]), truth)[0])]
            size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
            offsets.extend(np.abs(np.array(detection.box) - box) / size)
    assert 0.06 < np.mean(offsets) < 0.10


def test_settings_parse_from_text():
    assert parse_settings(DetectorConfig, "every=2, jitter=0.05,class_id=cup") == DetectorConfig(
        every=2, jitter=0.05, class_id="cup"
    )
    options = parse_settings(DetectionOptions, "reprompt_every_match=true,new_objects_from=cup+mug")
    assert options.reprompt_every_match and options.new_objects_from == ("cup", "mug")
    with pytest.raises(ValueError, match="speed"):
        parse_settings(DetectorConfig, "speed=3")


# ----------------------------------------------------------------------------- on the model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("sam2.1_hiera_demo", checkpoint="default")


# While the square is away, the track is called hidden. Where it comes back, 2.8 of its diagonals
# from where it was prompted and cyan, memory does not find it (object score -2.6: hidden). Its
# detection, too far from the track's last box to pair with it, re-acquires it within 4
# diagonals, decoded from the box alone (IoU 0.91; a correction from box and memory together
# scores 0 here).
FAR = DetectionOptions(reacquire_distance=4.0, reprompt_mode="box")


def run_path(model, detections_at: dict[int, list[Detection]], options: DetectionOptions = FAR):
    tracker = DetectionTracker.from_model(model, options, TrackerOptions(precision="float32"))
    results = []
    for index in range(len(PATH)):
        image, mask = path_scene(index)
        prompts = {1: Prompt(mask=mask)} if index == 0 else None
        results.append(tracker.track(image, detections_at.get(index), prompts))
    return tracker, results


def test_a_detection_reacquires_a_lost_object(model):
    box = Detection(returned_box(), "box", 0.9)
    _, alone = run_path(model, {})
    tracker, helped = run_path(model, {RETURN: [box]})
    away = alone[5].objects[1]
    assert not away.visible or away.box[1] > 30  # while the square is away, the track does not follow it
    assert iou(alone[RETURN].objects[1].mask.numpy(), PATH[RETURN]) < 0.5  # back, memory misses it
    returned = helped[RETURN].objects[1]
    assert returned.visible and iou(returned.mask.numpy(), PATH[RETURN]) > 0.5
    assert returned.class_id == "box" and helped[-1].objects[1].class_id == "box"
    assert (tracker.stats.matched, tracker.stats.reprompted, tracker.stats.new_objects) == (1, 1, 0)


def test_without_detections_it_is_the_streaming_tracker(model):
    _, wrapped = run_path(model, {})
    tracker = StreamingTracker(model, TrackerOptions(precision="float32"))
    for index, result in enumerate(wrapped):
        image, mask = path_scene(index)
        alone = tracker.track(image, {1: Prompt(mask=mask)} if index == 0 else None).objects[1]
        assert torch.equal(alone.mask_logits, result.objects[1].mask_logits)
        assert alone.object_score == result.objects[1].object_score and result.objects[1].class_id == ""


def test_bad_detections_change_nothing(model):
    bad = [
        Detection((math.nan, 1, 5, 5), "box"),
        Detection((50, 50, 40, 60), "box"),
        Detection((500, 500, 600, 600), "box"),
        Detection((10, 10, 34, 34), "unknown"),
    ]
    options = replace(FAR, known_classes=("box",), new_objects_from=("box",))
    _, plain = run_path(model, {}, options)
    tracker, fed = run_path(model, {index: bad for index in range(len(PATH))} | {2: []}, options)
    for without, with_bad in zip(plain, fed):
        assert without.objects.keys() == with_bad.objects.keys() == {1}
        assert torch.equal(without.objects[1].mask_logits, with_bad.objects[1].mask_logits)
    stats = tracker.stats
    assert (stats.received, stats.rejected, stats.accepted, stats.matched, stats.new_objects) == (32, 32, 0, 0, 0)
    assert (
        stats.rejected_nonfinite,
        stats.rejected_inverted,
        stats.rejected_outside,
        stats.rejected_unknown_class,
    ) == (8, 8, 8, 8)


def test_unmatched_detections_of_listed_classes_start_objects_at_a_limited_rate(model):
    image, mask = square_scene((10, 10))
    # no re-acquisition: a track left without its detection would take the cup that starts object 6
    options = DetectionOptions(new_objects_from=("cup",), max_new_objects=1, new_object_window=3, reacquire_lost=False)
    tracker = DetectionTracker.from_model(model, options, TrackerOptions(precision="float32"))
    tracker.track(image, None, {4: Prompt(mask=mask)})
    cups = [Detection((80, 50, 110, 80), "cup", 0.9), Detection((60, 5, 90, 30), "cup", 0.8)]
    others = [
        Detection((80, 5, 120, 40), "dog", 0.9),
        Detection((9, 9, 35, 35), "cup", 0.9),
    ]  # a dog; the tracked square
    first = tracker.track(image, cups + others)
    assert set(first.objects) == {4, 5}  # the best-scoring cup only, with the next free id
    assert first.objects[5].class_id == "cup" and first.objects[4].class_id == "cup"
    assert (tracker.stats.new_objects, tracker.stats.rate_limited) == (1, 1)
    tracker.track(image, cups[1:])  # still inside the window of 3 images
    assert set(tracker.object_ids) == {4, 5}
    tracker.track(image, None)
    third = tracker.track(image, cups[1:])  # the window has passed
    assert set(third.objects) == {4, 5, 6} and third.objects[6].class_id == "cup"
    assert (tracker.stats.new_objects, tracker.stats.rate_limited) == (2, 2)
