"""The main navigation as data, so later pages (recommendations, models, fleet) add one line here."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    url_name: str
    # url names that count as "inside" this section, for aria-current
    section: frozenset[str]
    staff_only: bool = False


MAIN_NAV = (
    NavItem("Tickets", "ticket-list", frozenset({"ticket-list", "ticket-detail"})),
    NavItem(
        "Models", "model-list", frozenset({"model-list", "model-detail", "model-promote", "model-rollback"})
    ),
    NavItem("Training", "training", frozenset({"training", "training-run"})),
    NavItem("Schedule", "schedule", frozenset({"schedule"})),
    NavItem("Fleet", "fleet", frozenset({"fleet"})),
)
