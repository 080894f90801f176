"""A schedule the page cannot take comes back as the form, with what the admin typed kept and the
error in plain words next to its field, and nothing saved."""

from html import unescape

import pytest
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.test_frontend_schedule_page import _form, nightly  # noqa: F401 - the fixture


def test_a_bad_minute_is_said_next_to_the_minute_with_the_input_kept(client, admin_user, nightly):  # noqa: F811
    client.force_login(admin_user)

    response = client.post(reverse("schedule"), _form(nightly, minute="99", hour="4"))

    html = unescape(response.content.decode())
    assert response.status_code == 400
    prefix = f"t{nightly.pk}"
    assert f'name="{prefix}-minute" value="99"' in html and f'name="{prefix}-hour" value="4"' in html
    minute = html[html.index(f'for="id_{prefix}-minute"') :]
    minute = minute[: minute.index("</div>")]
    assert "“99” is not a minute: use 0 to 59" in minute
    assert f'aria-describedby="id_{prefix}-minute-error"' in html
    assert "Not saved: fix the field marked below." in html
    nightly.refresh_from_db()
    assert (nightly.crontab.minute, nightly.crontab.hour) == ("0", "2")


def _sweep() -> PeriodicTask:
    every, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    sweep, _ = PeriodicTask.objects.get_or_create(
        name="ml: webhook retries", defaults={"task": "ml.tasks.webhook_retry_sweep", "interval": every}
    )
    return sweep


def test_an_every_the_database_cannot_hold_comes_back_in_plain_words(client, admin_user, db):
    sweep = _sweep()
    client.force_login(admin_user)

    response = client.post(
        reverse("schedule"),
        {"task": sweep.pk, f"t{sweep.pk}-every": "3000000000", f"t{sweep.pk}-period": "minutes"},
    )

    assert response.status_code == 400
    assert "Give a whole number up to 2,147,483,647." in unescape(response.content.decode())
    sweep.refresh_from_db()
    assert sweep.interval.every == 5


def test_every_zero_is_said_in_plain_words(client, admin_user, db):
    sweep = _sweep()
    client.force_login(admin_user)

    response = client.post(
        reverse("schedule"),
        {"task": sweep.pk, f"t{sweep.pk}-every": "0", f"t{sweep.pk}-period": "minutes"},
    )

    html = unescape(response.content.decode())
    assert response.status_code == 400
    assert "Give a whole number, 1 or more." in html
    assert "Ensure this value" not in html and "* every *" not in html
    assert f'name="t{sweep.pk}-every" value="0"' in html
    sweep.refresh_from_db()
    assert sweep.interval.every == 5


pytestmark = pytest.mark.django_db
