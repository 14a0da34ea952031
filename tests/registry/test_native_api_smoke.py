import pytest

pytestmark = pytest.mark.django_db


def test_owner_creates_model_and_version_and_sets_alias(cast, client_for):
    api = client_for(cast.owner)
    r = api.post(
        "/api/v1/models",
        {"name": "fraud", "description": "d", "tags": [{"key": "team", "value": "risk"}]},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["tags"] == [{"key": "team", "value": "risk"}]
    r = api.post("/api/v1/models/fraud/versions", {"source": "s3://bucket/fraud/1"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["version"] == 1
    r = api.put("/api/v1/models/fraud/aliases/challenger", {"version": 1}, format="json")
    assert r.status_code == 200, r.content
    r = api.get("/api/v1/resolve", {"uri": "models:/fraud@challenger"})
    assert r.status_code == 200, r.content
    assert r.json()["artifact_location"] == "s3://bucket/fraud/1"
