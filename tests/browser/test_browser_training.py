"""An admin starts a training run in the browser and watches a real worker take it to done."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from ml.models import ModelVersion, TrainingRun
from repair_center.services.tickets import tickets_upsert
from tests.browser.conftest import shoot, sign_in
from tests.edge_fixtures import subprocess_database_url
from tests.factories import ml_catalogue, ml_ticket_documents

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CELERY = Path(sys.executable).parent / "celery"
WAIT_S = 300


@pytest.fixture
def training_worker(live_server, tmp_path, settings):
    """A real `celery worker -Q training` on Redis, against the live server's database."""
    assert settings.REDIS_URL, "set REDIS_URL: this test needs a real Redis"
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETAI_")}
    env.update(
        DJANGO_SETTINGS_MODULE="ticketai.settings",
        DATABASE_URL=subprocess_database_url(),
        REDIS_URL=settings.REDIS_URL,
        TICKETAI_DATA_DIR=str(tmp_path / "data"),
        TICKETAI_MODEL_DIR=str(tmp_path / "models"),
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "ticketai",
                "worker",
                "-Q",
                "training",
                "--pool",
                "solo",
                "-c",
                "1",
                "--loglevel",
                "info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"ui-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def test_an_admin_starts_training_and_the_progress_bar_reaches_done(
    page: Page, live_server, ml_admin, training_worker, screenshots_dir
):
    worker, log = training_worker
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=8), source="noc")
    sign_in(page, live_server, "mlowner", "pw-ml-owner")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Training").click()
    page.get_by_label("Why (kept with the run)").fill("browser test")
    page.get_by_label("Epochs (0: chosen from the data size)").fill("1")
    page.get_by_label("Tokens per ticket (0: from the data)").fill("32")
    page.get_by_label("At most this many training tickets (empty: all)").fill("24")
    page.get_by_label("Batch size (empty: 16)").fill("4")
    page.get_by_label("Train even if the data has not changed").check()
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Training run #")
    run = TrainingRun.objects.get()

    seen = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker exited:\n" + log.read_text()
        status = page.locator("[data-field='status_display']").first.inner_text()
        seen.append((status, int(page.locator("progress").first.get_attribute("value"))))
        if status in ("Succeeded", "Failed", "Skipped"):
            break
        time.sleep(0.5)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, f"{run.reason}\n{log.read_text()[-3000:]}"
    expect(page.locator("h1 .badge")).to_have_text("Succeeded", timeout=10_000)  # reloaded with the outcome
    expect(page.locator("progress")).to_have_attribute("value", "100")
    percents = [percent for _, percent in seen]
    assert seen[0][0] != "Succeeded" and percents == sorted(percents) and percents[-1] == 100, seen
    shoot(page, page.url, "training-run", screenshots_dir)
    shoot(page, live_server.url + "/training/", "training", screenshots_dir)

    version = ModelVersion.objects.get()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    page.get_by_role("link", name=f"v{version.pk}", exact=True).first.click()
    expect(
        page.get_by_role("img", name="Confusion matrix: true resolution by row, predicted by column")
    ).to_be_visible()
    expect(page.get_by_role("img", name="F1 per resolution on the held-out split")).to_be_visible()
    shoot(page, page.url, "model", screenshots_dir)
    shoot(page, live_server.url + "/models/", "models", screenshots_dir)
    shoot(page, live_server.url + "/schedule/", "schedule", screenshots_dir)
    assert settings.TICKETAI_MODEL_DIR  # the live server read the worker's registry
