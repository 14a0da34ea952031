from audit.context import RequestContext, current_request
from config.client import client_address
from config.client import request_id as request_id_for


class RequestContextMiddleware:
    """Gives every request an id and exposes who/where for audit events.

    X-Request-ID and X-Forwarded-For count only from a trusted proxy (config/client.py).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request)
        request.request_id = request_id
        ctx = RequestContext(
            request_id=request_id,
            client_ip=client_address(request),
            user_agent=request.headers.get("User-Agent", "")[:512],
        )
        reset = current_request.set(ctx)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(reset)
        response["X-Request-ID"] = request_id
        return response
