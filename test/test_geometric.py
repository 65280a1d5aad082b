"""Tests of the geometric scene family: determinism, ground truth against the frames, the
visibility rule, hidden intervals, its events, and the families the benchmark runs on."""

from dataclasses import replace

import numpy as np
import pytest

from sam2core.data import (
    FAMILIES,
    GEOMETRIC_BENCHMARK,
    GEOMETRIC_HELD_OUT,
    family,
    generate_geometric_sequence,
    geometric,
    procedural,
    synthetic,
)

SHORT = replace(GEOMETRIC_BENCHMARK, height=160, width=192, num_frames=32)


@pytest.fixture(scope="module")
def sequences():
    """Eight benchmark sequences, long enough for every event."""
    return [generate_geometric_sequence(seed=seed) for seed in range(8)]


def test_same_seed_gives_identical_sequences():
    first, again = (generate_geometric_sequence(seed=5, config=SHORT) for _ in range(2))
    for name in ("frames", "masks", "full_masks", "visibility"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert first.hidden == again.hidden
    assert not np.array_equal(first.frames, generate_geometric_sequence(seed=6, config=SHORT).frames)


def test_shapes_types_and_split():
    sequence = generate_geometric_sequence(seed=1, config=SHORT)
    count = len(sequence.object_ids)
    assert 1 <= count <= 3 and sequence.object_ids == tuple(range(1, count + 1))
    assert sequence.frames.shape == (32, 160, 192, 3) and sequence.frames.dtype == np.uint8
    assert sequence.masks.shape == sequence.full_masks.shape == (32, count, 160, 192)
    assert sequence.visibility.shape == (32, count)
    assert sequence.split == GEOMETRIC_HELD_OUT.name and sequence.photos == ()
    with pytest.raises(ValueError, match="outside the geometric family's seeds"):
        generate_geometric_sequence(seed=-1)


def test_visibility_rule_and_mask_consistency(sequences):
    for sequence in sequences:
        pixels = sequence.masks.sum(axis=(2, 3))
        assert np.all(pixels[sequence.visibility] >= synthetic.MIN_VISIBLE_PIXELS)
        assert np.all(pixels[~sequence.visibility] == 0)
        assert not np.any(sequence.masks & ~sequence.full_masks)
        assert sequence.masks.sum(axis=1).max() <= 1  # no pixel belongs to two targets
        first = sequence.masks[0].sum(axis=(1, 2))
        assert np.all(first >= geometric.FIRST_FRAME_MIN_VISIBLE * sequence.full_masks[0].sum(axis=(1, 2)))


def test_masks_are_where_the_frames_show_the_targets(sequences):
    """Against the frames themselves: a visible target's pixels differ from the background's
    around them (the figures are textured but stand out), and an occluder sweeping over a
    target changes the pixels there."""
    for sequence in sequences[:4]:
        for t, k in zip(*np.nonzero(sequence.visibility)):
            mask = sequence.masks[t, k]
            if mask.sum() < 200:
                continue
            ring = _dilate(mask, 6) & ~_dilate(mask, 2) & ~sequence.full_masks[t].any(axis=0)
            inside, outside = sequence.frames[t][mask].mean(axis=0), sequence.frames[t][ring].mean(axis=0)
            spread = sequence.frames[t][ring].std(axis=0).mean()
            assert np.abs(inside - outside).max() > 0.3 * spread or np.abs(inside - outside).max() > 8, (t, k)


def _dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def test_hidden_intervals_match_visibility_and_cause(sequences):
    for sequence in sequences:
        hidden = np.zeros(sequence.visibility.shape, bool)
        for interval in sequence.hidden:
            k = sequence.object_ids.index(interval.object_id)
            span = slice(interval.start, interval.stop)
            assert not sequence.visibility[span, k].any()
            assert interval.start == 0 or sequence.visibility[interval.start - 1, k]
            assert interval.stop == len(sequence.frames) or sequence.visibility[interval.stop, k]
            full = sequence.full_masks[span, k]  # (n, H, W)
            at_border = full[:, [0, -1]].any(axis=(1, 2)) | full[:, :, [0, -1]].any(axis=(1, 2))
            if interval.cause == "occluded":  # in the frame throughout, behind something
                assert np.all(full.sum(axis=(1, 2)) >= synthetic.MIN_VISIBLE_PIXELS)
            else:  # (partly) out of the frame at some point
                assert np.any(at_border | (full.sum(axis=(1, 2)) < synthetic.MIN_VISIBLE_PIXELS))
            hidden[span, k] = True
        np.testing.assert_array_equal(hidden, ~sequence.visibility)


def test_every_benchmark_sequence_has_an_occlusion_and_most_a_return(sequences):
    """The benchmark config asks for a full occlusion always and a leave-and-return at 0.9."""
    for sequence in sequences:
        assert any(i.cause == "occluded" and i.stop < len(sequence.frames) for i in sequence.hidden), sequence.seed
    returns = [any(i.cause == "out_of_view" and i.stop < len(sequence.frames) for i in s.hidden) for s in sequences]
    assert sum(returns) >= 6


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


def test_families_give_their_held_out_sequences():
    assert [f.name for f in FAMILIES] == ["cutouts", "geometric"]
    cutouts, shapes = family("cutouts"), family("geometric")
    assert not any(seed in synthetic.TRAIN.seeds for seed in cutouts.seeds[:20])  # never trained on
    assert cutouts.seeds == synthetic.HELD_OUT.seeds and shapes.seeds == GEOMETRIC_HELD_OUT.seeds
    [first] = shapes.held_out(1, num_frames=2)
    assert first.seed == 0 and first.frames.shape[0] == 2
    with pytest.raises(ValueError, match="unknown scene family"):
        family("photos")
