"""What a pull's error says when the remote refuses it or answers a page that is not JSON: what the
operator most likely has to change, never the body (which may echo credentials)."""

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from repair_center.models import Connector, ConnectorRun
from repair_center.services.connectors import pull_connector

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # a real HTTP server per test
PAGE = b"<html><body>Your instance is hibernating. Sign in to wake it.</body></html>"


@pytest.fixture(autouse=True)
def local(settings):
    settings.TICKETAI_OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.TICKETAI_CONNECTOR_MAX_RETRIES = 0


@contextmanager
def answering(status: int, headers: dict[str, str]):
    """A server that answers every GET with ``status``, ``headers`` and an HTML page; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            for name, value in {"Content-Type": "text/html", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("preset", ["generic", "servicenow", "tmf621"])
@pytest.mark.parametrize(
    ("status", "headers", "says"),
    [
        (
            200,
            {},
            "HTTP 200 (text/html, {n} bytes; body not kept), which is not JSON: a sign-in or maintenance",
        ),
        (401, {}, "HTTP 401 (text/html, {n} bytes; body not kept): the remote refused the credentials"),
        (403, {}, "HTTP 403 (text/html, {n} bytes; body not kept): the credentials were taken but"),
        (404, {}, "HTTP 404 (text/html, {n} bytes; body not kept): nothing there: check base_url"),
        (
            302,
            {"Location": "https://sso.example.com/login?state=s3cr3t"},
            "redirects are not followed (credentials go only to base_url); it points to "
            "https://sso.example.com/login",
        ),
    ],
)
def test_a_refusal_or_a_page_that_is_not_json_fails_the_pull_saying_what_to_check(
    preset, status, headers, says
):
    with answering(status, headers) as base_url:
        connector = Connector.objects.create(name="remote", preset=preset, base_url=base_url, auth_token="t")
        run = pull_connector(connector.id)

    assert run.status == ConnectorRun.Status.FAILED
    assert run.error.startswith(f"GET {base_url}") and says.format(n=len(PAGE)) in run.error, run.error
    assert "hibernating" not in run.error and "s3cr3t" not in run.error
