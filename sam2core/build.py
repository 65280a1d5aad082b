"""Building SAM2Model from a registered config, and checkpoints in Meta's format:
`{"model": state_dict}`, optionally with more top-level entries."""

from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sam2core.config import MODEL_CONFIGS, SAM2Config, get_config
from sam2core.modeling.hiera import Hiera
from sam2core.modeling.image_encoder import FpnNeck, ImageEncoder
from sam2core.modeling.mask_decoder import MaskDecoder
from sam2core.modeling.memory_attention import MemoryAttention
from sam2core.modeling.memory_encoder import MemoryEncoder
from sam2core.modeling.prompt_encoder import PromptEncoder
from sam2core.modeling.sam2 import SAM2Model

# Weights shipped inside this package, loaded by checkpoint="default". Only the demonstration
# model trained here on synthetic scenes: Meta's checkpoints cannot be redistributed with it.
BUNDLED_CHECKPOINTS = {"sam2.1_hiera_demo": Path(__file__).parent / "weights" / "sam2.1_hiera_demo.pt"}
_TRUNK_BLOCKS_PREFIX = "image_encoder.trunk.blocks."
_PATCH_EMBED_KEY = "image_encoder.trunk.patch_embed.proj.weight"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or made for another model."""


def build_model(
    name: str,
    checkpoint: str | PathLike | None = None,
    image_size: int | None = None,
    device: str | torch.device = "cpu",
) -> SAM2Model:
    """The registered model `name` (see MODEL_NAMES) in eval mode on `device`, with random
    weights, those of `checkpoint` (a file in Meta's format), or with checkpoint="default" the
    weights bundled for `name` (see BUNDLED_CHECKPOINTS). `image_size` overrides the config's
    input size; the weights do not depend on it."""
    model = build_from_config(get_config(name, image_size))
    if checkpoint == "default":
        checkpoint = bundled_checkpoint(name)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model.to(device).eval()


def bundled_checkpoint(name: str) -> Path:
    """The path of the weights bundled for model `name`, or CheckpointError."""
    if name not in BUNDLED_CHECKPOINTS:
        bundled = ", ".join(BUNDLED_CHECKPOINTS)
        raise CheckpointError(
            f"no weights are bundled for {name}; the bundled default is {bundled} (a demonstration "
            f"model for synthetic scenes). For {name}, give the path of Meta's checkpoint file"
        )
    path = BUNDLED_CHECKPOINTS[name]
    if not path.is_file():
        raise CheckpointError(f"the bundled weights of {name} are missing from this installation ({path})")
    return path


def build_from_config(config: SAM2Config) -> SAM2Model:
    """A randomly initialised SAM2Model for `config`."""
    return SAM2Model(
        config=config,
        image_encoder=_build_image_encoder(config),
        memory_attention=MemoryAttention(
            d_model=config.hidden_dim,
            memory_dim=config.memory_dim,
            feature_size=config.feature_size,
            config=config.memory_attention,
        ),
        memory_encoder=MemoryEncoder(in_dim=config.hidden_dim, config=config.memory_encoder),
        prompt_encoder=PromptEncoder(
            embed_dim=config.hidden_dim,
            image_embedding_size=config.feature_size,
            image_size=config.image_size,
            mask_in_chans=config.prompt_encoder.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(transformer_dim=config.hidden_dim, config=config.mask_decoder),
    )


def _build_image_encoder(config: SAM2Config) -> ImageEncoder:
    neck = FpnNeck(
        d_model=config.neck.d_model,
        backbone_channel_list=config.trunk.channel_list,
        top_down_levels=config.neck.fpn_top_down_levels,
        interpolation=config.neck.fpn_interp_model,
    )
    return ImageEncoder(
        trunk=Hiera(config=config.trunk),
        neck=neck,
        scalp=config.neck.scalp,
        d_model=config.neck.d_model,
    )


def load_checkpoint(model: SAM2Model, path: str | PathLike) -> None:
    """Load the weights of a checkpoint in Meta's format into `model`, strictly."""
    found = read_state_dict(path)
    expected = model.state_dict()
    mismatch = _describe_mismatch(expected, found)
    if mismatch:
        fits = _registered_models(found)
        hint = f"; it is a {fits[0]} checkpoint: give --model {fits[0]} (node: -p model:={fits[0]})" if fits else ""
        raise CheckpointError(
            f"checkpoint {path} does not fit the model: expected {describe_state_dict(expected)}, "
            f"found {describe_state_dict(found)} ({mismatch}){hint}"
        )
    model.load_state_dict(found, strict=True)


def read_state_dict(path: str | PathLike) -> dict[str, Tensor]:
    """The "model" state dict of a checkpoint file, or CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for damaged or foreign files
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"checkpoint {path} is not a readable torch file ({type(error).__name__}: {reason})"
        ) from None
    state_dict = payload.get("model") if isinstance(payload, dict) else None
    if not isinstance(state_dict, dict) or not all(isinstance(value, Tensor) for value in state_dict.values()):
        found = f"keys {sorted(map(str, payload))}" if isinstance(payload, dict) else "no dict"
        raise CheckpointError(f"checkpoint {path} holds no 'model' state dict (Meta's format); found {found}")
    return state_dict


def save_checkpoint(model: SAM2Model, path: str | PathLike, extra: dict[str, Any] | None = None) -> None:
    """Write `{"model": model.state_dict(), **extra}` to `path` (Meta's format)."""
    extra = extra or {}
    if "model" in extra:
        raise ValueError("'model' is the state dict's key; choose another name for extra data")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), **extra}, path)


def describe_state_dict(state_dict: dict[str, Tensor]) -> str:
    """Which model a state dict belongs to, e.g. 'sam2.1_hiera_s (Hiera width 96, 16 blocks,
    SAM 2.1 layout)', judged by its trunk's patch-embed width, block count and 2.1 keys."""
    patch_embed = state_dict.get(_PATCH_EMBED_KEY)
    if not isinstance(patch_embed, Tensor):
        return f"no Hiera trunk ({len(state_dict)} tensors)"
    width, blocks, is_sam2_1 = _trunk_layout(state_dict)
    names = _registered_models(state_dict)
    layout = f"Hiera width {width}, {blocks} blocks, SAM {'2.1' if is_sam2_1 else '2.0'} layout"
    return f"{names[0]} ({layout})" if names else f"an unregistered model ({layout})"


def _trunk_layout(state_dict: dict[str, Tensor]) -> tuple[int, int, bool]:
    """A state dict's Hiera width and block count, and whether it has SAM 2.1's keys."""
    patch_embed = state_dict.get(_PATCH_EMBED_KEY)
    width = patch_embed.shape[0] if isinstance(patch_embed, Tensor) else 0
    blocks = len({key.split(".")[3] for key in state_dict if key.startswith(_TRUNK_BLOCKS_PREFIX)})
    return width, blocks, "no_obj_embed_spatial" in state_dict


def _registered_models(state_dict: dict[str, Tensor]) -> list[str]:
    """The registered models whose trunk and version the state dict has."""
    layout = _trunk_layout(state_dict)
    return [
        name
        for name, config in MODEL_CONFIGS.items()
        if (config.trunk.embed_dim, sum(config.trunk.stages), config.no_obj_embed_spatial) == layout
    ]


def _describe_mismatch(expected: dict[str, Tensor], found: dict[str, Tensor]) -> str:
    """'' if `found` fits `expected` key for key and shape for shape, else the counts."""
    missing = expected.keys() - found.keys()
    unexpected = found.keys() - expected.keys()
    wrong_shape = [key for key in expected.keys() & found.keys() if expected[key].shape != found[key].shape]
    counts = {"missing": missing, "unexpected": unexpected, "wrong-shaped": wrong_shape}
    return ", ".join(f"{len(keys)} {kind} tensors" for kind, keys in counts.items() if keys)
