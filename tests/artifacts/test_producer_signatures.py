"""Issue 24: the producer's OpenSSF Model Signing signature and unsafe pickles, checked on registration.

A real scikit-learn model is pickled and signed with `model-signing` (key method), registered from
a local folder, and validated by the in-process task. A superuser trusts the signer's key through
the API; the version's evidence then names the verified signer. Changing one file after signing
fails validation; a policy requiring a signature refuses an unsigned version; a policy refusing
dangerous pickles refuses a pickle that calls os.system.
"""

import os
import pickle
from pathlib import Path

import model_signing
import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sklearn.linear_model import LogisticRegression

from audit.models import AuditEvent
from tests.artifacts.helpers import MLMODEL

pytestmark = pytest.mark.django_db(transaction=True)


class RunsAShell:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.fixture
def artifact_root(tmp_path, settings) -> Path:
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path]
    settings.QUORUM_SOURCE_PREFIXES = [*settings.QUORUM_SOURCE_PREFIXES, str(tmp_path)]  # not a scope test
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    return tmp_path


def sklearn_model(folder: Path, payload: object | None = None) -> Path:
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "model.pkl").write_bytes(pickle.dumps(payload if payload is not None else model))
    (folder / "requirements.txt").write_text("scikit-learn\n")
    return folder


def sign(folder: Path, private_key: Path) -> None:
    """As `model_signing sign key <folder> --signature <folder>/model.sig` does: the signature file is ignored."""
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"])
    model_signing.signing.Config().use_elliptic_key_signer(private_key=private_key).set_hashing_config(
        hashing
    ).sign(folder, folder / "model.sig")


@pytest.fixture
def owner_api(cast, client_for):
    api = client_for(cast.owner)
    assert api.post("/api/v1/models", {"name": "fraud"}, format="json").status_code == 201
    return api


def register(api, folder: Path) -> dict:
    response = api.post("/api/v1/models/fraud/versions", {"source": str(folder)}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def evidence(api, version: int) -> dict:
    return api.get(f"/api/v1/models/fraud/versions/{version}/artifacts").json()["evidence"]


def trust(client_for, cast, public_pem: str, name: str = "ml-platform CI"):
    return client_for(cast.admin).post(
        "/api/v1/trusted-signers", {"name": name, "public_key_pem": public_pem}, format="json"
    )


def test_a_signed_model_from_a_trusted_key_shows_its_verified_signer(
    artifact_root, owner_api, signing_key, client_for, cast
):
    private, public = signing_key
    assert trust(client_for, cast, public).status_code == 201
    folder = sklearn_model(artifact_root / "runs/1/model")
    sign(folder, private)
    body = register(owner_api, folder)
    assert body["status"] == "READY", body
    signature = evidence(owner_api, 1)["producer_signature"]
    assert signature["state"] == "verified"
    assert signature["signer"] == "ml-platform CI"
    assert signature["oms_digest"].startswith("sha256:") and signature["signed_files"] == 3
    assert signature["unsigned_files"] == []
    event = AuditEvent.objects.get(action="artifacts.validated")
    assert event.after["producer_signature"]["signer"] == "ml-platform CI"


def test_changing_one_file_after_signing_fails_validation(
    artifact_root, owner_api, signing_key, client_for, cast
):
    private, public = signing_key
    trust(client_for, cast, public)
    folder = sklearn_model(artifact_root / "runs/1/model")
    sign(folder, private)
    (folder / "requirements.txt").write_text("scikit-learn\nevil-package\n")
    body = register(owner_api, folder)
    assert body["status"] == "FAILED_REGISTRATION"
    assert "does not match the files" in body["status_message"]
    assert "requirements.txt" in body["status_message"]


def test_adding_a_file_after_signing_fails_validation(
    artifact_root, owner_api, signing_key, client_for, cast
):
    private, public = signing_key
    trust(client_for, cast, public)
    folder = sklearn_model(artifact_root / "runs/1/model")
    sign(folder, private)
    (folder / "extra.pkl").write_bytes(pickle.dumps(RunsAShell()))
    body = register(owner_api, folder)
    assert body["status"] == "FAILED_REGISTRATION"
    assert "extra.pkl" in body["status_message"]


def test_a_signature_by_an_untrusted_key_is_recorded_as_untrusted(artifact_root, owner_api, signing_key):
    private, _ = signing_key
    folder = sklearn_model(artifact_root / "runs/1/model")
    sign(folder, private)
    register(owner_api, folder)
    assert evidence(owner_api, 1)["producer_signature"]["state"] == "untrusted"


def test_only_a_superuser_may_trust_a_signer_and_bad_keys_get_a_400(client_for, cast, signing_key):
    _, public = signing_key
    refused = client_for(cast.owner).post(
        "/api/v1/trusted-signers", {"name": "me", "public_key_pem": public}, format="json"
    )
    assert refused.status_code == 403
    bad = trust(client_for, cast, "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")
    assert bad.status_code == 400 and "PEM public key" in bad.content.decode()
    created = trust(client_for, cast, public)
    assert created.status_code == 201
    assert trust(client_for, cast, public, name="again").status_code == 400
    event = AuditEvent.objects.get(action="policy.changed", target_type="trusted_signer")
    assert event.after == {
        "trusted_signer": "ml-platform CI",
        "key_fingerprint": created.json()["fingerprint"],
        "trusted": True,
    }
    retired = client_for(cast.admin).delete(f"/api/v1/trusted-signers/{created.json()['id']}")
    assert retired.status_code == 200 and retired.json()["retired_at"]


def test_a_dangerous_pickle_is_found_and_named(artifact_root, owner_api):
    register(owner_api, sklearn_model(artifact_root / "runs/1/model", payload=RunsAShell()))
    scan = evidence(owner_api, 1)["pickle_scan"]
    assert scan["highest"] == "dangerous"
    assert {"path": "model.pkl", "module": "posix", "name": "system", "severity": "dangerous"} in scan[
        "findings"
    ]


def test_a_plain_sklearn_pickle_is_only_suspicious(artifact_root, owner_api):
    register(owner_api, sklearn_model(artifact_root / "runs/1/model"))
    scan = evidence(owner_api, 1)["pickle_scan"]
    assert scan["highest"] == "suspicious" and scan["scanned_files"] == 1
    assert any(f["module"].startswith("sklearn.") for f in scan["findings"])


def request_verdict(api, version: int) -> dict:
    filed = api.post(
        "/api/v1/models/fraud/requests",
        {"version": version, "alias": "champion", "reason": "ready"},
        format="json",
    )
    assert filed.status_code == 201, filed.content
    return filed.json()


@pytest.mark.parametrize(
    ("policy", "payload", "signed", "needed"),
    [
        ({"require_producer_signature": True}, None, False, "a producer signature verified"),
        ({"refuse_pickle_severity": "dangerous"}, RunsAShell(), True, "no dangerous pickle globals"),
    ],
)
def test_a_policy_refuses_versions_that_do_not_meet_its_integrity_conditions(
    artifact_root, owner_api, signing_key, client_for, cast, policy, payload, signed, needed
):
    private, public = signing_key
    trust(client_for, cast, public)
    set_policy = owner_api.put(
        "/api/v1/models/fraud/policies/alias/champion", {"required_approvals": 2, **policy}, format="json"
    )
    assert set_policy.status_code == 200, set_policy.content
    folder = sklearn_model(artifact_root / "runs/1/model", payload=payload)
    if signed:
        sign(folder, private)
    register(owner_api, folder)
    request = request_verdict(owner_api, 1)
    assert any(needed in missing for missing in request["still_needed"]), request["still_needed"]


def _certificate(subject: str, key, issuer_key, issuer_name: str | None, *, ca: bool):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name or subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _signing_ca(tmp_path: Path, name: str):
    """A CA and a signing certificate under it, as a PKI team would issue them; returns (CA PEM, sign)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(f"{name} CA", ca_key, ca_key, None, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(f"{name} model signer", leaf_key, ca_key, f"{name} CA", ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / f"{name}-ca.crt").write_bytes(ca.public_bytes(pem))
    (tmp_path / f"{name}-leaf.crt").write_bytes(leaf.public_bytes(pem))
    (tmp_path / f"{name}-leaf.pem").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )

    def sign_with_certificate(folder: Path) -> None:
        hashing = model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"])
        model_signing.signing.Config().use_certificate_signer(
            private_key=tmp_path / f"{name}-leaf.pem",
            signing_certificate=tmp_path / f"{name}-leaf.crt",
            certificate_chain=[tmp_path / f"{name}-ca.crt"],
        ).set_hashing_config(hashing).sign(folder, folder / "model.sig")

    return ca.public_bytes(pem).decode(), sign_with_certificate


def test_a_model_signed_with_a_certificate_under_a_trusted_ca_is_verified(
    artifact_root, owner_api, client_for, cast, tmp_path
):
    ca_pem, sign_with_certificate = _signing_ca(tmp_path, "bank-pki")
    trusted = client_for(cast.admin).post(
        "/api/v1/trusted-signers",
        {"name": "bank PKI", "kind": "certificate", "ca_certificate_pem": ca_pem},
        format="json",
    )
    assert trusted.status_code == 201, trusted.content
    folder = sklearn_model(artifact_root / "runs/1/model")
    sign_with_certificate(folder)
    register(owner_api, folder)
    signature = evidence(owner_api, 1)["producer_signature"]
    assert (signature["state"], signature["method"], signature["signer"]) == (
        "verified",
        "certificate",
        "bank PKI",
    )
    assert signature["certificate_subject"] == "CN=bank-pki model signer"

    _, sign_elsewhere = _signing_ca(tmp_path, "someone-else")
    other = sklearn_model(artifact_root / "runs/2/model")
    sign_elsewhere(other)
    register(owner_api, other)
    assert evidence(owner_api, 2)["producer_signature"]["state"] == "untrusted"
    not_a_ca = client_for(cast.admin).post(
        "/api/v1/trusted-signers",
        {
            "name": "leaf",
            "kind": "certificate",
            "ca_certificate_pem": (tmp_path / "bank-pki-leaf.crt").read_text(),
        },
        format="json",
    )
    assert not_a_ca.status_code == 400 and "CA certificate" in not_a_ca.content.decode()


def test_a_file_named_like_a_pickle_that_does_not_parse_is_a_suspicious_finding_not_a_failed_job(
    artifact_root, owner_api
):
    folder = sklearn_model(artifact_root / "runs/1/model")
    (folder / "model.pkl").write_bytes(b"N\x93.")  # a STACK_GLOBAL picklescan cannot parse (it raises)
    assert register(owner_api, folder)["status"] == "READY"
    scan = evidence(owner_api, 1)["pickle_scan"]
    assert scan["highest"] == "suspicious" and scan["unparseable"] == ["model.pkl"]
