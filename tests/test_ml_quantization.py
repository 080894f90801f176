"""Export and quantization: ONNX matches torch, the head reproduces the logits, int8 keeps the answers."""

import warnings

import numpy as np
import pytest
import torch

from ml.core.serialization import serialize
from ml.training import ensemble_fit, quantization
from ml.training.fine_tuning import TrainingConfig, fine_tune
from tests.factories import ML_CLASSES, ml_ticket_documents, tiny_encoder_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A small classifier really fine-tuned on serialised tickets (no validation: every epoch kept)."""
    root = tmp_path_factory.mktemp("quantization")
    documents = ml_ticket_documents(per_class=8)
    texts = [serialize(d) for d in documents]
    fine_tune(
        train_texts=texts,
        train_labels=[d["resolution"] for d in documents],
        val_texts=[],
        val_labels=[],
        labels=sorted(ML_CLASSES),
        config=TrainingConfig(
            base_model=str(tiny_encoder_dir(root / "base")),
            epochs=20,
            batch_size=4,
            learning_rate=3e-3,
            max_length=64,
        ),
        output_dir=root / "model",
    )
    return root / "model", texts


def test_onnx_matches_torch_on_other_shapes_and_the_head_reproduces_the_logits(classifier_dir, tmp_path):
    model_dir, texts = classifier_dir
    report = quantization.export_onnx(model_dir, tmp_path / "model.onnx")

    # Batch size and sequence length differ from the traced example: both axes are dynamic.
    inputs = quantization.sample_inputs(model_dir, texts[:7], max_length=64)
    assert inputs["input_ids"].shape[0] == 7 and inputs["input_ids"].shape[1] != 48
    logits, features = quantization.onnx_outputs(tmp_path / "model.onnx", inputs)
    model = quantization.load_classifier(model_dir)
    with torch.inference_mode():
        expected = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
    assert np.abs(logits - expected).max() < 1e-5
    assert features.shape == (7, 64) and report["hidden_size"] == 64 and report["num_labels"] == 4

    head = np.load(tmp_path / "head.npz")
    assert head["W"].shape == (64, 4) and head["b"].shape == (4,)
    assert np.abs(features @ head["W"] + head["b"] - logits).max() < 1e-5
    assert report["max_abs_error_vs_torch"] < 1e-5 and report["head_max_abs_error"] < 1e-5


def test_the_served_export_reproduces_torch_without_a_wall_of_tracer_warnings(classifier_dir, tmp_path):
    # `train` used to print the tracer's TracerWarning and the opset's indexing UserWarning on every
    # run; the reproduction check is what tells a bad export, and it still runs.
    model_dir, _ = classifier_dir
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = ensemble_fit.export_onnx(model_dir, tmp_path / "serving")
    assert (tmp_path / "serving" / "model.onnx").is_file() and settings["pad_token"]
    assert [
        str(w.message)[:80] for w in caught if "torch" in w.filename or "transformers" in w.filename
    ] == []


def test_int8_is_much_smaller_and_agrees_with_fp32_on_95_percent_of_tickets(classifier_dir, tmp_path):
    model_dir, texts = classifier_dir
    quantization.export_onnx(model_dir, tmp_path / "fp32.onnx")

    report = quantization.quantize_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx")

    assert report["bytes"] < 0.35 * report["fp32_bytes"]
    inputs = quantization.sample_inputs(model_dir, texts, max_length=64)
    assert quantization.argmax_agreement(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", inputs) >= 0.95
    # The fine-tuned model did learn the four fixes, so agreement is not agreement on noise.
    logits, features = quantization.onnx_outputs(tmp_path / "int8.onnx", inputs)
    # The head stays fp32 in the int8 model: head.npz reproduces its logits exactly.
    head = np.load(tmp_path / "head.npz")
    assert np.abs(features @ head["W"] + head["b"] - logits).max() < 1e-5
    gold = [sorted(ML_CLASSES).index(d["resolution"]) for d in ml_ticket_documents(per_class=8)]
    # Chance is 0.25; thread counts change the float path, so the bar sits well above chance.
    assert np.mean(logits.argmax(axis=1) == np.array(gold)) >= 0.75


def test_pruning_reaches_its_sparsity_and_shrinks_the_compressed_int8_model(classifier_dir, tmp_path):
    model_dir, _ = classifier_dir
    dense, pruned = quantization.load_classifier(model_dir), quantization.load_classifier(model_dir)

    report = quantization.prune_magnitude(pruned, 0.5)

    assert report["linear_sparsity"] == pytest.approx(0.5, abs=0.01)
    assert torch.equal(pruned.classifier.weight, dense.classifier.weight)  # the head stays dense
    sizes = {}
    for name, model in (("dense", dense), ("pruned", pruned)):
        model.save_pretrained(tmp_path / name)
        for extra in model_dir.glob("tokenizer*"):
            (tmp_path / name / extra.name).write_bytes(extra.read_bytes())
        quantization.export_onnx(tmp_path / name, tmp_path / name / "fp32.onnx")
        quantization.quantize_int8(tmp_path / name / "fp32.onnx", tmp_path / name / "int8.onnx")
        sizes[name] = quantization.compressed_size(tmp_path / name / "int8.onnx")
    assert sizes["pruned"] < sizes["dense"]


# Operators transformers' own mask and token-type derivation traces to; the exported graph is handed
# the additive mask, token types and positions instead (quantization.features_and_logits_module).
DERIVATION_OPS = {"Where", "Equal", "And", "GreaterOrEqual", "Expand", "GatherElements"}


def test_the_exported_graph_is_handed_its_mask_and_runs_none_of_transformers_derivation(
    classifier_dir, tmp_path
):
    import onnx

    model_dir, texts = classifier_dir
    quantization.export_onnx(model_dir, tmp_path / "fp32.onnx")
    ops = {node.op_type for node in onnx.load(str(tmp_path / "fp32.onnx")).graph.node}
    assert not ops & DERIVATION_OPS, ops & DERIVATION_OPS

    # Padding still masks: a ticket padded in a batch gets the logits it gets alone.
    inputs = quantization.sample_inputs(model_dir, texts[:5], max_length=64)
    batch_logits, _ = quantization.onnx_outputs(tmp_path / "fp32.onnx", inputs)
    assert (inputs["attention_mask"] == 0).any()
    for row in range(5):
        length = int(inputs["attention_mask"][row].sum())
        alone = {name: inputs[name][row : row + 1, :length] for name in quantization.INPUTS}
        logits, _ = quantization.onnx_outputs(tmp_path / "fp32.onnx", alone)
        assert np.abs(logits[0] - batch_logits[row]).max() < 1e-5


@pytest.mark.parametrize("name, fused", [("agent", False), ("agent_skip_layer_norm", True)])
def test_the_agent_options_leave_out_the_skip_layer_norm_fusion_and_a_candidate_keeps_it(
    classifier_dir, tmp_path, name, fused
):
    import dataclasses

    import onnx

    from edge_agent import sessions

    model_dir, texts = classifier_dir
    quantization.export_onnx(model_dir, tmp_path / "fp32.onnx")
    quantization.quantize_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx")
    candidate = next(c for c in sessions.CANDIDATES if c.name == name)
    optimized = tmp_path / f"{name}.onnx"

    def build(threads):
        options = candidate.build(threads)
        options.optimized_model_filepath = str(optimized)
        return options

    session = sessions._session(
        (tmp_path / "int8.onnx").read_bytes(), dataclasses.replace(candidate, build=build), 1
    )
    ops = {node.op_type for node in onnx.load(str(optimized)).graph.node}
    assert ("SkipLayerNormalization" in ops) == fused
    inputs = quantization.sample_inputs(model_dir, texts[:5], max_length=64)
    logits, _ = quantization.onnx_outputs(session, inputs)
    reference, _ = quantization.onnx_outputs(tmp_path / "int8.onnx", inputs)
    assert np.abs(logits - reference).max() < 1e-4


def test_another_bert_like_family_derives_its_own_masks_and_still_matches_torch(tmp_path):
    import onnx
    from transformers import AlbertConfig, AlbertForSequenceClassification, AutoTokenizer

    from ml.training.fine_tuning import bundled_base_model

    model_dir = tmp_path / "albert"
    config = AlbertConfig(
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=3,
    )
    AlbertForSequenceClassification(config).save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(bundled_base_model(), local_files_only=True).save_pretrained(model_dir)

    report = quantization.export_onnx(model_dir, tmp_path / "albert.onnx")

    assert report["max_abs_error_vs_torch"] < 1e-5
    ops = {node.op_type for node in onnx.load(str(tmp_path / "albert.onnx")).graph.node}
    assert ops & DERIVATION_OPS  # transformers derived its masks: only BERT is handed them
    texts = ["[codes] CPRI_LINK_DOWN", "[text] a much longer ticket about a radio unit that lost its link"]
    inputs = quantization.sample_inputs(model_dir, texts, max_length=64)
    logits, _ = quantization.onnx_outputs(tmp_path / "albert.onnx", inputs)
    model = quantization.load_classifier(model_dir)
    with torch.inference_mode():
        expected = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
    assert (inputs["attention_mask"] == 0).any() and np.abs(logits - expected).max() < 1e-5


def test_the_served_encoder_export_reproduces_torch_and_refuses_a_graph_that_does_not(
    classifier_dir, tmp_path, monkeypatch
):
    from ml.training import ensemble_fit

    model_dir, texts = classifier_dir
    settings = ensemble_fit.export_onnx(model_dir, tmp_path / "serving")

    assert (tmp_path / "serving" / "tokenizer.json").is_file() and settings["pad_token"] == "[PAD]"
    inputs = quantization.sample_inputs(model_dir, texts[:6], max_length=64)
    logits, features = quantization.onnx_outputs(tmp_path / "serving" / "model.onnx", inputs)
    model = quantization.load_classifier(model_dir)
    with torch.inference_mode():
        out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, output_hidden_states=True)
    mask = inputs["attention_mask"][..., None].astype(np.float32)
    pooled = (out.hidden_states[-1].numpy() * mask).sum(1) / mask.sum(1)
    assert np.abs(logits - out.logits.numpy()).max() < 1e-5 and np.abs(features - pooled).max() < 1e-5

    real = quantization.onnx_outputs
    monkeypatch.setattr(quantization, "onnx_outputs", lambda *a: (real(*a)[0] + 1e-3, real(*a)[1]))
    with pytest.raises(quantization.ExportError, match="does not reproduce torch"):
        ensemble_fit.export_onnx(model_dir, tmp_path / "broken")
