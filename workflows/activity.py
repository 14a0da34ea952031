"""Writing timeline entries. Kept apart from services so registry.services can call it without a cycle."""

from registry.models import ModelVersion
from workflows.models import ActivityType, TransitionRequest, VersionActivity


def activity_record(
    *,
    version: ModelVersion,
    activity_type: ActivityType,
    user=None,
    request: TransitionRequest | None = None,
    from_stage: str = "",
    to_stage: str = "",
    comment: str = "",
    system_comment: str = "",
) -> VersionActivity:
    """Append one entry to a version's timeline (inside the caller's transaction)."""
    return VersionActivity.objects.create(
        version=version,
        request=request,
        activity_type=activity_type,
        user=user if getattr(user, "is_authenticated", False) else None,
        from_stage=from_stage,
        to_stage=to_stage,
        comment=comment,
        system_comment=system_comment,
    )
