"""Fixtures of the artifact tests."""

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


@pytest.fixture
def signing_key(tmp_path) -> tuple[Path, str]:
    """A producer's ECDSA P-256 key pair for OMS signing: (private key file, public key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = tmp_path / "producer.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()
