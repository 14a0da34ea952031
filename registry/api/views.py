"""Native API views: parse, call one service or selector, serialize."""

from datetime import UTC, datetime, time
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from registry import selectors, services
from registry.api import serializers as s
from registry.api.parsers import SafeJSONParser
from registry.api.schema import paginated
from registry.errors import InvalidParameter
from registry.rules import parse_version_number


class NativeAPIView(APIView):
    """Base of the native API views. (NUL characters in paths and queries are refused by the route middleware.)"""

    # JSON only: a form post would silently drop fields it cannot express (a list of tags).
    parser_classes = [SafeJSONParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if "version" in self.kwargs:
            # Matched as any segment so '/versions/abc' is a 400 saying why, not an HTML 404;
            # self.kwargs is the dict the handler is called with.
            self.kwargs["version"] = parse_version_number(self.kwargs["version"])


def endpoint_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown paths under /api/v1/ answer in the API's JSON error format, not Django's HTML page."""
    return JsonResponse(
        {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"No API endpoint at {request.path}."},
        status=404,
    )


ERROR_RESPONSES = {
    400: OpenApiResponse(s.ErrorSerializer, description="Invalid input; `field` names the offending field."),
    401: OpenApiResponse(s.ErrorSerializer, description="No or invalid credentials."),
    403: OpenApiResponse(s.ErrorSerializer, description="Visible, but the permission level is missing."),
    404: OpenApiResponse(s.ErrorSerializer, description="Missing, or not visible to the caller."),
}


def _responses(ok: Any, status_code: int = 200) -> dict[int, Any]:
    """An operation's success response plus the native error format for every 4xx it can answer."""
    return {status_code: ok, **ERROR_RESPONSES}


def _datetime_param(request: Request, name: str) -> datetime | None:
    """An ISO 8601 date-time or date query parameter; naive values are UTC."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
        if value is None and (day := parse_date(raw)) is not None:
            value = datetime.combine(day, time.min)
    except ValueError:  # well formed but impossible, such as month 13
        value = None
    if value is None:
        raise InvalidParameter(
            f"Parameter '{name}' must be an ISO 8601 date-time or date, got '{raw[:60]}'.", field=name
        )
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def _validated(serializer_class: type[Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class Pagination(LimitOffsetPagination):
    """limit/offset paging; a malformed limit or offset is a 400, not silently the default page."""

    default_limit = 50

    @property
    def max_limit(self) -> int:
        # DRF's convention: a larger limit is clamped to this (the next link shows the one used).
        return settings.QUORUM_API_MAX_PAGE_SIZE

    def _non_negative(self, request: Request, param: str, *, minimum: int) -> int | None:
        raw = request.query_params.get(param)
        if raw is None or raw == "":
            return None
        if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or int(raw) < minimum:
            raise InvalidParameter(
                f"Parameter '{param}' must be an integer of at least {minimum}, got '{raw[:40]}'.",
                field=param,
            )
        return int(raw)

    def get_limit(self, request: Request) -> int:
        limit = self._non_negative(request, self.limit_query_param, minimum=1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return self._non_negative(request, self.offset_query_param, minimum=0) or 0


def _paged(
    view: APIView, request: Request, queryset: QuerySet, serializer_class: type[Serializer]
) -> Response:
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


LIST_MODEL_PARAMS = [
    OpenApiParameter("name", str, description="Exact name"),
    OpenApiParameter("name_prefix", str),
    OpenApiParameter("tag", str, many=True, description="'key' or 'key=value'; repeat to AND"),
    OpenApiParameter("creator", str),
    OpenApiParameter("updated_after", str, description="ISO 8601"),
    OpenApiParameter("updated_before", str, description="ISO 8601"),
    OpenApiParameter("ordering", str, description="name, created_at, updated_at; '-' for descending"),
    OpenApiParameter(
        "filter", str, description="MLflow search filter, e.g. name LIKE 'fraud%' AND tag.team = 'risk'"
    ),
]


class RegisteredModelListView(NativeAPIView):
    @extend_schema(parameters=LIST_MODEL_PARAMS, responses=_responses(paginated(s.RegisteredModelSerializer)))
    def get(self, request: Request) -> Response:
        qp = request.query_params
        queryset = selectors.registered_models_list(
            request.user,
            name=qp.get("name"),
            name_prefix=qp.get("name_prefix"),
            tags=qp.getlist("tag"),
            creator=qp.get("creator"),
            updated_after=_datetime_param(request, "updated_after"),
            updated_before=_datetime_param(request, "updated_before"),
            ordering=qp.get("ordering", "name"),
            filter_string=qp.get("filter"),
        )
        return _paged(self, request, queryset, s.RegisteredModelSerializer)

    @extend_schema(
        request=s.RegisteredModelCreateSerializer, responses=_responses(s.RegisteredModelSerializer, 201)
    )
    def post(self, request: Request) -> Response:
        data = _validated(s.RegisteredModelCreateSerializer, request.data)
        model = services.registered_model_create(actor=request.user, **data)
        return Response(
            s.RegisteredModelSerializer(selectors.registered_model_get(request.user, model.name)).data,
            status=status.HTTP_201_CREATED,
        )


class RegisteredModelDetailView(NativeAPIView):
    @extend_schema(responses=_responses(s.RegisteredModelSerializer))
    def get(self, request: Request, name: str) -> Response:
        return Response(s.RegisteredModelSerializer(selectors.registered_model_get(request.user, name)).data)

    @extend_schema(
        request=s.RegisteredModelUpdateSerializer, responses=_responses(s.RegisteredModelSerializer)
    )
    def patch(self, request: Request, name: str) -> Response:
        data = _validated(s.RegisteredModelUpdateSerializer, request.data)
        services.registered_model_update(actor=request.user, name=name, description=data["description"])
        return Response(s.RegisteredModelSerializer(selectors.registered_model_get(request.user, name)).data)

    @extend_schema(responses=_responses(None, 204))
    def delete(self, request: Request, name: str) -> Response:
        services.registered_model_delete(actor=request.user, name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RegisteredModelRenameView(NativeAPIView):
    @extend_schema(request=s.RenameSerializer, responses=_responses(s.RegisteredModelSerializer))
    def post(self, request: Request, name: str) -> Response:
        data = _validated(s.RenameSerializer, request.data)
        model = services.registered_model_rename(actor=request.user, name=name, new_name=data["new_name"])
        return Response(
            s.RegisteredModelSerializer(selectors.registered_model_get(request.user, model.name)).data
        )


class RegisteredModelTagListView(NativeAPIView):
    @extend_schema(request=s.TagSetSerializer, responses=_responses(s.TagSerializer))
    def post(self, request: Request, name: str) -> Response:
        data = _validated(s.TagSetSerializer, request.data)
        tag = services.registered_model_tag_set(actor=request.user, name=name, **data)
        return Response(s.TagSerializer(tag).data)


class RegisteredModelTagDetailView(NativeAPIView):
    @extend_schema(responses=_responses(None, 204))
    def delete(self, request: Request, name: str, key: str) -> Response:
        services.registered_model_tag_delete(actor=request.user, name=name, key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)


VERSION_IN_PATH = extend_schema(
    parameters=[
        OpenApiParameter("version", int, OpenApiParameter.PATH, description="Version number (1, 2, …)")
    ]
)

VERSION_LIST_PARAMS = [
    OpenApiParameter("stage", str),
    OpenApiParameter("alias", str),
    OpenApiParameter("tag", str, many=True, description="'key' or 'key=value'; repeat to AND"),
    OpenApiParameter("creator", str),
    OpenApiParameter("created_after", str, description="ISO 8601"),
    OpenApiParameter("created_before", str, description="ISO 8601"),
    OpenApiParameter(
        "ordering", str, description="version, created_at, updated_at, name; '-' for descending"
    ),
    OpenApiParameter(
        "filter", str, description="MLflow search filter, e.g. version_number > 2 AND run_id = 'abc'"
    ),
]


def _version_list(view: APIView, request: Request, name: str | None) -> Response:
    qp = request.query_params
    queryset = selectors.model_versions_list(
        request.user,
        name=name,
        stage=qp.get("stage"),
        alias=qp.get("alias"),
        tags=qp.getlist("tag"),
        creator=qp.get("creator"),
        created_after=_datetime_param(request, "created_after"),
        created_before=_datetime_param(request, "created_before"),
        ordering=qp.get("ordering", "version"),
        filter_string=qp.get("filter"),
    )
    return _paged(view, request, queryset, s.ModelVersionSerializer)


class ModelVersionSearchView(NativeAPIView):
    @extend_schema(parameters=VERSION_LIST_PARAMS, responses=_responses(paginated(s.ModelVersionSerializer)))
    def get(self, request: Request) -> Response:
        return _version_list(self, request, None)


class ModelVersionListView(NativeAPIView):
    @extend_schema(parameters=VERSION_LIST_PARAMS, responses=_responses(paginated(s.ModelVersionSerializer)))
    def get(self, request: Request, name: str) -> Response:
        return _version_list(self, request, name)

    @extend_schema(
        request=s.ModelVersionCreateSerializer, responses=_responses(s.ModelVersionSerializer, 201)
    )
    def post(self, request: Request, name: str) -> Response:
        data = _validated(s.ModelVersionCreateSerializer, request.data)
        row = services.model_version_create(actor=request.user, name=name, **data)
        return Response(
            s.ModelVersionSerializer(selectors.model_version_get(request.user, name, row.version)).data,
            status=status.HTTP_201_CREATED,
        )


@VERSION_IN_PATH
class ModelVersionDetailView(NativeAPIView):
    @extend_schema(responses=_responses(s.ModelVersionSerializer))
    def get(self, request: Request, name: str, version: int) -> Response:
        return Response(
            s.ModelVersionSerializer(selectors.model_version_get(request.user, name, version)).data
        )

    @extend_schema(request=s.ModelVersionUpdateSerializer, responses=_responses(s.ModelVersionSerializer))
    def patch(self, request: Request, name: str, version: int) -> Response:
        data = _validated(s.ModelVersionUpdateSerializer, request.data)
        services.model_version_update(actor=request.user, name=name, version=version, **data)
        return Response(
            s.ModelVersionSerializer(selectors.model_version_get(request.user, name, version)).data
        )

    @extend_schema(responses=_responses(None, 204))
    def delete(self, request: Request, name: str, version: int) -> Response:
        services.model_version_delete(actor=request.user, name=name, version=version)
        return Response(status=status.HTTP_204_NO_CONTENT)


@VERSION_IN_PATH
class ModelVersionStageView(NativeAPIView):
    @extend_schema(request=s.StageTransitionSerializer, responses=_responses(s.ModelVersionSerializer))
    def post(self, request: Request, name: str, version: int) -> Response:
        data = _validated(s.StageTransitionSerializer, request.data)
        services.model_version_stage_transition(actor=request.user, name=name, version=version, **data)
        return Response(
            s.ModelVersionSerializer(selectors.model_version_get(request.user, name, version)).data
        )


@VERSION_IN_PATH
class ModelVersionTagListView(NativeAPIView):
    @extend_schema(request=s.TagSetSerializer, responses=_responses(s.TagSerializer))
    def post(self, request: Request, name: str, version: int) -> Response:
        data = _validated(s.TagSetSerializer, request.data)
        tag = services.model_version_tag_set(actor=request.user, name=name, version=version, **data)
        return Response(s.TagSerializer(tag).data)


@VERSION_IN_PATH
class ModelVersionTagDetailView(NativeAPIView):
    @extend_schema(responses=_responses(None, 204))
    def delete(self, request: Request, name: str, version: int, key: str) -> Response:
        services.model_version_tag_delete(actor=request.user, name=name, version=version, key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AliasListView(NativeAPIView):
    @extend_schema(responses=_responses(s.AliasSerializer(many=True)))
    def get(self, request: Request, name: str) -> Response:
        return Response(s.AliasSerializer(selectors.model_aliases_list(request.user, name), many=True).data)


class AliasDetailView(NativeAPIView):
    @extend_schema(responses=_responses(s.ModelVersionSerializer))
    def get(self, request: Request, name: str, alias: str) -> Response:
        return Response(s.ModelVersionSerializer(selectors.alias_target_get(request.user, name, alias)).data)

    @extend_schema(request=s.AliasSetSerializer, responses=_responses(s.AliasSerializer))
    def put(self, request: Request, name: str, alias: str) -> Response:
        data = _validated(s.AliasSetSerializer, request.data)
        row = services.alias_set(actor=request.user, name=name, alias=alias, version=data["version"])
        return Response(s.AliasSerializer(row).data)

    @extend_schema(responses=_responses(None, 204))
    def delete(self, request: Request, name: str, alias: str) -> Response:
        services.alias_delete(actor=request.user, name=name, alias=alias)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ResolveView(NativeAPIView):
    @extend_schema(parameters=[s.ResolveSerializer], responses=_responses(s.ResolvedSerializer))
    def get(self, request: Request) -> Response:
        data = _validated(s.ResolveSerializer, request.query_params)
        row = selectors.model_uri_resolve(request.user, data["uri"], as_of=data.get("as_of"))
        return Response(
            s.ResolvedSerializer(
                {
                    "uri": data["uri"],
                    "name": row.model.name,
                    "version": row.version,
                    "artifact_location": row.download_uri,
                    "source": row.source,
                    "stage": row.stage,
                    "status": row.status,
                }
            ).data
        )
