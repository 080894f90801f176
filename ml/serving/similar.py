"""The most similar resolved past tickets: cosine similarity on the model's own ticket embeddings.

The index is the training tickets a version was fitted on (serving/embeddings.npy); titles and
external ids are read from the database now, so a ticket deleted since training is skipped.
"""

import numpy as np

SIMILAR_K = 5


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
                "title": row["title"],
                "resolution": row["resolution"] or label,
                "similarity": round(similarity, 4),
            }
        )
        if len(out) == k:
            break
    return out
