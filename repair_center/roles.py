"""Roles are Django groups: engineer (read, feedback), integration (ticket write), admin (everything)."""

ENGINEER = "engineer"
INTEGRATION = "integration"
ADMIN = "admin"
ALL = frozenset({ENGINEER, INTEGRATION, ADMIN})


def user_roles(user) -> frozenset[str]:
    if user is None or not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return ALL
    cached = getattr(user, "_ticketai_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True)) & ALL
        user._ticketai_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))
