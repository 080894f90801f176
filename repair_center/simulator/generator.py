"""The ticket stream: one hidden root cause per ticket, turned into alarms, events, text, a recorded
(sometimes wrong) fix and, for hardware swaps, a repair-centre record. Tickets come out in opened_at order,
one at a time, so any number of them can be written in constant memory."""

import heapq
import random
import time
from calendar import timegm
from dataclasses import dataclass
from datetime import date, timedelta

from repair_center.simulator import text
from repair_center.simulator.catalogue import (
    DRIFT_CODE,
    RESOLUTION_MINUTES,
    SITE_VISIT,
    UNIT_BY_RESOLUTION,
    aliases,
)
from repair_center.simulator.causes import CAUSES, COMPANIONS, NOISE_ALARMS, SYMPTOM_ELEMENT, Cause
from repair_center.simulator.world import DRIFT_RELEASE, SOFTWARE, Element, SiteInfo, World

LABEL_NOISE = 0.04
CURATED_CODES_SHARE = 0.12  # tickets whose source system already normalised the alarm codes
REPEAT_SHARE = 0.03
RECUR_AFTER_WRONG_FIX = 0.6
RECENT_SIZE = 2048
MAX_PENDING_RECURRENCES = 5000
DAY = 86400
WEATHER_BY_CLIMATE = {
    "coastal": ("heavy_rain", "storm", "light_rain", "high_wind"),
    "hot": ("heatwave", "light_rain", "dust"),
    "cold": ("snow_ice", "storm", "light_rain"),
    "urban": ("light_rain", "heavy_rain", "heatwave"),
}
SYMPTOM_PRIORITY = {
    "CELL_UNAVAILABLE": "critical",
    "S1_LINK_DOWN": "critical",
    "MW_LINK_DOWN": "high",
    "CPRI_LINK_DOWN": "high",
    "BATTERY_LOW": "high",
    "BB_RESTART": "medium",
    "SYNC_HOLDOVER": "medium",
    "VSWR_HIGH": "medium",
    "HIGH_TEMPERATURE": "medium",
    "CELL_DEGRADED": "low",
}
REPAIR_ACTIONS = {
    "confirmed_fault": (
        "board replaced",
        "PA module replaced",
        "repaired and retested",
        "laser module faulty",
    ),
    "no_fault_found": ("tested OK, returned to stock", "no fault found after 48h soak", "passed all tests"),
    "physical_damage": ("water damage, scrapped", "connector broken, scrapped", "burnt, scrapped"),
    "pending": ("",),
}


@dataclass(frozen=True)
class SimulationConfig:
    tickets: int
    seed: int = 0
    start: date = date(2025, 1, 1)
    days: int = 365
    drift: date | None = None
    source: str = "sim"

    @property
    def cell_sites_per_region(self) -> int:
        return max(25, min(500, self.tickets // 200))


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(ts))


def _epoch(day: date) -> int:
    return timegm(day.timetuple())


@dataclass(frozen=True)
class _Scene:
    """Where and when a fault shows, as one ticket's steps share it."""

    site: SiteInfo
    sector: int
    drifted: bool
    opened: float  # epoch seconds
    symptom: str  # the curated code of the alarm the ticket is about
    element: Element
    t0: float  # epoch seconds of the first observation
    software: str
    ctx: dict  # what a cause's evidence may depend on


@dataclass(frozen=True)
class _Fix:
    correct: str
    recorded: str  # what the engineer wrote down: a wrong fix when the label is noisy
    noisy: bool
    unresolved: bool
    resolved: float  # epoch seconds


class TicketGenerator:
    """Iterate to get (document, truth, repair row or None) per ticket, deterministically for the config."""

    def __init__(self, config: SimulationConfig):
        self.config = config
        self.world = World(
            seed=config.seed, cell_sites_per_region=config.cell_sites_per_region, start=config.start
        )
        self.aliases = aliases(drift=config.drift is not None)
        self.start_ts = _epoch(config.start)
        self.span = config.days * DAY
        self.end_ts = self.start_ts + self.span
        self.drift_ts = _epoch(config.drift) if config.drift else None
        self._weights: dict[tuple, list[float]] = {}
        self._symptom_cum = {c.key: _cumulative([w for _, w in c.symptoms]) for c in CAUSES}
        by_symptom: dict[str, list[Cause]] = {}
        for cause in CAUSES:
            for symptom, _ in cause.symptoms:
                by_symptom.setdefault(symptom, []).append(cause)
        self._by_symptom = by_symptom

    # --- context ----------------------------------------------------------------------------------

    def _drifted(self, site, ts: float) -> bool:
        return self.drift_ts is not None and ts >= self.drift_ts + site.rollout_day * DAY

    def _cause_weights(self, site, ts: float, drifted: bool) -> list[float]:
        tm = time.gmtime(ts)
        key = (site.index, tm.tm_year, tm.tm_mon, drifted)
        found = self._weights.get(key)
        if found is None:
            if len(self._weights) > 50_000:
                self._weights.clear()
            software = DRIFT_RELEASE[site.vendor] if drifted else site.software
            age = (ts - _epoch(site.elements["radio-unit"][0].installed_on)) / (365.25 * DAY)
            rates = [
                c.rate(
                    climate=site.climate,
                    month=tm.tm_mon,
                    vendor=site.vendor,
                    software=software,
                    age=age,
                    drifted=drifted,
                )
                for c in CAUSES
            ]
            found = self._weights[key] = _cumulative(rates)
        return found

    # --- the stream -------------------------------------------------------------------------------

    def __iter__(self):
        cfg = self.config
        r = random.Random(f"{cfg.seed}:tickets")
        sites = self.world.sites
        site_cum = _cumulative(self.world.site_weights)
        recent: list[tuple] = []
        pending: list[tuple] = []  # heap of (due, seq, site index, cause key, sector, external id)
        step = self.span / cfg.tickets
        for i in range(cfg.tickets):
            external_id = f"SIM-{i + 1:07d}"
            opened = self.start_ts + (i + r.random()) * step
            repeat_of = ""
            if pending and pending[0][0] <= opened:
                _, _, site_index, cause_key, sector, repeat_of = heapq.heappop(pending)
                site = sites[site_index]
                cause = _CAUSE_BY_KEY[cause_key]
            elif recent and r.random() < REPEAT_SHARE:
                site_index, cause_key, sector, repeat_of = recent[r.randrange(len(recent))]
                site = sites[site_index]
                cause = _CAUSE_BY_KEY[cause_key]
            else:
                site = r.choices(sites, cum_weights=site_cum)[0]
                cause = None
                sector = r.randrange(3)
            drifted = self._drifted(site, opened)
            if cause is None:
                cause = r.choices(CAUSES, cum_weights=self._cause_weights(site, opened, drifted))[0]
            elif cause.key == "MEMORY_LEAK" and drifted:
                # The new release fixed the leak, so a leaking element that comes back now crashes instead.
                cause = _CAUSE_BY_KEY["BB_SW_CRASH"]
            doc, truth, repair, recur = self._ticket(
                r, external_id, opened, site, cause, sector, drifted, repeat_of
            )
            if recur is not None and len(pending) < MAX_PENDING_RECURRENCES:
                heapq.heappush(pending, (recur, i, site.index, cause.key, sector, external_id))
            entry = (site.index, cause.key, sector, external_id)
            if len(recent) < RECENT_SIZE:
                recent.append(entry)
            else:
                recent[i % RECENT_SIZE] = entry
            yield doc, truth, repair

    def _ticket(self, r, external_id, opened, site, cause, sector, drifted, repeat_of):
        """One ticket, in the order an outage unfolds. Each step draws from ``r`` in turn, so the
        same seed gives the same bytes: keep the steps, and the draws inside them, in this order."""
        scene = self._scene(r, opened, site, cause, sector, drifted)
        observations, codes, evidence_codes = self._observe(r, scene, cause, repeat_of)
        fix = self._fix(r, scene, cause, opened, observations)
        events, raw_codes = self._record(r, scene, observations, codes, fix)
        doc = self._document(r, scene, cause, external_id, codes, evidence_codes, fix)
        doc.update(error_codes=raw_codes, events=events)
        truth = {
            "external_id": external_id,
            "root_cause": cause.key,
            "correct_resolution": fix.correct,
            "recorded_resolution": None if fix.unresolved else fix.recorded,
            "label_noise": bool(fix.noisy and not fix.unresolved),
            "repeat_of": repeat_of or None,
            "drifted": drifted,
            "site": site.code,
            "region": site.region,
            "climate": site.climate,
        }
        repair = None
        if not fix.unresolved and UNIT_BY_RESOLUTION[fix.recorded]:
            raw_symptom = self.aliases[(site.vendor, scene.symptom)]
            repair = self._repair(
                r, external_id, site, sector, fix.recorded, fix.correct, fix.resolved, raw_symptom
            )
        recur = None
        if fix.noisy and not fix.unresolved and r.random() < RECUR_AFTER_WRONG_FIX:
            # The wrong fix left the real fault in place; it comes back within days.
            recur = fix.resolved + r.uniform(1, 14) * DAY
        return doc, truth, repair, recur

    def _scene(self, r, opened, site, cause, sector, drifted) -> "_Scene":
        """Where the fault shows: the symptom alarm, the element raising it, the software running."""
        vendor = site.vendor
        symptom = r.choices(cause.symptoms, cum_weights=self._symptom_cum[cause.key])[0][0]
        element = site.element(SYMPTOM_ELEMENT[symptom], sector)
        t0 = opened - r.uniform(2, 45) * 60
        versions = SOFTWARE[vendor]
        if drifted:
            software, previous = DRIFT_RELEASE[vendor], site.software
        else:
            software = site.software
            previous = versions[max(0, versions.index(software) - 1)]
            if previous == software:
                previous = software + "-rc"
        ctx = {
            "sector": sector,
            "climate": site.climate,
            "main_code": symptom,
            "software": software,
            "previous_software": previous,
        }
        return _Scene(site, sector, drifted, opened, symptom, element, t0, software, ctx)

    def _observe(self, r, scene: "_Scene", cause, repeat_of: str) -> tuple[list, list[str], list[str]]:
        """What the network showed before the ticket: the cause's evidence, companions, noise."""
        symptom, sector = scene.symptom, scene.sector
        observations = []
        if r.random() < 0.92:
            observations = cause.evidence(r, scene.ctx)
            if len(observations) > 1:
                observations = [o for o in observations if r.random() >= 0.08]
        evidence_codes = [o[2] for o in observations if o[2] and o[1] == "alarm_raised"]
        sectored = scene.element.kind == "radio-unit"
        observations.append((0, "alarm_raised", symptom, {"sector": sector + 1} if sectored else {}))
        codes = [symptom]
        for companion in COMPANIONS[symptom]:
            if r.random() < 0.45:
                codes.append(companion)
                observations.append((int(r.uniform(0, 3)), "alarm_raised", companion, {}))
        if evidence_codes and r.random() < 0.15:
            codes.append(r.choice(evidence_codes))
        if cause.key == "RELEASE_BUG" and r.random() < 0.75:
            codes.append(DRIFT_CODE)
        if r.random() < 0.06:
            # A confounder: another cause's evidence shows up by coincidence.
            other = r.choice(self._by_symptom[symptom])
            if other is not cause and not other.drift_only:
                observations.extend(other.evidence(r, scene.ctx)[:1])
        observations.extend(self._noise(r, scene.site, scene.drifted, scene.software))
        if repeat_of:
            observations.append(
                (int(-r.uniform(1, 20) * 1440), "maintenance_visit", "", {"ticket": repeat_of})
            )
        return observations, codes, evidence_codes

    def _fix(self, r, scene: "_Scene", cause, opened: float, observations: list) -> "_Fix":
        """The fix the engineer recorded (right most of the time, a plausible wrong one otherwise),
        when, and the symptom clearing then; the observations end up in time order."""
        symptom = scene.symptom
        correct = cause.resolution
        recorded = correct
        noisy = r.random() < LABEL_NOISE
        if noisy:
            recorded = self._wrong_fix(r, symptom, correct)
        unresolved = opened > self.end_ts - 0.015 * self.span and r.random() < 0.7
        minutes = RESOLUTION_MINUTES[recorded] * r.uniform(0.6, 1.8) + r.uniform(5, 120)
        if SITE_VISIT[recorded]:
            minutes += r.uniform(45, 240)
        resolved = opened + minutes * 60
        if not unresolved and not any(
            o[1] == "alarm_cleared" and o[2] == symptom and o[0] > 0 for o in observations
        ):
            observations.append(
                (int((resolved - scene.t0) / 60) - r.randrange(1, 10), "alarm_cleared", symptom, {})
            )
        observations.sort(key=_by_offset)
        return _Fix(correct, recorded, noisy, unresolved, resolved)

    def _record(self, r, scene: "_Scene", observations: list, codes: list[str], fix: "_Fix") -> tuple:
        """The events and codes as the ticketing system holds them: curated codes, or the vendor's
        raw alarm ids; events after the ticket opened are missing while it is unresolved."""
        use_curated = r.random() < CURATED_CODES_SHARE
        names, vendor = self.aliases, scene.site.vendor
        events = []
        for offset, kind, code, attrs in observations:
            at = scene.t0 + offset * 60
            if fix.unresolved and at > scene.opened:
                continue
            if code:
                code = code if use_curated else names[(vendor, code)]
            events.append({"at": _stamp(at), "kind": kind, "code": code or None, "attrs": attrs})
        raw_codes = []
        for code in codes:
            code = code if use_curated else names[(vendor, code)]
            if code not in raw_codes:
                raw_codes.append(code)
        return events, raw_codes

    def _document(self, r, scene: "_Scene", cause, external_id, codes, evidence_codes, fix) -> dict:
        """The canonical document an engineer would have written: NOC-style text, priority, status."""
        site, symptom, names, vendor = scene.site, scene.symptom, self.aliases, scene.site.vendor
        where = f"{scene.element.name}"
        opened_stamp = _stamp(scene.opened)
        lines = [text.alarm_line(r, names[(vendor, c)], c, where, opened_stamp[11:16]) for c in codes[1:2]]
        if evidence_codes and r.random() < 0.25:
            lines.append(text.alarm_line(r, names[(vendor, evidence_codes[0])], evidence_codes[0], where, ""))
        decoy = ""
        if r.random() < 0.5:
            other = r.choice(self._by_symptom[symptom])
            decoy = "" if other is cause or other.drift_only else other.key
        priority = SYMPTOM_PRIORITY[symptom]
        if site.tier != "cell-site" and priority != "critical":
            priority = "high" if priority != "high" else "critical"
        elif r.random() < 0.1:
            priority = r.choice(("critical", "high", "medium", "low"))
        unresolved, recorded = fix.unresolved, fix.recorded
        return {
            "source": self.config.source,
            "external_id": external_id,
            "title": text.title(
                r,
                symptom=symptom,
                raw=names[(vendor, symptom)],
                site=site.code,
                where=where,
                at=opened_stamp[11:16],
            ).strip(),
            "description": text.description(r, cause=cause.key, decoy=decoy, lines=lines),
            "status": r.choice(("acknowledged", "inProgress", "pending"))
            if unresolved
            else ("closed" if r.random() < 0.85 else "resolved"),
            "priority": priority,
            "opened_at": opened_stamp,
            "resolved_at": None if unresolved else _stamp(fix.resolved),
            "site": site.code,
            "element": scene.element.serial,
            "error_codes": [],
            "events": [],
            "resolution": None if unresolved else recorded,
            "resolution_notes": "" if unresolved else text.resolution_notes(r, recorded, scene.sector),
        }

    def _noise(self, r, site, drifted, software):
        out = []
        for _ in range(r.choices((0, 1, 2, 3), weights=(0.3, 0.35, 0.25, 0.1))[0]):
            roll = r.random()
            if roll < 0.35:
                code = r.choice(NOISE_ALARMS)
                t = -r.uniform(10, 10 * 1440)
                out.append((int(t), "alarm_raised", code, {}))
                if r.random() < 0.7:
                    out.append((int(t + r.uniform(2, 300)), "alarm_cleared", code, {}))
            elif roll < 0.55:
                kind = r.choice(WEATHER_BY_CLIMATE[site.climate])
                out.append((int(-r.uniform(60, 7 * 1440)), "weather", "", {"type": kind}))
            elif roll < 0.65:
                versions = SOFTWARE[site.vendor]
                to = software if r.random() < 0.5 else r.choice(versions)
                out.append(
                    (int(-r.uniform(6, 40) * 1440), "software_upgrade", "", {"from": versions[0], "to": to})
                )
            elif roll < 0.75:
                out.append(
                    (int(-r.uniform(2, 20) * 1440), "config_change", "", {"param": "routine", "by": "script"})
                )
            elif roll < 0.85:
                out.append((int(-r.uniform(7, 60) * 1440), "maintenance_visit", "", {"work": "preventive"}))
            elif roll < 0.93:
                out.append((int(r.uniform(5, 40)), "operator_note", "", {"text": r.choice(text.GENERIC)}))
            else:
                out.append(
                    (
                        int(-r.uniform(60, 3 * 1440)),
                        "kpi_breach",
                        "CELL_DEGRADED",
                        {"drop_pct": r.randint(2, 9)},
                    )
                )
        return out

    def _wrong_fix(self, r, symptom, correct):
        candidates = [
            c.resolution for c in self._by_symptom[symptom] if c.resolution != correct and not c.drift_only
        ]
        hardware = [c for c in candidates if UNIT_BY_RESOLUTION[c]]
        # The classic mislabel is swapping hardware that was fine.
        if hardware and r.random() < 0.6:
            return r.choice(hardware)
        return r.choice(candidates) if candidates else "NO_FAULT_FOUND"

    def _repair(self, r, external_id, site, sector, recorded, correct, resolved, reported):
        kind = UNIT_BY_RESOLUTION[recorded]
        unit = site.element(kind, sector)
        roll = r.random()
        if recorded == correct:
            finding = (
                "confirmed_fault" if roll < 0.88 else ("physical_damage" if roll < 0.95 else "no_fault_found")
            )
        else:
            finding = (
                "no_fault_found" if roll < 0.85 else ("confirmed_fault" if roll < 0.95 else "physical_damage")
            )
        received = date(*time.gmtime(resolved)[:3]) + timedelta(days=r.randint(2, 10))
        closed = received + timedelta(days=r.randint(5, 30))
        if _epoch(closed) > self.end_ts and r.random() < 0.7:
            finding, closed_on = "pending", ""
        else:
            closed_on = closed.isoformat()
        return {
            "rma_id": f"RMA-{external_id[4:]}",
            "unit_kind": kind,
            "unit_serial": unit.serial,
            "ticket_source": self.config.source,
            "ticket_external_id": external_id,
            "reported_fault_code": reported,
            "finding": finding,
            "repair_action": r.choice(REPAIR_ACTIONS[finding]),
            "received_on": received.isoformat(),
            "closed_on": closed_on,
        }


def _by_offset(observation):
    return observation[0]


def _cumulative(weights):
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


_CAUSE_BY_KEY = {c.key: c for c in CAUSES}
