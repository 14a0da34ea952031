"""Native API of the approval workflow: parse, call one service or selector, serialize."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.signing import SigningCredentials
from registry.api.schema import envelope, paginated
from registry.api.views import _paged, _validated
from registry.errors import InvalidParameter
from registry.selectors import registered_model_get
from workflows import selectors, services
from workflows import serializers as s
from workflows.models import RequestState


def _request_response(user, request_id: int, code: int = status.HTTP_200_OK) -> Response:
    return Response(
        s.TransitionRequestSerializer(selectors.transition_request_get(user, request_id)).data, status=code
    )


class ModelRequestListView(APIView):
    @extend_schema(responses=paginated(s.TransitionRequestListSerializer))
    def get(self, request, name: str):
        model = registered_model_get(request.user, name)
        queryset = selectors.transition_requests_visible_to(request.user).filter(model=model)
        return _paged(self, request, queryset.order_by("-created_at"), s.TransitionRequestListSerializer)

    @extend_schema(
        request=s.TransitionRequestCreateSerializer, responses={201: s.TransitionRequestSerializer}
    )
    def post(self, request, name: str):
        data = _validated(s.TransitionRequestCreateSerializer, request.data)
        kind = "stage" if "stage" in data else "alias"
        row = services.transition_request_create(
            actor=request.user,
            name=name,
            version=data["version"],
            target_kind=kind,
            target=data[kind],
            reason=data["reason"],
            archive_existing_versions=data["archive_existing_versions"],
            remove=data["remove"],
        )
        return _request_response(request.user, row.pk, status.HTTP_201_CREATED)


class RequestListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, description="pending, approved, applying, applied, …"),
            OpenApiParameter("actionable", bool, description="only requests you may approve now"),
        ],
        responses=paginated(s.TransitionRequestSerializer, counted=False),
    )
    def get(self, request):
        if request.query_params.get("actionable", "").lower() in {"1", "true", "yes"}:
            rows = selectors.transition_requests_actionable_by(request.user)
            return Response({"results": s.TransitionRequestSerializer(rows, many=True).data})
        queryset = selectors.transition_requests_visible_to(request.user)
        state = request.query_params.get("state")
        if state:
            if state not in RequestState.values:
                raise InvalidParameter(
                    f"Invalid state '{state}'; use one of {', '.join(RequestState.values)}.", field="state"
                )
            queryset = queryset.filter(state=state)
        return _paged(self, request, queryset.order_by("-created_at"), s.TransitionRequestListSerializer)


class RequestDetailView(APIView):
    @extend_schema(responses=s.TransitionRequestSerializer)
    def get(self, request, request_id: int):
        return _request_response(request.user, request_id)


def _signing(data: dict) -> SigningCredentials | None:
    signed = data.get("signature")
    return SigningCredentials(**signed) if signed else None


class RequestApproveView(APIView):
    @extend_schema(request=s.SignedDecisionSerializer, responses=s.TransitionRequestSerializer)
    def post(self, request, request_id: int):
        data = _validated(s.SignedDecisionSerializer, request.data)
        services.transition_request_approve(
            actor=request.user,
            request_id=request_id,
            comment=data["comment"],
            signing=_signing(data),
            http_request=request,
        )
        return _request_response(request.user, request_id)


class RequestRejectView(APIView):
    @extend_schema(request=s.SignedDecisionSerializer, responses=s.TransitionRequestSerializer)
    def post(self, request, request_id: int):
        data = _validated(s.SignedDecisionSerializer, request.data)
        services.transition_request_reject(
            actor=request.user,
            request_id=request_id,
            comment=data["comment"],
            signing=_signing(data),
            http_request=request,
        )
        return _request_response(request.user, request_id)


class RequestCancelView(APIView):
    @extend_schema(request=s.CancelSerializer, responses=s.TransitionRequestSerializer)
    def post(self, request, request_id: int):
        data = _validated(s.CancelSerializer, request.data)
        services.transition_request_cancel(actor=request.user, request_id=request_id, comment=data["comment"])
        return _request_response(request.user, request_id)


class RequestFailView(APIView):
    @extend_schema(request=s.DecisionSerializer, responses=s.TransitionRequestSerializer)
    def post(self, request, request_id: int):
        data = _validated(s.DecisionSerializer, request.data)
        services.transition_request_fail(actor=request.user, request_id=request_id, comment=data["comment"])
        return _request_response(request.user, request_id)


class RequestCommentView(APIView):
    @extend_schema(request=s.DecisionSerializer, responses={201: s.ActivitySerializer})
    def post(self, request, request_id: int):
        data = _validated(s.DecisionSerializer, request.data)
        found = selectors.transition_request_get(request.user, request_id)
        entry = services.version_comment_create(
            actor=request.user,
            name=found.model.name,
            version=found.version.version,
            comment=data["comment"],
            request_id=found.pk,
        )
        return Response(s.ActivitySerializer(entry).data, status=status.HTTP_201_CREATED)


class VersionTimelineView(APIView):
    @extend_schema(
        responses=envelope(
            "VersionTimeline",
            name=serializers.CharField(),
            version=serializers.IntegerField(),
            timeline=s.ActivitySerializer(many=True),
        )
    )
    def get(self, request, name: str, version: int):
        _, activities = selectors.version_timeline(request.user, name, version)
        return Response(
            {"name": name, "version": version, "timeline": s.ActivitySerializer(activities, many=True).data}
        )


class PolicyListView(APIView):
    @extend_schema(
        responses=envelope(
            "ModelPolicies",
            policies=s.PolicySerializer(many=True),
            defaults=s.PolicySerializer(many=True),
            effective=s.EffectivePolicySerializer(many=True),
        )
    )
    def get(self, request, name: str):
        model = registered_model_get(request.user, name)
        return Response(
            {
                "policies": s.PolicySerializer(selectors.policies_for(model), many=True).data,
                "defaults": s.PolicySerializer(selectors.policies_for(None), many=True).data,
                "effective": s.EffectivePolicySerializer(selectors.policies_effective(model), many=True).data,
            }
        )


class PolicyDetailView(APIView):
    @extend_schema(request=s.PolicySetSerializer, responses=s.PolicySerializer)
    def put(self, request, name: str, target_kind: str, target: str):
        data = _validated(s.PolicySetSerializer, request.data)
        policy = services.promotion_policy_set(
            actor=request.user, name=name, target_kind=target_kind, target=target, **data
        )
        return Response(s.PolicySerializer(policy).data)

    @extend_schema(responses={204: None})
    def delete(self, request, name: str, target_kind: str, target: str):
        services.promotion_policy_delete(
            actor=request.user, name=name, target_kind=target_kind, target=target
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class DefaultPolicyListView(APIView):
    @extend_schema(
        responses=envelope(
            "DefaultPolicies",
            defaults=s.PolicySerializer(many=True),
            effective=s.EffectivePolicySerializer(many=True),
        )
    )
    def get(self, request):
        return Response(
            {
                "defaults": s.PolicySerializer(selectors.policies_for(None), many=True).data,
                "effective": s.EffectivePolicySerializer(selectors.policies_effective(None), many=True).data,
            }
        )


class DefaultPolicyDetailView(APIView):
    @extend_schema(request=s.PolicySetSerializer, responses=s.PolicySerializer)
    def put(self, request, target_kind: str, target: str):
        data = _validated(s.PolicySetSerializer, request.data)
        policy = services.promotion_policy_set(
            actor=request.user, name=None, target_kind=target_kind, target=target, **data
        )
        return Response(s.PolicySerializer(policy).data)

    @extend_schema(responses={204: None})
    def delete(self, request, target_kind: str, target: str):
        services.promotion_policy_delete(
            actor=request.user, name=None, target_kind=target_kind, target=target
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
