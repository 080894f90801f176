"""Web processes import ml code (registry, services, tasks, admin) without loading torch or transformers."""

import subprocess
import sys

from django.conf import settings

CODE = """
import sys, django
django.setup()
import ml.admin, ml.dataset, ml.evaluation, ml.quality, ml.registry, ml.services, ml.tasks, ml.training
import ml.compression, ml.distillation, ml.quantization, ml.inference, ml.recommendations, ml.edge
import ml.drift, ml.retraining, ml.shadow, ml.placement_service, ml.feedback, ml.webhooks
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
