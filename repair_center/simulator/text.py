"""Operator text as NOC staff type it: short, abbreviated, pasted alarm lines, typos, sometimes
misleading customer wording, sometimes nothing at all. Mostly generic on purpose: in real tickets the
words say little about the root cause."""

from random import Random

SYMPTOM_WORDS = {
    "CPRI_LINK_DOWN": ("cpri link dwn", "CPRI down", "RU not reachable", "sector down", "cpri alm"),
    "CELL_UNAVAILABLE": ("cell down", "cell unavail", "site down", "site dark", "cells OOS"),
    "CELL_DEGRADED": ("kpi degradation", "high drop rate", "bad kpis", "accessibility low", "cell degraded"),
    "VSWR_HIGH": ("vswr alm", "VSWR high", "antenna alarm", "vswr major"),
    "S1_LINK_DOWN": ("s1 down", "S1 link failure", "site isolated", "no backhaul", "transport down"),
    "BB_RESTART": ("bb restarted", "baseband reset", "site restarted", "BBU reboot"),
    "BATTERY_LOW": ("batt low", "battery low", "site on batteries", "low voltage"),
    "MW_LINK_DOWN": ("MW down", "mw link dwn", "microwave hop down", "radio link down"),
    "SYNC_HOLDOVER": ("sync loss", "holdover", "gps alarm", "clock alm"),
    "HIGH_TEMPERATURE": ("high temp", "temp alarm", "cabinet hot", "overtemp"),
}
GENERIC = (
    "pls chk",
    "pls check asap",
    "alarm not clearing",
    "raised by NOC L1",
    "assigned to field team",
    "monitoring",
    "seen on OSS",
    "cust impact unknown",
    "pls investigate",
    "L1 checked, escalating to L2",
    "no access to site logs",
    "recurring?",
    "same as last week??",
    "urgent",
    "FYI",
    "chk and update",
    "remote reset not tried yet",
    "waiting for FE",
    "priority per SLA",
    "not sure if related to other tkt",
)
COMPLAINTS = (
    "no coverage near the stadium",
    "customers report no signal at the mall",
    "calls dropping on highway",
    "VIP complaint: no data downtown",
    "no 4G at the train station",
    "slow internet reported by enterprise cust",
    "multiple complaints from hospital area",
    "no service in the harbour area",
    "customer says no bars at home",
)
# Phrases that point at the true cause (written by someone who looked closer), keyed by cause.
HINTS = {
    "RU_HW_FAULT": ("RU hw alarm seen", "pa fault on RU", "RU looks dead", "ru overtemp before"),
    "FIBRE_DIRTY": ("rx power flapping", "optical levels marginal", "rx low on and off"),
    "SFP_FAILED": ("sfp rx very low", "sfp tx fault", "sfp suspect"),
    "CPRI_CONNECTOR": ("contractor on site yday", "after site work", "flapping since visit"),
    "BB_SW_CRASH": ("all sectors down at once", "bb crash dump", "process crash"),
    "SW_REGRESSION": ("after upgrade last nite", "sw upgrade this morning", "new load installed"),
    "MEMORY_LEAK": ("memory high for days", "mem util creeping up", "known leak?"),
    "LICENCE_EXPIRED": ("licence warning ignored", "lic expired?", "feature disabled"),
    "CONFIG_ERROR": ("param change by script", "after config push", "wrong tac?"),
    "MAINS_SHORT": ("power cut in area", "utility outage", "grid down"),
    "MAINS_LONG": ("storm took out power", "utility says long outage", "no power eta"),
    "BATTERY_AGED": ("batteries old", "batt test failed", "no autonomy"),
    "PSU_FAULT": ("psu led red", "rectifier alarm", "dc low"),
    "RAIN_FADE": ("heavy rain in area", "raining hard", "weather related?"),
    "MW_MISALIGN": ("after storm", "rsl dropped since wind", "dish moved?"),
    "MW_ODU_FAULT": ("odu alarm", "odu hw fault", "radio odu dead"),
    "TRANSPORT_PROVIDER": ("several sites down same area", "leased line down", "provider issue?"),
    "PTP_TRANSPORT": ("ptp unlock", "grandmaster issue?", "pdv high"),
    "GNSS_ANTENNA": ("snow on gps antenna?", "no satellites", "gps antenna iced"),
    "FAN_FAILED": ("fan alarm", "fan noisy", "fan speed low"),
    "COOLING_OVERLOAD": ("heatwave", "aircon not coping", "very hot today"),
    "FEEDER_CORROSION": ("vswr creeping for weeks", "water in connector", "corroded jumper?"),
    "FEEDER_DAMAGE": ("storm damage?", "feeder hit by ice", "antenna damaged"),
    "TRANSIENT": ("cleared by itself", "self cleared", "chattering alarm"),
    "BASEBAND_HW": ("bb keeps rebooting", "multiple resets", "bbu unstable"),
    "RELEASE_BUG": ("after new release", "cell setup timeout", "new sw load issue"),
}
NOTES = {
    "REPLACE_RU": ("replaced RU, cpri up", "swapped radio unit sec{s}", "RU changed, alarms cleared"),
    "CLEAN_FIBRE": ("cleaned fibre both ends, rx ok now", "fibre cleaned, link up", "re-terminated fibre"),
    "REPLACE_SFP": ("swapped sfp, link up", "new sfp fitted", "sfp replaced on BB side"),
    "RESEAT_CPRI": ("reseated cpri conn", "cpri connector loose, reseated", "reseated and secured"),
    "REBOOT_BASEBAND": ("remote reboot of bb, ok", "bb restarted, cells up", "rebooted BBU"),
    "ROLLBACK_SW": ("rolled back sw", "fallback to previous load", "sw rollback done"),
    "APPLY_PATCH": ("patch applied", "installed vendor patch", "patched, monitoring mem"),
    "RENEW_LICENCE": ("licence renewed", "new lic file installed", "licence key updated"),
    "FIX_CONFIG": ("fixed param", "config reverted", "corrected config"),
    "REALIGN_MW": ("realigned dish, rsl nominal", "mw antenna realigned", "dish re-pointed"),
    "NO_ACTION_RAIN_FADE": ("rain fade, recovered", "link back after rain", "no action, weather"),
    "DISPATCH_GENERATOR": ("genset dispatched", "mobile generator on site", "gen connected"),
    "WAIT_UTILITY_POWER": ("mains back", "utility restored", "power restored by utility"),
    "REPLACE_PSU": ("psu replaced", "swapped PSU", "new rectifier module"),
    "REPLACE_FAN": ("fan unit replaced", "new fan fitted", "fan swapped"),
    "REPLACE_BATTERY": ("batteries replaced", "new battery string", "batt bank swapped"),
    "REPLACE_GNSS_ANTENNA": ("gps antenna replaced", "new gnss antenna", "gnss ant swapped"),
    "REPAIR_FEEDER": ("jumper replaced, vswr ok", "feeder repaired", "connector rewrapped"),
    "ESCALATE_TRANSPORT": (
        "provider fixed line",
        "escalated to transport, restored",
        "TX provider case closed",
    ),
    "NO_FAULT_FOUND": ("nff", "no fault found", "alarm gone, nothing found"),
    "SERVICE_COOLING": ("filters cleaned", "aircon serviced", "cooling serviced"),
    "REPLACE_MW_ODU": ("odu replaced", "new ODU fitted", "swapped odu"),
    "REPLACE_BASEBAND": ("bbu replaced", "baseband swapped", "new BB, config restored"),
    "APPLY_HOTFIX": ("hotfix applied", "vendor hotfix installed", "hotfix, cells up"),
}
ABBREVIATIONS = {
    "please": "pls",
    "check": "chk",
    "alarm": "alm",
    "down": "dwn",
    "customer": "cust",
    "site": "ste",
    "tonight": "2nite",
    "with": "w/",
    "because": "bc",
}


def typo(r: Random, text: str) -> str:
    """One keyboard slip: a swapped, dropped or doubled letter in a random word."""
    words = text.split(" ")
    i = r.randrange(len(words))
    word = words[i]
    if len(word) < 4:
        return text
    j = r.randrange(1, len(word) - 1)
    kind = r.random()
    if kind < 0.4:
        word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    elif kind < 0.7:
        word = word[:j] + word[j + 1 :]
    else:
        word = word[:j] + word[j] + word[j:]
    words[i] = word
    return " ".join(words)


def _style(r: Random, text: str) -> str:
    roll = r.random()
    if roll < 0.3:
        text = typo(r, text)
    elif roll < 0.45:
        text = " ".join(ABBREVIATIONS.get(w, w) for w in text.split(" "))
    if r.random() < 0.2:
        text = text.upper()
    return text


def alarm_line(r: Random, raw: str, code: str, where: str, at: str) -> str:
    """An alarm as pasted from the OSS alarm list."""
    name = code.replace("_", " ").title()
    line = r.choice(
        (
            f"{at} {raw} {name} {where}",
            f"*** {raw} | {name} | obj={where} | sev=MAJOR",
            f"ALM {raw} ({name}) on {where} raised {at}",
        )
    )
    return line.strip()


def title(r: Random, *, symptom: str, raw: str, site: str, where: str, at: str) -> str:
    roll = r.random()
    if roll < 0.3:
        return alarm_line(r, raw, symptom, where, at)
    if roll < 0.55:
        return _style(r, f"{r.choice(SYMPTOM_WORDS[symptom])} {site}")
    if roll < 0.75:
        return (
            _style(r, r.choice(("site alarm", "ticket from OSS", "fault", "outage", "NOC alarm")))
            + f" {site}"
        )
    if roll < 0.88:
        return r.choice(COMPLAINTS)
    return _style(r, r.choice(SYMPTOM_WORDS[symptom]))


def description(r: Random, *, cause: str, decoy: str, lines: list[str]) -> str:
    """The description; ``lines`` are extra alarm lines the operator may paste."""
    if r.random() < 0.13:
        return ""
    parts = []
    for _ in range(r.randint(1, 3)):
        parts.append(_style(r, r.choice(GENERIC)))
    roll = r.random()
    if roll < 0.14:
        parts.insert(r.randrange(len(parts) + 1), _style(r, r.choice(HINTS[cause])))
    elif roll < 0.2 and decoy:
        # Someone guessed wrong: a hint that points at another cause with the same alarm.
        parts.insert(r.randrange(len(parts) + 1), _style(r, r.choice(HINTS[decoy])))
    if r.random() < 0.1:
        parts.append(r.choice(COMPLAINTS))
    if lines and r.random() < 0.35:
        parts.append(r.choice(lines))
    separator = r.choice((". ", "\n", " - ", ", "))
    # The canonical document strips text; so must we, or a re-import would count as a change.
    return separator.join(parts).strip()


def resolution_notes(r: Random, resolution: str, sector: int) -> str:
    if r.random() < 0.08:
        return ""
    return _style(r, r.choice(NOTES[resolution]).replace("{s}", str(sector + 1))).strip()
