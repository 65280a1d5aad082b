"""Precision "auto": the detection from hardware facts, and what bfloat16 changes in the masks."""

import cv2
import numpy as np
import pytest
import torch

from sam2core import StreamingTracker, TrackerOptions, build_model
from sam2core.data import held_out_sequences
from sam2core.evaluation.benchmark import track_sequence
from sam2core.precision import CPU_FLAGS_VARIABLE, auto_precision, choose_precision, cpu_flags
from sam2core.tracking import Prompt

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
    "capability, expected",
    [((7, 5), "float32"), ((8, 0), "bfloat16"), ((8, 7), "bfloat16"), ((9, 0), "bfloat16"), (None, "float32")],
)
def test_auto_on_cuda_is_bfloat16_from_ampere_on(capability, expected):
    assert auto_precision("cuda", cuda_capability=capability).name == expected


def test_auto_elsewhere_is_float32():
    assert auto_precision("mps").name == "float32"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: x\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\nflags\t: fpu\n"
    )
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_a_requested_precision_is_kept_and_a_bad_one_rejected():
    assert choose_precision("bfloat16", torch.device("cpu")).name == "bfloat16"
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("int8", torch.device("cpu"))


def test_bfloat16_agrees_with_float32_on_the_held_out_sequences():
    """The bundled model over 4 held-out sequences, mask prompts on frame 0: bfloat16 masks against
    float32 masks (mean IoU over frames and objects, empty-empty counting 1) and visible flags."""
    model = build_model("sam2.1_hiera_demo")
    ious, same_visible = [], []
    for sequence in held_out_sequences(4):
        single = track_sequence(model, sequence, prompt="mask", tracker_options=TrackerOptions(precision="float32"))
        half = track_sequence(model, sequence, prompt="mask", tracker_options=TrackerOptions(precision="bfloat16"))
        union = (single.masks | half.masks).sum(axis=(2, 3))
        intersection = (single.masks & half.masks).sum(axis=(2, 3))
        ious.append(np.where(union == 0, 1.0, intersection / np.maximum(union, 1)).ravel())
        same_visible.append((single.visible == half.visible).ravel())
    mean_iou, visible_agreement = np.concatenate(ious).mean(), np.concatenate(same_visible).mean()
    print(f"bfloat16 vs float32: mean mask IoU {mean_iou:.4f}, visible flag agreement {visible_agreement:.4f}")
    assert mean_iou >= 0.95
    assert visible_agreement >= 0.95


# ----------------------------------------------------------------- what "auto" sees of the CPU

# The two kinds of CPU the suite must pass on, as SAM2CORE_CPU_FLAGS spells them.
CPU_PROFILES = {"avx2": ("avx2", "float32"), "native bfloat16": ("avx2 avx512_bf16 amx_bf16", "bfloat16")}


@pytest.fixture(params=list(CPU_PROFILES))
def cpu_profile(request, monkeypatch) -> str:
    """Runs the test as on each kind of CPU; the precision "auto" must pick there."""
    flags, expected = CPU_PROFILES[request.param]
    monkeypatch.setenv(CPU_FLAGS_VARIABLE, flags)
    return expected


def test_the_cpu_flags_variable_replaces_what_the_cpu_says(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t: fpu avx2 amx_bf16\n")
    assert cpu_flags(cpuinfo, environ={CPU_FLAGS_VARIABLE: "avx2,fma  sse4_2"}) == {"avx2", "fma", "sse4_2"}
    assert cpu_flags(cpuinfo, environ={CPU_FLAGS_VARIABLE: ""}) == frozenset()
    assert cpu_flags(cpuinfo, environ={}) == {"fpu", "avx2", "amx_bf16"}


@pytest.mark.precision
def test_the_tracker_defaults_to_auto_and_says_what_it_chose(cpu_profile):
    tracker = StreamingTracker(build_model("sam2.1_hiera_demo"))
    assert tracker.options.precision == "auto"
    assert tracker.precision.name == cpu_profile
    assert CPU_FLAGS_VARIABLE in tracker.precision.reason
    assert tracker.precision_by_part == {"model": f"torch {cpu_profile}", "memory bank": "bfloat16"}


# ----------------------------------------------------------------- what bfloat16 promises

# bfloat16 against float32 (random sam2.1_hiera_t weights at 256 px, 3 objects, 8 frames of a
# held-out sequence): measured on a 2-core Intel Xeon with AMX, mean mask IoU 0.99995 (lowest
# 0.9996), visible flags all equal, lowest object-pointer cosine similarity 0.99995. The bounds
# leave room for other CPUs' kernels.
BFLOAT16_MEAN_IOU = 0.999
BFLOAT16_POINTER_COSINE = 0.999
# One object's mask logits with and without other objects in its batch: in bfloat16 the batch
# changes rounding (measured above: 0.087 in the logits, 0.0029 in the pointer, 0 in the score);
# in float32, 4.8e-7 and 2.5e-7 (one batched matrix product rounds apart from a single one).
BFLOAT16_BATCH_LOGITS = 0.5
BFLOAT16_BATCH_POINTER = 0.02
FLOAT32_BATCH = 2e-6


@pytest.fixture(scope="module")
def random_tiny():
    """sam2.1_hiera_t at 256 px with random weights whose masks are real (object score raised)."""
    torch.manual_seed(0)
    model = build_model("sam2.1_hiera_t", image_size=256).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.02)
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(6.0)
    return model


@pytest.fixture(scope="module")
def frames_256():
    sequence = next(iter(held_out_sequences(1)))
    return [cv2.resize(frame, (256, 256), interpolation=cv2.INTER_AREA) for frame in sequence.frames[:8]]


THREE_OBJECTS = {
    1: Prompt(box=(30, 40, 120, 140)),
    2: Prompt(points=np.array([[200.0, 60.0]]), labels=np.array([1])),
    3: Prompt(box=(150, 150, 240, 230)),
}


def track(model, frames, prompts, precision, objects_per_attention_pass=None) -> list[dict]:
    """Per frame, per object: (mask logits, visible, object pointer, object score)."""
    options = TrackerOptions(precision=precision, objects_per_attention_pass=objects_per_attention_pass)
    tracker = StreamingTracker(model, options)
    return [
        {
            obj: (out.mask_logits, out.visible, out.object_pointer, out.object_score)
            for obj, out in tracker.track(frame, prompts if index == 0 else None).objects.items()
        }
        for index, frame in enumerate(frames)
    ]  # fmt: skip


@pytest.mark.slow
def test_bfloat16_agrees_with_float32_on_random_tiny_weights(random_tiny, frames_256):
    single = track(random_tiny, frames_256, THREE_OBJECTS, "float32")
    half = track(random_tiny, frames_256, THREE_OBJECTS, "bfloat16")
    ious, cosines = [], []
    for frame_single, frame_half in zip(single, half):
        for obj, (logits, visible, pointer, _) in frame_single.items():
            mask, half_mask = logits > 0, frame_half[obj][0] > 0
            union = (mask | half_mask).sum().item()
            ious.append(1.0 if union == 0 else (mask & half_mask).sum().item() / union)
            cosines.append(torch.nn.functional.cosine_similarity(pointer, frame_half[obj][2], dim=0).item())
            assert visible == frame_half[obj][1]
    print(
        f"bfloat16 vs float32, random sam2.1_hiera_t: mean IoU {np.mean(ious):.5f}, "
        f"lowest pointer cosine {min(cosines):.5f}"
    )
    assert np.mean(ious) >= BFLOAT16_MEAN_IOU
    assert min(cosines) >= BFLOAT16_POINTER_COSINE


@pytest.mark.slow
@pytest.mark.parametrize(
    "precision, logits_bound, pointer_bound",
    [("float32", FLOAT32_BATCH, FLOAT32_BATCH), ("bfloat16", BFLOAT16_BATCH_LOGITS, BFLOAT16_BATCH_POINTER)],
)
def test_an_object_is_tracked_alike_with_or_without_others(
    random_tiny, frames_256, precision, logits_bound, pointer_bound
):
    alone = track(random_tiny, frames_256, {1: THREE_OBJECTS[1]}, precision)
    crowded = track(random_tiny, frames_256, THREE_OBJECTS, precision)
    logits = max((a[1][0] - c[1][0]).abs().max().item() for a, c in zip(alone, crowded))
    pointer = max((a[1][2] - c[1][2]).abs().max().item() for a, c in zip(alone, crowded))
    print(f"{precision}: object 1 alone vs with two others: logits {logits:.2e}, pointer {pointer:.2e}")
    assert logits <= logits_bound and pointer <= pointer_bound
    assert all(a[1][1] == c[1][1] for a, c in zip(alone, crowded))


@pytest.mark.slow
def test_objects_through_memory_attention_in_any_grouping_are_tracked_alike(random_tiny, frames_256):
    """One pass per object (the CPU's default), two per pass, or all three in one batch: the same
    results in float32, to the rounding of a batched matrix product."""
    runs = {group: track(random_tiny, frames_256, THREE_OBJECTS, "float32", group) for group in (0, 1, 2)}
    for group in (1, 2):
        pairs = [(a[obj], b[obj]) for a, b in zip(runs[0], runs[group]) for obj in a]
        logits = max((a[0] - b[0]).abs().max().item() for a, b in pairs)
        pointer = max((a[2] - b[2]).abs().max().item() for a, b in pairs)
        print(f"{group} object(s) per pass vs one batch: logits {logits:.2e}, pointer {pointer:.2e}")
        assert logits <= FLOAT32_BATCH and pointer <= FLOAT32_BATCH
        assert all(a[1] == b[1] for a, b in pairs)
