"""The checkpoint signing key (Ed25519) and the public keys checkpoints are verified with.

One place decides where keys come from (docs/audit.md, "Keys"):

- the signing key: QUORUM_AUDIT_SIGNING_KEY (PEM text, or its one-line body, from a secret
  manager; `manage.py audit_keys generate` prints a new one), else the PEM file
  QUORUM_AUDIT_SIGNING_KEY_FILE. With neither set up, the file is generated on first use (mode
  0600), so the embedded default signs checkpoints out of the box;
- the trusted public keys: the signing key's own, plus every PEM public key in the files or
  folders of QUORUM_AUDIT_PUBLIC_KEYS (by default the `public/` folder next to the key file,
  where `manage.py audit_keys rotate` keeps each retired key), so old checkpoints still verify.

Keys are read from disk on each use (a few microseconds): a rotation needs no restart.
"""

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from audit.chain import ED25519, public_key_id, public_key_pem, public_keys_from_pem

logger = logging.getLogger(__name__)


class CheckpointKeyUnavailable(RuntimeError):
    """The configured signing key cannot be read: no checkpoint is made (an unsigned one proves nothing)."""


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    key: Ed25519PublicKey
    current: bool
    source: str

    @property
    def pem(self) -> str:
        return public_key_pem(self.key)

    def as_dict(self) -> dict:
        return {
            "key_id": self.key_id,
            "algorithm": ED25519,
            "current": self.current,
            "public_key_pem": self.pem,
        }


def _private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_key_line(key: Ed25519PrivateKey) -> str:
    """The key as one line (the PEM body without its armour), convenient in an environment variable."""
    return "".join(_private_key_pem(key).decode("ascii").splitlines()[1:-1])


def _private_key_load(data: bytes, source: str) -> Ed25519PrivateKey:
    if b"-----BEGIN" not in data:  # the one-line form: the PEM body alone
        data = b"-----BEGIN PRIVATE KEY-----\n" + data.strip() + b"\n-----END PRIVATE KEY-----\n"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise CheckpointKeyUnavailable(f"{source} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointKeyUnavailable(f"{source} is not an Ed25519 private key")
    return key


def signing_key_file() -> Path:
    return Path(settings.QUORUM_AUDIT_SIGNING_KEY_FILE)


def signing_key_from_environment() -> bool:
    return bool(settings.QUORUM_AUDIT_SIGNING_KEY)


def _key_file_write(path: Path, key: Ed25519PrivateKey, *, replace: bool) -> None:
    """Write a private key readable by this user only; create-only unless replacing (rotation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(f".{path.name}.new") if replace else path
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(_private_key_pem(key))
        out.flush()
        os.fsync(out.fileno())
    if replace:
        os.replace(target, path)


def signing_key(*, create: bool = True) -> Ed25519PrivateKey | None:
    """The key new checkpoints are signed with (generated on first use in the embedded default)."""
    if signing_key_from_environment():
        return _private_key_load(settings.QUORUM_AUDIT_SIGNING_KEY.encode(), "QUORUM_AUDIT_SIGNING_KEY")
    path = signing_key_file()
    try:
        return _private_key_load(path.read_bytes(), str(path))
    except FileNotFoundError:
        if not create:
            return None
    except OSError as exc:
        raise CheckpointKeyUnavailable(f"cannot read the audit signing key {path}: {exc}") from None
    key = Ed25519PrivateKey.generate()
    try:
        _key_file_write(path, key, replace=False)
    except FileExistsError:  # another process generated it first: use theirs
        return _private_key_load(path.read_bytes(), str(path))
    except OSError as exc:
        raise CheckpointKeyUnavailable(f"cannot create the audit signing key {path}: {exc}") from None
    logger.warning(
        "generated a new audit signing key %s at %s; publish its public key (manage.py audit_keys) "
        "to your auditors",
        public_key_id(key.public_key()),
        path,
    )
    return key


def _public_key_files(location: Path) -> list[Path]:
    if location.is_dir():
        return sorted(p for p in location.iterdir() if p.suffix == ".pem" and p.is_file())
    return [location] if location.is_file() else []


def public_keys() -> list[PublicKey]:
    """Every key checkpoints are verified with: the current one first, then retired ones by id."""
    found: dict[str, PublicKey] = {}
    with contextlib.suppress(CheckpointKeyUnavailable):
        current = signing_key(create=False)
        if current is not None:
            public = current.public_key()
            found[public_key_id(public)] = PublicKey(public_key_id(public), public, True, "signing key")
    for location in settings.QUORUM_AUDIT_PUBLIC_KEYS:
        for path in _public_key_files(Path(location)):
            try:
                keys = public_keys_from_pem(path.read_bytes())
            except (OSError, ValueError) as exc:
                logger.error("audit public key file %s skipped: %s", path, exc)
                continue
            for key in keys:
                found.setdefault(public_key_id(key), PublicKey(public_key_id(key), key, False, str(path)))
    current_ids = [k for k, v in found.items() if v.current]
    return [found[k] for k in current_ids] + [found[k] for k in sorted(found) if k not in current_ids]


def retired_keys_folder() -> Path:
    """Where rotation keeps retired public keys: the `public/` folder next to the signing key file."""
    return signing_key_file().parent / "public"


def signing_key_rotate() -> tuple[str | None, str]:
    """Replace the signing key file with a new key, keeping the old public key; (old id, new id)."""
    if signing_key_from_environment():
        raise CheckpointKeyUnavailable(
            "the signing key comes from QUORUM_AUDIT_SIGNING_KEY: rotate it in your secret manager and "
            "add the old public key (manage.py audit_keys --pem) to QUORUM_AUDIT_PUBLIC_KEYS"
        )
    old = signing_key(create=False)
    old_id = None
    if old is not None:
        old_id = public_key_id(old.public_key())
        folder = retired_keys_folder()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{old_id}.pem").write_text(public_key_pem(old.public_key()))
        if str(folder) not in [str(Path(p)) for p in settings.QUORUM_AUDIT_PUBLIC_KEYS]:
            logger.warning(
                "the retired key %s is kept in %s, which QUORUM_AUDIT_PUBLIC_KEYS does not name: "
                "add it, or checkpoints signed before this rotation will not verify",
                old_id,
                folder,
            )
    new = Ed25519PrivateKey.generate()
    _key_file_write(signing_key_file(), new, replace=True)
    return old_id, public_key_id(new.public_key())
