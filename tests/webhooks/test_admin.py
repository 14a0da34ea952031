"""The webhook admin: subscriptions written through the audited services, the delivery log, replay."""

import pytest
from django.test import Client

from audit.models import Action, AuditEvent
from registry import services as registry_services
from webhooks.models import DeliveryStatus, Webhook, WebhookDelivery

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_allowed")]


def browser_for(user) -> Client:
    type(user).objects.filter(pk=user.pk).update(is_staff=True)
    browser = Client()
    browser.force_login(type(user).objects.get(pk=user.pk))
    return browser


def add_form(receiver, **extra) -> dict:
    return {
        "name": "chat",
        "description": "",
        "url": receiver.url,
        "events": ["model_version_alias.moved", "transition_request.created"],
        "status": "ACTIVE",
        "secret": "",
        **extra,
    }


def test_a_model_manager_adds_a_webhook_through_the_services(cast, fraud, receiver):
    browser = browser_for(cast.owner)
    page = browser.get("/admin/webhooks/webhook/add/")
    assert page.status_code == 200 and b"model_version_alias.moved" in page.content
    response = browser.post("/admin/webhooks/webhook/add/", add_form(receiver, model=fraud.pk), follow=True)
    assert response.status_code == 200
    webhook = Webhook.objects.get()
    assert (webhook.model, webhook.events, webhook.created_by) == (
        fraud,
        ["model_version_alias.moved", "transition_request.created"],
        cast.owner,
    )
    assert webhook.secret.startswith("whsec_") and webhook.secret.encode() in response.content  # shown once
    [audited] = AuditEvent.objects.filter(action=Action.WEBHOOK_CHANGED)
    assert audited.after["change"] == "created" and audited.actor_username == "owner"

    listing = browser.get("/admin/webhooks/webhook/")
    assert b"chat" in listing.content
    change = browser.get(f"/admin/webhooks/webhook/{webhook.pk}/change/")
    assert change.status_code == 200 and webhook.secret.encode() not in change.content


def test_refusals_show_as_form_errors(cast, fraud, receiver):
    browser = browser_for(cast.owner)
    registry_wide = browser.post("/admin/webhooks/webhook/add/", add_form(receiver))
    assert registry_wide.status_code == 200
    assert b"registry.manage_registry_webhooks" in registry_wide.content
    private = browser.post(
        "/admin/webhooks/webhook/add/", add_form(receiver, model=fraud.pk, url="http://10.0.0.8/")
    )
    assert private.status_code == 200 and b"not a public address" in private.content
    assert Webhook.objects.count() == 0


def test_others_webhooks_are_not_listed_or_editable(cast, fraud, receiver):
    webhook = Webhook.objects.create(name="theirs", url=receiver.url, events=["*"], model=fraud)
    browser = browser_for(cast.editor)
    assert b"theirs" not in browser.get("/admin/webhooks/webhook/").content
    assert browser.get(f"/admin/webhooks/webhook/{webhook.pk}/change/").status_code in (302, 403, 404)
    assert browser.post(f"/admin/webhooks/webhook/{webhook.pk}/delete/", {"post": "yes"}).status_code in (
        302,
        403,
        404,
    )
    assert Webhook.objects.filter(pk=webhook.pk).exists()


def test_delivery_log_shows_attempts_and_the_replay_action_sends_again(
    cast, fraud, receiver, django_capture_on_commit_callbacks, webhooks_in_process
):
    webhook = Webhook.objects.create(
        name="log", url=receiver.url, events=["model_version_tag.set"], model=fraud, secret=receiver.secret
    )
    receiver.default_status = 500
    with django_capture_on_commit_callbacks(execute=True):
        registry_services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="k", value="v")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.PENDING, 500)

    browser = browser_for(cast.owner)
    listing = browser.get(f"/admin/webhooks/webhookdelivery/?webhook__id__exact={webhook.pk}")
    assert listing.status_code == 200 and str(delivery.delivery_id).encode() in listing.content
    page = browser.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert b"receiver answered HTTP 500" in page.content and b"model_version_tag.set" in page.content

    receiver.default_status = 200
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            "/admin/webhooks/webhookdelivery/",
            {"action": "replay", "_selected_action": [delivery.pk]},
            follow=True,
        )
    assert response.status_code == 200 and b"Replayed 1 deliveries" in response.content
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    assert receiver.delivery_ids() == [str(delivery.delivery_id)] * 2

    outsider = browser_for(cast.outsider)
    assert str(delivery.delivery_id).encode() not in outsider.get("/admin/webhooks/webhookdelivery/").content
