"""The agent's learning duty: learn from the site's labelled tickets the way its placement says
(pattern 2: the site's own model, ETL and training here; pattern 3: a model on central's fitted
transform; pattern 4, or no decision known: refit the shipped bundle's head locally).
It runs after the inbox finishes a file, under the agent's lock, never on the prediction path.
"""

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_agent.bundle import Model
from edge_agent.local_etl import etl_fit
from edge_agent.retrain import holdout_mask, retrain_head, train_etl_model

if TYPE_CHECKING:
    from edge_agent.agent import Agent

logger = logging.getLogger("edge_agent")


class Learner:
    def __init__(self, agent: "Agent"):
        self.agent = agent
        self.retrained_at = 0
        self.etl_at = 0
        self.local_at = 0

    def maybe_learn(self) -> dict[str, Any] | None:
        """Learn from the site's labelled tickets the way the site's placement says."""
        if self.agent.pattern == 3:
            return self.maybe_train_etl()
        if self.agent.pattern == 2:
            return self.maybe_train_local()
        if self.agent.pattern in (None, 4):
            return self.maybe_retrain()
        return None  # pattern 1: central trains and retrains

    def _due(self, count: int, since: int) -> bool:
        config = self.agent.config
        return count >= config.retrain_min_labelled and count - since >= config.retrain_every

    def maybe_train_etl(self) -> dict[str, Any] | None:
        """Pattern 3: central fits the heavy transform on the site's labelled batch; train and serve on it."""
        agent = self.agent
        count = agent.outbox.labelled_count()
        if not self._due(count, self.etl_at):
            return None
        with agent.lock:
            self.etl_at = count
            documents = [document for *_, document in agent.outbox.labelled()]
            model = train_etl_model(agent.client.etl(documents), version=f"etl-{count}")
            fit = self._accuracy(model, documents)
            agent.model = model
        metrics = {
            "tickets": count,
            "classes": len(model.labels),
            "training_accuracy": round(fit, 4),
            "version": model.version,
        }
        logger.info("pattern 3: serving %s (%s)", model.version, metrics)
        agent.report("etl_trained", metrics)
        return metrics

    def maybe_retrain(self) -> dict[str, Any] | None:
        """Pattern 2/4: refit the head on the site's labelled tickets when enough new ones arrived."""
        agent = self.agent
        model = agent.model
        count = agent.outbox.labelled_count()
        if not isinstance(model, Model) or not self._due(count, self.retrained_at):
            return None
        with agent.lock:
            self.retrained_at = count
            rows = [r for r in agent.outbox.labelled() if r[1] in model.labels]
            if len(rows) < agent.config.retrain_min_labelled:
                return None
            index = {label: i for i, label in enumerate(model.labels)}
            site = agent.context_for(None)
            texts = [text or model.texts([doc], [site])[0] for _, _, text, doc in rows]
            features = np.concatenate([model.run(texts[i : i + 64])[1] for i in range(0, len(texts), 64)])
            labels = np.asarray([index[label] for _, label, _, _ in rows])
            shipped = model.shipped_head
            result = retrain_head(shipped, features, labels, [ident for ident, *_ in rows], len(model.labels))
            metrics = {**result.metrics, "bundle_version": model.version}
            if result.adopted and agent.model is model:
                np.savez(
                    agent.data_dir / "local_head.npz", W=result.head.W, b=result.head.b, version=model.version
                )
                agent.model = model.with_head(result.head)
        logger.info("local retraining: %s", metrics)
        agent.report("head_retrained" if result.adopted else "head_kept", metrics)
        return metrics

    def maybe_train_local(self) -> dict[str, Any] | None:
        """Pattern 2, the whole lifecycle at the site: TF-IDF + SVD fitted here (edge_agent.local_etl)
        and a softmax trained on the site's labelled tickets. The site's model serves only when it
        beats the model in service on a local hold-out (or nothing serves); then it is trained again
        on every labelled ticket."""
        agent = self.agent
        count = agent.outbox.labelled_count()
        if not self._due(count, self.local_at):
            return None
        with agent.lock:
            self.local_at = count
            rows = agent.outbox.labelled()
            documents = [{**document, "resolution": label} for _, label, _, document in rows]
            held = holdout_mask([ident for ident, *_ in rows])
            if held.all() or not held.any():
                held = np.arange(len(rows)) % 4 == 0
            test = [d for d, h in zip(documents, held, strict=True) if h]
            train = [d for d, h in zip(documents, held, strict=True) if not h]
            candidate = train_etl_model(etl_fit(train), version=f"site-{count}", pattern=2)
            local, serving = self._accuracy(candidate, test), self._accuracy(agent.model, test)
            adopted = agent.model is None or local > serving
            if adopted:
                agent.model = train_etl_model(etl_fit(documents), version=f"site-{count}", pattern=2)
        metrics = {
            "train": len(train),
            "holdout": len(test),
            "method": "site model (tf-idf + svd)",
            "compared_with": "the model in service",
            "local_accuracy": round(local, 4),
            "shipped_accuracy": round(serving, 4),
            "adopted": adopted,
            "version": f"site-{count}",
        }
        logger.info("pattern 2: %s", metrics)
        agent.report("site_model_trained" if adopted else "site_model_kept", metrics)
        return metrics

    def _accuracy(self, model: Any, documents: list[dict[str, Any]]) -> float:
        """How often ``model``'s top answer is the ticket's label; 0 with no model or no tickets."""
        if model is None or not documents:
            return 0.0
        site = self.agent.context_for(None)
        probabilities = model.predict_proba(model.texts(documents, [site] * len(documents)))
        answers = [model.labels[int(i)] for i in probabilities.argmax(axis=1)]
        return float(np.mean([a == d["resolution"] for a, d in zip(answers, documents, strict=True)]))
