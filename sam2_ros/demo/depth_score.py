"""3D positions and visibility reasons scored against a synthetic camera's truth: what the demo
report and benchmarks/depth_accuracy.py print."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sam2core.locating import VisibilityReason


@dataclass
class DepthScore:
    """3D positions and visibility reasons against the ground truth, object-frame by object-frame.

    Position error counts the object-frames truly visible that were measured: |z - true z| / true z
    (depth error) and |position - true position| / true z. Reason accuracy counts every object-frame
    with a true cause (sam2core.data.depth.visibility_causes).
    """

    depth_errors: list[float] = field(default_factory=list)
    position_errors: list[float] = field(default_factory=list)
    visible_unmeasured: int = 0
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)  # (true, said) -> count

    def add(
        self, true_position: np.ndarray, true_cause: str, reason: VisibilityReason, position: np.ndarray | None
    ) -> None:
        """One object-frame: its true (3,) position (NaN when hidden) and cause, and what was
        said: the reason and the (3,) position, None when not measured."""
        said = reason.name.lower()
        self.confusion[true_cause, said] = self.confusion.get((true_cause, said), 0) + 1
        if true_cause != "visible":
            return
        if position is None:
            self.visible_unmeasured += 1
            return
        true_z = float(true_position[2])
        self.depth_errors.append(abs(float(position[2]) - true_z) / true_z)
        self.position_errors.append(float(np.linalg.norm(position - true_position)) / true_z)

    def summary(self) -> dict[str, object]:
        depth, position = np.array(self.depth_errors), np.array(self.position_errors)
        total = sum(self.confusion.values())
        right = sum(count for (truth, said), count in self.confusion.items() if truth == said)
        return {
            "measured_visible": len(depth),
            "visible_unmeasured": self.visible_unmeasured,
            "depth_error_median_pct": _percent(np.median, depth),
            "depth_error_p95_pct": _percent(lambda e: np.percentile(e, 95), depth),
            "depth_within_2pct": float(np.mean(depth <= 0.02)) if len(depth) else None,
            "position_error_median_pct": _percent(np.median, position),
            "position_within_2pct": float(np.mean(position <= 0.02)) if len(position) else None,
            "reason_accuracy": right / total if total else None,
            "reason_object_frames": total,
            "reason_confusion": {f"{truth}->{said}": count for (truth, said), count in sorted(self.confusion.items())},
        }


def _percent(statistic, errors: np.ndarray) -> float | None:
    return 100.0 * float(statistic(errors)) if len(errors) else None
