"""Pattern 2's ETL at the site: TF-IDF + truncated SVD fitted here with numpy, in the shape central's
``/edge/etl/`` answers for pattern 3 (ml.fleet.edge.etl_fit), so the same ``train_etl_model`` trains
on it and the same ``TfidfSvd`` applies it. The maths are scikit-learn's defaults: the word pattern,
lower-casing, the terms most frequent over the corpus, smoothed idf (ln((1 + n) / (1 + df)) + 1)
and rows scaled to unit length. The components are the top eigenvectors of the terms' Gram matrix
(the top right singular vectors), accumulated a chunk of tickets at a time, so memory stays
bounded by the vocabulary, not the number of tickets.
"""

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np

from edge_agent.serialization import serialize

WORDS = r"(?u)\b\w\w+\b"  # scikit-learn's default; central's pattern-3 fit (ml.fleet.edge) uses it too
MAX_FEATURES = 2000
DIMS = 64
CHUNK = 1000


def etl_fit(
    documents: list[dict[str, Any]], *, dims: int = DIMS, max_features: int = MAX_FEATURES
) -> dict[str, Any]:
    """The transform fitted on ``documents`` and their reduced rows, with their labels."""
    pattern = re.compile(WORDS)
    counts = [Counter(pattern.findall(serialize(document).lower())) for document in documents]
    totals: Counter[str] = Counter()
    frequency: Counter[str] = Counter()
    for row in counts:
        totals.update(row)
        frequency.update(row.keys())
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:max_features]
    vocabulary = {term: i for i, term in enumerate(sorted(term for term, _ in ranked))}
    df = np.asarray([frequency[term] for term in vocabulary], dtype=np.float64)
    idf = np.log((1 + len(documents)) / (1 + df)) + 1
    gram = np.zeros((len(vocabulary), len(vocabulary)))
    for chunk in _tfidf(counts, vocabulary, idf):
        gram += chunk.T @ chunk
    n_components = max(1, min(dims, len(vocabulary) - 1, len(documents) - 1))
    _, vectors = np.linalg.eigh(gram)
    components = vectors[:, ::-1][:, :n_components].T
    reduced = np.concatenate([chunk @ components.T for chunk in _tfidf(counts, vocabulary, idf)])
    return etl_answer(vocabulary, idf.tolist(), components.tolist(), reduced.tolist(), documents)


def etl_answer(
    vocabulary: dict[str, int],
    idf: list[float],
    components: list[list[float]],
    data: list[list[float]],
    documents: list[dict[str, Any]],
) -> dict[str, Any]:
    """The fitted transform and the reduced rows as ``TfidfSvd`` and ``train_etl_model`` read them
    (edge_agent.retrain): the one shape of central's ``/edge/etl/`` answer and of the site's own fit."""
    return {
        "transform": {
            "kind": "tfidf-svd",
            "token_pattern": WORDS,
            "lowercase": True,
            "vocabulary": vocabulary,
            "idf": idf,
            "components": components,
        },
        "data": data,
        "labels": [document.get("resolution") or None for document in documents],
    }


def _tfidf(counts: list[Counter[str]], vocabulary: dict[str, int], idf: np.ndarray) -> Iterator[np.ndarray]:
    """The unit-length TF-IDF rows, ``CHUNK`` tickets at a time."""
    for start in range(0, len(counts), CHUNK):
        matrix = np.zeros((len(counts[start : start + CHUNK]), len(vocabulary)))
        for i, row in enumerate(counts[start : start + CHUNK]):
            for term, count in row.items():
                if term in vocabulary:
                    matrix[i, vocabulary[term]] = count
        matrix *= idf
        norms = np.sqrt((matrix**2).sum(axis=1, keepdims=True))
        yield np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
