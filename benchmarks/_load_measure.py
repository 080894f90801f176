"""What the load benchmark measures on the server side: the RSS of every gunicorn and Celery
process, and the workers' own time per route from gunicorn's access log."""

import os
import re
import subprocess
from pathlib import Path

ACCESS_LINE = re.compile(r'"(GET|POST) ([^ ?]+)\S* HTTP/[0-9.]+" \d{3} .* (\d+)$')


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def process_roles(servers: dict[str, subprocess.Popen]) -> dict[int, str]:
    """pid -> role for each server's main process and its children (gunicorn and pool workers)."""
    roles = {}
    for name, process in servers.items():
        roles[process.pid] = f"{name} master"
        for n, child in enumerate(children(process.pid), 1):
            roles[child] = f"{name} worker {n}"
    return roles


def memory_report(start: dict[int, tuple[str, float | None]], end: dict[int, str]) -> tuple[list, list]:
    """Per process RSS at the start and end of the soak; plus problems (processes gone or new)."""
    rows, problems = [], []
    for pid, (role, before) in start.items():
        after = rss_mb(pid)
        growth = round(100 * (after - before) / before, 1) if before and after is not None else None
        rows.append(
            {"role": role, "pid": pid, "rss_start_mb": before, "rss_end_mb": after, "growth_pct": growth}
        )
        if after is None:
            problems.append(f"{role} (pid {pid}) exited during the soak")
    for pid, role in end.items():
        if pid not in start:
            problems.append(f"{role} (pid {pid}) started during the soak: a process was replaced")
    return rows, problems


def route_of(method: str, path: str) -> str | None:
    if method == "GET" and path == "/":
        return "queue_page"
    if method == "GET" and path.startswith("/tickets/"):
        return "ticket_page"
    if path.endswith("/recommendation/"):
        return "recommendation_get"
    return {
        "/api/v1/recommendations/": "recommendation_post",
        "/api/v1/tickets/bulk/": "bulk_ingest",
        "/api/v1/edge/predictions/": "edge_predictions",
    }.get(path)


def server_times(log: Path, start: int, end: int) -> dict[str, list[float]]:
    """Milliseconds gunicorn's workers spent per route, from the access lines of the soak."""
    with open(log, "rb") as lines:
        lines.seek(start)
        chunk = lines.read(end - start).decode(errors="replace")
    times: dict[str, list[float]] = {}
    for match in filter(None, map(ACCESS_LINE.search, chunk.splitlines())):
        route = route_of(match[1], match[2])
        if route:
            times.setdefault(route, []).append(float(match[3]))
    return times
