"""What the validation task learns about a version's files beyond their digests (issue 24).

- The producer's OpenSSF Model Signing (OMS v1.0) signature, verified with `model-signing` against
  the keys a superuser trusts (TrustedSigner). The files `model-signing` hashes are a private copy
  of the ones Quorum hashed for the manifest, and the signed per-file digests must equal the
  manifest's, so a signature can never vouch for bytes other than the ones recorded.
- Unsafe pickle serialisation, scanned with picklescan (it reads the pickle opcodes without
  unpickling, knows the dangerous globals of torch/numpy/joblib files and is small and maintained;
  modelscan pulls in a framework matrix, fickling decompiles and is much slower).

Both run only over files the manifest lists, from a copy whose bytes were re-hashed against it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from artifacts.attestations import SIGNATURE_PATH
from artifacts.stores import ArtifactStore, StorageUnavailable

log = logging.getLogger(__name__)

# Files picklescan reads as pickles (or as archives holding pickles: torch, numpy).
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".pt", ".pth", ".bin", ".ckpt", ".npy", ".npz")
# Names that are always pickles; the others (.bin, .pt, .npy, ...) are also raw weights or arrays, and
# are scanned only when their first bytes say pickle (protocol 2+), zip (torch, npz) or numpy.
ALWAYS_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill")
PICKLE_LIKE_MAGIC = (b"\x80", b"PK\x03\x04", b"\x93NUMPY")


def pickle_candidate(path: str, first_bytes: bytes) -> bool:
    """Should picklescan read this file? By name, and for ambiguous names by its first bytes."""
    name = path.lower()
    if name.endswith(ALWAYS_PICKLE_SUFFIXES):
        return True
    return name.endswith(PICKLE_SUFFIXES) and first_bytes.startswith(PICKLE_LIKE_MAGIC)


SEVERITIES = ("none", "innocuous", "suspicious", "dangerous")
SIGNATURE_STATES = ("absent", "verified", "untrusted", "mismatch", "unreadable")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


SIGNER_KINDS = ("key", "certificate")


@dataclass(frozen=True)
class TrustedKey:
    """What the organisation trusts to sign models, as the verifier needs it.

    kind "key": `pem` is an elliptic-curve public key (OMS key method). kind "certificate": `pem` is
    the CA certificate (or chain) a signing certificate must lead to (OMS certificate method).
    """

    name: str
    fingerprint: str
    pem: str
    kind: str = "key"


def signer_fingerprint(kind: str, pem: str) -> str:
    """sha256 of the key's DER SubjectPublicKeyInfo, or of the first CA certificate's DER; ValueError if unfit."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if kind == "certificate":
        try:
            certificates = x509.load_pem_x509_certificates(pem.encode())
        except ValueError as exc:
            raise ValueError(
                "ca_certificate_pem must be PEM certificates (-----BEGIN CERTIFICATE-----)."
            ) from exc
        try:
            is_ca = certificates[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise ValueError("ca_certificate_pem must be a CA certificate (basicConstraints CA:TRUE).")
        return hashlib.sha256(certificates[0].public_bytes(serialization.Encoding.DER)).hexdigest()
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise ValueError("public_key must be a PEM public key (-----BEGIN PUBLIC KEY-----).") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        # model-signing's key method verifies ECDSA (P-256/P-384/P-521) signatures only.
        raise ValueError("public_key must be an elliptic-curve key (model-signing's key method).")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _verifier(signer: TrustedKey, pem_file: str):
    import model_signing  # heavy (sigstore, tuf): imported only when a version carries a signature

    config = model_signing.verifying.Config()
    if signer.kind == "certificate":
        return config.use_certificate_verifier(certificate_chain=[pem_file])
    return config.use_elliptic_key_verifier(public_key=pem_file)


def _signing_certificate_subject(signature_file: Path) -> str:
    """The subject of the leaf certificate an OMS bundle carries (certificate method), or ""."""
    from cryptography import x509

    bundle = json.loads(signature_file.read_text())
    chain = bundle.get("verificationMaterial", {}).get("x509CertificateChain", {}).get("certificates", [])
    if not chain:
        return ""
    return x509.load_der_x509_certificate(base64.b64decode(chain[0]["rawBytes"])).subject.rfc4514_string()


@contextlib.contextmanager
def private_copy(source: ArtifactStore, entries: Iterable[tuple[str, int, str]]) -> Iterator[Path]:
    """The manifest's files in a temporary folder, each re-hashed against its manifest digest.

    A file that changed since it was hashed raises StorageUnavailable (the job is retried), so what
    is scanned and verified here is exactly what the manifest records.
    """
    folder = Path(tempfile.mkdtemp(prefix="quorum-integrity-"))
    try:
        for path, size, sha256 in entries:
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            written = 0
            with contextlib.closing(source.open(path)) as stream, open(target, "wb") as out:
                while chunk := stream.read(1024 * 1024):
                    digest.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
            if written != size or digest.hexdigest() != sha256:
                raise StorageUnavailable(f"'{path}' changed while it was read; validating again.")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _signed_statement(signature_file: Path) -> dict:
    """The in-toto Statement inside an OMS bundle (read after the signature verified)."""
    bundle = json.loads(signature_file.read_text())
    return json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))


def producer_signature(folder: Path, manifest: dict[str, str], trusted: Iterable[TrustedKey]) -> dict:
    """Verify the OMS signature in `folder` (if any) against each trusted key.

    `manifest` maps each manifest path to its sha256. The answer is evidence:
    state absent | verified | untrusted (no trusted key made it) | mismatch (a trusted key made it
    but the files differ: tampered) | unreadable (not an OMS bundle).
    """
    signature_file = folder / SIGNATURE_PATH
    if SIGNATURE_PATH not in manifest:
        return {"state": "absent"}
    mismatch = ""
    for key in trusted:
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem_file:
            pem_file.write(key.pem)
            pem_file.flush()
            try:
                _verifier(key, pem_file.name).verify(folder, signature_file)
            except ValueError as exc:
                if "Signature mismatch" in str(exc):
                    mismatch = f"{key.name}: {exc}"
                continue  # not this signer's signature
            except Exception:  # noqa: BLE001 - an untrusted chain, another method's bundle: not this signer
                continue
        statement = _signed_statement(signature_file)
        resources = {r["name"]: r["digest"] for r in statement["predicate"]["resources"]}
        differing = sorted(p for p, d in resources.items() if manifest.get(p) != d)
        if differing:  # cannot happen after private_copy; kept as the binding's own check
            return {"state": "mismatch", "signer": key.name, "reason": f"signed digests differ: {differing}"}
        return {
            "state": "verified",
            "method": key.kind,
            "signer": key.name,
            **(
                {"certificate_subject": _signing_certificate_subject(signature_file)}
                if key.kind == "certificate"
                else {}
            ),
            "key_fingerprint": key.fingerprint,
            "oms_digest": "sha256:" + statement["subject"][0]["digest"]["sha256"],
            "signed_files": len(resources),
            "unsigned_files": sorted(set(manifest) - set(resources) - {SIGNATURE_PATH}),
        }
    if mismatch:
        return {"state": "mismatch", "reason": mismatch[:2000]}
    try:
        _signed_statement(signature_file)
    except (ValueError, KeyError, TypeError):
        return {"state": "unreadable", "reason": "not an OMS signature bundle"}
    return {"state": "untrusted", "reason": "no trusted signer's key or CA verifies this signature"}


NOTHING_SCANNED = {
    "scanner": "picklescan",
    "scanned_files": 0,
    "findings": [],
    "highest": "none",
    "unparseable": [],
}


def pickle_scan(folder: Path, paths: Iterable[str]) -> dict:
    """picklescan's findings over the given pickle candidates: every non-innocuous global, with its severity."""
    from picklescan import scanner

    findings: list[dict] = []
    scanned = 0
    errors: list[str] = []
    for path in sorted(paths):
        try:
            with open(folder / path, "rb") as stream:
                result = scanner.scan_bytes(stream, path, Path(path).suffix.lower())
        except Exception:  # noqa: BLE001 - picklescan raises on bytes it cannot parse; that is a finding
            result = None
        scanned += 1
        if result is None or result.scan_err:
            errors.append(path)
            continue
        for found in result.globals:
            if found.safety != scanner.SafetyLevel.Innocuous:
                findings.append(
                    {"path": path, "module": found.module, "name": found.name, "severity": found.safety.value}
                )
    if errors:
        # A file named like a pickle that does not parse as one hides what it would load.
        findings += [{"path": p, "module": "", "name": "", "severity": "suspicious"} for p in errors]
    highest = max((f["severity"] for f in findings), key=severity_rank, default="none")
    return {
        "scanner": "picklescan",
        "scanned_files": scanned,
        "findings": findings[:200],
        "highest": highest,
        "unparseable": errors,
    }
