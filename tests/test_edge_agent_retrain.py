"""Learning at the edge without torch.

Pattern 4: an agent refits its head on the frozen encoder's features from its own labelled
tickets and adopts it only when it beats the shipped head on a local hold-out.
Pattern 3: central fits TF-IDF + SVD on the site's batch; the edge applies the same transform
with numpy and trains on the reduced data.
"""

from collections import Counter

import numpy as np
import pytest

from edge_agent.bundle import Head
from edge_agent.retrain import TfidfSvd, fit_softmax, retrain_head, train_etl_model
from edge_agent.serialization import serialize
from ml.fleet.edge import etl_fit
from tests.edge_fixtures import offline_agent, signing_key, simulated_documents  # noqa: F401


def _site_tickets(n_classes: int = 5) -> tuple[list[dict], list[str]]:
    """Labelled tickets of one region (one site's view), restricted to its commonest resolutions."""
    documents = [d for d in simulated_documents(900) if d.get("resolution") and "-WEST-" in d["site"]]
    labels = [label for label, _ in Counter(d["resolution"] for d in documents).most_common(n_classes)]
    return [d for d in documents if d["resolution"] in labels], sorted(labels)


def test_softmax_regression_learns_a_separable_problem():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (3, 8))
    y = rng.integers(0, 3, 300)
    x = centres[y] + rng.normal(0, 1, (300, 8))
    head = fit_softmax(x, y, 3)
    assert (head.logits(x).argmax(axis=1) == y).mean() > 0.95


def test_a_local_head_is_kept_only_when_it_beats_the_shipped_one_on_the_hold_out():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    x = np.c_[y * 4.0 + rng.normal(0, 1, 200), rng.normal(0, 1, 200)]
    idents = [f"T-{i}" for i in range(200)]
    perfect = Head(W=np.array([[-1.0, 1.0], [0.0, 0.0]]), b=np.array([2.0, -2.0]))  # class 1 when x0 > 2
    kept = retrain_head(perfect, x, y, idents, 2)
    assert not kept.adopted and kept.metrics["shipped_accuracy"] >= kept.metrics["local_accuracy"]
    useless = Head(W=np.zeros((2, 2)), b=np.array([1.0, 0.0]))
    adopted = retrain_head(useless, x, y, idents, 2)
    assert adopted.adopted and adopted.metrics["local_accuracy"] > adopted.metrics["shipped_accuracy"]


@pytest.mark.usefixtures("signing_key")
def test_an_agent_retrains_its_head_on_the_sites_tickets_and_serves_it(tmp_path):
    documents, labels = _site_tickets()
    agent = offline_agent(tmp_path, capacity=10_000, labels=labels)
    agent.config.retrain_min_labelled = 40
    shipped = agent.model
    for document in documents:
        agent.predict(document)
    metrics = agent.maybe_retrain()
    assert metrics is not None and metrics["train"] + metrics["holdout"] == len(documents)
    assert metrics["adopted"] and metrics["local_accuracy"] > metrics["shipped_accuracy"]
    assert agent.model is not shipped and agent.model.head.origin == "local"
    assert agent.model_version == "b1+local"
    assert (agent.data_dir / "local_head.npz").exists()
    answer = agent.predict({**documents[0], "external_id": "NEW-1", "resolution": None})
    assert answer["model_version"] == "b1+local"


def test_the_edge_applies_the_central_etl_transform_exactly_and_learns_on_it():
    documents, _ = _site_tickets()
    train, test = documents[: int(len(documents) * 0.75)], documents[int(len(documents) * 0.75) :]
    answer = etl_fit(documents=train, dims=16)
    transform = TfidfSvd(answer["transform"])
    texts = [serialize(d) for d in train]
    assert np.abs(transform.transform(texts) - np.asarray(answer["data"])).max() < 1e-3
    model = train_etl_model(answer)
    predicted = model.predict_proba([serialize(d) for d in test]).argmax(axis=1)
    accuracy = np.mean([model.labels[p] == d["resolution"] for p, d in zip(predicted, test, strict=True)])
    majority = Counter(d["resolution"] for d in train).most_common(1)[0][0]
    baseline = np.mean([d["resolution"] == majority for d in test])
    assert accuracy > baseline + 0.1
    assert model.served_records == {}  # trained at the edge: central never measured it, no record
