"""Where a tracked frame's time goes, ours against Meta's predictor, frame by frame in turn.

    python benchmarks/frame_parts.py --objects 8 --threads 2
    python benchmarks/frame_parts.py --objects 8 --objects-per-pass 0 1 --image-size 512

Both sides get the same random weights and frames (bench_tracker.py's model_pair and frames).
Each timed frame runs on ours, then on Meta's predictor, so load that changes during the run
falls on both alike (bench_tracker.py runs one side after the other). Forward hooks time each
top-level module (image encoder, memory attention, decoder, memory encoder, prompt encoder);
"outside" is the rest of the frame. With several --objects-per-pass, ours runs once for each
(TrackerOptions.objects_per_attention_pass), all in turn with the reference.
Needs Meta's `sam2` package (the test oracle).
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from bench_tracker import model_pair, prompts, synthetic_frames
from PIL import Image

from sam2core import StreamingTracker, TrackerOptions

PARTS = ("image_encoder", "memory_attention", "sam_mask_decoder", "memory_encoder", "sam_prompt_encoder")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="sam2.1_hiera_t")
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--objects-per-pass", type=int, nargs="+", default=[None], help="none: the tracker's default")
    parser.add_argument("--warm-up", type=int, default=10, help="untimed frames (the memory bank fills)")
    parser.add_argument("--timed", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ours, reference = model_pair(args.size, args.image_size, "cpu")
    frames = synthetic_frames(args.image_size, args.warm_up + args.timed)
    first = prompts(args.objects, args.image_size)
    sides, steps = {}, {}
    for group in args.objects_per_pass:
        name, model = f"ours, {group} per pass", copy.deepcopy(ours)  # a copy each: its own hooks
        sides[name], steps[name] = timed_parts(model), tracker_steps(model, group, frames, first)
    sides["Meta's"], steps["Meta's"] = timed_parts(reference), reference_steps(reference, ours, frames, first)
    totals = defaultdict(float)
    for index in range(len(frames)):
        if index == args.warm_up:
            for parts in sides.values():
                parts.clear()
        for name, step in steps.items():
            started = time.perf_counter()
            next(step)
            if index >= args.warm_up:
                totals[name] += time.perf_counter() - started
    print(
        f"{args.size} at {args.image_size} px, {args.objects} objects, float32, {args.threads} thread(s), "
        f"load average {os.getloadavg()[0]:.2f}; ms per frame, mean of {args.timed} after {args.warm_up}"
    )
    print(f"{'part':>20}" + "".join(f"{name:>22}" for name in sides))
    for part in (*PARTS, "outside", "frame"):
        row = []
        for name, parts in sides.items():
            seconds = totals[name] - sum(parts.values()) if part == "outside" else parts[part]
            row.append((totals[name] if part == "frame" else seconds) / args.timed * 1000)
        print(f"{part:>20}" + "".join(f"{value:>22.0f}" for value in row))
    meta = totals["Meta's"]
    print("Meta's time / ours: " + ", ".join(f"{name} {meta / totals[name]:.2f}" for name in steps if name != "Meta's"))


def timed_parts(model: torch.nn.Module) -> dict[str, float]:
    """Seconds spent in each of PARTS of `model`, summed over calls, from forward hooks."""
    spent: dict[str, float] = defaultdict(float)
    for name in PARTS:
        started: list[float] = []
        module = getattr(model, name)
        module.register_forward_pre_hook(lambda *_, started=started: started.append(time.perf_counter()))
        module.register_forward_hook(
            lambda *_, name=name, started=started: spent.__setitem__(
                name, spent[name] + time.perf_counter() - started.pop()
            )
        )
    return spent


def tracker_steps(model, objects_per_pass, frames, first):
    """Ours, one frame per next()."""
    options = TrackerOptions(
        precision="float32", fill_hole_area=0, min_region_area=0, objects_per_attention_pass=objects_per_pass
    )
    tracker = StreamingTracker(model, options)
    for index, frame in enumerate(frames):
        tracker.track(frame, first if index == 0 else None)
        yield


def reference_steps(predictor, ours, frames, first):
    """Meta's predictor on the same preprocessed frames, one frame per next()."""
    with tempfile.TemporaryDirectory() as folder:
        Image.fromarray(frames[0]).save(Path(folder) / "0.jpg")
        state = predictor.init_state(folder)
    with torch.inference_mode():
        state["images"] = torch.cat([ours.preprocess(frame) for frame in frames])
    state["num_frames"], state["cached_features"] = len(frames), {}
    for object_id, prompt in first.items():
        predictor.add_new_points_or_box(state, 0, object_id, points=prompt.points, labels=prompt.labels)
    for _ in predictor.propagate_in_video(state):
        yield


if __name__ == "__main__":
    main()
