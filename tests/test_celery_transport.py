"""The Redis transport keeps one client per channel instead of building one per publish."""

import base64
import json
import uuid

import pytest
import redis
from kombu import Connection, Exchange, Producer, Queue

from artifacts.models import OutboxMessage
from artifacts.services import VALIDATE_TASK, outbox_dispatch
from config.celery import RedisPublishChannel, RedisTransport
from tests.fixtures_pipeline import celery_use_broker


def test_redis_urls_resolve_to_the_publish_client_transport(redis_url):
    with Connection(redis_url) as connection:
        assert isinstance(connection.transport, RedisTransport)


def test_publishes_share_one_client_and_every_message_arrives(redis_url):
    queue_name = f"quorum-test-{uuid.uuid4().hex}"
    queue = Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)
    with Connection(redis_url) as connection:
        channel = connection.default_channel
        assert isinstance(channel, RedisPublishChannel)
        producer = Producer(channel)
        producer.publish({"n": 0}, exchange=queue.exchange, routing_key=queue_name, declare=[queue])
        client = channel._command_client
        for n in range(1, 5):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=queue_name)
        assert channel._command_client is client
        received = []
        with connection.SimpleQueue(queue) as simple:
            for _ in range(5):
                message = simple.get(timeout=5)
                received.append(message.payload["n"])
                message.ack()
        assert received == [0, 1, 2, 3, 4]
    redis.Redis.from_url(redis_url).delete(queue_name)


def test_a_new_pool_gets_a_new_client(redis_url):
    with Connection(redis_url) as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as first:
            pass
        channel._pool = None  # what kombu does when it drops the channel's pool
        with channel.conn_or_acquire() as second:
            assert second is not first
            assert second.connection_pool is channel.pool
            assert second.ping()


def test_closing_a_channel_whose_transport_is_gone_does_not_kill_the_worker(redis_server_factory):
    """A broker lost mid-ack once ended a worker with "Unrecoverable error: AttributeError"."""
    broker = redis_server_factory()
    queue_name = f"quorum-test-{uuid.uuid4().hex}"
    connection = Connection(broker.url)
    simple = connection.SimpleQueue(queue_name)
    simple.put({"n": 1})
    message = simple.get(timeout=5)  # delivered, not acknowledged
    channel = connection.default_channel
    broker.stop()
    connection.transport.client = None  # what Connection.collect() leaves behind after a lost broker
    channel._pool = None
    with pytest.raises(redis.exceptions.ConnectionError):
        channel.qos.restore_unacked()
    connection.close()  # kombu ignores connection errors on close; AttributeError it did not
    assert message.acknowledged is False


def test_an_outbox_publish_carries_the_task_arguments_and_their_repr(redis_url):
    """The publish names its arguments for monitoring (argsrepr) without Celery's safe-repr pass."""
    queue_name = f"quorum-test-{uuid.uuid4().hex}"
    celery_use_broker(redis_url, queue_name)
    try:
        assert outbox_dispatch(0, committed=OutboxMessage(task_name=VALIDATE_TASK, job_id=4242)) is True
        raw = redis.Redis.from_url(redis_url).rpop(queue_name)
    finally:
        celery_use_broker(None, "celery")
        redis.Redis.from_url(redis_url).delete(queue_name)
    message = json.loads(raw)
    headers = message["headers"]
    assert headers["task"] == VALIDATE_TASK
    assert (headers["argsrepr"], headers["kwargsrepr"]) == ("[4242]", "{}")
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert (args, kwargs) == ([4242], {})
