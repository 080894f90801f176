"""Choosing a group in the assignment form leaves only that team's people to pick."""

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import Page, expect

from repair_center import roles
from repair_center.models import AssignmentGroup
from repair_center.services.tickets import tickets_upsert
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_choosing_a_group_leaves_its_people(page: Page, live_server, field_engineer):
    engineers, _ = Group.objects.get_or_create(name=roles.ENGINEER)
    hill = User.objects.create_user("hilda")
    hill.groups.add(engineers)
    AssignmentGroup.objects.create(name="Coast crew").members.add(field_engineer)
    AssignmentGroup.objects.create(name="Hill crew").members.add(hill)
    [result] = tickets_upsert(documents=[{"external_id": "B-1", "title": "Fan alarm"}], source="noc")

    sign_in(page, live_server, "field", "pw-field-engineer")
    page.goto(f"{live_server.url}/tickets/{result.id}/")
    page.get_by_text("Assign", exact=True).click()
    page.get_by_label("Group", exact=True).select_option("Hill crew")

    person = page.locator("#assign-person")
    expect(person.locator('optgroup[label="Hill crew"]')).not_to_be_disabled()
    expect(person.locator('optgroup[label="Coast crew"]')).to_be_disabled()
    person.select_option("hilda")
    page.get_by_role("button", name="Save assignment").click()
    expect(page.locator("#work .message")).to_contain_text("Assigned to hilda in Hill crew.")
