"""Training losses of SAM 2, normalised per object so that small objects count as much as big ones.

Each prediction is scored against the object's true mask at the input resolution:
- mask: cross-entropy averaged over each object's pixels + dice (the dice term is what keeps a
  small object from being dropped for a cheap all-background answer), optionally class-balanced
  cross-entropy (object and background pixels weigh half each) or SAM 2's sigmoid focal loss, on
  the candidate of lowest loss when there are several (SAM's multimask training: only the best
  candidate is pushed towards the target);
- IoU: L1 between every candidate's predicted IoU and its real IoU, so the IoU head learns to
  rank candidates, the best one included;
- object score: binary cross-entropy against "the object is visible".
Mask and IoU terms only count where the object is visible: an absent object has no mask to match.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms. The defaults suit training from scratch (class-balanced
    cross-entropy, BALANCED, made a small model paint objects far too large); SAM2_FINE_TUNING
    is SAM 2's own recipe, for starting from one of Meta's checkpoints."""

    bce: float = 1.0
    balanced_bce: float = 0.0
    focal: float = 0.0
    dice: float = 1.0
    iou: float = 1.0
    object_score: float = 1.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0


BALANCED = LossWeights(bce=0.0, balanced_bce=1.0)
SAM2_FINE_TUNING = LossWeights(bce=0.0, focal=20.0)


TERMS = ("total", "bce", "balanced_bce", "focal", "dice", "iou", "object_score")


@dataclass(frozen=True)
class LossTerms:
    """Mean over objects of each term (visible objects only for mask and IoU terms)."""

    total: torch.Tensor
    bce: torch.Tensor
    balanced_bce: torch.Tensor
    focal: torch.Tensor
    dice: torch.Tensor
    iou: torch.Tensor
    object_score: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {name: float(getattr(self, name).detach()) for name in TERMS}


def bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, M) mean cross-entropy over pixels of each candidate. logits (B, M, H, W), targets (B, 1, H, W)."""
    cross_entropy = F.binary_cross_entropy_with_logits(logits, targets.expand_as(logits), reduction="none")
    return cross_entropy.flatten(2).mean(-1)


def balanced_bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, M) cross-entropy of each candidate, object and background pixels weighted half each.
    logits (B, M, H, W), targets (B, 1, H, W); a target without object pixels is all background."""
    targets = targets.expand_as(logits)
    cross_entropy = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten(2)
    targets = targets.flatten(2)
    object_pixels = targets.sum(-1)
    background_pixels = (1 - targets).sum(-1)
    on_object = (cross_entropy * targets).sum(-1) / object_pixels.clamp(min=1)
    on_background = (cross_entropy * (1 - targets)).sum(-1) / background_pixels.clamp(min=1)
    return torch.where(object_pixels > 0, 0.5 * (on_object + on_background), on_background)


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    """(B, M) mean focal loss over pixels of each candidate. logits (B, M, H, W), targets (B, 1, H, W)."""
    targets = targets.expand_as(logits)
    probabilities = logits.sigmoid()
    cross_entropy = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_true = probabilities * targets + (1 - probabilities) * (1 - targets)
    loss = cross_entropy * (1 - p_true) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return loss.flatten(2).mean(-1)


def dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, M) soft dice loss of each candidate. logits (B, M, H, W), targets (B, 1, H, W)."""
    probabilities = logits.sigmoid().flatten(2)
    targets = targets.flatten(2)
    overlap = 2 * (probabilities * targets).sum(-1)
    total = probabilities.sum(-1) + targets.sum(-1)
    return 1 - (overlap + 1) / (total + 1)


def mask_iou(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, M) IoU of each candidate's binary mask with the target. Empty vs empty counts as 1."""
    predicted = (logits > 0).flatten(2)
    targets = targets.bool().flatten(2)
    intersection = (predicted & targets).sum(-1).float()
    union = (predicted | targets).sum(-1).float()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


def segmentation_loss(
    multimask_logits: torch.Tensor,
    multimask_iou: torch.Tensor,
    object_score_logits: torch.Tensor,
    target_masks: torch.Tensor,
    visible: torch.Tensor,
    weights: LossWeights,
) -> LossTerms:
    """Loss of one decoding of B objects.

    multimask_logits: (B, M, h, w) candidates before the no-object gate; multimask_iou (B, M);
    object_score_logits (B, 1); target_masks (B, 1, h, w) float 0/1; visible (B,) bool.
    """
    bce = bce_loss(multimask_logits, target_masks)
    balanced_bce = balanced_bce_loss(multimask_logits, target_masks)
    focal = sigmoid_focal_loss(multimask_logits, target_masks, weights.focal_alpha, weights.focal_gamma)
    dice = dice_loss(multimask_logits, target_masks)
    mask_loss = (
        weights.bce * bce + weights.balanced_bce * balanced_bce + weights.focal * focal + weights.dice * dice
    )  # (B, M)
    best = mask_loss.argmin(dim=1, keepdim=True)
    real_iou = mask_iou(multimask_logits.detach(), target_masks)
    iou_loss = F.l1_loss(multimask_iou.float(), real_iou, reduction="none").mean(dim=1)
    score_loss = F.binary_cross_entropy_with_logits(
        object_score_logits.float().squeeze(1), visible.float(), reduction="none"
    )
    shown = visible.float()
    count = shown.sum().clamp(min=1)

    def visible_mean(per_object: torch.Tensor) -> torch.Tensor:
        return (per_object * shown).sum() / count

    terms = dict(
        bce=visible_mean(bce.gather(1, best).squeeze(1)),
        balanced_bce=visible_mean(balanced_bce.gather(1, best).squeeze(1)),
        focal=visible_mean(focal.gather(1, best).squeeze(1)),
        dice=visible_mean(dice.gather(1, best).squeeze(1)),
        iou=visible_mean(iou_loss),
        object_score=score_loss.mean(),
    )
    total = (
        weights.bce * terms["bce"]
        + weights.balanced_bce * terms["balanced_bce"]
        + weights.focal * terms["focal"]
        + weights.dice * terms["dice"]
        + weights.iou * terms["iou"]
        + weights.object_score * terms["object_score"]
    )
    return LossTerms(total=total, **terms)
