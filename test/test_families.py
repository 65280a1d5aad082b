"""Tests every independently written scene family passes (geometric, tabletop; the cutouts family
has its own in test_synthetic.py): determinism, shapes, ground truth against the frames, the
visibility rule and hidden intervals; and the families the benchmark and training choose from."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from sam2core.data import (
    FAMILIES,
    GEOMETRIC_BENCHMARK,
    GEOMETRIC_HELD_OUT,
    TABLETOP_BENCHMARK,
    TABLETOP_HELD_OUT,
    family,
    generate_geometric_sequence,
    generate_tabletop_sequence,
    synthetic,
)

GENERATORS = {
    "geometric": (generate_geometric_sequence, GEOMETRIC_BENCHMARK, GEOMETRIC_HELD_OUT),
    "tabletop": (generate_tabletop_sequence, TABLETOP_BENCHMARK, TABLETOP_HELD_OUT),
}


@pytest.fixture(scope="module", params=list(GENERATORS))
def sequences(request):
    """Eight benchmark sequences of a family, long enough for every event."""
    return list(family(request.param).held_out(8))


@pytest.mark.parametrize("name", GENERATORS)
def test_same_seed_gives_identical_sequences_of_the_asked_shape(name):
    generate, benchmark, held_out = GENERATORS[name]
    short = replace(benchmark, height=160, width=192, num_frames=32)
    first, again = (generate(seed=5, config=short) for _ in range(2))
    for field in ("frames", "masks", "full_masks", "visibility"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert first.hidden == again.hidden
    assert not np.array_equal(first.frames, generate(seed=6, config=short).frames)
    count = len(first.object_ids)
    assert 1 <= count <= 3 and first.object_ids == tuple(range(1, count + 1))
    assert first.frames.shape == (32, 160, 192, 3) and first.frames.dtype == np.uint8
    assert first.masks.shape == first.full_masks.shape == (32, count, 160, 192)
    assert first.visibility.shape == (32, count)
    assert first.split == held_out.name and first.photos == ()
    with pytest.raises(ValueError, match=f"outside the {name} family's seeds"):
        generate(seed=-1)


@pytest.mark.parametrize("name", GENERATORS)
def test_short_sequences_draw_without_their_events(name):
    """Stage "images" trains on one-frame clips: a sequence too short for an occlusion or a
    return is drawn without them, from every seed."""
    generate, benchmark, _ = GENERATORS[name]
    for num_frames in (1, 2, 3, 5):
        for seed in range(12):
            sequence = generate(seed=seed, config=replace(benchmark, height=96, width=96, num_frames=num_frames))
            assert sequence.frames.shape[0] == num_frames and sequence.visibility[0].all()


def test_visibility_rule_and_mask_consistency(sequences):
    for sequence in sequences:
        pixels = sequence.masks.sum(axis=(2, 3))
        assert np.all(pixels[sequence.visibility] >= synthetic.MIN_VISIBLE_PIXELS)
        assert np.all(pixels[~sequence.visibility] == 0)
        assert not np.any(sequence.masks & ~sequence.full_masks)
        assert sequence.masks.sum(axis=1).max() <= 1  # no pixel belongs to two targets
        first = sequence.masks[0].sum(axis=(1, 2))
        assert np.all(first >= synthetic.FIRST_FRAME_MIN_VISIBLE * sequence.full_masks[0].sum(axis=(1, 2)))


def test_masks_are_where_the_frames_show_the_targets(sequences):
    """Against the frames themselves: a visible target's pixels differ from those of the
    background around it (the targets are textured or shaded but stand out)."""
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
    """Both benchmark configs ask for a full occlusion always and a leave-and-return at 0.9."""
    for sequence in sequences:
        assert any(i.cause == "occluded" and i.stop < len(sequence.frames) for i in sequence.hidden), sequence.seed
    returns = [any(i.cause == "out_of_view" and i.stop < len(sequence.frames) for i in s.hidden) for s in sequences]
    assert sum(returns) >= 6


def test_families_give_their_held_out_sequences_and_say_which_train():
    assert [f.name for f in FAMILIES] == ["cutouts", "geometric", "tabletop"]
    cutouts, shapes, tabletop = (family(f.name) for f in FAMILIES)
    assert not any(seed in synthetic.TRAIN.seeds for seed in cutouts.seeds[:20])  # never trained on
    assert cutouts.seeds == synthetic.HELD_OUT.seeds and shapes.seeds == GEOMETRIC_HELD_OUT.seeds
    assert tabletop.seeds == TABLETOP_HELD_OUT.seeds
    [first] = tabletop.held_out(1, num_frames=2)
    assert first.seed == 0 and first.frames.shape[0] == 2
    assert cutouts.training_clip is not None and shapes.training_clip is not None and tabletop.training_clip is None
    with pytest.raises(ValueError, match="unknown scene family"):
        family("photos")
