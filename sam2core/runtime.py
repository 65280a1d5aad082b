"""Running the tracker on exported graphs (sam2core.export) with ONNX Runtime or OpenVINO.

`exported_model(model, folder, backend)` (what sam2core.preparation.prepare_model calls for these
backends) returns a copy of `model` whose image encoder, mask decoder, memory attention and memory
encoder run the graphs in `folder`; everything else (the tracker's logic, prompt encoding, the
choice of masks, memory selection) is the same PyTorch code, so a StreamingTracker on it behaves as
on the original. The runtimes are optional extras:
`pip install onnxruntime` or `pip install openvino`.

Precision: ONNX Runtime's CPU provider runs the float32 graphs in float32. OpenVINO's CPU plugin
would run them in bfloat16 by default on a CPU with native bfloat16 (AMX, AVX-512 BF16), so its
inference precision is always set explicitly from the tracker's: float32 -> f32 (the default,
and what the export parity tests hold), bfloat16 -> bf16, float16 -> f16. Each graph reports the
precision its runtime actually runs (`Graph.precision`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam2core.export import EXPORT_JSON, MemoryLayout
from sam2core.modeling.mask_decoder import MaskDecoder, MaskPrediction
from sam2core.modeling.sam2 import SAM2Model

BACKENDS = ("torch", "onnxruntime", "openvino")
# OpenVINO's names for the tracker's precisions (its INFERENCE_PRECISION_HINT values).
OPENVINO_PRECISIONS = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}


class Graph:
    """One exported graph in a runtime: named float32 / bool tensors in, tensors out.

    precision: a key of OPENVINO_PRECISIONS, what OpenVINO is asked to compute in (kept as
    `requested_precision`); `self.precision` is what the runtime says it runs ("float32" for ONNX
    Runtime's CPU provider)."""

    def __init__(self, path: Path, backend: str, precision: str = "float32") -> None:
        self.backend = backend
        self.requested_precision = precision
        if backend == "onnxruntime":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            self.precision = "float32"
        elif backend == "openvino":
            import openvino

            hint = {"INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision]}
            self._session = openvino.Core().compile_model(str(path), "CPU", hint)
            self.precision = self._session.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        else:
            raise ValueError(f"backend must be onnxruntime or openvino for exported graphs, got {backend!r}")

    def __call__(self, **inputs: Tensor) -> list[Tensor]:
        arrays = {name: tensor.detach().cpu().contiguous().numpy() for name, tensor in inputs.items()}
        if self.backend == "onnxruntime":
            outputs = self._session.run(None, arrays)
        else:
            outputs = list(self._session(arrays).values())
        return [torch.from_numpy(np.asarray(output)) for output in outputs]


class ExportedImageEncoder(nn.Module):
    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, images: Tensor) -> tuple[list[Tensor], Tensor]:
        *levels, vision_pos = self.graph(images=images.float())
        return levels, vision_pos


class ExportedMemoryEncoder(nn.Module):
    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, image_features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The graph takes one batch for both: a frame shared by B masks is expanded."""
        image_features = image_features.float().expand(mask.shape[0], -1, -1, -1)
        memory_features, memory_pos = self.graph(image_features=image_features, mask=mask.float())
        return memory_features, memory_pos


class ExportedMaskDecoder(MaskDecoder):
    """A mask decoder whose raw prediction (every mask token's mask, IoU, token and the object
    score) runs the graph; assembling the tokens and choosing the masks stay in PyTorch."""

    def __init__(self, decoder: MaskDecoder, graph: Graph) -> None:
        super().__init__(transformer_dim=decoder.transformer_dim, config=decoder.config)
        self.load_state_dict(decoder.state_dict())
        self.graph = graph

    def predict_all_masks(
        self, tokens: Tensor, image: Tensor, image_pe: Tensor, high_res_features: tuple[Tensor, Tensor]
    ) -> MaskPrediction:
        """As MaskDecoder.predict_all_masks; the high-resolution levels of a frame shared by B
        objects are expanded to the graph's one batch."""
        feat_s0, feat_s1 = (level.float().expand(image.shape[0], -1, -1, -1) for level in high_res_features)
        outputs = self.graph(
            tokens=tokens.float(), image=image.float(), image_pe=image_pe.float(), feat_s0=feat_s0, feat_s1=feat_s1
        )
        return MaskPrediction(*outputs)


class ExportedMemoryAttention(nn.Module):
    """Pads the tracker's memory (its frames, then its pointer tokens) to the graph's fixed
    layout, masking the padding, and runs the graph once for all objects."""

    def __init__(self, graph: Graph, layout: MemoryLayout) -> None:
        super().__init__()
        self.graph = graph
        self.layout = layout

    def forward(self, curr, memory, curr_pos, memory_pos, num_obj_ptr_tokens=0, memory_valid=None) -> Tensor:
        """As MemoryAttention: curr (hw, 1 or B, C), curr_pos (hw, 1, C), memory and memory_pos
        (M, B, Cm) -> (hw, B, C)."""
        layout = self.layout
        batch = memory.shape[1]
        valid = torch.ones(batch, memory.shape[0], dtype=torch.bool) if memory_valid is None else memory_valid.cpu()
        spatial = memory.shape[0] - num_obj_ptr_tokens
        if spatial > layout.spatial_tokens or num_obj_ptr_tokens > layout.pointer_tokens:
            raise ValueError(
                f"memory of {spatial} frame tokens and {num_obj_ptr_tokens} pointer tokens exceeds the exported "
                f"{layout.spatial_tokens} and {layout.pointer_tokens}: export with more max_conditioning_frames"
            )
        pads = (layout.spatial_tokens - spatial, layout.pointer_tokens - num_obj_ptr_tokens)

        def padded(tokens: Tensor) -> Tensor:  # (M, B, Cm) -> (M_max, B, Cm)
            parts = (tokens[:spatial], tokens[spatial:])
            return torch.cat([F.pad(part.float(), (0, 0, 0, 0, 0, pad)) for part, pad in zip(parts, pads)])

        valid = torch.cat(
            [F.pad(part, (0, pad)) for part, pad in zip((valid[:, :spatial], valid[:, spatial:]), pads)], 1
        )
        (conditioned,) = self.graph(
            curr=curr.float(),
            curr_pos=curr_pos[:, :1].float(),
            memory=padded(memory),
            memory_pos=padded(memory_pos),
            memory_valid=valid,
        )
        return conditioned  # (hw, B, C)


def exported_model(
    model: SAM2Model, folder: str | Path, backend: str = "onnxruntime", precision: str = "float32"
) -> SAM2Model:
    """A CPU copy of `model` running the graphs exported to `folder` with `backend` in `precision`
    (a key of OPENVINO_PRECISIONS; "torch" returns `model` itself). The copy's `exported_graphs`
    maps each replaced part to its Graph."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if backend == "torch":
        return model
    folder = Path(folder)
    description = json.loads((folder / EXPORT_JSON).read_text())
    if description["model"]["image_size"] != model.config.image_size:
        raise ValueError(
            f"{folder} was exported at {description['model']['image_size']} px, "
            f"the model runs at {model.config.image_size}"
        )
    graphs = {name: Graph(folder / graph["file"], backend, precision) for name, graph in description["graphs"].items()}
    runtime_model = copy.deepcopy(model).float().cpu()
    runtime_model.exported_graphs = graphs
    runtime_model.image_encoder = ExportedImageEncoder(graphs["image_encoder"])
    runtime_model.memory_encoder = ExportedMemoryEncoder(graphs["memory_encoder"])
    runtime_model.memory_attention = ExportedMemoryAttention(
        graphs["memory_attention"], MemoryLayout(**description["memory_layout"])
    )
    runtime_model.sam_mask_decoder = ExportedMaskDecoder(runtime_model.sam_mask_decoder, graphs["mask_decoder"])
    return runtime_model.eval()


def check_graph_precision(model: SAM2Model, precision: str) -> None:
    """Raise ValueError when an OpenVINO graph of `model` was compiled for another precision than
    `precision` (a key of OPENVINO_PRECISIONS), the tracker's: prepare the model with the
    tracker's precision (sam2core.preparation.prepare_model)."""
    graphs: dict[str, Graph] = getattr(model, "exported_graphs", {})
    for name, graph in graphs.items():
        if graph.backend == "openvino" and graph.requested_precision != precision:
            raise ValueError(
                f"the {name} graph was compiled for {graph.requested_precision} but the tracker runs in {precision}: "
                "prepare the model with the tracker's precision"
            )


def precision_by_part(model: SAM2Model, torch_precision: str, memory_dtype: str) -> dict[str, str]:
    """What each part of `model` computes in: the exported graphs as their runtime reports, the
    rest in PyTorch at `torch_precision`; and the memory bank's storage dtype."""
    graphs: dict[str, Graph] = getattr(model, "exported_graphs", {})
    parts = {name: f"{graph.backend} {graph.precision}" for name, graph in graphs.items()}
    parts["other modules" if graphs else "model"] = f"torch {torch_precision}"
    parts["memory bank"] = memory_dtype
    return parts
