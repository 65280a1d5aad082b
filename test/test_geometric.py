"""Tests of the geometric scene family: determinism, its splits, its events and shapes (its ground
truth is checked with the other families' in test_families.py)."""

from dataclasses import replace

import numpy as np
import pytest

from sam2core.data import (
    GEOMETRIC_BENCHMARK,
    GEOMETRIC_HELD_OUT,
    GEOMETRIC_TRAIN,
    generate_geometric_sequence,
    geometric,
    procedural,
)

SHORT = replace(GEOMETRIC_BENCHMARK, height=160, width=192, num_frames=32)


def test_training_seeds_lie_beyond_every_held_out_one():
    assert GEOMETRIC_HELD_OUT.seeds.stop <= GEOMETRIC_TRAIN.seeds.start
    training = generate_geometric_sequence(seed=GEOMETRIC_TRAIN.seeds[0], config=SHORT)
    assert training.split == GEOMETRIC_TRAIN.name
    assert not np.array_equal(training.frames, generate_geometric_sequence(seed=0, config=SHORT).frames)
    for outside in (-1, GEOMETRIC_TRAIN.seeds.stop):
        with pytest.raises(ValueError, match="outside the geometric family's seeds"):
            generate_geometric_sequence(seed=outside)


@pytest.mark.parametrize("kind", geometric.OCCLUDERS)
def test_each_occluder_kind_hides_a_target(kind, monkeypatch):
    monkeypatch.setattr(geometric, "OCCLUDERS", (kind,))
    config = replace(GEOMETRIC_BENCHMARK, leave_prob=0.0)
    hidden = [generate_geometric_sequence(seed=seed, config=config).hidden for seed in range(3)]
    assert sum(any(i.cause == "occluded" for i in h) for h in hidden) >= 2, hidden


@pytest.mark.parametrize("kind", procedural.SHAPES)
def test_shapes_fit_their_disc(kind):
    alpha = procedural.shape_alpha(np.random.default_rng(0), kind=kind, radius=20.0)
    assert alpha.shape == (43, 43) and 0.0 <= alpha.min() and alpha.max() == 1.0
    ys, xs = np.nonzero(alpha >= 0.5)
    assert np.hypot(xs - 21, ys - 21).max() <= 21.0
    assert (alpha >= 0.5).sum() > 0.1 * np.pi * 20**2
