"""What each root cause leaves in the event history: precursor alarms, their order and how long before
the fault (minutes relative to the first alarm). Evidence can be missing; the generator drops some."""

from random import Random

from repair_center.simulator.catalogue import DRIFT_CODE

H = 60
D = 24 * 60
# (minutes relative to the first alarm, event kind, curated code or "", attrs)
Observation = tuple[int, str, str, dict]


def _raised(offset: float, code: str, **attrs) -> Observation:
    return (int(offset), "alarm_raised", code, attrs)


def _cleared(offset: float, code: str, **attrs) -> Observation:
    return (int(offset), "alarm_cleared", code, attrs)


def ru_fault(r: Random, ctx: dict) -> list[Observation]:
    out = [_raised(-r.uniform(1, 12), r.choice(("RU_HW_FAILURE", "RU_PA_FAULT")), sector=ctx["sector"] + 1)]
    if r.random() < 0.4:
        out.append(_raised(-r.uniform(30, 180), "RU_OVER_TEMPERATURE", temp_c=round(r.uniform(78, 92), 1)))
    # The RU stops transmitting, so the baseband sees optical power vanish *after* the link drops.
    if r.random() < 0.6:
        out.append(_raised(r.uniform(1, 4), "SFP_RX_POWER_LOW", rx_dbm=round(r.uniform(-40, -30), 1)))
    return out


def dirty_fibre(r: Random, ctx: dict) -> list[Observation]:
    out = []
    t = -r.uniform(1.5 * D, 5 * D)
    for _ in range(r.randint(2, 4)):
        out.append(_raised(t, "SFP_RX_POWER_LOW", rx_dbm=round(r.uniform(-17.5, -13.5), 1)))
        out.append(_cleared(t + r.uniform(5, 90), "SFP_RX_POWER_LOW"))
        t += r.uniform(4 * H, 20 * H)
        if t > -6 * H:
            break
    return out


def sfp_failed(r: Random, ctx: dict) -> list[Observation]:
    out = [_raised(-r.uniform(1, 8), "SFP_RX_POWER_LOW", rx_dbm=round(r.uniform(-32, -24), 1))]
    out.append(_raised(-r.uniform(15, 50), r.choice(("SFP_TX_FAULT", "SFP_TEMP_HIGH"))))
    return out


def cpri_connector(r: Random, ctx: dict) -> list[Observation]:
    visit = -r.uniform(5 * H, 3 * D)
    out = [(int(visit), "maintenance_visit", "", {"work": r.choice(("antenna swap", "RU install", "audit"))})]
    t = visit + r.uniform(60, 240)
    for _ in range(r.randint(2, 3)):
        out.append(_raised(t, "CPRI_LINK_DOWN", sector=ctx["sector"] + 1))
        out.append(_cleared(t + r.uniform(1, 10), "CPRI_LINK_DOWN", sector=ctx["sector"] + 1))
        t += r.uniform(30, 300)
        if t > -20:
            break
    return out


def bb_crash(r: Random, ctx: dict) -> list[Observation]:
    out = [_raised(-r.uniform(0.5, 3), "BB_PROCESS_CRASH", process=r.choice(("l2sched", "rrcmgr", "oam")))]
    # Every sector drops at once when the baseband itself falls over.
    for sector in (1, 2, 3):
        if sector != ctx["sector"] + 1:
            out.append(_raised(r.uniform(0, 2), "CPRI_LINK_DOWN", sector=sector))
    if r.random() < 0.5:
        out.append(_raised(r.uniform(2, 6), "BB_WATCHDOG_RESET"))
    return out


def sw_regression(r: Random, ctx: dict) -> list[Observation]:
    previous = ctx["previous_software"]
    return [
        (int(-r.uniform(50, 4 * H)), "software_upgrade", "", {"from": previous, "to": ctx["software"]}),
    ]


def memory_leak(r: Random, ctx: dict) -> list[Observation]:
    out = []
    for days, pct in ((r.uniform(5, 9), 84), (r.uniform(2, 4), 90), (r.uniform(0.2, 1), 96)):
        if r.random() < 0.85:
            out.append(_raised(-days * D, "MEMORY_HIGH", mem_pct=pct + r.randrange(0, 4)))
    return out


def licence(r: Random, ctx: dict) -> list[Observation]:
    out = [_raised(-r.uniform(2, 4) * D, "LICENSE_EXPIRY_WARNING", days_left=3)]
    if r.random() < 0.6:
        out.append(_raised(-r.uniform(12, 15) * D, "LICENSE_EXPIRY_WARNING", days_left=14))
    out.append(_raised(-r.uniform(0, 2), "LICENSE_EXPIRED", feature=r.choice(("carrier-agg", "mimo-4x4"))))
    return out


def config(r: Random, ctx: dict) -> list[Observation]:
    param = r.choice(("tac", "pci", "s1-ip", "vlan", "earfcn", "max-tx-power"))
    out = [
        (int(-r.uniform(8, 80)), "config_change", "", {"param": param, "by": r.choice(("script", "user"))})
    ]
    if r.random() < 0.5:
        out.append(_raised(-r.uniform(1, 6), "CONFIG_MISMATCH", param=param))
    return out


def mains_short(r: Random, ctx: dict) -> list[Observation]:
    fail = -r.uniform(70, 4 * H)
    return [
        (int(fail), "power", "", {"type": "mains_fail", "utility_eta_h": r.randint(1, 4)}),
        _raised(fail + 1, "MAINS_FAILURE"),
        _raised(-r.uniform(3, 25), "BATTERY_LOW", volt=round(r.uniform(44, 46.5), 1)),
    ]


def mains_long(r: Random, ctx: dict) -> list[Observation]:
    fail = -r.uniform(70, 4 * H)
    return [
        (
            int(fail - r.uniform(2 * H, 10 * H)),
            "weather",
            "",
            {"type": "storm", "wind_kmh": r.randint(80, 140)},
        ),
        (int(fail), "power", "", {"type": "mains_fail", "utility_eta_h": r.randint(8, 48)}),
        _raised(fail + 1, "MAINS_FAILURE"),
        _raised(-r.uniform(3, 25), "BATTERY_LOW", volt=round(r.uniform(44, 46.5), 1)),
    ]


def battery_aged(r: Random, ctx: dict) -> list[Observation]:
    # A short mains dip that a healthy battery rides through; this one collapses within minutes.
    fail = -r.uniform(8, 25)
    return [
        _raised(-r.uniform(4, 25) * D, "BATTERY_TEST_FAIL", capacity_pct=r.randint(35, 65)),
        (int(fail), "power", "", {"type": "mains_dip", "seconds": r.randint(20, 600)}),
        _raised(fail + r.uniform(1, 5), "DC_VOLTAGE_LOW", volt=round(r.uniform(40, 44), 1)),
    ]


def psu(r: Random, ctx: dict) -> list[Observation]:
    out = [_raised(-r.uniform(1, 10), r.choice(("PSU_FAIL", "RECTIFIER_FAULT")))]
    if r.random() < 0.6:
        out.append(_raised(-r.uniform(0, 1), "DC_VOLTAGE_LOW", volt=round(r.uniform(38, 44), 1)))
    return out


def rain_fade(r: Random, ctx: dict) -> list[Observation]:
    return [
        (int(-r.uniform(10, 90)), "weather", "", {"type": "heavy_rain", "rain_mm_h": r.randint(20, 90)}),
        _raised(-r.uniform(1, 12), "MW_RSL_LOW", rsl_dbm=round(r.uniform(-80, -70), 1)),
        _cleared(r.uniform(15, 80), ctx["main_code"]),
    ]


def mw_misalign(r: Random, ctx: dict) -> list[Observation]:
    storm = -r.uniform(1 * D, 4 * D)
    kind = r.choice(("storm", "high_wind")) if ctx["climate"] != "cold" else r.choice(("storm", "snow_ice"))
    return [
        (int(storm), "weather", "", {"type": kind, "wind_kmh": r.randint(70, 130)}),
        _raised(storm + r.uniform(30, 600), "MW_RSL_LOW", rsl_dbm=round(r.uniform(-68, -58), 1)),
    ]


def mw_odu(r: Random, ctx: dict) -> list[Observation]:
    return [_raised(-r.uniform(0.5, 8), "MW_ODU_FAULT", odu_temp_c=r.randint(40, 85))]


def transport(r: Random, ctx: dict) -> list[Observation]:
    out = [_raised(-r.uniform(0.5, 4), "TRANSPORT_LOS", affected_sites=r.randint(3, 14))]
    if r.random() < 0.6:
        out.append(
            (int(-r.uniform(15, 60)), "kpi_breach", "PACKET_LOSS_HIGH", {"loss_pct": r.randint(3, 30)})
        )
    return out


def ptp(r: Random, ctx: dict) -> list[Observation]:
    return [
        (int(-r.uniform(30, 180)), "kpi_breach", "PACKET_LOSS_HIGH", {"pdv_us": r.randint(200, 2000)}),
        _raised(-r.uniform(2, 20), "PTP_LOCK_LOST"),
    ]


def gnss_antenna(r: Random, ctx: dict) -> list[Observation]:
    out = [_raised(-r.uniform(1 * H, 8 * H), "GNSS_SIGNAL_LOW", satellites=r.randint(0, 3))]
    if ctx["climate"] == "cold" or r.random() < 0.3:
        out.append(
            (
                int(-r.uniform(10 * H, 2 * D)),
                "weather",
                "",
                {"type": "snow_ice", "temp_c": r.randint(-25, -2)},
            )
        )
    return out


def fan(r: Random, ctx: dict) -> list[Observation]:
    return [
        _raised(-r.uniform(1 * H, 5 * H), "FAN_SPEED_LOW", rpm=r.randint(300, 1500)),
        _raised(-r.uniform(5, 40), "FAN_FAIL"),
    ]


def cooling(r: Random, ctx: dict) -> list[Observation]:
    return [
        (int(-r.uniform(3 * H, 1 * D)), "weather", "", {"type": "heatwave", "ambient_c": r.randint(37, 47)}),
        (int(-r.uniform(20, 2 * H)), "kpi_breach", "", {"type": "cabinet_temp", "temp_c": r.randint(48, 60)}),
    ]


def feeder_corrosion(r: Random, ctx: dict) -> list[Observation]:
    out = []
    for days, vswr in ((r.uniform(20, 40), 1.5), (r.uniform(7, 14), 1.7), (r.uniform(1, 4), 1.9)):
        if r.random() < 0.8:
            out.append(_raised(-days * D, "VSWR_WARNING", vswr=round(vswr + r.uniform(0, 0.15), 2)))
    if r.random() < 0.3:
        out.append(_raised(-r.uniform(1, 10) * D, "WATER_INGRESS"))
    return out


def feeder_damage(r: Random, ctx: dict) -> list[Observation]:
    kind = "snow_ice" if ctx["climate"] == "cold" and r.random() < 0.5 else "storm"
    return [(int(-r.uniform(3 * H, 2 * D)), "weather", "", {"type": kind, "wind_kmh": r.randint(80, 150)})]


def transient(r: Random, ctx: dict) -> list[Observation]:
    out = [_cleared(r.uniform(2, 12), ctx["main_code"])]
    # Chattering: the same alarm came and went by itself before.
    t = -r.uniform(2 * D, 10 * D)
    for _ in range(r.randint(1, 3)):
        out.append(_raised(t, ctx["main_code"]))
        out.append(_cleared(t + r.uniform(1, 8), ctx["main_code"]))
        t += r.uniform(6 * H, 2 * D)
        if t > -2 * H:
            break
    return out


def baseband_hw(r: Random, ctx: dict) -> list[Observation]:
    out = []
    t = -r.uniform(2 * D, 4 * D)
    for _ in range(3):
        out.append(_raised(t, "BB_WATCHDOG_RESET", uptime_h=r.randint(1, 40)))
        t += r.uniform(8 * H, 30 * H)
        if t > -H:
            break
    return out


def release_bug(r: Random, ctx: dict) -> list[Observation]:
    return [
        (
            int(-r.uniform(1 * D, 9 * D)),
            "software_upgrade",
            "",
            {"from": ctx["previous_software"], "to": ctx["software"]},
        ),
        _raised(-r.uniform(5, 3 * H), DRIFT_CODE, cells=r.randint(1, 3)),
    ]
