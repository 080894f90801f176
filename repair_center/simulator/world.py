"""The simulated network: regions with their climates, sites, and elements of two vendors.

The error codes and fixes are in catalogue.py."""

import random
from dataclasses import dataclass
from datetime import date, timedelta

# Two RAN vendors whose raw alarm ids differ for the same condition, so the alias table matters.
VENDORS = ("nordlink", "veltra")
VENDOR_PREFIX = {"nordlink": "NL", "veltra": "VT"}
SOFTWARE = {
    "nordlink": ("R21.4", "R22.1", "R23.2"),
    "veltra": ("5.4.0", "5.6.2", "6.1.0"),
}
# The release with a known memory leak (fixed by a patch) and the newest one (most upgrade regressions).
LEAKY_RELEASES = {"R22.1", "5.6.2"}
NEWEST_RELEASES = {"R23.2", "6.1.0"}
# Rolled out after --drift; it brings a new failure mode (CELL_SETUP_TIMEOUT, fixed by APPLY_HOTFIX).
DRIFT_RELEASE = {"nordlink": "R24.1", "veltra": "7.0.0"}

# region -> (climate, share of nordlink sites, latitude, longitude)
REGIONS = {
    "north": ("cold", 0.7, 68.4, 17.4),
    "west": ("coastal", 0.5, 60.4, 5.3),
    "south": ("hot", 0.3, 37.4, -5.9),
    "capital": ("urban", 0.6, 59.9, 10.7),
}
TIER_PREFIX = {"cell-site": "CS", "hub": "HUB", "regional-dc": "RDC", "central": "CEN"}

# Elements on every cell site: (kind, name, count).
CELL_SITE_ELEMENTS = (
    ("baseband", "BB", 1),
    ("radio-unit", "RU", 3),
    ("sfp", "SFP", 3),
    ("antenna", "ANT", 3),
    ("psu", "PSU", 1),
    ("battery", "BAT", 1),
    ("fan", "FAN", 1),
    ("gnss", "GNSS", 1),
    ("microwave", "MW", 1),
)
HUB_EXTRA_ELEMENTS = (("router", "RTR", 1),)


@dataclass(frozen=True, slots=True)
class Element:
    serial: str
    site: str
    name: str
    kind: str
    vendor: str
    model: str
    software_version: str
    installed_on: date
    sector: int


@dataclass(slots=True)
class SiteInfo:
    index: int
    code: str
    name: str
    region: str
    climate: str
    tier: str
    latitude: float
    longitude: float
    vendor: str
    software: str
    weight: float
    rollout_day: int  # days after the drift date when this site gets the new release
    elements: dict  # kind -> list[Element] (by sector)
    address: str = ""
    access_notes: str = ""

    def element(self, kind: str, sector: int = 0) -> Element:
        units = self.elements.get(kind) or self.elements["baseband"]
        return units[sector % len(units)]


class World:
    """Sites and elements built from a seed; the same seed and size always build the same world."""

    def __init__(self, *, seed: int, cell_sites_per_region: int, start: date):
        self.seed = seed
        self.rng = random.Random(f"{seed}:world")
        self.start = start
        self.sites: list[SiteInfo] = []
        self.elements: list[Element] = []
        self.counters = {vendor: 0 for vendor in VENDORS}
        for region, (climate, nordlink_share, lat, lon) in REGIONS.items():
            tiers = [("cell-site", cell_sites_per_region), ("hub", max(2, cell_sites_per_region // 25))]
            tiers += [("regional-dc", 1)]
            if region == "capital":
                tiers.append(("central", 1))
            for tier, count in tiers:
                for n in range(1, count + 1):
                    self._site(region, climate, nordlink_share, lat, lon, tier, n)
        self.site_weights = [s.weight for s in self.sites]

    def _site(self, region, climate, nordlink_share, lat, lon, tier, n) -> None:
        rng = self.rng
        code = f"{TIER_PREFIX[tier]}-{region.upper()}-{n:03d}"
        vendor = "nordlink" if rng.random() < nordlink_share else "veltra"
        # Most sites run the middle release; newer and older ones are minorities.
        software = rng.choices(SOFTWARE[vendor], weights=(0.25, 0.4, 0.35))[0]
        tier_weight = {"cell-site": 1.0, "hub": 1.6, "regional-dc": 1.2, "central": 1.0}[tier]
        site = SiteInfo(
            index=len(self.sites),
            code=code,
            name=f"{region.title()} {tier.replace('-', ' ')} {n}",
            region=region,
            climate=climate,
            tier=tier,
            latitude=round(lat + rng.uniform(-1.5, 1.5), 5),
            longitude=round(lon + rng.uniform(-2.0, 2.0), 5),
            vendor=vendor,
            software=software,
            # A few chronic trouble sites raise four times their share of tickets.
            weight=tier_weight * rng.uniform(0.4, 1.6) * (4.0 if rng.random() < 0.03 else 1.0),
            rollout_day=rng.randrange(0, 60),
            elements={},
        )
        site.address, site.access_notes = site_access(self.seed, code, region, tier)
        kinds = CELL_SITE_ELEMENTS + (HUB_EXTRA_ELEMENTS if tier != "cell-site" else ())
        installed = self.start - timedelta(days=rng.randrange(200, 12 * 365))
        for kind, short, count in kinds:
            units = []
            for sector in range(count):
                self.counters[vendor] += 1
                unit_installed = installed
                # Batteries, fans and SFPs are swapped more often than the rest of the site.
                if kind in ("battery", "fan", "sfp") and rng.random() < 0.5:
                    unit_installed = self.start - timedelta(days=rng.randrange(30, 6 * 365))
                element = Element(
                    serial=f"{VENDOR_PREFIX[vendor]}-{short}-{self.counters[vendor]:06d}",
                    site=code,
                    name=f"{code}/{short}{sector + 1 if count > 1 else ''}",
                    kind=kind,
                    vendor=vendor,
                    model=f"{VENDOR_PREFIX[vendor]}-{short}-{rng.choice('ABC')}{rng.randrange(1, 4)}",
                    software_version=software if kind in ("baseband", "radio-unit") else "",
                    installed_on=unit_installed,
                    sector=sector,
                )
                units.append(element)
                self.elements.append(element)
            site.elements[kind] = units
        self.sites.append(site)


# What a field engineer needs to reach a site. Drawn from a generator of its own per site, so adding
# it left every other draw of the world (and so every ticket) as it was.
STREETS = {
    "north": ("Fjellveien", "Tromsvegen", "Polarveien", "Elvegata"),
    "west": ("Havnegata", "Strandkaien", "Fyrveien", "Bryggen"),
    "south": ("Calle del Puerto", "Avenida Sevilla", "Camino Real", "Calle Olivar"),
    "capital": ("Storgata", "Karl Johans gate", "Parkveien", "Torggata"),
}
ACCESS_NOTES = {
    "cell-site": (
        "Key safe at the gate; the code is in the site folder.",
        "Rooftop site: ring building security 30 minutes ahead; lift to floor 9, stairs to the roof.",
        "Gravel track, 4x4 only from November to April; it closes in heavy snow.",
        "Shared compound with the power utility: an escort is required, book it a day ahead.",
        "Farm track through a gated field: close the gate behind you (livestock).",
    ),
    "hub": ("Badge access 24/7 for the field team; sign in at the front desk.",),
    "regional-dc": ("Data centre: badge and PIN; book visits in the access portal at least 4 hours ahead.",),
    "central": ("Central office: escorted access only; NOC on duty lets crews in.",),
}


def site_access(seed: int, code: str, region: str, tier: str) -> tuple[str, str]:
    """(address, access notes) of a site, the same for the same seed and code."""
    rng = random.Random(f"{seed}:access:{code}")
    street = rng.choice(STREETS[region])
    address = f"{street} {rng.randrange(1, 180)}, {region.title()} region"
    return address, rng.choice(ACCESS_NOTES[tier])
