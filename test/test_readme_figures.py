"""scripts/readme_figures.py: the README's figures are those of the recorded runs, and stay so."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "scripts" / "readme_figures.py")
readme_figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_figures)

RECORDS = ROOT / "docs" / "figures"


def test_the_readme_quotes_the_recorded_runs():
    assert readme_figures.main(["--check"]) == 0


def test_every_record_has_its_block_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    records = {path.name for path in RECORDS.glob("*.json")}
    assert "demo_summary.json" in records
    for name, file_name in readme_figures.RECORDS.items():
        has_block = f"<!-- figures:{name} -->" in readme and f"<!-- /figures:{name} -->" in readme
        assert has_block == (file_name in records), name


@pytest.fixture
def copy(tmp_path):
    """A README and records of our own: the repository's."""
    shutil.copytree(RECORDS, tmp_path / "records")
    shutil.copyfile(ROOT / "README.md", tmp_path / "README.md")
    return tmp_path


def arguments(copy: Path, *extra: str) -> list[str]:
    return ["--readme", str(copy / "README.md"), "--records", str(copy / "records"), *extra]


def test_a_new_demo_run_is_recorded_and_written_and_check_catches_drift(copy, capsys):
    summary = json.loads((RECORDS / "demo_summary.json").read_text())
    summary["overall"]["frames_processed"] = 3
    summary["overall"]["latency_p95_ms"] = 987.4
    new_run = copy / "summary.json"
    new_run.write_text(json.dumps(summary))
    readme_before = (copy / "README.md").read_text()

    assert readme_figures.main(arguments(copy, "--demo", str(new_run))) == 0
    readme = (copy / "README.md").read_text()
    assert f"answered 3 of {summary['overall']['frames_published']} images" in readme and "987 ms p95" in readme
    assert json.loads((copy / "records" / "demo_summary.json").read_text()) == summary
    outside = readme_before.split("<!-- figures:demo -->")[0]
    assert readme.startswith(outside)  # text before the block is untouched
    assert readme_figures.main(arguments(copy, "--check")) == 0

    (copy / "README.md").write_text(readme.replace("987 ms p95", "60 ms p95"))
    assert readme_figures.main(arguments(copy, "--check")) == 1
    assert "+" in capsys.readouterr().err  # the diff says what the records give


def test_a_block_without_its_record_or_end_marker_is_an_error(copy, capsys):
    (copy / "records" / "demo_summary.json").unlink()
    assert readme_figures.main(arguments(copy, "--check")) == 2
    assert "figures:demo block but there is no record" in capsys.readouterr().err
    shutil.copyfile(RECORDS / "demo_summary.json", copy / "records" / "demo_summary.json")
    assert readme_figures.main(arguments(copy, "--check")) == 0
    readme = (ROOT / "README.md").read_text().replace("<!-- /figures:demo -->", "")
    (copy / "README.md").write_text(readme)
    assert readme_figures.main(arguments(copy, "--check")) == 2
    assert "needs one <!-- figures:demo --> line followed by one <!-- /figures:demo --> line" in capsys.readouterr().err


def test_bench_tracker_record_becomes_a_table_with_precision_and_machine():
    record = {"command": "python benchmarks/bench_tracker.py --json x.json", "model": "sam2.1_hiera_t",
              "image_size": 512, "memory_image_size": 256, "device": "cpu", "cpu_threads": 2, "torch": "2.x",
              "load_average_at_start": 0.4, "machine": "a CPU, 2 cores, without native bfloat16",
              "latency": [{"objects": 1, "precision": "float32", "compile": False, "backend": "torch",
                           "ours_ms": 710.2, "reference_ms": 670.0, "mask_iou_with_reference": 1.0},
                          {"objects": 8, "precision": "bfloat16", "compile": True, "backend": "torch",
                           "ours_ms": 3853.0, "reference_ms": 3010.2, "mask_iou_with_reference": 0.9996}],
              "memory": [{"frames": 100, "ours_state_mb": 20.6}, {"frames": 1000, "ours_state_mb": 21.2}]}  # fmt: skip
    text = readme_figures.bench_tracker_block(record)
    assert "a CPU, 2 cores, without native bfloat16, 2 threads" in text
    assert "| torch | float32 | no | 1 | 710 | 670 | 0.94 | 1.000 |" in text
    assert "| torch | bfloat16 | yes | 8 | 3,853 | 3,010 | 0.78 | 1.000 |" in text
    assert "After 1,000 frames with one object at 256 px the tracker holds 21 MB of tensors (21 MB after 100)" in text


def test_a_recorded_run_gets_this_machine_and_the_precision_it_resolved(copy):
    summary = json.loads((RECORDS / "demo_summary.json").read_text())
    del summary["machine"], summary["precision"]
    new_run = copy / "summary.json"
    new_run.write_text(json.dumps(summary))
    assert readme_figures.main(arguments(copy, "--demo", str(new_run), "--precision", "float16")) == 0
    recorded = json.loads((copy / "records" / "demo_summary.json").read_text())
    assert recorded["precision"] == "float16" and recorded["machine"] == readme_figures.this_machine()
    assert f"sam2.1_hiera_demo in float16 on {recorded['machine']}" in (copy / "README.md").read_text()


def test_the_parameter_table_is_every_setting_with_the_run_time_ones_marked():
    from sam2_ros.parameters import FIELDS

    text = readme_figures.parameters_block(None)
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(FIELDS)
    marked = [row.split("`")[1] for row in rows if row.split("|")[1].strip().endswith("*")]
    assert marked == [name for name, spec in FIELDS.items() if not spec.metadata["read_only"]]
    assert f"The {len(marked)} parameters marked *" in text
    assert "| `max_objects` | 32 | Most objects tracked at once" in text


def test_the_demo_model_table_is_its_recorded_evaluation():
    record = json.loads((ROOT / readme_figures.DEMO_MODEL_RECORD).read_text())
    text = readme_figures.demo_model_block(record)
    for family, report in record["evaluation"].items():
        assert f"| {family} | {report['tracker']['jf']:.3f} |" in text


def test_wire_size_record_becomes_its_sentence():
    record = json.loads((RECORDS / "wire_size.json").read_text())
    text = readme_figures.wire_size_block(record)
    full = " / ".join(f"{image['array_bytes']['full']:,}" for image in record["images"])
    cropped = " / ".join(f"{image['array_bytes']['cropped']:,}" for image in record["images"])
    assert f"takes {full} bytes with full masks, {cropped} cropped" in text
    assert f"scaled to {record['width']}x{record['height']}" in text
