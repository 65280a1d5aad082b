"""The tracker's arithmetic: float32, or autocast to bfloat16 / float16, and "auto".

"auto" picks bfloat16 only where the hardware runs it natively: a CUDA GPU of compute capability
8.0 or later (Ampere on), or a CPU with AMX or AVX-512 BF16 matrix/vector instructions. Elsewhere
bfloat16 is emulated (on an AVX2-only CPU it is converted to float32 and back around every
matrix product) and float32 is faster, so "auto" is float32 there.

`SAM2CORE_CPU_FLAGS` overrides what "auto" sees of the CPU: a space- or comma-separated list of
/proc/cpuinfo flags (`SAM2CORE_CPU_FLAGS=avx2` answers as an AVX2-only CPU would,
`SAM2CORE_CPU_FLAGS=avx512_bf16` as one with native bfloat16), so one machine can run what
either kind of CPU would run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

# Environment variable that replaces the CPU's flags as "auto" reads them (see the module's doc).
CPU_FLAGS_VARIABLE = "SAM2CORE_CPU_FLAGS"

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
PRECISIONS = ("auto", *DTYPES)
# /proc/cpuinfo flags of x86 instructions that compute on bfloat16 natively.
CPU_BFLOAT16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
# First CUDA compute capability with bfloat16 tensor cores (Ampere).
CUDA_BFLOAT16_CAPABILITY = (8, 0)


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a tracker runs in, and why (for logs and diagnostics)."""

    name: str  # a key of DTYPES
    reason: str

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.name]


def autocast(choice: PrecisionChoice, device: torch.device) -> torch.autocast:
    """The autocast context that runs model code in `choice` on `device` (a no-op for float32)."""
    return torch.autocast(device.type, dtype=choice.dtype, enabled=choice.dtype != torch.float32)


def auto_precision(
    device_type: str, *, cpu_flags: frozenset[str] = frozenset(), cuda_capability: tuple[int, int] | None = None
) -> PrecisionChoice:
    """bfloat16 where `device_type` runs it natively, else float32. Pure: the caller passes the
    CPU's flags (as in /proc/cpuinfo) or the GPU's compute capability."""
    if device_type == "cuda":
        if cuda_capability is not None and tuple(cuda_capability) >= CUDA_BFLOAT16_CAPABILITY:
            return PrecisionChoice(
                "bfloat16", f"auto: CUDA compute capability {cuda_capability[0]}.{cuda_capability[1]} has bfloat16"
            )
        return PrecisionChoice("float32", f"auto: CUDA compute capability {cuda_capability} has no native bfloat16")
    if device_type == "cpu":
        native = sorted(CPU_BFLOAT16_FLAGS & cpu_flags)
        if native:
            return PrecisionChoice("bfloat16", f"auto: the CPU has {', '.join(native)}")
        return PrecisionChoice(
            "float32", "auto: the CPU has neither amx_bf16 nor avx512_bf16 (bfloat16 would be emulated)"
        )
    return PrecisionChoice("float32", f"auto: no native bfloat16 known for device type {device_type!r}")


def choose_precision(requested: str, device: torch.device) -> PrecisionChoice:
    """The precision for `requested` (a key of DTYPES, or "auto") on `device`."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return PrecisionChoice(requested, "requested")
    if device.type == "cuda":
        return auto_precision("cuda", cuda_capability=torch.cuda.get_device_capability(device))
    if device.type == "cpu":
        choice = auto_precision("cpu", cpu_flags=cpu_flags())
        if CPU_FLAGS_VARIABLE in os.environ:
            return PrecisionChoice(choice.name, f"{choice.reason}, as {CPU_FLAGS_VARIABLE} says")
        return choice
    return auto_precision(device.type)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo"), environ: Mapping[str, str] = os.environ) -> frozenset[str]:
    """The instruction-set flags of the first CPU in `cpuinfo`; empty where there is none (not
    Linux). `environ[CPU_FLAGS_VARIABLE]`, when set, replaces them."""
    override = environ.get(CPU_FLAGS_VARIABLE)
    if override is not None:
        return frozenset(override.replace(",", " ").split())
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()
