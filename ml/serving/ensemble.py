"""The served predictor: the fine-tuned encoder (as ONNX), a lexical model and nearest-neighbour votes.

At training time ``fit_serving`` (ml.training.ensemble_fit) exports the fine-tuned encoder to ONNX (logits and
mean-pooled features), fits a TF-IDF + logistic-regression member and stores it as plain numpy arrays, and
embeds the training tickets for neighbour votes and similar-ticket search. On the validation split
each member is first calibrated with its own temperature (the fine-tuned encoder comes out
overconfident, the class-balanced lexical model underconfident: mixed raw, the first drowns the
second), then the mix weights are fitted on the simplex to minimise log-loss (a member alone is a
corner of it, so the mix is never worse there than its best member) and the mix is served with a
last temperature. Every member and the mix are reported on the evaluation split.

Serving needs only numpy, onnxruntime and tokenizers: the web process never loads torch or
scikit-learn. Files under ``serving/`` in a model's artifact directory:

    model.onnx       inputs input_ids, attention_mask (int64 [batch, seq]); outputs logits, features
    tokenizer.json   the Hugging Face fast tokenizer
    lexical.npz      terms, idf, coef [C, V], intercept [C] (the lexical member, no scikit-learn)
    embeddings.npy   L2-normalised features of the indexed tickets [N, H]
    index.json       {"ticket_ids": [...], "labels": [...]} rows of embeddings.npy
    ensemble.json    member temperatures, weights, temperature, tokenizer settings, validation scores
"""

import math
import re
from collections.abc import Sequence
from itertools import product
from pathlib import Path

import numpy as np

SERVING_DIR = "serving"
MEMBERS = ("transformer", "lexical", "knn")
KNN_K = 10
WEIGHT_STEP = 0.1
BATCH_SIZE = 32
_TOKEN_RE = re.compile(r"[^\s|]+")  # the same token pattern as evaluation.tfidf_proba


# --- Members, numpy only -------------------------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Lexical:
    """TF-IDF (word 1-2 grams, sublinear tf, l2) + logistic regression, replayed from arrays."""

    def __init__(self, terms: Sequence[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray):
        self.vocabulary = {term: i for i, term in enumerate(terms)}
        self.idf, self.coef, self.intercept = idf, coef, intercept

    @classmethod
    def load(cls, path: Path) -> "Lexical":
        with np.load(path, allow_pickle=False) as data:
            return cls([str(t) for t in data["terms"]], data["idf"], data["coef"], data["intercept"])

    def _features(self, text: str) -> dict[int, float]:
        tokens = _TOKEN_RE.findall(text.lower())
        counts: dict[int, int] = {}
        for n in (1, 2):
            for i in range(len(tokens) - n + 1):
                j = self.vocabulary.get(" ".join(tokens[i : i + n]))
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
        weights = {j: (1.0 + math.log(c)) * self.idf[j] for j, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {j: w / norm for j, w in weights.items()}

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        scores = np.tile(self.intercept, (len(texts), 1)).astype(np.float64)
        for row, text in enumerate(texts):
            for j, w in self._features(text).items():
                scores[row] += w * self.coef[:, j]
        if self.coef.shape[0] == 1:  # binary: scikit-learn keeps one row, for the second class
            p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        return softmax(scores)


def knn_proba(
    query: np.ndarray, index: np.ndarray, index_labels: np.ndarray, n_classes: int, *, k: int = KNN_K
) -> np.ndarray:
    """Similarity-weighted votes of the k most similar indexed tickets (rows L2-normalised)."""
    out = np.full((len(query), n_classes), 1e-3)
    if len(index) == 0 or len(query) == 0:
        return out / out.sum(axis=1, keepdims=True)
    k = min(k, len(index))
    for start in range(0, len(query), 512):  # blocks keep the similarity matrix small
        sims = query[start : start + 512] @ index.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        for row in range(len(sims)):
            for j in top[row]:
                out[start + row, index_labels[j]] += max(float(sims[row, j]), 0.0) ** 2
    return out / out.sum(axis=1, keepdims=True)


def normalise(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def combine(probas: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    total = sum(weights.values()) or 1.0
    return np.asarray(sum(probas[name] * (w / total) for name, w in weights.items() if w))


def calibrate(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling on log-probabilities (the same as on logits for a softmax member)."""
    if temperature == 1.0:
        return proba
    return softmax(np.log(np.clip(proba, 1e-12, 1.0)) / temperature)


def log_loss(y: np.ndarray, proba: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean negative log-likelihood of the true classes; ``weights`` weigh the rows (default equal)."""
    if len(y) == 0:
        return 0.0
    return float(-np.average(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0)), weights=weights))


def fit_temperature(y: np.ndarray, proba: np.ndarray) -> float:
    """The temperature minimising validation log-loss (a grid fine enough for a single scalar)."""
    if len(y) == 0:
        return 1.0
    grid = np.exp(np.linspace(math.log(0.05), math.log(20.0), 161))
    losses = [log_loss(y, calibrate(proba, float(t))) for t in grid]
    return round(float(grid[int(np.argmin(losses))]), 4)


def fit_weights(y: np.ndarray, probas: dict[str, np.ndarray]) -> dict[str, float]:
    """Member weights on a 0.1 simplex grid, minimising class-balanced validation log-loss: a ticket
    counts 1 / (tickets of its class), so every class weighs the same, as in macro-F1 (the target)
    and in the members' own class-weighted training. Unweighted, the frequent classes chose the mix:
    on 4,000 simulated tickets it leaned on the neighbour votes (0.4) and tied TF-IDF on macro-F1
    (0.907); balanced, 0.4 transformer, 0.4 lexical, 0.2 neighbours gave 0.913 on the same tickets."""
    names = list(probas)
    steps = round(1 / WEIGHT_STEP)
    best, best_loss = {name: 1.0 / len(names) for name in names}, float("inf")
    known = y >= 0
    if not known.any():
        return best
    y = y[known]
    probas = {name: proba[known] for name, proba in probas.items()}
    balance = 1.0 / np.bincount(y)[y]
    for combo in product(range(steps + 1), repeat=len(names)):
        if sum(combo) != steps:
            continue
        weights = {name: c / steps for name, c in zip(names, combo, strict=True)}
        loss = log_loss(y, combine(probas, weights), balance)
        if loss < best_loss - 1e-12:
            best, best_loss = weights, loss
    return best


class Encoder:
    """The fine-tuned encoder through onnxruntime: logits and mean-pooled features per text."""

    def __init__(self, serving_dir: Path, *, max_length: int, pad_id: int, pad_token: str):
        import onnxruntime
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(serving_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(serving_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def run(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        logits: np.ndarray | None = None
        features: np.ndarray | None = None
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            encoded = self.tokenizer.encode_batch([texts[i] for i in idx])
            feed = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            }
            batch_logits, batch_features = self.session.run(["logits", "features"], feed)
            if logits is None or features is None:
                logits = np.zeros((len(texts), batch_logits.shape[1]), dtype=np.float64)
                features = np.zeros((len(texts), batch_features.shape[1]), dtype=np.float32)
            logits[idx], features[idx] = batch_logits, batch_features
        if logits is None or features is None:
            return np.zeros((0, 0)), np.zeros((0, 0), dtype=np.float32)
        return logits, features


# --- Training time (scikit-learn and torch imported inside) --------------------------------------


def export_onnx(model_dir: Path, out_dir: Path) -> dict:
    """model.onnx (logits + mean-pooled features) and tokenizer.json; returns tokenizer settings."""
    import shutil

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
    with torch.inference_mode(False), torch.no_grad():
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
    shutil.copyfile(model_dir / "tokenizer.json", out_dir / "tokenizer.json")
    return {"pad_id": int(tokenizer.pad_token_id), "pad_token": str(tokenizer.pad_token)}


def fit_lexical(texts: Sequence[str], labels: Sequence[str], classes: Sequence[str], out: Path) -> Lexical:
    """Fit TF-IDF + class-balanced logistic regression; store it as arrays whose columns follow
    ``classes`` (classes absent from training get a very low score)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), sublinear_tf=True, min_df=1, token_pattern=_TOKEN_RE.pattern
    )
    features = vectorizer.fit_transform(texts)
    classifier = LogisticRegression(max_iter=2000, class_weight="balanced", C=10.0)
    classifier.fit(features, list(labels))
    terms = np.empty(len(vectorizer.vocabulary_), dtype=object)
    for term, j in vectorizer.vocabulary_.items():
        terms[j] = term
    fitted = list(classifier.classes_)
    coef = classifier.coef_
    intercept = classifier.intercept_
    if coef.shape[0] == 1:  # binary: expand to one row per class so columns follow ``classes``
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    full_coef = np.zeros((len(classes), coef.shape[1]))
    full_intercept = np.full(len(classes), -30.0)
    for row, label in enumerate(fitted):
        column = list(classes).index(label)
        full_coef[column], full_intercept[column] = coef[row], intercept[row]
    np.savez(
        out,
        terms=terms.astype(str),
        idf=vectorizer.idf_.astype(np.float64),
        coef=full_coef,
        intercept=full_intercept,
    )
    return Lexical.load(out)


def calibrate_members(probas: dict[str, np.ndarray], temperatures: dict[str, float]) -> dict[str, np.ndarray]:
    """Each member's probabilities at its own temperature (1.0 where none was fitted)."""
    return {name: calibrate(proba, float(temperatures.get(name, 1.0))) for name, proba in probas.items()}


def served_proba(config: dict, probas: dict[str, np.ndarray]) -> np.ndarray:
    """The served, calibrated probabilities from the members' outputs, as ``config`` says.

    Versions trained before members were calibrated one by one have no ``member_temperatures`` and
    may serve a single member; both still load."""
    served = config["served"]
    probas = calibrate_members(probas, config.get("member_temperatures") or {})
    proba = combine(probas, config["weights"]) if served == "ensemble" else probas[served]
    return calibrate(proba, float(config["temperature"]))
