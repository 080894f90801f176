"""The fleet page shows a real, running edge agent, and the placement what-if changes the decision."""

import pytest
from playwright.sync_api import Page, expect

from ml.fleet import edge
from ml.models import EdgeAgent
from tests.browser.conftest import shoot, sign_in
from tests.edge_fixtures import AgentProcess, signing_key, wait_until  # noqa: F401
from tests.factories import SiteFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def running_agent(live_server, signing_key, tmp_path):  # noqa: F811
    site = SiteFactory(code="CS-COAST-001", tier="cell-site")
    _, token = edge.enrolment_token_issue(site=site)
    agent = AgentProcess(live_server.url, token, tmp_path / "agent", "--name", "coast-box")
    try:
        assert wait_until(
            lambda: EdgeAgent.objects.filter(name="coast-box", last_seen__isnull=False).exists(), timeout=60
        ), agent.logs()
        yield agent
    finally:
        agent.stop()


def test_the_fleet_page_shows_a_running_agent_and_answers_a_what_if(
    page: Page, live_server, ml_admin, running_agent, screenshots_dir
):
    sign_in(page, live_server, "mlowner", "pw-ml-owner")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Fleet").click()
    row = page.locator("table.agents tbody tr").filter(has_text="coast-box")
    expect(row).to_contain_text("CS-COAST-001")
    expect(row).to_contain_text("online")

    page.get_by_label("Site", exact=True).select_option("CS-COAST-001")
    page.get_by_label("Latency budget (ms)").fill("20")
    page.get_by_role("button", name="Show the decision").click()
    expect(page.get_by_text("The decision changes.")).to_be_visible()
    expect(page.locator(".decision-after")).to_contain_text("Pattern 4")
    shoot(page, page.url, "fleet", screenshots_dir)
