"""Who may see a page: any TicketAI role reads; changing models, training or the fleet needs admin."""

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin

from repair_center import roles


class RoleRequiredMixin(LoginRequiredMixin, UserPassesTestMixin):
    """Anonymous visitors go to sign in; a signed-in user with no TicketAI role gets 403, as in the API."""

    allowed_roles = roles.ALL

    def test_func(self):
        return roles.has_role(self.request.user, *self.allowed_roles)


class AdminRequiredMixin(RoleRequiredMixin):
    allowed_roles = frozenset({roles.ADMIN})


def is_admin(user) -> bool:
    return roles.has_role(user, roles.ADMIN)
