"""State-dict compatibility with Meta's SAM2Base, and reading and writing checkpoints."""

import oracle
import pytest
import torch

from sam2core import CheckpointError, build_model, save_checkpoint
from sam2core.build import BUNDLED_CHECKPOINTS

IMAGE_SIZE = 256


@pytest.mark.parametrize(
    "name",
    ["sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l", "sam2_hiera_t"],
)
def test_state_dict_equals_reference(name):
    with torch.device("meta"):
        ours = oracle.build_ours(name, IMAGE_SIZE)
    expected = oracle.build_reference(name, IMAGE_SIZE).state_dict()
    found = ours.state_dict()
    assert list(found) == list(expected)
    assert all(found[key].shape == expected[key].shape for key in expected)


def test_strict_loading_both_ways():
    """Meta's weights load into ours strictly, and ours into Meta's."""
    ours = oracle.build_ours("sam2.1_hiera_t", IMAGE_SIZE)
    reference = oracle.build_reference("sam2.1_hiera_t", IMAGE_SIZE)
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(oracle.shared_state_dict(ours), strict=True)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """(path, model) of a saved random sam2.1_hiera_t."""
    model = build_model("sam2.1_hiera_t", image_size=IMAGE_SIZE)
    path = tmp_path_factory.mktemp("checkpoints") / "tiny.pt"
    save_checkpoint(model, path, extra={"step": 3})
    return path, model


def test_checkpoint_round_trip(tiny_checkpoint):
    path, model = tiny_checkpoint
    loaded = build_model("sam2.1_hiera_t", checkpoint=path, image_size=512)
    assert loaded.config.image_size == 512
    expected = model.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in loaded.state_dict().items())
    assert torch.load(path, weights_only=True)["step"] == 3


def test_meta_loader_reads_our_checkpoint(tiny_checkpoint):
    path, model = tiny_checkpoint
    reference = oracle.build_sam.build_sam2_video_predictor(
        oracle.reference_config_file("sam2.1_hiera_t"),
        ckpt_path=str(path),
        device="cpu",
        hydra_overrides_extra=[f"++model.image_size={IMAGE_SIZE}"],
        apply_postprocessing=False,
    )
    expected = model.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in reference.state_dict().items())


def test_save_refuses_a_model_entry_in_extra(tmp_path):
    with pytest.raises(ValueError, match="'model'"):
        save_checkpoint(build_model("sam2.1_hiera_demo"), tmp_path / "x.pt", extra={"model": 1})


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        build_model("sam2.1_hiera_demo", checkpoint=tmp_path / "absent.pt")


def test_unreadable_file(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x00not a checkpoint" * 100)
    with pytest.raises(CheckpointError, match="not a readable torch file") as error:
        build_model("sam2.1_hiera_demo", checkpoint=path)
    assert "Traceback" not in str(error.value) and error.value.__cause__ is None


def test_file_without_model_entry(tmp_path):
    path = tmp_path / "weights_only.pt"
    torch.save({"state_dict": build_model("sam2.1_hiera_demo").state_dict()}, path)
    with pytest.raises(CheckpointError, match=r"no 'model' state dict.*\['state_dict'\]"):
        build_model("sam2.1_hiera_demo", checkpoint=path)


def test_checkpoint_of_another_size(tiny_checkpoint):
    path, _ = tiny_checkpoint
    with pytest.raises(CheckpointError) as error:
        build_model("sam2.1_hiera_demo", checkpoint=path)
    message = str(error.value)
    print(message)
    assert "expected sam2.1_hiera_demo (Hiera width 32, 7 blocks" in message
    assert "found sam2.1_hiera_t (Hiera width 96, 12 blocks, SAM 2.1 layout)" in message
    assert "give --model sam2.1_hiera_t (node: -p model:=sam2.1_hiera_t)" in message
    assert len(message) < 400 and "size mismatch" not in message


def test_checkpoint_of_another_version(tmp_path):
    path = tmp_path / "sam2_t.pt"
    save_checkpoint(build_model("sam2_hiera_t", image_size=IMAGE_SIZE), path)
    with pytest.raises(CheckpointError) as error:
        build_model("sam2.1_hiera_t", checkpoint=path, image_size=IMAGE_SIZE)
    message = str(error.value)
    assert "expected sam2.1_hiera_t" in message and "found sam2_hiera_t" in message
    assert "3 missing tensors" in message  # no_obj_embed_spatial, obj_ptr_tpos_proj


def test_default_checkpoint_is_the_bundled_demo_model():
    model = build_model("sam2.1_hiera_demo", checkpoint="default")
    bundled = torch.load(BUNDLED_CHECKPOINTS["sam2.1_hiera_demo"], weights_only=True)["model"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, bundled[key]), key
    with pytest.raises(CheckpointError, match="no weights are bundled for sam2.1_hiera_t"):
        build_model("sam2.1_hiera_t", checkpoint="default")
