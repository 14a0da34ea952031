"""Copy a validated version to the governed store without a workflow request (operators, tests)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from artifacts import services
from artifacts.models import ArtifactJob
from registry.errors import RegistryError


class Command(BaseCommand):
    help = (
        "Queue a governed copy of MODEL version VERSION as USER (who needs MANAGE on the model). "
        "With in-process tasks the copy runs before the command returns."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model")
        parser.add_argument("version", type=int)
        parser.add_argument("--as-user", required=True, help="Username recorded as the actor.")

    def handle(self, *args, model: str, version: int, as_user: str, **options) -> None:
        actor = get_user_model().objects.filter(username=as_user, is_active=True).first()
        if actor is None:
            raise CommandError(f"No active user '{as_user}'.")
        try:
            job = services.governed_copy_start(actor=actor, name=model, version=version)
        except RegistryError as exc:
            raise CommandError(exc.message)
        job = ArtifactJob.objects.get(pk=job.pk)
        self.stdout.write(
            f"job {job.pk}: {job.status} ({job.objects_done}/{job.objects_total} objects, "
            f"{job.bytes_done}/{job.bytes_total} bytes) -> {job.destination or 'pending'}"
        )
        if job.error:
            self.stdout.write(f"error: {job.error}")
        if job.status == "failed":
            raise CommandError(f"governed copy failed: {job.error}")
