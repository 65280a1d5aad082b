"""The tracking benchmark: SAM 2 over held-out synthetic videos, against baselines that do no tracking.

Protocol (semi-supervised VOS): every target is prompted on frame 0 only, and each later frame
is scored against ground truth with :mod:`sam2core.evaluation.metrics`. Two baselines that do no
tracking are scored alike (:data:`BASELINES`): "still" holds the frame-0 mask still and calls it
visible throughout; "empty" predicts nothing, never visible, and so scores 1 on exactly the
frames where a target is hidden. A tracker worth running beats both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace

import numpy as np
from tqdm import tqdm

from sam2core.data import BENCHMARK, SceneSequence, held_out_sequences
from sam2core.data.detector import DetectorConfig, simulate_detections
from sam2core.evaluation.metrics import (
    CAUSES,
    Collapses,
    ObjectScore,
    RecoveryStats,
    collapses,
    recovery_stats,
    score_object,
)
from sam2core.modeling.sam2 import SAM2Model
from sam2core.point_labels import POSITIVE
from sam2core.settings_text import parse_settings
from sam2core.tracking import DetectionOptions, DetectionTracker, Prompt, TrackerOptions
from sam2core.tracking.prompt import PROMPT_KINDS, PromptKind, most_interior_pixel

# The tracker options that make a score the same on every CPU (see sam2core.precision).
FLOAT32 = TrackerOptions(precision="float32")
TRACKER = "sam2"  # the tracker's name in reports


@dataclass(frozen=True)
class Prediction:
    """A method's output on a sequence of T frames and K targets.

    masks: (T, K, H, W) bool; visible: (T, K) bool; seconds: time spent producing them (None for
    a baseline, which does no work).
    """

    masks: np.ndarray
    visible: np.ndarray
    seconds: float | None


@dataclass(frozen=True)
class SequenceScore:
    """One method on one sequence; j, f, jf and visibility_accuracy are means over its objects."""

    seed: int
    num_frames: int
    objects: tuple[ObjectScore, ...]
    j: float
    f: float
    jf: float
    visibility_accuracy: float
    collapses: Collapses


@dataclass(frozen=True)
class MethodScore:
    """One method over every sequence.

    name: short, for table columns (TRACKER or a Baseline's name); description: in words.
    j, f, jf, visibility_accuracy: means over all objects of all sequences (DAVIS averages over
    objects, so a sequence with three targets weighs three times one with one).
    recovery: one RecoveryStats per cause of hiding ("occluded", then "out_of_view").
    recovered_within_3: of every event where a hidden target shows again, the fraction re-acquired
        (J >= RECOVERY_IOU) within QUICK_RECOVERY_FRAMES frames; None without events.
    collapse_rate: fraction of the object-frames of sequences with several targets that are in an
        identity collapse (metrics.collapses); collapsed_pairs of visible_pairs: the pairs.
    frames_per_second: frames tracked per second of tracking, all targets at once; None for a
        baseline. ms_per_frame: its inverse in milliseconds.
    """

    name: str
    description: str
    sequences: tuple[SequenceScore, ...]
    j: float
    f: float
    jf: float
    visibility_accuracy: float
    recovery: tuple[RecoveryStats, ...]
    recovered_within_3: float | None
    collapse_rate: float
    collapsed_pairs: int
    visible_pairs: int
    frames_per_second: float | None
    ms_per_frame: float | None


@dataclass(frozen=True)
class Report:
    """A benchmark run: the tracker and the baselines on the same sequences.

    prompt: how targets were prompted on frame 0; tracker_options: the StreamingTracker's.
    detector: the simulated detector's settings (DetectorConfig's fields) and detection_options
    (DetectionOptions' fields) when the tracker was given detections, else None.
    """

    prompt: PromptKind
    tracker_options: TrackerOptions
    tracker: MethodScore
    baselines: tuple[MethodScore, ...]
    detector: dict[str, object] | None = None
    detection_options: dict[str, object] | None = None

    @property
    def methods(self) -> tuple[MethodScore, ...]:
        """The tracker, then the baselines."""
        return (self.tracker, *self.baselines)

    def to_json(self) -> str:
        """The report as indented JSON; None becomes null and no NaN or infinity occurs."""
        return json.dumps(asdict(self), indent=2, allow_nan=False)


def evaluate(
    model: SAM2Model,
    sequences: Iterable[SceneSequence],
    *,
    prompt: PromptKind = "mask",
    tracker_options: TrackerOptions = TrackerOptions(),
    description: str = "SAM 2",
    on_sequence: Callable[[SceneSequence, Prediction], None] | None = None,
    progress: bool = True,
    detector: DetectorConfig | None = None,
    detection_options: DetectionOptions | None = None,
) -> Report:
    """Track every sequence with a fresh StreamingTracker and score it and the baselines.

    Args:
        model: the SAM 2 model; it is put in eval mode.
        sequences: held-out sequences, e.g. ``held_out_sequences(8)``; consumed lazily.
        prompt: "mask" (ground-truth mask of frame 0), "box" (its box) or "click" (one positive
            click on its most interior pixel).
        tracker_options: how the StreamingTracker tracks.
        description: what the report calls the tracker (e.g. model and checkpoint).
        on_sequence: called with each sequence and the tracker's prediction, e.g. to draw it.
        progress: show a tqdm bar over the sequences.
        detector: when given, the tracker is a DetectionTracker fed the simulated detector's
            boxes of each sequence (sam2core.data.detector), steered by ``detection_options``.
    """
    scores: dict[str, list[SequenceScore]] = {name: [] for name in (TRACKER, *(b.name for b in BASELINES))}
    seconds = 0.0
    bar = tqdm(sequences, desc="evaluate", unit="sequence", disable=not progress)
    for sequence in bar:
        prediction = track_sequence(
            model, sequence, prompt=prompt, tracker_options=tracker_options,
            detector=detector, detection_options=detection_options,
        )  # fmt: skip
        if on_sequence is not None:
            on_sequence(sequence, prediction)
        seconds += prediction.seconds
        scores[TRACKER].append(score_sequence(prediction, sequence))
        for baseline in BASELINES:
            scores[baseline.name].append(score_sequence(baseline.predict(sequence), sequence))
        bar.set_postfix({name: f"{method[-1].jf:.3f}" for name, method in scores.items()})
    frames = sum(score.num_frames for score in scores[TRACKER])
    return Report(
        prompt=prompt,
        tracker_options=tracker_options,
        detector=None if detector is None else asdict(detector),
        detection_options=None if detector is None else asdict(detection_options or DetectionOptions()),
        tracker=summarize(
            scores[TRACKER], name=TRACKER, description=description, frames_per_second=frames / max(seconds, 1e-9)
        ),
        baselines=tuple(
            summarize(
                scores[baseline.name], name=baseline.name, description=baseline.description, frames_per_second=None
            )
            for baseline in BASELINES
        ),
    )


def quick_score(model: SAM2Model, *, n_sequences: int = 4, num_frames: int = 24) -> dict[str, float]:
    """Mean J&F and visibility accuracy on the first ``n_sequences`` held-out sequences cut to
    ``num_frames`` frames, mask-prompted, in float32 (the same score on every CPU): a few seconds,
    for a trainer's ``evaluate`` hook."""
    config = replace(BENCHMARK, num_frames=num_frames)
    scores = [
        score_sequence(track_sequence(model, sequence, prompt="mask", tracker_options=FLOAT32), sequence)
        for sequence in held_out_sequences(n_sequences, config=config)
    ]
    summary = summarize(scores, name=TRACKER, description="quick score", frames_per_second=None)
    return {"jf": summary.jf, "visibility_accuracy": summary.visibility_accuracy}


def track_sequence(
    model: SAM2Model,
    sequence: SceneSequence,
    *,
    prompt: PromptKind,
    tracker_options: TrackerOptions,
    detector: DetectorConfig | None = None,
    detection_options: DetectionOptions | None = None,
) -> Prediction:
    """Run a fresh tracker over ``sequence``, every target prompted on frame 0; with ``detector``,
    a DetectionTracker given the simulated detector's boxes (the detector's time not counted)."""
    tracker = DetectionTracker.from_model(model, detection_options, tracker_options)
    detections = simulate_detections(sequence, detector) if detector is not None else [None] * len(sequence.frames)
    masks = np.zeros(sequence.masks.shape, bool)
    visible = np.zeros(sequence.visibility.shape, bool)
    seconds = 0.0
    for index, frame in enumerate(sequence.frames):
        prompts = first_frame_prompts(sequence, kind=prompt) if index == 0 else None
        started = time.perf_counter()
        result = tracker.track(frame, detections[index], prompts)
        for k, object_id in enumerate(sequence.object_ids):
            masks[index, k] = result.objects[object_id].mask.cpu().numpy()
            visible[index, k] = result.objects[object_id].visible
        seconds += time.perf_counter() - started
    return Prediction(masks=masks, visible=visible, seconds=seconds)


def tracker_options_from_text(text: str) -> TrackerOptions:
    """TrackerOptions from "name=value,name=value" (its fields, read by parse_settings), in float32
    unless `text` gives a precision: scores the same on every CPU. Raises ValueError for an
    unknown name, a bad value, or options TrackerOptions rejects."""
    return parse_settings(TrackerOptions, "precision=float32," + text)


def first_frame_baseline(sequence: SceneSequence) -> Prediction:
    """Every frame predicts each target's frame-0 mask, always visible."""
    masks = np.broadcast_to(sequence.masks[:1], sequence.masks.shape)
    return Prediction(masks=masks, visible=np.ones(sequence.visibility.shape, bool), seconds=None)


def empty_baseline(sequence: SceneSequence) -> Prediction:
    """Every frame predicts an empty mask, never visible."""
    masks = np.broadcast_to(False, sequence.masks.shape)
    return Prediction(masks=masks, visible=np.zeros(sequence.visibility.shape, bool), seconds=None)


@dataclass(frozen=True)
class Baseline:
    """A method that does no tracking, scored as the tracker is."""

    name: str
    description: str
    predict: Callable[[SceneSequence], Prediction]


BASELINES: tuple[Baseline, ...] = (
    Baseline(name="still", description="first-frame mask held still, always visible", predict=first_frame_baseline),
    Baseline(name="empty", description="empty mask, never visible", predict=empty_baseline),
)


def first_frame_prompts(sequence: SceneSequence, *, kind: PromptKind) -> dict[int, Prompt]:
    """Object id -> Prompt of ``kind`` built from each target's ground-truth mask on frame 0."""
    prompts = {}
    for object_id, mask in zip(sequence.object_ids, sequence.masks[0]):
        if kind == "mask":
            prompts[object_id] = Prompt(mask=mask)
        elif kind == "box":
            ys, xs = np.nonzero(mask)
            prompts[object_id] = Prompt(box=(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        elif kind == "click":
            prompts[object_id] = Prompt(points=most_interior_pixel(mask)[None], labels=np.array([POSITIVE]))
        else:
            raise ValueError(f"unknown prompt kind {kind!r}; expected one of {PROMPT_KINDS}")
    return prompts


def score_sequence(prediction: Prediction, sequence: SceneSequence) -> SequenceScore:
    """Score every target of ``sequence``; the means are over its targets."""
    objects = tuple(
        score_object(
            object_id=object_id,
            predicted_masks=prediction.masks[:, k],
            predicted_visible=prediction.visible[:, k],
            truth_masks=sequence.masks[:, k],
            truth_visible=sequence.visibility[:, k],
            hidden=sequence.hidden,
        )
        for k, object_id in enumerate(sequence.object_ids)
    )
    means = _means(objects)
    collapsed = collapses(
        predicted_masks=prediction.masks, predicted_visible=prediction.visible, full_masks=sequence.full_masks
    )
    return SequenceScore(
        seed=sequence.seed, num_frames=len(sequence.frames), objects=objects, collapses=collapsed, **means
    )


def summarize(
    sequences: list[SequenceScore], *, name: str, description: str, frames_per_second: float | None
) -> MethodScore:
    """A method's scores over ``sequences`` (at least one), averaged over all their objects."""
    if not sequences:
        raise ValueError("no sequence was scored")
    objects = [score for sequence in sequences for score in sequence.objects]
    events = [event for score in objects for event in score.recoveries]
    counts = [sequence.collapses for sequence in sequences]
    object_frames = sum(count.object_frames for count in counts)
    return MethodScore(
        name=name,
        description=description,
        sequences=tuple(sequences),
        recovery=tuple(recovery_stats(events, cause=cause) for cause in CAUSES),
        recovered_within_3=recovery_stats(events, cause=None).quickly_recovered,
        collapse_rate=sum(count.collapsed_object_frames for count in counts) / max(object_frames, 1),
        collapsed_pairs=sum(count.collapsed_pairs for count in counts),
        visible_pairs=sum(count.visible_pairs for count in counts),
        frames_per_second=frames_per_second,
        ms_per_frame=None if frames_per_second is None else 1000.0 / frames_per_second,
        **_means(objects),
    )


def _means(objects: Iterable[ObjectScore]) -> dict[str, float]:
    """Means over ``objects`` of j, f, jf and visibility_accuracy, keyed by those names."""
    objects = list(objects)
    keys = ("j", "f", "jf", "visibility_accuracy")
    return {key: float(np.mean([getattr(score, key) for score in objects])) for key in keys}
