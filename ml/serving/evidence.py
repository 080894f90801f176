"""Why the model recommends what it does: occlusion of codes, events and words.

Each variant of the ticket leaves out one error code, one event or one word of its title and
description; its weight is how much the top resolution's probability drops without it. All
variants are scored in one batch, capped at MAX_VARIANTS, so explaining costs one forward pass.
"""

import re

import numpy as np

MAX_VARIANTS = 40
MAX_WORDS = 5
_WORD_RE = re.compile(r"[\w][\w.\-/]*", re.UNICODE)


def _words(document: dict, limit: int) -> list[str]:
    seen: dict[str, None] = {}
    for field in ("title", "description"):
        for word in _WORD_RE.findall(str(document.get(field) or "")):
            if len(word) > 2 and word.lower() not in {w.lower() for w in seen}:
                seen[word] = None
            if len(seen) >= limit:
                return list(seen)
    return list(seen)


def _without_word(text: str, word: str) -> str:
    return re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", " ", text, flags=re.IGNORECASE)


def explain(predictor, document: dict, context: dict, base_proba: np.ndarray) -> dict:
    """{"codes": [{code, weight}], "events": [{index, kind, code, weight}], "words": [{word, weight}]}."""
    top = int(np.argmax(base_proba))
    codes = list(dict.fromkeys(document.get("error_codes") or []))
    events = [e for e in (document.get("events") or []) if isinstance(e, dict)]
    variants: list[tuple[str, object, dict]] = []
    for code in codes:
        kept = [c for c in document.get("error_codes") or [] if c != code]
        variants.append(("code", code, {**document, "error_codes": kept}))
    for index, event in enumerate(events):
        if len(variants) >= MAX_VARIANTS:
            break
        kept = events[:index] + events[index + 1 :]
        variants.append(("event", (index, event), {**document, "events": kept}))
    room = MAX_VARIANTS - len(variants)
    for word in _words(document, room) if room > 0 else []:
        variant = {
            **document,
            "title": _without_word(str(document.get("title") or ""), word),
            "description": _without_word(str(document.get("description") or ""), word),
        }
        variants.append(("word", word, variant))
    variants = variants[:MAX_VARIANTS]
    out: dict[str, list] = {"codes": [], "events": [], "words": []}
    if not variants:
        return out
    proba = predictor.predict_proba([v for _, _, v in variants], [context] * len(variants))
    drops = base_proba[top] - proba[:, top]
    for (kind, item, _), drop in zip(variants, drops, strict=True):
        weight = round(float(drop), 4)
        if kind == "code":
            out["codes"].append({"code": item, "weight": weight})
        elif kind == "event":
            index, event = item
            out["events"].append(
                {"index": index, "kind": event.get("kind", ""), "code": event.get("code"), "weight": weight}
            )
        else:
            out["words"].append({"word": item, "weight": weight})
    out["codes"].sort(key=lambda x: -x["weight"])
    out["events"].sort(key=lambda x: -x["weight"])
    out["words"] = sorted(out["words"], key=lambda x: -x["weight"])[:MAX_WORDS]
    return out
