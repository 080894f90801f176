"""A seeded network-operations simulator: hidden root causes produce alarms, events, operator text
and repair-centre findings, written as the project's own import files (see docs/simulator.md).

Plain Python with no Django import, so benchmarks can run it without a database.
"""

from repair_center.simulator.generator import SimulationConfig, TicketGenerator
from repair_center.simulator.writer import write_simulation

__all__ = ["SimulationConfig", "TicketGenerator", "write_simulation"]
