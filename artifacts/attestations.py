"""What Quorum attests about a version, as in-toto Statements in DSSE envelopes (issue 24).

The subject of every statement is the OpenSSF Model Signing (OMS v1.0) digest of the version's
files: sha256 over the per-file sha256 digests in the order `model-signing` canonicalises them, so
a producer's OMS signature and Quorum's attestations name the same model by the same digest. The
signature file itself (model.sig) is not part of the model.

Envelopes are signed with Quorum's Ed25519 signing key, the one that signs the audit checkpoints
(audit/keys.py), and verify with the public keys published at /api/v1/audit/keys under the same
key ids. `quorum verify` (artifacts/cli.py) checks them at deploy time. No Django here: the
verify command imports this module on a serving host.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from pathlib import PurePosixPath

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
# Where OMS puts the signature by convention (`model_signing sign ... --signature model.sig`).
SIGNATURE_PATH = "model.sig"
VALIDATION_PREDICATE = "https://quorum.dev/attestations/validation/v1"
PROMOTION_PREDICATE = "https://quorum.dev/attestations/promotion/v1"


def oms_digest(entries: Iterable[tuple[str, str]]) -> str:
    """'sha256:<hex>' over (path, sha256 hex) pairs, as model-signing computes its subject.

    model-signing sorts its manifest by PurePosixPath and hashes the raw per-file digests in that
    order (model_signing/_signing/signing.py, Payload); the signature file is not part of the model.
    """
    ordered = sorted((PurePosixPath(path), sha) for path, sha in entries if path != SIGNATURE_PATH)
    root = hashlib.sha256()
    for _, sha in ordered:
        root.update(bytes.fromhex(sha))
    return "sha256:" + root.hexdigest()


def statement(*, subject_name: str, digest: str, predicate_type: str, predicate: dict) -> dict:
    algorithm, _, value = digest.partition(":")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": {algorithm: value}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def envelope_signed(statement_body: dict) -> dict:
    """A DSSE envelope over the statement, signed with the current Ed25519 signing key."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner, SSlibKey

    from audit.chain import public_key_id
    from audit.keys import signing_key

    private_key = signing_key()
    public_key = SSlibKey.from_crypto(private_key.public_key(), keyid=public_key_id(private_key.public_key()))
    payload = json.dumps(statement_body, sort_keys=True, separators=(",", ":")).encode()
    envelope = Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
    envelope.sign(CryptoSigner(private_key, public_key))
    return envelope.to_dict()


def envelope_statement(envelope: dict) -> dict:
    """The statement inside an envelope (no signature check: see `envelope_verified`)."""
    return json.loads(base64.b64decode(envelope["payload"]))


def envelope_verified(envelope: dict, public_keys_pem: dict[str, str]) -> dict:
    """The statement, if one of the given public keys (key id -> PEM) signed the envelope; else ValueError."""
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import SSlibKey

    keys = [
        SSlibKey.from_crypto(serialization.load_pem_public_key(pem.encode()), keyid=key_id)
        for key_id, pem in public_keys_pem.items()
    ]
    try:
        Envelope.from_dict(envelope).verify(keys, 1)
    except (VerificationError, KeyError, ValueError) as exc:
        raise ValueError(f"the attestation's signature does not verify with Quorum's keys ({exc})") from exc
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise ValueError("the attestation is not an in-toto statement")
    return envelope_statement(envelope)
