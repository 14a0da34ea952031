"""Every route has a declared permission rule, and undeclared routes and methods are refused.

The URL configuration is enumerated from django.urls.get_resolver(); a route added without a
rule in accounts/routes.py fails here (and is refused at runtime by RouteRuleMiddleware).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, path
from django.urls.converters import IntConverter, PathConverter
from django.urls.resolvers import ResolverMatch, RoutePattern
from rest_framework.test import APIClient

from accounts.routes import CONDITIONAL_ROUTES, NAMESPACE_RULES, ROUTE_RULES, Audience, rule_for, rules_for

HTTP_METHODS = ["get", "post", "put", "patch", "delete"]


@dataclass(frozen=True)
class Route:
    route: str  # the pattern text, e.g. "api/v1/models/<str:name>"
    view_name: str  # what request.resolver_match.view_name will be
    pattern: URLPattern
    concrete: str | None  # a path that resolves to it, or None for regex patterns


def _sample(converter: object) -> str:
    if isinstance(converter, IntConverter):
        return "1"
    if isinstance(converter, PathConverter):
        return "a/b"
    return "x"


def _walk(
    patterns, prefix: str = "", namespaces: tuple[str, ...] = (), concrete: str | None = ""
) -> Iterator[Route]:
    for entry in patterns:
        piece = _concrete_piece(entry.pattern)
        here = None if concrete is None or piece is None else concrete + piece
        if isinstance(entry, URLResolver):
            inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner, here)
            continue
        # Exactly how Django names a match: namespaces + URL name, or the view's dotted path.
        match = ResolverMatch(entry.callback, (), {}, url_name=entry.name, namespaces=list(namespaces))
        yield Route(prefix + str(entry.pattern), match.view_name, entry, here)


def _concrete_piece(pattern) -> str | None:
    if not isinstance(pattern, RoutePattern):
        return None
    text = str(pattern)
    for name, converter in pattern.converters.items():
        text = re.sub(rf"<(?:\w+:)?{name}>", _sample(converter), text)
    return text


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def test_url_configuration_is_enumerated() -> None:
    names = {route.view_name for route in all_routes()}
    assert {"model-list", "model-grants", "admin:index"} <= names


def test_every_route_has_a_declared_rule() -> None:
    missing = sorted({f"{r.route} ({r.view_name})" for r in all_routes() if rules_for(r.view_name) is None})
    assert missing == [], "routes without a permission rule in accounts/routes.py:\n" + "\n".join(missing)


def test_every_declared_rule_names_a_real_route() -> None:
    names = {route.view_name for route in all_routes()}
    stale = sorted(name for name in ROUTE_RULES if name not in names and name not in CONDITIONAL_ROUTES)
    assert stale == [], f"rules for routes that no longer exist: {stale}"


def test_rest_framework_views_implement_exactly_the_declared_methods() -> None:
    mismatched = []
    for route in all_routes():
        view_class = getattr(route.pattern.callback, "cls", None)
        rules = rules_for(route.view_name)
        if view_class is None or rules is None or "*" in rules:
            continue
        implemented = {m.upper() for m in HTTP_METHODS if hasattr(view_class, m)}
        if implemented != set(rules):
            mismatched.append(f"{route.route}: view has {sorted(implemented)}, rule has {sorted(rules)}")
    assert mismatched == [], "\n".join(mismatched)


def _anonymous_outcome(client: APIClient, route: Route, method: str) -> int:
    return getattr(client, method.lower())("/" + route.concrete).status_code


@pytest.mark.django_db
def test_anonymous_callers_are_refused_on_every_route_that_needs_a_login() -> None:
    client = APIClient()
    allowed = []
    for route in all_routes():
        if route.concrete is None:
            continue
        for method in HTTP_METHODS:
            rule = rule_for(route.view_name, method)
            if rule is None or rule.audience == Audience.PUBLIC:
                continue
            status = _anonymous_outcome(client, route, method)
            refused = status in (401, 403, 404, 405) or (rule.audience == Audience.STAFF and status == 302)
            if not refused:
                allowed.append(f"{method.upper()} /{route.concrete}: {status}")
    assert allowed == [], "anonymous requests that were not refused:\n" + "\n".join(allowed)


@pytest.mark.django_db
def test_an_undeclared_method_is_refused_before_the_view(access_cast, api_as) -> None:
    response = api_as("manager").put("/api/v1/models", {"name": "x"}, format="json")
    assert response.status_code == 405
    assert response.json()["error_code"] == "METHOD_NOT_ALLOWED"
    assert set(response["Allow"].split(", ")) == {"GET", "POST"}


@pytest.mark.django_db
def test_an_undeclared_method_on_an_mlflow_route_answers_in_mlflow_format(access_cast, api_as) -> None:
    response = api_as("manager").put("/api/2.0/mlflow/registered-models/get?name=fraud")
    assert response.status_code == 405
    assert set(response.json()) == {"error_code", "message"}


@pytest.mark.django_db
def test_an_unknown_route_is_not_found(access_cast, api_as) -> None:
    assert api_as("manager").get("/api/v1/no-such-thing").status_code == 404


VIEW_RAN: list[str] = []


def _undeclared_view(request) -> HttpResponse:
    VIEW_RAN.append(request.path)
    return HttpResponse("secret data")


urlpatterns = [path("undeclared", _undeclared_view, name="undeclared-route-for-test")]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
def test_a_route_without_a_rule_is_refused_and_its_view_never_runs() -> None:
    VIEW_RAN.clear()
    response = APIClient().get("/undeclared")
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert VIEW_RAN == []


def test_namespace_rules_cover_only_frameworks_with_their_own_checks() -> None:
    # A namespace-wide rule is a deliberate exception: keep the list short and reviewed.
    assert set(NAMESPACE_RULES) == {"admin"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/models/a%00b",
        "/api/v1/models/fraud/versions/1/tags/k%00",
        "/api/v1/models?name=%00",
        "/api/v1/users/%00/access",
        "/api/2.0/mlflow/registered-models/get?name=a%00",
        "/api/2.0/mlflow/registered-models/alias?name=a&alias=b%00",
        "/api/2.0/mlflow/registered-models/alias?na%00me=a&alias=b",
    ],
)
def test_nul_characters_anywhere_in_a_request_get_400(url: str, access_cast, api_as) -> None:
    response = api_as("manager").get(url)
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.django_db
def test_a_percent_sign_before_00_is_not_a_nul(access_cast, api_as) -> None:
    # "%2500" decodes to the text "%00", not to NUL: an ordinary unknown name, not a refused request.
    response = api_as("manager").get("/api/2.0/mlflow/registered-models/get?name=a%2500")
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert api_as("manager").get("/api/2.0/mlflow/registered-models/get?name=a%%00").status_code == 400


def test_admin_pages_of_models_that_moved_app_redirect_to_their_new_address(client) -> None:
    response = client.get("/admin/registry/webhook/add/?model=3")
    assert response.status_code == 301
    assert response["Location"] == "/admin/webhooks/webhook/add/?model=3"
    assert client.get("/admin/registry/transitionrequest/").headers["Location"] == (
        "/admin/workflows/transitionrequest/"
    )
    assert client.get("/admin/registry/artifactjob/7/change/").headers["Location"] == (
        "/admin/artifacts/artifactjob/7/change/"
    )
    # The registry's own pages stay where they are.
    assert client.get("/admin/registry/registeredmodel/").status_code == 302  # to sign in
