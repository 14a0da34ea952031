"""schemathesis against the native API's OpenAPI schema, in-process: no 5xx, responses match the schema.

The schema is what `/api/schema/` serves (drf-spectacular), generated without a request so collection
needs no database. Calls go through the WSGI app as a superuser with a Bearer token, over a registry
with data behind the names schemathesis is likely to reach. Examples per operation are bounded
(`QUORUM_SCHEMATHESIS_EXAMPLES`, default 8) so the run stays well under a minute.
"""

import os
from collections.abc import Iterator

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.fixtures_mlflow import api_token_for

EXAMPLES = int(os.environ.get("QUORUM_SCHEMATHESIS_EXAMPLES", "8"))


def native_api_schema() -> dict:
    document = SchemaGenerator().get_schema(request=None, public=True)
    # The MLflow and Databricks fronts have their own wire format and are fuzzed through their own tests.
    document["paths"] = {
        path: item for path, item in document["paths"].items() if path.startswith("/api/v1/")
    }
    return document


schema = schemathesis.openapi.from_dict(native_api_schema())
schema.app = get_wsgi_application()


@pytest.fixture
def connection_kept_across_requests() -> Iterator[None]:
    """As Django's test client does: the WSGI app must not close the test's connection (and transaction)."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def superuser_headers(db, connection_kept_across_requests) -> dict[str, str]:
    from tests.conftest import make_user

    admin = make_user("fuzz-admin", is_superuser=True, is_staff=True)
    from registry import services

    model = services.registered_model_create(actor=admin, name="fuzzed", description="target")
    services.model_version_create(actor=admin, name=model.name, source="s3://bucket/fuzzed/1")
    return {"Authorization": f"Bearer {api_token_for(admin)}"}


@pytest.mark.django_db(transaction=False)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_native_api_never_answers_5xx_and_matches_its_schema(case, superuser_headers) -> None:
    case.call_and_validate(
        headers=superuser_headers,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
