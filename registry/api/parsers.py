"""Request body parsing that turns hostile JSON into a 400 instead of a 500."""

import codecs
import json
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice; which one wins differs between parsers, so refuse it."""


def object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json `object_pairs_hook`: `{"name": "a", "name": "b"}` is an error, not silently the last value."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKeyError(f"JSON object has the key '{key}' more than once.")
        result[key] = value
    return result


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, except that duplicate keys and nesting that exhausts recursion are a 400.

    `[[[[…]]]]` a few thousand levels deep makes the json module raise RecursionError, which DRF does
    not treat as a parse error. A key given twice would silently take the last value, so a proxy or
    auditor reading the first one could see a different request than the one applied.
    """

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping | None = None
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            decoded = codecs.getreader(encoding)(stream)
            return json.load(
                decoded, object_pairs_hook=object_without_duplicate_keys, parse_constant=_refuse_constant
            )
        except DuplicateKeyError as exc:
            raise ParseError(f"JSON parse error - {exc}")
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}")
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.")


def _refuse_constant(name: str) -> None:
    # NaN and Infinity are not JSON (DRF's strict mode refuses them too).
    raise ValueError(f"Out of range float values are not JSON compliant: {name}")
