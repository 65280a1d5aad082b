"""Motion-aware mask choice for one object (SAMURAI: Yang et al., 2024, "Adapting Segment
Anything Model for Zero-Shot Visual Tracking with Motion-Aware Memory").

SAM 2's decoder proposes several candidate masks on a tracked frame and keeps the one whose
predicted IoU is highest. Among similar objects the highest-IoU candidate is often a neighbour.
Here each object carries a constant-velocity Kalman filter on its box, as in SORT (Bewley et al.,
2016): once the object has been tracked steadily for a while, the candidate is chosen by a blend
of its predicted IoU and the overlap of its box with the box the filter expects.

Boxes are (x0, y0, x1, y1) in pixels of the model's input (S x S), x1 and y1 being the last
pixel inside (inclusive); an empty mask has the box (0, 0, 0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

Box = tuple[float, float, float, float]
EMPTY_BOX: Box = (0, 0, 0, 0)


@dataclass(frozen=True)
class MotionSettings:
    """Thresholds of the motion-aware choice and of the memory selection that goes with it.
    Defaults are SAMURAI's released settings."""

    # Weight of the motion IoU in a candidate's score; the predicted IoU gets 1 - weight.
    score_weight: float = 0.25
    # Frames the object must be tracked steadily before motion takes part in the choice;
    # until then the candidate with the highest predicted IoU is kept and the filter learns.
    stable_frames: int = 15
    # A kept candidate whose predicted IoU is at most this (below it, once motion takes part)
    # does not update the filter and restarts the steady count.
    stable_iou: float = 0.3
    # A tracked frame enters spatial memory (besides the previous frame, which always does) only
    # if its predicted IoU, object score logit and motion IoU all exceed these. The motion IoU
    # is in [0, 1]: a negative threshold leaves it out. Frames without a motion IoU (before
    # motion takes part) pass that test.
    memory_min_iou: float = 0.5
    memory_min_object_score: float = 0.0
    memory_min_motion_iou: float = 0.0
    # Tracked frames searched back for frames that pass, counted from the current frame.
    # SAMURAI's reference searches the whole past; the two agree while the frames it picks lie
    # within this window. Costs a few hundred bytes per frame and object (scores, pointer);
    # memory features are kept only for the frames that can still be picked.
    memory_window: int = 300

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_weight <= 1.0:
            raise ValueError(f"score_weight must be in [0, 1], got {self.score_weight}")
        if self.stable_frames < 1:
            raise ValueError(f"stable_frames must be at least 1, got {self.stable_frames}")
        if self.memory_window < 2:
            raise ValueError(f"memory_window must be at least 2, got {self.memory_window}")


@dataclass(frozen=True)
class BoxEstimate:
    """A Kalman filter's belief about a box.

    mean: (8,) float64 (cx, cy, aspect, height, and their velocities per frame): centre and
        height in input pixels, aspect = width / height.
    covariance: (8, 8) float64.
    """

    mean: np.ndarray
    covariance: np.ndarray

    @property
    def box(self) -> Box:
        """The (x0, y0, x1, y1) box of the mean."""
        cx, cy, aspect, height = self.mean[:4]
        half_width, half_height = aspect * height / 2, height / 2
        return (cx - half_width, cy - half_height, cx + half_width, cy + half_height)


class BoxKalmanFilter:
    """Constant-velocity Kalman filter on (cx, cy, aspect, height), one step per frame.

    Noise scales with the box height, as in SORT / DeepSORT: position noise 1/20 of the height,
    velocity noise 1/160; the aspect ratio gets small fixed noise.
    """

    POSITION_WEIGHT = 1 / 20
    VELOCITY_WEIGHT = 1 / 160

    def __init__(self) -> None:
        self.transition = np.eye(8)  # x' = x + v (one frame)
        self.transition[:4, 4:] = np.eye(4)
        self.observation = np.eye(4, 8)  # the box part of the state is measured

    def start(self, box: Box) -> BoxEstimate:
        """A belief from a first box: at rest, uncertain in proportion to its height."""
        measured = measurement(box)
        height = measured[3]
        p, v = self.POSITION_WEIGHT * height, self.VELOCITY_WEIGHT * height
        std = np.array([2 * p, 2 * p, 1e-2, 2 * p, 10 * v, 10 * v, 1e-5, 10 * v])
        return BoxEstimate(np.concatenate([measured, np.zeros(4)]), np.diag(std**2))

    def predict(self, estimate: BoxEstimate) -> BoxEstimate:
        """The belief one frame later."""
        height = estimate.mean[3]
        p, v = self.POSITION_WEIGHT * height, self.VELOCITY_WEIGHT * height
        process_noise = np.diag(np.array([p, p, 1e-2, p, v, v, 1e-5, v]) ** 2)
        mean = self.transition @ estimate.mean
        covariance = self.transition @ estimate.covariance @ self.transition.T + process_noise
        return BoxEstimate(mean, covariance)

    def update(self, estimate: BoxEstimate, box: Box) -> BoxEstimate:
        """The belief corrected by a measured box."""
        p = self.POSITION_WEIGHT * estimate.mean[3]
        measurement_noise = np.diag(np.array([p, p, 1e-1, p]) ** 2)
        projected = self.observation @ estimate.mean  # (4,)
        innovation_cov = self.observation @ estimate.covariance @ self.observation.T + measurement_noise
        # gain = P H^T S^-1, solved rather than inverted (S and P are symmetric)
        gain = np.linalg.solve(innovation_cov, self.observation @ estimate.covariance).T  # (8, 4)
        mean = estimate.mean + gain @ (measurement(box) - projected)
        covariance = estimate.covariance - gain @ innovation_cov @ gain.T
        return BoxEstimate(mean, covariance)


def measurement(box: Box) -> np.ndarray:
    """(4,) (cx, cy, aspect, height) of a box; a box of height 0 counts as height 1."""
    x0, y0, x1, y1 = box
    height = (y1 - y0) or 1
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / height, height], dtype=np.float64)


def box_iou(expected: Box, candidate: Box) -> float:
    """IoU of two boxes, their areas taken as (x1 - x0) * (y1 - y0); 0 for an empty candidate."""
    if tuple(candidate) == EMPTY_BOX:
        return 0.0
    overlap_w = max(0.0, min(expected[2], candidate[2]) - max(expected[0], candidate[0]))
    overlap_h = max(0.0, min(expected[3], candidate[3]) - max(expected[1], candidate[1]))
    intersection = overlap_w * overlap_h
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    union = area(expected) + area(candidate) - intersection
    return intersection / union if union != 0 else 0.0


def candidate_boxes(low_res_multimasks: torch.Tensor, image_size: int) -> list[list[Box]]:
    """Boxes of each object's candidate masks (B, M, S/4, S/4), measured on the masks upsampled
    to the input size (S, S) as SAM 2 upsamples them: B lists of M boxes."""
    boxes = []
    pixels = torch.arange(image_size, device=low_res_multimasks.device)
    for candidates in low_res_multimasks.float():  # (M, S/4, S/4), one object at a time
        masks = (
            F.interpolate(candidates[:, None], size=(image_size,) * 2, mode="bilinear", align_corners=False)[:, 0] > 0
        )
        columns, rows = masks.any(dim=1), masks.any(dim=2)  # (M, S) each
        corners = torch.stack(
            [
                torch.where(columns, pixels, image_size).amin(dim=1),
                torch.where(rows, pixels, image_size).amin(dim=1),
                torch.where(columns, pixels, -1).amax(dim=1),
                torch.where(rows, pixels, -1).amax(dim=1),
            ],
            dim=1,
        )  # (M, 4)
        empty = ~columns.any(dim=1)
        corners[empty] = 0
        boxes.append([tuple(int(c) for c in box) for box in corners.cpu().tolist()])
    return boxes


def candidate_scores(motion_iou: torch.Tensor, predicted_iou: torch.Tensor, weight: float) -> torch.Tensor:
    """(M,) float32 score of each candidate: weight * motion IoU + (1 - weight) * predicted IoU."""
    return weight * motion_iou.float() + (1 - weight) * predicted_iou.float()


@dataclass(frozen=True)
class MotionTrack:
    """One object's motion state between frames: its filter's belief (None before its first
    tracked frame, or after a restart) and how many frames in a row it has been steady."""

    estimate: BoxEstimate | None = None
    steady_frames: int = 0


@dataclass(frozen=True)
class MotionChoice:
    """The candidate kept on one frame and what the memory selection needs to know of it.

    candidate: index among the decoder's M candidates.
    iou: its predicted IoU; motion_iou: its box's IoU with the filter's expected box, None while
        motion does not take part.
    track: the object's motion state after this frame.
    """

    candidate: int
    iou: float
    motion_iou: float | None
    track: MotionTrack


def choose_candidate(
    kalman: BoxKalmanFilter,
    track: MotionTrack,
    boxes: list[Box],
    predicted_iou: torch.Tensor,
    settings: MotionSettings,
) -> MotionChoice:
    """One object's choice among its M candidates (boxes and predicted_iou (M,)) on a frame.

    Not steady yet (fewer than `stable_frames` steady frames): the highest predicted IoU wins
    and the filter starts from, or is corrected by, its box. Steady: the filter's prediction
    scores the candidates (`candidate_scores`). A winner with a low predicted IoU restarts the
    steady count. With one candidate there is nothing to choose and the state stays.
    """
    predicted_iou = predicted_iou.float().cpu()
    if len(boxes) == 1:
        return MotionChoice(0, float(predicted_iou[0]), None, track)
    if track.estimate is None or track.steady_frames == 0:
        best = int(predicted_iou.argmax())
        return MotionChoice(best, float(predicted_iou[best]), None, MotionTrack(kalman.start(boxes[best]), 1))
    expected = kalman.predict(track.estimate)
    if track.steady_frames < settings.stable_frames:
        best = int(predicted_iou.argmax())
        iou = float(predicted_iou[best])
        if iou > settings.stable_iou:
            return MotionChoice(
                best, iou, None, MotionTrack(kalman.update(expected, boxes[best]), track.steady_frames + 1)
            )
        return MotionChoice(best, iou, None, MotionTrack(expected, 0))
    motion_iou = torch.tensor([box_iou(expected.box, box) for box in boxes], dtype=torch.float32)
    best = int(candidate_scores(motion_iou, predicted_iou, settings.score_weight).argmax())
    iou = float(predicted_iou[best])
    if iou < settings.stable_iou:
        next_track = MotionTrack(expected, 0)
    else:
        next_track = MotionTrack(kalman.update(expected, boxes[best]), track.steady_frames)
    return MotionChoice(best, iou, float(motion_iou[best]), next_track)
