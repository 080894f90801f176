"""The load benchmark's setup, in the benchmark's own process with Django (``benchmarks.load`` calls
``prepare`` once Django is set up): a fresh database, simulated tickets, a trained champion, stored
recommendations, the clients' users and enrolled agents."""

import json
import random
import secrets
import sys
import time
from pathlib import Path


def open_document(doc: dict) -> dict:
    """A simulated ticket as it arrives: still open, no resolution, the caller's source."""
    drop = ("source", "external_id", "resolution", "resolved_at", "resolution_notes")
    return {**{k: v for k, v in doc.items() if k not in drop}, "status": "acknowledged"}


def prepare(args, folder: Path) -> tuple[dict, dict]:
    """Fresh database, simulated data, a trained champion, stored answers, users and agents.

    Returns the driver's configuration (without the server address) and what was set up.
    """
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    load_s = load_tickets(args, folder)
    version, train_s = train_champion(args)
    newest, stored, precompute_s = store_recommendations(args)
    engineer, password, api_token, agents = users_and_agents(args)
    driver = {
        "username": engineer.username,
        "password": password,
        "api_token": api_token,
        "agent_tokens": agents,
        "ticket_ids": newest,
        "drafts": drafts(args, folder),
        "clients": args.clients,
        "warmup": args.warmup,
        "duration": args.duration,
        "bulk_size": args.bulk_size,
        "edge_batch": args.edge_batch,
        "seed": args.seed,
    }
    metrics = version.metrics or {}
    setup = {
        "tickets": args.tickets,
        "load_s": round(load_s, 1),
        "train_s": round(train_s, 1),
        "model": {
            "version": version.pk,
            "base_model": "/".join(Path(version.base_model).parts[-2:]),
            "served": metrics.get("served"),
            "macro_f1": round(metrics.get("macro_f1") or 0.0, 3),
            "train_samples": args.train_samples,
            "max_length": args.max_length,
            "epochs": 1,
            "note": "a small model trained here for serving latency, not for accuracy",
        },
        "ticket_pool": len(newest),
        "recommendations_stored": stored["computed"],
        "precompute_s": round(precompute_s, 1),
    }
    return driver, setup


def load_tickets(args, folder: Path) -> float:
    """Writes the simulated tickets and loads them through the importers; the seconds it took."""
    from repair_center.simulator import SimulationConfig, write_simulation
    from repair_center.simulator.load import load_simulation

    started = time.perf_counter()
    write_simulation(SimulationConfig(tickets=args.tickets, seed=args.seed), folder)
    loaded = load_simulation(folder)["tickets.jsonl"]
    if loaded.created != args.tickets:
        sys.exit(f"the simulated tickets did not all load: {loaded.summary()}")
    return time.perf_counter() - started


def train_champion(args):
    """A small champion trained here (one epoch); it and the seconds it took."""
    from ml.training.fine_tuning import TrainingConfig
    from ml.training.services import train_model

    started = time.perf_counter()
    config = TrainingConfig(epochs=1, max_length=args.max_length, max_train_samples=args.train_samples)
    run = train_model(config=config, force=True)
    version = run.model_version
    if version is None or version.status != version.Status.CHAMPION:
        sys.exit(f"training did not give a champion: {run.status} {run.reason}")
    return version, time.perf_counter() - started


def store_recommendations(args) -> tuple[list, dict, float]:
    """The newest tickets the clients view, recommendations stored for the first of them, seconds."""
    from ml.serving.recommendations import recommend_tickets
    from repair_center.models import Ticket

    newest = list(
        Ticket.objects.order_by("-opened_at", "-id").values_list("id", flat=True)[: args.ticket_pool]
    )
    started = time.perf_counter()
    stored = recommend_tickets(newest[: args.precompute])
    return newest, stored, time.perf_counter() - started


def users_and_agents(args) -> tuple:
    """An engineer with a password, an integration's API token and up to ten enrolled agents' tokens."""
    from django.contrib.auth.models import Group, User

    from ml.fleet import edge
    from repair_center.models import ApiToken, Site

    password = secrets.token_urlsafe(16)
    engineer = User.objects.create_user(username="load-engineer", password=password)
    engineer.groups.add(Group.objects.get_or_create(name="engineer")[0])  # flush removed the roles
    integration = User.objects.create_user(username="load-integration")
    integration.groups.add(Group.objects.get_or_create(name="integration")[0])
    _, api_token = ApiToken.issue(user=integration, name="load benchmark")
    site = Site.objects.order_by("code").first()
    agents = []
    for i in range(min(args.clients, 10)):
        _, enrolment = edge.enrolment_token_issue(site=site)
        agents.append(edge.agent_enrol(token=enrolment, name=f"load-{i}", capabilities={"cpu_cores": 2})[1])
    return engineer, password, api_token, agents


def drafts(args, folder: Path) -> list[dict]:
    """Up to 200 simulated tickets, reopened, for the clients to ask recommendations for as drafts."""
    rng = random.Random(args.seed)
    with open(folder / "tickets.jsonl") as lines:
        documents = [json.loads(line) for line in lines]
    return [open_document(doc) for doc in rng.sample(documents, min(200, len(documents)))]
