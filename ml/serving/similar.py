"""The most similar resolved past tickets: cosine similarity on the model's own ticket embeddings.

The index is the training tickets a version was fitted on (serving/embeddings.npy); titles and
external ids are read from the database now, so a ticket deleted since training is skipped. A
ticket without a title (exports that carry only a description, or only an event log) is shown by the
start of its description, so the engineer sees what the past case was about.
"""

import numpy as np

SIMILAR_K = 5
HEADLINE_CHARS = 100


def headline(title: str, description: str) -> str:
    """The title, else the description's first HEADLINE_CHARS characters cut at a word, with "..."."""
    if title.strip() or not description.strip():
        return title
    text = " ".join(description.split())
    if len(text) <= HEADLINE_CHARS:
        return text
    cut = (
        text[: HEADLINE_CHARS + 1].rsplit(" ", 1)[0]
        if " " in text[:HEADLINE_CHARS]
        else text[:HEADLINE_CHARS]
    )
    return cut.rstrip(" ,.;:-") + "..."


def similar_tickets(
    predictor, features: np.ndarray, *, exclude_ticket_id: int | None = None, k: int = SIMILAR_K
):
    """[{ticket_id, external_id, title, resolution, similarity}] best first."""
    from repair_center.selectors import ticket_summaries

    if len(predictor.index) == 0:
        return []
    sims = predictor.index @ features
    order = np.argsort(-sims)[: k + 5]
    candidates = [
        (predictor.index_ticket_ids[i], predictor.index_labels[i], float(sims[i]))
        for i in order
        if predictor.index_ticket_ids[i] != exclude_ticket_id
    ]
    found = ticket_summaries([ticket_id for ticket_id, _, _ in candidates])
    out = []
    for ticket_id, label, similarity in candidates:
        row = found.get(ticket_id)
        if row is None:
            continue
        out.append(
            {
                "ticket_id": ticket_id,
                "external_id": row["external_id"],
                "title": headline(row["title"], row["description"] or ""),
                "resolution": row["resolution"] or label,
                "similarity": round(similarity, 4),
            }
        )
        if len(out) == k:
            break
    return out
