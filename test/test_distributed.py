"""`torchrun` with two CPU processes (gloo): each rank trains on its own batches, and after a
few steps both hold the same weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from sam2core import build_model, load_checkpoint

REPOSITORY = Path(__file__).resolve().parents[1]


def test_two_ranks_train_on_different_batches_to_the_same_weights(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "sam2core.train",
        "--steps",
        "3",
        "--clips-per-step",
        "1",
        "--threads",
        "1",
        "--evaluate-every",
        "1000",
        "--warmup-steps",
        "1",
        "--out",
        str(out),
    ]
    environment = {**os.environ, "PYTHONPATH": f"{REPOSITORY}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-3000:]
    logs = [
        [json.loads(line)["total"] for line in (folder / "log.jsonl").read_text().splitlines()]
        for folder in (out, out / "rank1")
    ]
    assert len(logs[0]) == len(logs[1]) == 3 and logs[0] != logs[1]  # different batches
    models = [build_model("sam2.1_hiera_demo") for _ in range(2)]
    for model, folder in zip(models, (out, out / "rank1")):
        load_checkpoint(model, folder / "checkpoint.pt")
    first, second = (model.state_dict() for model in models)
    assert all(torch.equal(first[key], second[key]) for key in first)
