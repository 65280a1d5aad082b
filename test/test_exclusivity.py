"""Objects competing for pixels (sam2core.tracking.exclusivity) on hand-built logits."""

from __future__ import annotations

import torch

from sam2core.tracking.exclusivity import (
    LOSER_LOGIT,
    Claims,
    TrackHealth,
    hidden_if_lost,
    owned_logits,
    track_health,
)


def square(top: int, left: int, side: int, value: float, size: int = 16) -> torch.Tensor:
    """(1, size, size) logits: `value` on a square, -5 elsewhere."""
    logits = torch.full((1, size, size), -5.0)
    logits[0, top : top + side, left : left + side] = value
    return logits


def test_each_pixel_keeps_a_positive_logit_for_its_highest_claim_only():
    first, second = square(0, 0, 8, 3.0), square(4, 4, 8, 5.0)  # overlap on rows/columns 4..7
    owned = owned_logits(Claims(torch.stack([first, second]), prompted=torch.tensor([False, False])))
    assert ((owned > 0).sum(dim=0) <= 1).all()
    assert torch.equal(owned[1].clamp(min=0), second.clamp(min=0)), "the higher claim keeps its mask"
    overlap = (first > 0) & (second > 0)
    assert (owned[0][overlap] <= LOSER_LOGIT).all()
    alone = (first > 0) & ~overlap
    assert (owned[0][alone] == first[alone]).all(), "pixels no one else claims are untouched"


def test_an_object_prompted_on_the_frame_wins_its_pixels():
    tracked, prompted = square(0, 0, 8, 9.0), square(4, 4, 8, 1.0)
    owned = owned_logits(Claims(torch.stack([tracked, prompted]), prompted=torch.tensor([False, True])))
    assert torch.equal(owned[1].clamp(min=0), prompted.clamp(min=0))
    assert (owned[0, 0, 4:8, 4:8] <= LOSER_LOGIT).all() and (owned[0, 0, :4, :4] == 9.0).all()


def test_hidden_objects_do_not_compete():
    visible, hidden = square(0, 0, 8, 2.0), torch.full((1, 16, 16), -1024.0)
    owned = owned_logits(Claims(torch.stack([hidden, visible]), prompted=torch.tensor([False, False])))
    assert torch.equal(owned[1].clamp(min=0), visible.clamp(min=0))


def test_a_track_left_with_less_than_the_fraction_of_its_mask_is_lost_to_the_other():
    winner, loser, apart = square(0, 0, 8, 5.0), square(2, 2, 8, 3.0), square(10, 10, 6, 1.0)  # loser keeps 24 of 64
    keeper = square(6, 0, 4, 4.0)  # keeps 8 of its 16 pixels against the winner
    before = torch.stack([winner, loser, apart, keeper])
    after = owned_logits(Claims(before, prompted=torch.zeros(4, dtype=torch.bool)))
    health = track_health(before, after, torch.tensor([True, True, True, True]), min_kept_fraction=0.5)
    assert health == [TrackHealth.TRACKED, TrackHealth.LOST_TO_OTHER, TrackHealth.TRACKED, TrackHealth.TRACKED]
    not_visible = track_health(before, after, torch.tensor([True, False, True, True]), min_kept_fraction=0.5)
    assert not_visible[1] is TrackHealth.TRACKED, "an object already hidden is not lost to another"
    published = hidden_if_lost(after, health)
    assert not (published[1] > 0).any(), "a lost track publishes no pixel"
    assert torch.equal(published[[0, 2, 3]], after[[0, 2, 3]])
