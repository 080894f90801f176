"""The main navigation as data: engineers see Tickets; the admin pages only admins (a direct URL
gives them a 403 page, see frontend/views/access.py)."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    url_name: str
    # url names that count as "inside" this section, for aria-current
    section: frozenset[str]
    admin_only: bool = False


MAIN_NAV = (
    NavItem(
        "Tickets",
        "ticket-list",
        frozenset({"ticket-list", "ticket-detail", "ticket-action"}),
    ),
    NavItem(
        "Models",
        "model-list",
        frozenset({"model-list", "model-detail", "model-promote", "model-rollback"}),
        admin_only=True,
    ),
    NavItem("Training", "training", frozenset({"training", "training-run"}), admin_only=True),
    NavItem("Schedule", "schedule", frozenset({"schedule"}), admin_only=True),
    NavItem("Fleet", "fleet", frozenset({"fleet"}), admin_only=True),
)
