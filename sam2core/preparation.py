"""Making a model ready to track, once, when it is loaded: where its heavy parts run (PyTorch, or
the graphs `python -m sam2core.export` wrote, in ONNX Runtime or OpenVINO) and whether PyTorch
compiles it. A StreamingTracker then takes the prepared model as it is.

    model = prepare_model(build_model(name, checkpoint=path), Preparation(backend="openvino",
                          export_dir="graphs"), precision="auto")
    tracker = StreamingTracker(model, TrackerOptions(precision="auto"))

OpenVINO compiles its graphs for one arithmetic: the tracker's, so `precision` is the tracker's
option, resolved as the tracker resolves it on the CPU the graphs run on (choose_precision);
StreamingTracker refuses a model whose OpenVINO graphs were compiled for another.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sam2core.modeling.sam2 import SAM2Model
from sam2core.precision import choose_precision
from sam2core.runtime import BACKENDS, exported_model


@dataclass(frozen=True)
class Preparation:
    """How the model is prepared at load."""

    # Where the heavy graphs run: "torch", or "onnxruntime" / "openvino" on the graphs that
    # `python -m sam2core.export` wrote to `export_dir` (see sam2core.runtime: ONNX Runtime runs
    # them in float32, OpenVINO in the tracker's precision).
    backend: str = "torch"
    export_dir: str = ""
    # torch.compile the model's modules in place (see compile_model); the first frames pay for it.
    compile: bool = False

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {list(BACKENDS)}, got {self.backend!r}")
        if self.backend != "torch" and not self.export_dir:
            raise ValueError(f"backend {self.backend!r} needs export_dir, the folder of python -m sam2core.export")


def prepare_model(model: SAM2Model, preparation: Preparation, precision: str = "auto") -> SAM2Model:
    """`model` as `preparation` asks, in eval mode: `model` itself on the torch backend (compiled
    in place with `compile`), else a CPU copy running the exported graphs. precision: the
    tracker's option (a key of sam2core.precision.PRECISIONS), which OpenVINO compiles for."""
    if preparation.backend != "torch":
        graph_precision = choose_precision(precision, torch.device("cpu")).name
        model = exported_model(model, preparation.export_dir, preparation.backend, graph_precision)
    if preparation.compile:
        compile_model(model)
    return model.eval()


def compile_model(model: SAM2Model) -> None:
    """torch.compile the modules of `model` in place (its parameters and state dict unchanged).

    The image encoder always sees one (1, 3, S, S) image: compiled for that static shape. The
    other modules see batches of objects, prompt points and memory tokens whose counts change
    over a stream: compiled with dynamic sizes, so those counts do not trigger recompiles.
    """
    model.image_encoder.compile(dynamic=False)
    for module in (model.sam_prompt_encoder, model.sam_mask_decoder, model.memory_attention, model.memory_encoder):
        module.compile(dynamic=True)
