"""Log records carry the request id (the same one audit events store) so logs and audit line up."""

import logging

from audit.context import current_request, current_task_name


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current_request.get()
        record.request_id = ctx.request_id or current_task_name.get() or "-"
        return True
