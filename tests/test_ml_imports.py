"""Web processes import ml code (registry, services, tasks, admin) without loading torch or transformers."""

import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow  # imports in clean subprocesses

CODE = """
import sys, django
django.setup()
import ml.admin, ml.tasks, ml.worker
import ml.core.dataset, ml.core.registry, ml.core.webhooks
import ml.serving.inference, ml.serving.recommendations, ml.serving.feedback
import ml.training.evaluation, ml.training.quality, ml.training.services, ml.training.fine_tuning
import ml.training.quantization, ml.compression.pipeline, ml.compression.distillation
import ml.monitoring.drift, ml.monitoring.retraining, ml.monitoring.shadow
import ml.fleet.edge, ml.fleet.placement_service
import ticketai.urls
from django.core.management import load_command_class

for name in ("train", "distil", "predict"):
    load_command_class("ml", name)
print(",".join(sorted(m for m in ("torch", "transformers", "sklearn") if m in sys.modules)) or "none")
"""


def test_importing_ml_code_loads_no_heavy_ml_library():
    result = subprocess.run(
        [sys.executable, "-c", CODE], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "none"
