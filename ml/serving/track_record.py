"""What a recommended resolution rests on: the past tickets the model learnt it from, and how it did
on the held-out tickets when the model version was evaluated.

A confidence says how sure the model is about this ticket; the record says how much history stands
behind the answer. They differ most for a rare fix: a class with two to four past tickets is trained
on but none of its tickets can be set aside to check it (ml.training.quality), so its record says it
has not been measured, and the engineer knows to weigh the answer accordingly.
"""

from collections.abc import Mapping, Sequence

from ml.core.dataset import MIN_HELD_OUT_COUNT


def records(labels: Sequence[str], learnt: Mapping[str, int], metrics: dict) -> dict[str, dict]:
    """Per label: ``learnt_from`` (its count in ``learnt``: the tickets of the served files' neighbour
    index, which holds every ticket the served model learnt from), ``held_out`` (evaluation tickets
    fixed this way), ``recommended`` (evaluation tickets where the model put it first) and ``right``
    (of those, fixed this way). Empty for a version evaluated before its metrics kept a confusion
    matrix."""
    table = {label: record([label], learnt, metrics) for label in labels}
    return {label: counts for label, counts in table.items() if counts is not None}


def record(members: Sequence[str], learnt: Mapping[str, int], metrics: dict) -> dict | None:
    """The record of one fix the model learnt under the labels ``members`` (several once an admin
    merged their codes): a ticket fixed as any of them and put first as any of them was right.
    None for a version evaluated before its metrics kept a confusion matrix."""
    confusion = metrics.get("confusion") or {}
    if "per_class" not in metrics or "labels" not in confusion:
        return None
    order = {label: i for i, label in enumerate(confusion["labels"])}
    matrix = confusion.get("matrix") or []
    ids = [order[label] for label in members if label in order] if matrix else []
    # Row i: held out and fixed as label i; column j: put first as label j.
    return {
        "learnt_from": sum(learnt.get(label, 0) for label in members),
        "held_out": int(sum(sum(matrix[i]) for i in ids)),
        "recommended": int(sum(row[j] for row in matrix for j in ids)),
        "right": int(sum(matrix[i][j] for i in ids for j in ids)),
    }


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _tickets(n: int) -> str:
    return _count(n, "past ticket")


def statement(record: dict) -> str:
    """The record in plain words, for the ticket page and the API."""
    learnt, held_out = record["learnt_from"], record["held_out"]
    recommended, right = record["recommended"], record["right"]
    if not held_out:
        # Below the gate's count a class is never held out; a larger one can miss the newest tickets,
        # which a time split holds out whatever their class.
        text = (
            f"Rests on only {_tickets(learnt)}: too few to set any aside to check it, "
            if learnt < MIN_HELD_OUT_COUNT
            else f"Learnt from {_tickets(learnt)}, none of them among the held-out tickets, "
        ) + "so how often this fix is right has not been measured."
        if recommended:
            text += f" In the check it was put first for {_count(recommended, 'ticket')} fixed another way."
        return text
    checked = f"Learnt from {_tickets(learnt)}. Held-out check:"
    if not recommended:
        were = "was" if held_out == 1 else "were"
        return f"{checked} never put first, though {_count(held_out, 'ticket')} {were} fixed this way."
    # Counts, never a percentage: the pages never read "100%", and two of two is not certainty.
    return (
        f"{checked} put first for {_count(recommended, 'ticket')}, right for {right}; "
        f"found {right} of {held_out} fixed this way."
    )


def annotate(recommendations: list[dict], table: dict[str, dict]) -> list[dict]:
    """The recommendations with each one's ``record`` and its ``record_statement`` (none are added
    without a table: an old version's answers are served as they were)."""
    return [
        {**r, "record": table[r["resolution"]], "record_statement": statement(table[r["resolution"]])}
        if r.get("resolution") in table
        else r
        for r in recommendations
    ]
