"""Every write to identities and access: tokens, grants, teams, accounts. One transaction each.

`actor` is the user doing it, or OPERATOR for an operator at the shell (management commands),
who is trusted like a superuser and audited as the system with the command's name.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import assign_perm, remove_perm

import audit
from access.grants import LEVEL_CODENAMES, MANAGE_CODENAME, Level, level_parse
from accounts.authentication import TOKEN_PREFIX
from accounts.models import ApiToken, SignInFailures, Team, User, token_digest
from audit.models import Action
from config.login_throttle import network_of
from registry.errors import AlreadyExists, Conflict, InvalidParameter, NotFound, PermissionDenied
from registry.models import RegisteredModel

OPERATOR: Literal["system"] = "system"
Actor = User | Literal["system"]

TOKEN_NAME_MAX = 100


def _is_operator(actor: Actor) -> bool:
    return actor == OPERATOR


def _require_superuser(actor: Actor, doing: str) -> None:
    if _is_operator(actor):
        return
    if not (actor.is_authenticated and actor.is_active and actor.is_superuser):
        raise PermissionDenied(f"{doing} needs a superuser.")


# --- Tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token and its secret: the only moment the secret exists in clear."""

    token: ApiToken
    secret: str


def _token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def token_create(*, actor: Actor, user: User, name: str, expires_at: datetime | None = None) -> IssuedToken:
    """Issue a token for `user` (yourself, or anyone for a superuser/operator); the secret is returned once."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > TOKEN_NAME_MAX:
        raise InvalidParameter(
            f"Token name must be a non-empty string of at most {TOKEN_NAME_MAX} characters.", field="name"
        )
    name = name.strip()
    if not name.isprintable():
        raise InvalidParameter("Token name must be printable text.", field="name")
    if not _is_operator(actor) and actor.pk != user.pk:
        _require_superuser(actor, "Creating a token for another user")
    if not user.is_active:
        raise InvalidParameter(f"User '{user.username}' is inactive.", field="user")
    now = timezone.now()
    if expires_at is None:
        # Every token expires: no expiry asked for means the configured default lifetime.
        expires_at = now + timedelta(days=settings.QUORUM_TOKEN_DEFAULT_DAYS)
    if timezone.is_naive(expires_at):
        raise InvalidParameter("Parameter 'expires_at' must include a time zone.", field="expires_at")
    if expires_at <= now:
        raise InvalidParameter("Parameter 'expires_at' must be in the future.", field="expires_at")
    maximum = settings.QUORUM_TOKEN_MAX_DAYS
    if expires_at - now > timedelta(days=maximum, minutes=1):  # a minute's grace for the request's own time
        raise InvalidParameter(
            f"Tokens live at most {maximum} days (QUORUM_TOKEN_MAX_DAYS).", field="expires_at"
        )
    if ApiToken.objects.filter(user=user, name=name).exists():
        raise AlreadyExists(f"User '{user.username}' already has a token named '{name}'.")
    secret = _token_secret()
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user, name=name, prefix=secret[:12], digest=token_digest(secret), expires_at=expires_at
            )
    except IntegrityError:
        raise AlreadyExists(f"User '{user.username}' already has a token named '{name}'.")
    audit.record(
        actor=actor,
        action=Action.TOKEN_CREATED,
        target=token,
        after={"user": user.username, "name": name, "prefix": token.prefix, "expires_at": expires_at},
    )
    return IssuedToken(token=token, secret=secret)


@transaction.atomic
def token_revoke(*, actor: Actor, token_id: int) -> ApiToken:
    """Revoke a token: your own, or anyone's for a superuser/operator. Others' tokens are 'not found'."""
    # Ids beyond a 64-bit key cannot exist; asking the database would be an error, not "not found".
    in_range = isinstance(token_id, int) and 0 < token_id < 2**63
    found = (
        ApiToken.objects.select_for_update().select_related("user").filter(pk=token_id) if in_range else None
    )
    token = found.first() if found is not None else None
    may_see = token is not None and (
        _is_operator(actor) or actor.is_superuser or (actor.is_authenticated and token.user_id == actor.pk)
    )
    if not may_see:
        raise NotFound(f"Token {token_id} not found.")
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(
        actor=actor,
        action=Action.TOKEN_REVOKED,
        target=token,
        after={"user": token.user.username, "name": token.name, "prefix": token.prefix},
    )
    return token


# --- Users and teams ---------------------------------------------------------------------


@transaction.atomic
def user_create(
    *,
    actor: Actor,
    username: str,
    email: str = "",
    password: str | None = None,
    is_service_account: bool = False,
    can_create_models: bool = False,
    full_name: str = "",
    one_time_password: bool = False,
) -> User:
    """Create a person (optionally with a password: `one_time_password`, someone else saw it, so it is
    changed at first sign-in) or a token-only service account. `full_name` is the printed name an
    electronic signature shows: "First Last" (the last word is the last name)."""
    _require_superuser(actor, "Creating users")
    if not isinstance(username, str) or not username or len(username) > 150:
        raise InvalidParameter("Username must be 1 to 150 characters.", field="username")
    try:
        User.username_validator(username)
    except ValidationError as exc:
        raise InvalidParameter(f"Invalid username '{username}': {' '.join(exc.messages)}", field="username")
    if User.objects.filter(username=username).exists():
        raise AlreadyExists(f"User '{username}' already exists.")
    if is_service_account and password:
        raise InvalidParameter("Service accounts authenticate with tokens only, never a password.")
    first_name, _, last_name = (
        full_name.strip().rpartition(" ") if " " in full_name.strip() else (full_name.strip(), "", "")
    )
    user = User(
        username=username,
        email=email,
        is_service_account=is_service_account,
        first_name=first_name[:150],
        last_name=last_name[:150],
        must_change_password=bool(password and one_time_password),
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    if can_create_models:
        from django.contrib.auth.models import Permission

        user.user_permissions.add(Permission.objects.get(codename="add_registeredmodel"))
    audit.record(
        actor=actor,
        action=Action.USER_CREATED,
        target=user,
        after={
            "username": username,
            "full_name": user.get_full_name(),
            "service_account": is_service_account,
            "can_create_models": can_create_models,
            "must_change_password": user.must_change_password,
        },
    )
    return user


def _team_by_name(name: str) -> Team:
    team = Team.objects.select_related("group").filter(group__name=name).first()
    if team is None:
        raise NotFound(f"Team '{name}' not found.")
    return team


def _require_team_admin(actor: Actor, doing: str) -> None:
    if _is_operator(actor):
        return
    if (
        actor.is_authenticated
        and actor.is_active
        and (actor.is_superuser or actor.has_perm("accounts.change_team"))
    ):
        return
    raise PermissionDenied(f"{doing} needs a superuser or the global 'accounts.change_team' permission.")


@transaction.atomic
def team_create(*, actor: Actor, name: str, description: str = "") -> Team:
    _require_team_admin(actor, "Creating a team")
    if not isinstance(name, str) or not name.strip() or len(name) > 150:
        raise InvalidParameter("Team name must be 1 to 150 characters.", field="name")
    if Group.objects.filter(name=name).exists():
        raise AlreadyExists(f"Team '{name}' already exists.")
    group = Group.objects.create(name=name)
    team = Team.objects.create(group=group, description=description or "")
    audit.record(
        actor=actor,
        action=Action.TEAM_CHANGED,
        target=team,
        after={"team": name, "created": True, "description": team.description},
    )
    return team


def team_member_add(*, actor: Actor, team_name: str, username: str) -> Team:
    try:
        _require_team_admin(actor, "Changing team members")
    except PermissionDenied as refused:
        # Its own transaction: the refusal is recorded although nothing else is written.
        with transaction.atomic():
            audit.record(
                actor=actor,
                action=Action.TEAM_JOIN_REFUSED,
                target_type="accounts.team",
                target_name=team_name[:600],
                after={"team": team_name, "member": username},
                reason=refused.message,
            )
        raise
    return _team_member_add(actor=actor, team_name=team_name, username=username)


@transaction.atomic
def _team_member_add(*, actor: Actor, team_name: str, username: str) -> Team:
    team = _team_by_name(team_name)
    user = User.objects.filter(username=username).first()
    if user is None:
        raise InvalidParameter(f"User '{username}' does not exist.", field="username")
    if team.group.user_set.filter(pk=user.pk).exists():
        return team
    team.group.user_set.add(user)
    audit.record(
        actor=actor,
        action=Action.TEAM_CHANGED,
        target=team,
        after={"team": team.name, "member_added": username},
    )
    return team


@transaction.atomic
def team_member_remove(*, actor: Actor, team_name: str, username: str) -> Team:
    _require_team_admin(actor, "Changing team members")
    team = _team_by_name(team_name)
    user = team.group.user_set.filter(username=username).first()
    if user is None:
        raise NotFound(f"User '{username}' is not a member of team '{team_name}'.")
    team.group.user_set.remove(user)
    audit.record(
        actor=actor,
        action=Action.TEAM_CHANGED,
        target=team,
        after={"team": team.name, "member_removed": username},
    )
    return team


# --- Grants on registered models ---------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who a grant goes to: a user or a team."""

    kind: Literal["user", "team"]
    name: str


def _principal_object(principal: Principal) -> User | Group:
    if principal.kind == "user":
        user = User.objects.filter(username=principal.name).first()
        if user is None:
            raise InvalidParameter(f"User '{principal.name}' does not exist.", field="user")
        return user
    if principal.kind == "team":
        group = Group.objects.filter(name=principal.name, team__isnull=False).first()
        if group is None:
            raise InvalidParameter(f"Team '{principal.name}' does not exist.", field="team")
        return group
    raise InvalidParameter("A grant goes to a 'user' or a 'team'.")


def _level(raw: object) -> Level:
    try:
        return level_parse(raw)
    except ValueError as exc:
        raise InvalidParameter(str(exc), field="level")


def _model_for_access_change(actor: Actor, model_name: str, doing: str) -> RegisteredModel:
    if _is_operator(actor):
        model = RegisteredModel.objects.select_for_update().filter(name=model_name).first()
        if model is None:
            raise NotFound(f"Registered Model with name={model_name} not found")
        return model
    from registry.services import registered_model_for_update

    return registered_model_for_update(actor, model_name, Level.MANAGE, doing)


def _holds_directly(target: User | Group, codename: str, model: RegisteredModel) -> bool:
    content_type = ContentType.objects.get_for_model(RegisteredModel)
    on_object = {"content_type": content_type, "object_pk": str(model.pk), "permission__codename": codename}
    if isinstance(target, User):
        return UserObjectPermission.objects.filter(user=target, **on_object).exists()
    return GroupObjectPermission.objects.filter(group=target, **on_object).exists()


def _manage_grant_count(model: RegisteredModel) -> int:
    content_type = ContentType.objects.get_for_model(RegisteredModel)
    on_object = {
        "content_type": content_type,
        "object_pk": str(model.pk),
        "permission__codename": MANAGE_CODENAME,
    }
    return (
        UserObjectPermission.objects.filter(**on_object).count()
        + GroupObjectPermission.objects.filter(**on_object).count()
    )


def _grant_description(model: RegisteredModel, principal: Principal, level: Level) -> dict[str, str]:
    return {"model": model.name, principal.kind: principal.name, "level": level.value}


@transaction.atomic
def grant_add(*, actor: Actor, model_name: str, principal: Principal, level: object) -> bool:
    """Grant `level` on a model to a user or team; only MANAGE holders may. False if it was already held."""
    wanted = _level(level)
    model = _model_for_access_change(actor, model_name, "Granting access")
    target = _principal_object(principal)
    codename = LEVEL_CODENAMES[wanted]
    if _holds_directly(target, codename, model):
        return False
    assign_perm(codename, target, model)
    audit.record(
        actor=actor,
        action=Action.ACCESS_GRANTED,
        target=model,
        model_name=model.name,
        after=_grant_description(model, principal, wanted),
    )
    return True


@transaction.atomic
def grant_remove(*, actor: Actor, model_name: str, principal: Principal, level: object) -> None:
    """Revoke a direct or team grant; the last MANAGE grant of a model cannot be revoked."""
    wanted = _level(level)
    model = _model_for_access_change(actor, model_name, "Revoking access")
    target = _principal_object(principal)
    codename = LEVEL_CODENAMES[wanted]
    if not _holds_directly(target, codename, model):
        raise NotFound(
            f"{principal.kind.capitalize()} '{principal.name}' holds no {wanted.value} grant on '{model.name}'."
        )
    # Without any MANAGE grant only superusers could ever change the model's access again.
    if wanted == Level.MANAGE and _manage_grant_count(model) <= 1:
        raise Conflict(
            f"'{principal.name}' holds the last MANAGE grant on '{model.name}'; grant MANAGE to someone else first."
        )
    remove_perm(codename, target, model)
    audit.record(
        actor=actor,
        action=Action.ACCESS_REVOKED,
        target=model,
        model_name=model.name,
        before=_grant_description(model, principal, wanted),
    )


# --- Failed sign-ins (aggregated audit) ---------------------------------------------------


def _window_start(now: datetime) -> datetime:
    seconds = settings.QUORUM_LOGIN_AUDIT_WINDOW_SECONDS
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=UTC)


def sign_in_failure_count(*, username: str, address: str, refused: bool, network_wide: bool = False) -> None:
    """Count one failed or refused sign-in in its (username, network, window) row.

    Only the window's first attempt appends an audit event (the closing sweep appends the totals):
    a guessing run, or a flood against a lock, cannot grow the chain one event per guess.
    `network_wide` files an attempt the network's flood backoff refused under no username, so a
    spray of invented usernames fills one row, not one per name.
    """
    now = timezone.now()
    network = network_of(address)
    key = {
        "username": "" if network_wide else username[:150],
        "network": network,
        "window_start": _window_start(now),
    }
    counter = "refused" if refused else "failures"
    with transaction.atomic():
        if SignInFailures.objects.filter(**key).update(**{counter: F(counter) + 1, "last_at": now}):
            return
        try:
            with transaction.atomic():
                SignInFailures.objects.create(**key, **{counter: 1}, last_at=now)
        except IntegrityError:  # another process opened the window first
            SignInFailures.objects.filter(**key).update(**{counter: F(counter) + 1, "last_at": now})
            return
        seconds = settings.QUORUM_LOGIN_AUDIT_WINDOW_SECONDS
        audit.record(
            actor=None,
            action=Action.LOGIN_FAILED,
            target_type="accounts.user",
            target_name=key["username"],
            after={"username": key["username"]},
            reason=(
                f"First {'refused' if refused else 'failed'} sign-in from {network} in the {seconds} s window "
                f"from {key['window_start'].isoformat()}; later ones in the window are counted and "
                "recorded with the totals when it closes."
            ),
        )


def sign_in_failure_windows_close(*, now: datetime | None = None) -> int:
    """Record the totals of every ended window that saw more than its first attempt; returns how many."""
    now = now or timezone.now()
    ended_before = _window_start(now)
    recorded = 0
    open_windows = SignInFailures.objects.filter(close_recorded=False, window_start__lt=ended_before)
    for pk in open_windows.order_by("window_start", "pk").values_list("pk", flat=True)[:1000]:
        with transaction.atomic():
            row = SignInFailures.objects.select_for_update().filter(pk=pk, close_recorded=False).first()
            if row is None:
                continue
            row.close_recorded = True
            row.save(update_fields=["close_recorded"])
            if row.failures + row.refused <= 1:
                continue  # the opening event already said everything
            seconds = settings.QUORUM_LOGIN_AUDIT_WINDOW_SECONDS
            audit.record(
                actor="system",
                action=Action.LOGIN_FAILED,
                target_type="accounts.user",
                target_name=row.username,
                after={
                    "username": row.username,
                    "network": row.network,
                    "window_start": row.window_start,
                    "window_seconds": seconds,
                    "failures": row.failures,
                    "refused": row.refused,
                    "last_at": row.last_at,
                },
                reason=f"Sign-in window closed: {row.failures} failed and {row.refused} refused attempts.",
            )
            recorded += 1
    return recorded


# --- First sign-in ------------------------------------------------------------------------

PASSWORD_CHANGE_PATH = "/admin/password_change/"


def one_time_password_issued(*, user: User) -> None:
    """Mark `user`'s password as one-time (it was printed, so others may have seen it); caller audits
    the creation in the same transaction (the `must_change_password` field is in its `after`)."""
    User.objects.filter(pk=user.pk).update(must_change_password=True)
    user.must_change_password = True


@transaction.atomic
def password_changed(*, user: User) -> None:
    """The user set a password of their own: a one-time password stops counting. Audited when it did."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if not locked.must_change_password:
        return
    User.objects.filter(pk=user.pk).update(must_change_password=False)
    user.must_change_password = False
    audit.record(
        actor=user,
        action=Action.USER_UPDATED,
        target=locked,
        target_name=locked.username,
        before={"must_change_password": True},
        after={"must_change_password": False, "password_changed": True},
        reason="first sign-in: replaced the one-time password",
    )
