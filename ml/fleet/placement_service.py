"""Placement per site: the stored compute profile, the candidate artefacts from the registry, the decision.

The rules live in ml/fleet/placement.py (pure); this module feeds them from the database and stores the
result on the site's SiteComputeProfile. A stored decision is reused until the profile or the
candidates change (a new champion, a new edge bundle), so a heartbeat costs a few queries.
"""

import hashlib
import json
import logging
from dataclasses import asdict, replace

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ml.core import registry
from ml.fleet.placement import CandidateModel, SiteProfile, decide, default_candidates
from ml.models import EdgeBundle, SiteComputeProfile
from repair_center.models import Site

logger = logging.getLogger(__name__)

DEFAULT_TEACHER_ACCURACY = 0.90  # nominal, until a champion reports its own

# What a site of each tier is assumed to have until its agent reports or an operator edits it.
TIER_DEFAULTS = {
    Site.Tier.CELL_SITE: {
        "cpu_cores": 2,
        "cpu_ghz": 1.8,
        "memory_mb": 2048,
        "storage_gb": 16,
        "uplink_mbps": 20,
    },
    Site.Tier.HUB: {
        "cpu_cores": 8,
        "cpu_ghz": 2.4,
        "memory_mb": 16384,
        "storage_gb": 256,
        "uplink_mbps": 1000,
    },
    Site.Tier.REGIONAL_DC: {
        "cpu_cores": 32,
        "cpu_ghz": 2.8,
        "memory_mb": 131072,
        "storage_gb": 2000,
        "uplink_mbps": 10000,
        "rtt_ms": 10,
    },
    Site.Tier.CENTRAL: {
        "cpu_cores": 64,
        "cpu_ghz": 3.0,
        "memory_mb": 262144,
        "storage_gb": 10000,
        "uplink_mbps": 40000,
        "rtt_ms": 1,
    },
}

# onnxruntime execution providers that are no accelerator: the CPU itself, and Azure's remote
# endpoints, which the stock CPU wheel lists too. Older agents reported the first provider
# other than the CPU's as the accelerator, so every site got the x5 speed-up of an accelerator it
# does not have.
_NOT_ACCELERATORS = {"", "cpuexecutionprovider", "azureexecutionprovider"}


def _accelerator(value) -> str:
    name = str(value or "").strip()[:64]
    return "" if name.lower() in _NOT_ACCELERATORS else name


# Agent report keys (and the aliases agents use) -> profile field, converter. Agents report hardware
# and link only; the latency budget, ticket volume and data policy are the operator's.
_CAPABILITIES = {
    "cpu_cores": ("cpu_cores", int),
    "cpu_count": ("cpu_cores", int),
    "cpu_ghz": ("cpu_ghz", float),
    "cpu_mhz": ("cpu_ghz", lambda v: float(v) / 1000),
    "memory_mb": ("memory_mb", int),
    "memory_total_mb": ("memory_mb", int),
    "accelerator": ("accelerator", _accelerator),
    "storage_gb": ("storage_gb", float),
    "disk_free_gb": ("storage_gb", float),
    "uplink_mbps": ("uplink_mbps", float),
    "rtt_ms": ("rtt_ms", float),
}


# --- Candidates ------------------------------------------------------------------------------------


def _number(value, default):
    return value if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else default


def _weights_bytes(version) -> int | None:
    model_dir = version.artifact_dir / "model"
    files = (
        [f for f in model_dir.glob("*") if f.suffix in (".safetensors", ".bin")] if model_dir.is_dir() else []
    )
    return sum(f.stat().st_size for f in files) or None


def _bundle_for(site: Site | None, champion) -> EdgeBundle | None:
    bundles = EdgeBundle.objects.filter(kind=EdgeBundle.Kind.FULL, active=True).order_by("-created_at", "-id")
    if champion is not None and bundles.filter(model_version=champion).exists():
        bundles = bundles.filter(model_version=champion)
    scopes = [Q(intended_site__isnull=True, intended_tier="")]
    if site is not None:
        scopes[:0] = [Q(intended_site=site), Q(intended_site__isnull=True, intended_tier=site.tier)]
    for scope in scopes:
        bundle = bundles.filter(scope).first()
        if bundle is not None:
            return bundle
    return None


def placement_candidates(
    site: Site | None = None, *, label_set_key: str = "resolution"
) -> list[CandidateModel]:
    """The champion teacher and the site's edge bundle, measured where the registry knows, else defaults."""
    champion = registry.champion(label_set_key)
    bundle = _bundle_for(site, champion)
    bundle_metrics = (bundle.metrics or {}) if bundle else {}
    teacher_metrics = (champion.metrics or {}) if champion else {}
    # The bundle's copy of the teacher's metrics is on the same evaluation set as the student's.
    teacher_accuracy = _number(
        (bundle_metrics.get("teacher") or {}).get("accuracy"),
        _number(teacher_metrics.get("accuracy"), DEFAULT_TEACHER_ACCURACY),
    )
    candidates = {c.name: c for c in default_candidates(teacher_accuracy)}
    if champion is not None:
        size = _weights_bytes(champion)
        for name in ("teacher_fp32", "teacher_int8"):
            c = candidates[name]
            candidates[name] = replace(
                c,
                size_bytes=size if size and name == "teacher_fp32" else c.size_bytes,
                latency_ms=_number(teacher_metrics.get("latency_ms"), c.latency_ms)
                if name == "teacher_fp32"
                else c.latency_ms,
                source="registry",
                version=f"v{champion.pk}",
            )
    if bundle is not None:
        c = candidates["student_int8"]
        candidates["student_int8"] = replace(
            c,
            size_bytes=int(
                _number(bundle_metrics.get("onnx_int8_bytes"), _number(bundle.bytes, c.size_bytes))
            ),
            latency_ms=_number(
                bundle_metrics.get("p50_ms"), _number(bundle_metrics.get("latency_ms"), c.latency_ms)
            ),
            accuracy=_number(bundle_metrics.get("accuracy"), c.accuracy),
            source="registry",
            version=bundle.version,
        )
    return list(candidates.values())


def _inputs_key(profile: SiteProfile, candidates: list[CandidateModel]) -> str:
    data = {"profile": asdict(profile), "candidates": [asdict(c) for c in candidates]}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# --- Profiles and decisions ------------------------------------------------------------------------


def profile_of(stored: SiteComputeProfile) -> SiteProfile:
    """The placement rules' input from a stored profile; ValueError on a value the rules refuse."""
    return SiteProfile(**stored.profile_values())


def profile_for_site(site: Site, *, lock: bool = False) -> SiteComputeProfile:
    """The site's profile, created with its tier's defaults on first use."""
    rows = SiteComputeProfile.objects.select_for_update() if lock else SiteComputeProfile.objects
    profile, _ = rows.get_or_create(site=site, defaults=TIER_DEFAULTS.get(site.tier, {}))
    return profile


def _decide(profile: SiteComputeProfile, *, force: bool) -> None:
    inputs = profile_of(profile)
    candidates = placement_candidates(profile.site)
    key = _inputs_key(inputs, candidates)
    if not force and profile.decision.get("inputs_key") == key:
        return
    profile.decision = {**decide(inputs, candidates).to_json(), "inputs_key": key}
    profile.decided_at = timezone.now()
    profile.save(update_fields=["decision", "decided_at", "updated_at"])
    logger.info(
        "placement of site %s: pattern %s, artefact %s",
        profile.site.code,
        profile.decision["pattern"],
        profile.decision["artefact"],
    )


def placement_payload(profile: SiteComputeProfile) -> dict:
    site = profile.site
    data = {name: getattr(profile, name) for name in SiteComputeProfile.PROFILE_FIELDS}
    decision = {k: v for k, v in profile.decision.items() if k != "inputs_key"}
    return {
        "site": {"id": site.pk, "code": site.code, "tier": site.tier},
        "profile": {**data, "reported_at": profile.reported_at},
        "decision": decision,
        "decided_at": profile.decided_at,
    }


@transaction.atomic
def site_placement(site: Site, *, recompute: bool = False) -> dict:
    """The site's placement, decided again when its profile or the candidate models changed."""
    profile = profile_for_site(site, lock=True)
    _decide(profile, force=recompute)
    return placement_payload(profile)


def capabilities_to_fields(capabilities: dict) -> dict:
    """The profile fields an agent's capabilities report sets; unknown keys and bad values are ignored."""
    fields = {}
    for key, value in (capabilities or {}).items():
        if key not in _CAPABILITIES or value is None:
            continue
        name, convert = _CAPABILITIES[key]
        try:
            converted = convert(value)
        except (TypeError, ValueError):
            logger.warning("ignoring capability %s=%r: not a number", key, value)
            continue
        if isinstance(converted, int | float) and not (converted >= 0 and converted < 1e12):
            logger.warning("ignoring capability %s=%r: out of range", key, value)
            continue
        fields[name] = converted
    return fields


@transaction.atomic
def site_capabilities_report(site: Site, capabilities: dict) -> dict:
    """Update the site's hardware and link from an agent's report and decide its placement again."""
    profile = profile_for_site(site, lock=True)
    changes = {k: v for k, v in capabilities_to_fields(capabilities).items() if getattr(profile, k) != v}
    for name, value in changes.items():
        setattr(profile, name, value)
    profile.reported_at = timezone.now()
    profile.save()
    if changes:
        logger.info("site %s reported new capabilities: %s", site.code, sorted(changes))
    _decide(profile, force=bool(changes))
    return placement_payload(profile)


@transaction.atomic
def site_profile_update(site: Site, **fields) -> dict:
    """Set profile fields (an operator's edit) and decide the placement again."""
    profile = profile_for_site(site, lock=True)
    for name, value in fields.items():
        if name not in SiteComputeProfile.PROFILE_FIELDS:
            raise ValueError(f"{name} is not a profile field")
        setattr(profile, name, value)
    profile_of(profile)  # raises ValueError on a bad combination before anything is saved
    profile.save()
    _decide(profile, force=True)
    return placement_payload(profile)


def placement_what_if(
    *, fields: dict, site: Site | None = None, candidates: list[CandidateModel] | None = None
):
    """A decision for a hypothetical profile (a site's, with some fields changed); nothing is stored."""
    if site is None:
        base = SiteProfile()
    else:
        stored = SiteComputeProfile.objects.filter(site=site).first()
        base = profile_of(stored or SiteComputeProfile(site=site, **TIER_DEFAULTS.get(site.tier, {})))
    profile = replace(base, **fields)
    chosen = candidates if candidates else placement_candidates(site)
    return {"profile": asdict(profile), "decision": decide(profile, chosen).to_json()}
