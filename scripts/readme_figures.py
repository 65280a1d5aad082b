#!/usr/bin/env python3
"""Write the README's measured figures from the JSON files the measuring commands wrote.

    scripts/demo.sh && python scripts/readme_figures.py --demo outputs/demo/summary.json
    python benchmarks/bench_tracker.py --json outputs/bench_tracker.json \
        && python scripts/readme_figures.py --bench-tracker outputs/bench_tracker.json
    python benchmarks/wire_size.py --json outputs/wire_size.json \
        && python scripts/readme_figures.py --wire-size outputs/wire_size.json
    python scripts/readme_figures.py --check      # exit 1 when the README differs from the records

A new JSON file is first copied to docs/figures/ (the committed record of the run the README
quotes), then every block of the README between `<!-- figures:NAME -->` and
`<!-- /figures:NAME -->` is rewritten from its record. Text outside the blocks is never touched.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def demo_block(figures: dict) -> str:
    """The demo's figures: the totals in a sentence, then J&F and frame counts per sequence."""
    overall, sequences = figures["overall"], figures["sequences"]
    frames = {sequence["frames_published"] for sequence in sequences}
    lines = [
        f"In the last recorded run (`scripts/demo.sh`, {figures['model']}, the camera at "
        f"{figures['camera_rate_hz']:g} images/s, load average {figures['load_average_1min']:.1f} at its end) "
        f"{len(sequences)} sequences of {'/'.join(map(str, sorted(frames)))} images took "
        f"{figures['runtime_s']:.0f} s: the node answered {overall['frames_processed']} of "
        f"{overall['frames_published']} images, latency {overall['latency_mean_ms']:.0f} ms mean, "
        f"{overall['latency_p95_ms']:.0f} ms p95, {overall['tracker_fps']:.1f} results/s.",
        "",
        "| sequence | objects | images answered | J&F | still J&F | visibility accuracy | latency mean / p95 (ms) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = [(str(sequence["seed"]), sequence["objects"], sequence, sequence["still_jf"]) for sequence in sequences]
    rows.append(("all", sum(s["objects"] for s in sequences), overall, figures["still_baseline"]["jf"]))
    for name, objects, values, still_jf in rows:
        lines.append(
            f"| {name} | {objects} | {values['frames_processed']}/{values['frames_published']} | {values['jf']:.3f} "
            f"| {still_jf:.3f} | {values['visibility_accuracy']:.2f} "
            f"| {values['latency_mean_ms']:.0f} / {values['latency_p95_ms']:.0f} |"
        )
    return "\n".join(lines)


def bench_tracker_block(record: dict) -> str:
    """The tracker's cost against Meta's predictor, as one bullet of "The tracker"."""
    latency, memory = record["latency"], record["memory"]
    counts = " / ".join(str(row["objects"]) for row in latency)
    ours = " / ".join(f"{row['ours_ms']:,.0f}" for row in latency)
    ratios = " / ".join(f"{row['ours_ms'] / row['reference_ms']:.2f}" for row in latency)
    first, last = memory[0], memory[-1]
    return (
        f"- **Cost** (`{record['command']}`, {record['model']} at {record['image_size']} px, "
        f"{record['cpu_threads']} CPU threads, load average {record['load_average_at_start']:.1f} when it started; "
        f"same weights and frames): per frame {ours} ms for {counts} object{'' if counts == '1' else 's'}, "
        f"{ratios} times Meta's predictor. "
        f"After {last['frames']:,} frames with one object at {record['memory_image_size']} px the tracker holds "
        f"{last['ours_state_mb']:.0f} MB of tensors ({first['ours_state_mb']:.0f} MB after {first['frames']:,})."
    )


def wire_size_block(record: dict) -> str:
    """Bytes per image of each mask_mode and of the labels image."""
    images = record["images"]

    def each(values) -> str:
        return " / ".join(f"{value:,}" for value in values)

    objects = ", ".join(str(image["objects"]) for image in images)
    areas = ", ".join(f"{image['area_percent']:.1f}%" for image in images)
    sizes = {mode: each(image["array_bytes"][mode] for image in images) for mode in ("full", "cropped", "none")}
    labels = each(sorted({image["labels_bytes"] for image in images}))
    return (
        f"On the first frames of the demo's {len(images)} held-out sequences scaled to "
        f"{record['width']}x{record['height']} (`{record['command']}`: {objects} objects covering {areas} of the "
        f"image), a TrackedObjectArray takes {sizes['full']} bytes with full masks, {sizes['cropped']} cropped "
        f"and {sizes['none']} with none; a labels image takes {labels}."
    )


# Each block: its record in docs/figures/ and what writes its text.
BLOCKS: dict[str, tuple[str, Callable[[dict], str]]] = {
    "demo": ("demo_summary.json", demo_block),
    "bench_tracker": ("bench_tracker.json", bench_tracker_block),
    "wire_size": ("wire_size.json", wire_size_block),
}


class FiguresError(Exception):
    """A README block without its record, or unbalanced markers."""


def render(readme: str, records: Path) -> str:
    """`readme` with every figures block rewritten from its record in `records`."""
    for name, (file_name, write) in BLOCKS.items():
        begin, end = f"<!-- figures:{name} -->\n", f"<!-- /figures:{name} -->"
        if (readme.count(begin), readme.count(end)) == (0, 0):
            continue
        pattern = re.compile(rf"({re.escape(begin)}).*?({re.escape(end)})", re.DOTALL)
        if not readme.count(begin) == readme.count(end) == len(pattern.findall(readme)) == 1:
            raise FiguresError(f"the README needs one {begin.strip()} line followed by one {end} line")
        path = records / file_name
        if not path.is_file():
            raise FiguresError(f"the README has a figures:{name} block but there is no record {path}")
        text = write(json.loads(path.read_text()))
        readme = pattern.sub(lambda match: match.group(1) + text + "\n" + match.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, help="a demo run's summary.json to record first")
    parser.add_argument("--bench-tracker", type=Path, help="a bench_tracker.py --json file to record first")
    parser.add_argument("--wire-size", type=Path, help="a wire_size.py --json file to record first")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the README differs")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help="the README to write or check")
    parser.add_argument("--records", type=Path, default=ROOT / "docs" / "figures", help="folder of the records")
    args = parser.parse_args(argv)
    new_records = {"demo": args.demo, "bench_tracker": args.bench_tracker, "wire_size": args.wire_size}
    if args.check and any(new_records.values()):
        parser.error("--check compares the README with the records as they are: give no new record")
    for name, source in new_records.items():
        if source is not None:
            args.records.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, args.records / BLOCKS[name][0])
    current = args.readme.read_text()
    try:
        expected = render(current, args.records)
    except (FiguresError, OSError, KeyError, ValueError) as error:
        print(f"readme_figures: {error}", file=sys.stderr)
        return 2
    if args.check:
        if expected == current:
            return 0
        diff = difflib.unified_diff(current.splitlines(), expected.splitlines(), "README.md", "from the records",
                                    lineterm="")  # fmt: skip
        print("\n".join(diff), file=sys.stderr)
        print("readme_figures: the README's figures differ from docs/figures/: run scripts/readme_figures.py",
              file=sys.stderr)  # fmt: skip
        return 1
    if expected != current:
        args.readme.write_text(expected)
        print(f"rewrote the figures in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
