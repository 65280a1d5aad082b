"""The size registry against Meta's YAML configs, image-size variants, the demo model, and the
preprocessing against Meta's frame loader."""

import inspect
import operator
from pathlib import Path

import numpy as np
import oracle
import pytest
import torch

from sam2core import MODEL_NAMES, build_model, get_config
from sam2core.config import with_image_size

OmegaConf = oracle.require("omegaconf").OmegaConf
hieradet = oracle.require("sam2.modeling.backbones.hieradet")
image_encoder = oracle.require("sam2.modeling.backbones.image_encoder")
sam2_base = oracle.require("sam2.modeling.sam2_base")
misc = oracle.require("sam2.utils.misc")

DEMO_NAMES = ["sam2.1_hiera_demo", "sam2.1_hiera_demo_wide"]
META_NAMES = [name for name in MODEL_NAMES if name not in DEMO_NAMES]
TRUNK = "model.image_encoder.trunk"
MEMORY_ATTENTION_LAYER = "model.memory_attention.layer"
MEMORY_ENCODER = "model.memory_encoder"
# (our config attribute, YAML key, the class whose default applies when the key is absent)
FIELDS = [
    *[
        (f"trunk.{key}", f"{TRUNK}.{key}", hieradet.Hiera)
        for key in (
            "embed_dim",
            "num_heads",
            "stages",
            "global_att_blocks",
            "window_spec",
            "window_pos_embed_bkg_spatial_size",
            "q_pool",
            "dim_mul",
            "head_mul",
        )
    ],
    ("trunk.channel_list", "model.image_encoder.neck.backbone_channel_list", None),
    ("neck.d_model", "model.image_encoder.neck.d_model", None),
    ("neck.d_model", "model.image_encoder.neck.position_encoding.num_pos_feats", None),
    ("neck.fpn_top_down_levels", "model.image_encoder.neck.fpn_top_down_levels", None),
    ("neck.fpn_interp_model", "model.image_encoder.neck.fpn_interp_model", None),
    ("neck.scalp", "model.image_encoder.scalp", None),
    ("hidden_dim", "model.memory_attention.d_model", None),
    ("memory_attention.num_layers", "model.memory_attention.num_layers", None),
    ("memory_attention.dim_feedforward", f"{MEMORY_ATTENTION_LAYER}.dim_feedforward", None),
    ("memory_attention.dropout", f"{MEMORY_ATTENTION_LAYER}.dropout", None),
    ("memory_attention.num_heads", f"{MEMORY_ATTENTION_LAYER}.self_attention.num_heads", None),
    ("memory_attention.num_heads", f"{MEMORY_ATTENTION_LAYER}.cross_attention.num_heads", None),
    ("memory_attention.rope_theta", f"{MEMORY_ATTENTION_LAYER}.self_attention.rope_theta", None),
    ("memory_dim", f"{MEMORY_ATTENTION_LAYER}.cross_attention.kv_in_dim", None),
    ("memory_encoder.out_dim", f"{MEMORY_ENCODER}.out_dim", None),
    ("memory_encoder.out_dim", f"{MEMORY_ENCODER}.position_encoding.num_pos_feats", None),
    ("memory_encoder.mask_kernel_size", f"{MEMORY_ENCODER}.mask_downsampler.kernel_size", None),
    ("memory_encoder.mask_stride", f"{MEMORY_ENCODER}.mask_downsampler.stride", None),
    ("memory_encoder.mask_padding", f"{MEMORY_ENCODER}.mask_downsampler.padding", None),
    ("memory_encoder.fuser_num_layers", f"{MEMORY_ENCODER}.fuser.num_layers", None),
    ("memory_encoder.fuser_kernel_size", f"{MEMORY_ENCODER}.fuser.layer.kernel_size", None),
    (
        "memory_encoder.layer_scale_init_value",
        f"{MEMORY_ENCODER}.fuser.layer.layer_scale_init_value",
        None,
    ),
    *[
        (key, f"model.{key}", sam2_base.SAM2Base)
        for key in (
            "image_size",
            "num_maskmem",
            "sigmoid_scale_for_mem_enc",
            "sigmoid_bias_for_mem_enc",
            "multimask_output_in_sam",
            "multimask_min_pt_num",
            "multimask_max_pt_num",
            "multimask_output_for_tracking",
            "max_obj_ptrs_in_encoder",
            "max_cond_frames_in_attn",
            "memory_temporal_stride_for_eval",
            "only_obj_ptrs_in_the_past_for_eval",
            "no_obj_embed_spatial",
            "add_tpos_enc_to_obj_ptrs",
            "proj_tpos_enc_in_obj_ptrs",
            "use_signed_tpos_enc_to_obj_ptrs",
        )
    ],
]
# Options of Meta's model that every released config sets one way; we implement that way only.
RELEASED_CONSTANTS = {
    "model.use_high_res_features_in_sam": True,
    "model.use_mask_input_as_output_without_sam": True,
    "model.directly_add_no_mem_embed": True,
    "model.iou_prediction_use_sigmoid": True,
    "model.use_obj_ptrs_in_encoder": True,
    "model.pred_obj_scores": True,
    "model.pred_obj_scores_mlp": True,
    "model.fixed_no_obj_ptr": True,
    "model.use_multimask_token_for_obj_ptr": True,
    "model.use_mlp_for_obj_ptr_proj": True,
    "model.memory_attention.pos_enc_at_input": True,
    f"{MEMORY_ATTENTION_LAYER}.activation": "relu",
    f"{MEMORY_ATTENTION_LAYER}.pos_enc_at_attn": False,
    f"{MEMORY_ATTENTION_LAYER}.pos_enc_at_cross_attn_keys": True,
    f"{MEMORY_ATTENTION_LAYER}.pos_enc_at_cross_attn_queries": False,
    f"{MEMORY_ENCODER}.fuser.layer.use_dwconv": True,
}


def reference_yaml(name: str):
    package = Path(inspect.getfile(sam2_base)).parents[1]
    return OmegaConf.load(package / oracle.reference_config_file(name))


def yaml_value(yaml, key: str, default_owner):
    value = OmegaConf.select(yaml, key)
    if value is None and default_owner is not None:
        value = inspect.signature(default_owner).parameters[key.rsplit(".", 1)[-1]].default
    return tuple(value) if isinstance(value, (list, tuple)) or OmegaConf.is_list(value) else value


@pytest.mark.parametrize("name", META_NAMES)
def test_registry_matches_reference_yaml(name):
    config, yaml = get_config(name), reference_yaml(name)
    for attribute, key, default_owner in FIELDS:
        ours = operator.attrgetter(attribute)(config)
        assert ours == yaml_value(yaml, key, default_owner), f"{name}: {attribute} vs {key}"
    assert (config.trunk.q_stride,) * 2 == yaml_value(yaml, f"{TRUNK}.q_stride", hieradet.Hiera)
    for key, value in RELEASED_CONSTANTS.items():
        assert OmegaConf.select(yaml, key) == value, f"{name}: {key}"


def test_image_size_variants():
    config = get_config("sam2.1_hiera_s", image_size=512)
    assert config.image_size == 512 and config.feature_size == 32
    assert with_image_size(config, 1024) == get_config("sam2.1_hiera_s")
    with pytest.raises(ValueError, match="multiple of 32"):
        get_config("sam2.1_hiera_s", image_size=500)
    with pytest.raises(KeyError, match="unknown model"):
        get_config("sam3")


@pytest.mark.parametrize(
    ("name", "parameters", "widths"),
    [(DEMO_NAMES[0], (2.0e6, 2.1e6), (64, 32)), (DEMO_NAMES[1], (4.3e6, 4.4e6), (96, 48))],
)
def test_demo_models_run_a_tracking_step_and_train(name, parameters, widths):
    """The small demo models: one prompted frame, then one frame tracked with memory, with
    gradients reaching the trunk; the wide one is the same at 1.5x the width."""
    model = build_model(name).train()
    size = model.config.image_size
    images = oracle.random_images(2, size)
    features = model.encode_image(images)
    first = model.decode_masks(
        features.index([0]),
        points=torch.tensor([[[0.4 * size, 0.5 * size]]]),
        labels=torch.tensor([[1]]),
        multimask=True,
        pixel_features=model.condition_on_memory(features.index([0])),
    )
    memory_features, memory_pos = model.encode_memory(
        features.index([0]),
        first.high_res_masks,
        first.object_score_logits,
        masks_from_points=True,
    )
    memory = oracle.memory_context(
        [model.spatial_memory_tokens(memory_features, memory_pos, temporal_index=0)],
        model.pointer_tokens(first.object_pointer[None], [1]),
    )
    second = model.decode_masks(
        features.index([1]),
        multimask=model.use_multimask(0, is_initial_conditioning_frame=False),
        pixel_features=model.condition_on_memory(features.index([1]), memory),
    )
    assert second.high_res_masks.shape == (1, 1, size, size)
    loss = second.low_res_masks.sigmoid().mean() + first.iou.mean()
    loss.backward()
    assert model.image_encoder.trunk.patch_embed.proj.weight.grad.abs().sum() > 0
    assert parameters[0] < sum(p.numel() for p in model.parameters()) < parameters[1]
    assert (model.config.hidden_dim, model.config.memory_dim) == widths


@pytest.mark.parametrize("height, width, max_levels, max_fraction", [(480, 640, 1, 1e-3), (300, 200, 0, 0.0)])
def test_preprocess_matches_meta_frame_loader(tmp_path, height, width, max_levels, max_fraction):
    """Nearly the input tensor of Meta's JPEG-folder loader: PIL's resize differs by at most
    `max_levels` grey levels on at most `max_fraction` of the values. Measured: 480x640 (shrunk)
    differs by 1 level on 0.031% of the values, 300x200 (enlarged) by at most 1.5e-5 levels."""
    image_module = pytest.importorskip("PIL.Image")
    generator = np.random.default_rng(0)
    coarse = generator.integers(0, 256, (height // 10, width // 10, 3), dtype=np.uint8)
    pixels = np.array(image_module.fromarray(coarse).resize((width, height)))
    path = tmp_path / "0.png"
    image_module.fromarray(pixels).save(path)
    model = build_model("sam2.1_hiera_demo", image_size=512)

    loaded, _, _ = misc._load_img_as_tensor(str(path), 512)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    ours = model.preprocess(pixels)
    assert ours.shape == (1, 3, 512, 512)
    levels = ((ours[0] * std + mean) * 255 - loaded.float() * 255).abs()
    assert levels.max() <= max_levels + 1e-3
    assert (levels > 0.5).float().mean() <= max_fraction
