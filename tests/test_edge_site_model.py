"""Pattern 2, the whole lifecycle at the site: the agent fits TF-IDF + SVD on its own labelled
tickets with numpy (edge_agent.local_etl), trains a softmax on them and serves the site's model
when it beats the model in service on a local hold-out. The ETL's maths are scikit-learn's."""

import json

import numpy as np
import pytest

from edge_agent import local_etl
from edge_agent.inbox import Inbox
from edge_agent.retrain import TfidfSvd, holdout_mask, train_etl_model
from edge_agent.serialization import serialize
from tests.edge_fixtures import offline_agent, signing_key, simulated_documents  # noqa: F401

pytestmark = pytest.mark.usefixtures("signing_key")


def test_the_site_etl_is_scikit_learns_tfidf_and_svd():
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    documents = simulated_documents(120)
    answer = local_etl.etl_fit(documents, dims=8, max_features=100_000)
    texts = [serialize(d) for d in documents]
    vectorizer = TfidfVectorizer(lowercase=True, token_pattern=local_etl.WORDS)
    matrix = vectorizer.fit_transform(texts)
    transform = answer["transform"]
    assert transform["vocabulary"] == {term: int(i) for term, i in vectorizer.vocabulary_.items()}
    np.testing.assert_allclose(transform["idf"], vectorizer.idf_, rtol=1e-9)
    ours = np.asarray(transform["components"])
    theirs = TruncatedSVD(n_components=8, algorithm="arpack", random_state=0).fit(matrix).components_
    # the same subspace, component by component, up to sign
    np.testing.assert_allclose(np.abs((ours * theirs).sum(axis=1)), 1.0, atol=1e-6)
    # the rows it trains on are what the served transform makes of the same tickets
    np.testing.assert_allclose(TfidfSvd(transform).transform(texts), answer["data"], atol=1e-9)


def test_a_pattern_2_agent_serves_its_own_model_when_it_beats_the_bundle(tmp_path):
    agent = offline_agent(tmp_path, capacity=1000)  # serves b1, a tiny random bundle
    try:
        agent.placement = {"decision": {"pattern": 2}}
        labelled = [d for d in simulated_documents(600) if d.get("resolution")][:160]
        inbox = agent.data_dir / "inbox"
        (inbox / "history.jsonl").write_text("".join(json.dumps(d) + "\n" for d in labelled))
        assert Inbox(agent, inbox).scan() == 1

        assert agent.model_version == "site-160" and agent.model.pattern == 2
        answer = agent.predict({"external_id": "NEW-1", "title": labelled[0]["title"]})
        assert answer["model_version"] == "site-160" and answer["recommendations"]
        agent.follow_placement({"decision": {"pattern": 2}})
        assert agent.model_version == "site-160"  # still the site's pattern
        agent.follow_placement({"decision": {"pattern": 4}})
        assert agent.model_version == "b1"  # central's initial model, retrained here, from now on
    finally:
        agent.client.close()
        agent.outbox.close()


def test_a_site_model_that_does_not_beat_the_one_in_service_is_not_adopted(tmp_path):
    agent = offline_agent(tmp_path, capacity=1000)
    try:
        agent.placement = {"decision": {"pattern": 2}}
        labelled = [d for d in simulated_documents(600) if d.get("resolution")][:160]
        (agent.data_dir / "inbox" / "history.jsonl").write_text(
            "".join(json.dumps(d) + "\n" for d in labelled)
        )
        assert Inbox(agent, agent.data_dir / "inbox").scan() == 1
        # In service: a model that learnt the hold-out too, and is right on every ticket of it.
        rows = agent.outbox.labelled()
        documents = [{**document, "resolution": label} for _, label, _, document in rows]
        agent.model = train_etl_model(local_etl.etl_fit(documents), version="knows-all", pattern=2)
        held = holdout_mask([ident for ident, *_ in rows])
        holdout = [d for d, h in zip(documents, held, strict=True) if h]
        assert holdout and agent.learner._accuracy(agent.model, holdout) == 1.0

        agent.learner.local_at = 0
        metrics = agent.learner.maybe_train_local()
        assert metrics["adopted"] is False and metrics["shipped_accuracy"] == 1.0
        assert agent.model_version == "knows-all"
    finally:
        agent.client.close()
        agent.outbox.close()
