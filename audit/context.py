"""Per-request context that audit events carry (request id, client address, credential used)."""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    client_ip: str = ""
    user_agent: str = ""
    token_name: str = ""


# RequestContext is a frozen dataclass, so sharing the default instance is safe.
current_request: ContextVar[RequestContext] = ContextVar("quorum_request", default=RequestContext())  # noqa: B039
# Set by Celery task wrappers so events written by tasks name the task as the actor.
current_task_name: ContextVar[str] = ContextVar("quorum_task", default="")
