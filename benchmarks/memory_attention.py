"""Memory attention alone, ours against Meta's module on the same weights and inputs.

    python benchmarks/memory_attention.py
    python benchmarks/memory_attention.py --objects 1 8 --repeats 5 --threads 1 --image-size 512

The inputs are those of a full memory at --image-size: the frame's tokens (a batch of one,
shared by the objects) and, per object, 7 frames of memory tokens and 16 object pointers. The two
sides alternate (ours, Meta's, ours, ...) so that load on the machine falls on both alike; the
table gives medians and the ratio. Needs Meta's `sam2` package (the test oracle).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_tracker import model_pair  # noqa: E402

MEMORY_FRAMES, POINTERS = 7, 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ours, reference = model_pair("sam2.1_hiera_t", args.image_size, "cpu")
    grid = (args.image_size // 16) ** 2
    width, memory_width = ours.config.hidden_dim, ours.config.memory_dim
    pointer_tokens = POINTERS * width // memory_width
    print(f"{args.threads} thread(s), {args.image_size} px, load average {os.getloadavg()[0]:.2f}")
    print(f"{'objects':>8}{'ours (ms)':>11}{'Meta (ms)':>11}{'ours/Meta':>11}{'max |diff|':>12}")
    with torch.inference_mode():
        for count in args.objects:
            inputs = Inputs(
                frame=torch.randn(grid, 1, width),
                frame_pos=torch.randn(grid, 1, width),
                memory=torch.randn(MEMORY_FRAMES * grid + pointer_tokens, count, memory_width),
                memory_pos=torch.randn(MEMORY_FRAMES * grid + pointer_tokens, count, memory_width),
                pointer_tokens=pointer_tokens,
            )
            difference = (run_ours(ours, inputs) - run_meta(reference, inputs)).abs().max().item()
            ours_ms, meta_ms = [], []
            for _ in range(args.repeats):
                ours_ms.append(timed(run_ours, ours, inputs))
                meta_ms.append(timed(run_meta, reference, inputs))
            mine, meta = statistics.median(ours_ms), statistics.median(meta_ms)
            print(f"{count:>8}{mine:>11.0f}{meta:>11.0f}{mine / meta:>11.2f}{difference:>12.1e}")


@dataclass(frozen=True)
class Inputs:
    """frame and frame_pos (HW, 1, C); memory and memory_pos (M, B, Cm), ending with
    `pointer_tokens` object-pointer tokens."""

    frame: torch.Tensor
    frame_pos: torch.Tensor
    memory: torch.Tensor
    memory_pos: torch.Tensor
    pointer_tokens: int


def run_ours(model, inputs: Inputs) -> torch.Tensor:
    return model.memory_attention(
        inputs.frame, inputs.memory, inputs.frame_pos, inputs.memory_pos, num_obj_ptr_tokens=inputs.pointer_tokens
    )


def run_meta(predictor, inputs: Inputs) -> torch.Tensor:
    """Meta's module wants the frame repeated per object."""
    objects = inputs.memory.shape[1]
    return predictor.memory_attention(
        inputs.frame.expand(-1, objects, -1),
        inputs.memory,
        inputs.frame_pos.expand(-1, objects, -1),
        inputs.memory_pos,
        num_obj_ptr_tokens=inputs.pointer_tokens,
    )


def timed(step, *args) -> float:
    started = time.perf_counter()
    step(*args)
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
