"""Streaming tracker against Meta's video predictor: per-frame latency and memory, one run.

    python benchmarks/bench_tracker.py --size sam2.1_hiera_t --image-size 512 --objects 1 3 8
    python benchmarks/bench_tracker.py --precision float32 bfloat16 --compile off on --json out.json
    python benchmarks/bench_tracker.py --backend torch onnxruntime openvino --memory-frames
    python benchmarks/bench_tracker.py --memory-frames 100 1000 --memory-image-size 256

Both sides get the same weights and the same preprocessed frames (a held-out synthetic
sequence, looped), and neither cleans its masks up. Latency: the mean time per frame over
--timed frames, after 16 frames so that every memory window is full; Meta's predictor runs its
objects one after another, ours runs them as one batch. Every combination of --precision, --compile and
--backend is timed for
ours (the exported graphs run in float32, uncompiled);
the reference runs once per precision (autocast, as Meta's demos do on a GPU), and each row
gives the mean IoU of our masks with the reference's over the timed frames. With --compile on,
the first frame's time (compilation) and the number of graphs compiled are reported too.
Memory: the process's resident size and the bytes of tensors each side
keeps for its stream, after each count in --memory-frames (one object). The reference loads
every frame before it starts, as its API requires; a run that would not fit in --max-gib of
frames is cut short and says so.
Needs Meta's `sam2` package (the test oracle).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import json
import os
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sam2core import Prompt, StreamingTracker, TrackerOptions, build_model
from sam2core.data import BENCHMARK, HELD_OUT, generate_sequence
from sam2core.export import export
from sam2core.precision import DTYPES, PRECISIONS, choose_precision
from sam2core.preparation import Preparation, prepare_model
from sam2core.runtime import BACKENDS

WARM_UP = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="sam2.1_hiera_t")
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 3, 8])
    parser.add_argument("--timed", type=int, default=8, help="frames timed per object count")
    parser.add_argument("--precision", nargs="+", default=["float32"], choices=PRECISIONS)
    parser.add_argument("--compile", nargs="+", default=["off"], choices=("off", "on"))
    parser.add_argument(
        "--backend",
        nargs="+",
        default=["torch"],
        choices=BACKENDS,
        help="not torch: ours exported first, float32 and eager only",
    )
    parser.add_argument("--no-reference", action="store_true", help="time ours only")
    parser.add_argument("--memory-frames", type=int, nargs="*", default=[100, 1000], help="none: skip")
    parser.add_argument("--memory-image-size", type=int, default=256)
    parser.add_argument("--max-gib", type=float, default=8.0, help="frames the reference may preload")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write the figures to this file (scripts/readme_figures.py)")
    args = parser.parse_args()
    print(f"{args.size}, {torch.get_num_threads()} CPU threads, device {args.device}")
    record = {
        "command": " ".join(["python benchmarks/bench_tracker.py", *sys.argv[1:]]),
        "model": args.size, "image_size": args.image_size, "memory_image_size": args.memory_image_size,
        "device": args.device, "cpu_threads": torch.get_num_threads(), "load_average_at_start": os.getloadavg()[0],
        "precision": args.precision, "compile": args.compile, "backend": args.backend, "torch": torch.__version__,
        "latency": [], "memory": [],
    }  # fmt: skip

    ours, reference = model_pair(args.size, args.image_size, args.device)
    frames = synthetic_frames(args.image_size, WARM_UP + args.timed + 1)
    record["latency"] = latency_rows(args, ours, None if args.no_reference else reference, frames)
    if args.memory_frames:
        record["memory"] = memory_table(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")


def latency_rows(args, ours, reference, frames: np.ndarray) -> list[dict]:
    """Per-frame latency of ours for every precision x compile and object count, against the
    reference per precision and object count; printed as a table and returned as rows. A
    compiled series compiles once, on a copy of the model, for all its object counts: its
    graph count shows whether more objects recompiled."""
    print(f"\nper-frame latency at {args.image_size}px (mean of {args.timed} frames after {WARM_UP})")
    header = (
        f"{'objects':>8}{'precision':>10}{'compile':>8}{'backend':>12}"
        f"{'ours (ms)':>11}{'ref (ms)':>10}{'ref/ours':>9}{'IoU ref':>8}"
    )
    print(header + f"{'1st frame (s)':>14}{'graphs':>7}")
    rows = []
    for requested in args.precision:
        precision = choose_precision(requested, torch.device(args.device)).name
        references = {}
        if reference is not None:
            references = {
                count: run_reference(reference, ours, frames, count, precision=precision) for count in args.objects
            }
        for backend, compiled in [(b, c) for b in args.backend for c in args.compile]:
            if backend != "torch" and (compiled == "on" or precision != "float32"):
                continue
            torch._dynamo.reset()
            torch._dynamo.utils.counters.clear()
            folder = ""
            if backend != "torch":
                folder = str(tempfile.mkdtemp(prefix="sam2_export_"))
                export(ours, Path(folder))
            preparation = Preparation(backend=backend, export_dir=folder, compile=compiled == "on")
            model = prepare_model(copy.deepcopy(ours) if preparation.compile else ours, preparation, precision)
            for count in args.objects:
                run = run_ours(model, frames, count, precision=precision)
                row = {
                    "objects": count,
                    "precision": precision,
                    "compile": compiled == "on",
                    "backend": backend,
                    "ours_ms": float(np.mean(run.seconds[WARM_UP + 1 :]) * 1000),
                    "first_frame_s": run.seconds[0],
                    "graphs_compiled": int(torch._dynamo.utils.counters["stats"]["unique_graphs"]),
                }
                if count in references:
                    row["reference_ms"] = float(np.mean(references[count].seconds[WARM_UP + 1 :]) * 1000)
                    row["speedup"] = row["reference_ms"] / row["ours_ms"]
                    row["mask_iou_with_reference"] = mean_iou(
                        run.masks[WARM_UP + 1 :], references[count].masks[WARM_UP + 1 :]
                    )
                rows.append(row)
                print(
                    f"{count:>8}{precision:>10}{compiled:>8}{backend:>12}"
                    f"{row['ours_ms']:>11.0f}{row.get('reference_ms', np.nan):>10.0f}"
                    f"{row.get('speedup', np.nan):>9.2f}{row.get('mask_iou_with_reference', np.nan):>8.3f}"
                    f"{row['first_frame_s']:>14.1f}{row['graphs_compiled']:>7}",
                    flush=True,
                )
    return rows


def memory_table(args) -> list[dict]:
    """Resident size and tensor bytes of each side after each of --memory-frames frames, one object."""
    ours, reference = model_pair(args.size, args.memory_image_size, args.device)
    longest = max(args.memory_frames)
    frames = synthetic_frames(args.memory_image_size, longest)
    print(f"\nmemory with one object at {args.memory_image_size}px")
    print(f"{'frames':>8}{'ours RSS':>12}{'ours state':>12}{'ref RSS':>12}{'ref state':>12}")
    rows = []
    ours_memory = run_ours(ours, frames, 1, report_at=args.memory_frames).memory
    fits = int(args.max_gib * 2**30 / (3 * 4 * args.memory_image_size**2))
    reference_memory = run_reference(reference, ours, frames[:fits], 1, report_at=args.memory_frames).memory
    for count in args.memory_frames:
        ours_rss, ours_state = ours_memory[count]
        ref_rss, ref_state = reference_memory.get(count, (float("nan"), float("nan")))
        print(f"{count:>8}{ours_rss:>10.0f}MB{ours_state:>10.1f}MB{ref_rss:>10.0f}MB{ref_state:>10.1f}MB")
        rows.append({"frames": count, "ours_rss_mb": ours_rss, "ours_state_mb": ours_state,
                                 "reference_rss_mb": ref_rss, "reference_state_mb": ref_state})  # fmt: skip
    if fits < longest:
        print(f"reference cut at {fits} frames: preloading {longest} frames would exceed {args.max_gib} GiB")
    return rows


def model_pair(name: str, image_size: int, device: str):
    """Ours and Meta's predictor with the same random weights (the object score raised so that
    masks are real), the released post-processing on both sides."""
    from sam2.build_sam import build_sam2_video_predictor

    folder = "sam2.1" if name.startswith("sam2.1") else "sam2"
    torch.manual_seed(0)
    reference = build_sam2_video_predictor(
        f"configs/{folder}/{name}.yaml",
        ckpt_path=None,
        device=device,
        apply_postprocessing=False,
        hydra_overrides_extra=[
            f"++model.image_size={image_size}",
            "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
            "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
            "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
            "++model.binarize_mask_from_pts_for_mem_enc=true",
        ],
    )
    with torch.no_grad():
        reference.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(6.0)
    ours = build_model(name, image_size=image_size, device=device)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return ours, reference


def synthetic_frames(size: int, count: int) -> np.ndarray:
    """(count, size, size, 3) uint8: a held-out sequence, played forwards and backwards."""
    config = dataclasses.replace(BENCHMARK, height=size, width=size)
    frames = generate_sequence(seed=HELD_OUT.seeds[0], config=config).frames
    loop = np.concatenate([frames, frames[::-1]])
    return loop[np.arange(count) % len(loop)]


def prompts(count: int, size: int) -> dict[int, Prompt]:
    """One click per object, spread over the frame."""
    spots = np.random.default_rng(0).uniform(0.15, 0.85, (count, 2)) * size
    return {i + 1: Prompt(points=spot[None], labels=np.array([1])) for i, spot in enumerate(spots)}


@dataclasses.dataclass
class Run:
    """One side's stream: seconds per frame, (frames, objects, H, W) masks, and
    {frame count: (RSS MB, state MB)} at each requested count."""

    seconds: list[float] = dataclasses.field(default_factory=list)
    masks: list[np.ndarray] = dataclasses.field(default_factory=list)
    memory: dict[int, tuple[float, float]] = dataclasses.field(default_factory=dict)


def run_ours(model, frames: np.ndarray, count: int, *, precision="float32", report_at=()) -> Run:
    """Without the tracker's mask clean-up: the reference has none on the CPU (its hole filling
    needs a CUDA kernel), and the masks compared must come from the same steps."""
    tracker = StreamingTracker(model, TrackerOptions(precision=precision, fill_hole_area=0, min_region_area=0))
    run = Run()
    for index, frame in enumerate(frames):
        started = time.perf_counter()
        result = tracker.track(frame, prompts(count, frame.shape[0]) if index == 0 else None)
        run.seconds.append(time.perf_counter() - started)
        if index + 1 in report_at:
            run.memory[index + 1] = (rss_mb(), tensor_mb(tracker.__dict__))
        elif not report_at:  # masks kept in a memory run would count in its resident size
            run.masks.append(np.stack([result.objects[i + 1].mask.cpu().numpy() for i in range(count)]))
    return run


def run_reference(predictor, ours, frames: np.ndarray, count: int, *, precision="float32", report_at=()) -> Run:
    """The same for Meta's predictor: prompts on frame 0, then propagation."""
    with tempfile.TemporaryDirectory() as folder:
        Image.fromarray(frames[0]).save(Path(folder) / "0.jpg")
        state = predictor.init_state(folder)
    gc.collect()
    with torch.inference_mode():
        state["images"] = torch.cat([ours.preprocess(frame) for frame in frames])
    state["num_frames"] = len(frames)
    state["cached_features"] = {}
    dtype = DTYPES[precision]
    run = Run()
    with torch.autocast(torch.device(ours.device).type, dtype=dtype, enabled=dtype != torch.float32):
        for object_id, prompt in prompts(count, frames.shape[1]).items():
            predictor.add_new_points_or_box(state, 0, object_id, points=prompt.points, labels=prompt.labels)
        started = time.perf_counter()
        for frame_index, _, masks in predictor.propagate_in_video(state):
            if masks.is_cuda:
                torch.cuda.synchronize()  # its masks are the result, as ours are on the host
            run.seconds.append(time.perf_counter() - started)
            if frame_index + 1 in report_at:
                run.memory[frame_index + 1] = (rss_mb(), tensor_mb(state))
            elif not report_at:
                run.masks.append((masks[:, 0] > 0).cpu().numpy())
            started = time.perf_counter()
    return run


def mean_iou(ours: list[np.ndarray], reference: list[np.ndarray]) -> float:
    """Mean IoU over frames and objects of two lists of (objects, H, W) bool masks; two empty
    masks count 1."""
    a, b = np.stack(ours), np.stack(reference)
    union = (a | b).sum(axis=(2, 3))
    return float(np.where(union == 0, 1.0, (a & b).sum(axis=(2, 3)) / np.maximum(union, 1)).mean())


def tensor_mb(root) -> float:
    """Megabytes of the distinct tensor storages reachable from `root` through dicts, sequences
    and plain objects (models excluded)."""
    seen, storages, stack = set(), {}, [root]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, torch.nn.Module):
            continue
        seen.add(id(item))
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, deque)):
            stack.extend(item)
        elif hasattr(item, "__dict__"):
            stack.extend(vars(item).values())
    return sum(storages.values()) / 2**20


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
