"""Which tokens tell the tickets a model learnt from apart: a model input holding none of them is
*unfamiliar*, and the model abstains on it whatever its confidence (ml/serving/confidence.py).
Central's Predictor and the edge bundle's vocabulary (ml/compression/pipeline.py) take them from here.
"""

import json
from collections import Counter
from pathlib import Path

from ml.serving import ensemble, evidence


def word_counts(index_labels: list[str]) -> tuple[int, float]:
    """(tickets learnt from, the count above which a word is common: evidence.common_above)."""
    tickets, largest = len(index_labels), max(Counter(index_labels).values(), default=0)
    return tickets, evidence.common_above(tickets, largest)


def distinctive_words(lexical: ensemble.Lexical, index_labels: list[str]) -> frozenset[str]:
    """The lexical member's tokens that tell the tickets learnt from (``index_labels``, one per
    ticket) apart: a model input with none of them is unfamiliar. Predictor and the edge bundle's
    vocabulary (ml/compression/pipeline.py) both take them from here."""
    return lexical.distinctive_words(*word_counts(index_labels))


def serving_distinctive_words(serving: Path) -> frozenset[str] | None:
    """``distinctive_words`` from a version's serving files, without loading its encoder; None for
    a version trained before they existed."""
    if not (serving / "lexical.npz").is_file() or not (serving / "index.json").is_file():
        return None
    labels = json.loads((serving / "index.json").read_text())["labels"]
    return distinctive_words(ensemble.Lexical.load(serving / "lexical.npz"), labels)
