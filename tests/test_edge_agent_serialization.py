"""The agent serialises tickets with the very code central trains on: one implementation, not a copy."""

from edge_agent import serialization as edge_serialization
from ml.core import serialization as central_serialization


def test_central_serialises_with_the_code_the_agent_carries():
    names = (
        "serialize",
        "is_model_input",
        "relative_time",
        "SERIALIZATION_VERSION",
        "MAX_EVENTS",
        "MAX_TEXT_CHARS",
    )
    for name in names:
        assert getattr(central_serialization, name) is getattr(edge_serialization, name), name
