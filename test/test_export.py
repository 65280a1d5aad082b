"""ONNX export and its runtimes (onnxruntime, OpenVINO): the exported path tracks as the PyTorch path does.

The bundled model is exported once; every stream scenario of the oracle test (prompts, a second
object, removal, a correction on a past frame, a re-prompt) runs on a StreamingTracker over the
PyTorch model and the exported graphs in each runtime track each of its frames from the same state
(oracle.twin); every mask logit, score and pointer must agree within EXPORT_TOLERANCE (1e-3).
"""

import json

import oracle
import pytest
import torch
from test_tracker_oracle import SCENARIOS, SHORT, Event, assert_same_stream, clicks, frames  # noqa: F401 (a fixture)

from sam2core import StreamingTracker, TrackerOptions, build_model
from sam2core.export import export
from sam2core.precision import CPU_BFLOAT16_FLAGS, cpu_flags
from sam2core.preparation import Preparation, prepare_model

EXPORT_TOLERANCE = 1e-3  # the exported graphs against the PyTorch path (README, "Speed")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    model = build_model("sam2.1_hiera_demo", checkpoint="default")
    folder = tmp_path_factory.mktemp("export")
    export(model, folder)
    return model, folder


@pytest.fixture(scope="module", params=["onnxruntime", "openvino"])
def runtime_model(request, models):
    model, folder = models
    return prepare_model(model, Preparation(backend=request.param, export_dir=str(folder)), precision="float32")


def lockstep(model, runtime_model, events, frames, length) -> tuple[dict, dict]:
    """Each frame's and correction's (mask logits, score, pointer) per object of a stream on the
    PyTorch model, and of the exported graphs tracking each frame from its state (oracle.twin)."""
    tracker = StreamingTracker(model, TrackerOptions(precision="float32"))
    ours, exported = {}, {}
    for index, frame in enumerate(frames[:length]):
        other = oracle.twin(tracker, runtime_model)
        ours.update(step(tracker, events, index, frame))
        exported.update(step(other, events, index, frame))
    return ours, exported


def step(tracker, events, index: int, frame) -> dict:
    """Frame `index` with its events: its outputs, and those of corrections on past frames."""
    todo = [event for event in events if event.frame == index]
    for event in todo:
        if event.prompt is None:
            tracker.remove_object(event.object_id)
    now = {e.object_id: e.prompt for e in todo if e.prompt is not None and e.past_frame is None}
    result = tracker.track(frame, now)
    outputs = {index: {obj: _values(out) for obj, out in result.objects.items()}}
    for event in [e for e in todo if e.past_frame is not None]:
        outputs[("corrected", event.past_frame)] = {
            event.object_id: _values(tracker.add_prompt(event.object_id, event.prompt, event.past_frame))
        }
    return outputs


def _values(result):
    return result.mask_logits, torch.tensor([result.object_score]), result.object_pointer


def test_export_writes_four_graphs_and_their_description(models):
    _, folder = models
    description = json.loads((folder / "export.json").read_text())
    assert set(description["graphs"]) == {"image_encoder", "mask_decoder", "memory_attention", "memory_encoder"}
    for graph in description["graphs"].values():
        assert (folder / graph["file"]).stat().st_size > 0
    # Every object against a fixed, masked memory: 4 conditioning + 6 tracked frames of 8 x 8
    # tokens (the bundled model at 128 px), then 4 + 15 pointers of 64 / 32 = 2 tokens each.
    memory = description["graphs"]["memory_attention"]["inputs"]["memory"]["shape"]
    assert memory[:2] == [10 * 64 + 19 * 2, "objects"]
    assert description["graphs"]["mask_decoder"]["inputs"]["tokens"]["shape"][:2] == ["objects", "tokens"]
    assert description["model"]["image_size"] == 128


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_exported_path_matches_the_torch_path(models, runtime_model, scenario, frames):  # noqa: F811
    model, _ = models
    events, length = SCENARIOS[scenario]
    ours, exported = lockstep(model, runtime_model, events, frames, length)
    assert set(ours) == set(exported)
    assert_same_stream(exported, ours, tolerance=EXPORT_TOLERANCE)


def test_exported_path_tracks_more_objects_than_the_example_it_was_traced_with(models, runtime_model, frames):  # noqa: F811
    """The graphs are traced with two objects; three must not meet a batch fixed at two."""
    model, _ = models
    spots = ((70, 90), (180, 190), (60, 200))
    events = [Event(0, index + 1, clicks((x, y, 1))) for index, (x, y) in enumerate(spots)]
    ours, exported = lockstep(model, runtime_model, events, frames, SHORT)
    assert_same_stream(exported, ours, tolerance=EXPORT_TOLERANCE)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_image_encoder_graph_pads_windows_that_do_not_tile_the_grid(tmp_path, backend):
    """sam2.1_hiera_t at 256 px: its 16 x 16 third stage is padded to windows of 14, as at 1024 px
    (64 x 64). A ceiling division exported as a truncating one once cut that padding short."""
    torch.manual_seed(0)
    model = build_model("sam2.1_hiera_t", image_size=256).eval()
    export(model, tmp_path)
    runtime_model = prepare_model(model, Preparation(backend=backend, export_dir=str(tmp_path)), precision="float32")
    images = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        expected_levels, expected_pos = model.image_encoder(images)
    levels, pos = runtime_model.image_encoder(images)
    for index, (level, expected) in enumerate(zip([*levels, pos], [*expected_levels, expected_pos])):
        difference = (level - expected).abs().max().item()
        assert difference <= EXPORT_TOLERANCE, f"output {index}: max abs diff {difference:.2e}"


def test_each_runtime_runs_and_reports_the_trackers_precision(models):
    """OpenVINO's CPU plugin defaults to bf16 on a CPU with native bfloat16: the tracker's
    precision is always passed on, and every part reports what it computes in."""
    model, folder = models
    graphs = ("image_encoder", "mask_decoder", "memory_attention", "memory_encoder")

    def parts(backend: str, precision: str) -> dict[str, str]:
        prepared = prepare_model(model, Preparation(backend=backend, export_dir=str(folder)), precision)
        return StreamingTracker(prepared, TrackerOptions(precision=precision)).precision_by_part

    rest = {"other modules": "torch float32", "memory bank": "bfloat16"}
    assert parts("openvino", "float32") == {**{graph: "openvino f32" for graph in graphs}, **rest}
    assert parts("onnxruntime", "float32") == {**{graph: "onnxruntime float32" for graph in graphs}, **rest}
    half = parts("openvino", "bfloat16")
    native = bool(cpu_flags(environ={}) & CPU_BFLOAT16_FLAGS)  # OpenVINO looks at the CPU itself
    assert {half[graph] for graph in graphs} <= ({"openvino bf16"} if native else {"openvino bf16", "openvino f32"})
    assert half["other modules"] == "torch bfloat16"


def test_the_tracker_refuses_graphs_compiled_for_another_precision(models):
    model, folder = models
    prepared = prepare_model(model, Preparation(backend="openvino", export_dir=str(folder)), precision="float32")
    with pytest.raises(ValueError, match="compiled for float32 but the tracker runs in bfloat16"):
        StreamingTracker(prepared, TrackerOptions(precision="bfloat16"))


def test_the_exported_decoder_runs_the_graph_for_the_raw_prediction(models, runtime_model, monkeypatch):
    """Its forward assembles the tokens and chooses the masks as the PyTorch decoder does, in eval
    mode; only the raw prediction (every mask token's mask, IoU, token, object score) is the graph's."""
    model, _ = models
    decoder, exported = model.sam_mask_decoder, runtime_model.sam_mask_decoder
    assert not exported.training
    calls = []
    graph = exported.graph
    monkeypatch.setattr(exported, "graph", lambda **inputs: calls.append(sorted(inputs)) or graph(**inputs))
    dim, side = model.config.hidden_dim, model.config.image_size // 16
    torch.manual_seed(0)
    inputs = {
        "image_embeddings": torch.randn(3, dim, side, side),
        "image_pe": torch.randn(1, dim, side, side),
        "sparse_prompt_embeddings": torch.randn(3, 2, dim),
        "dense_prompt_embeddings": torch.randn(3, dim, side, side),
        "high_res_features": (
            torch.randn(1, dim // 8, 4 * side, 4 * side),
            torch.randn(1, dim // 4, 2 * side, 2 * side),
        ),
    }  # three objects on one frame: its high-resolution levels are a batch of one
    for multimask in (False, True):
        with torch.no_grad():
            expected, got = decoder(**inputs, multimask=multimask), exported(**inputs, multimask=multimask)
        for name, ours, theirs in zip(expected._fields, got, expected):
            assert ours.shape == theirs.shape, name
            assert (ours - theirs).abs().max() <= EXPORT_TOLERANCE, f"multimask {multimask}: {name}"
    assert calls == [["feat_s0", "feat_s1", "image", "image_pe", "tokens"]] * 2
