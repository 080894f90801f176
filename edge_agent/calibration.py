"""Top-label calibration of served probabilities: a stated 90% is right about 90% of the time.

Pure numpy, no Django or torch: the edge agent applies it to its student's probabilities, and
central imports it from here (ml.serving.calibration), so both apply the same map. The map is
fitted at training time on held-out validation tickets (ml.training.calibration) and travels with
the model as ``calibration.json``:

    {"format": 1, "method": "top-label-isotonic", "x": [...], "y": [...], "cap": 0.97, ...}

``x`` and ``y`` are the knots of a non-decreasing map from the top probability to how often the
top answer was right; between knots it is linear, beyond them flat. Maps fitted since the
temperature prior start with knots on the identity from (0, 0) up to the least confident validation
ticket, so a confidence validation never saw is served as stated (no format change: older maps,
flat below their first knot, load as they are). ``cap`` bounds every served
top probability: the share of the most confident validation tickets that were right, estimated
so that a handful of correct answers never reads as "always right".

The top answer's probability is replaced by the map's value and the other answers are scaled to
share the rest in their old proportions, so the ranking never changes.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FILE = "calibration.json"
FORMAT = 1
METHOD = "top-label-isotonic"
FLOOR_MARGIN = 1e-6


@dataclass(frozen=True, slots=True)
class Calibration:
    x: np.ndarray
    y: np.ndarray
    cap: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Calibration":
        if data.get("format") != FORMAT or data.get("method") != METHOD:
            raise ValueError(f"unsupported calibration {data.get('method')!r} v{data.get('format')}")
        x = np.asarray(data["x"], dtype=np.float64)
        y = np.asarray(data["y"], dtype=np.float64)
        if len(x) == 0 or len(x) != len(y) or np.any(np.diff(x) < 0) or np.any(np.diff(y) < -1e-12):
            raise ValueError("calibration knots must be non-empty, paired and non-decreasing")
        cap = float(data["cap"])
        if not (0.0 < cap <= 1.0) or np.any((y < 0) | (y > 1)):
            raise ValueError("calibrated probabilities must lie in [0, 1]")
        return cls(x=x, y=y, cap=cap)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "method": METHOD,
            "x": [round(float(v), 6) for v in self.x],
            "y": [round(float(v), 6) for v in self.y],
            "cap": round(float(self.cap), 6),
        }

    def top(self, confidence: np.ndarray) -> np.ndarray:
        """The calibrated probability of a top answer stated at ``confidence``."""
        calibrated: np.ndarray = np.minimum(np.interp(confidence, self.x, self.y), self.cap)
        return calibrated

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Rows of probabilities with the top one calibrated and the rest rescaled; ranks kept."""
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim != 2 or proba.shape[0] == 0 or proba.shape[1] < 2:
            return proba
        rows = np.arange(len(proba))
        top = proba.argmax(axis=1)
        p = proba[rows, top]
        rest = np.maximum(1.0 - p, 0.0)
        second = np.partition(proba, -2, axis=1)[:, -2]
        new = self.top(p)
        # The new top must stay above the rescaled runner-up: p' > p2 (1 - p') / (1 - p). A tie
        # would let argmax pick another answer, so a hair above it where the map would go below.
        floor = np.where(rest > 1e-12, second / np.maximum(rest + second, 1e-12), 0.0)
        new = np.clip(np.where(new <= floor, floor + FLOOR_MARGIN, new), 0.0, 1.0)
        out = np.empty_like(proba)
        saturated = rest <= 1e-12
        scale = np.where(saturated, 0.0, (1.0 - new) / np.where(saturated, 1.0, rest))
        out[:] = proba * scale[:, None]
        if saturated.any():  # nothing left to scale: the others share what the top gave up equally
            out[saturated] = ((1.0 - new[saturated]) / (proba.shape[1] - 1))[:, None]
        out[rows, top] = new
        return out

    def apply_one(self, proba: np.ndarray) -> np.ndarray:
        """``apply`` for one row of float64 probabilities [C], bit for bit: the same operations on
        Python floats instead of twenty numpy calls on a 1 x C array (the agent's hot path)."""
        if proba.ndim != 1 or proba.shape[0] < 2:
            return proba
        top = int(proba.argmax())
        p = float(proba[top])
        rest = max(1.0 - p, 0.0)
        second = float(np.partition(proba, -2)[-2])
        new = min(float(np.interp(p, self.x, self.y)), self.cap)
        floor = second / max(rest + second, 1e-12) if rest > 1e-12 else 0.0
        new = min(max(floor + FLOOR_MARGIN if new <= floor else new, 0.0), 1.0)
        if rest <= 1e-12:  # nothing left to scale: the others share what the top gave up equally
            out = np.full_like(proba, (1.0 - new) / (proba.shape[0] - 1))
        else:
            out = proba * ((1.0 - new) / rest)
        out[top] = new
        return out


def load(directory: Path) -> Calibration | None:
    """The calibration stored beside a model, or None for a model trained without one."""
    path = Path(directory) / FILE
    if not path.is_file():
        return None
    return Calibration.from_json(json.loads(path.read_text()))


def loads(content: bytes | None) -> Calibration | None:
    """The calibration from a bundle's file bytes (None when the bundle has none)."""
    if not content:
        return None
    return Calibration.from_json(json.loads(content))
