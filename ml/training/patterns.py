"""Counting past fixes per code and alarm sequence in the training tickets, stored with the model.

The statements on the ticket page ("87% of the 213 past tickets with this pattern were fixed by
REPLACE_SFP") read this table; see ml.serving.evidence_patterns for the patterns themselves.
"""

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from ml.serving.evidence_patterns import FILE, FORMAT, MAX_FIXES, MAX_PATTERNS, MIN_TICKETS, ticket_patterns


def count(examples: Iterable) -> dict:
    """{key: {"tickets": n, "fixes": {resolution: count}}} over labelled Examples (document, code_map),
    the MAX_PATTERNS most frequent patterns seen on at least MIN_TICKETS tickets, MAX_FIXES fixes each."""
    tickets: Counter = Counter()
    fixes: dict[str, Counter] = defaultdict(Counter)
    for example in examples:
        for pattern in ticket_patterns(example.document, example.code_map):
            tickets[pattern.key] += 1
            fixes[pattern.key][example.label] += 1
    kept = [key for key, n in tickets.most_common() if n >= MIN_TICKETS][:MAX_PATTERNS]
    return {key: {"tickets": tickets[key], "fixes": dict(fixes[key].most_common(MAX_FIXES))} for key in kept}


def fit_and_store(serving_dir: Path, examples: Iterable) -> dict:
    """Count the training tickets' patterns and write ``patterns.json`` beside the served model."""
    examples = list(examples)
    table = count(examples)
    content = {"format": FORMAT, "tickets": len(examples), "patterns": table}
    (Path(serving_dir) / FILE).write_text(json.dumps(content, sort_keys=True))
    return table
