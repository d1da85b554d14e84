"""API keys from the command line (also `zappa manage <stage> apikey ...`).

manage.py apikey create USERNAME [--name NAME]   prints the new key, and nothing else
manage.py apikey list [USERNAME]
manage.py apikey revoke PREFIX
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from transcripts.api.models import ApiKey


class Command(BaseCommand):
    help = "Create, list and revoke API keys."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a key; prints it once on stdout.")
        create.add_argument("username")
        create.add_argument("--name", default="")
        listing = sub.add_parser("list", help="List keys (one user's, or everyone's).")
        listing.add_argument("username", nargs="?")
        revoke = sub.add_parser("revoke", help="Revoke a key by its prefix (mn_…).")
        revoke.add_argument("prefix")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _user(self, username: str):
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No user named {username!r}.") from exc

    def _create(self, username: str, name: str, **_) -> None:
        _, key = ApiKey.issue(self._user(username), name)
        self.stdout.write(key)

    def _list(self, username: str | None = None, **_) -> None:
        keys = ApiKey.objects.select_related("owner").order_by("owner__username", "created_at")
        if username:
            keys = keys.filter(owner=self._user(username))
        for k in keys:
            state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
            used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never used"
            self.stdout.write(f"{k.prefix}\t{k.owner.username}\t{k.name or '-'}\t{state}\t{used}")

    def _revoke(self, prefix: str, **_) -> None:
        # The prefix is the key's first two parts (mn_1a2b3c4d); a whole key names it too.
        key = ApiKey.objects.filter(prefix="_".join(prefix.strip().split("_")[:2])).first()
        if key is None:
            raise CommandError(f"No key with the prefix {prefix!r}.")
        if not key.revoke():
            raise CommandError(f"The key {key.prefix} is already revoked.")
        self.stdout.write(f"Revoked {key.prefix} ({key.owner.username}).")
