"""One ticket's token ids without tokenising again the words the agent has already seen.

The `tokenizers` library normalises, splits and looks up the whole text on every call: 0.08-0.16
ms for a 500-character simulated ticket on an Intel Xeon, a fifth of a one-layer student's
prediction, and it grows with the text where the student reads at most ``max_length`` tokens.
Yet a ticket's words come back from one ticket to the next (codes, event kinds, relative times,
the site's context, the common words of its text), and a BERT-style tokenizer cuts the text at
whitespace before anything else looks at it, so a word's ids never depend on its neighbours.
``TokenIds`` remembers the ids of each whitespace-separated word, and a ticket's ids are its words'
ids in order, cut where the tokenizer's truncation cuts, between the tokenizer's own special
tokens. New words are tokenised by the tokenizer itself, in one call per ticket.

It gives exactly the tokenizer's ids or is not used: ``TokenIds.of`` returns None unless the
tokenizer is the BERT family it reasons about (BertNormalizer, BertPreTokenizer, WordPiece,
right-hand truncation, no added token holding whitespace or stripping it), and a text holding a
control character (one of the few that Python splits at and BERT's normaliser deletes, or the
reverse) goes to the tokenizer whole. tests/test_edge_token_ids.py checks the equality on
arbitrary text.
"""

import json
import re
from typing import Any

from tokenizers import Tokenizer

CAPACITY = 20_000  # words remembered (about 2 MB); the memory is emptied when it is full
# C0 and C1 control characters except tab, newline and carriage return: BERT's normaliser deletes
# them, and Python's str.split() splits at some of them (\x0b, \x0c, \x1c-\x1f, \x85).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class TokenIds:
    """``ids(text)``: what ``tokenizer.encode(text).ids`` gives, from remembered words."""

    def __init__(self, tokenizer: Tokenizer, *, capacity: int = CAPACITY):
        spec = tokenizer.to_str()  # the whole vocabulary: serialised once
        specials = _specials(tokenizer) if _word_local(json.loads(spec), tokenizer) else None
        if specials is None:
            raise ValueError("this tokenizer's ids for a word may depend on its neighbours")
        self.prefix, self.suffix = specials
        self.tokenizer = tokenizer
        truncation = tokenizer.truncation
        self.limit: int | None = (
            max(truncation["max_length"] - tokenizer.num_special_tokens_to_add(False), 0)
            if truncation
            else None
        )
        # A copy that neither pads nor truncates, for the words themselves.
        self.words = Tokenizer.from_str(spec)
        self.words.no_padding()
        self.words.no_truncation()
        self.capacity = capacity
        self.memory: dict[str, tuple[int, ...]] = {}

    @classmethod
    def of(cls, tokenizer: Tokenizer, *, capacity: int = CAPACITY) -> "TokenIds | None":
        """A TokenIds for ``tokenizer``, or None when its ids could depend on a word's neighbours."""
        try:
            return cls(tokenizer, capacity=capacity)
        except ValueError:
            return None

    def ids(self, text: str) -> list[int]:
        if _CONTROL.search(text):
            return list(self.tokenizer.encode_batch_fast([text])[0].ids)
        memory, limit = self.memory, self.limit
        words = text.split()
        # Each word gives at least one token, but for the rare one made only of characters the
        # normaliser deletes: the first ``limit`` words are nearly always all the ticket needs.
        fresh = self._learn(
            [w for w in dict.fromkeys(words if limit is None else words[:limit]) if w not in memory]
        )
        out = list(self.prefix)
        stop = len(out) + limit if limit is not None else None
        for word in words:
            piece = memory.get(word)
            if piece is None:
                piece = fresh.get(word)
                if piece is None:
                    fresh.update(self._learn([word]))
                    piece = fresh[word]
            out += piece
            if stop is not None and len(out) >= stop:
                del out[stop:]
                break
        out += self.suffix
        return out

    def _learn(self, words: list[str]) -> dict[str, tuple[int, ...]]:
        if not words:
            return {}
        learned = {
            word: tuple(encoding.ids)
            for word, encoding in zip(
                words, self.words.encode_batch_fast(words, add_special_tokens=False), strict=True
            )
        }
        if len(self.memory) + len(learned) > self.capacity:
            self.memory.clear()
        self.memory.update(learned)
        return learned


def _word_local(spec: dict[str, Any], tokenizer: Tokenizer) -> bool:
    """True when the tokenizer cuts at whitespace first and nothing after looks across a cut."""

    def kind(part: str) -> Any:
        return (spec.get(part) or {}).get("type")

    if (kind("normalizer"), kind("pre_tokenizer"), kind("model")) != (
        "BertNormalizer",
        "BertPreTokenizer",
        "WordPiece",
    ):
        return False
    if kind("post_processor") not in ("TemplateProcessing", "BertProcessing"):
        return False
    truncation = tokenizer.truncation
    if truncation and str(truncation.get("direction", "right")).lower() != "right":
        return False
    padding = tokenizer.padding
    if padding and padding.get("length") is not None:  # padding every text to a fixed length
        return False
    for token in spec.get("added_tokens") or []:
        content = token.get("content", "")
        if token.get("lstrip") or token.get("rstrip") or not content or any(c.isspace() for c in content):
            return False
    return True


def _specials(tokenizer: Tokenizer) -> tuple[list[int], list[int]] | None:
    """The ids the tokenizer puts before and after a text's own (e.g. [CLS] and [SEP]); None when
    they are not the same around every text."""
    found = set()
    for probe in ("a", "x y"):
        bare = tokenizer.encode(probe, add_special_tokens=False).ids
        full = tokenizer.encode(probe).ids
        starts = [s for s in range(len(full) - len(bare) + 1) if full[s : s + len(bare)] == bare]
        if not bare or not starts:
            return None
        found.add((tuple(full[: starts[0]]), tuple(full[starts[0] + len(bare) :])))
    if len(found) != 1:
        return None
    prefix, suffix = (list(part) for part in found.pop())
    if tokenizer.encode("").ids != prefix + suffix:
        return None
    return prefix, suffix
