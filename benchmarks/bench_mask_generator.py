"""Automatic mask generator against Meta's: masks per second on one image, one process.

    python benchmarks/bench_mask_generator.py --size sam2.1_hiera_t --image-size 512 \
        --points-per-side 16 --repeats 2

Both sides get the same random weights (the last layer of the mask hypernetworks scaled, and a
high mask threshold, so that random weights give varied masks, as in the oracle tests) and the
same image: a frame of a held-out synthetic sequence. Each side generates --repeats times after
one warm-up run; printed: seconds per image, candidate masks decoded per second (clicks x 3),
masks returned, and the ratio ours / Meta's. Needs Meta's `sam2` package (the test oracle) and
the torchvision stand-ins of the tests.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))

import torchvision_standin  # noqa: E402

from sam2core import AutomaticMaskGenerator, build_model  # noqa: E402
from sam2core.data import BENCHMARK, HELD_OUT, generate_sequence  # noqa: E402

HYPERNETWORK_SCALE = 60.0
MASK_THRESHOLD = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="sam2.1_hiera_t")
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--points-per-side", type=int, default=16)
    parser.add_argument("--points-per-batch", type=int, default=64)
    parser.add_argument("--crop-n-layers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torchvision_standin.install()
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.build_sam import build_sam2

    torch.manual_seed(0)
    ours_model = build_model(args.size, image_size=args.image_size)
    state = ours_model.state_dict()
    for key in state:
        if key.startswith("sam_mask_decoder.output_hypernetworks_mlps") and key.endswith("layers.2.weight"):
            state[key] = state[key] * HYPERNETWORK_SCALE
    ours_model.load_state_dict(state)
    folder = "sam2.1" if args.size.startswith("sam2.1") else "sam2"
    meta_model = build_sam2(
        f"configs/{folder}/{args.size}.yaml",
        ckpt_path=None,
        device="cpu",
        hydra_overrides_extra=[f"++model.image_size={args.image_size}"],
    )
    meta_model.load_state_dict(state)
    options = dict(
        points_per_side=args.points_per_side,
        points_per_batch=args.points_per_batch,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
        crop_n_layers=args.crop_n_layers,
        mask_threshold=MASK_THRESHOLD,
    )
    meta = SAM2AutomaticMaskGenerator(meta_model, **options)
    side = args.image_size
    meta.predictor._bb_feat_sizes = [(side // 4,) * 2, (side // 8,) * 2, (side // 16,) * 2]
    ours = AutomaticMaskGenerator(ours_model, **options)
    image = generate_sequence(seed=HELD_OUT.seeds[0], config=BENCHMARK).frames[0]
    clicks = args.points_per_side**2 * 3
    print(
        f"{args.size} at {side}px, {torch.get_num_threads()} CPU threads, image "
        f"{image.shape[1]}x{image.shape[0]}, {args.points_per_side}^2 clicks, "
        f"crop layers {args.crop_n_layers}"
    )
    print(f"{'':>8}{'s/image':>10}{'candidates/s':>14}{'masks':>7}{'masks/s':>9}")
    seconds = {}
    for name, generator in (("ours", ours), ("Meta", meta)):
        generator.generate(image)  # warm-up
        start = time.perf_counter()
        for _ in range(args.repeats):
            masks = generator.generate(image)
        seconds[name] = (time.perf_counter() - start) / args.repeats
        print(
            f"{name:>8}{seconds[name]:>10.2f}{clicks / seconds[name]:>14.0f}{len(masks):>7}"
            f"{len(masks) / seconds[name]:>9.1f}"
        )
    print(
        f"ours / Meta time per image: {seconds['ours'] / seconds['Meta']:.2f} "
        f"(masks per second ratio {seconds['Meta'] / seconds['ours']:.2f})"
    )


if __name__ == "__main__":
    with torch.no_grad():
        main()
