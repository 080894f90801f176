"""The live progress bar keeps polling when the server does not answer for a while, saying it lost
contact and retrying, and the run page's heading badge follows the bar's status."""

import pytest
from playwright.sync_api import Page, expect

from ml.models import TrainingRun
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_polling_survives_failed_answers_and_the_heading_follows_the_status(
    page: Page, live_server, ml_admin, page_problems
):
    run = TrainingRun.objects.create(trigger="manual", status=TrainingRun.Status.QUEUED)
    failures = {"left": 2}

    def flaky(route):
        if failures["left"] > 0:
            failures["left"] -= 1
            route.fulfill(status=503, body="down for a moment")
        else:
            route.continue_()

    page.route("**/progress.json", flaky)
    try:
        sign_in(page, live_server, "mlowner", "pw-ml-owner")
        page.goto(f"{live_server.url}/training/{run.pk}/")
        heading = page.get_by_role("heading", level=1)
        expect(heading).to_contain_text("Queued")

        expect(page.get_by_text("Lost contact with the server")).to_be_visible(timeout=5000)
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.RUNNING, progress={"phase": "fine-tuning", "step": 3, "total_steps": 10}
        )

        status = page.locator(".progress-block [data-field='status_display']")
        expect(status).to_have_text("Running", timeout=20000)
        expect(heading).to_contain_text("Running")
        expect(page.get_by_text("Lost contact with the server")).to_be_hidden()
    finally:
        # The refused polls are on purpose: their status lines in the console are no error.
        page_problems[:] = [p for p in page_problems if "status of 503" not in p]


def test_polling_goes_on_when_one_answer_cannot_be_shown(page: Page, live_server, ml_admin):
    run = TrainingRun.objects.create(trigger="manual", status=TrainingRun.Status.QUEUED)
    broken = {"left": 1}

    def one_unshowable(route):
        if broken["left"] > 0:
            broken["left"] -= 1
            # A good HTTP answer the page's render code throws on (null has no fields to read).
            route.fulfill(status=200, content_type="application/json", body="null")
        else:
            route.continue_()

    page.route("**/progress.json", one_unshowable)
    sign_in(page, live_server, "mlowner", "pw-ml-owner")
    page.goto(f"{live_server.url}/training/{run.pk}/")

    expect(page.get_by_text("Could not show the latest progress")).to_be_visible(timeout=5000)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.RUNNING, progress={"phase": "fine-tuning", "step": 3, "total_steps": 10}
    )
    status = page.locator(".progress-block [data-field='status_display']")
    expect(status).to_have_text("Running", timeout=20000)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Running")
    expect(page.get_by_text("Could not show the latest progress")).to_be_hidden()
