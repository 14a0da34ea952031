import pytest

from tests.audit.scripted import history  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """The cast's passwords are hashed with PBKDF2 otherwise, ~0.5 s per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fraud(cast):
    """The shared `fraud` (tests/fixtures_foundation.py) without its policies: exactly four events (seq 1-4).

    Same model, tags and versions; audit tests count events from seq 1, so no policy events come first.
    """
    from registry import services

    model = services.registered_model_create(
        actor=cast.owner, name="fraud", description="detects fraud", tags=[{"key": "team", "value": "risk"}]
    )
    for number in (1, 2, 3):
        services.model_version_create(actor=cast.owner, name="fraud", source=f"s3://bucket/fraud/{number}")
    return model
