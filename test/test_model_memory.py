"""Memory encoder, memory tokens and memory attention against Meta's `_encode_new_memory`,
`_prepare_memory_conditioned_features` and `memory_attention`, with identical random weights."""

from unittest import mock

import oracle
import pytest
import torch

from sam2core import MemoryContext

CASES = oracle.PARITY_CASES
NUM_STORED_FRAMES = 8  # frame 0 is the conditioning frame, 1..7 were tracked
CURRENT_FRAME = 8
# The video length Meta's memory is assembled for: longer than the pointer window
# (max_obj_ptrs_in_encoder), like a stream, which has no end.
STREAM_FRAMES = 30


def random_mask_logits(batch: int, image_size: int, seed: int) -> torch.Tensor:
    """(B, 1, S, S) smooth mask logits with both signs."""
    generator = torch.Generator().manual_seed(seed)
    coarse = 10 * torch.randn(batch, 1, 8, 8, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(image_size, image_size), mode="bilinear")


def stored_frames(case: tuple) -> dict[int, dict]:
    """Meta's per-frame outputs for frames 0..7 of two objects: memory features (kept in
    bfloat16 as Meta stores them), their position encoding and an object pointer. On frame 3
    object 2 is absent."""
    ours, _ = oracle.model_pair(*case)
    frames = oracle.encoded_frames(*case)
    generator = torch.Generator().manual_seed(2)
    outputs = {}
    for frame in range(NUM_STORED_FRAMES):
        scores = torch.tensor([[4.0], [-2.0 if frame == 3 else 3.0]])
        with torch.no_grad():
            features, pos = ours.encode_memory(
                frames.ours,
                random_mask_logits(2, case[1], seed=frame),
                scores,
                masks_from_points=frame == 0,
            )
        outputs[frame] = {
            "maskmem_features": features.to(torch.bfloat16),
            "maskmem_pos_enc": [pos],
            "obj_ptr": torch.randn(2, ours.config.hidden_dim, generator=generator),
        }
    return outputs


def our_memory(ours, outputs: dict[int, dict]) -> MemoryContext:
    """The memory a tracker assembles for CURRENT_FRAME with our token helpers, choosing the
    frames as Meta does: the conditioning frame, the last num_maskmem - 1 frames, and the
    pointers of the conditioning frame and up to max_obj_ptrs_in_encoder - 1 recent frames."""
    config = ours.config
    spatial = [ours.spatial_memory_tokens(*_memory_of(outputs[0]), temporal_index=0)]
    for frames_ago in range(config.num_maskmem - 1, 0, -1):
        spatial.append(
            ours.spatial_memory_tokens(
                *_memory_of(outputs[CURRENT_FRAME - frames_ago]),
                temporal_index=config.num_maskmem - frames_ago,
            )
        )
    recent = [ago for ago in range(1, config.max_obj_ptrs_in_encoder) if 0 < CURRENT_FRAME - ago]
    offsets = [CURRENT_FRAME] + recent
    pointers = torch.stack([outputs[CURRENT_FRAME - offset]["obj_ptr"] for offset in offsets])
    return oracle.memory_context(spatial, ours.pointer_tokens(pointers, offsets))


def _memory_of(output: dict) -> tuple[torch.Tensor, torch.Tensor]:
    return output["maskmem_features"], output["maskmem_pos_enc"][0]


@pytest.mark.parametrize("case", CASES, ids=oracle.case_id)
def test_memory_conditioning_matches_reference(case):
    """Token helpers against the memory Meta assembles, memory attention on it, and the
    conditioned features."""
    ours, reference = oracle.model_pair(*case)
    frames = oracle.encoded_frames(*case)
    outputs = stored_frames(case)
    features = frames.reference
    recorded = {}

    def record(**inputs):
        recorded.update(inputs)
        recorded["output"] = original_forward(**inputs)
        return recorded["output"]

    original_forward = reference.memory_attention.forward
    with torch.no_grad(), mock.patch.object(reference.memory_attention, "forward", record):
        reference_pixels = reference._prepare_memory_conditioned_features(
            frame_idx=CURRENT_FRAME,
            is_init_cond_frame=False,
            current_vision_feats=features["current_vision_feats"][-1:],
            current_vision_pos_embeds=features["current_vision_pos_embeds"][-1:],
            feat_sizes=features["feat_sizes"][-1:],
            output_dict={
                "cond_frame_outputs": {0: outputs[0]},
                "non_cond_frame_outputs": {t: outputs[t] for t in range(1, NUM_STORED_FRAMES)},
            },
            num_frames=STREAM_FRAMES,
        )
        memory = our_memory(ours, outputs)
        attended = ours.memory_attention(
            curr=recorded["curr"][0],
            memory=recorded["memory"],
            curr_pos=recorded["curr_pos"][0],
            memory_pos=recorded["memory_pos"],
            num_obj_ptr_tokens=recorded["num_obj_ptr_tokens"],
        )
        pixels = ours.condition_on_memory(frames.ours, memory)

    label = str(case)
    assert memory.num_pointer_tokens == recorded["num_obj_ptr_tokens"] > 0
    oracle.assert_close(f"{label} memory tokens", memory.tokens, recorded["memory"])
    oracle.assert_close(f"{label} memory pos", memory.pos, recorded["memory_pos"])
    oracle.assert_close(f"{label} memory attention", attended, recorded["output"])
    oracle.assert_close(f"{label} conditioned features", pixels, reference_pixels)


@pytest.mark.parametrize("masks_from_points", [True, False])
@pytest.mark.parametrize(
    "case, options",
    [(CASES[0], oracle.RELEASED_SETTINGS), *[(case, {}) for case in CASES]],
    ids=["released", *map(oracle.case_id, CASES)],
)
def test_encode_memory_matches_reference(case, options, masks_from_points):
    ours, reference = oracle.model_pair(*case, **options)
    frames = oracle.encoded_frames(*case, **options)
    masks = random_mask_logits(2, case[1], seed=5)
    scores = torch.tensor([[1.5], [-0.5]])  # object 2 absent
    with torch.no_grad():
        features, pos = ours.encode_memory(frames.ours, masks, scores, masks_from_points=masks_from_points)
        reference_features, reference_pos = reference._encode_new_memory(
            current_vision_feats=frames.reference["current_vision_feats"],
            feat_sizes=frames.reference["feat_sizes"],
            pred_masks_high_res=masks,
            object_score_logits=scores,
            is_mask_from_pts=masks_from_points,
        )
    label = f"{case} {options} from_points={masks_from_points}"
    oracle.assert_close(f"{label} memory features", features, reference_features)
    oracle.assert_close(f"{label} memory pos", pos, reference_pos[0])
