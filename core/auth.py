"""API keys with scopes, and the dashboard's password hashes.

API keys come from the deployment settings: ``DRIFTSCOPE_READ_KEYS``,
``DRIFTSCOPE_WRITE_KEYS`` and ``DRIFTSCOPE_ADMIN_KEYS`` each hold comma-separated keys of
that scope, and ``DRIFTSCOPE_API_KEY`` is one more ``admin`` key. Several keys per scope let
a key be rotated without downtime: add the new key, move the clients over, drop the old one.
An entry may be the key itself or ``sha256:<64 hex digits>`` (the SHA-256 of the key), so a
deployment need not hold the key in clear. Only SHA-256 digests are kept in memory; a
request's key is hashed and compared with every stored digest by ``hmac.compare_digest``, so
the time taken says neither which key nor how much of one matched.

Passwords (the dashboard's sign-in) are hashed with scrypt from :mod:`hashlib` into
``scrypt:<n>:<r>:<p>:<salt>:<hash>`` (salt and hash in URL-safe base64, no padding), the
text ``driftscope hash-password`` prints. It has no ``$``, so shells, Dockerfiles and
compose ``.env`` files take it as it is, without interpolating parts of it.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass

from driftscope.core.config.environment import DeploymentSettings

MIN_KEY_LENGTH = 16
DIGEST_PREFIX = "sha256:"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class Scope(enum.StrEnum):
    """What a key may do. ``admin`` includes ``read`` and ``write``; ``write`` (predict,
    records, feedback) does not include ``read``, so a key handed to a serving client
    cannot read reports, and a dashboard's ``read`` key cannot write."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def allows(self, required: Scope) -> bool:
        """Whether a key of this scope may do what ``required`` guards."""
        return self is required or self is Scope.ADMIN


class ApiKeyError(ValueError):
    """A configured API key is unusable; the message names the variable and the entry,
    never the key."""


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    scope: Scope
    source: str  # "DRIFTSCOPE_READ_KEYS entry 2": where it was configured, for errors


# the variables holding each scope's keys, in the order their entries are read
SCOPE_VARIABLES: dict[str, tuple[str, Scope]] = {
    "api_key": ("DRIFTSCOPE_API_KEY", Scope.ADMIN),
    "admin_keys": ("DRIFTSCOPE_ADMIN_KEYS", Scope.ADMIN),
    "write_keys": ("DRIFTSCOPE_WRITE_KEYS", Scope.WRITE),
    "read_keys": ("DRIFTSCOPE_READ_KEYS", Scope.READ),
}


def key_digest(key: bytes) -> bytes:
    """The SHA-256 digest a key is stored and compared as."""
    return hashlib.sha256(key).digest()


def _parse_entry(text: str, source: str) -> bytes:
    if text.startswith(DIGEST_PREFIX):
        hex_digest = text[len(DIGEST_PREFIX) :].lower()
        if not _HEX_DIGEST.fullmatch(hex_digest):
            raise ApiKeyError(f"{source}: a sha256: entry needs 64 hex digits after the prefix")
        return bytes.fromhex(hex_digest)
    if len(text) < MIN_KEY_LENGTH:
        raise ApiKeyError(
            f"{source}: a key needs at least {MIN_KEY_LENGTH} characters "
            f"(this one has {len(text)}); `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'` makes a good one"
        )
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ApiKeyError(f"{source}: a key cannot contain spaces or control characters")
    return key_digest(text.encode("utf-8"))


class ApiKeyring:
    """The configured API keys, as digests with their scopes.

    :param entries: ``(digest, scope, where it was configured)`` per key.
    :raises ApiKeyError: when one key is configured twice.
    """

    def __init__(self, entries: list[tuple[bytes, Scope, str]]) -> None:
        seen: dict[bytes, str] = {}
        for digest, _, source in entries:
            if digest in seen:
                raise ApiKeyError(f"{source} is the same key as {seen[digest]}: list a key once")
            seen[digest] = source
        self._entries = tuple(_Entry(d, s, src) for d, s, src in entries)

    @classmethod
    def from_settings(cls, settings: DeploymentSettings) -> ApiKeyring:
        """The keys of ``DRIFTSCOPE_API_KEY`` and ``DRIFTSCOPE_{ADMIN,WRITE,READ}_KEYS``.

        :raises ApiKeyError: naming the variable and entry of a malformed or repeated key.
        """
        entries: list[tuple[bytes, Scope, str]] = []
        for field, (variable, scope) in SCOPE_VARIABLES.items():
            secret = getattr(settings, field)
            if secret is None:
                continue
            value = secret.get_secret_value()
            if field == "api_key":
                if value.strip():
                    entries.append((_parse_entry(value.strip(), variable), scope, variable))
                continue
            for number, part in enumerate(value.split(","), start=1):
                text = part.strip()
                if not text:
                    continue  # "a,b," or an empty variable: nothing configured there
                source = f"{variable} entry {number}"
                entries.append((_parse_entry(text, source), scope, source))
        return cls(entries)

    @property
    def enabled(self) -> bool:
        """Whether any key is configured; without one the API is open."""
        return bool(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        counts = {s.value: sum(e.scope is s for e in self._entries) for s in Scope}
        return f"ApiKeyring({counts})"

    def scope_of(self, supplied: bytes) -> Scope | None:
        """The scope of the key ``supplied`` (the bytes the client sent), or ``None``.

        Every stored digest is compared, matched or not, so the time does not depend on
        which key matched.
        """
        digest = key_digest(supplied)
        found: Scope | None = None
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry.scope
        return found


# -- passwords -----------------------------------------------------------------------------

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
MIN_PASSWORD_LENGTH = 12
# a stored hash is input too: without a bound on its cost (n * r * p; memory is 128 * n * r
# bytes) one login could take gigabytes and minutes. 2**21 is 8 times the default's cost.
MAX_SCRYPT_COST = 2**21
_HASH_FORMAT = re.compile(
    r"scrypt:(?P<n>[0-9]{1,8}):(?P<r>[0-9]{1,3}):(?P<p>[0-9]{1,3})"
    r":(?P<salt>[A-Za-z0-9_-]{16,128}):(?P<hash>[A-Za-z0-9_-]{22,128})"
)
# one scrypt at a time in a process: guessing in parallel sessions gets no faster, and the
# memory a burst of logins takes stays at one hash's worth
_VERIFY_LOCK = threading.Lock()


class PasswordHashError(ValueError):
    """A stored password hash is not in the ``scrypt:n:r:p:salt:hash`` format."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=128 * r * (n + p + 2) + 1024 * 1024,
        dklen=length,
    )


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """A salted scrypt hash of ``password`` in the stored format.

    :raises ValueError: when the password is shorter than :data:`MIN_PASSWORD_LENGTH`.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters "
            f"(this one has {len(password)})"
        )
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, n, r, p, HASH_BYTES)
    return f"scrypt:{n}:{r}:{p}:{_b64(salt)}:{_b64(digest)}"


@dataclass(frozen=True)
class PasswordHash:
    """A parsed stored password hash."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    @classmethod
    def parse(cls, text: str) -> PasswordHash:
        """Check and split a stored hash.

        :raises PasswordHashError: saying what is wrong, without echoing the text.
        """
        match = _HASH_FORMAT.fullmatch(text.strip())
        if match is None:
            raise PasswordHashError(
                "not a driftscope password hash (scrypt:N:R:P:SALT:HASH): "
                "make one with `driftscope hash-password`"
            )
        n, r, p = int(match["n"]), int(match["r"]), int(match["p"])
        if n < 2 or n & (n - 1) or r < 1 or p < 1:
            raise PasswordHashError("scrypt N must be a power of two above 1, r and p at least 1")
        if n * r * p > MAX_SCRYPT_COST:
            raise PasswordHashError(f"scrypt N * r * p must be at most {MAX_SCRYPT_COST}")
        return cls(n, r, p, _unb64(match["salt"]), _unb64(match["hash"]))

    def __repr__(self) -> str:
        return f"PasswordHash(scrypt n={self.n} r={self.r} p={self.p})"

    def verify(self, password: str) -> bool:
        """Whether ``password`` hashes to this; compared in constant time."""
        with _VERIFY_LOCK:
            candidate = _scrypt(password, self.salt, self.n, self.r, self.p, len(self.digest))
        return hmac.compare_digest(candidate, self.digest)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash ``stored``.

    :raises PasswordHashError: when ``stored`` is malformed.
    """
    return PasswordHash.parse(stored).verify(password)
