"""Host time per frame of the tracker's results and the node's messages, 1 and 8 objects at 640x480.

    python benchmarks/frame_results.py
    python benchmarks/frame_results.py --objects 1 8 --frames 20 --threads 1 --device cpu

A tracker (random weights, a small model input so that the run is short) follows clicked objects
over a few frames; its last frame's decoder outputs are then turned into results over and over:
- "one batch": all objects at once (sam2core.tracking.results.object_results, what the tracker
  does): upsampled, counted and copied to the host together, one device-to-host transfer;
- "per object": one object_results call per object, as the tracker did before: a transfer each;
and the results into everything the node publishes for a frame (FrameMessageWriter: masks in
full, overlay, labels). The two assemblies alternate (A, B, A, B...) so that load on the machine
falls on both alike; the table gives medians and their ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import numpy as np
import torch
from std_msgs.msg import Header

from sam2_ros.frame_messages import FrameMessageWriter, OutputChoice
from sam2_ros.session import Frame, FrameOutcome
from sam2core import Prompt, StreamingTracker, TrackerOptions, build_model
from sam2core.data import BENCHMARK, HELD_OUT, generate_sequence
from sam2core.modeling.outputs import DecoderOutput
from sam2core.tracking.exclusivity import TrackHealth
from sam2core.tracking.results import object_results

HEIGHT, WIDTH = 480, 640
TRACKED_FRAMES = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--frames", type=int, default=20, help="timed repetitions of each step")
    parser.add_argument("--model-image-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{WIDTH}x{HEIGHT} images, model input {args.model_image_size} px, {args.threads} thread(s), "
        f"device {args.device}, load average {os.getloadavg()[0]:.2f}"
    )
    torch.manual_seed(0)
    model = build_model("sam2.1_hiera_t", image_size=args.model_image_size, device=args.device)
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(6.0)  # objects visible
    config = dataclasses.replace(BENCHMARK, height=HEIGHT, width=WIDTH, num_frames=TRACKED_FRAMES)
    frames = generate_sequence(seed=HELD_OUT.seeds[0], config=config).frames
    print(f"{'objects':>8}{'one batch (ms)':>16}{'per object (ms)':>17}{'ratio':>7}{'messages (ms)':>15}")
    for count in args.objects:
        output = last_outputs(model, frames, count)
        build_messages(frames[-1], assemble_per_object(output, count))  # warm-up: first allocations, fonts
        batched, per_object, messages = [], [], []
        for _ in range(args.frames):
            batched.append(timed(assemble, output, count))
            per_object.append(timed(assemble_per_object, output, count))
            messages.append(timed(build_messages, frames[-1], assemble(output, count)))
        one, each = statistics.median(batched), statistics.median(per_object)
        print(f"{count:>8}{one:>16.2f}{each:>17.2f}{each / one:>7.2f}{statistics.median(messages):>15.2f}")


def last_outputs(model, frames: np.ndarray, count: int) -> DecoderOutput:
    """The decoder outputs of `count` clicked objects on the last of `frames`, as one batch."""
    tracker = StreamingTracker(model, TrackerOptions(precision="float32"))
    spots = np.random.default_rng(0).uniform(0.2, 0.8, (count, 2)) * (WIDTH, HEIGHT)
    tracker.track(frames[0], {i + 1: Prompt(points=spot[None], labels=np.array([1])) for i, spot in enumerate(spots)})
    for frame in frames[1:-1]:
        tracker.track(frame)
    with torch.inference_mode():
        return tracker._tracking_step(tracker._frames[-1], tracker.object_ids).output


def assemble(output: DecoderOutput, count: int) -> dict:
    return object_results(
        list(range(1, count + 1)),
        output.low_res_masks,
        output.object_score_logits,
        output.iou,
        output.object_pointer,
        (HEIGHT, WIDTH),
        [TrackHealth.TRACKED] * count,
    )


def assemble_per_object(output: DecoderOutput, count: int) -> dict:
    results = {}
    for i in range(count):
        one = output.select(i)
        results.update(
            object_results(
                [i + 1], one.low_res_masks, one.object_score_logits, one.iou, one.object_pointer, (HEIGHT, WIDTH),
                [TrackHealth.TRACKED],
            )
        )  # fmt: skip
    return results


def build_messages(image: np.ndarray, results: dict) -> None:
    outcome = FrameOutcome(Frame(image, stamp_ns=0, header=Header(frame_id="camera")), 0, results)
    FrameMessageWriter().messages(outcome, OutputChoice(overlay=True, labels=True))


def timed(step, *args) -> float:
    """Milliseconds `step(*args)` takes, the device's queue drained after it."""
    started = time.perf_counter()
    step(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
