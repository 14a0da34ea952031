"""Every route's declared permission rule, and the middleware that denies undeclared routes and methods.

A route is known by its URL name (`model-list`, `admin:index`). Its rule says, per HTTP method,
who may call it (`Audience`) and which object level the service or selector behind it enforces
(`Level`; hidden models answer 404 like missing ones, seen-but-not-allowed answers 403).
A route with no rule, or a method the rule does not list, is refused before its view runs, so
a new endpoint is denied until someone decides who may call it. tests/test_route_permissions.py
enumerates the URL configuration and fails on any route without a rule.
"""

import logging
from dataclasses import dataclass
from enum import StrEnum

from django.http import HttpRequest, HttpResponse, JsonResponse

from access.grants import Level
from config.middleware import is_mlflow_path

logger = logging.getLogger(__name__)


class Audience(StrEnum):
    PUBLIC = "public"  # no credentials (health, metrics with its own token, API schema)
    AUTHENTICATED = "authenticated"  # any signed-in user; object levels decide the rest
    STAFF = "staff"  # Django admin session; each ModelAdmin narrows it further
    SUPERUSER = "superuser"


@dataclass(frozen=True)
class Rule:
    audience: Audience
    level: Level | None = None  # object level required on the model named in the route
    note: str = ""

    def describe(self) -> str:
        parts = [self.audience.value]
        if self.level is not None:
            parts.append(self.level.value)
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


A = Audience.AUTHENTICATED
READ, EDIT, MANAGE = Level.READ, Level.EDIT, Level.MANAGE
VISIBLE = "only models the caller can READ"

# URL name -> {method -> rule}. "*" as a method covers every method (admin pages).
ROUTE_RULES: dict[str, dict[str, Rule]] = {
    # Operations and docs
    "healthz": {"GET": Rule(Audience.PUBLIC, note="liveness; no data")},
    "readyz": {"GET": Rule(Audience.PUBLIC, note="readiness; no data")},
    "metrics": {"GET": Rule(Audience.PUBLIC, note="QUORUM_METRICS_TOKEN bearer, checked by the view")},
    "schema": {"GET": Rule(Audience.PUBLIC, note="OpenAPI description; no data")},
    "databricks-config": {
        "GET": Rule(Audience.PUBLIC, note="the Databricks SDK's host-metadata probe; constant, no data")
    },
    "bench-floor": {"GET": Rule(Audience.PUBLIC, note="QUORUM_BENCH_FLOOR only; constant answer, no data")},
    "admin-moved": {
        "GET": Rule(
            Audience.PUBLIC, note="permanent redirect to the page's new address; the page checks access"
        ),
    },
    "bench-floor-pk": {
        "GET": Rule(Audience.PUBLIC, note="QUORUM_BENCH_FLOOR only; one primary-key read, no data")
    },
    "swagger-ui": {"GET": Rule(Audience.PUBLIC, note="API docs page; no data")},
    "password-change": {"*": Rule(Audience.STAFF, note="the admin's change-your-own-password page")},
    "landing": {"GET": Rule(Audience.PUBLIC, note="what this server is and its public URIs; no data")},
    "page-not-found": {"*": Rule(Audience.PUBLIC, note="the HTML 404 of unknown paths; no route list")},
    # The admin's sign-in page is the one admin page open to anonymous callers (service accounts are refused).
    "admin:login": {
        "GET": Rule(Audience.PUBLIC, note="sign-in form"),
        "POST": Rule(Audience.PUBLIC, note="password sign-in; throttled; service accounts refused"),
    },
    # Sign-in through the identity provider (accounts.oidc; 404 while none is configured)
    "oidc_authentication_init": {"GET": Rule(Audience.PUBLIC, note="redirect to the identity provider")},
    "oidc_authentication_callback": {
        "GET": Rule(Audience.PUBLIC, note="the provider's answer; state, nonce and PKCE checked")
    },
    # Native API: registered models
    "model-list": {
        "GET": Rule(A, READ, VISIBLE),
        "POST": Rule(A, note="global registry.add_registeredmodel; creator gets MANAGE"),
    },
    "model-detail": {"GET": Rule(A, READ), "PATCH": Rule(A, EDIT), "DELETE": Rule(A, MANAGE)},
    "model-rename": {"POST": Rule(A, MANAGE)},
    "model-tags": {"POST": Rule(A, EDIT)},
    "model-tag": {"DELETE": Rule(A, EDIT)},
    "alias-list": {"GET": Rule(A, READ)},
    "alias-detail": {"GET": Rule(A, READ), "PUT": Rule(A, EDIT), "DELETE": Rule(A, EDIT)},
    "version-list": {"GET": Rule(A, READ), "POST": Rule(A, EDIT)},
    "version-detail": {"GET": Rule(A, READ), "PATCH": Rule(A, EDIT), "DELETE": Rule(A, MANAGE)},
    "version-stage": {"POST": Rule(A, EDIT, "ungoverned stages; governed ones need an approved request")},
    "version-tags": {"POST": Rule(A, EDIT)},
    "version-tag": {"DELETE": Rule(A, EDIT)},
    "version-search": {"GET": Rule(A, READ, VISIBLE)},
    "resolve": {"GET": Rule(A, READ)},
    # Native API: promotion requests and policies (workflows)
    "model-requests": {"GET": Rule(A, READ), "POST": Rule(A, READ, "anyone who sees a model may request")},
    "model-policies": {"GET": Rule(A, READ)},
    "model-policy": {"PUT": Rule(A, MANAGE), "DELETE": Rule(A, MANAGE, "falls back to the organisation's")},
    "default-policies": {"GET": Rule(A, note="the organisation-wide default policies")},
    "default-policy": {"PUT": Rule(Audience.SUPERUSER), "DELETE": Rule(Audience.SUPERUSER)},
    "version-timeline": {"GET": Rule(A, READ)},
    "request-list": {"GET": Rule(A, READ, "requests on models the caller can READ")},
    "request-detail": {"GET": Rule(A, READ)},
    "request-approve": {
        "POST": Rule(A, note="APPROVE_STAGING or APPROVE_PRODUCTION by the request's target")
    },
    "request-reject": {"POST": Rule(A, note="APPROVE_STAGING or APPROVE_PRODUCTION by the request's target")},
    "request-cancel": {"POST": Rule(A, READ, "the requester; anyone else needs MANAGE")},
    "request-fail": {"POST": Rule(A, MANAGE, "a request stuck applying (its governed copy failed)")},
    "request-comments": {"POST": Rule(A, READ)},
    # Databricks-compatible transition requests and comments (fronts/databricks)
    "databricks-request-create": {"POST": Rule(A, READ, "anyone who sees a model may request")},
    "databricks-request-approve": {
        "POST": Rule(A, note="APPROVE_STAGING or APPROVE_PRODUCTION by the request's target")
    },
    "databricks-request-reject": {
        "POST": Rule(A, note="APPROVE_STAGING or APPROVE_PRODUCTION by the request's target")
    },
    "databricks-request-delete": {"DELETE": Rule(A, READ, "the requester; anyone else needs MANAGE")},
    "databricks-request-list": {"GET": Rule(A, READ)},
    "databricks-comment-create": {"POST": Rule(A, READ)},
    "databricks-comment-update": {"PATCH": Rule(A, READ, "the comment's author only")},
    "databricks-comment-delete": {"DELETE": Rule(A, READ, "the author, or a MANAGE holder")},
    # Approval queue and request pages in the admin (workflows.admin_views)
    "workflow-admin-queue": {"GET": Rule(Audience.STAFF, note="requests on models the caller can READ")},
    "workflow-admin-request": {"GET": Rule(Audience.STAFF, READ)},
    "workflow-admin-decide": {"POST": Rule(Audience.STAFF, note="the services check approve/reject rights")},
    "two-factor": {"*": Rule(Audience.STAFF, note="the caller's own second factor: enrol, confirm, remove")},
    # MLflow-compatible registry (fronts.mlflow), same services as the native API
    "mlflow:registered-models-create": {"POST": Rule(A, note="global registry.add_registeredmodel")},
    "mlflow:registered-models-rename": {"POST": Rule(A, MANAGE)},
    "mlflow:registered-models-update": {"PATCH": Rule(A, EDIT)},
    "mlflow:registered-models-delete": {"DELETE": Rule(A, MANAGE)},
    "mlflow:registered-models-get": {"GET": Rule(A, READ)},
    "mlflow:registered-models-search": {"GET": Rule(A, READ, VISIBLE), "POST": Rule(A, READ, VISIBLE)},
    "mlflow:registered-models-get-latest-versions": {"GET": Rule(A, READ), "POST": Rule(A, READ)},
    "mlflow:registered-models-set-tag": {"POST": Rule(A, EDIT)},
    "mlflow:registered-models-delete-tag": {"DELETE": Rule(A, EDIT)},
    "mlflow:registered-models-alias": {"GET": Rule(A, READ), "POST": Rule(A, EDIT), "DELETE": Rule(A, EDIT)},
    "mlflow:model-versions-create": {"POST": Rule(A, EDIT)},
    "mlflow:model-versions-update": {"PATCH": Rule(A, EDIT)},
    "mlflow:model-versions-transition-stage": {"POST": Rule(A, EDIT, "ungoverned stages only")},
    "mlflow:model-versions-delete": {"DELETE": Rule(A, MANAGE)},
    "mlflow:model-versions-get": {"GET": Rule(A, READ)},
    "mlflow:model-versions-search": {"GET": Rule(A, READ, VISIBLE), "POST": Rule(A, READ, VISIBLE)},
    "mlflow:model-versions-get-download-uri": {"GET": Rule(A, READ)},
    "mlflow:model-versions-set-tag": {"POST": Rule(A, EDIT)},
    "mlflow:model-versions-delete-tag": {"DELETE": Rule(A, EDIT)},
    "mlflow:artifacts-list": {"GET": Rule(A, READ, "artifact download")},
    "mlflow:artifacts-download": {"GET": Rule(A, READ, "artifact download")},
    "mlflow:server-info": {"GET": Rule(A, note="server capabilities; no registry data")},
    "api-v1-not-found": {"*": Rule(Audience.PUBLIC, note="answers RESOURCE_DOES_NOT_EXIST; no data")},
    "mlflow-not-found": {"*": Rule(Audience.PUBLIC, note="answers ENDPOINT_NOT_FOUND; no data")},
    # Native API: access management (accounts.api)
    "token-list": {
        "GET": Rule(A, note="own tokens; superusers may list anyone's"),
        "POST": Rule(A, note="own tokens, not from a token; superusers for anyone"),
    },
    "token-detail": {"DELETE": Rule(A, note="own token; superusers any; others' tokens are 404")},
    "team-list": {
        "GET": Rule(A, note="team names and members"),
        "POST": Rule(A, note="superuser or global accounts.change_team"),
    },
    "team-detail": {"GET": Rule(A, note="team names and members")},
    "team-members": {"POST": Rule(A, note="superuser or global accounts.change_team")},
    "team-member": {"DELETE": Rule(A, note="superuser or global accounts.change_team")},
    "model-grants": {"GET": Rule(A, MANAGE), "POST": Rule(A, MANAGE)},
    "model-grant": {"DELETE": Rule(A, MANAGE, "the last MANAGE grant cannot be revoked")},
    "user-access": {"GET": Rule(A, note="yourself: models you see; others: only models you MANAGE")},
    "access-report": {"GET": Rule(A, note="models the caller MANAGEs; everything for superusers")},
    # Native API: artifact pipeline (artifacts)
    "artifact-job-list": {"GET": Rule(A, READ, "jobs of versions the caller can READ")},
    "artifact-job-detail": {"GET": Rule(A, READ)},
    "artifact-job-retry": {"POST": Rule(A, MANAGE, "failed jobs only")},
    "version-artifacts": {"GET": Rule(A, READ)},
    "version-governed-copy": {"POST": Rule(A, MANAGE, "validated versions only")},
    # Sources and served bytes (artifacts, issue 19).
    "source-prefix-list": {"GET": Rule(A, READ), "POST": Rule(A, MANAGE, "never the governed store")},
    "source-prefix-detail": {"DELETE": Rule(A, MANAGE)},
    "deployment-list": {
        "GET": Rule(A, note=VISIBLE),
        "POST": Rule(A, note="READ on the named model, checked by the service"),
    },
    "version-attestations": {"GET": Rule(A, READ, "signed statements; no secrets")},
    "trusted-signer-list": {
        "GET": Rule(A, note="public keys trusted to sign models; no secrets"),
        "POST": Rule(Audience.SUPERUSER),
    },
    "trusted-signer-detail": {"DELETE": Rule(Audience.SUPERUSER)},
    "version-downloads": {"GET": Rule(A, MANAGE, "who fetched which files, when")},
    # Model inventory (inventory): lists and reports show only models the caller can READ.
    "inventory-list": {"GET": Rule(A, note=VISIBLE)},
    "inventory-report": {"GET": Rule(A, note=VISIBLE)},
    "model-inventory": {"GET": Rule(A, READ), "PATCH": Rule(A, MANAGE)},
    "inventory-overdue-reviews": {"GET": Rule(A, note=VISIBLE)},
    "version-card": {"GET": Rule(A, READ), "PATCH": Rule(A, EDIT, "an edit returns the card to draft")},
    "version-card-submit": {"POST": Rule(A, EDIT)},
    "version-card-approve": {
        "POST": Rule(A, READ, "APPROVE_PRODUCTION, checked by the service; not an author")
    },
    "version-card-draft-from-evidence": {
        "POST": Rule(A, EDIT, "fills empty sections of a draft from the run; never an approved card")
    },
    "version-evidence-pack": {"GET": Rule(A, READ, "audited; checkpoint and chain proof only for auditors")},
    "version-validations": {
        "GET": Rule(A, READ),
        "POST": Rule(A, READ, "global inventory.add_validation; the validator must be independent"),
    },
    # Retention and legal hold (retention): the compliance role (retention.place_legal_hold) or a
    # superuser places and releases holds on any model; others see the holds on models they can READ.
    "legal-hold-list": {
        "GET": Rule(A, note=VISIBLE),
        "POST": Rule(A, note="global retention.place_legal_hold or superuser, checked by the service"),
    },
    "legal-hold-release": {
        "POST": Rule(A, note="global retention.place_legal_hold or superuser, checked by the service")
    },
    "version-retention": {"GET": Rule(A, READ)},
    # Webhooks (webhooks): registry-wide ones need the global registry.manage_registry_webhooks,
    # per-model ones MANAGE on the model; others' webhooks answer 404.
    "webhook-list": {
        "GET": Rule(A, note="webhooks the caller may manage"),
        "POST": Rule(A, note="MANAGE on the model, or the global permission for registry-wide"),
    },
    "webhook-detail": {
        "GET": Rule(A, MANAGE, "or the global permission for registry-wide"),
        "PATCH": Rule(A, MANAGE, "or the global permission for registry-wide"),
        "DELETE": Rule(A, MANAGE, "or the global permission for registry-wide"),
    },
    "webhook-test": {"POST": Rule(A, MANAGE, "or the global permission for registry-wide")},
    "webhook-deliveries": {"GET": Rule(A, MANAGE, "or the global permission for registry-wide")},
    "webhook-delivery": {"GET": Rule(A, MANAGE, "or the global permission for registry-wide")},
    "webhook-delivery-replay": {"POST": Rule(A, MANAGE, "or the global permission for registry-wide")},
    "mlflow:webhooks": {
        "GET": Rule(A, note="webhooks the caller may manage"),
        "POST": Rule(A, note="global registry.manage_registry_webhooks (MANAGE with model_name)"),
    },
    "mlflow:webhook": {
        "GET": Rule(A, MANAGE, "or the global permission for registry-wide"),
        "PATCH": Rule(A, MANAGE, "or the global permission for registry-wide"),
        "DELETE": Rule(A, MANAGE, "or the global permission for registry-wide"),
    },
    "mlflow:webhook-test": {"POST": Rule(A, MANAGE, "or the global permission for registry-wide")},
    # Native API: audit trail (audit.api), read-only
    "audit-events": {"GET": Rule(A, READ, "events of models the caller can READ; auditors see all")},
    "audit-export": {"GET": Rule(A, READ, "events of models the caller can READ; auditors see all")},
    "audit-checkpoints": {"GET": Rule(A, note="auditors only (superuser or global audit.view_auditevent)")},
    "audit-keys": {"GET": Rule(A, note="auditors only: the checkpoints' Ed25519 public keys")},
    "audit-report-promotions": {"GET": Rule(A, READ, "from events the caller may see")},
    "audit-report-direct-changes": {"GET": Rule(A, READ, "from events the caller may see")},
    "audit-report-promotions-per-week": {"GET": Rule(A, READ, "from events the caller may see")},
    "audit-report-aliases": {"GET": Rule(A, READ, "from events the caller may see")},
    "audit-report-access": {"GET": Rule(A, READ, "from events the caller may see")},
    "audit-report-sod": {"GET": Rule(A, READ, "models the caller can READ")},
}

# Routes mounted only when a setting turns them on (so the URL configuration may lack them).
CONDITIONAL_ROUTES: frozenset[str] = frozenset({"bench-floor", "bench-floor-pk"})

# Namespaces whose views carry their own, finer permission framework.
NAMESPACE_RULES: dict[str, dict[str, Rule]] = {
    "admin": {
        "*": Rule(
            Audience.STAFF,
            note="staff session; registry admin lists only visible models, object permissions need MANAGE",
        )
    },
}


def rules_for(view_name: str) -> dict[str, Rule] | None:
    """The method -> rule map for a resolved URL name, or None when nobody declared one."""
    if view_name in ROUTE_RULES:
        return ROUTE_RULES[view_name]
    namespace = view_name.split(":", 1)[0] if ":" in view_name else ""
    return NAMESPACE_RULES.get(namespace)


def rule_for(view_name: str, method: str) -> Rule | None:
    rules = rules_for(view_name)
    if rules is None:
        return None
    method = "GET" if method.upper() == "HEAD" else method.upper()
    return rules.get(method) or rules.get("*")


def _has_nul(request: HttpRequest, view_kwargs: dict) -> bool:
    if "\x00" in request.path:
        return True
    if any(isinstance(value, str) and "\x00" in value for value in view_kwargs.values()):
        return True
    # Percent-decoding is one pass, so a NUL in a parsed key or value came from "%00" or a raw NUL.
    # Checked on the raw string: parsing here would cost every request a QueryDict it may not need.
    query = request.META.get("QUERY_STRING", "")
    return "%00" in query or "\x00" in query


class RouteRuleMiddleware:
    """Refuses, before any view runs, routes without a declared rule and methods the rule does not list."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        match = request.resolver_match
        view_name = match.view_name if match is not None else ""
        rules = rules_for(view_name)
        if rules is None:
            logger.warning("refused %s: route %r has no rule in accounts/routes.py", request.path, view_name)
            code = "ENDPOINT_NOT_FOUND" if is_mlflow_path(request.path) else "RESOURCE_DOES_NOT_EXIST"
            return JsonResponse({"error_code": code, "message": f"No route for {request.path}."}, status=404)
        if _has_nul(request, view_kwargs):
            # No name, key or parameter may contain NUL, and PostgreSQL refuses it in text outright.
            return JsonResponse(
                {
                    "error_code": "INVALID_PARAMETER_VALUE",
                    "message": "NUL characters are not allowed in requests.",
                },
                status=400,
            )
        if rule_for(view_name, request.method or "") is None:
            allowed = sorted(rules)
            response = JsonResponse(
                {
                    "error_code": "METHOD_NOT_ALLOWED" if not is_mlflow_path(request.path) else "BAD_REQUEST",
                    "message": f"Method {request.method} is not allowed on {request.path}; use {', '.join(allowed)}.",
                },
                status=405,
            )
            response["Allow"] = ", ".join(allowed)
            return response
        return None
