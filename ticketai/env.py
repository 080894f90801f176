"""Tiny helpers that read settings from the environment and fail loudly on bad values.

Every setting may also be given as ``NAME_FILE`` pointing at a file holding the value
(Docker and Kubernetes secrets), which wins over ``NAME``.
"""

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

# Seconds to wait for PostgreSQL to answer a new connection, unless DATABASE_URL says ?connect_timeout=.
CONNECT_TIMEOUT_S = 5


class ConfigurationError(Exception):
    """A setting in the environment is malformed."""


def raw(name: str, default: str | None = None) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as e:
            raise ConfigurationError(f"{name}_FILE={file_name!r} cannot be read: {e}") from e
    return os.environ.get(name, default)


def string(name: str, default: str = "") -> str:
    value = raw(name)
    return default if value is None else value


def boolean(name: str, default: bool) -> bool:
    value = raw(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no)")


def integer(name: str, default: int, *, minimum: int | None = None) -> int:
    value = raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ConfigurationError(f"{name}={number} must be at least {minimum}")
    return number


def number(name: str, default: float, *, minimum: float | None = None) -> float:
    value = raw(name)
    if value is None or value == "":
        return default
    try:
        result = float(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not a number") from None
    if minimum is not None and result < minimum:
        raise ConfigurationError(f"{name}={result} must be at least {minimum}")
    return result


def choice(name: str, default: str, choices, *, upper: bool = False, hint: str = "") -> str:
    """One of ``choices``; ``upper`` accepts any case and returns the value upper-cased."""
    value = raw(name)
    if value is None or value.strip() == "":
        return default
    value = value.strip().upper() if upper else value.strip()
    if value not in choices:
        raise ConfigurationError(f"{name}={raw(name)!r} is not {hint or 'one of ' + ', '.join(choices)}")
    return value


def string_list(name: str, default: list[str]) -> list[str]:
    value = raw(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def database(url: str) -> dict:
    """Turn ``postgres://user:pass@host:port/name`` or ``sqlite:///path`` into DATABASES['default']."""
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql", "pgsql"):
        name = unquote(parsed.path.lstrip("/"))
        if not name:
            raise ConfigurationError(f"DATABASE_URL={url!r} names no database")
        options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        # libpq waits for ever on a server that accepts but never answers (a host lost behind a
        # firewall that drops packets): every web worker and /readyz would hang with it.
        options.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
        try:
            port = parsed.port
        except ValueError:
            raise ConfigurationError(f"DATABASE_URL={url!r} has a malformed port") from None
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        elif path.startswith("/"):
            path = path[1:]
        if not path:
            raise ConfigurationError(f"DATABASE_URL={url!r} names no file")
        return sqlite(path)
    raise ConfigurationError(f"DATABASE_URL={url!r} has an unsupported scheme; use postgres:// or sqlite:///")


def sqlite(path: str | Path) -> dict:
    # WAL and IMMEDIATE transactions: the web process, worker and beat all write
    # (without IMMEDIATE a third of writes hit "database is locked"; docs/measurements.md).
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }


def redis_url(name: str) -> str:
    value = string(name)
    if value and urlparse(value).scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(f"{name}={value!r} must start with redis://, rediss:// or unix://")
    return value
