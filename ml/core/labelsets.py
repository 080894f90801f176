"""Label sets: what a model predicts, and from which data.

A label set key names one champion and at most one running training; serving, training and the
retraining triggers all agree on it through this module.
"""

from collections.abc import Collection


def label_set_key(sources: Collection[str] = ()) -> str:
    """What a model predicts, and from which data: one champion and one running training per key."""
    return "resolution" if not sources else "resolution:" + ",".join(sorted(set(sources)))
