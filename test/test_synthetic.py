"""Tests of the synthetic video generator: determinism, ground truth, events and splits."""

import cv2
import numpy as np
import pytest

from sam2core.data import (
    BENCHMARK,
    HELD_OUT,
    TRAIN,
    TRAINING,
    SceneConfig,
    generate_sequence,
    held_out_sequences,
    split_of,
    synthetic,
    textures,
    training_clip,
)
from sam2core.data.motion import Trajectory, catmull_rom
from sam2core.data.scene import Layer, ScenePlan, Shadow

SMALL = SceneConfig(height=96, width=128, num_frames=6, occlusion_prob=1.0, leave_prob=1.0)


@pytest.fixture(scope="module")
def training_sequences():
    return [generate_sequence(seed=seed, config=TRAINING) for seed in range(12)]


@pytest.fixture(scope="module")
def benchmark_sequences():
    return list(held_out_sequences(5))


def test_same_seed_gives_identical_arrays():
    first, again = (generate_sequence(seed=7, config=TRAINING) for _ in range(2))
    for name in ("frames", "masks", "full_masks", "visibility"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert first.hidden == again.hidden and first.photos == again.photos
    other = generate_sequence(seed=8, config=TRAINING)
    assert not np.array_equal(first.frames, other.frames)


@pytest.mark.parametrize(
    "config", [TRAINING, SceneConfig(height=480, width=640, num_frames=3)], ids=["256x256", "480x640"]
)
def test_shapes_and_dtypes(config):
    sequence = generate_sequence(seed=1, config=config)
    num_targets = len(sequence.object_ids)
    assert 1 <= num_targets <= 3 and sequence.object_ids == tuple(range(1, num_targets + 1))
    assert sequence.frames.shape == (config.num_frames, config.height, config.width, 3)
    assert sequence.frames.dtype == np.uint8
    for masks in (sequence.masks, sequence.full_masks):
        assert masks.shape == (config.num_frames, num_targets, config.height, config.width)
        assert masks.dtype == bool
    assert sequence.visibility.shape == (config.num_frames, num_targets)
    assert sequence.visibility.dtype == bool


def test_frames_are_textured_not_flat(training_sequences):
    for sequence in training_sequences:
        assert sequence.frames.std() > 10.0
        assert sequence.frames.mean() > 20.0


def test_visible_masks_follow_the_visibility_definition(training_sequences):
    for sequence in training_sequences:
        pixels = sequence.masks.sum(axis=(2, 3))
        assert np.all(pixels[sequence.visibility] >= synthetic.MIN_VISIBLE_PIXELS)
        assert np.all(pixels[~sequence.visibility] == 0)
        assert not np.any(sequence.masks & ~sequence.full_masks)


def test_targets_never_share_a_visible_pixel(training_sequences):
    for sequence in training_sequences:
        assert sequence.masks.sum(axis=1).max() <= 1


def test_every_target_is_visible_in_the_first_frame(training_sequences, benchmark_sequences):
    for sequence in training_sequences + benchmark_sequences:
        assert sequence.visibility[0].all()


def _square_layer(*, role: str, object_id: int, colour: tuple[float, float, float], half: float, centres) -> Layer:
    """A flat-coloured square layer, unrotated, at the given (T, 2) centres."""
    radius = float(np.hypot(half, half))
    outline = textures.rounded_rect_outline(half_width=half, half_height=half, corner=0.5) / radius
    texture = np.full((8, 8, 3), colour, np.float32)
    sprite = textures.make_sprite(outline=outline, radius=radius, texture=texture)
    centres = np.asarray(centres, dtype=np.float64)
    trajectory = Trajectory(centre=centres, radius=np.full(len(centres), radius), angle=np.zeros(len(centres)))
    return Layer(role=role, object_id=object_id, sprite=sprite, trajectory=trajectory, photo="flat")


def _black_plan(layers: list[Layer], *, config: SceneConfig) -> ScenePlan:
    """A plan over a black background with no lighting drift, noise or shadow."""
    frames = config.num_frames
    return ScenePlan(
        background=np.zeros((config.height, config.width, 3), np.float32),
        background_photo="black",
        pan=np.zeros((frames, 2)),
        layers=tuple(layers),
        gain=np.ones((frames, 3), np.float32),
        bias=np.zeros((frames, 3), np.float32),
        noise_std=0.0,
        shadow=Shadow(offset=np.zeros(2, int), blur=1.0, strength=0.0),
    )


def _interior(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool mask less its one-pixel rim."""
    return cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def test_masks_are_what_is_visible_in_front_of_an_occluder():
    config = SceneConfig(height=64, width=64, num_frames=3, motion_blur=0.0)
    red_target = _square_layer(role="target", object_id=1, colour=(1.0, 0.0, 0.0), half=8, centres=[(20, 32)] * 3)
    blue_occluder = _square_layer(
        role="occluder", object_id=0, colour=(0.0, 0.0, 1.0), half=16, centres=[(52, 32), (36, 32), (20, 32)]
    )
    plan = _black_plan([red_target, blue_occluder], config=config)
    frames, masks, full_masks, _ = synthetic.render(np.random.default_rng(0), plan=plan, config=config)
    visible = masks[:, 0].sum(axis=(1, 2))
    assert visible[0] == full_masks[0, 0].sum() == pytest.approx(16 * 16, rel=0.15)
    assert 0 < visible[1] < 0.75 * visible[0] and visible[2] == 0
    np.testing.assert_array_equal(full_masks[:, 0], full_masks[0:1, 0].repeat(3, axis=0))
    for t in range(3):  # away from the soft edges, where colours mix
        shown, hidden = _interior(masks[t, 0]), _interior(full_masks[t, 0] & ~masks[t, 0])
        assert np.all(frames[t][shown][:, 0] > frames[t][shown][:, 2]), "visible pixels show the red target"
        assert np.all(frames[t][hidden][:, 2] > frames[t][hidden][:, 0]), "hidden pixels show the blue occluder"


def test_fully_occluded_frames_are_invisible_but_in_view(benchmark_sequences):
    occlusions = [(s, h) for s in benchmark_sequences for h in s.hidden if h.cause == "occluded"]
    assert occlusions, "the benchmark has full occlusions"
    for sequence, interval in occlusions:
        k = sequence.object_ids.index(interval.object_id)
        frames = slice(interval.start, interval.stop)
        assert not sequence.visibility[frames, k].any()
        assert sequence.full_masks[frames, k].sum(axis=(1, 2)).min() >= synthetic.MIN_VISIBLE_PIXELS


def test_hidden_intervals_are_exactly_the_invisible_runs(training_sequences, benchmark_sequences):
    for sequence in training_sequences + benchmark_sequences:
        rebuilt = np.ones_like(sequence.visibility)
        for interval in sequence.hidden:
            k = sequence.object_ids.index(interval.object_id)
            assert 0 < interval.start < interval.stop <= len(sequence.frames)
            assert sequence.visibility[interval.start - 1, k]
            assert interval.stop == len(sequence.frames) or sequence.visibility[interval.stop, k]
            rebuilt[interval.start : interval.stop, k] = False
        np.testing.assert_array_equal(rebuilt, sequence.visibility)


def test_benchmark_has_full_occlusions_and_targets_leaving_the_view(benchmark_sequences):
    causes = [{interval.cause for interval in sequence.hidden} for sequence in benchmark_sequences]
    assert sum("occluded" in c for c in causes) >= 3
    assert sum("out_of_view" in c for c in causes) >= 3


def test_out_of_view_runs_leave_the_frame(benchmark_sequences):
    for sequence in benchmark_sequences:
        for interval in (h for h in sequence.hidden if h.cause == "out_of_view"):
            k = sequence.object_ids.index(interval.object_id)
            in_frame = sequence.full_masks[interval.start : interval.stop, k].sum(axis=(1, 2))
            assert in_frame.min() < synthetic.MIN_VISIBLE_PIXELS


def test_splits_share_no_seeds_and_no_photographs():
    assert set(TRAIN.photos).isdisjoint(HELD_OUT.photos)
    assert TRAIN.seeds.stop <= HELD_OUT.seeds.start
    assert split_of(TRAIN.seeds[-1]) is TRAIN and split_of(HELD_OUT.seeds[0]) is HELD_OUT
    with pytest.raises(ValueError):
        split_of(-1)


def test_every_photograph_is_bundled_with_scikit_image():
    for name in TRAIN.photos + HELD_OUT.photos:
        photo = textures.load_photo(name)
        assert photo.ndim == 3 and photo.shape[2] == 3 and min(photo.shape[:2]) >= 150


def test_held_out_and_training_sequences_use_their_own_photographs():
    held_out = list(held_out_sequences(4, config=SMALL))
    assert [s.seed for s in held_out] == list(HELD_OUT.seeds[:4])
    rng = np.random.default_rng(0)
    training = [training_clip(rng=rng, config=SMALL) for _ in range(4)]
    for sequence in held_out:
        assert sequence.split == "held_out" and set(sequence.photos) <= set(HELD_OUT.photos)
    for sequence in training:
        assert sequence.split == "train" and set(sequence.photos) <= set(TRAIN.photos)
        assert sequence.seed in TRAIN.seeds
    assert len({p for s in held_out for p in s.photos}) >= 2


def test_training_clips_follow_the_generator_they_are_given():
    first = training_clip(rng=np.random.default_rng(5))
    again = training_clip(rng=5)
    assert first.seed == again.seed
    np.testing.assert_array_equal(first.frames, again.frames)


def test_catmull_rom_passes_through_its_keys():
    keys = np.random.default_rng(0).normal(size=(7, 3))
    path = catmull_rom(keys, spacing=2.0, num_frames=9)
    np.testing.assert_allclose(path[::2], keys[1:6])


@pytest.mark.parametrize(
    "changes", [{"num_targets": (0, 2)}, {"num_targets": (2, 4)}, {"height": 16}, {"occlusion_prob": 1.5}]
)
def test_config_rejects_impossible_values(changes):
    with pytest.raises(ValueError):
        SceneConfig(**changes)


def test_benchmark_config_is_longer_than_training():
    assert BENCHMARK.num_frames >= 40 and (BENCHMARK.height, BENCHMARK.width) == (256, 256)
