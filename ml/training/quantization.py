"""From a trained classifier directory to what the edge runs: ONNX, a linear head, int8, optional pruning.

The exported graph takes ``input_ids`` and ``attention_mask`` (int64, [batch, seq], both axes
dynamic) and returns ``logits`` [batch, C] and ``features`` [batch, H], the pooled vector the
classifier consumes. ``head.npz`` holds that classifier as W [H, C] and b [C], so an edge agent can
retrain the head with numpy on its own tickets and still use the shipped encoder
(logits = features @ W + b; export checks it numerically).

torch is imported inside the functions; the edge agent only ever needs onnxruntime and numpy.
"""

import io
import logging
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

OPSET = 17
INPUTS = ("input_ids", "attention_mask")
OUTPUTS = ("logits", "features")
# Export refuses a graph that disagrees with torch by more than this (fp32 matches to ~1e-6).
MAX_EXPORT_ERROR = 1e-4


class ExportError(Exception):
    """The model cannot be exported as encoder + linear head, or the export does not match torch."""


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_classifier(model_dir: Path):
    """A BERT-style sequence classifier in eval mode with eager attention (what traces cleanly)."""
    _offline()
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, local_files_only=True, attn_implementation="eager"
    )
    model.eval()
    return model


def _encoder_and_head(model):
    """The encoder that yields the pooled vector and the nn.Linear on top of it."""
    import torch

    encoder = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = getattr(model, "classifier", None)
    if encoder is None or not isinstance(head, torch.nn.Linear) or getattr(encoder, "pooler", None) is None:
        raise ExportError(
            f"{type(model).__name__} is not an encoder with a pooler and a linear classifier "
            "(BERT-style); its head cannot travel as head.npz"
        )
    return encoder, head


def features_and_logits_module(model):
    """A module returning (logits, features) for (input_ids, attention_mask).

    It hands the encoder what transformers would otherwise derive inside the graph: the additive
    attention mask [batch, 1, 1, seq] (a 4D mask is used as given), token types of zeros and
    positions from 0. Derived by transformers, they trace to about 100 shape, comparison and
    gather operators (232 nodes against 134 for a one-layer int8 student), which onnxruntime runs
    one by one on every call: 13% of a one-layer student's ``session.run``. The outputs are the
    same (to the last bit on the edge benchmark's student; export_onnx checks them against the
    classifier itself, which derives its own masks). Only for BERT (the students distillation
    builds): another family may number its positions otherwise (RoBERTa's start after the padding
    id), so it derives its own.
    """
    import torch

    encoder, head = _encoder_and_head(model)
    lean = getattr(model.config, "model_type", "") == "bert"

    class EdgeClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.head = encoder, head

        def forward(self, input_ids, attention_mask):
            if not lean:
                features = self.encoder(input_ids=input_ids, attention_mask=attention_mask).pooler_output
            else:
                positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
                additive = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(
                    torch.float32
                ).min
                features = self.encoder(
                    input_ids=input_ids,
                    attention_mask=additive,
                    token_type_ids=torch.zeros_like(input_ids),
                    position_ids=positions,
                ).pooler_output
            # MatMul + Add rather than Gemm: the quantizer rewrites a Gemm under a new name, which
            # would defeat keeping the head in fp32 (see quantize_int8).
            return torch.matmul(features, self.head.weight.t()) + self.head.bias, features

    return EdgeClassifier().eval()


def head_arrays(model) -> tuple[np.ndarray, np.ndarray]:
    """The classifier as W [H, C] and b [C] (float32)."""
    _, head = _encoder_and_head(model)
    weight = head.weight.detach().cpu().numpy().astype(np.float32).T.copy()
    bias = head.bias.detach().cpu().numpy().astype(np.float32).copy()
    return weight, bias


def sample_inputs(model_dir: Path, texts: list[str] | None = None, *, max_length: int = 48) -> dict:
    """Tokenised int64 inputs from the model's own tokenizer (a few varied texts by default)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    texts = texts or [
        "[codes] CPRI_LINK_DOWN [text] radio unit lost its cpri link",
        "[site] climate=coastal tier=cell-site [codes] MAINS_FAIL SFP_RX_LOW [text] on batteries",
        "[empty]",
    ]
    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="np")
    return {name: encoded[name].astype(np.int64) for name in INPUTS}


def onnx_session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_outputs(path_or_session, inputs: dict) -> tuple[np.ndarray, np.ndarray]:
    session = onnx_session(path_or_session) if isinstance(path_or_session, str | Path) else path_or_session
    logits, features = session.run(list(OUTPUTS), {name: inputs[name] for name in INPUTS})
    return logits, features


def reproduction_error(exported, expected) -> float:
    """The largest absolute difference between an exported graph's outputs and torch's, in order."""
    return max(float(np.abs(got - want).max()) for got, want in zip(exported, expected, strict=True))


def export_onnx(model_dir: Path, out: Path, *, head_out: Path | None = None, max_length: int = 48) -> dict:
    """Export ``model_dir`` to ONNX at ``out`` and its head to ``head_out`` (default: head.npz beside it).

    Checks the export against torch and the head against the exported logits; returns the errors.
    """
    import torch

    model_dir, out = Path(model_dir), Path(out)
    head_out = Path(head_out) if head_out else out.with_name("head.npz")
    model = load_classifier(model_dir)
    module = features_and_logits_module(model)
    inputs = sample_inputs(model_dir, max_length=max_length)
    example = tuple(torch.from_numpy(inputs[name]) for name in INPUTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    with torch.inference_mode(), warnings.catch_warnings():
        # The tracer warns about shape checks it freezes and deprecations of the exporter we chose
        # on purpose (dynamo=False); the numerical check below is what tells a bad export.
        warnings.simplefilter("ignore")
        # What the classifier itself answers, deriving its own masks: the exported module must agree.
        expected_logits = model(input_ids=example[0], attention_mask=example[1]).logits.numpy()
        expected_features = module.encoder(
            input_ids=example[0], attention_mask=example[1]
        ).pooler_output.numpy()
        torch.onnx.export(
            module,
            example,
            str(partial),
            dynamo=False,
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "logits": {0: "batch"},
                "features": {0: "batch"},
            },
            opset_version=OPSET,
            do_constant_folding=True,
        )
    os.replace(partial, out)
    weight, bias = head_arrays(model)
    with head_out.open("wb") as f:
        np.savez(f, W=weight, b=bias)

    logits, features = onnx_outputs(out, inputs)
    onnx_error = reproduction_error((logits, features), (expected_logits, expected_features))
    head_error = float(np.abs(features @ weight + bias - logits).max())
    if onnx_error > MAX_EXPORT_ERROR or head_error > MAX_EXPORT_ERROR:
        raise ExportError(
            f"export of {model_dir} does not reproduce torch: ONNX error {onnx_error:.2e}, "
            f"head error {head_error:.2e} (limit {MAX_EXPORT_ERROR:.0e})"
        )
    return {
        "onnx": str(out),
        "head": str(head_out),
        "bytes": out.stat().st_size,
        "max_abs_error_vs_torch": onnx_error,
        "head_max_abs_error": head_error,
        "hidden_size": int(weight.shape[0]),
        "num_labels": int(weight.shape[1]),
        "opset": OPSET,
    }


def _head_nodes(path: Path) -> list[str]:
    """The nodes computing ``logits`` from ``features``: kept in fp32 so head.npz stays exact."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producers = {output: node for node in graph.node for output in node.output}
    names, pending = [], ["logits"]
    while pending:
        node = producers.get(pending.pop())
        if node is None or "features" in node.output:
            continue
        names.append(node.name)
        pending += [name for name in node.input if name in producers]
    return names


def quantize_int8(onnx_in: Path, onnx_out: Path, *, keep_head: bool = True) -> dict:
    """Dynamic int8 quantization of the encoder (signed int8 weights: unsigned ran 1.4x slower here).

    With ``keep_head`` (edge students) the classifier stays fp32 (it is C x H numbers), so
    logits = features @ W + b holds exactly in the int8 model too, and a head retrained at the edge
    is a drop-in replacement. Central's served encoder quantizes everything.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    onnx_in, onnx_out = Path(onnx_in), Path(onnx_out)
    partial = onnx_out.with_name(onnx_out.name + ".part")
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # the quantizer logs every tensor and advice on the root logger
    try:
        excluded = _head_nodes(onnx_in) if keep_head else []
        quantize_dynamic(onnx_in, partial, weight_type=QuantType.QInt8, nodes_to_exclude=excluded)
    finally:
        root.setLevel(level)
    os.replace(partial, onnx_out)
    return {
        "onnx": str(onnx_out),
        "bytes": onnx_out.stat().st_size,
        "fp32_bytes": onnx_in.stat().st_size,
        "ratio": round(onnx_out.stat().st_size / onnx_in.stat().st_size, 4),
    }


def argmax_agreement(onnx_a: Path, onnx_b: Path, inputs: dict) -> float:
    """Share of rows on which two exported models predict the same class."""
    logits_a, _ = onnx_outputs(onnx_a, inputs)
    logits_b, _ = onnx_outputs(onnx_b, inputs)
    return float(np.mean(logits_a.argmax(axis=1) == logits_b.argmax(axis=1)))


def prune_magnitude(model, sparsity: float) -> dict:
    """Zero the smallest-magnitude ``sparsity`` share of each encoder linear weight, in place.

    The classifier stays dense (it is tiny and its weights are the ones edge retraining replaces).
    Zeros cost as much as any value in a dense ONNX file; they pay off once the file is compressed
    for transfer, which compressed_size measures.
    """
    import torch

    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    encoder, head = _encoder_and_head(model)
    zeros = total = 0
    with torch.no_grad():
        for module in encoder.modules():
            if not isinstance(module, torch.nn.Linear) or module is head:
                continue
            weight = module.weight
            k = int(weight.numel() * sparsity)
            if k:
                threshold = weight.abs().flatten().kthvalue(k).values
                weight.masked_fill_(weight.abs() <= threshold, 0.0)
            zeros += int((weight == 0).sum())
            total += weight.numel()
    return {"target_sparsity": sparsity, "linear_sparsity": round(zeros / total, 4) if total else 0.0}


def compressed_size(path: Path) -> int:
    """Bytes of ``path`` deflated in a zip (what a bundle or an HTTP transfer with gzip costs)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(path, arcname=Path(path).name)
    return buffer.getbuffer().nbytes
