"""ONNX export of the four graphs the streaming tracker runs, for ONNX Runtime, OpenVINO or TensorRT.

    python -m sam2core.export --model sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt --out DIR

Writes to DIR:
- image_encoder.onnx: images (1, 3, S, S) -> the FPN levels and the position encoding of the last;
- mask_decoder.onnx: output + prompt tokens (B, T, C), image (B, C, h, w), its encoding and the two
  high-resolution levels -> every mask token's mask, IoU, token and the object score;
- memory_attention.onnx: the current frame (hw, 1, C), shared by the objects (or one per
  object), and each object's fixed-size memory of `max_memory_frames` frames then `max_pointers`
  object pointers (M, B, Cm), with a (B, M) mask of the real tokens -> conditioned features
  (hw, B, C);
- memory_encoder.onnx: image features (B, C, h, w) and scaled masks (B, 1, S, S) -> memory
  features and their position encoding;
- export.json: each graph's inputs and outputs (names, shapes with named dynamic axes), the
  model's config and the memory sizes.
B (objects) and T (prompt tokens) are dynamic; everything else is
fixed by the model and S.
The small glue between the graphs (prompt encoding, mask choice, memory selection) stays in
PyTorch: see sam2core.runtime, which runs the tracker on these files.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from sam2core.build import build_model
from sam2core.config import MODEL_NAMES
from sam2core.modeling.sam2 import SAM2Model

OPSET = 17
EXPORT_JSON = "export.json"


@dataclass(frozen=True)
class MemoryLayout:
    """The fixed memory of the exported memory attention: frames of hw tokens, then pointer tokens."""

    max_memory_frames: int
    max_pointers: int
    tokens_per_frame: int
    tokens_per_pointer: int

    @classmethod
    def for_model(cls, model: SAM2Model, max_conditioning_frames: int) -> MemoryLayout:
        """Room for what a StreamingTracker with `max_conditioning_frames` ever attends to."""
        config = model.config
        side = config.image_size // 16
        return cls(
            max_memory_frames=max_conditioning_frames + config.num_maskmem - 1,
            max_pointers=max_conditioning_frames + config.max_obj_ptrs_in_encoder - 1,
            tokens_per_frame=side * side,
            tokens_per_pointer=config.hidden_dim // config.memory_dim,
        )

    @property
    def spatial_tokens(self) -> int:
        return self.max_memory_frames * self.tokens_per_frame

    @property
    def pointer_tokens(self) -> int:
        return self.max_pointers * self.tokens_per_pointer


class ImageEncoderGraph(nn.Module):
    def __init__(self, model: SAM2Model) -> None:
        super().__init__()
        self.image_encoder = model.image_encoder

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        """(1, 3, S, S) -> FPN levels (highest resolution first), then the last one's encoding."""
        levels, vision_pos = self.image_encoder(images)
        return (*levels, vision_pos)


class MaskDecoderGraph(nn.Module):
    def __init__(self, model: SAM2Model) -> None:
        super().__init__()
        self.decoder = model.sam_mask_decoder

    def forward(self, tokens: Tensor, image: Tensor, image_pe: Tensor, feat_s0: Tensor, feat_s1: Tensor):
        """tokens (B, T, C), image and image_pe (B, C, h, w), skips (B, C/8, 4h, 4w), (B, C/4, 2h, 2w)
        -> masks (B, K, 4h, 4w), iou (B, K), mask tokens (B, K, C), object score (B, 1)."""
        return tuple(self.decoder.predict_all_masks(tokens, image, image_pe, (feat_s0, feat_s1)))


class MemoryAttentionGraph(nn.Module):
    def __init__(self, model: SAM2Model, layout: MemoryLayout) -> None:
        super().__init__()
        self.memory_attention = model.memory_attention
        self.pointer_tokens = layout.pointer_tokens

    def forward(self, curr: Tensor, curr_pos: Tensor, memory: Tensor, memory_pos: Tensor, memory_valid: Tensor):
        """curr (hw, 1 or B, C), curr_pos (hw, 1, C), memory and memory_pos (M, B, Cm),
        memory_valid (B, M) bool -> (hw, B, C)."""
        return self.memory_attention(
            curr=curr,
            memory=memory,
            curr_pos=curr_pos,
            memory_pos=memory_pos,
            num_obj_ptr_tokens=self.pointer_tokens,
            memory_valid=memory_valid,
        )


class MemoryEncoderGraph(nn.Module):
    def __init__(self, model: SAM2Model) -> None:
        super().__init__()
        self.memory_encoder = model.memory_encoder

    def forward(self, image_features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, h, w), (B, 1, S, S) -> memory features and position encoding (B, Cm, h, w)."""
        return self.memory_encoder(image_features, mask)


@dataclass(frozen=True)
class GraphSpec:
    """One exported graph: its module, example inputs, names and dynamic axes."""

    name: str
    module: nn.Module
    inputs: dict[str, Tensor]
    outputs: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]


def graph_specs(model: SAM2Model, layout: MemoryLayout) -> list[GraphSpec]:
    """The four graphs with example inputs for two objects."""
    config, batch = model.config, 2
    size, side, dim, memory_dim = config.image_size, config.image_size // 16, config.hidden_dim, config.memory_dim
    num_levels = len(model.image_encoder(torch.zeros(1, 3, size, size))[0])
    levels = tuple(f"level_{i}" for i in range(num_levels))
    memory_length = layout.spatial_tokens + layout.pointer_tokens
    objects = {0: "objects"}
    num_tokens = 2 + model.sam_mask_decoder.num_mask_tokens + 2
    return [
        GraphSpec(
            "image_encoder",
            ImageEncoderGraph(model),
            {"images": torch.randn(1, 3, size, size)},
            (*levels, "vision_pos"),
            {},
        ),
        GraphSpec(
            "mask_decoder",
            MaskDecoderGraph(model),
            {
                "tokens": torch.randn(batch, num_tokens, dim),
                "image": torch.randn(batch, dim, side, side),
                "image_pe": torch.randn(batch, dim, side, side),
                "feat_s0": torch.randn(batch, dim // 8, 4 * side, 4 * side),
                "feat_s1": torch.randn(batch, dim // 4, 2 * side, 2 * side),
            },
            ("masks", "iou", "mask_tokens", "object_score_logits"),
            {
                "tokens": {0: "objects", 1: "tokens"},
                "image": objects,
                "image_pe": objects,
                "feat_s0": objects,
                "feat_s1": objects,
                "masks": objects,
                "iou": objects,
                "mask_tokens": objects,
                "object_score_logits": objects,
            },
        ),
        GraphSpec(
            "memory_attention",
            MemoryAttentionGraph(model, layout),
            {
                "curr": torch.randn(side * side, 1, dim),
                "curr_pos": torch.randn(side * side, 1, dim),
                "memory": torch.randn(memory_length, batch, memory_dim),
                "memory_pos": torch.randn(memory_length, batch, memory_dim),
                "memory_valid": torch.ones(batch, memory_length, dtype=torch.bool),
            },
            ("conditioned",),
            {
                "curr": {1: "frame_or_objects"},
                "memory": {1: "objects"},
                "memory_pos": {1: "objects"},
                "memory_valid": objects,
                "conditioned": {1: "objects"},
            },
        ),
        GraphSpec(
            "memory_encoder",
            MemoryEncoderGraph(model),
            {"image_features": torch.randn(batch, dim, side, side), "mask": torch.randn(batch, 1, size, size)},
            ("memory_features", "memory_pos"),
            {"image_features": objects, "mask": objects, "memory_features": objects, "memory_pos": objects},
        ),
    ]


def export(model: SAM2Model, out: Path, *, max_conditioning_frames: int = 4) -> dict:
    """Write the four ONNX graphs of `model` (float32, on the CPU) and export.json to `out`;
    returns what export.json holds."""
    model = model.float().cpu().eval()
    layout = MemoryLayout.for_model(model, max_conditioning_frames)
    out.mkdir(parents=True, exist_ok=True)
    description = {
        "opset": OPSET,
        "model": dataclasses.asdict(model.config),
        "memory_layout": dataclasses.asdict(layout),
        "graphs": {},
    }
    with torch.no_grad():
        for spec in graph_specs(model, layout):
            torch.onnx.export(
                spec.module,
                tuple(spec.inputs.values()),
                out / f"{spec.name}.onnx",
                input_names=list(spec.inputs),
                output_names=list(spec.outputs),
                dynamic_axes=spec.dynamic_axes,
                opset_version=OPSET,
                dynamo=False,
            )
            description["graphs"][spec.name] = {
                "file": f"{spec.name}.onnx",
                "inputs": {name: _shape(name, tensor, spec) for name, tensor in spec.inputs.items()},
                "outputs": list(spec.outputs),
            }
    (out / EXPORT_JSON).write_text(json.dumps(description, indent=2, default=str))
    return description


def _shape(name: str, tensor: Tensor, spec: GraphSpec) -> dict:
    axes = spec.dynamic_axes.get(name, {})
    shape = [axes.get(i, size) for i, size in enumerate(tensor.shape)]
    return {"shape": shape, "dtype": str(tensor.dtype).removeprefix("torch.")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, choices=MODEL_NAMES)
    parser.add_argument("--checkpoint", required=True, help="a file in Meta's format, or 'default'")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--image-size", type=int, help="input side; default: the model's own")
    parser.add_argument("--max-conditioning-frames", type=int, default=4, help="as the tracker's option")
    args = parser.parse_args()
    model = build_model(args.model, checkpoint=args.checkpoint, image_size=args.image_size)
    description = export(model, args.out, max_conditioning_frames=args.max_conditioning_frames)
    for graph in description["graphs"].values():
        print(f"{args.out / graph['file']}: {', '.join(graph['inputs'])} -> {', '.join(graph['outputs'])}")


if __name__ == "__main__":
    main()
