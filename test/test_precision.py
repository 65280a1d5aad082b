"""Precision "auto": the detection from hardware facts, and what bfloat16 changes in the masks."""

import numpy as np
import pytest
import torch

from sam2core import StreamingTracker, build_model
from sam2core.data import held_out_sequences
from sam2core.evaluation.benchmark import track_sequence
from sam2core.precision import auto_precision, choose_precision, cpu_flags

AVX2_EPYC = frozenset({"fpu", "sse4_2", "avx", "avx2", "fma", "f16c"})
SAPPHIRE_RAPIDS = AVX2_EPYC | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8"}
COOPER_LAKE = AVX2_EPYC | {"avx512f", "avx512_bf16"}
SKYLAKE_SERVER = AVX2_EPYC | {"avx512f", "avx512bw", "avx512vl"}


@pytest.mark.parametrize(
    "flags, expected",
    [(AVX2_EPYC, "float32"), (SKYLAKE_SERVER, "float32"), (COOPER_LAKE, "bfloat16"), (SAPPHIRE_RAPIDS, "bfloat16")],
)
def test_auto_on_a_cpu_is_bfloat16_only_with_native_instructions(flags, expected):
    choice = auto_precision("cpu", cpu_flags=flags)
    assert choice.name == expected
    assert choice.reason.startswith("auto:")


@pytest.mark.parametrize(
    "capability, expected", [((7, 5), "float32"), ((8, 0), "bfloat16"), ((8, 7), "bfloat16"), ((9, 0), "bfloat16"), (None, "float32")]
)
def test_auto_on_cuda_is_bfloat16_from_ampere_on(capability, expected):
    assert auto_precision("cuda", cuda_capability=capability).name == expected


def test_auto_elsewhere_is_float32():
    assert auto_precision("mps").name == "float32"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: x\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\nflags\t: fpu\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_a_requested_precision_is_kept_and_a_bad_one_rejected():
    assert choose_precision("bfloat16", torch.device("cpu")).name == "bfloat16"
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("int8", torch.device("cpu"))


def test_the_tracker_defaults_to_auto_and_says_what_it_chose():
    tracker = StreamingTracker(build_model("sam2.1_hiera_demo"))
    assert tracker.options.precision == "auto"
    assert tracker.precision == auto_precision("cpu", cpu_flags=cpu_flags())


def test_bfloat16_agrees_with_float32_on_the_held_out_sequences():
    """The bundled model over 4 held-out sequences, mask prompts on frame 0: bfloat16 masks against
    float32 masks (mean IoU over frames and objects, empty-empty counting 1) and visible flags."""
    model = build_model("sam2.1_hiera_demo")
    ious, same_visible = [], []
    for sequence in held_out_sequences(4):
        single = track_sequence(model, sequence, prompt="mask", tracker_options={"precision": "float32"})
        half = track_sequence(model, sequence, prompt="mask", tracker_options={"precision": "bfloat16"})
        union = (single.masks | half.masks).sum(axis=(2, 3))
        intersection = (single.masks & half.masks).sum(axis=(2, 3))
        ious.append(np.where(union == 0, 1.0, intersection / np.maximum(union, 1)).ravel())
        same_visible.append((single.visible == half.visible).ravel())
    mean_iou, visible_agreement = np.concatenate(ious).mean(), np.concatenate(same_visible).mean()
    print(f"bfloat16 vs float32: mean mask IoU {mean_iou:.4f}, visible flag agreement {visible_agreement:.4f}")
    assert mean_iou >= 0.95
    assert visible_agreement >= 0.95
