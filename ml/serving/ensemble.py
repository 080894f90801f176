"""The served predictor: the fine-tuned encoder (as ONNX), a lexical model and nearest-neighbour votes.

At training time ``fit_serving`` (ml.training.ensemble_fit) exports the fine-tuned encoder to ONNX (logits and
mean-pooled features), fits a TF-IDF + logistic-regression member and stores it as plain numpy arrays, and
embeds the training tickets for neighbour votes and similar-ticket search. On the validation split
each member is first calibrated with its own temperature (the fine-tuned encoder comes out
overconfident, the class-balanced lexical model underconfident: mixed raw, the first drowns the
second), then the mix weights are chosen on the simplex by the worse of relative accuracy and
macro-F1, log-loss breaking near-ties (a member alone is a corner of it, and the mix is never below
its best member there: a weak transformer simply gets weight 0) and the mix is served with a last
temperature. Every member and the mix are reported on the evaluation split.

Serving needs only numpy, onnxruntime and tokenizers: the web process never loads torch or
scikit-learn. Files under ``serving/`` in a model's artifact directory:

    model.onnx       inputs input_ids, attention_mask (int64 [batch, seq]); outputs logits, features
    tokenizer.json   the Hugging Face fast tokenizer
    lexical.npz      terms, idf, char_terms, char_idf, coef [C, V], intercept [C] (the lexical
                     member: word and char_wb TF-IDF + logistic regression, no scikit-learn)
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
MIX_TOLERANCE = 0.01  # of relative score, within which log-loss decides
TOKENIZE_CHUNK = 256  # texts tokenised per call; the encoder runs one at a time (Encoder.run)
TOKEN_RE = re.compile(r"[^\s|]+")  # the same token pattern as evaluation.tfidf_proba
_EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")
_SECTION_MARKER = re.compile(r"^\[\w+\]$")  # "[text]", "[codes]": the serialised layout, in every ticket


# --- Members, numpy only -------------------------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


CHAR_NGRAMS = (3, 5)  # char_wb n-grams: spelling variants, compounds and mixed languages


def char_wb_ngrams(text: str, low: int = CHAR_NGRAMS[0], high: int = CHAR_NGRAMS[1]) -> list[str]:
    """scikit-learn's ``analyzer="char_wb"`` on lower-cased text, replayed without it: n-grams
    inside each whitespace-separated word padded with one space (a word shorter than n: once)."""
    grams = []
    for word in text.lower().split():
        padded = f" {word} "
        for n in range(low, high + 1):
            offset = 0
            grams.append(padded[offset : offset + n])
            while offset + n < len(padded):
                offset += 1
                grams.append(padded[offset : offset + n])
            if offset == 0:  # the word is shorter than n
                break
    return grams


def _tfidf(counts: dict[int, int], idf: np.ndarray, shift: int) -> tuple[list[int], list[float]]:
    """Sublinear tf x idf, L2-normalised; column indices shifted by ``shift``."""
    if not counts:
        return [], []
    columns = list(counts)
    weights = np.array([(1.0 + math.log(counts[j])) * idf[j] for j in columns])
    weights /= np.linalg.norm(weights) or 1.0
    return [j + shift for j in columns], weights.tolist()


class Lexical:
    """TF-IDF + logistic regression, replayed from arrays: word 1-2 grams and, where stored, char_wb
    3-5 grams, each block sublinear and L2-normalised, side by side (as the baseline every export is
    measured against). Bundles without ``char_terms`` hold the word block alone."""

    def __init__(
        self,
        terms: Sequence[str],
        idf: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        char_terms: Sequence[str] = (),
        char_idf: np.ndarray | None = None,
    ):
        self.vocabulary = {term: i for i, term in enumerate(terms)}
        self.char_vocabulary = {term: i for i, term in enumerate(char_terms)}
        self.idf, self.coef, self.intercept = idf, coef, intercept
        self.char_idf = char_idf if char_idf is not None else np.zeros(0)
        self.class_weight = ""  # set by fit_lexical, with the validation scores behind the choice
        self.class_weight_scores: dict[str, dict] = {}
        self.class_weight_chosen_on = ""  # "validation (N tickets)" or the folds it was chosen on

    @classmethod
    def load(cls, path: Path) -> "Lexical":
        with np.load(path, allow_pickle=False) as data:
            chars = "char_terms" in data.files
            return cls(
                [str(t) for t in data["terms"]],
                data["idf"],
                data["coef"].astype(np.float64),
                data["intercept"],
                [str(t) for t in data["char_terms"]] if chars else (),
                data["char_idf"] if chars else None,
            )

    def _document_frequency(self, tickets: int) -> np.ndarray:
        """In how many of the ``tickets`` this member was fitted on each word term is, read back from
        the stored idf (scikit-learn's smoothed idf is 1 + ln((1 + n) / (1 + df)))."""
        idf = np.asarray(self.idf, dtype=np.float64)
        return np.rint((1 + tickets) * np.exp(1.0 - idf) - 1)

    def common_words(self, tickets: int, above: float) -> frozenset[str]:
        """Single words (edge punctuation stripped) in more than ``above`` of the ``tickets`` this
        member was fitted on."""
        df = self._document_frequency(tickets)
        words = {
            _EDGE_PUNCTUATION.sub("", term)
            for term, i in self.vocabulary.items()
            if " " not in term and df[i] > above
        }
        return frozenset(words - {""})

    def distinctive_words(self, tickets: int, above: float) -> frozenset[str]:
        """Single tokens of the word vocabulary (words, codes, ``name=value`` pairs) in at most
        ``above`` of the ``tickets``: what tells the tickets learnt from apart. Section markers and
        the tokens of most tickets (the site every ticket came from, "the") are left out, since a
        ticket sharing only those with them shares nothing. A word pair is a term only where both
        its words are, so single tokens are enough."""
        df = self._document_frequency(tickets)
        return frozenset(
            term
            for term, i in self.vocabulary.items()
            if " " not in term and df[i] <= above and not _SECTION_MARKER.match(term)
        )

    def _features(self, text: str) -> tuple[list[int], list[float]]:
        tokens = TOKEN_RE.findall(text.lower())
        counts: dict[int, int] = {}
        for n in (1, 2):
            for i in range(len(tokens) - n + 1):
                j = self.vocabulary.get(" ".join(tokens[i : i + n]))
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
        columns, weights = _tfidf(counts, self.idf, 0)
        if self.char_vocabulary:
            char_counts: dict[int, int] = {}
            for gram in char_wb_ngrams(text):
                j = self.char_vocabulary.get(gram)
                if j is not None:
                    char_counts[j] = char_counts.get(j, 0) + 1
            more_columns, more_weights = _tfidf(char_counts, self.char_idf, len(self.vocabulary))
            columns, weights = columns + more_columns, weights + more_weights
        return columns, weights

    def featurise(self, texts: Sequence[str]) -> list[tuple[list[int], list[float]]]:
        """Each text's TF-IDF columns and weights: the same for every member fitted on one vocabulary."""
        return [self._features(text) for text in texts]

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.proba_of(self.featurise(texts))

    def proba_of(self, rows: Sequence[tuple[list[int], list[float]]]) -> np.ndarray:
        """Probabilities of texts already featurised (``featurise``) on this member's vocabulary."""
        scores = np.tile(self.intercept, (len(rows), 1)).astype(np.float64)
        for row, (columns, weights) in enumerate(rows):
            if columns:
                scores[row] += self.coef[:, columns] @ np.asarray(weights)
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


# The prior on a fitted temperature where validation cannot give one: log T ~ N(0, SD^2), centred on
# "as stated". A validation set the model gets all right lets log-loss fall for ever as T -> 0 (the
# most likely temperature is 0: every probability 1), and the grid's floor made every served
# probability 1.0 (a few hundred tickets, 42 validation tickets all right: every answer, gibberish
# too, served at the calibration cap). Only that case, where the log-loss still falls at the grid's
# floor, takes the prior: elsewhere validation has its own optimum and decides alone. Applied
# everywhere, the prior moved the members' temperatures, and through them the mix, on a real
# 890-ticket event log: its macro-F1 fell from 0.217 to 0.141 (benchmarks.real_data, 2026-12-05).
TEMPERATURE_PRIOR_SD = 0.5
_TEMPERATURES = np.exp(np.linspace(math.log(0.05), math.log(20.0), 161))


def fit_temperature(y: np.ndarray, proba: np.ndarray) -> float:
    """The temperature minimising validation log-loss on a grid fine enough for a single scalar;
    where the log-loss has no minimum above the grid's floor (validation all right), the most
    probable one under the prior on log T (``TEMPERATURE_PRIOR_SD``). Validation tickets of a label
    the model never learnt (``-1``) say nothing about its temperature."""
    known = y >= 0
    y, proba = y[known], proba[known]
    if len(y) == 0:
        return 1.0
    losses = np.array([len(y) * log_loss(y, calibrate(proba, float(t))) for t in _TEMPERATURES])
    best = int(np.argmin(losses))
    if best == 0:  # still falling at the floor: no temperature validation can stand behind
        best = int(np.argmin(losses + np.log(_TEMPERATURES) ** 2 / (2 * TEMPERATURE_PRIOR_SD**2)))
    return round(float(_TEMPERATURES[best]), 4)


def accuracy_macro_f1(y: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    """Accuracy and macro-F1 (over the classes present in ``y``) of the argmax of ``proba``."""
    if len(y) == 0:
        return 0.0, 0.0
    predicted = proba.argmax(axis=1)
    scores = []
    for c in np.unique(y):
        tp = int(((predicted == c) & (y == c)).sum())
        fp = int(((predicted == c) & (y != c)).sum())
        fn = int(((predicted != c) & (y == c)).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float((predicted == y).mean()), float(np.mean(scores))


def relative_score(metrics: tuple[float, float], best: tuple[float, float]) -> float:
    """The worse of accuracy and macro-F1, each relative to the best reached (1.0: best on both).

    What the mix and the lexical member's class weighting are chosen on: 10 accuracy points never buy
    3 macro-F1 points, nor the other way round, because only the metric that lost counts."""
    return min(m / b if b > 0 else 1.0 for m, b in zip(metrics, best, strict=True))


def choose(candidates: dict, y: np.ndarray, probas: dict, *, tolerance: float = MIX_TOLERANCE):
    """The key of ``candidates`` whose probabilities (``probas[key]``) score best on ``y`` by
    ``relative_score``; among those within ``tolerance`` of the best, but never below any candidate
    flagged True (a single member: the mix may not fall below it), the lowest class-balanced
    log-loss wins,
    so that noise in a small validation set is broken by the smoother measure. Returns (key, table)."""
    balance = 1.0 / np.bincount(y)[y]
    metrics = {key: accuracy_macro_f1(y, probas[key]) for key in candidates}
    best = (max(m[0] for m in metrics.values()), max(m[1] for m in metrics.values()))
    scores = {key: relative_score(m, best) for key, m in metrics.items()}
    top = max(scores.values())
    floor = max([top - tolerance] + [scores[k] for k, single in candidates.items() if single])
    eligible = [key for key in candidates if scores[key] >= floor - 1e-12]
    losses = {key: log_loss(y, probas[key], balance) for key in eligible}
    chosen = min(eligible, key=lambda key: (losses[key], -scores[key]))
    table = {key: {"accuracy": m[0], "macro_f1": m[1], "score": scores[key]} for key, m in metrics.items()}
    return chosen, table


def fit_weights(y: np.ndarray, probas: dict[str, np.ndarray]) -> dict[str, float]:
    """Member weights on a 0.1 simplex grid (each member alone is a corner of it), chosen on
    validation by ``choose``: the worse of relative accuracy and macro-F1, then class-balanced
    log-loss. Log-loss alone picked a mix below its best member: on a real 56-group export it gave
    0.8 to the weakest member and 0.0 to the best (issue 15)."""
    names = list(probas)
    steps = round(1 / WEIGHT_STEP)
    even = {name: 1.0 / len(names) for name in names}
    known = y >= 0
    if not known.any():
        return even
    y = y[known]
    probas = {name: proba[known] for name, proba in probas.items()}
    grid = {}
    for combo in product(range(steps + 1), repeat=len(names)):
        if sum(combo) == steps:
            grid[combo] = {name: c / steps for name, c in zip(names, combo, strict=True)}
    mixed = {combo: combine(probas, weights) for combo, weights in grid.items()}
    single = {combo: max(combo) == steps for combo in grid}
    chosen, _ = choose(single, y, mixed)
    return grid[chosen]


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
        """(logits, features) per text, each text run alone on its own tokens.

        The int8 encoder quantizes its activations with one scale per run, so in a batch each
        ticket's answer would depend on the tickets beside it: on a real export, up to 1.7 in a
        logit and 3% of top answers changed with the batch. Alone, a ticket scores the same
        whether it comes through the API, ``predict``, evidence or training, for about 25% more
        time than batches of 32."""
        logits: np.ndarray | None = None
        features: np.ndarray | None = None
        for start in range(0, len(texts), TOKENIZE_CHUNK):
            encoded = self.tokenizer.encode_batch(list(texts[start : start + TOKENIZE_CHUNK]))
            for offset, e in enumerate(encoded):
                length = sum(e.attention_mask)  # the chunk is padded on the right to its longest
                feed = {
                    "input_ids": np.array([e.ids[:length]], dtype=np.int64),
                    "attention_mask": np.ones((1, length), dtype=np.int64),
                }
                row_logits, row_features = self.session.run(["logits", "features"], feed)
                if logits is None or features is None:
                    logits = np.zeros((len(texts), row_logits.shape[1]), dtype=np.float64)
                    features = np.zeros((len(texts), row_features.shape[1]), dtype=np.float32)
                logits[start + offset], features[start + offset] = row_logits[0], row_features[0]
        if logits is None or features is None:
            return np.zeros((0, 0)), np.zeros((0, 0), dtype=np.float32)
        return logits, features


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
