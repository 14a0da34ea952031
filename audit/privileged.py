"""Which audit events are privileged: the one list (issue 20).

A privileged change is followed, right after its transaction commits, by a signed checkpoint
copied to the governed store (audit/services.py, `checkpoint_after_commit`). Someone who can
rewrite the database can then no longer cut it off the end of the chain unnoticed: what they can
still remove is the ordinary events written after the newest checkpoint (docs/audit.md, "Window").

Privileged are: every change of who may do what (grants, revocations, teams, users, tokens,
policies, webhooks, superuser powers), request decisions, deletions of models and versions, and
stage changes and alias moves on targets a promotion policy governs (promotions, demotions, a
champion alias moved), as the workflows app answers through registry's Governance port.
"""

from typing import Any

from audit.models import Action

PRIVILEGED_ACTIONS = frozenset(
    {
        Action.ACCESS_GRANTED,
        Action.ACCESS_REVOKED,
        Action.TEAM_CHANGED,
        Action.USER_CREATED,
        Action.USER_UPDATED,
        Action.TOKEN_CREATED,
        Action.TOKEN_REVOKED,
        Action.POLICY_CHANGED,
        Action.WEBHOOK_CHANGED,
        Action.SUPERUSER_ACTION,
        Action.REQUEST_APPROVED,
        Action.REQUEST_REJECTED,
        Action.REQUEST_APPLIED,
        Action.MODEL_DELETED,
        Action.VERSION_DELETED,
    }
)

# Privileged only when the target is governed: {action: (target kind, where its names are)}.
GOVERNED_TARGET_ACTIONS = {
    Action.VERSION_STAGE_CHANGED: "stage",
    Action.ALIAS_SET: "alias",
    Action.ALIAS_DELETED: "alias",
}


def _targets(kind: str, fields: dict[str, Any]) -> set[str]:
    """The stage or alias names an event moves from and to."""
    names = set()
    for side in ("before", "after"):
        value = fields.get(side)
        if isinstance(value, dict) and isinstance(value.get(kind), str):
            names.add(value[kind])
    return names


def event_is_privileged(fields: dict[str, Any]) -> bool:
    """Whether the event with these (chained) fields is followed by a checkpoint after commit."""
    action = fields["action"]
    if action in PRIVILEGED_ACTIONS:
        return True
    kind = GOVERNED_TARGET_ACTIONS.get(action)
    if kind is None or fields.get("registered_model_id") is None:
        return False
    from registry import ports
    from registry.models import RegisteredModel

    model = RegisteredModel.objects.filter(pk=fields["registered_model_id"]).first()
    if model is None:
        return True  # cannot tell: anchoring one checkpoint too many costs little
    return any(
        ports.target_is_governed(model=model, target_kind=kind, target=name)
        for name in _targets(kind, fields)
    )
