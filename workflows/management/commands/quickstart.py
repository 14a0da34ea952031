"""Migrate the embedded database, create an admin, load a demo registry, and serve on 127.0.0.1:8000.

Safe to run again: an existing superuser is kept (no new password is printed) and the demo registry is
only loaded into an empty registry.
"""

import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

import audit
from accounts.models import User
from accounts.services import one_time_password_issued
from artifacts.services import source_prefix_add
from audit.context import current_task_name
from audit.models import Action
from registry import services
from registry.models import RegisteredModel

ADMIN_USERNAME = "admin"
# name -> number of versions; the newest version of each carries the 'candidate' alias.
DEMO_MODELS = {"fraud-detector": 3, "churn-predictor": 2, "credit-scoring": 1}
# Approvers of every demo model (READ + APPROVE_STAGING + APPROVE_PRODUCTION, admin pages).
DEMO_APPROVERS = ("risk-approver", "ml-lead")
DEMO_APPROVER_NAMES = {
    "risk-approver": ("Rosa", "Risk"),
    "ml-lead": ("Lee", "Lead"),
}


def _one_time_password() -> str:
    return secrets.token_urlsafe(12)


def _user_created_record(user: User) -> None:
    """Audit a user made with a printed one-time password, marked to be changed at first sign-in."""
    one_time_password_issued(user=user)
    audit.record(
        actor="system",
        action=Action.USER_CREATED,
        target=user,
        target_name=user.username,
        after={
            "username": user.username,
            "superuser": user.is_superuser,
            "staff": user.is_staff,
            "must_change_password": True,
        },
    )


class Command(BaseCommand):
    help = "Set up the embedded default (SQLite, local artifacts, in-process tasks) and serve it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo registry.")
        parser.add_argument("--no-serve", action="store_true", help="Set up only; do not start the server.")
        parser.add_argument(
            "--addrport", default="127.0.0.1:8000", help="Where to serve (default: %(default)s)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(self.style.SUCCESS(f"Database migrated ({settings.DATABASES['default']['NAME']})."))
        # The accounts and grants made here are audited as actor 'system', detail 'manage.py quickstart'.
        reset = current_task_name.set("manage.py quickstart")
        try:
            admin = self._admin()
            if options["no_demo"]:
                pass
            elif RegisteredModel.objects.exists():
                self.stdout.write("The registry already has models; the demo registry is not loaded again.")
            else:
                self._load_demo(admin)
                # After the load commits: its versions are validated on commit, and a signed approval
                # binds to the artifacts' digest, which only validation knows.
                with transaction.atomic():
                    self._demo_approvers(User.objects.get(pk=admin.pk))
                # The demo inventory: its card binds to the validated digest too. The inventory app
                # sits above workflows, so it is reached by command name, not imported.
                call_command("inventory_demo", stdout=self.stdout)
        finally:
            current_task_name.reset(reset)
        if not settings.CELERY_BROKER_URL:
            self.stdout.write("Tasks run in-process (CELERY_BROKER_URL is not set).")
        if options["no_serve"]:
            return
        self.stdout.write(f"Serving on http://{options['addrport']}/ (admin: /admin/, API docs: /api/docs/)")
        call_command("runserver", options["addrport"], use_reloader=False)

    def _admin(self) -> User:
        admin = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if admin is not None:
            self.stdout.write(f"Superuser '{admin.username}' exists; its password is unchanged.")
            return admin
        username = ADMIN_USERNAME
        if User.objects.filter(username=username).exists():
            username = f"{ADMIN_USERNAME}-{secrets.token_hex(3)}"  # never take over someone's account
        password = _one_time_password()
        with transaction.atomic():
            admin = User.objects.create_superuser(username, f"{username}@localhost", password)
            _user_created_record(admin)
        # Printed once, never stored in clear: note it now or reset it with `manage.py changepassword`.
        self.stdout.write(
            self.style.WARNING(f"Created superuser '{username}' with one-time password: {password}")
        )
        return admin

    @transaction.atomic
    def _load_demo(self, admin: User) -> None:
        demo_root = Path(settings.QUORUM_ARTIFACT_ROOT) / "demo"
        # Hold the permission instead of acting on superuser power (which is audited as an override).
        admin.user_permissions.add(Permission.objects.get(codename="add_registeredmodel"))
        audit.record(
            actor="system",
            action=Action.ACCESS_GRANTED,
            target=admin,
            target_name=admin.username,
            after={"permission": "add_registeredmodel", "user": admin.username},
        )
        admin = User.objects.get(pk=admin.pk)
        for name, versions in DEMO_MODELS.items():
            services.registered_model_create(
                actor=admin,
                name=name,
                description=f"Demo model {name}",
                tags=[{"key": "team", "value": "demo"}],
            )
            # Sources are scoped (issue 19): the demo model registers from its own demo folder.
            source_prefix_add(actor=admin, name=name, prefix=str(demo_root / name), reason="quickstart demo")
            for number in range(1, versions + 1):
                path = demo_root / name / str(number)
                path.mkdir(parents=True, exist_ok=True)
                (path / "MLmodel").write_text(
                    f"artifact_path: model\nflavors:\n  python_function: {{}}\n# {name} v{number}\n"
                )
                services.model_version_create(
                    actor=admin, name=name, source=str(path), description=f"{name} version {number}"
                )
            services.alias_set(actor=admin, name=name, alias="candidate", version=versions)
        self._demo_request(admin)
        count = sum(DEMO_MODELS.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the demo registry ({len(DEMO_MODELS)} models, {count} versions, 'candidate' aliases)."
            )
        )

    def _demo_request(self, admin: User) -> None:
        """Staging is governed by default: the demo files a request, so the approval queue is not empty."""
        from workflows.services import transition_request_create

        transition_request_create(
            actor=admin,
            name="fraud-detector",
            version=2,
            target_kind="stage",
            target="Staging",
            reason="Demo: promote version 2 to Staging (needs another user's approval).",
        )
        self.stdout.write("Filed a demo transition request: fraud-detector v2 -> Staging.")

    def _demo_approvers(self, admin: User) -> None:
        """Two approvers (printed one-time passwords) and a Production request one approval short."""
        from guardian.shortcuts import assign_perm

        from access.grants import LEVEL_CODENAMES, Level
        from accounts.signing import SigningCredentials
        from workflows.services import transition_request_approve, transition_request_create

        approvers = []
        for username in DEMO_APPROVERS:
            if User.objects.filter(username=username).exists():
                continue  # never take over someone's account
            password = _one_time_password()
            # A printed name: their approvals are electronic signatures, which show it (21 CFR 11.50).
            first, last = DEMO_APPROVER_NAMES[username]
            user = User.objects.create_user(
                username, f"{username}@localhost", password, is_staff=True, first_name=first, last_name=last
            )
            _user_created_record(user)
            for model in RegisteredModel.objects.filter(name__in=DEMO_MODELS):
                for level in (Level.READ, Level.APPROVE_STAGING, Level.APPROVE_PRODUCTION):
                    assign_perm(LEVEL_CODENAMES[level], user, model)
                    audit.record(
                        actor="system",
                        action=Action.ACCESS_GRANTED,
                        target=model,
                        model_name=model.name,
                        after={"model": model.name, "user": username, "level": level.value},
                    )
            approvers.append((User.objects.get(pk=user.pk), password))
            self.stdout.write(
                self.style.WARNING(f"Created approver '{username}' with one-time password: {password}")
            )
        request = transition_request_create(
            actor=admin,
            name="fraud-detector",
            version=3,
            target_kind="stage",
            target="Production",
            reason="Demo: v3 recalls 4% more fraud at the same false-positive rate.",
            archive_existing_versions=True,
        )
        if approvers:
            first, password = approvers[0]
            # Production's approvals are electronic signatures: the demo signs with the password it printed.
            transition_request_approve(
                actor=first,
                request_id=request.pk,
                comment="Demo: backtest reviewed.",
                signing=SigningCredentials(password=password, meaning="Approved for production"),
            )
        last = DEMO_APPROVERS[-1]
        self.stdout.write(
            f"Filed a demo Production request: fraud-detector v3 (one of two approvals in). Sign in as "
            f"'{last}' at /admin/approvals/ and approve it (first you set a password of your own; "
            "the approval is signed with it)."
        )
