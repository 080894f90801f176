"""The served probabilities' calibration, as the web process applies it (see edge_agent.calibration).

A model trained before calibration was stored has no ``calibration.json`` and is served as it was.
"""

from edge_agent.calibration import FILE, Calibration, load

__all__ = ["FILE", "Calibration", "load"]
