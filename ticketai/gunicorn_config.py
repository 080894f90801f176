"""gunicorn's settings for TicketAI: ``gunicorn -c python:ticketai.gunicorn_config ticketai.wsgi``.

Each gunicorn worker is its own process with its own metric counters, and ``/metrics`` is answered
by whichever worker takes the scrape: without help Prometheus sees counters that jump between
workers' figures and reads every jump down as a restart. prometheus_client's multiprocess mode
keeps every worker's figures in files under ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them
up (``ticketai.metrics.render``). The variable must be set before a worker imports
prometheus_client, so it is set here, in the master, which the workers inherit it from.
"""

import os
import shutil
import tempfile
from pathlib import Path

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ticketai-metrics-")

# Seconds a worker gets to finish its requests after SIGTERM; docker-compose.yml's stop_grace_period
# gives the container longer before SIGKILL (docker's default, 10 s, cut requests off mid-answer).
graceful_timeout = 25


def on_starting(server) -> None:
    # Files from an earlier run of the same directory would add their counts to this run's.
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
