"""manage.py audit_checkpoint: sign the audit chain head now (Ed25519; see manage.py audit_keys)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.context import current_task_name
from audit.keys import CheckpointKeyUnavailable
from audit.services import checkpoint_create


class Command(BaseCommand):
    help = "Sign the audit chain head (seq and hash) with the Ed25519 signing key and store a checkpoint."

    def handle(self, *args: Any, **options: Any) -> None:
        reset = current_task_name.set("manage.py audit_checkpoint")
        try:
            checkpoint = checkpoint_create(actor="system")
        except CheckpointKeyUnavailable as exc:
            raise CommandError(str(exc), returncode=2)
        finally:
            current_task_name.reset(reset)
        self.stdout.write(
            self.style.SUCCESS(
                f"checkpoint at seq {checkpoint.seq}: hash {checkpoint.hash}, key {checkpoint.key_id} "
                f"({checkpoint.algorithm}), signature {checkpoint.signature}"
            )
        )
