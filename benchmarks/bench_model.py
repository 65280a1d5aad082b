"""Per-component speed of sam2core's SAM2Model against Meta's reference on the same weights
and the same frames.

    python benchmarks/bench_model.py --size sam2.1_hiera_t --image-size 512 --repeats 5
    python benchmarks/bench_model.py --device cuda --image-size 1024

Needs Meta's `sam2` package (the test oracle). Times are medians in milliseconds; the memory
row conditions a frame on a full memory bank: num_maskmem spatial memories and
max_obj_ptrs_in_encoder object pointers, as on any frame after the first 16 of a video.
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from sam2core import SAM2Model, build_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))
import oracle  # noqa: E402  (the test oracle's helpers)

NUM_OBJECTS = 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="sam2.1_hiera_t", help="registry name of the model")
    parser.add_argument("--image-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    reference = build_reference(args.size, args.image_size, args.device)
    ours = build_model(args.size, image_size=args.image_size, device=args.device)
    ours.load_state_dict(reference.state_dict(), strict=True)
    print(
        f"{args.size} at {args.image_size}px on {args.device} "
        f"({torch.get_num_threads()} CPU threads), median of {args.repeats} runs after 1 warm-up"
    )
    ours_cases, reference_cases = workloads(ours, reference, args.image_size, args.device)
    print(f"{'component':<32}{'ours (ms)':>12}{'reference (ms)':>16}{'ours/ref':>10}")
    for component in ours_cases:
        ours_ms, reference_ms = median_ms(
            [ours_cases[component], reference_cases[component]], args.repeats, args.device
        )
        ratio = ours_ms / reference_ms
        print(f"{component:<32}{ours_ms:>12.1f}{reference_ms:>16.1f}{ratio:>10.2f}")


def build_reference(name: str, image_size: int, device: str):
    from sam2.build_sam import build_sam2_video_predictor

    folder = "sam2.1" if name.startswith("sam2.1") else "sam2"
    return build_sam2_video_predictor(
        f"configs/{folder}/{name}.yaml",
        ckpt_path=None,
        device=device,
        hydra_overrides_extra=[f"++model.image_size={image_size}"],
        apply_postprocessing=False,
    )


def workloads(
    ours: SAM2Model, reference, image_size: int, device: str
) -> tuple[dict[str, Callable[[], object]], dict[str, Callable[[], object]]]:
    """The same work for both models, as zero-argument callables keyed by component."""
    config = ours.config
    image = torch.randn(NUM_OBJECTS, 3, image_size, image_size, device=device)
    points = torch.tensor([[[0.4 * image_size, 0.5 * image_size]]], device=device)
    labels = torch.ones(NUM_OBJECTS, 1, dtype=torch.int32, device=device)
    with torch.inference_mode():
        features = ours.encode_image(image)
        decoded = ours.decode_masks(features, points=points, labels=labels, multimask=True)
        memory_features, memory_pos = ours.encode_memory(
            features, decoded.high_res_masks, decoded.object_score_logits, masks_from_points=True
        )
        stored = memory_features.to(torch.bfloat16)
        backbone = reference.forward_image(image)
        _, feats, pos, sizes = reference._prepare_backbone_features(backbone)
    high_res = [x.permute(1, 2, 0).view(x.size(1), x.size(2), *size) for x, size in zip(feats[:-1], sizes[:-1])]
    num_pointers = config.max_obj_ptrs_in_encoder
    frame_outputs = {
        "maskmem_features": stored,
        "maskmem_pos_enc": [memory_pos],
        "obj_ptr": decoded.object_pointer,
    }
    output_dict = {
        "cond_frame_outputs": {0: frame_outputs},
        "non_cond_frame_outputs": {t: frame_outputs for t in range(1, num_pointers)},
    }

    def our_memory_step():
        spatial = [ours.spatial_memory_tokens(stored, memory_pos, index) for index in range(config.num_maskmem)]
        offsets = [num_pointers] + list(range(1, num_pointers))
        pointers = decoded.object_pointer[None].expand(len(offsets), -1, -1)
        memory = oracle.memory_context(spatial, ours.pointer_tokens(pointers, offsets))
        return ours.condition_on_memory(features, memory)

    ours_cases = {
        "image encoder": lambda: ours.encode_image(image),
        "prompt encoder + mask decoder": lambda: ours.decode_masks(
            features, points=points, labels=labels, multimask=True
        ),
        "memory encoder": lambda: ours.encode_memory(
            features,
            decoded.high_res_masks,
            decoded.object_score_logits,
            masks_from_points=True,
        ),
        f"memory attention ({config.num_maskmem} frames)": our_memory_step,
    }
    reference_cases = {
        "image encoder": lambda: reference.forward_image(image),
        "prompt encoder + mask decoder": lambda: reference._forward_sam_heads(
            backbone_features=features.vision_features,
            point_inputs={"point_coords": points, "point_labels": labels},
            high_res_features=high_res,
            multimask_output=True,
        ),
        "memory encoder": lambda: reference._encode_new_memory(
            current_vision_feats=feats,
            feat_sizes=sizes,
            pred_masks_high_res=decoded.high_res_masks,
            object_score_logits=decoded.object_score_logits,
            is_mask_from_pts=True,
        ),
        f"memory attention ({config.num_maskmem} frames)": lambda: reference._prepare_memory_conditioned_features(
            frame_idx=num_pointers,
            is_init_cond_frame=False,
            current_vision_feats=feats[-1:],
            current_vision_pos_embeds=pos[-1:],
            feat_sizes=sizes[-1:],
            output_dict=output_dict,
            num_frames=10 * num_pointers,
        ),
    }
    return ours_cases, reference_cases


def median_ms(runs: list[Callable[[], object]], repeats: int, device: str) -> list[float]:
    """Median time of each run; the runs alternate so that they share the machine's load."""
    times = [[] for _ in runs]
    with torch.inference_mode():
        for repeat in range(repeats + 1):
            for run, run_times in zip(runs, times):
                synchronize(device)
                start = time.perf_counter()
                run()
                synchronize(device)
                if repeat > 0:
                    run_times.append(1000 * (time.perf_counter() - start))
    return [statistics.median(run_times) for run_times in times]


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
