"""Central's one abstention rule (ml/serving/confidence.py), as the agent applies it to its answers.

The model recommends a fix only when its top answer is at least Medium confidence and the ticket
is not unfamiliar: its serialised model input holds one of the teacher's distinctive tokens (the
bundle's ``vocabulary.json``). The threshold is the bundle's ``confidence_medium``, central's
setting on the day it was built. The agent cannot import ``ml``, so the pieces both sides need live
here and central imports them: the words, how a probability is written, and the unfamiliar check.
The token pattern is the lexical member's (tests/test_edge_abstention.py checks they agree).
"""

import json
import re
from typing import Any

VOCABULARY_FILE = "vocabulary.json"
CONFIDENCE_MEDIUM = 0.5  # central's default, for a bundle built before it carried its threshold
# The lexical member's word tokens (ml.serving.ensemble.TOKEN_RE) on the lower-cased model input.
TOKEN_RE = re.compile(r"[^\s|]+")

NO_RECOMMENDATION = "The model is unsure: it has no recommendation for this ticket."
UNFAMILIAR = (
    "The model is unsure: nothing in this ticket resembles the tickets the model learnt from "
    "(none of its words or codes were in them)."
)


def percent(confidence: float) -> str:
    """A probability as a person reads it. Held-out data can never show a model is right every
    time, so the ends are "over 99%" and "under 1%", never "100%" or "0%"."""
    value = float(confidence)
    if value >= 0.995:
        return "over 99%"
    if value < 0.005:
        return "under 1%"
    return f"{max(round(value * 100), 1)}%"


def unfamiliar(text: str, words: frozenset[str]) -> bool:
    """Whether a serialised model input holds none of ``words``; with no words, never. One set
    lookup per token, stopping at the first familiar one."""
    if not words:
        return False
    return not any(match.group() in words for match in TOKEN_RE.finditer(text.lower()))


def reason(recommendations: list[dict[str, Any]], *, medium: float, unfamiliar: bool) -> str | None:
    """Why the model abstains, in central's words; None when it recommends. The agent has no
    similar past tickets, so the low-confidence reason is central's without them."""
    if not recommendations:
        return NO_RECOMMENDATION
    if unfamiliar:
        return UNFAMILIAR
    top = recommendations[0]
    confidence = float(top.get("confidence", 0.0))
    if confidence >= medium:
        return None
    guess = f"its best guess, {top.get('resolution')}, is only {percent(confidence)} likely"
    return f"The model is unsure: {guess}."


def load_vocabulary(raw: bytes | None) -> frozenset[str]:
    """``vocabulary.json`` (``{"distinctive_words": [...]}``, written centrally by
    ml.compression.pipeline); empty for a bundle built before it, which never calls a ticket
    unfamiliar, as central's lexical member without such words does not."""
    if raw is None:
        return frozenset()
    words = json.loads(raw).get("distinctive_words")
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        raise ValueError(f"{VOCABULARY_FILE}: distinctive_words must be a list of strings")
    return frozenset(words)


def threshold(manifest: dict[str, Any]) -> float:
    """The manifest's ``confidence_medium``; central's default for a bundle built before it."""
    value = manifest.get("confidence_medium", CONFIDENCE_MEDIUM)
    # NaN fails the range check too
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"confidence_medium must be a number from 0 to 1, not {value!r}")
    return float(value)
