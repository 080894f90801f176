"""How a ticket becomes model input text: the one implementation lives in edge_agent.serialization,
which the edge agent carries without Django or torch; central uses exactly the same code."""

from edge_agent.serialization import (
    MAX_EVENTS,
    MAX_TEXT_CHARS,
    SERIALIZATION_VERSION,
    is_model_input,
    relative_time,
    serialize,
)

__all__ = [
    "MAX_EVENTS",
    "MAX_TEXT_CHARS",
    "SERIALIZATION_VERSION",
    "is_model_input",
    "relative_time",
    "serialize",
]
