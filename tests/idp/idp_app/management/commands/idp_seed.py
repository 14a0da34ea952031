"""Create users, groups and the two clients the tests use: Quorum's sign-in and a pipeline."""

import json

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from oauth2_provider.models import Application


class Command(BaseCommand):
    def add_arguments(self, parser) -> None:
        parser.add_argument("--spec", required=True, help="JSON: users, clients")

    def handle(self, *args, spec: str, **options) -> None:
        data = json.loads(spec)
        for entry in data["users"]:
            user = User.objects.create_user(
                entry["username"], email=entry.get("email", ""), password=entry["password"]
            )
            for name in entry.get("groups", []):
                user.groups.add(Group.objects.get_or_create(name=name)[0])
        for entry in data["clients"]:
            Application.objects.create(
                name=entry["client_id"],
                client_id=entry["client_id"],
                client_secret=entry["client_secret"],
                hash_client_secret=False,
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=entry["grant"],
                redirect_uris=entry.get("redirect_uri", ""),
                algorithm=Application.RS256_ALGORITHM,
                skip_authorization=True,
            )
        self.stdout.write(json.dumps({u.username: u.pk for u in User.objects.all()}))
