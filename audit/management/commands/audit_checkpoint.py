"""manage.py audit_checkpoint: sign the audit chain head now (needs QUORUM_AUDIT_HMAC_KEY)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.context import current_task_name
from audit.services import CheckpointKeyMissing, checkpoint_create


class Command(BaseCommand):
    help = "Sign the audit chain head (seq and hash) with QUORUM_AUDIT_HMAC_KEY and store a checkpoint."

    def handle(self, *args: Any, **options: Any) -> None:
        reset = current_task_name.set("manage.py audit_checkpoint")
        try:
            checkpoint = checkpoint_create(actor="system")
        except CheckpointKeyMissing as exc:
            raise CommandError(str(exc), returncode=2)
        finally:
            current_task_name.reset(reset)
        self.stdout.write(
            self.style.SUCCESS(
                f"checkpoint at seq {checkpoint.seq}: hash {checkpoint.hash}, key {checkpoint.key_id}, "
                f"signature {checkpoint.signature}"
            )
        )
