"""Label sets: what a model predicts, and from which data.

A label set key names one champion and at most one running training; serving, training and the
retraining triggers all agree on it through this module.
"""

from collections.abc import Collection


def label_set_key(sources: Collection[str] = ()) -> str:
    """What a model predicts, and from which data: one champion and one running training per key."""
    return "resolution" if not sources else "resolution:" + ",".join(sorted(set(sources)))


def sources_of(key: str) -> list[str]:
    """The inverse of label_set_key: the sources a key was trained on ([] for the default)."""
    _, _, rest = key.partition(":")
    return [s for s in rest.split(",") if s]


def serving_keys(source: str | None, champion_keys: Collection[str]) -> list[str]:
    """Which label sets may answer for a ticket of ``source``, best first: the one trained on that
    source alone, then the smallest set that includes it, then the default."""
    default = label_set_key()
    if not source:
        return [default]
    including = sorted(
        (key for key in set(champion_keys) if key != default and source in sources_of(key)),
        key=lambda key: (len(sources_of(key)), key),
    )
    return [*including, default]
