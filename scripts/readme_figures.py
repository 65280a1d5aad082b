#!/usr/bin/env python3
"""Write the README's measured figures and its parameter table from their sources.

    scripts/demo.sh && python scripts/readme_figures.py --demo outputs/demo/summary.json
    python benchmarks/bench_tracker.py --json outputs/bench_tracker.json \
        && python scripts/readme_figures.py --bench-tracker outputs/bench_tracker.json
    python benchmarks/wire_size.py --json outputs/wire_size.json \
        && python scripts/readme_figures.py --wire-size outputs/wire_size.json
    python scripts/readme_figures.py --check      # exit 1 when the README differs from the sources

A new JSON file is first copied to docs/figures/ (the committed record of the run the README
quotes), with the machine it was measured on (and, for the demo, the precision `--precision`
resolves to there) added when it lacks them; run it on the machine that measured. Then every
block of the README between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->` is rewritten
from its source: a record in docs/figures/, the bundled model's record
(sam2core/weights/sam2.1_hiera_demo.json), or the node's `Settings` (the parameter table, which
needs the ROS environment: `. scripts/env.sh`). Text outside the blocks is never touched.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import torch  # noqa: E402

from sam2core.precision import CPU_BFLOAT16_FLAGS, choose_precision, cpu_flags  # noqa: E402

DEMO_MODEL_RECORD = "sam2core/weights/sam2.1_hiera_demo.json"


def this_machine() -> str:
    """What a record measured here ran on: the CPU's name, its core count and its native bfloat16."""
    name = "an unnamed CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
                break
    native = sorted(CPU_BFLOAT16_FLAGS & cpu_flags())
    bfloat16 = f"with {' and '.join(native)}" if native else "without native bfloat16"
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{name}, {os.cpu_count()} cores, {bfloat16}{gpu}"


def demo_block(figures: dict) -> str:
    """The demo's figures: the totals in a sentence, then J&F and frame counts per sequence."""
    overall, sequences = figures["overall"], figures["sequences"]
    frames = {sequence["frames_published"] for sequence in sequences}
    lines = [
        f"In the last recorded run (`scripts/demo.sh`, {figures['model']} in {figures['precision']} on "
        f"{figures['machine']}, the camera at "
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
    if "with_detector" in figures:  # the second run, with the camera's simulated detector
        with_detector = figures["with_detector"]["overall"]
        lines += [
            "",
            f"Then with the camera's simulated detector on `detections`: J&F {with_detector['jf']:.3f}, visibility "
            f"accuracy {with_detector['visibility_accuracy']:.2f}, {with_detector['frames_processed']} of "
            f"{with_detector['frames_published']} images answered, latency {with_detector['latency_mean_ms']:.0f} ms "
            f"mean.",
        ]
    return "\n".join(lines)


def bench_tracker_block(record: dict) -> str:
    """The tracker's time per frame against Meta's predictor: one row per backend, precision and
    object count, then the memory held over a long stream."""
    latency, memory = record["latency"], record["memory"]
    lines = [
        f"`{record['command']}` ({record['model']} at {record['image_size']} px, random weights shared with "
        f"Meta's predictor, the same frames; {record['machine']}, {record['cpu_threads']} threads, load average "
        f"{record['load_average_at_start']:.1f} at its start; torch {record['torch']}), milliseconds per frame:",
        "",
        "| backend | precision | compiled | objects | ours | Meta's | Meta's time / ours | mask IoU with Meta's |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in latency:
        lines.append(
            f"| {row['backend']} | {row['precision']} | {'yes' if row['compile'] else 'no'} | {row['objects']} "
            f"| {row['ours_ms']:,.0f} | {row['reference_ms']:,.0f} | {row['reference_ms'] / row['ours_ms']:.2f} "
            f"| {row['mask_iou_with_reference']:.3f} |"
        )
    if memory:
        first, last = memory[0], memory[-1]
        lines += [
            "",
            f"After {last['frames']:,} frames with one object at {record['memory_image_size']} px the tracker "
            f"holds {last['ours_state_mb']:.0f} MB of tensors "
            f"({first['ours_state_mb']:.0f} MB after {first['frames']:,}).",
        ]
    return "\n".join(lines)


def identity_block(record: dict) -> str:
    """The tracker's identity policies side by side per scene family (benchmarks/identity.py)."""
    lines = [
        f"`python benchmarks/identity.py --sequences {record['sequences_per_family']}` ({record['model']}, "
        f"float32, every target's mask on frame 0; {record['machine']}; {record['conditions']}):",
        "",
        "| family | policy | J&F | visibility accuracy | collapse | recovered within 3 | ms/frame |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in record["rows"]:
        within = "-" if row["recovered_within_3"] is None else f"{row['recovered_within_3']:.0%}"
        lines.append(
            f"| {row['family']} | {row['policy']} | {row['jf']:.3f} | {row['visibility_accuracy']:.3f} "
            f"| {row['collapse_rate']:.1%} | {within} | {row['ms_per_frame']:.0f} |"
        )
    return "\n".join(lines)


def demo_model_block(record: dict) -> str:
    """The bundled model's held-out evaluation per scene family, against the baselines."""
    lines = [
        "| family | J&F | first mask held still | nothing | visibility accuracy (always visible) "
        "| occlusions recovered (within 3 frames) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for family, report in record["evaluation"].items():
        tracker = report["tracker"]
        baselines = {baseline["name"]: baseline for baseline in report["baselines"]}
        occluded = next(event for event in tracker["recovery"] if event["cause"] == "occluded")
        lines.append(
            f"| {family} | {tracker['jf']:.3f} | {baselines['still']['jf']:.3f} | {baselines['empty']['jf']:.3f} "
            f"| {tracker['visibility_accuracy']:.3f} ({baselines['still']['visibility_accuracy']:.3f}) "
            f"| {occluded['recovered']:.0%} ({occluded['quickly_recovered']:.0%}) |"
        )
    return "\n".join(lines)


def parameters_block(_: None) -> str:
    """Every parameter of the node, from `Settings`: default, whether it changes at run time, what it does."""
    from sam2_ros.parameters import FIELDS

    at_run_time = [name for name, spec in FIELDS.items() if not spec.metadata["read_only"]]
    lines = [
        f"The {len(at_run_time)} parameters marked * change while the node runs "
        "(`ros2 param set`); the others take effect on a restart.",
        "",
        "| parameter | default | what it is |",
        "| --- | --- | --- |",
    ]
    for name, spec in FIELDS.items():
        meta = spec.metadata
        default = str(spec.default).lower() if isinstance(spec.default, bool) else f"{spec.default}"
        marker = "" if meta["read_only"] else " *"
        lines.append(f"| `{name}`{marker} | {default or '(empty)'} | {first_clause(meta['description'])} |")
    return "\n".join(lines)


def first_clause(description: str) -> str:
    """A parameter's description without its parenthesised remarks, up to its first colon or
    semicolon, with table bars escaped: the table's short form (`--help` gives the whole, units
    and ranges included)."""
    plain = re.sub(r"\s*\([^)]*\)", "", description)
    return re.split(r"[:;] ", plain, maxsplit=1)[0].strip().rstrip(".,").replace("|", "\\|") + "."


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


# Each block: its source (a record in docs/figures/, a path from the repository's root, or None
# for none) and what writes its text.
BLOCKS: dict[str, tuple[str | None, Callable[[dict | None], str]]] = {
    "demo": ("demo_summary.json", demo_block),
    "bench_tracker": ("bench_tracker.json", bench_tracker_block),
    "wire_size": ("wire_size.json", wire_size_block),
    "demo_model": (DEMO_MODEL_RECORD, demo_model_block),
    "identity": ("docs/benchmarks/identity.json", identity_block),
    "parameters": (None, parameters_block),
}
# The blocks whose source is a run recorded in docs/figures/.
RECORDS = {name: file_name for name, (file_name, _) in BLOCKS.items() if file_name and "/" not in file_name}


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
        source = None
        if file_name is not None:
            path = records / file_name if name in RECORDS else ROOT / file_name
            if not path.is_file():
                raise FiguresError(f"the README has a figures:{name} block but there is no record {path}")
            source = json.loads(path.read_text())
        text = write(source)
        readme = pattern.sub(lambda match, text=text: match.group(1) + text + "\n" + match.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, help="a demo run's summary.json to record first")
    parser.add_argument("--bench-tracker", type=Path, help="a bench_tracker.py --json file to record first")
    parser.add_argument("--wire-size", type=Path, help="a wire_size.py --json file to record first")
    parser.add_argument("--precision", default="auto", help="the precision the new demo run used (auto: resolved here)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the README differs")
    parser.add_argument(
        "--readme",
        type=Path,
        nargs="+",
        default=[ROOT / "README.md", ROOT / "docs" / "parameters.md"],
        help="the documents to write or check (default: the README and the parameter reference)",
    )
    parser.add_argument("--records", type=Path, default=ROOT / "docs" / "figures", help="folder of the records")
    args = parser.parse_args(argv)
    new_records = {"demo": args.demo, "bench_tracker": args.bench_tracker, "wire_size": args.wire_size}
    if args.check and any(new_records.values()):
        parser.error("--check compares the README with the records as they are: give no new record")
    for name, source in new_records.items():
        if source is not None:
            record = json.loads(source.read_text())
            record.setdefault("machine", this_machine())
            if name == "demo" and "precision" not in record:
                device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
                record["precision"] = choose_precision(args.precision, device).name
            args.records.mkdir(parents=True, exist_ok=True)
            (args.records / RECORDS[name]).write_text(json.dumps(record, indent=2) + "\n")
    status = 0
    for document in args.readme:
        status = max(status, _update(document, args.records, check=args.check))
    return status


def _update(document: Path, records: Path, *, check: bool) -> int:
    """Rewrite (or with `check`, compare) the figures blocks of `document`; the exit status."""
    current = document.read_text()
    try:
        expected = render(current, records)
    except (FiguresError, OSError, KeyError, ValueError) as error:
        print(f"readme_figures: {document.name}: {error}", file=sys.stderr)
        return 2
    if check:
        if expected == current:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(), expected.splitlines(), document.name, "from the records", lineterm=""
        )
        print("\n".join(diff), file=sys.stderr)
        print(
            f"readme_figures: the blocks of {document.name} differ from their sources: run scripts/readme_figures.py",
            file=sys.stderr,
        )
        return 1
    if expected != current:
        document.write_text(expected)
        print(f"rewrote the figures in {document}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
