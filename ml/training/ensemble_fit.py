"""Fitting the served predictor at training time: the members, their mix and calibration.

The runtime half (the members, the mix, calibration) is ml.serving.ensemble, which the web process
imports; this half needs the training-time evaluation and quantization and is imported by the
training pipeline only.
"""

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.serving.ensemble import (
    KNN_K,
    MEMBERS,
    MIX_TOLERANCE,
    Encoder,
    Lexical,
    accuracy_macro_f1,
    calibrate,
    calibrate_members,
    choose,
    combine,
    fit_temperature,
    fit_weights,
    knn_proba,
    log_loss,
    normalise,
    softmax,
)
from ml.training import calibration, evaluation, quantization
from ml.training.lexical import CLASS_WEIGHTINGS, fit_lexical, fit_lexical_weightings

# Under this many validation tickets the lexical member's class weighting is chosen on out-of-fold
# predictions over train and validation together: on 57 validation tickets of a real 12-class
# export, the weighting validation chose cost 14 accuracy points on new tickets (issue 15).
CV_BELOW_VALIDATION = 200
CV_FOLDS = 5


def fit_lexical_member(*, out_dir: Path, split_parts: dict, labels: Sequence[str]) -> Lexical:
    """The lexical member, trained on "train" with the class weighting held-out tickets prefer:
    validation's when it is large enough, else ``CV_FOLDS``-fold out-of-fold predictions over
    train and validation (cheap for the lexical member, and five times the tickets to judge on)."""
    known = set(labels)
    train = [e for e in split_parts["train"] if e.label in known]
    validation = [e for e in split_parts["validation"] if e.label in known]
    out_dir.mkdir(parents=True, exist_ok=True)
    texts, targets = [e.text for e in train], [e.label for e in train]
    pool = train + validation
    # Stratified folds need a class with at least as many tickets as folds: fewer folds on a tiny set.
    folds = min(CV_FOLDS, max(Counter(e.label for e in pool).values(), default=0))
    if len(validation) < CV_BELOW_VALIDATION and folds >= 2 and len(pool) >= 2 * folds:
        scheme, table = _class_weight_by_folds(pool, labels, folds=folds)
        member = fit_lexical(texts, targets, labels, out_dir / "lexical.npz", class_weight=scheme)
        member.class_weight, member.class_weight_scores = scheme, table
        member.class_weight_chosen_on = f"{folds}-fold out-of-fold predictions over {len(pool)} tickets"
        return member
    member = fit_lexical(
        texts,
        targets,
        labels,
        out_dir / "lexical.npz",
        validation=([e.text for e in validation], [e.label for e in validation]),
    )
    member.class_weight_chosen_on = f"validation ({len(validation)} tickets)"
    return member


def _class_weight_by_folds(examples: Sequence, labels: Sequence[str], *, folds: int) -> tuple[str, dict]:
    """(weighting, table): each of CLASS_WEIGHTINGS scored by ``choose`` on stratified out-of-fold
    predictions, every fold fitted as the served member is (fit_lexical). A fold's weightings share
    its features, fitted and featurised once."""
    import warnings

    from sklearn.model_selection import StratifiedKFold

    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[e.label] for e in examples])
    texts, targets = [e.text for e in examples], [e.label for e in examples]
    probas = {scheme: np.zeros((len(y), len(labels))) for scheme in CLASS_WEIGHTINGS}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class rarer than the folds: fine here
        for fit_rows, held_rows in splitter.split(texts, y):
            members = fit_lexical_weightings(
                [texts[i] for i in fit_rows], [targets[i] for i in fit_rows], labels, CLASS_WEIGHTINGS
            )
            rows = members[CLASS_WEIGHTINGS[0]].featurise([texts[i] for i in held_rows])
            for scheme, member in members.items():
                probas[scheme][held_rows] = member.proba_of(rows)
    return choose(dict.fromkeys(CLASS_WEIGHTINGS, False), y, probas)


def fit_serving(
    *,
    model_dir: Path,
    out_dir: Path,
    split_parts: dict,
    labels: Sequence[str],
    max_length: int,
    int8: bool = True,
    refit: bool = False,
    lexical: Lexical | None = None,
):
    """Build ``serving/`` and return (ensemble config, member reports on the eval split, served proba).

    ``split_parts`` maps "train", "validation", "eval" to lists of Examples. With ``int8`` the
    served encoder is dynamically quantized (about 2x faster on CPU, which matters most for the
    occlusion evidence's batch of variants); every figure below is measured on the encoder served.

    With ``refit``, once everything is measured, the lexical member is fitted again (same class
    weighting) on all three parts and the evaluation tickets join the neighbour index: the files
    served then learnt from every labelled ticket, while the figures returned are those measured
    before, on tickets the members had not seen. On a real export of 3,800 tickets the internal
    split leaves 58% of them to train on; a baseline fitted on all of them is what users compare.
    """
    tokenizer_settings, encoder = _served_encoder(model_dir, out_dir, max_length=max_length, int8=int8)
    data = _encode_parts(encoder, split_parts, labels)
    if lexical is None:
        lexical = fit_lexical_member(out_dir=out_dir, split_parts=split_parts, labels=labels)
    _write_index(out_dir, data.index, data.parts["train"] + data.parts["validation"])
    mix = _fit_mix(data, lexical)
    reports, served_proba = _measure_on_eval(out_dir, data, lexical, mix)
    if refit:
        _refit_on_all(out_dir, data, lexical)
    config = {
        "members": list(MEMBERS),
        "member_temperatures": mix.member_temperatures,
        "weights": mix.weights,
        "served": SERVED,
        "temperature": mix.temperature,
        "knn_k": KNN_K,
        "max_length": max_length,
        "encoder": "int8" if int8 else "fp32",
        "tokenizer": tokenizer_settings,
        "validation": mix.validation_scores,
        "objective": "max min(accuracy / best accuracy, macro-F1 / best macro-F1) on validation, "
        f"then class-balanced log-loss within {MIX_TOLERANCE}; singles are candidates",
        "lexical_class_weight": lexical.class_weight,
        "lexical_class_weights_validation": lexical.class_weight_scores,
        "lexical_class_weight_chosen_on": lexical.class_weight_chosen_on,
        "refit_on_all": refit,
        "labels": list(labels),
    }
    (out_dir / "ensemble.json").write_text(json.dumps(config, indent=1, sort_keys=True))
    return config, reports, served_proba


SERVED = "ensemble"


@dataclass
class _Encoded:
    """The three parts run through the served encoder, and the neighbour index they give."""

    labels: Sequence[str]
    label_index: dict[str, int]
    parts: dict[str, list]
    logits: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    index: np.ndarray
    index_y: np.ndarray


@dataclass
class _Mix:
    """What validation decided: per-member temperatures, the weights, the final temperature."""

    member_temperatures: dict
    weights: dict
    temperature: float
    validation_scores: dict
    validation: dict[str, np.ndarray]


def export_onnx(model_dir: Path, out_dir: Path) -> dict:
    """model.onnx (logits + mean-pooled features) and tokenizer.json; returns tokenizer settings.

    Raises quantization.ExportError when the graph does not reproduce torch on a padded sample."""
    import shutil
    import warnings

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    # Eager attention traces to plain ops; the SDPA path is not exported faithfully.
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, local_files_only=True, attn_implementation="eager"
    ).eval()

    class WithFeatures(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
            hidden = out.hidden_states[-1]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return out.logits, (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    sample = tokenizer(["[codes] A B", "[text] a longer example ticket"], padding=True, return_tensors="pt")
    wrapper = WithFeatures(model).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about shape checks it freezes and about the opset's advanced indexing;
        # the reproduction check below is what tells a bad export (as quantization.export_onnx).
        warnings.simplefilter("ignore")
        expected = [t.numpy() for t in wrapper(sample["input_ids"], sample["attention_mask"])]
        torch.onnx.export(
            wrapper,
            (sample["input_ids"], sample["attention_mask"]),
            str(out_dir / "model.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits", "features"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "logits": {0: "batch"},
                "features": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    inputs = {name: sample[name].numpy().astype(np.int64) for name in quantization.INPUTS}
    exported = quantization.onnx_outputs(out_dir / "model.onnx", inputs)
    error = quantization.reproduction_error(exported, expected)
    if error > quantization.MAX_EXPORT_ERROR:
        raise quantization.ExportError(
            f"export of {model_dir} does not reproduce torch: ONNX error {error:.2e} "
            f"(limit {quantization.MAX_EXPORT_ERROR:.0e})"
        )
    shutil.copyfile(model_dir / "tokenizer.json", out_dir / "tokenizer.json")
    return {"pad_id": int(tokenizer.pad_token_id), "pad_token": str(tokenizer.pad_token)}


def _served_encoder(model_dir: Path, out_dir: Path, *, max_length: int, int8: bool):
    """Export the encoder to ONNX (quantized with ``int8``); every figure is measured on it."""
    tokenizer_settings = export_onnx(model_dir, out_dir)
    if int8:
        quantization.quantize_int8(out_dir / "model.onnx", out_dir / "model.onnx", keep_head=False)
    return tokenizer_settings, Encoder(out_dir, max_length=max_length, **tokenizer_settings)


def _encode_parts(encoder: Encoder, split_parts: dict, labels: Sequence[str]) -> _Encoded:
    label_index = {label: i for i, label in enumerate(labels)}
    train = [e for e in split_parts["train"] if e.label in label_index]
    validation = [e for e in split_parts["validation"] if e.label in label_index]
    parts = {"train": train, "validation": validation, "eval": list(split_parts["eval"])}
    logits, features = {}, {}
    for name, examples in parts.items():
        logits[name], raw = encoder.run([e.text for e in examples])
        features[name] = normalise(raw)
    y = {name: np.array([label_index.get(e.label, -1) for e in examples]) for name, examples in parts.items()}
    return _Encoded(
        labels=labels,
        label_index=label_index,
        parts=parts,
        logits=logits,
        features=features,
        y=y,
        index=np.vstack([features["train"], features["validation"]]),
        index_y=np.concatenate([y["train"], y["validation"]]).astype(np.int64),
    )


def _members(data: _Encoded, lexical: Lexical, name: str, index_rows: int) -> dict[str, np.ndarray]:
    """Each member's probabilities on one part, neighbours taken from the first ``index_rows``."""
    texts = [e.text for e in data.parts[name]]
    return {
        "transformer": softmax(data.logits[name]),
        "lexical": lexical.proba(texts),
        "knn": knn_proba(
            data.features[name], data.index[:index_rows], data.index_y[:index_rows], len(data.labels)
        ),
    }


def _fit_mix(data: _Encoded, lexical: Lexical) -> _Mix:
    """Calibrate each member, weigh them and calibrate the mix, all on validation."""
    y_validation = data.y["validation"]
    # Validation never votes for itself: its neighbours come from the training part only.
    val = _members(data, lexical, "validation", len(data.parts["train"]))
    member_temperatures = {name: fit_temperature(y_validation, proba) for name, proba in val.items()}
    val = calibrate_members(val, member_temperatures)
    weights = fit_weights(y_validation, val)
    val["ensemble"] = combine(val, weights)
    validation_scores = {name: _scores(y_validation, proba) for name, proba in val.items()}
    temperature = fit_temperature(y_validation, val[SERVED])
    return _Mix(member_temperatures, weights, temperature, validation_scores, val)


def _measure_on_eval(out_dir: Path, data: _Encoded, lexical: Lexical, mix: _Mix):
    """Member reports and the served probabilities on eval, with calibration.json stored."""
    ev = calibrate_members(_members(data, lexical, "eval", len(data.index)), mix.member_temperatures)
    ev["ensemble"] = combine(ev, mix.weights)
    eval_labels = [e.label for e in data.parts["eval"]]
    reports = {name: evaluation.report(eval_labels, proba, data.labels) for name, proba in ev.items()}
    served_proba = calibrate(ev[SERVED], mix.temperature)
    # Top-label calibration on validation, measured on eval, stored beside the model (calibration.json).
    served_proba = calibration.fit_and_store(
        out_dir,
        y_validation=data.y["validation"],
        validation_proba=calibrate(mix.validation[SERVED], mix.temperature),
        y_eval=data.y["eval"],
        eval_uncalibrated=ev[SERVED],
        eval_proba=served_proba,
    )
    return reports, served_proba


def _refit_on_all(out_dir: Path, data: _Encoded, lexical: Lexical) -> None:
    """Refit the lexical member on every labelled ticket and add eval's to the neighbour index."""
    evaluation_part = data.parts["eval"]
    known = [e for e in evaluation_part if e.label in data.label_index]
    everything = data.parts["train"] + data.parts["validation"] + known
    fit_lexical(
        [e.text for e in everything],
        [e.label for e in everything],
        data.labels,
        out_dir / "lexical.npz",
        class_weight=lexical.class_weight,
        start=lexical,  # the member measured: its solution is near this one's
    )
    seen = np.array([e.label in data.label_index for e in evaluation_part], dtype=bool)
    _write_index(out_dir, np.vstack([data.index, data.features["eval"][seen]]), everything)


def _scores(y: np.ndarray, proba: np.ndarray) -> dict:
    known = y >= 0
    accuracy, macro_f1 = accuracy_macro_f1(y[known], proba[known])
    return {
        "accuracy": round(accuracy, 6),
        "macro_f1": round(macro_f1, 6),
        "log_loss": round(log_loss(y[known], proba[known]), 6),
    }


def _write_index(out_dir: Path, index: np.ndarray, examples: Sequence) -> None:
    """The neighbour index: embeddings.npy and its rows' ticket ids and labels."""
    np.save(out_dir / "embeddings.npy", index.astype(np.float32))
    ids = {"ticket_ids": [e.ticket_id for e in examples], "labels": [e.label for e in examples]}
    (out_dir / "index.json").write_text(json.dumps(ids))
