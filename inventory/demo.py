"""The quickstart demo's inventory: tiers for every demo model, one independent validation and one
approved model card, written through the same audited services a person would use."""

from collections.abc import Callable

from django.contrib.auth.models import Permission
from django.db import transaction

import audit
from accounts.models import User
from audit.models import Action
from inventory import services
from registry.errors import RegistryError
from registry.models import RegisteredModel
from workflows.management.commands.quickstart import DEMO_APPROVERS

# model -> (tier, lifecycle status, intended use, business owner, regulatory tags)
DEMO_INVENTORY = {
    "fraud-detector": (
        "high",
        "in_use",
        "Flag card transactions for fraud review",
        "Payments risk",
        ["sr-26-2"],
    ),
    "churn-predictor": ("low", "development", "Rank customers for retention offers", "Marketing", []),
    "credit-scoring": (
        "high",
        "development",
        "Pre-screen retail credit applications",
        "Retail credit",
        ["eu-ai-act-high-risk", "sr-26-2"],
    ),
}
VALIDATED = ("fraud-detector", 3)  # validated by the first demo approver, card approved by the second
CARD = {
    "intended_use": "Score card transactions so analysts review the riskiest first.",
    "out_of_scope_uses": "Declining transactions automatically; any use outside card payments.",
    "training_data": "Demo data: twelve months of labelled card transactions.",
    "evaluation": "Demo: recalls 4% more fraud than v2 at the same false-positive rate.",
    "limitations": "New merchant categories are under-represented.",
    "ethical_considerations": "Reviewed for disparate impact across regions.",
    "caveats": "Demo content: replace with the real model's documentation.",
}


@transaction.atomic
def inventory_demo_load(*, admin: User, say: Callable[[str], None]) -> None:
    """Fill the demo models' inventory; skipped parts (a missing model or approver) are said so."""
    for name, (tier, status, use, owner, tags) in DEMO_INVENTORY.items():
        if RegisteredModel.objects.filter(name=name).exists():
            services.inventory_update(
                actor=admin,
                name=name,
                changes={
                    "risk_tier": tier,
                    "lifecycle_status": status,
                    "intended_use": use,
                    "business_owner": owner,
                    "developer": admin.username,
                    "regulatory_tags": tags,
                },
            )
    approvers = {u.username: u for u in User.objects.filter(username__in=DEMO_APPROVERS)}
    validator, card_approver = (approvers.get(name) for name in DEMO_APPROVERS)
    name, version = VALIDATED
    if validator is None or card_approver is None or not RegisteredModel.objects.filter(name=name).exists():
        say("The demo approvers or models are missing: no demo validation or model card.")
        return
    # The validation function's global permission, held (and audited) rather than implied.
    validator.user_permissions.add(
        Permission.objects.get(codename="add_validation", content_type__app_label="inventory")
    )
    audit.record(
        actor="system",
        action=Action.ACCESS_GRANTED,
        target=validator,
        target_name=validator.username,
        after={"permission": "inventory.add_validation", "user": validator.username},
    )
    validator = User.objects.get(pk=validator.pk)
    services.validation_record(
        actor=validator,
        name=name,
        version=version,
        scope="Demo: conceptual soundness, backtest and outcomes analysis.",
        outcome="pass",
        findings=[{"severity": "low", "description": "Demo: document the threshold choice."}],
    )
    services.model_card_update(actor=admin, name=name, version=version, sections=CARD)
    services.model_card_submit(actor=admin, name=name, version=version)
    try:
        with transaction.atomic():
            services.model_card_approve(actor=card_approver, name=name, version=version)
    except RegistryError as exc:  # e.g. validation still running: no digest to bind the approval to
        say(f"Demo inventory: the model card of {name} v{version} stays submitted ({exc.message})")
        return
    say(
        f"Demo inventory: tiers set; {name} v{version} validated by '{validator.username}', its model card "
        f"approved by '{card_approver.username}' (/admin/inventory/)."
    )
