"""Inventory tests run with the artifact pipeline production always has (its tasks in-process)."""

import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The cast's users get real passwords; hashing them at full strength costs seconds per test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
