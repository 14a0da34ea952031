"""Migrate the embedded database, create an admin, load a demo registry, and serve on 127.0.0.1:8000."""

import secrets

from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from registry import services
from registry.models import RegisteredModel


def _one_time_password() -> str:
    return secrets.token_urlsafe(12)


class Command(BaseCommand):
    help = "Set up the embedded default (SQLite, local artifacts, in-process tasks) and serve it."

    def add_arguments(self, parser):
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo registry.")
        parser.add_argument("--no-serve", action="store_true", help="Set up only; do not start the server.")
        parser.add_argument("--addrport", default="127.0.0.1:8000")

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(self.style.SUCCESS("Database migrated."))
        admin = User.objects.filter(is_superuser=True).order_by("pk").first()
        if admin is None:
            password = _one_time_password()
            admin = User.objects.create_superuser("admin", "admin@localhost", password)
            self.stdout.write(
                self.style.WARNING(f"Created superuser 'admin' with one-time password: {password}")
            )
        if not options["no_demo"] and not RegisteredModel.objects.exists():
            self._load_demo(admin)
        if options["no_serve"]:
            return
        self.stdout.write(f"Serving on http://{options['addrport']}/ (admin: /admin/, API docs: /api/docs/)")
        call_command("runserver", options["addrport"], use_reloader=False)

    @transaction.atomic
    def _load_demo(self, admin: User) -> None:
        from django.conf import settings

        demo_root = settings.QUORUM_ARTIFACT_ROOT / "demo"
        add_model = Permission.objects.get(codename="add_registeredmodel")
        admin.user_permissions.add(add_model)
        for name, versions in (("fraud-detector", 3), ("churn-predictor", 2), ("credit-scoring", 1)):
            services.registered_model_create(
                actor=admin,
                name=name,
                description=f"Demo model {name}",
                tags=[{"key": "team", "value": "demo"}],
            )
            for number in range(1, versions + 1):
                path = demo_root / name / str(number)
                path.mkdir(parents=True, exist_ok=True)
                (path / "MLmodel").write_text(
                    f"artifact_path: model\nflavors:\n  python_function: {{}}\n# v{number}\n"
                )
                services.model_version_create(
                    actor=admin, name=name, source=str(path), description=f"{name} version {number}"
                )
            services.alias_set(actor=admin, name=name, alias="champion", version=versions)
        services.model_version_stage_transition(
            actor=admin, name="fraud-detector", version=2, stage="Staging"
        )
        self.stdout.write(self.style.SUCCESS("Loaded the demo registry (3 models, 6 versions, aliases)."))
