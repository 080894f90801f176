"""The edge fleet: sites and agents, placement decisions and their reasons, and a placement what-if."""

import dataclasses
from datetime import timedelta

from django import forms
from django.conf import settings
from django.utils import timezone
from django.views.generic import TemplateView

from frontend.views.access import RoleRequiredMixin
from ml.fleet import edge, placement, placement_service
from ml.models import EdgeAgent, SiteComputeProfile
from repair_center.models import Site

# Profile fields the what-if form may change; the rest come from the site's reported profile.
WHAT_IF_FIELDS = ("latency_budget_ms", "uplink_mbps", "rtt_ms", "tickets_per_day")


def site_profile(site: Site) -> placement.SiteProfile:
    """The site's stored compute profile (contract C3), or its tier's defaults when it has none yet."""
    stored = SiteComputeProfile.objects.filter(site=site).first()
    if stored is None:
        stored = SiteComputeProfile(site=site, **placement_service.TIER_DEFAULTS.get(site.tier, {}))
    return placement_service.profile_of(stored)


class WhatIfForm(forms.Form):
    site = forms.ModelChoiceField(
        label="Site", queryset=Site.objects.only("code", "name").order_by("code"), to_field_name="code"
    )
    latency_budget_ms = forms.FloatField(label="Latency budget (ms)", min_value=0, required=False)
    uplink_mbps = forms.FloatField(label="Uplink bandwidth (Mbit/s)", min_value=0, required=False)
    rtt_ms = forms.FloatField(label="Round trip to central (ms)", min_value=0, required=False)
    tickets_per_day = forms.IntegerField(label="Tickets per day", min_value=0, required=False)


def what_if(form: WhatIfForm) -> dict | None:
    """The site's decision now, and with the form's changes, side by side."""
    if not form.is_valid():
        return None
    site = form.cleaned_data["site"]
    profile = site_profile(site)
    changes = {k: form.cleaned_data[k] for k in WHAT_IF_FIELDS if form.cleaned_data.get(k) is not None}
    options = placement_service.placement_candidates(site)
    before = placement.decide(profile, options)
    try:
        changed_profile = placement.with_overrides(profile, **changes)
    except ValueError as e:
        form.add_error(None, str(e))
        return None
    after = placement.decide(changed_profile, options)
    return {
        "site": form.cleaned_data["site"],
        "profile": dataclasses.asdict(profile),
        "changes": changes,
        "before": before.to_json(),
        "after": after.to_json(),
        "changed": (before.pattern, before.artefact) != (after.pattern, after.artefact),
    }


class FleetView(RoleRequiredMixin, TemplateView):
    template_name = "frontend/fleet.html"

    def get_context_data(self, **kwargs):
        online_after = timezone.now() - timedelta(seconds=3 * settings.TICKETAI_EDGE_HEARTBEAT_S)
        agents = list(EdgeAgent.objects.filter(revoked_at__isnull=True).select_related("site"))
        for agent in agents:
            agent.online = bool(agent.last_seen and agent.last_seen >= online_after)
        profiles = list(SiteComputeProfile.objects.select_related("site").order_by("site__code"))
        form = WhatIfForm(self.request.GET or None)
        if not self.request.GET and agents:
            form = WhatIfForm(initial={"site": agents[0].site.code})
        return super().get_context_data(
            agents=agents,
            profiles=profiles,
            summary=edge.fleet_summary(),
            form=form,
            result=what_if(form) if self.request.GET else None,
            **kwargs,
        )
