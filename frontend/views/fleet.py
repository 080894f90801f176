"""The edge fleet: sites and agents, placement decisions and their reasons, and a placement what-if."""

import dataclasses
import json
import secrets
from datetime import timedelta

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.dateparse import parse_datetime
from django.views.generic import TemplateView

from frontend.views.access import AdminRequiredMixin
from ml.fleet import edge, placement, placement_service
from ml.models import EdgeAgent, SiteComputeProfile
from repair_center.models import Site
from ticketai import sealed
from ticketai.throttling import CACHE_ERRORS

# The session names where the issued token waits in the cache; the token itself never enters it.
ISSUED_SESSION_KEY = "fleet_enrolment_token"
ISSUED_CACHE_KEY = "fleet-enrolment-token:{}"
CACHE_DOWN = (
    "The cache that holds a new token until the page shows it is not answering: no token was issued. "
    "Try again in a minute."
)
# The page holds two forms with a "site" field: each gets ids of its own.
ENROL_ID = "enrol_%s"
# Profile fields the what-if form may change; the rest come from the site's reported profile.
WHAT_IF_FIELDS = ("latency_budget_ms", "uplink_mbps", "rtt_ms", "tickets_per_day")


def site_profile(site: Site) -> placement.SiteProfile:
    """The site's stored compute profile, or its tier's defaults when it has none yet."""
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
    current = dataclasses.asdict(profile)
    changes = {
        k: form.cleaned_data[k]
        for k in WHAT_IF_FIELDS
        if form.cleaned_data.get(k) is not None and form.cleaned_data[k] != current.get(k)
    }
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
        "changes_shown": [(form.fields[k].label, f"{v:g}") for k, v in changes.items()],
        "before": before.to_json(),
        "after": after.to_json(),
        "changed": (before.pattern, before.artefact) != (after.pattern, after.artefact),
    }


class EnrolmentForm(forms.Form):
    site = forms.ModelChoiceField(
        label="Site for the new agent",
        queryset=Site.objects.only("code", "name").order_by("code"),
        to_field_name="code",
    )
    note = forms.CharField(label="Note (who installs it, where)", required=False, max_length=200)


def what_if_form(query, agents: list) -> WhatIfForm:
    """The what-if form, starting from the chosen site's current values (so it shows the decision as
    it stands) until someone changes one. Without a site chosen: the first agent's site, or the
    first site that reported a profile."""
    data = dict(query.items()) if query else {}
    code = data.get("site")
    if not code:
        first = agents[0].site if agents else None
        if first is None:
            profiled = SiteComputeProfile.objects.select_related("site").order_by("site__code").first()
            first = profiled.site if profiled else None
        code = first.code if first else ""
    site = Site.objects.filter(code=code).first() if code else None
    if site is not None and not any(data.get(name) for name in WHAT_IF_FIELDS):
        profile = dataclasses.asdict(site_profile(site))
        data = {**data, "site": site.code, **{name: profile.get(name) for name in WHAT_IF_FIELDS}}
    return WhatIfForm(data or None, auto_id="whatif_%s")


def _issued_keep(request, issued: dict) -> None:
    """Keep a newly issued token for the page the POST redirects to. The secret goes to the cache,
    sealed, for TICKETAI_EDGE_ENROLMENT_SHOW_S seconds (gone then even if that page is never
    loaded); the session holds only a random name for it, never the token."""
    name = ISSUED_CACHE_KEY.format(secrets.token_urlsafe(24))
    cache.set(name, sealed.seal(json.dumps(issued)), timeout=settings.TICKETAI_EDGE_ENROLMENT_SHOW_S)
    request.session[ISSUED_SESSION_KEY] = name


def _issued(request) -> dict | None:
    """The token the last POST issued, taken out of the cache: shown on one page only, once."""
    name = request.session.pop(ISSUED_SESSION_KEY, None)
    if not isinstance(name, str) or not name.startswith(ISSUED_CACHE_KEY.format("")):
        return None
    stored = cache.get(name)
    # Only the request whose delete removed it shows it: two pages loaded at once show it once.
    if stored is None or not cache.delete(name):
        return None
    issued = json.loads(sealed.open_sealed(stored))
    return {**issued, "expires_at": parse_datetime(issued["expires_at"])}


class FleetView(AdminRequiredMixin, TemplateView):
    template_name = "frontend/fleet.html"

    def get_context_data(self, enrolment_form=None, issued=None, **kwargs):
        online_after = timezone.now() - timedelta(seconds=3 * settings.TICKETAI_EDGE_HEARTBEAT_S)
        agents = list(EdgeAgent.objects.filter(revoked_at__isnull=True).select_related("site"))
        for agent in agents:
            agent.online = bool(agent.last_seen and agent.last_seen >= online_after)
        profiles = list(SiteComputeProfile.objects.select_related("site").order_by("site__code"))
        form = what_if_form(self.request.GET, agents)
        return super().get_context_data(
            agents=agents,
            profiles=profiles,
            summary=edge.fleet_summary(),
            form=form,
            result=what_if(form) if form.is_bound else None,
            enrolment_form=enrolment_form or EnrolmentForm(auto_id=ENROL_ID),
            issued=issued or _issued(self.request),
            ttl_hours=settings.TICKETAI_EDGE_ENROLMENT_TTL_H,
            **kwargs,
        )

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if response.context_data.get("issued"):
            # The page holds a live credential: no browser or proxy cache may keep a copy of it.
            patch_cache_control(response, no_store=True, private=True)
        return response

    def post(self, request, *args, **kwargs):
        """Issue a one-time enrolment token for a site, then send the browser to the page that shows
        it once (a reload there issues no second token)."""
        form = EnrolmentForm(request.POST, auto_id=ENROL_ID)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(enrolment_form=form), status=400)
        try:
            with transaction.atomic():  # no token is issued that could not be shown
                token, raw = edge.enrolment_token_issue(
                    site=form.cleaned_data["site"], note=form.cleaned_data["note"]
                )
                # Kept briefly for the next page, which shows it once (never logged, never in the session).
                issued = {
                    "token": raw,
                    "site": token.site.code,
                    "expires_at": token.expires_at.isoformat(),
                    "central": request.build_absolute_uri("/"),
                }
                _issued_keep(request, issued)
        except CACHE_ERRORS:
            form.add_error(None, CACHE_DOWN)
            return self.render_to_response(self.get_context_data(enrolment_form=form), status=503)
        return HttpResponseRedirect(reverse("fleet") + "#enrol")
