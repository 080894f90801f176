"""Connector presets against real local servers that page, shape fields and fail as ServiceNow, Jira
Cloud, Jira Data Center and a TMF621 server do: every ticket arrives once, none is skipped, and a failed
pull resumes where it stopped."""

from datetime import timedelta, timezone

import pytest
from django.core.exceptions import ValidationError

from repair_center.models import Connector, ConnectorRun, Site, Ticket
from repair_center.services.connectors import pull_connector
from tests.factories import NetworkElementFactory, SiteFactory
from tests.fake_ticketing_systems import (
    KEYS,
    MAKERS,
    MINUTE,
    START,
    STEPS,
    TOKEN_PATH,
    FakeSystem,
    basic,
    remote_items,
)
from tests.tmf_spec import tmf621

KINDS = ("servicenow", "jira", "jira_dc", "tmf621")
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]  # the fake systems are on-premises targets
    settings.TICKETAI_CONNECTOR_BACKOFF_S = 0.01
    settings.TICKETAI_CONNECTOR_MAX_RETRIES = 3
    settings.TICKETAI_CONNECTOR_TIMEOUT_S = 2.0


@pytest.fixture(autouse=True)
def site():
    site = SiteFactory(code="SITE-P1")
    NetworkElementFactory(site=site, serial="SN-P1", name="RRU-P1")
    return site


def _connector(kind: str, system: FakeSystem, **fields) -> Connector:
    values = {"name": f"{kind}-noc", "preset": kind, "base_url": system.base_url, "page_size": 3, **fields}
    return Connector.objects.create(**values)


def _keys(kind: str) -> list[str]:
    return sorted(Ticket.objects.filter(source=f"{kind}-noc").values_list("external_id", flat=True))


def _expected(kind: str, numbers) -> list[str]:
    return sorted(KEYS[kind].format(n) for n in numbers)


@pytest.mark.parametrize("kind", KINDS)
def test_a_preset_imports_every_ticket_once_across_pages(kind):
    with FakeSystem(kind, remote_items(kind, 10), max_page=2 if kind.startswith("jira") else 1000) as system:
        connector = _connector(kind, system)
        run = pull_connector(connector.id)
        assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
        assert (run.created, run.rejected) == (10, 0), run.rejects
        assert _keys(kind) == _expected(kind, range(1, 11))

        # The next pull asks only for what changed since, and finds nothing new.
        system.requests.clear()
        again = pull_connector(connector.id)
    assert again.status == ConnectorRun.Status.SUCCEEDED and (again.created, again.updated) == (0, 0)
    assert again.unchanged <= 1  # the boundary item, read again
    first = system.requests[0].query
    newest = START + 10 * STEPS[kind]
    if kind == "servicenow":
        assert (
            first["sysparm_query"]
            == f"sys_updated_on>={newest:%Y-%m-%d %H:%M:%S}^ORDERBYsys_updated_on^ORDERBYsys_id"
        )
        assert (first["sysparm_offset"], first["sysparm_limit"]) == ("0", "3")
    elif kind.startswith("jira"):
        assert first["jql"] == f'updated >= "{newest:%Y-%m-%d %H:%M}" ORDER BY updated ASC, key ASC'
        assert first["maxResults"] == "3"
        assert first.get("startAt") == ("0" if kind == "jira_dc" else None)
        assert "nextPageToken" not in first
    else:
        just_before = newest - timedelta(milliseconds=1)
        assert first["lastUpdate.gt"] == just_before.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert (first["offset"], first["limit"]) == ("0", "3")


def test_the_fake_tmf621_server_answers_troubletickets_as_the_spec_defines():
    tmf621("TroubleTicket", remote_items("tmf621", 3), many=True)


@pytest.mark.parametrize("kind", KINDS)
def test_each_preset_reads_its_systems_field_shapes(kind, site):
    with FakeSystem(kind, remote_items(kind, 1)) as system:
        pull_connector(_connector(kind, system).id)
    ticket = Ticket.objects.get(source=f"{kind}-noc")
    assert (ticket.status, ticket.priority) == ("inProgress", "critical")
    expected = {
        "servicenow": ("INC0000001", "Incident 1", "RRU alarm on sector 1", site, "RRU-P1"),
        "jira": ("NOC-1", "Issue 1", "CPRI down on RRU 1", None, ""),
        "jira_dc": ("NOC-1", "Issue 1", "CPRI down on RRU 1", None, ""),
        "tmf621": ("TT-1", "Trouble 1", "Loss of signal on the backhaul", site, ""),
    }[kind]
    assert (ticket.external_id, ticket.title, ticket.description, ticket.site, ticket.element_ref) == expected
    assert ticket.opened_at.isoformat() == "2026-01-01T07:00:00+00:00"
    if kind == "servicenow":
        assert ticket.element.serial == "SN-P1"  # cmdb_ci.name found the element by its name


@pytest.mark.parametrize(
    ("kind", "authorization", "fields"),
    [
        (
            "servicenow",
            basic("svc.ticketai", "pw-1"),
            {"auth_username": "svc.ticketai", "auth_token": "pw-1"},
        ),
        ("servicenow", "Bearer oauth-token", {"auth_token": "oauth-token"}),
        (
            "jira",
            basic("bot@example.com", "api-token"),
            {"auth_username": "bot@example.com", "auth_token": "api-token"},
        ),
        ("jira_dc", "Bearer pat-1", {"auth_token": "pat-1"}),  # a Data Center personal access token
        ("tmf621", "Bearer tmf-token", {"auth_token": "tmf-token"}),
    ],
)
def test_a_preset_authenticates_with_basic_or_bearer(kind, authorization, fields):
    with FakeSystem(kind, remote_items(kind, 4), expect_authorization=authorization) as system:
        run = pull_connector(_connector(kind, system, **fields).id)
    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    assert run.created == 4


@pytest.mark.parametrize("kind", KINDS)
def test_a_preset_waits_out_429_with_retry_after_and_retries_5xx(kind):
    faults = {2: "429", 3: "503", 5: "500"}
    with FakeSystem(kind, remote_items(kind, 8), faults=faults, retry_after="1") as system:
        run = pull_connector(_connector(kind, system).id)
    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    assert (run.created, run.retries) == (8, 3)
    assert _keys(kind) == _expected(kind, range(1, 9))
    waited = system.requests[2].at - system.requests[1].at
    assert waited >= 0.9, f"Retry-After: 1 was not honoured ({waited:.2f}s)"


@pytest.mark.parametrize("kind", KINDS)
def test_a_page_that_changes_between_calls_leaves_no_gap(kind):
    step = STEPS[kind]

    def change_after_the_first_page(number: int, system: FakeSystem) -> None:
        if number != 2:
            return
        # Item 1 (read on page 1) is edited now: it moves to the end, and with plain offsets item 4
        # would slide onto page 1 and never be read. Item 12 is new.
        edited = {
            "servicenow": {"short_description": "edited"},
            "jira": {"summary": "edited"},
            "jira_dc": {"summary": "edited"},
            "tmf621": {"name": "edited"},
        }[kind]
        system.replace(KEYS[kind].format(1), _edited(kind, MAKERS[kind](1, START + 20 * step), edited))
        system.items.append(MAKERS[kind](12, START + 21 * step))

    with FakeSystem(kind, remote_items(kind, 10), before_request=change_after_the_first_page) as system:
        run = pull_connector(_connector(kind, system).id)
    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    assert _keys(kind) == _expected(kind, [*range(1, 11), 12])
    assert Ticket.objects.get(source=f"{kind}-noc", external_id=KEYS[kind].format(1)).title == "edited"
    assert run.created == 11


def _edited(kind: str, item: dict, changes: dict) -> dict:
    if kind.startswith("jira"):
        return {**item, "fields": {**item["fields"], **changes}}
    return {**item, **changes}


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_pull_resumes_from_the_last_stored_page_without_gaps_or_duplicates(kind, settings):
    settings.TICKETAI_CONNECTOR_MAX_RETRIES = 1
    with FakeSystem(kind, remote_items(kind, 10), faults={3: "503", 4: "503"}) as system:
        connector = _connector(kind, system)
        failed = pull_connector(connector.id)
        assert failed.status == ConnectorRun.Status.FAILED
        assert "503" in failed.error
        stored = failed.created
        assert 0 < stored < 10
        connector.refresh_from_db()
        assert connector.cursor  # moved with each stored page

        resumed = pull_connector(connector.id)
    assert resumed.status == ConnectorRun.Status.SUCCEEDED, resumed.error
    assert stored + resumed.created == 10
    assert _keys(kind) == _expected(kind, range(1, 11))


@pytest.mark.parametrize("kind", KINDS)
def test_more_tickets_with_one_update_time_than_fit_a_page_are_all_read(kind):
    with FakeSystem(kind, remote_items(kind, 8, same_time=True)) as system:
        run = pull_connector(_connector(kind, system).id)
    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    assert _keys(kind) == _expected(kind, range(1, 9))


def test_the_query_narrows_a_servicenow_pull():
    items = remote_items("servicenow", 4)
    items[1]["active"], items[3]["active"] = "false", "false"
    for item in (items[0], items[2]):
        item["active"] = "true"
    with FakeSystem("servicenow", items) as system:
        run = pull_connector(_connector("servicenow", system, query="active=true").id)
    assert run.created == 2
    assert system.requests[0].query["sysparm_query"].startswith("active=true^ORDERBYsys_updated_on")
    assert not Site.objects.filter(needs_curation=True).exists()


@pytest.mark.parametrize(
    ("kind", "remote", "mapping"),
    [
        ("servicenow", {"u_site_code": "SITE-P1"}, {"site": "u_site_code"}),
        ("jira", {"customfield_10050": {"value": "SITE-P1"}}, {"site": "fields.customfield_10050.value"}),
        ("jira_dc", {"customfield_10050": "SITE-P1"}, {"site": "fields.customfield_10050"}),
    ],
)
def test_a_field_the_connector_maps_is_asked_for_from_systems_that_answer_only_those(
    kind, remote, mapping, site
):
    # ServiceNow and Jira answer only the fields a request names: the mapped one must be among them.
    item = MAKERS[kind](1, START)
    item = {**item, "fields": {**item["fields"], **remote}} if kind.startswith("jira") else {**item, **remote}
    if kind == "servicenow":
        item.pop("location.name")
    with FakeSystem(kind, [item]) as system:
        run = pull_connector(_connector(kind, system, field_mapping=mapping).id)
    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    assert Ticket.objects.get(source=f"{kind}-noc").site == site


class ProblemTable(FakeSystem):
    """ServiceNow serving its problem table as the fake serves incidents."""

    def _answer(self, number, path, query, authorization):
        served = "/api/now/table/incident" if path == "/api/now/table/problem" else "/elsewhere"
        return super()._answer(number, served, query, authorization)


def test_a_servicenow_base_url_naming_another_table_reads_that_table():
    with ProblemTable("servicenow", remote_items("servicenow", 4)) as system:
        base_url = system.base_url + "/api/now/table/problem"
        run = pull_connector(_connector("servicenow", system, base_url=base_url).id)

    assert (run.status, run.created) == (ConnectorRun.Status.SUCCEEDED, 4), run.error
    assert {r.path for r in system.requests} == {"/api/now/table/problem"}


def test_a_jira_cloud_base_url_naming_the_removed_search_is_read_as_its_successor():
    with FakeSystem("jira", remote_items("jira", 4), max_page=2) as system:
        run = pull_connector(_connector("jira", system, base_url=system.base_url + "/rest/api/3/search").id)
    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    assert {r.path for r in system.requests} == {"/rest/api/3/search/jql"}
    assert _keys("jira") == _expected("jira", range(1, 5))


def test_a_jira_preset_pointed_at_the_other_jira_says_which_preset_reads_it():
    with FakeSystem("jira", remote_items("jira", 2)) as cloud:
        run = pull_connector(_connector("jira_dc", cloud).id)
    assert run.status == ConnectorRun.Status.FAILED
    assert "HTTP 410" in run.error and "the preset 'jira' reads Jira Cloud" in run.error
    with FakeSystem("jira_dc", remote_items("jira_dc", 2)) as data_center:
        run = pull_connector(_connector("jira", data_center, name="jira-cloud").id)
    assert "HTTP 404" in run.error and "the preset 'jira_dc' reads them" in run.error


def test_a_jira_cloud_page_token_that_repeats_stops_the_pull_instead_of_looping():
    items = remote_items("jira", 6, same_time=True)  # one minute: the token is followed, not restarted
    with FakeSystem("jira", items) as system:
        first_page = system._jira
        system._jira = lambda q: first_page({k: v for k, v in q.items() if k != "nextPageToken"})
        run = pull_connector(_connector("jira", system).id)
    assert run.status == ConnectorRun.Status.FAILED
    assert "page token it gave before" in run.error
    assert len(system.requests) == 2


@pytest.mark.parametrize("kind", ["servicenow", "tmf621"])
def test_oauth_client_credentials_get_a_token_and_a_new_one_when_it_expires(kind):
    # Each token is good for two requests: the pull is answered 401 and asks for another.
    with FakeSystem(kind, remote_items(kind, 10), oauth=("ticketai", "s3cret"), token_uses=2) as system:
        root = system.base_url.split("/tmf-api")[0]
        connector = _connector(
            kind,
            system,
            oauth_token_url=root + TOKEN_PATH,
            oauth_client_id="ticketai",
            oauth_client_secret="s3cret",
            oauth_scope="useraccount",
        )
        connector.full_clean()
        run = pull_connector(connector.id)
    assert run.status == ConnectorRun.Status.SUCCEEDED, run.error
    assert run.created == 10 and _keys(kind) == _expected(kind, range(1, 11))
    answered = [r for r in system.requests if r.headers.get("Authorization", "").startswith("Bearer tok-")]
    assert len(answered) == len(system.requests)
    assert len(system.token_requests) >= 2  # the first token, then one after each expiry
    assert system.token_requests[0] == {
        "grant_type": "client_credentials",
        "client_id": "ticketai",
        "client_secret": "s3cret",
        "scope": "useraccount",
    }


def test_a_refused_oauth_client_fails_the_pull_saying_so_and_asks_the_system_nothing():
    with FakeSystem("servicenow", remote_items("servicenow", 3), oauth=("ticketai", "s3cret")) as system:
        connector = _connector(
            "servicenow",
            system,
            oauth_token_url=system.base_url + TOKEN_PATH,
            oauth_client_id="ticketai",
            oauth_client_secret="wrong",
        )
        run = pull_connector(connector.id)
    assert run.status == ConnectorRun.Status.FAILED
    assert run.error.startswith("no access token: POST ") and "answered HTTP 401" in run.error
    assert system.requests == [] and not Ticket.objects.exists()
    assert "wrong" not in run.error


def test_a_token_endpoint_that_does_not_answer_times_out_like_the_remote(settings):
    settings.TICKETAI_CONNECTOR_TIMEOUT_S, settings.TICKETAI_CONNECTOR_MAX_RETRIES = 0.3, 0
    items = remote_items("servicenow", 2)
    with FakeSystem("servicenow", items, oauth=("ticketai", "s3cret"), token_delay=2.0) as system:
        connector = _connector(
            "servicenow",
            system,
            oauth_token_url=system.base_url + TOKEN_PATH,
            oauth_client_id="ticketai",
            oauth_client_secret="s3cret",
        )
        run = pull_connector(connector.id)
    assert run.status == ConnectorRun.Status.FAILED
    assert "ReadTimeout" in run.error and system.requests == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"oauth_client_id": "ticketai", "oauth_client_secret": "s"}, "oauth_token_url"),
        (
            {"oauth_token_url": "https://sn.example/oauth_token.do", "oauth_client_secret": "s"},
            "oauth_client_id",
        ),
        (
            {
                "oauth_token_url": "https://sn.example/oauth_token.do",
                "oauth_client_id": "ticketai",
                "oauth_client_secret": "s",
                "auth_token": "pasted",
            },
            "auth_token",
        ),
    ],
)
def test_an_oauth_client_is_all_or_nothing_and_replaces_the_pasted_token(fields, field):
    connector = Connector(name="sn", preset="servicenow", base_url="https://sn.example", **fields)
    with pytest.raises(ValidationError) as refused:
        connector.full_clean()
    assert field in refused.value.message_dict


@pytest.mark.parametrize("kind", ["jira", "jira_dc"])
@pytest.mark.parametrize("hours", [-5, 5.5])
def test_jira_reads_its_window_in_the_users_time_zone_and_the_cursor_keeps_that_zone(kind, hours):
    """Jira reads JQL times in the integration user's zone and writes "updated" in it. A cursor kept
    in UTC would start the next window hours late west of UTC (changes skipped for good) and hours
    early east of it; kept in the zone Jira wrote, it starts at the newest change read."""
    zone = timezone(timedelta(hours=hours))

    def issue(n: int) -> dict:
        item = MAKERS[kind](n, START + n * MINUTE)
        item["fields"]["updated"] = (START + n * MINUTE).astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S.000%z")
        return item

    with FakeSystem(kind, [issue(n) for n in range(1, 5)], user_zone=zone) as system:
        connector = _connector(kind, system)
        assert pull_connector(connector.id).created == 4
        system.items.append(issue(5))
        system.requests.clear()
        again = pull_connector(connector.id)
        first = system.requests[0].query
    assert (again.status, again.created) == (ConnectorRun.Status.SUCCEEDED, 1), again.error
    assert _keys(kind) == _expected(kind, range(1, 6))
    newest_read = (START + 4 * MINUTE).astimezone(zone)
    assert first["jql"] == f'updated >= "{newest_read:%Y-%m-%d %H:%M}" ORDER BY updated ASC, key ASC'
    connector.refresh_from_db()
    assert connector.cursor == (START + 5 * MINUTE).astimezone(zone).isoformat()
