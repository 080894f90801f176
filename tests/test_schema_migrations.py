"""Every model change ships with its migration: a field changed without one would pass the suite
(the test database is built from the models' migrations) and fail on a user's upgrade."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_models_and_their_migrations_agree():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:  # --check exits 1 when a migration is missing
        pytest.fail(f"missing migrations (python manage.py makemigrations):\n{out.getvalue()}", pytrace=False)
    assert "No changes detected" in out.getvalue()
