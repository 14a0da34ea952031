"""Rules of the identity-provider sign-in that need no provider: team mapping and the local-password switch."""

import pytest
from django.test import Client

from accounts import oidc
from accounts import services as accounts
from accounts.models import Team, User
from audit.models import Action, AuditEvent

MAPPING = {"ml-eng": "ml-platform", "risk": "model-risk"}


def test_teams_for_groups_is_the_mapping_and_nothing_else() -> None:
    assert oidc.teams_for_groups({"ml-eng", "staff"}, MAPPING) == {"ml-platform"}
    assert oidc.teams_for_groups(set(), MAPPING) == set()
    assert oidc.claimed_groups({"groups": "risk"}) == {"risk"}
    assert oidc.claimed_groups({"groups": [1, {"x": 2}, "risk"]}) == {"risk"}
    assert oidc.claimed_groups({"groups": {"risk": True}}) == set()


@pytest.mark.django_db
def test_the_claim_removes_mapped_memberships_given_by_hand_and_leaves_unmapped_teams_alone(settings) -> None:
    settings.QUORUM_OIDC_GROUP_TEAMS = MAPPING
    dave = User.objects.create_user("dave")
    for team in ("model-risk", "reviewers"):
        accounts.team_create(actor=accounts.OPERATOR, name=team)
        accounts.team_member_add(actor=accounts.OPERATOR, team_name=team, username="dave")
    from django.db import transaction

    with transaction.atomic():
        oidc.teams_follow_claims(dave, {"sub": "1", "groups": ["ml-eng"]})
    assert set(dave.groups.values_list("name", flat=True)) == {"ml-platform", "reviewers"}
    removed = AuditEvent.objects.get(action=Action.TEAM_CHANGED, after__member_removed="dave")
    assert removed.target_name == "model-risk" and removed.actor_username == "system"
    assert removed.after["by"] == "identity provider group mapping"
    assert Team.objects.filter(group__name="ml-platform").exists()


@pytest.mark.django_db
def test_local_passwords_off_signs_in_only_the_break_glass_admin(settings) -> None:
    User.objects.create_superuser("breakglass", password="break-glass-pw-1")
    User.objects.create_user("erin", password="erin-local-pw-1", is_staff=True)
    erin_session = Client()
    assert erin_session.login(username="erin", password="erin-local-pw-1")
    settings.QUORUM_LOCAL_PASSWORDS = False
    settings.QUORUM_BREAK_GLASS_USERNAMES = ["breakglass"]
    for username, password, allowed in (
        ("erin", "erin-local-pw-1", False),
        ("breakglass", "break-glass-pw-1", True),
    ):
        response = Client().post(
            "/admin/login/?next=/admin/", {"username": username, "password": password}, follow=False
        )
        assert (response.status_code == 302) is allowed, (username, response.status_code)
    # A password session made before the switch ends too.
    assert erin_session.get("/admin/").status_code == 302
    # HTTP Basic with the password is refused the same way.
    import base64

    basic = base64.b64encode(b"erin:erin-local-pw-1").decode()
    refused = Client().get("/api/v1/models", HTTP_AUTHORIZATION=f"Basic {basic}")
    assert refused.status_code == 401
