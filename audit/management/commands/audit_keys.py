"""manage.py audit_keys [show|rotate|generate] [--pem]: the public keys audit checkpoints verify with."""

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.chain import public_key_id
from audit.keys import (
    CheckpointKeyUnavailable,
    private_key_line,
    public_keys,
    signing_key,
    signing_key_rotate,
)


class Command(BaseCommand):
    help = (
        "Print the audit checkpoint public keys (the current signing key's and every retired one kept "
        "for verification), as JSON (the API's form) or a PEM bundle for the offline verifier; or rotate "
        "the signing key file, keeping the old public key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action",
            nargs="?",
            choices=["show", "rotate", "generate"],
            default="show",
            help="show the public keys; rotate the key file; generate: print a new private key as one "
            "line for QUORUM_AUDIT_SIGNING_KEY (nothing is stored)",
        )
        parser.add_argument("--pem", action="store_true", help="Print a PEM bundle instead of JSON.")

    def handle(self, *args: Any, action: str, pem: bool, **options: Any) -> None:
        if action == "generate":
            key = Ed25519PrivateKey.generate()
            self.stderr.write(f"new audit signing key {public_key_id(key.public_key())}; keep it secret")
            self.stdout.write(private_key_line(key))
            return
        try:
            if action == "rotate":
                old, new = signing_key_rotate()
                self.stderr.write(f"rotated the audit signing key: {old or 'none'} -> {new}")
            else:
                signing_key()  # the embedded default's key exists from here on, so there is one to show
        except CheckpointKeyUnavailable as exc:
            raise CommandError(str(exc), returncode=2)
        keys = public_keys()
        if pem:
            for key in keys:
                self.stdout.write(
                    f"# key_id {key.key_id}{' (current)' if key.current else ''}\n{key.pem}", ending=""
                )
            return
        self.stdout.write(json.dumps({"keys": [key.as_dict() for key in keys]}, indent=2))
