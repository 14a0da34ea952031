"""End to end with a real Celery worker process, Redis and PostgreSQL: the worker delivers, and a
receiver error is retried through the delayed task the worker publishes itself.

Transactional, so the worker (another process) sees what the test commits.
"""

import uuid

import pytest

from registry import services as registry_services
from tests.fixtures_pipeline import celery_use_broker, wait_until
from webhooks.models import DeliveryStatus, Webhook, WebhookDelivery

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def webhook_worker(celery_worker_factory, redis_url, worker_database_url):
    """A worker of this test's own queue, allowed to reach loopback, retrying after one second."""
    queue = f"quorum-webhooks-{uuid.uuid4().hex[:8]}"
    env = {
        "DATABASE_URL": worker_database_url,
        "QUORUM_WEBHOOK_ALLOWLIST": "127.0.0.1/32",
        "QUORUM_WEBHOOK_HTTPS_ONLY": "false",
        "QUORUM_WEBHOOK_BACKOFF_SECONDS": "1",
        "QUORUM_WEBHOOK_TIMEOUT_SECONDS": "5",
    }
    worker = celery_worker_factory.start(broker_url=redis_url, env=env, queue=queue)
    celery_use_broker(redis_url, queue)
    yield worker
    celery_use_broker(None, "celery")
    worker.stop()


def test_the_worker_delivers_and_retries_a_receiver_error(cast, fraud, receiver, settings, webhook_worker):
    settings.QUORUM_WEBHOOK_ALLOWLIST = ["127.0.0.1/32"]
    Webhook.objects.create(
        name="w", url=receiver.url, events=["model_version_tag.set"], model=fraud, secret=receiver.secret
    )
    receiver.answers = [503]

    registry_services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="k", value="v")

    delivery = wait_until(
        lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).first(),
        timeout=30,
        what=f"delivery by the worker:\n{webhook_worker.log()[-3000:]}",
    )
    assert delivery.attempts == 2
    assert [a.status_code for a in delivery.attempt_log.order_by("number")] == [503, 200]
    assert receiver.delivery_ids() == [str(delivery.delivery_id)] * 2
    assert all(r.signature_valid for r in receiver.received)


def test_a_worker_killed_mid_send_loses_nothing_and_the_resend_keeps_the_delivery_id(
    cast, fraud, receiver, settings, celery_worker_factory, redis_url, worker_database_url
):
    queue = f"quorum-webhooks-{uuid.uuid4().hex[:8]}"
    env = {
        "DATABASE_URL": worker_database_url,
        "QUORUM_WEBHOOK_ALLOWLIST": "127.0.0.1/32",
        "QUORUM_WEBHOOK_HTTPS_ONLY": "false",
        "QUORUM_WEBHOOK_TIMEOUT_SECONDS": "5",
        "QUORUM_WEBHOOK_LEASE_SECONDS": "6",
        "QUORUM_WEBHOOK_REDISPATCH_SECONDS": "1",
        "QUORUM_WEBHOOK_SWEEP_SECONDS": "1",
    }
    settings.QUORUM_WEBHOOK_ALLOWLIST = ["127.0.0.1/32"]
    Webhook.objects.create(
        name="w", url=receiver.url, events=["model_version_tag.set"], model=fraud, secret=receiver.secret
    )
    first = celery_worker_factory.start(broker_url=redis_url, env=env, queue=queue)
    celery_use_broker(redis_url, queue)
    try:
        receiver.delay_seconds = 4  # the first POST is still waiting for its answer when the worker dies
        registry_services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="k", value="v")
        wait_until(lambda: receiver.received, timeout=30, what=f"the first POST:\n{first.log()[-3000:]}")
        first.kill()
        receiver.delay_seconds = 0
        stuck = WebhookDelivery.objects.get()
        assert (stuck.status, stuck.attempts) == (DeliveryStatus.PENDING, 1)
        assert stuck.attempt_log.count() == 0  # the killed worker never recorded its attempt

        second = celery_worker_factory.start(broker_url=redis_url, env=env, queue=queue, beat=True)
        delivery = wait_until(
            lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).first(),
            timeout=45,
            what=f"the beat sweep to send again:\n{second.log()[-3000:]}",
        )
        second.stop()
    finally:
        celery_use_broker(None, "celery")
    assert receiver.delivery_ids() == [str(delivery.delivery_id)] * 2
    assert receiver.received[0].body == receiver.received[1].body
    assert [(a.number, a.status_code) for a in delivery.attempt_log.all()] == [(2, 200)]
