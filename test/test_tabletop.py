"""Tests of the tabletop family's own events: the arm hides a target wholly, the camera looking
away takes a target out of view and back, a carried object hides what it passes over, a twin
is a target's exact copy. Its ground truth and determinism are checked with the other families'
in test_families.py."""

from dataclasses import replace

import numpy as np

from sam2core.data import TABLETOP_BENCHMARK, generate_tabletop_sequence, tabletop

ALONE = replace(TABLETOP_BENCHMARK, num_frames=40, carry_prob=0.0, occlusion_prob=0.0, leave_prob=0.0)


def test_the_arm_hides_a_target_wholly_and_withdraws():
    config = replace(ALONE, occlusion_prob=1.0)
    for seed in range(4):
        hidden = generate_tabletop_sequence(seed=seed, config=config).hidden
        assert any(i.cause == "occluded" and i.stop < config.num_frames for i in hidden), (seed, hidden)


def test_looking_away_takes_a_target_out_of_view_and_back():
    config = replace(ALONE, leave_prob=1.0)
    for seed in range(4):
        hidden = generate_tabletop_sequence(seed=seed, config=config).hidden
        assert any(i.cause == "out_of_view" and i.stop < config.num_frames for i in hidden), (seed, hidden)
        assert not any(i.cause == "occluded" for i in hidden)


def test_a_carried_object_hides_most_of_a_target_it_passes_over():
    """Pushed objects may bump into a target too, but rarely so far as to hide half of it."""
    carried = _half_hidden(replace(ALONE, carry_prob=1.0, clutter=(1, 1)))
    assert sum(carried) >= 3 and sum(carried) > sum(_half_hidden(replace(ALONE, clutter=(1, 1)))), carried


def _half_hidden(config: tabletop.TabletopConfig) -> list[bool]:
    """Whether, in seeds 0-3, a target in view ever shows less than half of itself."""
    hidden = []
    for seed in range(4):
        sequence = generate_tabletop_sequence(seed=seed, config=config)
        shown = sequence.masks.sum(axis=(2, 3)) / np.maximum(sequence.full_masks.sum(axis=(2, 3)), 1)  # (T, K)
        in_view = sequence.full_masks.sum(axis=(2, 3)) >= 200
        hidden.append(bool((shown[in_view] < 0.5).any()))
    return hidden


def test_a_twin_is_a_copy_of_a_target():
    config = replace(ALONE, twin_prob=1.0)
    for seed in range(4):
        _, solids, _, _ = tabletop._plan(np.random.default_rng(seed), config)
        targets = [solid for solid in solids if solid.object_id]
        twin = solids[len(targets)]
        assert twin.object_id == 0
        assert any(
            twin.kind == target.kind
            and np.array_equal(twin.outline, target.outline)
            and np.array_equal(twin.colour, target.colour)
            for target in targets
        )
