"""A strict Content-Security-Policy on every response, and templates that need nothing looser
(SECURITY.md, finding 10: there was no Content-Security-Policy header at all)."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import SiteFactory

ROOT = Path(settings.BASE_DIR)
TEMPLATE_DIRS = [ROOT / "frontend" / "templates", ROOT / "ticketai" / "templates"]


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split(None, 1)[1] for d in (p.strip() for p in header.split(";")) if d}


def _assert_strict(response):
    policy = _policy(response)
    for directive in (
        "default-src",
        "script-src",
        "style-src",
        "connect-src",
        "font-src",
        "base-uri",
        "form-action",
    ):
        assert policy[directive] == "'self'", (directive, policy)
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["img-src"] == "'self' data:"
    assert "unsafe" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_every_kind_of_response_carries_the_policy(admin_user, engineer_client):
    browser = Client()
    answers = [
        browser.get("/login/"),
        browser.get("/healthz"),
        browser.get("/api/docs/"),
        browser.get("/api/schema/"),
        engineer_client.get("/api/v1/tickets/"),
        browser.get("/api/v1/tickets/"),
        browser.get("/no-such-page/"),
    ]
    browser.force_login(admin_user)
    site = SiteFactory()
    answers += [
        browser.get("/"),
        browser.get("/fleet/"),
        browser.get("/admin/"),
        browser.get(f"/admin/repair_center/site/{site.pk}/change/"),
    ]
    for response in answers:
        _assert_strict(response)


def _templates() -> list[Path]:
    return [path for folder in TEMPLATE_DIRS for path in folder.rglob("*.html")]


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_needs_inline_script_or_style(path):
    html = path.read_text()
    inline_scripts = [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag]
    assert not inline_scripts, inline_scripts
    assert not re.search(r"<style\b", html), "an inline <style> block"
    assert not re.search(r"\sstyle\s*=", html), "an inline style attribute"
    assert not re.search(r"\son[a-z]+\s*=", html), "an inline event handler"


@pytest.mark.django_db
def test_the_api_docs_page_loads_its_set_up_script_as_a_file():
    html = Client().get("/api/docs/").content.decode()
    tags = re.findall(r"<script\b[^>]*>", html)
    assert tags and all("src=" in tag for tag in tags), tags
    assert "<style" not in html
    script = re.search(r'<script src="([^"]*script[^"]*)"', html).group(1).replace("&amp;", "&")
    setup = Client().get(script)
    assert setup.status_code == 200 and b"SwaggerUIBundle" in setup.content
