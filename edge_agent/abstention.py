"""Central's one abstention rule (ml/serving/confidence.py), as the agent applies it to its answers.

The model recommends a fix only when its top answer is at least Medium confidence and the ticket
is not unfamiliar: its serialised model input holds one of the teacher's distinctive tokens (the
bundle's ``vocabulary.json``). The threshold is the bundle's ``confidence_medium``, central's
setting on the day it was built. The agent cannot import ``ml``, so the pieces both sides need live
here and central imports them: the words, how a probability is written, and the unfamiliar check.
The token pattern is the lexical member's (tests/test_edge_abstention.py checks they agree).
"""

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

VOCABULARY_FILE = "vocabulary.json"
CONFIDENCE_MEDIUM = 0.5  # central's default, for a bundle built before it carried its threshold
# The lexical member's word tokens (ml.serving.ensemble.TOKEN_RE) on the lower-cased model input.
TOKEN_RE = re.compile(r"[^\s|]+")
# A word of at least this many letters one typing slip from a distinctive word is familiar: a
# misspelt ticket is not "unlike all of them". Codes and tokens with digits must match exactly (a
# code one digit off is another code), and shorter words are too easily one letter from anything.
NEAR_MISS_LENGTH = 5

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
    """Whether a serialised model input holds none of ``words``, nor a word of letters one typing
    slip (a letter added, dropped, changed, or two neighbours swapped) from one of them; with no
    words, never. One set lookup per token, stopping at the first familiar one; the slips are looked
    for only when no token matches exactly."""
    if not words:
        return False
    tokens = {match.group() for match in TOKEN_RE.finditer(text.lower())}
    if not tokens.isdisjoint(words):
        return False
    return not any(_near_miss(token, _slips(words)) for token in tokens if _slippable(token))


def _slippable(word: str) -> bool:
    return len(word) >= NEAR_MISS_LENGTH and word.isalpha()


def _drops(word: str) -> Iterable[str]:
    return (word[:i] + word[i + 1 :] for i in range(len(word)))


@functools.lru_cache(maxsize=4)
def _slips(words: frozenset[str]) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """The words of letters that may be misspelt, and every one-letter drop of them mapped to
    the words it comes from (built once per vocabulary)."""
    spellable = frozenset(word for word in words if _slippable(word))
    dropped: dict[str, set[str]] = {}
    for word in spellable:
        for drop in _drops(word):
            dropped.setdefault(drop, set()).add(word)
    return spellable, {drop: frozenset(found) for drop, found in dropped.items()}


def _near_miss(token: str, slips: tuple[frozenset[str], dict[str, frozenset[str]]]) -> bool:
    spellable, dropped = slips
    if token in dropped:  # a letter dropped from a word
        return True
    for drop in set(_drops(token)):
        if drop in spellable:  # a letter added to a word
            return True
        if any(_one_slip(token, word) for word in dropped.get(drop, ())):
            return True
    return False


def _one_slip(token: str, word: str) -> bool:
    """For two words of one length: one letter changed, or two neighbouring letters swapped."""
    differ = [i for i, (a, b) in enumerate(zip(token, word, strict=True)) if a != b]
    if len(differ) != 2:
        return len(differ) == 1
    i, j = differ
    return j == i + 1 and token[i] == word[j] and token[j] == word[i]


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
