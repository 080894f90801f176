"""Admin actions change things, so they need the change permission: viewing a list is not enough."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from tests.factories import UserFactory


def _view_only_staff(model):
    user = UserFactory(username=f"viewer-{model._meta.model_name}", is_staff=True)
    codename = f"view_{model._meta.model_name}"
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label=model._meta.app_label, codename=codename)
    )
    return user


@pytest.mark.django_db
def test_a_staff_user_who_may_only_view_a_model_gets_none_of_its_actions():
    offered = {}
    for model, model_admin in admin.site._registry.items():
        request = RequestFactory().get("/admin/")
        request.user = _view_only_staff(model)
        assert model_admin.has_view_permission(request)
        if actions := sorted(model_admin.get_actions(request)):
            offered[model._meta.label] = actions
    # Promoting a model, rolling back, pulling a connector or redelivering a webhook was offered to
    # anyone who could read the list (an auditor's view-only account).
    assert offered == {}
