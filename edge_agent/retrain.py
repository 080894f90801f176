"""Learning at the edge with numpy only (no torch).

Patterns 2 and 4: a head fitted on the frozen encoder's ``features`` from the site's own labelled
tickets, kept only when it beats the shipped head on a local hold-out. Two candidates compete on
that hold-out: a softmax fitted from scratch, and the shipped head with only its bias refitted
(the site's own class frequencies, its regional prior, on top of what central learnt from every
region). A site rarely has enough tickets to beat central's head from scratch, but its prior
differs: a coastal site sees feeder corrosion and rain fade far more often than the fleet.
Pattern 3: central fits the heavy transform (TF-IDF + SVD, ml.fleet.edge.etl_fit) and sends it back
with the reduced training data; the edge applies the transform and trains the same softmax.
"""

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_agent.abstention import CONFIDENCE_MEDIUM
from edge_agent.bundle import Head, Records, softmax
from edge_agent.serialization import serialize


def fit_softmax(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    l2: float = 1e-3,
    iterations: int = 300,
    learning_rate: float = 0.5,
) -> Head:
    """Multinomial logistic regression by full-batch gradient descent on standardised features.

    The standardisation is folded back into W and b, so the result is a plain linear head.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    n, dims = z.shape
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    w = np.zeros((dims, n_classes))
    b = np.zeros(n_classes)
    for _ in range(iterations):
        p = softmax(z @ w + b)
        grad = p - onehot
        w -= learning_rate * (z.T @ grad / n + l2 * w)
        b -= learning_rate * grad.mean(axis=0)
    W = w / scale[:, None]
    return Head(W=W.astype(np.float32), b=(b - mean @ W).astype(np.float32), origin="local")


def fit_bias(
    head: Head,
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    iterations: int = 300,
    learning_rate: float = 0.5,
) -> Head:
    """Refit only ``head``'s bias on local labels: W (what the features say) stays as shipped, the
    bias learns the site's class frequencies. Convex, and cheap: the logits without bias are fixed."""
    base = np.asarray(features, dtype=np.float64) @ np.asarray(head.W, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    onehot = np.zeros((len(y), n_classes))
    onehot[np.arange(len(y)), y] = 1.0
    b = np.asarray(head.b, dtype=np.float64).copy()
    for _ in range(iterations):
        b -= learning_rate * (softmax(base + b) - onehot).mean(axis=0)
    return Head(W=np.asarray(head.W, dtype=np.float32), b=b.astype(np.float32), origin="local")


def accuracy(head: Head, features: np.ndarray, labels: np.ndarray) -> float:
    if len(labels) == 0:
        return 0.0
    return float((head.logits(features).argmax(axis=1) == labels).mean())


def holdout_mask(idents: list[str], fraction: float = 0.25) -> np.ndarray:
    """A stable hold-out: by hash of the ticket identity, so a ticket never changes side."""
    cut = int(fraction * 1000)
    return np.array([int(hashlib.sha256(i.encode()).hexdigest()[:8], 16) % 1000 < cut for i in idents])


@dataclass(frozen=True)
class RetrainResult:
    adopted: bool
    head: Head
    metrics: dict[str, Any]


def retrain_head(
    shipped: Head | None, features: np.ndarray, labels: np.ndarray, idents: list[str], n_classes: int
) -> RetrainResult:
    """Fit local candidate heads and say whether the best beats the shipped one on the local hold-out."""
    held = holdout_mask(idents)
    if held.all() or not held.any():
        held = np.arange(len(idents)) % 4 == 0
    train_x, train_y = features[~held], labels[~held]
    test_x, test_y = features[held], labels[held]
    fits: dict[str, Callable[[np.ndarray, np.ndarray], Head]] = {
        "softmax": lambda x, y: fit_softmax(x, y, n_classes)
    }
    if shipped is not None:
        fits["prior"] = lambda x, y: fit_bias(shipped, x, y, n_classes)
    candidates = {name: fit(train_x, train_y) for name, fit in fits.items()}
    scores = {name: accuracy(head, test_x, test_y) for name, head in candidates.items()}
    method = max(scores, key=lambda name: scores[name])
    local, local_accuracy = candidates[method], scores[method]
    shipped_accuracy = accuracy(shipped, test_x, test_y) if shipped is not None else 0.0
    adopted = local_accuracy > shipped_accuracy
    if adopted:  # the hold-out said yes; now use every labelled ticket
        local = fits[method](features, labels)
    return RetrainResult(
        adopted=adopted,
        head=local,
        metrics={
            "train": int((~held).sum()),
            "holdout": int(held.sum()),
            "method": method,
            "candidates": {name: round(score, 4) for name, score in scores.items()},
            "local_accuracy": round(local_accuracy, 4),
            "shipped_accuracy": round(shipped_accuracy, 4),
            "adopted": adopted,
        },
    )


class TfidfSvd:
    """Applies a TF-IDF + SVD transform fitted centrally (same maths as scikit-learn's transform)."""

    def __init__(self, spec: dict[str, Any]):
        if spec.get("kind") != "tfidf-svd":
            raise ValueError(f"unknown transform {spec.get('kind')!r}")
        self.pattern = re.compile(spec["token_pattern"])
        self.lowercase = bool(spec.get("lowercase", True))
        self.vocabulary = {term: int(i) for term, i in spec["vocabulary"].items()}
        self.idf = np.asarray(spec["idf"], dtype=np.float64)
        self.components = np.asarray(spec["components"], dtype=np.float64)

    def transform(self, texts: list[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), len(self.idf)))
        for row, text in enumerate(texts):
            counts = Counter(self.pattern.findall(text.lower() if self.lowercase else text))
            for term, count in counts.items():
                column = self.vocabulary.get(term)
                if column is not None:
                    matrix[row, column] = count
        matrix *= self.idf
        norms = np.sqrt((matrix**2).sum(axis=1, keepdims=True))
        matrix = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
        reduced: np.ndarray = matrix @ self.components.T
        return reduced


@dataclass(frozen=True)
class EtlModel:
    """A TF-IDF + SVD transform (central's, pattern 3, or the site's, pattern 2) plus a head trained
    at the edge; served like a bundle's Model."""

    transform: TfidfSvd
    head: Head
    labels: list[str]
    version: str = "etl"
    pattern: int = 3  # the placement it was trained for: 3 on central's transform, 2 on the site's own
    # No bundle and no teacher: the agent applies central's default threshold alone (edge_agent.abstention).
    vocabulary: frozenset[str] = frozenset()
    confidence_medium: float = CONFIDENCE_MEDIUM

    def texts(self, documents: list[dict[str, Any]], contexts: list[Any]) -> list[str]:
        return [serialize(d) for d in documents]  # exactly as central serialised them for the fit

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return softmax(self.head.logits(self.transform.transform(texts)).astype(np.float64))

    def predict_one(self, text: str) -> np.ndarray:
        probabilities: np.ndarray = self.predict_proba([text])[0]
        return probabilities

    @property
    def served_version(self) -> str:
        return self.version

    @property
    def served_records(self) -> Records:
        """None: a model trained here was never measured centrally."""
        return {}


def train_etl_model(answer: dict[str, Any], *, version: str = "etl", pattern: int = 3) -> EtlModel:
    """Build the pattern-3 model from central's /edge/etl/ answer (transform, data, labels), or the
    pattern-2 one from the same shape fitted at the site (edge_agent.local_etl)."""
    pairs = [(row, label) for row, label in zip(answer["data"], answer["labels"], strict=True) if label]
    labels = sorted({label for _, label in pairs})
    index = {label: i for i, label in enumerate(labels)}
    x = np.asarray([row for row, _ in pairs], dtype=np.float64)
    y = np.asarray([index[label] for _, label in pairs])
    head = fit_softmax(x, y, len(labels))
    return EtlModel(
        transform=TfidfSvd(answer["transform"]), head=head, labels=labels, version=version, pattern=pattern
    )
