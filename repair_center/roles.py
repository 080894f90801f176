"""Roles are Django groups: engineer (read, feedback), integration (ticket write), admin (everything),
and fault_management: a fault-management system that may post alarms (TMF642) and nothing else."""

ENGINEER = "engineer"
INTEGRATION = "integration"
ADMIN = "admin"
FAULT_MANAGEMENT = "fault_management"
# The roles that read the API; a fault-management system is not one of them.
ALL = frozenset({ENGINEER, INTEGRATION, ADMIN})
KNOWN = ALL | {FAULT_MANAGEMENT}


def user_roles(user) -> frozenset[str]:
    if user is None or not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return ALL
    cached = getattr(user, "_ticketai_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True)) & KNOWN
        user._ticketai_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))
