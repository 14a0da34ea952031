"""Native API of the webhooks (/api/v1/webhooks…): subscriptions, test, delivery log, replay."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from registry.api.schema import paginated
from registry.api.views import NativeAPIView, Pagination
from registry.errors import InvalidParameter, NotFound
from webhooks import selectors, services
from webhooks.models import DeliveryAttempt, DeliveryStatus, Webhook, WebhookDelivery


class WebhookSerializer(serializers.ModelSerializer):
    """A subscription as shown: never its secret, only whether deliveries are signed."""

    id = serializers.CharField(source="public_id")
    model = serializers.SerializerMethodField()
    signed = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Webhook
        fields = [
            "id",
            "name",
            "description",
            "url",
            "events",
            "status",
            "model",
            "signed",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_model(self, webhook: Webhook) -> str | None:
        return webhook.model.name if webhook.model_id else None

    def get_signed(self, webhook: Webhook) -> bool:
        return bool(webhook.secret)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "status_code", "latency_ms", "error", "replay"]


class DeliverySerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="record.event")
    payload = serializers.CharField(source="record.payload")
    attempt_log = AttemptSerializer(many=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "delivery_id",
            "event",
            "status",
            "is_test",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
            "payload",
            "attempt_log",
        ]


class WebhookInput(serializers.Serializer):
    """Input shape for the schema; the service validates every field and answers 400 itself."""

    name = serializers.CharField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField(required=False)
    secret = serializers.CharField(
        required=False, help_text="Generated when omitted; shown only in this response."
    )
    status = serializers.ChoiceField(choices=["ACTIVE", "DISABLED", "TEST_MODE"], required=False)
    model = serializers.CharField(
        required=False, allow_null=True, help_text="Registered model; omit for registry-wide."
    )


FIELDS = ("name", "url", "events", "description", "secret", "status")


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise InvalidParameter("The request body must be a JSON object.")
    unknown = sorted(set(request.data) - {*FIELDS, "model"})
    if unknown:
        raise InvalidParameter(f"Unknown field '{unknown[0]}'.", field=unknown[0])
    return request.data


def _model_name(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidParameter("Field 'model' must be a registered model name.", field="model")
    return raw


class WebhookListView(NativeAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "model", str, description="Only this model's webhooks; empty: registry-wide only"
            )
        ],
        responses=paginated(WebhookSerializer),
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("model")
        queryset = selectors.webhooks_list(request.user, model_name=raw)
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(WebhookSerializer(page, many=True).data)

    @extend_schema(request=WebhookInput, responses={201: WebhookSerializer})
    def post(self, request: Request) -> Response:
        data = _body(request)
        for required in ("name", "url", "events"):
            if required not in data:
                raise InvalidParameter(f"Field '{required}' is required.", field=required)
        webhook, secret = services.webhook_create(
            actor=request.user,
            name=data["name"],
            url=data["url"],
            events=data["events"],
            description=data.get("description", ""),
            secret=data.get("secret"),
            status=data.get("status") or "ACTIVE",
            model_name=_model_name(data.get("model")),
        )
        body = WebhookSerializer(webhook).data
        body["secret"] = secret  # the one time it is shown
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailView(NativeAPIView):
    @extend_schema(responses=WebhookSerializer)
    def get(self, request: Request, webhook_id: str) -> Response:
        return Response(
            WebhookSerializer(
                services.webhook_for_actor(request.user, webhook_id, "Reading", write=False)
            ).data
        )

    @extend_schema(request=WebhookInput, responses=WebhookSerializer)
    def patch(self, request: Request, webhook_id: str) -> Response:
        data = _body(request)
        if "model" in data:
            raise InvalidParameter("A webhook's model cannot change; create another webhook.", field="model")
        webhook = services.webhook_update(
            actor=request.user, webhook_id=webhook_id, **{k: v for k, v in data.items() if k in FIELDS}
        )
        return Response(WebhookSerializer(webhook).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, webhook_id: str) -> Response:
        services.webhook_delete(actor=request.user, webhook_id=webhook_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestView(NativeAPIView):
    @extend_schema(request=None, responses=DeliverySerializer)
    def post(self, request: Request, webhook_id: str) -> Response:
        event = request.data.get("event") if isinstance(request.data, dict) else None
        if event is not None and not isinstance(event, str):
            raise InvalidParameter("Field 'event' must be an event name.", field="event")
        delivery, _attempt = services.webhook_test(actor=request.user, webhook_id=webhook_id, event=event)
        return Response(DeliverySerializer(delivery).data)


class DeliveryListView(NativeAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=DeliveryStatus.values)],
        responses=paginated(DeliverySerializer),
    )
    def get(self, request: Request, webhook_id: str) -> Response:
        webhook = services.webhook_for_actor(request.user, webhook_id, "Reading deliveries of", write=False)
        wanted = request.query_params.get("status")
        if wanted and wanted not in DeliveryStatus.values:
            raise InvalidParameter(
                f"Status must be one of {', '.join(DeliveryStatus.values)}.", field="status"
            )
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.deliveries_of(webhook, status=wanted), request, view=self
        )
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryDetailView(NativeAPIView):
    @extend_schema(responses=DeliverySerializer)
    def get(self, request: Request, webhook_id: str, delivery_id: str) -> Response:
        webhook = services.webhook_for_actor(request.user, webhook_id, "Reading deliveries of", write=False)
        delivery = selectors.deliveries_of(webhook).filter(delivery_id=delivery_id).first()
        if delivery is None:
            raise NotFound(f"Delivery {delivery_id} not found.")
        return Response(DeliverySerializer(delivery).data)


class DeliveryReplayView(NativeAPIView):
    @extend_schema(request=None, responses={202: DeliverySerializer})
    def post(self, request: Request, webhook_id: str, delivery_id: str) -> Response:
        services.delivery_replay(actor=request.user, webhook_id=webhook_id, delivery_id=str(delivery_id))
        webhook = services.webhook_for_actor(request.user, webhook_id, "Reading deliveries of", write=False)
        delivery = selectors.deliveries_of(webhook).get(delivery_id=delivery_id)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
