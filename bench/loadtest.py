"""Bounded load test: concurrent clients mix reads, version creation, alias moves and approvals, then
every invariant is checked (unique versions, one version per alias, one audit event per change, the
audit chain verifies, no 5xx).

Full form, against a running Quorum whose database this process can reach (same DATABASE_URL):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/quorum_load python bench/loadtest.py \\
        --base-url http://127.0.0.1:8000 --clients 16 --seconds 300

It prepares its own models and users (prefix `load-<random>`), so it can run against a populated
registry; the CI form is tests/hardening/test_load.py (16 clients, ~20 s, in-process live server).
"""

import argparse
import os
import random
import secrets
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

STAGING_REASON = "load test: promote to Staging"


@dataclass
class LoadPlan:
    """What the prepared registry holds and who acts on it."""

    models: list[str]
    editor_token: str
    approver_tokens: list[str]
    reader_token: str


@dataclass
class LoadResult:
    """What the clients saw: successful writes by kind, statuses, and any 5xx bodies."""

    writes: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)  # (kind, status) -> responses
    refusals: dict[str, str] = field(default_factory=dict)  # "kind status" -> one example body
    server_errors: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, kind: str, response: requests.Response, ok: int) -> bool:
        with self.lock:
            self.statuses[response.status_code] += 1
            self.by_kind[(kind, response.status_code)] += 1
            if response.status_code >= 400:
                self.refusals.setdefault(f"{kind} {response.status_code}", response.text[:300])
            if response.status_code >= 500:
                self.server_errors.append(f"{kind} {response.status_code} {response.text[:300]}")
            if response.status_code == ok:
                self.writes[kind] += 1
                return True
        return False


def load_registry_prepare(models: int = 4, versions_each: int = 2) -> LoadPlan:
    """Create models, a first few versions and a `candidate` alias each, and the acting users (through services)."""
    from access.grants import Level
    from accounts import services as access
    from registry import services as registry

    prefix = f"load-{secrets.token_hex(3)}"
    operator = access.OPERATOR
    editor = access.user_create(actor=operator, username=f"{prefix}-editor", can_create_models=True)
    approvers = [access.user_create(actor=operator, username=f"{prefix}-approver-{i}") for i in range(2)]
    reader = access.user_create(actor=operator, username=f"{prefix}-reader")
    names = []
    for index in range(models):
        name = f"{prefix}-model-{index}"
        registry.registered_model_create(actor=editor, name=name, description="load test")
        for version in range(versions_each):
            registry.model_version_create(actor=editor, name=name, source=f"gs://load/{name}/{version}")
        registry.alias_set(actor=editor, name=name, alias="candidate", version=1)
        for approver in approvers:
            for level in (Level.READ, Level.APPROVE_STAGING):
                access.grant_add(
                    actor=operator,
                    model_name=name,
                    principal=access.Principal("user", approver.username),
                    level=level,
                )
        access.grant_add(
            actor=operator,
            model_name=name,
            principal=access.Principal("user", reader.username),
            level=Level.READ,
        )
        names.append(name)

    def token(user) -> str:
        return access.token_create(actor=operator, user=user, name="load test").secret

    return LoadPlan(
        models=names,
        editor_token=token(editor),
        approver_tokens=[token(a) for a in approvers],
        reader_token=token(reader),
    )


def _client(base_url: str, plan: LoadPlan, result: LoadResult, deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    sessions = {}
    for role, secret in [("editor", plan.editor_token), ("reader", plan.reader_token)] + [
        (f"approver{i}", t) for i, t in enumerate(plan.approver_tokens)
    ]:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {secret}"
        sessions[role] = session
    filed: list[int] = []
    known_versions = {name: [1, 2] for name in plan.models}  # ours plus the prepared ones
    api = f"{base_url}/api/v1"
    while time.monotonic() < deadline:
        model = rng.choice(plan.models)
        roll = rng.random()
        try:
            if roll < 0.45:
                reader = sessions["reader"]
                url = rng.choice(
                    [
                        f"{api}/models/{model}",
                        f"{api}/models/{model}/versions?limit=20",
                        f"{api}/models/{model}/aliases/candidate",
                        f"{base_url}/api/2.0/mlflow/registered-models/get-latest-versions?name={model}",
                        f"{base_url}/api/2.0/mlflow/registered-models/alias?name={model}&alias=candidate",
                    ]
                )
                result.saw("read", reader.get(url, timeout=30), 200)
            elif roll < 0.60:
                response = sessions["editor"].post(
                    f"{api}/models/{model}/versions",
                    json={"source": f"gs://load/{model}/{rng.random()}"},
                    timeout=30,
                )
                if result.saw("version_create", response, 201):
                    known_versions[model].append(int(response.json()["version"]))
            elif roll < 0.80:
                response = sessions["editor"].put(
                    f"{api}/models/{model}/aliases/candidate",
                    json={"version": rng.choice(known_versions[model])},
                    timeout=30,
                )
                result.saw("alias_set", response, 200)
            elif roll < 0.90 or not filed:
                version = rng.choice(known_versions[model])
                response = sessions["editor"].post(
                    f"{api}/models/{model}/requests",
                    json={"version": version, "stage": "Staging", "reason": STAGING_REASON},
                    timeout=30,
                )
                if result.saw("request_create", response, 201):
                    filed.append(response.json()["id"])
            else:
                request_id = filed.pop(rng.randrange(len(filed)))
                approver = sessions[f"approver{rng.randrange(len(plan.approver_tokens))}"]
                response = approver.post(
                    f"{api}/requests/{request_id}/approve", json={"comment": "load test approval"}, timeout=30
                )
                result.saw("approve", response, 200)
        except (requests.RequestException, ValueError) as exc:
            with result.lock:
                result.transport_errors.append(repr(exc)[:300])


def load_run(base_url: str, plan: LoadPlan, *, clients: int = 16, seconds: float = 20.0) -> LoadResult:
    """Run `clients` threads against `base_url` for `seconds`; returns what they saw."""
    result = LoadResult()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=_client, args=(base_url.rstrip("/"), plan, result, deadline, seed), daemon=True
        )
        for seed in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return result


def load_invariant_violations(plan: LoadPlan, result: LoadResult, audit_events_before: int) -> list[str]:
    """Every invariant that does not hold after the run (empty: all hold)."""
    from django.core.management import call_command
    from django.db.models import Count, F

    from audit.models import Action, AuditEvent
    from registry.models import AliasAssignment, ModelAlias, ModelVersion
    from workflows.models import Approval, TransitionRequest

    problems = []
    if result.server_errors:
        problems.append(f"{len(result.server_errors)} server errors, e.g. {result.server_errors[:3]}")
    if result.transport_errors:
        problems.append(
            f"{len(result.transport_errors)} transport errors, e.g. {result.transport_errors[:3]}"
        )
    versions = ModelVersion.objects.filter(model__name__in=plan.models)
    duplicated = versions.values("model", "version").annotate(n=Count("id")).filter(n__gt=1)
    if duplicated.exists():
        problems.append(f"duplicate version numbers: {list(duplicated)}")
    for name in plan.models:
        numbers = sorted(versions.filter(model__name=name).values_list("version", flat=True))
        if numbers != list(range(1, len(numbers) + 1)):
            problems.append(f"{name}: version numbers are not 1..n: {numbers[:20]}…")
    aliases = ModelAlias.objects.filter(model__name__in=plan.models)
    per_alias = aliases.values("model", "alias").annotate(n=Count("id")).filter(n__gt=1)
    if per_alias.exists():
        problems.append(f"aliases pointing at several versions: {list(per_alias)}")
    if aliases.exclude(version__model=F("model")).exists():
        problems.append("an alias points at another model's version")
    events = Counter(AuditEvent.objects.filter(seq__gt=audit_events_before).values_list("action", flat=True))
    # Re-pointing an alias at the version it already names is a successful no-op with no event, so
    # alias changes are counted from the assignment history (one row per real move; `prepare` made one
    # per model), and must be no more than the successful PUTs.
    moves = AliasAssignment.objects.filter(model__name__in=plan.models).count() - len(plan.models)
    if moves > result.writes["alias_set"]:
        problems.append(f"{moves} alias moves recorded for {result.writes['alias_set']} successful PUTs")
    for alias in aliases.select_related("version"):
        open_rows = list(
            AliasAssignment.objects.filter(
                model=alias.model_id, alias=alias.alias, cleared_at__isnull=True
            ).values_list("version_number", flat=True)
        )
        if open_rows != [alias.version.version]:
            problems.append(f"{alias}: history says {open_rows}, alias says {alias.version.version}")
    expected = {
        Action.VERSION_CREATED: result.writes["version_create"],
        Action.ALIAS_SET: moves,
        Action.REQUEST_CREATED: result.writes["request_create"],
        Action.REQUEST_APPROVED: result.writes["approve"],
    }
    for action, count in expected.items():
        if events[action] != count:
            problems.append(f"{action}: {events[action]} audit events for {count} successful writes")
    approvals = Approval.objects.filter(request__model__name__in=plan.models).count()
    if approvals != result.writes["approve"]:
        problems.append(f"{approvals} approvals stored for {result.writes['approve']} successful approvals")
    applied = TransitionRequest.objects.filter(model__name__in=plan.models, state="applied").count()
    if events[Action.REQUEST_APPLIED] != applied:
        problems.append(
            f"{events[Action.REQUEST_APPLIED]} request.applied events for {applied} applied requests"
        )
    try:
        call_command("audit_verify", stdout=open(os.devnull, "w"))
    except SystemExit as exc:
        if exc.code:
            problems.append(f"audit_verify exited {exc.code}")
    except Exception as exc:  # audit_verify raises CommandError on a broken chain
        problems.append(f"audit_verify: {exc}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--models", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from audit.models import AuditEvent

    plan = load_registry_prepare(models=args.models)
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    started = time.monotonic()
    result = load_run(args.base_url, plan, clients=args.clients, seconds=args.seconds)
    elapsed = time.monotonic() - started
    total = sum(result.statuses.values())
    print(f"{total} requests in {elapsed:.1f} s ({total / elapsed:.0f}/s) with {args.clients} clients")
    print(f"statuses: {dict(sorted(result.statuses.items()))}; successful writes: {dict(result.writes)}")
    problems = load_invariant_violations(plan, result, before)
    for problem in problems:
        print(f"INVARIANT BROKEN: {problem}")
    print("all invariants hold" if not problems else f"{len(problems)} invariants broken")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
