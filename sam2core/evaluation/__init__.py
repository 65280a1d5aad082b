"""Evaluation of tracking on held-out synthetic videos: DAVIS metrics, visibility, recovery.

``python -m sam2core.evaluation --help`` runs the benchmark from the command line;
:func:`quick_score` is the small version a trainer calls every few hundred steps;
``python -m sam2core.evaluation.compare A B`` compares two runs sequence by sequence.
"""

from sam2core.evaluation.benchmark import (
    BASELINES,
    PROMPT_KINDS,
    TRACKER,
    Baseline,
    MethodScore,
    Prediction,
    Report,
    SequenceScore,
    empty_baseline,
    evaluate,
    first_frame_baseline,
    quick_score,
)
from sam2core.evaluation.metrics import (
    ObjectScore,
    Recovery,
    RecoveryStats,
    boundary_f_measure,
    region_similarity,
    score_object,
)

__all__ = [
    "BASELINES",
    "PROMPT_KINDS",
    "TRACKER",
    "Baseline",
    "MethodScore",
    "ObjectScore",
    "Prediction",
    "Recovery",
    "RecoveryStats",
    "Report",
    "SequenceScore",
    "boundary_f_measure",
    "empty_baseline",
    "evaluate",
    "first_frame_baseline",
    "quick_score",
    "region_similarity",
    "score_object",
]
