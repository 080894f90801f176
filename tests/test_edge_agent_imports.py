"""The edge agent is standalone: importing all of it loads neither Django nor torch."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # imports in a clean subprocess

ROOT = Path(__file__).resolve().parent.parent

CODE = """
import sys
import edge_agent, edge_agent.agent, edge_agent.bundle, edge_agent.client, edge_agent.inbox
import edge_agent.outbox, edge_agent.retrain, edge_agent.serialization, edge_agent.server, edge_agent.__main__

forbidden = ("django", "torch", "transformers", "sklearn", "ml")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
print(",".join(heavy) or "clean")
"""


def test_importing_every_agent_module_loads_neither_django_nor_torch():
    result = subprocess.run(
        [sys.executable, "-s", "-c", CODE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},  # a clean environment: no DJANGO_SETTINGS_MODULE, no PYTHONPATH
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_the_agent_command_line_describes_itself():
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "--central" in result.stdout and "--enrol" in result.stdout and "--data-dir" in result.stdout
