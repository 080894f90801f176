"""The load benchmark's driver: a separate process, no Django (``python -m benchmarks.load --drive``).

--clients closed-loop clients over asyncio and httpx, each pausing --think-ms on average between
requests; per route the latencies and errors of the soak. benchmarks/load.py starts it and reads
its results.
"""

import asyncio
import json
import math
import random
import time
import uuid
from pathlib import Path

from benchmarks.fleet import batch as edge_batch

QUEUE_VIEWS = ({}, {"sort": "priority"}, {"status": "acknowledged"}, {"page": "2"}, {"needs_expert": "on"})


def percentile(ordered: list[float], p: float) -> float:
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Driver:
    """--clients closed-loop clients; the routes come from one smooth weighted round-robin shared by
    all of them, so the mix is exact and a short run still reaches every route."""

    def __init__(self, config: dict):
        import httpx

        self.httpx, self.c = httpx, config
        self.weights = config["weights"]
        self.credit = dict.fromkeys(self.weights, 0)
        self.latencies: dict[str, list[float]] = {route: [] for route in self.weights}
        self.errors: dict[str, int] = dict.fromkeys(self.weights, 0)
        self.warmup_errors = 0
        self.samples: list[str] = []
        limits = httpx.Limits(max_connections=config["clients"], max_keepalive_connections=config["clients"])
        self.api = httpx.AsyncClient(base_url=config["base"], timeout=60, limits=limits)
        self.token = {"Authorization": f"Token {config['api_token']}"}

    def next_route(self) -> str:
        for route, weight in self.weights.items():
            self.credit[route] += weight
        route = max(self.credit, key=self.credit.get)
        self.credit[route] -= sum(self.weights.values())
        return route

    def fail(self, route: str, detail: str, soak: bool) -> None:
        if soak:
            self.errors[route] = self.errors.get(route, 0) + 1
        else:
            self.warmup_errors += 1
        if len(self.samples) < 10:
            self.samples.append(f"{route}: {detail}"[:300])

    async def login(self, page) -> bool:
        """Signs in through the login form (CSRF token from its cookie), as a browser does."""
        try:
            await page.get("/login/")
            form = {
                "username": self.c["username"],
                "password": self.c["password"],
                "csrfmiddlewaretoken": page.cookies.get("csrftoken", ""),
            }
            # Password hashing is slow by design; 50 sign-ins at once queue behind each other.
            answer = await page.post("/login/", data=form, timeout=300)
        except self.httpx.HTTPError as e:
            self.fail("login", f"{type(e).__name__}: {e}", soak=True)
            return False
        if answer.status_code != 302 or "sessionid" not in page.cookies:
            self.fail("login", f"{answer.status_code} {answer.text[:200]}", soak=True)
            return False
        return True

    async def call(self, route: str, page, rng: random.Random, client: int, sequence: int):
        """One request of the route; returns None when it did what it should, else what went wrong."""
        ticket = rng.choice(self.c["ticket_ids"])
        if route == "queue_page":
            answer = await page.get("/", params=rng.choice(QUEUE_VIEWS))
        elif route == "ticket_page":
            answer = await page.get(f"/tickets/{ticket}/")
        elif route == "recommendation_get":
            answer = await self.api.get(f"/api/v1/tickets/{ticket}/recommendation/", headers=self.token)
        elif route == "recommendation_post":
            answer = await self.api.post(
                "/api/v1/recommendations/", json=rng.choice(self.c["drafts"]), headers=self.token
            )
        elif route == "bulk_ingest":
            size = self.c["bulk_size"]
            tickets = [
                {
                    **rng.choice(self.c["drafts"]),
                    "external_id": f"LOAD-{client}-{sequence}-{n}-{uuid.uuid4().hex[:8]}",
                }
                for n in range(size)
            ]
            answer = await self.api.post(
                "/api/v1/tickets/bulk/", json={"source": "load", "tickets": tickets}, headers=self.token
            )
            if answer.status_code == 200 and answer.json().get("created") != size:
                return f"bulk created {answer.json().get('created')} of {size}: {answer.text[:200]}"
        else:
            agent = self.c["agent_tokens"][client % len(self.c["agent_tokens"])]
            size = self.c["edge_batch"]
            headers = {"Authorization": f"Agent {agent}", "Content-Type": "application/json"}
            answer = await self.api.post(
                "/api/v1/edge/predictions/", content=edge_batch(client, size), headers=headers
            )
            if answer.status_code == 200 and answer.json().get("accepted") != size:
                return f"edge accepted {answer.json().get('accepted')} of {size}"
        if answer.status_code != 200:
            return f"{answer.status_code} {answer.text[:200]}"
        if route.startswith("recommendation") and "recommendations" not in answer.json():
            return f"no recommendations in {answer.text[:200]}"
        return None

    async def timed(self, route: str, page, rng: random.Random, client: int, sequence: int) -> None:
        started = time.perf_counter()
        try:
            problem = await self.call(route, page, rng, client, sequence)
        except (self.httpx.HTTPError, ValueError) as e:  # ValueError: a body that is not JSON
            problem = f"{type(e).__name__}: {e}"
        soak = started >= self.soak_start
        if problem:
            self.fail(route, problem, soak)
        elif soak:
            self.latencies[route].append((time.perf_counter() - started) * 1000)

    async def client(self, index: int, page) -> None:
        rng = random.Random(self.c["seed"] * 1000 + index)
        sequence = 0
        while time.perf_counter() < self.end:
            sequence += 1
            await self.timed(self.next_route(), page, rng, index, sequence)
            if self.c["think_ms"]:  # people pause between clicks; 0 makes a pure closed loop
                await asyncio.sleep(rng.expovariate(1000 / self.c["think_ms"]))

    async def run(self) -> dict:
        pages = [
            self.httpx.AsyncClient(base_url=self.c["base"], timeout=60) for _ in range(self.c["clients"])
        ]
        try:
            signed_in = await asyncio.gather(*(self.login(page) for page in pages))
            # Every route a few times per gunicorn worker at once, before the clock starts, so each
            # worker has loaded the model: the soak then measures serving, not start-up.
            self.soak_start = self.end = math.inf
            rng = random.Random(self.c["seed"])
            await asyncio.gather(
                *(
                    self.timed(route, pages[0], rng, 0, -n)
                    for route in self.weights
                    for n in range(2 * self.c["gunicorn_workers"])
                )
            )
            self.soak_start = time.perf_counter() + self.c["warmup"]
            self.end = self.soak_start + self.c["duration"]
            clients = [
                self.client(i, page) for i, (page, ok) in enumerate(zip(pages, signed_in, strict=True)) if ok
            ]
            await asyncio.gather(self.announce(), *clients)
        finally:
            await asyncio.gather(self.api.aclose(), *(page.aclose() for page in pages))
        return self.results()

    async def announce(self) -> None:
        await asyncio.sleep(max(0.0, self.soak_start - time.perf_counter()))
        print("soak-start", flush=True)
        await asyncio.sleep(max(0.0, self.end - time.perf_counter()))
        print("soak-end", flush=True)

    def results(self) -> dict:
        seconds = self.c["duration"]
        routes = {}
        for route, times in self.latencies.items():
            times.sort()
            routes[route] = {
                "count": len(times),
                "errors": self.errors[route],
                **{f"p{p}_ms": round(percentile(times, p), 1) if times else None for p in (50, 95, 99)},
                "rps": round(len(times) / seconds, 2),
            }
        total = sum(len(t) for t in self.latencies.values())
        errors = sum(self.errors.values()) + self.warmup_errors
        return {
            "routes": routes,
            "requests": total,
            "rps": round(total / seconds, 1),
            "errors": errors,
            "warmup_errors": self.warmup_errors,
            "error_samples": self.samples,
        }


def drive(config_path: str, out: str) -> int:
    config = json.loads(Path(config_path).read_text())
    results = asyncio.run(Driver(config).run())
    Path(out).write_text(json.dumps(results))
    return 0
