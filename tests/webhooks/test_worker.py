"""End to end with a real Celery worker process, Redis and PostgreSQL: the worker delivers, and a
receiver error is retried through the delayed task the worker publishes itself.

Transactional, so the worker (another process) sees what the test commits.
"""

import uuid

import pytest

from registry import services as registry_services
from registry.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery
from tests.fixtures_pipeline import celery_use_broker, wait_until

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
