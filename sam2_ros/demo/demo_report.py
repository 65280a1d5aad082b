"""What the demo recorded, scored against the ground truth and summarised.

No ROS here: sam2_ros.demo.demo turns the node's messages into Observations and fills a Recording.
Each sequence is scored with the benchmark's own functions (sam2core.evaluation), next to its
"still" baseline (the frame-0 mask held still), so the figures compare with
`python -m sam2core.evaluation`. A frame the node dropped keeps the last result, in the scores as
in the video (sam2_ros.demo.demo_video): that is what a robot reading `tracked_objects` would have had.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from sam2_ros.demo.depth_score import DepthScore
from sam2core.data import SceneSequence
from sam2core.data.depth import visibility_causes
from sam2core.evaluation import TRACKER, MethodScore, Prediction, SequenceScore, first_frame_baseline
from sam2core.evaluation.benchmark import PromptKind, score_sequence, summarize
from sam2core.locating import VisibilityReason

Box = tuple[int, int, int, int]  # XYXY pixels, x1 and y1 inclusive


@dataclass(frozen=True)
class Observation:
    """One object in one of the node's answers: (H, W) bool mask, visible flag, visibility, box,
    and with depth its (3,) position (None when not measured) and visibility reason."""

    mask: np.ndarray
    visible: bool
    visibility: float
    box: Box | None
    position: np.ndarray | None = None
    reason: VisibilityReason = VisibilityReason.NO_DEPTH


@dataclass
class Clip:
    """One sequence as the camera played it: each frame's stamp, and the objects the node
    returned for the prompts on frame 0."""

    sequence: SceneSequence
    stamps: list[int] = field(default_factory=list)
    prompted: dict[int, Observation] = field(default_factory=dict)


@dataclass
class Recording:
    """Everything the demo heard, in nanoseconds: the frames the camera published (from its
    ground truth), the node's results by image stamp and when each result came."""

    sequences: list[SceneSequence]
    clips: list[Clip] = field(default_factory=list)
    results: dict[int, dict[int, Observation]] = field(default_factory=dict)
    received: dict[int, int] = field(default_factory=dict)

    def add_frame(self, stamp_ns: int, frame_index: int) -> Clip:
        """Note a published frame; frame 0 opens the next sequence. Its clip."""
        if frame_index == 0 and len(self.clips) < len(self.sequences):
            self.clips.append(Clip(self.sequences[len(self.clips)]))
        if not self.clips or frame_index != len(self.clips[-1].stamps):
            raise ValueError(f"the camera's ground truth went out of order at frame {frame_index}")
        self.clips[-1].stamps.append(stamp_ns)
        return self.clips[-1]

    def add_result(self, stamp_ns: int, objects: dict[int, Observation], received_ns: int) -> None:
        self.results[stamp_ns] = objects
        self.received[stamp_ns] = received_ns

    @property
    def unmatched_results(self) -> int:
        """Results whose stamp is no published frame's (0 unless something else feeds the node)."""
        return len(set(self.results).difference(*(clip.stamps for clip in self.clips)))

    @property
    def complete(self) -> bool:
        """Every frame of every sequence was published and the last one answered."""
        played = sum(len(clip.stamps) for clip in self.clips)
        expected = sum(len(sequence.frames) for sequence in self.sequences)
        return played == expected and self.clips[-1].stamps[-1] in self.results


@dataclass(frozen=True)
class FrameView:
    """The node's answer for one published frame: its objects, the frame they were computed on
    (an earlier one when the node dropped this frame) and the latency (None when dropped)."""

    objects: dict[int, Observation]
    source_frame: int
    latency: float | None


@dataclass(frozen=True)
class ClipScore:
    """One played sequence: per-frame views, the tracker's and the still baseline's scores."""

    clip: Clip
    views: list[FrameView]
    tracker: SequenceScore
    still: SequenceScore

    @property
    def latencies(self) -> list[float]:
        return [view.latency for view in self.views if view.latency is not None]


def score_recording(recording: Recording) -> list[ClipScore]:
    """Score every played sequence of a complete recording."""
    scores = []
    for clip in recording.clips:
        views = frame_views(clip, recording)
        tracker = score_sequence(prediction(clip.sequence, views), clip.sequence)
        still = score_sequence(first_frame_baseline(clip.sequence), clip.sequence)
        scores.append(ClipScore(clip, views, tracker, still))
    return scores


def frame_views(clip: Clip, recording: Recording) -> list[FrameView]:
    """One FrameView per frame of `clip`: frame 0 shows the prompted objects, a dropped frame the
    last result before it."""
    views: list[FrameView] = []
    for index, stamp in enumerate(clip.stamps):
        latency = (recording.received[stamp] - stamp) / 1e9 if stamp in recording.results else None
        if index == 0:
            views.append(FrameView(clip.prompted, 0, latency))
        elif latency is None:
            views.append(dataclasses.replace(views[-1], latency=None))
        else:
            views.append(FrameView(recording.results[stamp], index, latency))
    return views


def prediction(sequence: SceneSequence, views: list[FrameView]) -> Prediction:
    """The views as the benchmark's Prediction of `sequence` (an object missing is empty, hidden)."""
    masks = np.zeros(sequence.masks.shape, bool)
    visible = np.zeros(sequence.visibility.shape, bool)
    for index, view in enumerate(views):
        for k, object_id in enumerate(sequence.object_ids):
            if object_id in view.objects:
                masks[index, k] = view.objects[object_id].mask
                visible[index, k] = view.objects[object_id].visible
    return Prediction(masks=masks, visible=visible, seconds=None)


def depth_score(scores: list[ClipScore]) -> dict[str, object]:
    """3D position error and visibility-reason accuracy of the node's answers (frames 1.., those
    it processed) against the camera's truth (sam2_ros.demo.depth_score.DepthScore)."""
    score = DepthScore()
    for clip_score in scores:
        sequence = clip_score.clip.sequence
        causes = visibility_causes(sequence.visibility, sequence.hidden, sequence.object_ids)
        for index, view in enumerate(clip_score.views[1:], start=1):
            if view.latency is None:
                continue
            for k, object_id in enumerate(sequence.object_ids):
                found = view.objects.get(object_id)
                if found is not None:
                    score.add(sequence.positions[index, k], causes[index, k], found.reason, found.position)
    return score.summary()


# ----------------------------------------------------------------------------- summary


def summary(scores: list[ClipScore], *, model: str, checkpoint: str, prompt: PromptKind, rate: float) -> dict:
    """The figures of a run as a JSON-ready dict: overall, the still baseline, per sequence."""
    latencies = [latency for score in scores for latency in score.latencies]
    tracker = summarize([s.tracker for s in scores], name=TRACKER, description=model,
                        frames_per_second=_tracking_rate(scores))  # fmt: skip
    still = summarize([s.still for s in scores], name="still", description="", frames_per_second=None)
    return {
        "model": model,
        "checkpoint": checkpoint,
        "prompt": prompt,
        "camera_rate_hz": rate,
        "overall": {
            **_accuracy(tracker),
            **_frame_counts([view for score in scores for view in score.views], latencies),
            "tracker_fps": tracker.frames_per_second,
        },
        "still_baseline": _accuracy(still),
        "depth": depth_score(scores),
        "sequences": [
            {
                "seed": score.tracker.seed,
                "objects": len(score.tracker.objects),
                **_accuracy(score.tracker),
                "still_jf": score.still.jf,
                **_frame_counts(score.views, score.latencies),
            }
            for score in scores
        ],
    }


def _accuracy(score: SequenceScore | MethodScore) -> dict[str, float]:
    """J&F, J, F and visibility accuracy of a SequenceScore or MethodScore."""
    return {"jf": score.jf, "j": score.j, "f": score.f, "visibility_accuracy": score.visibility_accuracy}


def _frame_counts(views: list[FrameView], latencies: list[float]) -> dict[str, float | int]:
    milliseconds = np.array(latencies) * 1000.0
    return {
        "frames_published": len(views),
        "frames_processed": len(latencies),
        "latency_mean_ms": float(milliseconds.mean()) if len(milliseconds) else None,
        "latency_p95_ms": float(np.percentile(milliseconds, 95)) if len(milliseconds) else None,
    }


def _tracking_rate(scores: list[ClipScore]) -> float | None:
    """Results per second while the sequences streamed: the results on frames 1.. over the time
    from frame 1's stamp to the receipt of the last of them (the first frame's hold left out)."""
    frames, seconds = 0, 0.0
    for score in scores:
        stamps, views = score.clip.stamps, score.views
        answered = [(stamp, view.latency) for stamp, view in zip(stamps[1:], views[1:]) if view.latency is not None]
        if answered:
            last_stamp, last_latency = answered[-1]
            frames += len(answered)
            seconds += (last_stamp - stamps[1]) / 1e9 + last_latency
    return frames / seconds if seconds > 0 else None


def format_summary(figures: dict) -> str:
    """The summary as short tables for the terminal: the run, then the run with the simulated
    detector when there is one, and both overall J&F side by side."""
    if "with_detector" not in figures:
        return _format_run(figures)
    helped = figures["with_detector"]
    return "\n".join([
        _format_run(figures), "", "with the simulated detector's boxes:", _format_run(helped), "",
        f"J&F overall: {figures['overall']['jf']:.3f} without the detector, {helped['overall']['jf']:.3f} with it",
    ])  # fmt: skip


def _format_run(figures: dict) -> str:
    """One run's summary as a short table."""
    columns = "{:>10}  {:>7}  {:>9}  {:>5}  {:>9}  {:>7}  {:>19}"
    header = columns.format("sequence", "objects", "processed", "J&F", "still J&F", "vis acc", "latency mean/p95 ms")
    rows = [_row(columns, str(s["seed"]), s["objects"], s, s["still_jf"]) for s in figures["sequences"]]
    objects = sum(s["objects"] for s in figures["sequences"])
    total = _row(columns, "all", objects, figures["overall"], figures["still_baseline"]["jf"])
    rule = "-" * len(header)
    return "\n".join([
        f"demo: {figures['model']} ({figures['checkpoint']}), every target prompted on frame 0 with its true "
        f"{figures['prompt']}" + (f"; simulated detector: {figures['detector']}" if figures.get("detector") else ""),
        header, rule, *rows, rule, total,
        "processed: images answered of those published; still: the frame-0 mask held still, always visible",
        f"tracker: {figures['overall']['tracker_fps']:.1f} results/s, "
        f"the camera at {figures['camera_rate_hz']:g} images/s",
        _depth_line(figures["depth"]),
        *([_detections_line(figures["node_detection_counts"])] if figures.get("detector") else []),
    ])  # fmt: skip


def _detections_line(counts: dict[str, int]) -> str:
    if not counts:
        return "detections: the node reported no counts"
    return (
        f"detections (as the node last reported them): {counts['detections_received']} received in "
        f"{counts['detection_arrays_paired']} arrays paired with images, {counts['detections_matched']} matched to an "
        f"object, {counts['detections_reprompted']} re-prompted one, {counts['detections_rejected']} rejected"
    )


def _depth_line(depth: dict) -> str:
    if not depth["measured_visible"]:
        return f"depth: no visible object measured; visibility reasons right on {depth['reason_accuracy']:.0%}"
    return (
        f"depth: 3D position of visible objects within 2% of the true depth on {depth['depth_within_2pct']:.0%} "
        f"of {depth['measured_visible']} (depth error median {depth['depth_error_median_pct']:.1f}%); "
        f"visibility reasons right on {depth['reason_accuracy']:.0%} of {depth['reason_object_frames']} object-frames"
    )


def _row(columns: str, name: str, objects: int, figures: dict, still_jf: float) -> str:
    processed = f"{figures['frames_processed']}/{figures['frames_published']}"
    latency = f"{figures['latency_mean_ms']:.0f} / {figures['latency_p95_ms']:.0f}"
    return columns.format(name, objects, processed, f"{figures['jf']:.3f}", f"{still_jf:.3f}",
                          f"{figures['visibility_accuracy']:.2f}", latency)  # fmt: skip
