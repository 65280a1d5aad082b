"""The image encoder against Meta's, with identical random weights: every FPN level, the
position encodings and the projected high-resolution features."""

import oracle
import pytest
import torch

CASES = oracle.PARITY_CASES


@pytest.mark.parametrize("case", CASES, ids=oracle.case_id)
def test_every_level_and_position_encoding(case):
    """All FPN levels; SAM 2 uses the position encoding of the lowest level only, but the
    encoding of every level's grid matches too."""
    ours, reference = oracle.model_pair(*case)
    images = oracle.random_images(1, case[1])
    with torch.no_grad():
        levels, vision_pos = ours.image_encoder(images)
        expected = reference.image_encoder(images)
    assert len(levels) == len(expected["backbone_fpn"]) == 3
    oracle.assert_close(f"{case} vision pos", vision_pos, expected["vision_pos_enc"][-1])
    for i, level in enumerate(levels):
        oracle.assert_close(f"{case} level {i}", level, expected["backbone_fpn"][i])
        position = ours.image_encoder.position_encoding(level)
        oracle.assert_close(f"{case} position {i}", position, expected["vision_pos_enc"][i])


@pytest.mark.parametrize("case", CASES, ids=oracle.case_id)
def test_encode_image_matches_forward_image(case):
    frames = oracle.encoded_frames(*case)
    ours, expected = frames.ours, frames.reference
    size = case[1]
    assert ours.vision_features.shape[-2:] == (size // 16, size // 16)
    assert [level.shape[-1] for level in ours.high_res_features] == [size // 4, size // 8]
    pos = expected["current_vision_pos_embeds"][-1].permute(1, 2, 0)  # (HW, B, C) -> (B, C, HW)
    oracle.assert_close(f"{case} features", ours.vision_features, expected["vision_features"])
    oracle.assert_close(f"{case} pos", ours.vision_pos, pos.reshape(ours.vision_pos.shape))
    for i, level in enumerate(ours.high_res_features):
        oracle.assert_close(f"{case} high-res {i}", level, expected["high_res_features"][i])
