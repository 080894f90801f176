"""The queue's broad filters have PostgreSQL indexes that fit the SQL Django sends for them.

An index that no longer matches its filter (icontains compiled to another expression, a predicate
the planner cannot prove) fails silently: the page still works, it just reads every ticket. These
tests leave the planner nothing but index-driven bitmap scans and read which index it picked.
"""

import pytest
from django.db import connection

from frontend.selectors import QueueFilters, ticket_queue

pytestmark = pytest.mark.django_db


def _plan(filters: QueueFilters) -> str:
    assert connection.vendor == "postgresql", "these indexes exist only in PostgreSQL"
    sql, params = ticket_queue(filters=filters).order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
            cursor.execute(f"SET LOCAL {setting} = off")  # undone with the test's transaction
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_text_search_reads_the_trigram_indexes_of_title_description_and_ticket_id():
    plan = _plan(QueueFilters(q="fan alarm"))
    for index in ("ticket_title_trgm_idx", "ticket_description_trgm_idx", "ticket_external_id_trgm_idx"):
        assert f"Bitmap Index Scan on {index}" in plan, plan


def test_the_error_code_filter_finds_raw_codes_through_their_index():
    plan = _plan(QueueFilters(error_code="NL-7001"))
    assert "Bitmap Index Scan on ticket_code_raw_idx" in plan, plan


def test_needs_an_expert_reads_the_abstained_rows_only():
    plan = _plan(QueueFilters(needs_expert="1"))
    assert "recommendation_abstained_idx" in plan, plan
