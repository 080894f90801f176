"""The Ed25519 key that signs edge bundles.

The private key comes from TICKETAI_BUNDLE_SIGNING_KEY (a PEM, usually given as
TICKETAI_BUNDLE_SIGNING_KEY_FILE) or is generated once into TICKETAI_DATA_DIR/keys/. Only the
public key ever leaves this process: agents pin it at enrolment and refuse bundles it did not sign.
"""

import base64
import functools
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from ticketai.keyfiles import generated_once

KEY_FILE_NAME = "bundle_signing_ed25519.pem"


class SigningKeyError(Exception):
    """The configured signing key is not an Ed25519 private key in PEM."""


def _load_pem(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise SigningKeyError(f"TICKETAI_BUNDLE_SIGNING_KEY is not a PEM private key: {e}") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError("TICKETAI_BUNDLE_SIGNING_KEY must be an Ed25519 key")
    return key


def _generated_key_file() -> Path:
    """The key made once per data directory (atomically, so two processes agree on it)."""

    def make() -> bytes:
        return Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    return generated_once(Path(settings.DATA_DIR) / "keys" / KEY_FILE_NAME, make)


@functools.cache
def private_key() -> Ed25519PrivateKey:
    configured = settings.TICKETAI_BUNDLE_SIGNING_KEY
    if configured:
        return _load_pem(configured.encode())
    return _load_pem(_generated_key_file().read_bytes())


def public_key_pem() -> str:
    """The public half, as agents pin it."""
    return (
        private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(data: bytes) -> bytes:
    """A base64 Ed25519 signature of ``data``."""
    return base64.b64encode(private_key().sign(data))


def verify(data: bytes, signature: bytes, public_key: str) -> bool:
    """True when ``signature`` (base64) is the given public key's signature of ``data``."""
    key = serialization.load_pem_public_key(public_key.encode())
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
