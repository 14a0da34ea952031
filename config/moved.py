"""Old addresses of admin pages whose models moved to an app of their own: a permanent redirect.

The workflow, artifact and webhook models belonged to the registry app until they became apps of
their own; bookmarks and links in tickets to /admin/registry/<model>/... keep working.
"""

from django.http import HttpRequest, HttpResponsePermanentRedirect

MOVED_ADMIN_MODELS: dict[str, str] = {
    "artifactjob": "artifacts",
    "artifactmanifest": "artifacts",
    "manifestentry": "artifacts",
    "outboxmessage": "artifacts",
    "promotionpolicy": "workflows",
    "transitionrequest": "workflows",
    "approval": "workflows",
    "versionactivity": "workflows",
    "webhook": "webhooks",
    "webhookeventrecord": "webhooks",
    "webhookdelivery": "webhooks",
    "deliveryattempt": "webhooks",
}
MOVED_ADMIN_PATTERN = r"^admin/registry/(?P<model>" + "|".join(MOVED_ADMIN_MODELS) + r")/(?P<rest>.*)$"


def moved_admin_page(request: HttpRequest, model: str, rest: str) -> HttpResponsePermanentRedirect:
    target = f"/admin/{MOVED_ADMIN_MODELS[model]}/{model}/{rest}"
    query = request.META.get("QUERY_STRING", "")
    return HttpResponsePermanentRedirect(f"{target}?{query}" if query else target)
