from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from repair_center import roles
from repair_center.models import ApiToken


class Command(BaseCommand):
    help = (
        "Issue an API token for USERNAME and print it once (only its hash is stored). "
        "Use it as 'Authorization: Token <key>'."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--name", default="", help="A label to tell tokens apart, e.g. the system using it."
        )
        parser.add_argument(
            "--role", choices=sorted(roles.KNOWN), help="Also add the user to this role group."
        )
        parser.add_argument(
            "--create-user", action="store_true", help="Create the user (without a password) if missing."
        )

    @transaction.atomic
    def handle(self, *args, username, name, role, create_user, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"No user {username!r}; pass --create-user to create one.")
            user = User.objects.create_user(username=username)  # unusable password: token only
        if role:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        if not user.is_superuser and not roles.user_roles(user):
            self.stderr.write(
                f"Warning: {username} has no role; the token will get 403 until a role is added "
                f"(--role {'/'.join(sorted(roles.KNOWN))})."
            )
        token, raw = ApiToken.issue(user=user, name=name)
        self.stderr.write(f"Token {token.prefix}… issued for {username}; it is shown only this once:")
        self.stdout.write(raw)
