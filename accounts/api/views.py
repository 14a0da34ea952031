"""Access API views: tokens, teams, grants, entitlements. Parse, authorize, call one service or selector."""

import csv
import io
from datetime import timedelta

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access import entitlements
from access.grants import Level
from accounts import selectors, services
from accounts.api import serializers as s
from accounts.models import ApiToken, User
from registry import selectors as registry_selectors
from registry.api.schema import envelope
from registry.errors import InvalidParameter, NotFound, PermissionDenied
from registry.services import require_level


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _user_named(username: str, field: str = "user") -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise InvalidParameter(f"User '{username}' does not exist.", field=field)
    return user


class TokenListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("user", str, description="Superusers: list this user's tokens")],
        responses=s.TokenSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        subject = request.user
        wanted = request.query_params.get("user")
        if wanted and wanted != request.user.get_username():
            if not request.user.is_superuser:
                raise PermissionDenied("Listing another user's tokens needs a superuser.")
            subject = _user_named(wanted)
        return Response(
            s.TokenSerializer(selectors.tokens_of(subject).select_related("user"), many=True).data
        )

    @extend_schema(request=s.TokenCreateSerializer, responses={201: s.IssuedTokenSerializer})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            # A stolen token must not be able to mint fresh, longer-lived ones.
            raise PermissionDenied("Tokens are created from a password or session login, not with a token.")
        data = _validated(s.TokenCreateSerializer, request.data)
        subject = _user_named(data["user"]) if data.get("user") else request.user
        expires_at = data.get("expires_at")
        if data.get("expires_in_days"):
            expires_at = timezone.now() + timedelta(days=data["expires_in_days"])
        issued = services.token_create(
            actor=request.user, user=subject, name=data["name"], expires_at=expires_at
        )
        body = s.TokenSerializer(issued.token).data
        body["secret"] = issued.secret
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class TokenDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        services.token_revoke(actor=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamListView(APIView):
    @extend_schema(responses=s.TeamSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(s.TeamSerializer(selectors.teams_list(), many=True).data)

    @extend_schema(request=s.TeamCreateSerializer, responses={201: s.TeamSerializer})
    def post(self, request: Request) -> Response:
        data = _validated(s.TeamCreateSerializer, request.data)
        team = services.team_create(actor=request.user, name=data["name"], description=data["description"])
        return Response(s.TeamSerializer(selectors.team_get(team.name)).data, status=status.HTTP_201_CREATED)


class TeamDetailView(APIView):
    @extend_schema(responses=s.TeamSerializer)
    def get(self, request: Request, team: str) -> Response:
        return Response(s.TeamSerializer(selectors.team_get(team)).data)


class TeamMembersView(APIView):
    @extend_schema(request=s.TeamMemberSerializer, responses=s.TeamSerializer)
    def post(self, request: Request, team: str) -> Response:
        data = _validated(s.TeamMemberSerializer, request.data)
        services.team_member_add(actor=request.user, team_name=team, username=data["username"])
        return Response(s.TeamSerializer(selectors.team_get(team)).data)


class TeamMemberView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, team: str, username: str) -> Response:
        services.team_member_remove(actor=request.user, team_name=team, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _model_access(request: Request, name: str) -> dict:
    model = registry_selectors.registered_model_get(request.user, name)  # hidden -> 404 like missing
    require_level(request.user, Level.MANAGE, model, "Listing access")  # seen but not managed -> 403
    return {
        "model": model.name,
        "grants": selectors.model_grants(model),
        "effective": entitlements.entitlements(type(model).objects.filter(pk=model.pk)),
    }


class ModelGrantListView(APIView):
    @extend_schema(responses=s.ModelAccessSerializer)
    def get(self, request: Request, name: str) -> Response:
        return Response(s.ModelAccessSerializer(_model_access(request, name)).data)

    @extend_schema(
        request=s.GrantCreateSerializer,
        responses={200: s.ModelAccessSerializer, 201: s.ModelAccessSerializer},
    )
    def post(self, request: Request, name: str) -> Response:
        data = _validated(s.GrantCreateSerializer, request.data)
        principal = (
            services.Principal("user", data["user"])
            if data.get("user")
            else services.Principal("team", data["team"])
        )
        created = services.grant_add(
            actor=request.user, model_name=name, principal=principal, level=data["level"]
        )
        return Response(
            s.ModelAccessSerializer(_model_access(request, name)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


PRINCIPAL_KINDS = {"users": "user", "teams": "team"}


class ModelGrantDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, name: str, kind: str, principal: str, level: str) -> Response:
        if kind not in PRINCIPAL_KINDS:
            raise NotFound(f"Grants go to 'users' or 'teams', not '{kind}'.")
        services.grant_remove(
            actor=request.user,
            model_name=name,
            principal=services.Principal(PRINCIPAL_KINDS[kind], principal),  # type: ignore[arg-type]
            level=level,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserAccessView(APIView):
    @extend_schema(
        responses=envelope(
            "UserAccess", user=serializers.CharField(), entitlements=s.EntitlementSerializer(many=True)
        )
    )
    def get(self, request: Request, username: str) -> Response:
        subject = request.user if username == "me" else selectors.user_get(username)
        scope = selectors.user_access_scope(request.user, subject)
        rows = entitlements.entitlements(scope, user=subject)
        return Response(
            {"user": subject.get_username(), "entitlements": s.EntitlementSerializer(rows, many=True).data}
        )


class AccessReportView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("output", str, enum=["json", "csv"], description="json (default) or csv")
        ],
        responses={200: None},
    )
    def get(self, request: Request):
        output = request.query_params.get("output", "json")
        if output not in ("json", "csv"):
            raise InvalidParameter("Parameter 'output' must be 'json' or 'csv'.", field="output")
        rows = entitlements.entitlements(selectors.models_managed_by(request.user))
        if output == "csv":
            return HttpResponse(entitlements_csv(rows), content_type="text/csv; charset=utf-8")
        return Response({"generated_at": timezone.now(), "models": entitlements.entitlement_report(rows)})


def entitlements_csv(rows: list[entitlements.Entitlement]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=entitlements.ENTITLEMENT_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.as_dict())
    return buffer.getvalue()
