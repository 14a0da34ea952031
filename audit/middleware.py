import uuid

from audit.context import RequestContext, current_request


class RequestContextMiddleware:
    """Gives every request an id (honouring X-Request-ID) and exposes who/where for audit events."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming[:64] if incoming and incoming.isprintable() else uuid.uuid4().hex
        request.request_id = request_id
        ctx = RequestContext(
            request_id=request_id,
            client_ip=request.META.get("REMOTE_ADDR", "")[:64],
            user_agent=request.headers.get("User-Agent", "")[:512],
        )
        reset = current_request.set(ctx)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(reset)
        response["X-Request-ID"] = request_id
        return response
