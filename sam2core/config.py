"""Configurations of SAM 2 / SAM 2.1 as frozen dataclasses, and the registry of public sizes.

Field names follow the keys of Meta's YAML configs (`sam2/configs/sam2.1/*.yaml`) so that each
value can be checked against its source. Dimensions shared between components live in one place
only: the model width is `neck.d_model` and the memory width is `memory_encoder.out_dim`.
"""

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class HieraConfig:
    """The hierarchical image trunk. Stage i has `embed_dim * dim_mul**i` channels."""

    embed_dim: int
    num_heads: int
    stages: tuple[int, ...]  # blocks per stage
    global_att_blocks: tuple[int, ...]  # indices of blocks with global (not windowed) attention
    window_pos_embed_bkg_spatial_size: tuple[int, int]
    window_spec: tuple[int, ...] = (8, 4, 14, 7)  # attention window per stage
    patch_kernel_size: int = 7
    patch_stride: int = 4
    patch_padding: int = 3
    q_pool: int = 3  # number of stage transitions that pool the queries
    q_stride: int = 2  # spatial downsampling at each pooled stage transition
    dim_mul: float = 2.0  # channel growth at each stage transition
    head_mul: float = 2.0  # head-count growth at each stage transition
    mlp_ratio: float = 4.0

    @property
    def channel_list(self) -> tuple[int, ...]:
        """Channels of each stage output, lowest resolution first (the FPN's
        `backbone_channel_list`)."""
        channels = [self.embed_dim]
        for _ in self.stages[1:]:
            channels.append(int(channels[-1] * self.dim_mul))
        return tuple(reversed(channels))


@dataclass(frozen=True)
class NeckConfig:
    """The FPN neck that maps the trunk's stages to `d_model` channels, the model width."""

    d_model: int = 256
    fpn_top_down_levels: tuple[int, ...] = (2, 3)  # levels that receive top-down features
    fpn_interp_model: str = "nearest"
    scalp: int = 1  # number of lowest-resolution levels dropped after the neck


@dataclass(frozen=True)
class PromptEncoderConfig:
    mask_in_chans: int = 16  # hidden channels of the mask-prompt downscaler


@dataclass(frozen=True)
class MaskDecoderConfig:
    num_multimask_outputs: int = 3
    transformer_depth: int = 2
    transformer_num_heads: int = 8
    transformer_mlp_dim: int = 2048
    attention_downsample_rate: int = 2
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    # In eval, a single-mask output whose stability score is below the threshold is replaced by
    # the best of the multimask outputs. Meta's video predictor turns this on by default.
    dynamic_multimask_via_stability: bool = True
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98


@dataclass(frozen=True)
class MemoryAttentionConfig:
    num_layers: int = 4
    num_heads: int = 1
    dim_feedforward: int = 2048
    dropout: float = 0.1
    rope_theta: float = 10000.0


@dataclass(frozen=True)
class MemoryEncoderConfig:
    out_dim: int = 64  # the memory width
    mask_kernel_size: int = 3
    mask_stride: int = 2
    mask_padding: int = 1
    mask_total_stride: int = 16
    fuser_num_layers: int = 2
    fuser_kernel_size: int = 7
    layer_scale_init_value: float = 1e-6


@dataclass(frozen=True)
class SAM2Config:
    """The whole model, with the inference constants a tracker reads from `model.config`."""

    trunk: HieraConfig
    neck: NeckConfig = NeckConfig()
    prompt_encoder: PromptEncoderConfig = PromptEncoderConfig()
    mask_decoder: MaskDecoderConfig = MaskDecoderConfig()
    memory_attention: MemoryAttentionConfig = MemoryAttentionConfig()
    memory_encoder: MemoryEncoderConfig = MemoryEncoderConfig()
    image_size: int = 1024
    backbone_stride: int = 16
    mask_threshold: float = 0.0  # mask logits above this are foreground
    # Memory bank: 1 conditioning slot + (num_maskmem - 1) recent frames.
    num_maskmem: int = 7
    max_obj_ptrs_in_encoder: int = 16
    max_cond_frames_in_attn: int = -1  # -1: attend to every conditioning frame
    memory_temporal_stride_for_eval: int = 1
    only_obj_ptrs_in_the_past_for_eval: bool = True
    # Mask logits enter the memory encoder as sigmoid(logits) * scale + bias.
    sigmoid_scale_for_mem_enc: float = 20.0
    sigmoid_bias_for_mem_enc: float = -10.0
    # In eval, masks from point prompts are binarised before the memory encoder (Meta's video
    # predictor turns this on by default).
    binarize_mask_from_pts_for_mem_enc: bool = True
    # Multimask output: on a frame with num_points in [min, max] (a box counts as two points),
    # on initial conditioning frames and, if multimask_output_for_tracking, on tracked frames.
    multimask_output_in_sam: bool = True
    multimask_min_pt_num: int = 0
    multimask_max_pt_num: int = 1
    multimask_output_for_tracking: bool = True
    # SAM 2.1 additions (all False in SAM 2.0).
    no_obj_embed_spatial: bool = True  # learned embedding added to memories of absent objects
    add_tpos_enc_to_obj_ptrs: bool = True  # temporal encoding of object pointers
    proj_tpos_enc_in_obj_ptrs: bool = True  # a linear projection of that encoding
    use_signed_tpos_enc_to_obj_ptrs: bool = True  # signed (not absolute) frame offsets

    def __post_init__(self) -> None:
        if self.proj_tpos_enc_in_obj_ptrs and not self.add_tpos_enc_to_obj_ptrs:
            raise ValueError("proj_tpos_enc_in_obj_ptrs needs add_tpos_enc_to_obj_ptrs")
        trunk = self.trunk
        lowest_stride = trunk.patch_stride * trunk.q_stride**trunk.q_pool
        multiple = math.lcm(trunk.patch_stride * trunk.window_spec[0], lowest_stride)
        if self.image_size % multiple:
            raise ValueError(f"image_size must be a multiple of {multiple}, got {self.image_size}")

    @property
    def hidden_dim(self) -> int:
        """Width C of image features, prompt embeddings and object pointers."""
        return self.neck.d_model

    @property
    def memory_dim(self) -> int:
        """Width Cm of memory features and memory tokens."""
        return self.memory_encoder.out_dim

    @property
    def feature_size(self) -> int:
        """Side of the lowest-resolution feature map, image_size / backbone_stride."""
        return self.image_size // self.backbone_stride


_TINY = HieraConfig(
    embed_dim=96,
    num_heads=1,
    stages=(1, 2, 7, 2),
    global_att_blocks=(5, 7, 9),
    window_pos_embed_bkg_spatial_size=(7, 7),
)
_SMALL = dataclasses.replace(_TINY, stages=(1, 2, 11, 2), global_att_blocks=(7, 10, 13))
_BASE_PLUS = HieraConfig(
    embed_dim=112,
    num_heads=2,
    stages=(2, 3, 16, 3),
    global_att_blocks=(12, 16, 20),
    window_pos_embed_bkg_spatial_size=(14, 14),
)
_LARGE = HieraConfig(
    embed_dim=144,
    num_heads=2,
    stages=(2, 6, 36, 4),
    global_att_blocks=(23, 33, 43),
    window_pos_embed_bkg_spatial_size=(7, 7),
    window_spec=(8, 4, 16, 8),
)
_TRUNKS = {"t": _TINY, "s": _SMALL, "b+": _BASE_PLUS, "l": _LARGE}

_SAM2_0 = dict(
    no_obj_embed_spatial=False,
    add_tpos_enc_to_obj_ptrs=False,
    proj_tpos_enc_in_obj_ptrs=False,
    use_signed_tpos_enc_to_obj_ptrs=False,
)

# A small model of the same architecture, for training on a CPU. At 128 px (an 8x8 memory grid)
# a training step on an 8-frame clip costs 0.9 s on two cores against 2.5 s at 256 px. It tracks
# with its single mask output (trained directly) rather than the best of three candidates, and
# keeps the single mask even when it is unstable: a small model's spare candidates are poor.
_DEMO = SAM2Config(
    trunk=HieraConfig(
        embed_dim=32,
        num_heads=1,
        stages=(1, 2, 3, 1),
        global_att_blocks=(5,),
        window_pos_embed_bkg_spatial_size=(7, 7),
        window_spec=(8, 4, 8, 8),
    ),
    neck=NeckConfig(d_model=64),
    mask_decoder=MaskDecoderConfig(
        transformer_mlp_dim=256, iou_head_hidden_dim=64, dynamic_multimask_via_stability=False
    ),
    memory_attention=MemoryAttentionConfig(num_layers=2, dim_feedforward=256),
    memory_encoder=MemoryEncoderConfig(out_dim=32),
    image_size=128,
    multimask_output_for_tracking=False,
)

# The same at 1.5x the width (trunk 48, model 96, memory 48; 4.37M parameters), 1.5x the CPU
# training step. Nothing is bundled for it; it trains from random weights ("demo-wide-joint" in
# sam2core/train/schedules.py), where at the demo size's learning rate (1e-3) it had not started
# to learn after 1,200 steps (docs/demo_model/training.md).
_DEMO_WIDE = dataclasses.replace(
    _DEMO,
    trunk=dataclasses.replace(_DEMO.trunk, embed_dim=48),
    neck=NeckConfig(d_model=96),
    mask_decoder=dataclasses.replace(_DEMO.mask_decoder, transformer_mlp_dim=384, iou_head_hidden_dim=96),
    memory_attention=dataclasses.replace(_DEMO.memory_attention, dim_feedforward=384),
    memory_encoder=MemoryEncoderConfig(out_dim=48),
)

MODEL_CONFIGS: dict[str, SAM2Config] = {
    **{f"sam2.1_hiera_{size}": SAM2Config(trunk=trunk) for size, trunk in _TRUNKS.items()},
    **{f"sam2_hiera_{size}": SAM2Config(trunk=trunk, **_SAM2_0) for size, trunk in _TRUNKS.items()},
    "sam2.1_hiera_demo": _DEMO,
    "sam2.1_hiera_demo_wide": _DEMO_WIDE,
}
MODEL_NAMES: tuple[str, ...] = tuple(MODEL_CONFIGS)


def get_config(name: str, image_size: int | None = None) -> SAM2Config:
    """The registered config `name`, optionally at another input resolution."""
    if name not in MODEL_CONFIGS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")
    config = MODEL_CONFIGS[name]
    return config if image_size is None else with_image_size(config, image_size)


def with_image_size(config: SAM2Config, image_size: int) -> SAM2Config:
    """`config` at input resolution `image_size` (weights do not depend on it)."""
    return dataclasses.replace(config, image_size=image_size)
