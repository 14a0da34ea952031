"""manage.py audit_keys [show|rotate] [--pem]: the public keys audit checkpoints verify with."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.keys import CheckpointKeyUnavailable, public_keys, signing_key, signing_key_rotate


class Command(BaseCommand):
    help = (
        "Print the audit checkpoint public keys (the current signing key's and every retired one kept "
        "for verification), as JSON (the API's form) or a PEM bundle for the offline verifier; or rotate "
        "the signing key file, keeping the old public key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", choices=["show", "rotate"], default="show")
        parser.add_argument("--pem", action="store_true", help="Print a PEM bundle instead of JSON.")

    def handle(self, *args: Any, action: str, pem: bool, **options: Any) -> None:
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
