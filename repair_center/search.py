"""Searching tickets as people type: whole words, English stemming, telecom spelling variants.

On PostgreSQL the title and description are matched with full-text search in the ``english``
configuration (so "alarms" finds "alarm", and "rain" never matches "train"), each word also as its
listed variants ("fibre" finds "fiber"), against the stored ``search_vector`` column and its GIN
index (migration repair_center 0008: a column the database keeps, unknown to the Django model).
Words in one query must all match; a phrase such as CPRI_LINK_DOWN or NL-7001 matches as a
phrase. A query with a digit in it also matches ticket ids that start with it, and one that is a
number (595, 0000595, #595) the ids that end in that number, leading zeros aside. The embedded
SQLite demo falls back to case-insensitive whole-word regular expressions, without stemming.
"""

import re

from django.db import connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

# Spelling variants and NOC shorthand that mean the same thing; each word finds the others.
SYNONYMS = (
    ("fibre", "fiber"),
    ("optic", "optical", "optics"),
    ("centre", "center"),
    ("metre", "meter"),
    ("licence", "license"),
    ("harbour", "harbor"),
    ("battery", "batteries", "batt"),
    ("temperature", "temp"),
    ("microwave", "mw"),
    ("baseband", "bbu"),
    ("gps", "gnss"),
    ("down", "dwn"),
    ("alarm", "alm"),
    ("customer", "cust"),
    ("ticket", "tkt"),
)
_VARIANTS = {word: group for group in SYNONYMS for word in group}
MAX_WORDS = 12  # a pasted paragraph is not a search; the first words are enough

VECTOR_COLUMN = "search_vector"


def words(query: str) -> list[str]:
    return [w for w in re.split(r"\s+", query.strip()) if w][:MAX_WORDS]


def variants(word: str) -> tuple[str, ...]:
    return _VARIANTS.get(word.lower(), (word,))


def ticket_text_q(query: str) -> Q:
    """Tickets whose title or description holds every word of ``query`` (or a variant), or whose
    external id starts with it."""
    terms = words(query)
    if not terms:
        return Q()
    # Ticket ids carry digits; a query of words alone is not read as one (an OR on the id would
    # also blur the planner's estimate of how many tickets the words match).
    by_id = Q(external_id__istartswith=query.strip()) if re.search(r"\d", query) else Q(pk__in=[])
    by_id |= ticket_number_q(query)
    if connection.vendor == "postgresql":
        return Q(_postgres_match(terms)) | by_id
    text = Q()
    for term in terms:
        any_variant = Q()
        for variant in variants(term):
            pattern = rf"(^|[^\w]){re.escape(variant)}($|[^\w])"
            any_variant |= Q(title__iregex=pattern) | Q(description__iregex=pattern)
        text &= any_variant
    return text | by_id


def ticket_number_q(query: str) -> Q:
    """Tickets whose id ends in the number ``query`` is, if it is one: "595", "0000595" and "#595"
    find SIM-0000595 (leading zeros aside) but not SIM-0001595. The suffix LIKE is answered by the
    trigram index on UPPER(external_id) (migration 0004); the regular expression then checks the
    whole run of digits."""
    number = re.fullmatch(r"#?(\d+)", query.strip())
    if number is None:
        return Q(pk__in=[])
    digits = number.group(1).lstrip("0") or "0"
    return Q(external_id__iendswith=digits, external_id__iregex=rf"(^|[^0-9])0*{digits}$")


def _postgres_match(terms: list[str]) -> RawSQL:
    pieces, params = [], []
    for term in terms:
        alternatives = variants(term)
        pieces.append(
            "(" + " || ".join("phraseto_tsquery('english'::regconfig, %s)" for _ in alternatives) + ")"
        )
        params.extend(alternatives)
    column = f"{connection.ops.quote_name('repair_center_ticket')}.{connection.ops.quote_name(VECTOR_COLUMN)}"
    sql = f"{column} @@ ({' && '.join(pieces)})"
    return RawSQL(sql, params, output_field=BooleanField())  # noqa: S611 - the words are parameters
