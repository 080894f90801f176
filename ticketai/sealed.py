"""Secrets TicketAI must read back (a connector's token, an OAuth client secret), stored encrypted.

A hash will not do for these: TicketAI sends them to the remote system. They are sealed with Fernet
(AES-128-CBC and HMAC-SHA256) under a key derived from ``SECRET_KEY`` (HKDF-SHA256), so a database
dump or backup does not hold them in the clear. Keys in ``SECRET_KEY_FALLBACKS`` still open what
they sealed: rotate ``SECRET_KEY`` by moving the old one there, and values are sealed again under
the new key when next saved.

A value sealed under a key TicketAI no longer has cannot be opened. It is read as ``Unopenable``, a
str holding the sealed text: saved again unchanged, it stays as it was. The code that would send it
says what happened instead of sending ciphertext as a password.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

PREFIX = "sealed:v1:"
INFO = b"ticketai sealed fields v1"


class Unopenable(str):
    """A sealed value none of the configured keys opens (SECRET_KEY changed without a fallback)."""

    __slots__ = ()


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    derived = [
        HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(key.encode()) for key in keys
    ]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(raw)) for raw in derived])


def _keys() -> tuple[str, ...]:
    return (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))


def seal(value: str) -> str:
    """The value sealed under the current key; "" stays "" (nothing to hide, and blank stays blank)."""
    if not value or isinstance(value, Unopenable) or value.startswith(PREFIX):
        return value  # an unopenable value is kept as it was; a sealed one is not sealed twice
    return PREFIX + _fernet(_keys()).encrypt(value.encode()).decode()


def open_sealed(stored: str) -> str:
    """The plain value; a value stored before sealing existed is returned as it is."""
    if not stored or not stored.startswith(PREFIX):
        return stored
    try:
        return _fernet(_keys()).decrypt(stored[len(PREFIX) :].encode()).decode()
    except (InvalidToken, ValueError):
        return Unopenable(stored)


class SealedField(models.TextField):
    """A text field stored sealed (``seal``) and read open. Not for lookups: the stored text changes
    with every save."""

    def from_db_value(self, value, expression, connection):
        return value if value is None else open_sealed(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value if value is None else seal(value)
