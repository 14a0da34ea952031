"""The registry admin pages of a model and a version show their audit trail."""

import pytest
from django.test import Client

from registry import services

pytestmark = pytest.mark.django_db


def test_model_and_version_admin_pages_show_their_audit_trail(cast, fraud):
    services.model_version_tag_set(actor=cast.owner, name="fraud", version=2, key="auc", value="0.91")
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(cast.owner)

    page = client.get(f"/admin/registry/registeredmodel/{fraud.pk}/change/").content.decode()
    assert 'id="audit-trail"' in page
    assert "registered_model.created" in page and "model_version.tag_set" in page

    version = fraud.versions.get(version=2)
    page = client.get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()
    assert 'id="audit-trail"' in page
    assert "model_version.tag_set" in page and "auc" in page
    # The version page shows that version's events only, not the model's creation.
    assert "registered_model.created" not in page


def test_the_trail_is_not_shown_to_someone_who_cannot_see_the_model(cast, fraud):
    cast.outsider.is_staff = True
    cast.outsider.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(cast.outsider)
    response = client.get(f"/admin/registry/registeredmodel/{fraud.pk}/change/")
    assert response.status_code in (302, 404)
    assert b"registered_model.created" not in response.content
