"""Objects compete for pixels: one owner per pixel, and the health of a track that loses its own.

SAM 2 tracks each object alone, so two tracks can settle on one object. SAM 2's non-overlap rule
gives every pixel to one object: the one with the highest mask logit there keeps its logit, the
others' are pushed below zero (to at most LOSER_LOGIT). An object prompted on the frame claims
the pixels of its prompt's mask before any tracked object does.

A visible track that keeps less than `min_kept_fraction` of its mask after the rule lost its
object to another track: its health is LOST_TO_OTHER, it is reported not visible with an empty
mask, and the tracker does not write its memory from that frame, so that its memory still holds
its own object and can find it again on a later frame (see docs/design/identity.md for the
measurement behind that choice).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch

# The logit given to pixels an object loses to another (SAM 2's value): far enough below zero
# that a mask encoded from it no longer covers them.
LOSER_LOGIT = -10.0
# Added to a prompted object's positive logits when pixels are shared out: above any logit the
# decoder produces, so the prompt's pixels go to the prompted object.
PROMPT_PRIORITY = 1.0e4


class TrackHealth(enum.Enum):
    """Whether a track holds its own object on a frame."""

    TRACKED = "tracked"  # its mask is its own (or it is simply not visible)
    LOST_TO_OTHER = "lost_to_other"  # other tracks took most of its mask: reported not visible


@dataclass(frozen=True)
class Claims:
    """Every object's mask logits on one frame, (N, 1, H, W), and which were prompted, (N,) bool."""

    logits: torch.Tensor
    prompted: torch.Tensor


def owned_logits(claims: Claims) -> torch.Tensor:
    """(N, 1, H, W) logits where each pixel keeps a positive logit for one object at most: the one
    with the highest claim (a prompted object's positive logits first); the others' logits
    there are clamped to at most LOSER_LOGIT. Ties go to the first object."""
    logits = claims.logits
    prompted = claims.prompted.view(-1, 1, 1, 1)
    claim = torch.where(prompted & (logits > 0), logits + PROMPT_PRIORITY, logits)
    owner = claim.argmax(dim=0, keepdim=True)  # (1, 1, H, W)
    objects = torch.arange(len(logits), device=logits.device).view(-1, 1, 1, 1)
    return torch.where(owner == objects, logits, logits.clamp(max=LOSER_LOGIT))


def track_health(
    before: torch.Tensor, after: torch.Tensor, visible: torch.Tensor, *, min_kept_fraction: float
) -> list[TrackHealth]:
    """Health of each of N objects from its (N, 1, H, W) logits `before` and `after` the pixels
    were shared out and its (N,) bool visibility: LOST_TO_OTHER for a visible object that keeps
    less than `min_kept_fraction` of its mask's area."""
    area_before = (before > 0).sum(dim=(1, 2, 3))  # (N,)
    area_after = (after > 0).sum(dim=(1, 2, 3))  # (N,)
    lost = visible & (area_after < min_kept_fraction * area_before)
    return [TrackHealth.LOST_TO_OTHER if flag else TrackHealth.TRACKED for flag in lost.tolist()]


def hidden_if_lost(logits: torch.Tensor, health: list[TrackHealth]) -> torch.Tensor:
    """(N, 1, H, W) logits with every pixel of a LOST_TO_OTHER object clamped to at most
    LOSER_LOGIT: what is left of its mask is not published."""
    lost = torch.tensor([h is TrackHealth.LOST_TO_OTHER for h in health], device=logits.device).view(-1, 1, 1, 1)
    return torch.where(lost, logits.clamp(max=LOSER_LOGIT), logits)
