"""OpenAPI generation for the native API (the authentication schemes are described in config/schema.py)."""

from functools import cache

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.fields import Field
from rest_framework.serializers import Serializer

NATIVE_PREFIXES = ("/api/v1/",)


def native_endpoints_only(
    endpoints: list[tuple[str, str, str, object]],
) -> list[tuple[str, str, str, object]]:
    """drf-spectacular preprocessing hook: keep the native API (/api/v1/) in /api/schema/ and /api/docs/.

    The MLflow- and Databricks-compatible routes are documented by those projects.
    """
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(NATIVE_PREFIXES)]


class QuorumAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, knowing that a `paginated(...)` response is a list operation."""

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        if self.method == "GET" and self._answers_a_page() and operation_id.endswith("_retrieve"):
            # `<path>_list`, as for the bare arrays these pages replaced (and no collision with the detail)
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def _answers_a_page(self) -> bool:
        main = self.get_response_serializers()
        if isinstance(main, dict) and main:
            main = main[min(main, key=str)]
        return getattr(main, "is_page_of_list", False)


@cache
def paginated(item_serializer: type[Serializer], *, counted: bool = True) -> Serializer:
    """The schema of a LimitOffsetPagination page (`{count, next, previous, results}`) of `item_serializer`.

    Views here are APIViews that paginate by hand, so drf-spectacular cannot infer the envelope and
    would document a bare array. `counted=False`: `count`/`next`/`previous` may be absent (unpaged
    variants that answer only `results`).
    """
    stem = item_serializer.__name__.removesuffix("Serializer")
    page = inline_serializer(
        name=f"Paginated{stem}List" if counted else f"{stem}Results",
        fields={
            "count": serializers.IntegerField(required=counted),
            "next": serializers.URLField(allow_null=True, required=counted),
            "previous": serializers.URLField(allow_null=True, required=counted),
            "results": item_serializer(many=True),
        },
    )
    page.is_page_of_list = True
    return page  # cached: one component identity per item serializer, however many views use it


def envelope(schema_name: str, /, **fields: Field) -> Serializer:
    """The schema of a JSON object response with these fields (a list wrapped under a key, with context)."""
    return inline_serializer(name=schema_name, fields=fields)
