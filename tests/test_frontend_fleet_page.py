"""The fleet page: agents with last seen, version and backlog; placement reasons; the placement what-if."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ml.fleet.placement_service import site_placement
from ml.models import EdgeAgent, EdgePrediction
from tests.factories import SiteFactory


@pytest.fixture
def site(db):
    return SiteFactory(code="CS-COAST-001", tier="cell-site")


def _agent(site, name: str, *, seen_s_ago: float | None, **fields) -> EdgeAgent:
    last_seen = timezone.now() - timedelta(seconds=seen_s_ago) if seen_s_ago is not None else None
    return EdgeAgent.objects.create(site=site, name=name, token_hash=name * 4, last_seen=last_seen, **fields)


def test_agents_show_online_state_last_seen_version_and_backlog(client, admin_user, site):
    _agent(site, "coast-box", seen_s_ago=5, model_version="b-7", backlog=12, capabilities={"cpu_cores": 4})
    _agent(site, "old-box", seen_s_ago=3600)
    client.force_login(admin_user)
    html = client.get(reverse("fleet")).content.decode()
    rows = html[html.index('class="cards agents"') : html.index('id="accuracy-heading"')]
    coast = rows[rows.index("coast-box") : rows.index("old-box")]
    assert "online" in coast and "<code>b-7</code>" in coast and ">12<" in coast and "4 cores" in coast
    assert "offline" in rows[rows.index("old-box") :]


def test_edge_accuracy_and_latency_come_from_the_fleet_summary(client, admin_user, site):
    agent = _agent(site, "coast-box", seen_s_ago=5)
    for i, latency in enumerate((2.0, 4.0)):
        EdgePrediction.objects.create(
            agent=agent,
            site=site,
            idempotency_key=f"k{i}",
            source="noc",
            external_id=f"T-{i}",
            model_version="b-7",
            resolution="REPLACE_SFP",
            confidence=0.9,
            latency_ms=latency,
            predicted_at=timezone.now(),
        )
    client.force_login(admin_user)
    html = client.get(reverse("fleet")).content.decode()
    summary = html[html.index('class="cards fleet-summary"') :]
    assert "3.0 ms" in summary and '<td data-label="Predictions">2</td>' in summary


def test_each_site_shows_its_placement_pattern_and_reasons(client, admin_user, site):
    site_placement(site, recompute=True)
    client.force_login(admin_user)
    html = client.get(reverse("fleet")).content.decode()
    assert "CS-COAST-001: pattern 1" in html and "central meets the 1000 ms latency budget" in html


def test_the_what_if_shows_the_decision_change_with_a_tighter_latency_budget(client, admin_user, site):
    client.force_login(admin_user)
    html = client.get(reverse("fleet"), {"site": "CS-COAST-001", "latency_budget_ms": "20"}).content.decode()
    assert "The decision changes." in html
    before = html[html.index("decision-before") : html.index("decision-after")]
    after = html[html.index("decision-after") :]
    assert "Pattern 1" in before and "Pattern 4" in after
    assert "the 20 ms latency budget is below" in after
    same = client.get(
        reverse("fleet"), {"site": "CS-COAST-001", "latency_budget_ms": "5000"}
    ).content.decode()
    assert "The decision stays the same." in same


def test_the_what_if_rejects_bad_input_with_labels(client, admin_user, site):
    client.force_login(admin_user)
    html = client.get(reverse("fleet"), {"site": "NOPE", "uplink_mbps": "-1"}).content.decode()
    assert "Select a valid choice" in html and "greater than or equal to 0" in html
    assert "The decision" not in html
    for label in ("Latency budget (ms)", "Uplink bandwidth (Mbit/s)", "Site"):
        assert f">{label}</label>" in html


def test_engineers_get_a_403_page(client, engineer, site):
    client.force_login(engineer)
    assert client.get(reverse("fleet")).status_code == 403


def test_the_what_if_starts_from_the_sites_current_values(client, admin_user, site):
    from ml.models import SiteComputeProfile

    site_placement(site)
    budget = SiteComputeProfile.objects.get(site=site).latency_budget_ms
    client.force_login(admin_user)
    html = client.get(reverse("fleet")).content.decode()
    form = html[html.index('id="whatif-heading"') :]
    assert 'value="CS-COAST-001" selected' in form
    assert f'name="latency_budget_ms" value="{budget:g}' in form  # the site's budget, not a blank field
    assert "The decision stays the same." in html and "no changes" in html


def test_an_admin_issues_an_enrolment_token_shown_once(client, admin_user, site):
    from ml.fleet import edge
    from ml.models import EnrolmentToken

    client.force_login(admin_user)
    response = client.post(reverse("fleet"), {"site": "CS-COAST-001", "note": "rack 2"}, follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Enrolment token for CS-COAST-001" in html
    # A page with a live credential on it is kept by no cache (the back button, a shared proxy).
    assert {"no-store", "private"} <= {d.strip() for d in response["Cache-Control"].split(",")}
    token = EnrolmentToken.objects.get()
    assert (token.site.code, token.note, token.used_at) == ("CS-COAST-001", "rack 2", None)
    raw = html[html.index('<code class="token">') + len('<code class="token">') :].split("<", 1)[0]
    agent, _ = edge.agent_enrol(token=raw, name="rack-2", capabilities={})  # the shown token works, once
    assert agent.site.code == "CS-COAST-001"
    assert raw not in client.get(reverse("fleet")).content.decode()
    assert client.post(reverse("fleet"), {"site": "NOWHERE"}).status_code == 400


def test_a_site_model_trained_at_the_edge_shows_beside_the_model_it_was_judged_against(
    client, admin_user, site
):
    """Pattern 2's report (edge_agent.learning.maybe_train_local) shows as the site's local learning."""
    from ml.fleet import edge

    agent = _agent(site, "coast-box", seen_s_ago=5)
    EdgePrediction.objects.create(
        agent=agent,
        site=site,
        idempotency_key="k",
        source="noc",
        external_id="T-1",
        model_version="site-160",
        resolution="REPLACE_SFP",
        confidence=0.9,
        latency_ms=2.0,
        predicted_at=timezone.now(),
    )
    metrics = {"holdout": 40, "local_accuracy": 0.9, "shipped_accuracy": 0.4, "adopted": True}
    metrics |= {"method": "site model (tf-idf + svd)", "compared_with": "the model in service"}
    edge.report_record(agent=agent, kind="site_model_trained", metrics=metrics)
    client.force_login(admin_user)
    html = client.get(reverse("fleet")).content.decode()
    assert "adopted: local 90% vs the model in service 40%" in html and "site model (tf-idf + svd)" in html
