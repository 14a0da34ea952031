import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """The cast's passwords are hashed with PBKDF2 otherwise, ~0.5 s per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
