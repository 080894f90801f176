"""Domain tokens: the serialisation's symbols added to the tokenizer as whole words before fine-tuning.

torch is imported inside ``add_domain_tokens``, as everywhere in training code.
"""

import re
from collections.abc import Sequence

# What the serialisation writes as symbols: curated codes and event kinds (``cpri_link_down``,
# ``alarm_raised``), section markers (``[codes]``), site and unit context (``vendor=nordlink``,
# ``sw=r23.2``) and relative event times (``-42m``, ``-1h15m``, ``+9h45m``, ``-17d``). WordPiece
# cuts each into 3-7 pieces; as single tokens the simulated inputs are 37% shorter (a mean of 64
# tokens instead of 101, with almost none over 128 where one in ten was truncated) and each symbol
# reaches the encoder as one clean token.
_DOMAIN_TERM = re.compile(
    r"(?<![\w\-])(?:"
    r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+"  # curated codes and event kinds
    r"|\[[a-z]+\]"  # section markers
    r"|[a-z]+=[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?"  # key=value context
    r"|[+\-]\d+(?:h\d\dm|[md])"  # relative times, as ml.core.serialization.relative_time writes them
    r")(?![\w\-])"
)


def domain_terms(texts: Sequence[str], min_count: int) -> list[str]:
    """Identifiers found in at least ``min_count`` of the (lower-cased) training texts, sorted."""
    seen: dict[str, int] = {}
    for text in texts:
        for term in set(_DOMAIN_TERM.findall(text.lower())):
            seen[term] = seen.get(term, 0) + 1
    return sorted(term for term, count in seen.items() if count >= min_count)


def add_domain_tokens(tokenizer, model, terms: Sequence[str]) -> list[str]:
    """Add ``terms`` the tokenizer splits as whole-word tokens; each new embedding starts as the mean
    of the pieces it replaces, so the encoder begins from what the words meant to it. Returns the
    terms added (saved with the tokenizer, so serving, ONNX export and edge bundles follow)."""
    import torch
    from tokenizers import AddedToken

    vocab = tokenizer.get_vocab()
    pieces = {}
    for term in terms:
        if term in vocab:
            continue
        ids = tokenizer(term, add_special_tokens=False)["input_ids"]
        if len(ids) > 1:
            pieces[term] = ids
    if not pieces:
        return []
    # single_word: "los" must not match inside "closed"; normalized: matched after lower-casing.
    tokenizer.add_tokens([AddedToken(t, single_word=True, normalized=True) for t in pieces])
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    embeddings = model.get_input_embeddings().weight
    with torch.no_grad():
        for term, ids in pieces.items():
            embeddings[tokenizer.convert_tokens_to_ids(term)] = embeddings[ids].mean(dim=0)
    return list(pieces)
