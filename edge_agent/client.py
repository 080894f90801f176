"""The agent's side of the central edge API (/api/v1/edge/), over httpx."""

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx


class CentralError(Exception):
    """Central answered with an error the agent cannot fix by retrying."""

    def __init__(self, status: int, body: str):
        super().__init__(f"central answered {status}: {body[:500]}")
        self.status = status


# What "central is unreachable or busy" looks like: retry later, keep buffering.
TRANSIENT = (httpx.TransportError,)


class CentralClient:
    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def _headers(self) -> dict[str, Any]:
        return {"Authorization": f"Agent {self.token}"} if self.token else {}

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json=body, headers=self._headers())
        if response.status_code >= 500:
            raise httpx.RemoteProtocolError(f"central answered {response.status_code}")
        if response.status_code >= 400:
            raise CentralError(response.status_code, response.text)
        answer: dict[str, Any] = response.json()
        return answer

    def enrol(self, *, token: str, name: str, capabilities: dict[str, Any]) -> dict[str, Any]:
        return self._post("/api/v1/edge/enrol/", {"token": token, "name": name, "capabilities": capabilities})

    def heartbeat(
        self, *, capabilities: dict[str, Any], backlog: int, model_version: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        return self._post(
            "/api/v1/edge/heartbeat/",
            {
                "capabilities": capabilities,
                "backlog": backlog,
                "model_version": model_version,
                "status": status,
            },
        )

    def post_predictions(self, predictions: list[dict[str, Any]]) -> dict[str, Any]:
        return self._post("/api/v1/edge/predictions/", {"predictions": predictions})

    def report(self, kind: str, metrics: dict[str, Any]) -> dict[str, Any]:
        return self._post("/api/v1/edge/reports/", {"kind": kind, "metrics": metrics})

    def etl(self, tickets: list[dict[str, Any]], *, dims: int = 64) -> dict[str, Any]:
        return self._post("/api/v1/edge/etl/", {"tickets": tickets, "dims": dims})

    def download(self, url: str, out: Path, *, etag: str | None = None) -> bool:
        """Stream a bundle to ``out`` (via a .part file); False when central says we have it (304)."""
        headers = self._headers()
        if etag:
            headers["If-None-Match"] = f'"{etag}"'
        part = out.with_name(out.name + ".part")
        with self._http.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return False
            if response.status_code >= 500:
                raise httpx.RemoteProtocolError(f"central answered {response.status_code}")
            if response.status_code >= 400:
                raise CentralError(response.status_code, response.read().decode(errors="replace"))
            with part.open("wb") as f:
                for chunk in response.iter_bytes(1 << 16):
                    f.write(chunk)
        os.replace(part, out)
        return True

    def close(self) -> None:
        self._http.close()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
