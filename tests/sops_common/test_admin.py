"""History records (template versions, periodic firings) can be read in the admin, never changed."""
from __future__ import annotations

import pytest
from django.contrib import admin

from periodic_app.models import PeriodicTaskHistory
from sops_common.admin import ReadOnlyAdminMixin
from templates_app.models import TemplateVersion

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [TemplateVersion, PeriodicTaskHistory])
def test_history_admins_refuse_add_change_and_delete(admin_client, rf, admin_user, model):
    model_admin = admin.site._registry[model]
    assert isinstance(model_admin, ReadOnlyAdminMixin)
    request = rf.get("/")
    request.user = admin_user
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    app, name = model._meta.app_label, model._meta.model_name
    assert admin_client.get(f"/admin/{app}/{name}/").status_code == 200  # reading is fine
    assert admin_client.get(f"/admin/{app}/{name}/add/").status_code == 403
