"""The agent's copy of the serialisation gives exactly what central trains on, ticket for ticket."""

import random

from edge_agent import serialization as edge_serialization
from ml import serialization as central_serialization
from tests.edge_fixtures import simulated_documents


def test_both_serialisations_agree_on_hundreds_of_simulated_tickets_with_context_and_code_maps():
    r = random.Random(5)
    documents = simulated_documents(400)
    assert len(documents) == 400
    for document in documents:
        codes = [*document.get("error_codes", []), *(e.get("code") for e in document.get("events", []))]
        code_map = {c: f"CUR_{c}" for c in codes if c and r.random() < 0.5}
        context = {"climate": r.choice(["coastal", "hot", ""]), "tier": "cell-site", "vendor": "nordlink",
                   "software_version": "R22.1", "age_years": r.choice([None, 3.7])}  # fmt: skip
        for kwargs in ({}, {"context": context, "code_map": code_map}, {"include_text": False}):
            assert edge_serialization.serialize(document, **kwargs) == central_serialization.serialize(
                document, **kwargs
            )


def test_both_copies_declare_the_same_version_and_limits():
    for name in ("SERIALIZATION_VERSION", "MAX_EVENTS", "MAX_TEXT_CHARS"):
        assert getattr(edge_serialization, name) == getattr(central_serialization, name)
