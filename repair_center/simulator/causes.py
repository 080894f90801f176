"""Hidden root causes and the observations each one produces.

A cause names its correct fix, how common it is (by climate, season, vendor, release and equipment age)
and which first alarm it raises. Several causes share each first alarm, so the alarm alone is ambiguous;
the evidence generators put the disambiguating signal into the event history: which precursor alarms,
in which order and how long before the fault.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random

from repair_center.simulator import evidence as ev
from repair_center.simulator.evidence import Observation
from repair_center.simulator.world import LEAKY_RELEASES, NEWEST_RELEASES

# --- how common each cause is, by context -----------------------------------------------------------------


def _age_factor(age_years: float, slope: float) -> float:
    return 1.0 + slope * max(0.0, age_years - 3.0)


@dataclass(frozen=True)
class Cause:
    key: str
    resolution: str
    weight: float
    symptoms: tuple[tuple[str, float], ...]
    evidence: Callable[[Random, dict], list[Observation]]
    climate: dict = field(default_factory=dict)
    seasons: dict = field(default_factory=dict)  # month -> multiplier
    vendor: dict = field(default_factory=dict)
    age_slope: float = 0.0
    evidence_rate: float = 0.9
    drift_only: bool = False

    def rate(
        self, *, climate: str, month: int, vendor: str, software: str, age: float, drifted: bool
    ) -> float:
        w = (
            self.weight
            * self.climate.get(climate, 1.0)
            * self.seasons.get(month, 1.0)
            * self.vendor.get(vendor, 1.0)
        )
        w *= _age_factor(age, self.age_slope)
        if self.key == "MEMORY_LEAK":
            w *= 0.2 if drifted else (3.0 if software in LEAKY_RELEASES else 0.25)
        elif self.key == "SW_REGRESSION":
            w *= 1.8 if drifted else (2.0 if software in NEWEST_RELEASES else 0.6)
        elif self.key == "CONFIG_ERROR" and drifted:
            w *= 1.4
        elif self.drift_only:
            w *= 1.0 if drifted else 0.0
        return w


WINTER = {12: 2.0, 1: 2.2, 2: 2.0, 3: 1.4, 11: 1.4}
SUMMER = {6: 1.8, 7: 2.4, 8: 2.2, 9: 1.3, 5: 1.2}
AUTUMN = {9: 1.5, 10: 2.0, 11: 1.8}

CAUSES: tuple[Cause, ...] = (
    Cause(
        "RU_HW_FAULT",
        "REPLACE_RU",
        5.0,
        (("CPRI_LINK_DOWN", 0.5), ("VSWR_HIGH", 0.2), ("CELL_DEGRADED", 0.3)),
        ev.ru_fault,
        climate={"hot": 1.4},
        vendor={"veltra": 1.3},
        age_slope=0.08,
    ),
    Cause(
        "FIBRE_DIRTY",
        "CLEAN_FIBRE",
        4.5,
        (("CPRI_LINK_DOWN", 0.75), ("CELL_DEGRADED", 0.25)),
        ev.dirty_fibre,
        climate={"hot": 1.6, "coastal": 1.2, "urban": 0.8},
    ),
    Cause(
        "SFP_FAILED",
        "REPLACE_SFP",
        3.5,
        (("CPRI_LINK_DOWN", 0.75), ("S1_LINK_DOWN", 0.25)),
        ev.sfp_failed,
        vendor={"nordlink": 1.3},
        age_slope=0.05,
    ),
    Cause("CPRI_CONNECTOR", "RESEAT_CPRI", 1.5, (("CPRI_LINK_DOWN", 1.0),), ev.cpri_connector),
    Cause(
        "BB_SW_CRASH",
        "REBOOT_BASEBAND",
        3.5,
        (("CPRI_LINK_DOWN", 0.4), ("CELL_UNAVAILABLE", 0.3), ("BB_RESTART", 0.3)),
        ev.bb_crash,
        vendor={"veltra": 1.3},
    ),
    Cause(
        "SW_REGRESSION",
        "ROLLBACK_SW",
        2.0,
        (("CPRI_LINK_DOWN", 0.25), ("CELL_UNAVAILABLE", 0.35), ("BB_RESTART", 0.2), ("S1_LINK_DOWN", 0.2)),
        ev.sw_regression,
    ),
    Cause("MEMORY_LEAK", "APPLY_PATCH", 1.5, (("BB_RESTART", 0.6), ("CELL_DEGRADED", 0.4)), ev.memory_leak),
    Cause(
        "LICENCE_EXPIRED",
        "RENEW_LICENCE",
        0.5,
        (("CELL_UNAVAILABLE", 0.5), ("CELL_DEGRADED", 0.5)),
        ev.licence,
    ),
    Cause(
        "CONFIG_ERROR",
        "FIX_CONFIG",
        2.5,
        (("CELL_UNAVAILABLE", 0.35), ("S1_LINK_DOWN", 0.35), ("CELL_DEGRADED", 0.3)),
        ev.config,
        climate={"urban": 1.4},
    ),
    Cause(
        "MAINS_SHORT",
        "WAIT_UTILITY_POWER",
        5.0,
        (("CELL_UNAVAILABLE", 0.55), ("BATTERY_LOW", 0.45)),
        ev.mains_short,
        climate={"urban": 1.5, "hot": 1.2},
        seasons=SUMMER,
    ),
    Cause(
        "MAINS_LONG",
        "DISPATCH_GENERATOR",
        2.5,
        (("CELL_UNAVAILABLE", 0.55), ("BATTERY_LOW", 0.45)),
        ev.mains_long,
        climate={"cold": 1.8, "coastal": 1.5, "urban": 0.4},
        seasons=WINTER,
    ),
    Cause(
        "BATTERY_AGED",
        "REPLACE_BATTERY",
        1.8,
        (("BATTERY_LOW", 0.6), ("CELL_UNAVAILABLE", 0.4)),
        ev.battery_aged,
        climate={"hot": 1.6},
        age_slope=0.12,
    ),
    Cause(
        "PSU_FAULT",
        "REPLACE_PSU",
        1.5,
        (("CELL_UNAVAILABLE", 0.5), ("BATTERY_LOW", 0.2), ("BB_RESTART", 0.3)),
        ev.psu,
        age_slope=0.05,
    ),
    Cause(
        "RAIN_FADE",
        "NO_ACTION_RAIN_FADE",
        3.5,
        (("MW_LINK_DOWN", 0.7), ("S1_LINK_DOWN", 0.3)),
        ev.rain_fade,
        climate={"coastal": 2.2, "hot": 0.3, "cold": 0.7},
        seasons=AUTUMN,
    ),
    Cause(
        "MW_MISALIGN",
        "REALIGN_MW",
        1.6,
        (("MW_LINK_DOWN", 0.75), ("S1_LINK_DOWN", 0.25)),
        ev.mw_misalign,
        climate={"cold": 1.6, "coastal": 1.4, "hot": 0.5},
        seasons=WINTER,
    ),
    Cause(
        "MW_ODU_FAULT",
        "REPLACE_MW_ODU",
        0.8,
        (("MW_LINK_DOWN", 0.8), ("S1_LINK_DOWN", 0.2)),
        ev.mw_odu,
        climate={"hot": 1.5},
        age_slope=0.06,
    ),
    Cause(
        "TRANSPORT_PROVIDER",
        "ESCALATE_TRANSPORT",
        2.5,
        (("S1_LINK_DOWN", 0.6), ("MW_LINK_DOWN", 0.2), ("CELL_UNAVAILABLE", 0.2)),
        ev.transport,
        climate={"urban": 1.6},
    ),
    Cause(
        "PTP_TRANSPORT", "ESCALATE_TRANSPORT", 0.8, (("SYNC_HOLDOVER", 1.0),), ev.ptp, climate={"urban": 1.8}
    ),
    Cause(
        "GNSS_ANTENNA",
        "REPLACE_GNSS_ANTENNA",
        1.4,
        (("SYNC_HOLDOVER", 0.8), ("CELL_DEGRADED", 0.2)),
        ev.gnss_antenna,
        climate={"cold": 3.0, "urban": 0.6},
        seasons=WINTER,
    ),
    Cause(
        "FAN_FAILED",
        "REPLACE_FAN",
        2.0,
        (("HIGH_TEMPERATURE", 0.85), ("BB_RESTART", 0.15)),
        ev.fan,
        climate={"hot": 1.5},
        age_slope=0.1,
    ),
    Cause(
        "COOLING_OVERLOAD",
        "SERVICE_COOLING",
        1.2,
        (("HIGH_TEMPERATURE", 0.9), ("CELL_DEGRADED", 0.1)),
        ev.cooling,
        climate={"hot": 4.0, "cold": 0.1, "coastal": 0.5},
        seasons=SUMMER,
    ),
    Cause(
        "FEEDER_CORROSION",
        "REPAIR_FEEDER",
        1.2,
        (("VSWR_HIGH", 0.8), ("CELL_DEGRADED", 0.2)),
        ev.feeder_corrosion,
        climate={"coastal": 5.0, "hot": 0.4, "cold": 0.4, "urban": 0.3},
        age_slope=0.1,
    ),
    Cause(
        "FEEDER_DAMAGE",
        "REPAIR_FEEDER",
        0.6,
        (("VSWR_HIGH", 1.0),),
        ev.feeder_damage,
        climate={"cold": 1.5, "coastal": 1.5, "hot": 0.3},
        seasons=WINTER,
    ),
    Cause(
        "TRANSIENT",
        "NO_FAULT_FOUND",
        2.5,
        (
            ("HIGH_TEMPERATURE", 0.2),
            ("CPRI_LINK_DOWN", 0.15),
            ("CELL_DEGRADED", 0.2),
            ("VSWR_HIGH", 0.1),
            ("SYNC_HOLDOVER", 0.15),
            ("MW_LINK_DOWN", 0.1),
            ("BATTERY_LOW", 0.1),
        ),
        ev.transient,
    ),
    Cause(
        "BASEBAND_HW",
        "REPLACE_BASEBAND",
        0.4,
        (("CELL_UNAVAILABLE", 0.5), ("BB_RESTART", 0.5)),
        ev.baseband_hw,
        age_slope=0.1,
    ),
    Cause(
        "RELEASE_BUG",
        "APPLY_HOTFIX",
        3.0,
        (("CELL_UNAVAILABLE", 0.6), ("CELL_DEGRADED", 0.4)),
        ev.release_bug,
        drift_only=True,
    ),
)
CAUSE_BY_KEY = {c.key: c for c in CAUSES}

# The element that raises each first alarm: the ticket's element does not depend on the cause.
SYMPTOM_ELEMENT = {
    "CPRI_LINK_DOWN": "radio-unit",
    "CELL_UNAVAILABLE": "baseband",
    "CELL_DEGRADED": "baseband",
    "VSWR_HIGH": "radio-unit",
    "S1_LINK_DOWN": "baseband",
    "BB_RESTART": "baseband",
    "BATTERY_LOW": "battery",
    "MW_LINK_DOWN": "microwave",
    "SYNC_HOLDOVER": "gnss",
    "HIGH_TEMPERATURE": "baseband",
}
# Alarms that come along with a symptom whatever its cause (carry no information about the cause).
COMPANIONS = {
    "CPRI_LINK_DOWN": ("CELL_UNAVAILABLE",),
    "CELL_UNAVAILABLE": ("CELL_DEGRADED",),
    "CELL_DEGRADED": ("UL_INTERFERENCE",),
    "VSWR_HIGH": ("CELL_DEGRADED",),
    "S1_LINK_DOWN": ("CELL_UNAVAILABLE", "ETH_PORT_DOWN"),
    "BB_RESTART": ("CELL_UNAVAILABLE",),
    "BATTERY_LOW": ("DC_VOLTAGE_LOW",),
    "MW_LINK_DOWN": ("S1_LINK_DOWN",),
    "SYNC_HOLDOVER": ("CLOCK_DRIFT", "GNSS_LOSS"),
    "HIGH_TEMPERATURE": ("RU_OVER_TEMPERATURE",),
}
# Unrelated events that happen around any fault.
NOISE_ALARMS = (
    "DOOR_OPEN",
    "HUMIDITY_HIGH",
    "UL_INTERFERENCE",
    "GENERATOR_RUNNING",
    "CLOCK_DRIFT",
    "ETH_PORT_DOWN",
    "PACKET_LOSS_HIGH",
    "FAN_SPEED_LOW",
    "VSWR_WARNING",
    "SFP_TEMP_HIGH",
)
