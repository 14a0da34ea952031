"""Request body parsing that turns hostile JSON into a 400 instead of a 500."""

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, except that nesting deep enough to exhaust the recursion limit is a 400.

    `[[[[…]]]]` a few thousand levels deep makes the json module raise RecursionError, which DRF does
    not treat as a parse error.
    """

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.")
