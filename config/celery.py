"""The Celery app. Without CELERY_BROKER_URL, tasks run in-process (task_always_eager)."""

import os
from contextlib import contextmanager

import redis
from celery import Celery
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class RedisPublishChannel(kombu_redis.Channel):
    """kombu's Redis channel, keeping one client per channel for the commands it sends.

    kombu builds a new redis.Redis client (over the channel's shared connection pool) for every
    command it sends, a publish included; building one cost about a fifth of a publish, and a
    publish follows every version create. A redis-py client is thread-safe and holds no
    connection of its own, so one per pool serves every caller.
    """

    _command_client = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client is not None:
            yield client
            return
        cached = self._command_client
        if cached is None or cached.connection_pool is not self.pool:  # a reset pool gets a new client
            cached = self._command_client = self._create_client()
        yield cached

    def _get_pool(self, asynchronous: bool = False):
        # kombu can close a channel after its transport let go of the connection (a broker lost
        # while a message was unacknowledged): building a pool then raised AttributeError and
        # killed the worker. A connection error is what kombu's close path expects and ignores;
        # the message stays in the broker's unacked set and is redelivered.
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection is already closed")
        return super()._get_pool(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    Channel = RedisPublishChannel


# kombu picks the transport by URL scheme; point redis:// at the subclass, for web and worker alike.
for scheme in ("redis", "rediss"):
    TRANSPORT_ALIASES[scheme] = "config.celery:RedisTransport"

app = Celery("quorum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
