"""The queue's broad filters have PostgreSQL indexes that fit the SQL Django sends for them.

An index that no longer matches its filter (icontains compiled to another expression, a predicate
the planner cannot prove) fails silently: the page still works, it just reads every ticket. These
tests leave the planner nothing but index-driven bitmap scans and read which index it picked.
"""

import re

import pytest
from django.db import connection

from frontend.queue import QueueFilters, ticket_queue

pytestmark = pytest.mark.django_db


def _plan(filters: QueueFilters) -> str:
    assert connection.vendor == "postgresql", "these indexes exist only in PostgreSQL"
    sql, params = ticket_queue(filters=filters).order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
            cursor.execute(f"SET LOCAL {setting} = off")  # undone with the test's transaction
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_text_search_reads_the_full_text_index_and_a_ticket_id_the_trigram_index():
    words = _plan(QueueFilters(view="all", q="fan alarm"))
    assert "Bitmap Index Scan on ticket_search_vector_idx" in words, words
    assert "external_id" not in words, words  # words alone are not read as a ticket id
    ticket_id = _plan(QueueFilters(view="all", q="sim-0012"))
    for index in ("ticket_search_vector_idx", "ticket_external_id_trgm_idx"):
        assert f"Bitmap Index Scan on {index}" in ticket_id, ticket_id


def test_the_error_code_filter_finds_raw_codes_through_their_index():
    plan = _plan(QueueFilters(view="all", error_code="NL-7001"))
    assert "Bitmap Index Scan on ticket_code_raw_idx" in plan, plan


def test_needs_an_expert_finds_each_tickets_recommendation_through_an_index():
    # The rule is a threshold on the top confidence (ml/serving/confidence.py, configurable), so it is a
    # filter on the row the ticket's revision finds, not a partial index of its own.
    # On empty tables the planner's pick between the ticket's index and the (ticket, revision, model)
    # one turns on estimated row widths; either finds the ticket's rows without reading the others.
    plan = _plan(QueueFilters(view="needs_expert"))
    assert re.search(
        r"Index Scan on (one_recommendation_per_revision_and_model|ml_recommendation_ticket_id_\w+)", plan
    ), plan
    assert re.search(r"Index Cond: \(+ticket_id = repair_center_ticket\.id", plan), plan
    assert "Seq Scan on ml_recommendation" not in plan, plan
    assert "top_confidence < " in plan, plan
