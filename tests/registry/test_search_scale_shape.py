"""List and search visibility (EXISTS probes on the grant tables) sees exactly what guardian's list query sees.

The selectors no longer call guardian's get_objects_for_user for lists and searches (its
`id::varchar IN (every granted object)` made PostgreSQL hash all of a user's grants on each search);
guardian's query stays the reference these tests compare against, role by role and grant by grant.
"""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_objects_for_user

from access.grants import VISIBLE_CODENAMES, Level
from accounts import services as access
from accounts.models import User
from registry import selectors
from registry import services as registry
from registry.models import ModelVersion, RegisteredModel, Stage
from tests.fixtures_access import CAST_ROLES, AccessCast, access_user

pytestmark = pytest.mark.django_db


def guardian_names(user: User | None) -> list[str]:
    """The reference: guardian's list query, as the selectors called it before."""
    if user is None or not user.is_active:
        return []
    if user.is_superuser:
        return sorted(RegisteredModel.objects.values_list("name", flat=True))
    found = get_objects_for_user(
        user,
        [f"registry.{codename}" for codename in VISIBLE_CODENAMES],
        klass=RegisteredModel,
        any_perm=True,
        accept_global_perms=True,
        with_superuser=False,
    )
    return sorted(found.values_list("name", flat=True))


def listed_names(user: User | None) -> list[str]:
    return sorted(selectors.registered_models_visible_to(user).values_list("name", flat=True))


def listed_versions(user: User | None) -> list[tuple[str, int]]:
    return sorted(selectors.model_versions_visible_to(user).values_list("model__name", "version"))


def versions_of(names: list[str]) -> list[tuple[str, int]]:
    return sorted(ModelVersion.objects.filter(model__name__in=names).values_list("model__name", "version"))


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def grant(model: str, level: Level, *, user: User | None = None, team: str | None = None) -> None:
    principal = access.Principal("team", team) if team else access.Principal("user", user.username)
    access.grant_add(actor=access.OPERATOR, model_name=model, principal=principal, level=level)


def test_every_cast_role_lists_what_guardian_lists(access_cast: AccessCast) -> None:
    expected = {
        "anonymous": [],
        "outsider": [],
        "reader": ["fraud"],
        "editor": ["fraud"],
        "staging_approver": ["fraud"],
        "production_approver": ["fraud"],  # READ through the model-risk team
        "manager": ["fraud"],  # MANAGE as its creator
        "superuser": ["fraud", "secret-model"],
    }
    for role in CAST_ROLES:
        user = access_cast.user(role)
        assert listed_names(user) == guardian_names(user) == expected[role], role
        assert listed_versions(user) == versions_of(expected[role]), role
    assert listed_names(fresh(access_cast.other_owner)) == guardian_names(access_cast.other_owner)


def test_only_read_or_manage_object_grants_make_a_model_listed(access_cast: AccessCast) -> None:
    for level in (Level.EDIT, Level.APPROVE_STAGING, Level.APPROVE_PRODUCTION):
        holder = access_user(f"only-{level.lower()}")
        grant("fraud", level, user=holder)
        assert listed_names(fresh(holder)) == guardian_names(fresh(holder)) == [], level
    manager = access_user("manage-only")
    grant("secret-model", Level.MANAGE, user=manager)
    assert listed_names(fresh(manager)) == guardian_names(fresh(manager)) == ["secret-model"]
    # A global READ grant lists every model, as a global grant does in Django (guardian's list
    # query, asked with any_perm, misses it: the reference stops here).
    watcher = access_user("watcher")
    watcher.user_permissions.add(Permission.objects.get(codename="view_registeredmodel"))
    assert listed_names(fresh(watcher)) == ["fraud", "secret-model"]
    assert listed_versions(fresh(watcher)) == versions_of(["fraud", "secret-model"])


def test_team_grants_count_through_any_of_the_users_teams(access_cast: AccessCast) -> None:
    member = access_user("member")
    for team in ("empty-team", "readers", "managers"):
        access.team_create(actor=access.OPERATOR, name=team)
        access.team_member_add(actor=access.OPERATOR, team_name=team, username="member")
    grant("fraud", Level.READ, team="readers")
    grant("secret-model", Level.MANAGE, team="managers")
    assert listed_names(fresh(member)) == guardian_names(fresh(member)) == ["fraud", "secret-model"]
    access.team_member_remove(actor=access.OPERATOR, team_name="managers", username="member")
    assert listed_names(fresh(member)) == guardian_names(fresh(member)) == ["fraud"]
    # Another team's grants, and a team the user left, show nothing.
    assert listed_names(fresh(access_cast.outsider)) == []


def test_a_grant_on_another_kind_of_object_with_the_same_id_is_not_a_grant_on_the_model(
    access_cast: AccessCast,
) -> None:
    # guardian stores object ids as text per content type: a grant on group #<fraud's id> is no grant on fraud.
    holder = access_user("group-viewer")
    team = Group.objects.create(name="group-viewers")
    holder.groups.add(team)
    group_type = ContentType.objects.get_for_model(Group)
    object_pk = str(access_cast.fraud.pk)
    view_group = Permission.objects.get(content_type=group_type, codename="view_group")
    # bulk_create: guardian's save() would look the group up, and no group need have that id.
    UserObjectPermission.objects.bulk_create(
        [
            UserObjectPermission(
                user=holder, permission=view_group, content_type=group_type, object_pk=object_pk
            )
        ]
    )
    GroupObjectPermission.objects.bulk_create(
        [
            GroupObjectPermission(
                group=team, permission=view_group, content_type=group_type, object_pk=object_pk
            )
        ]
    )
    assert listed_names(fresh(holder)) == guardian_names(fresh(holder)) == []


def test_inactive_users_list_nothing_and_superusers_list_everything(access_cast: AccessCast) -> None:
    User.objects.filter(pk=access_cast.reader.pk).update(is_active=False)
    assert (
        listed_names(access_cast.user("reader")) == [] and listed_versions(access_cast.user("reader")) == []
    )
    User.objects.filter(pk=access_cast.superuser.pk).update(is_active=False)
    assert listed_names(access_cast.user("superuser")) == []
    assert listed_versions(access_cast.user("superuser")) == []


def test_searches_and_their_pages_show_only_visible_models_in_order(access_cast: AccessCast, api_as) -> None:
    for i in range(5):
        name = f"scale-{i}"
        registry.registered_model_create(
            actor=access_cast.manager, name=name, tags=[{"key": "team", "value": "risk"}]
        )
        registry.model_version_create(actor=access_cast.manager, name=name, source=f"s3://bucket/{name}/1")
        if i % 2 == 0:
            grant(name, Level.READ, user=access_cast.reader)
    client = api_as("reader")
    names, token = [], None
    while True:
        params = {"filter": "tags.team='risk'", "max_results": 2, **({"page_token": token} if token else {})}
        body = client.get("/api/2.0/mlflow/registered-models/search", params).json()
        names += [m["name"] for m in body.get("registered_models", [])]
        token = body.get("next_page_token")
        if not token:
            break
    assert names == ["fraud", "scale-0", "scale-2", "scale-4"]
    body = client.get(
        "/api/2.0/mlflow/model-versions/search",
        {"filter": "name LIKE 'scale-%'", "order_by": ["name ASC"], "max_results": 10},
    ).json()
    assert [(v["name"], v["version"]) for v in body["model_versions"]] == [
        ("scale-0", "1"),
        ("scale-2", "1"),
        ("scale-4", "1"),
    ]
    hidden = client.get("/api/2.0/mlflow/model-versions/search", {"filter": "name='scale-1'"}).json()
    assert hidden == {}


def test_latest_versions_by_model_is_the_newest_version_in_each_stage(access_cast: AccessCast) -> None:
    manager = access_cast.manager
    registry.registered_model_create(actor=manager, name="empty")
    registry.registered_model_create(actor=manager, name="staged")
    for number in range(1, 6):
        registry.model_version_create(actor=manager, name="staged", source=f"s3://bucket/staged/{number}")
    ModelVersion.objects.filter(model__name="staged", version__in=[2, 3]).update(stage=Stage.STAGING)
    ModelVersion.objects.filter(model__name="staged", version=1).update(stage=Stage.ARCHIVED)
    ids = list(
        RegisteredModel.objects.filter(name__in=["fraud", "empty", "staged"]).values_list("pk", flat=True)
    )

    latest = selectors.latest_versions_by_model(ids)

    shown = {
        RegisteredModel.objects.get(pk=pk).name: [(v.version, v.stage, v.model.name) for v in rows]
        for pk, rows in latest.items()
    }
    assert shown == {
        "fraud": [(2, Stage.NONE, "fraud")],
        "staged": [(1, Stage.ARCHIVED, "staged"), (3, Stage.STAGING, "staged"), (5, Stage.NONE, "staged")],
    }
    assert selectors.latest_versions_by_model([]) == {}


def test_a_search_page_carries_each_rows_own_related_rows_and_nothing_else(access_cast: AccessCast) -> None:
    manager = access_cast.manager
    for name in ("alpha", "beta"):
        registry.registered_model_create(
            actor=manager, name=name, tags=[{"key": "team", "value": name}, {"key": "zone", "value": "eu"}]
        )
        registry.model_version_create(
            actor=manager, name=name, source=f"s3://bucket/{name}/1", tags=[{"key": "k", "value": name}]
        )
        registry.alias_set(actor=manager, name=name, alias="live", version=1)
    user = fresh(manager)
    models = list(selectors.registered_models_search(user, filter_string="tags.zone='eu'"))
    versions = list(
        selectors.model_versions_search(user, filter_string="name LIKE '%a%'", order_by=["name ASC"])
    )

    with CaptureQueriesContext(connection) as read:
        shown = {
            m.name: ([(t.key, t.value) for t in m.tags.all()], [a.alias for a in m.aliases.all()])
            for m in models
        }
        shown_versions = {
            (v.model.name, v.version): ([(t.key, t.value) for t in v.tags.all()], v.creator.username)
            for v in versions
        }
    assert read.captured_queries == []  # all of it came with the page
    assert shown == {
        "alpha": ([("team", "alpha"), ("zone", "eu")], ["live"]),
        "beta": ([("team", "beta"), ("zone", "eu")], ["live"]),
    }
    assert shown_versions == {
        ("alpha", 1): ([("k", "alpha")], "manager"),
        ("beta", 1): ([("k", "beta")], "manager"),
        ("fraud", 1): ([("k", "v")], "manager"),
        ("fraud", 2): ([("k", "v")], "manager"),
    }
    # Building on a prefetched relation queries that row's relation, never another row's.
    alpha = next(m for m in models if m.name == "alpha")
    assert [t.value for t in alpha.tags.filter(key="team")] == ["alpha"]
    assert alpha.tags.order_by("-key").first().key == "zone"
    assert alpha.tags.count() == 2 and alpha.tags.exists()


def test_search_queries_do_not_grow_with_the_rows_on_the_page(access_cast: AccessCast, api_as) -> None:
    client = api_as("manager")

    def queries(path: str, params: dict) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path, params).status_code == 200
        return len(captured.captured_queries)

    before = (
        queries("/api/2.0/mlflow/registered-models/search", {"max_results": 100}),
        queries("/api/2.0/mlflow/model-versions/search", {"max_results": 100}),
    )
    for i in range(6):
        name = f"more-{i}"
        registry.registered_model_create(
            actor=access_cast.manager, name=name, tags=[{"key": "team", "value": "x"}]
        )
        for _ in range(2):
            registry.model_version_create(
                actor=access_cast.manager,
                name=name,
                source=f"s3://bucket/{name}",
                tags=[{"key": "k", "value": "v"}],
            )
        registry.alias_set(actor=access_cast.manager, name=name, alias="live", version=2)
    after = (
        queries("/api/2.0/mlflow/registered-models/search", {"max_results": 100}),
        queries("/api/2.0/mlflow/model-versions/search", {"max_results": 100}),
    )
    assert after == before
