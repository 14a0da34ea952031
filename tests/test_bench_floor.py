"""The benchmark floor view exists only when QUORUM_BENCH_FLOOR is on, and then answers constant JSON."""

import importlib
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import clear_url_caches

import config.urls


@pytest.fixture
def urls_reloaded(settings) -> Iterator[None]:
    """Rebuild the URL configuration after the test changes the setting it depends on."""
    yield
    settings.QUORUM_BENCH_FLOOR = False
    importlib.reload(config.urls)
    clear_url_caches()


def mount(settings, enabled: bool) -> None:
    settings.QUORUM_BENCH_FLOOR = enabled
    importlib.reload(config.urls)
    clear_url_caches()


def test_floor_is_absent_by_default(settings, urls_reloaded, db) -> None:
    mount(settings, False)
    assert Client().get("/bench/floor").status_code == 404


def test_floor_answers_json_without_credentials_when_switched_on(settings, urls_reloaded, db) -> None:
    mount(settings, True)
    response = Client().get("/bench/floor")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    # Only GET is declared for the route.
    assert Client().post("/bench/floor").status_code == 405


def test_the_primary_key_floor_reads_the_serving_generation_once(
    settings, urls_reloaded, db, django_assert_num_queries
) -> None:
    from tests.fixtures_foundation import postgres_or_skip

    postgres_or_skip()  # the generation row exists on PostgreSQL only
    mount(settings, True)
    client = Client()
    client.get("/bench/floor-pk")  # prepared on this connection
    with django_assert_num_queries(1):
        response = client.get("/bench/floor-pk")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and isinstance(body["generation"], int)
    assert Client().get("/bench/floor-pk?x=1").status_code == 200
    assert Client().post("/bench/floor-pk").status_code == 405
