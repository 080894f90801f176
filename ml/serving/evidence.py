"""Why the model recommends what it does: occlusion of codes, events and words, in log-odds.

Each variant of the ticket leaves out one error code, one event or one word of its title and
description; its weight is how much the top resolution's log-odds, log(p / (1 - p)), fall
without it. Log-odds do not saturate: at p = 0.9999 a decisive code still moves them by several
units where the probability moves by 0.0001, so the most confident answers keep a "why". The
probabilities read are the members' own, mixed with the served weights but before their
temperatures and the top-label calibration (Predictor.unsaturated_proba): a fitted temperature of
0.05 rounds the served probability to exactly 1, and then nothing moves at all. A positive weight
speaks for the recommendation, a negative one against.

Only the MAX_ITEMS strongest items are kept, ranked by the size of their weight, and only those
that move the log-odds by MIN_WEIGHT at least. Stop words, filler, tokens without a letter and the
words of most of the model's tickets (their own language's function words) are never candidates.
All variants are scored in one batch (the unchanged ticket first), capped at MAX_VARIANTS, so
explaining costs one forward pass. Statements about past tickets with the same codes and alarm
sequence come from ml.serving.evidence_patterns.
"""

import re
from typing import Any

import numpy as np

from ml.serving import evidence_patterns

MAX_VARIANTS = 40
MAX_ITEMS = 5
MAX_WORDS = MAX_ITEMS
MIN_WEIGHT = 0.01  # log-odds
UNIT = "log-odds"
_WORD_RE = re.compile(r"[\w][\w.\-/]*", re.UNICODE)
_LETTER_RE = re.compile(r"[^\W\d_]", re.UNICODE)
# English function words, the filler of NOC write-ups and of e-mail (greetings, closings, header words,
# the days and months of quoted replies): never evidence, whatever they move.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are around as at be because been before
    being below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me more most
    my no nor not now of off on once only or other our out over own same she should since so some
    still such than that the their them then there these they this those through to too under until
    up very was we were what when where which while who whom why will with would you your yet per via
    waiting wait please pls kindly thanks thank regards team noc report reported reports case ticket
    issue issues customer customers seen again today yesterday tonight morning evening night hello hi
    dear kind best warm sincerely cheers greetings guys everyone everybody appreciate appreciated advance
    sent subject importance mailto fw fwd cc
    monday tuesday wednesday thursday friday saturday sunday january february march april may june july
    august september october november december
    """.split()  # noqa: SIM905 - a word list reads better as text
)


# A word in at least this share of the tickets a model learnt from, and in more than twice as many
# tickets as its largest class holds (so no one fix's keyword, nor one shared by two fixes), is filler
# in the tickets' own language ("der", "und", "le", "que"): never evidence, and it would take the
# place of a word further on in a long description (at most MAX_VARIANTS variants are scored).
COMMON_SHARE = 0.6


def common_above(tickets: int, largest_class: int) -> float:
    """A word in more of a model's ``tickets`` than this is common: in at least COMMON_SHARE of them
    and in more than twice as many as its largest class holds."""
    return max(COMMON_SHARE * tickets - 0.5, 2 * largest_class)


def is_candidate_word(word: str, common: frozenset[str] = frozenset()) -> bool:
    """A word that may be evidence: three characters or more, a letter in it, not a stop word and not
    one of ``common`` (the words of most of the model's tickets, Predictor.common_words)."""
    lowered = word.lower()
    return (
        len(word) > 2
        and bool(_LETTER_RE.search(word))
        and lowered not in STOP_WORDS
        and lowered not in common
    )


def _words(document: dict, limit: int, common: frozenset[str] = frozenset()) -> list[str]:
    seen: dict[str, str] = {}
    for field in ("title", "description"):
        for word in _WORD_RE.findall(str(document.get(field) or "")):
            word = word.rstrip(".-/")
            if is_candidate_word(word, common) and word.lower() not in seen:
                seen[word.lower()] = word
            if len(seen) >= limit:
                return list(seen.values())
    return list(seen.values())


def _without_word(text: str, word: str) -> str:
    return re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", " ", text, flags=re.IGNORECASE)


def log_odds(proba: np.ndarray, column: int) -> np.ndarray:
    """log(p / (1 - p)) of one column, with 1 - p summed from the other columns (exact near 1)."""
    p = np.clip(proba[:, column], 1e-300, None)
    rest = np.clip(np.delete(proba, column, axis=1).sum(axis=1), 1e-300, None)
    return np.log(p) - np.log(rest)


def _variants(document: dict, common: frozenset[str] = frozenset()) -> list[tuple[str, Any, dict]]:
    codes = list(dict.fromkeys(document.get("error_codes") or []))
    events = [e for e in (document.get("events") or []) if isinstance(e, dict)]
    variants: list[tuple[str, Any, dict]] = []
    for code in codes:
        kept = [c for c in document.get("error_codes") or [] if c != code]
        variants.append(("code", code, {**document, "error_codes": kept}))
    shown: set[tuple[str, str]] = set()
    for index, event in enumerate(events):
        if len(variants) >= MAX_VARIANTS:
            break
        # One variant per kind of event: a log that says "New" three times has one "New" to weigh,
        # not three equal rows of evidence (and the room goes to the words).
        same = (str(event.get("kind", "")), str(event.get("code") or ""))
        if same in shown:
            continue
        shown.add(same)
        kept = events[:index] + events[index + 1 :]
        variants.append(("event", (index, event), {**document, "events": kept}))
    room = MAX_VARIANTS - len(variants)
    for word in _words(document, room, common) if room > 0 else []:
        variant = {
            **document,
            "title": _without_word(str(document.get("title") or ""), word),
            "description": _without_word(str(document.get("description") or ""), word),
        }
        variants.append(("word", word, variant))
    return variants[:MAX_VARIANTS]


def explain(predictor, document: dict, context: dict, *, top: int) -> dict:
    """{"unit": "log-odds", "codes": [{code, weight}], "events": [{index, kind, code, weight}],
    "words": [{word, weight}], "patterns": [{statement, ...}]}: at most MAX_ITEMS codes, events and
    words together, each list strongest first, for the label ``top`` (the model's index of the fix
    recommended first)."""
    out: dict = {"unit": UNIT, "codes": [], "events": [], "words": [], "patterns": []}
    table = getattr(predictor, "patterns", None)
    if table:
        out["patterns"] = evidence_patterns.statements(
            table, document, context.get("code_map"), predictor.labels[top]
        )
    variants = _variants(document, getattr(predictor, "common_words", frozenset()))
    if not variants:
        return out
    documents = [document] + [v for _, _, v in variants]
    proba = predictor.unsaturated_proba(documents, [context] * len(documents))
    odds = log_odds(proba, top)
    items: list[tuple[str, dict[str, Any]]] = []
    for (kind, item, _), drop in zip(variants, odds[0] - odds[1:], strict=True):
        weight = round(float(drop), 3)
        if abs(weight) < MIN_WEIGHT:
            continue
        if kind == "code":
            items.append(("codes", {"code": item, "weight": weight}))
        elif kind == "event":
            index, event = item
            kind_code = {"kind": event.get("kind", ""), "code": event.get("code")}
            items.append(("events", {"index": index, **kind_code, "weight": weight}))
        else:
            items.append(("words", {"word": item, "weight": weight}))
    items.sort(key=lambda pair: -abs(pair[1]["weight"]))
    for kind, entry in items[:MAX_ITEMS]:
        out[kind].append(entry)
    return out
