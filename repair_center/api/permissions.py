from rest_framework.permissions import SAFE_METHODS, BasePermission

from repair_center import roles


class RolePermission(BasePermission):
    """Reads need any role; writes need one of the view's ``write_roles`` (admin only by default).

    Anonymous requests get 401 (not authenticated), authenticated users without the role 403.
    """

    def has_permission(self, request, view):
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        read_roles = getattr(view, "read_roles", roles.ALL)
        write_roles = getattr(view, "write_roles", frozenset({roles.ADMIN}))
        allowed = read_roles if request.method in SAFE_METHODS else write_roles
        return roles.has_role(user, *allowed)
