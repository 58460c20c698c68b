"""Password hashes for the dashboard's sign-in and ``driftscope hash-password``.

The expected hashes are computed here with :func:`hashlib.scrypt` directly, so the stored
format is checked against an independent construction, not against driftscope.core.auth itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest
from typer.testing import CliRunner

from driftscope.apps.cli.main import app
from driftscope.core.auth import (
    PasswordHash,
    PasswordHashError,
    Scope,
    hash_password,
    verify_password,
)

PASSWORD = "correct horse battery staple"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_hash(stored: str, password: str) -> None:
    """``stored`` is scrypt:N:r:p:salt:hash of ``password``, recomputed with hashlib."""
    name, n, r, p, salt, digest = stored.split(":")
    assert name == "scrypt"
    expected = hashlib.scrypt(
        password.encode(),
        salt=unb64(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=2**26,
        dklen=len(unb64(digest)),
    )
    assert unb64(digest) == expected


def test_hash_password_is_salted_scrypt() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second  # a fresh salt each time
    check_hash(first, PASSWORD)
    assert first.startswith("scrypt:32768:8:1:") and "$" not in first
    assert PASSWORD not in first


def test_verify_accepts_hashes_made_elsewhere_and_refuses_wrong_passwords() -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**12, r=8, p=2, dklen=32)
    stored = f"scrypt:4096:8:2:{b64(salt)}:{b64(digest)}"
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + " ", stored)
    assert not verify_password("", stored)


def test_verify_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    stored = hash_password(PASSWORD, n=2**10)
    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert not verify_password("wrong password", stored)
    ((candidate, expected),) = calls
    assert len(candidate) == len(expected) == 32


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ("plain-text-password", "not a driftscope password hash"),
        ("pbkdf2:sha256:600000$abc$def", "not a driftscope password hash"),
        (f"scrypt:16384:8:1${b64(b'0' * 16)}${b64(b'1' * 32)}", "not a driftscope password hash"),
        (f"scrypt:1000:8:1:{b64(b'0' * 16)}:{b64(b'1' * 32)}", "scrypt N must be a power of two"),
        (f"scrypt:1048576:8:1:{b64(b'0' * 16)}:{b64(b'1' * 32)}", "scrypt N * r * p must be"),
        (f"scrypt:16384:8:32:{b64(b'0' * 16)}:{b64(b'1' * 32)}", "scrypt N * r * p must be"),
        (f"scrypt:16384:0:1:{b64(b'0' * 16)}:{b64(b'1' * 32)}", "r and p at least 1"),
    ],
)
def test_malformed_or_costly_hashes_are_refused(stored: str, message: str) -> None:
    with pytest.raises(PasswordHashError) as caught:
        PasswordHash.parse(stored)
    assert message in str(caught.value)
    assert stored not in str(caught.value)


def test_a_short_password_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 12 characters"):
        hash_password("short")


def test_scopes_admin_implies_read_and_write_only() -> None:
    allowed = {(a, b) for a in Scope for b in Scope if a.allows(b)}
    assert allowed == {
        (Scope.READ, Scope.READ),
        (Scope.WRITE, Scope.WRITE),
        (Scope.ADMIN, Scope.READ),
        (Scope.ADMIN, Scope.WRITE),
        (Scope.ADMIN, Scope.ADMIN),
    }


# -- driftscope hash-password ---------------------------------------------------------------


def test_hash_password_command_from_stdin() -> None:
    result = CliRunner().invoke(app, ["hash-password", "--stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    check_hash(line, PASSWORD)
    assert PASSWORD not in result.output.replace(line, "")


def test_hash_password_command_prompts_twice_without_echo() -> None:
    result = CliRunner().invoke(app, ["hash-password"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    line = result.stdout.strip().splitlines()[-1]
    check_hash(line, PASSWORD)
    assert PASSWORD not in result.output


def test_hash_password_command_refuses_bad_input_with_exit_2() -> None:
    differ = CliRunner().invoke(app, ["hash-password"], input=f"{PASSWORD}\n{PASSWORD}x\n")
    assert differ.exit_code == 2 and "the two passwords differ" in differ.output
    short = CliRunner().invoke(app, ["hash-password", "--stdin"], input="tiny\n")
    assert short.exit_code == 2 and "at least 12 characters" in short.output


def test_reprs_show_no_secret() -> None:
    from driftscope.core.auth import ApiKeyring
    from driftscope.core.config.environment import DeploymentSettings

    key = "a-read-key-that-is-long-enough"
    ring = ApiKeyring.from_settings(
        DeploymentSettings(read_keys=key, api_key="an-admin-key-0123456789")
    )
    assert repr(ring) == "ApiKeyring({'read': 1, 'write': 0, 'admin': 1})"
    stored = hash_password(PASSWORD, n=2**10)
    parsed = PasswordHash.parse(stored)
    assert repr(parsed) == "PasswordHash(scrypt n=1024 r=8 p=1)"
    salt, digest = stored.split(":")[-2:]
    assert salt not in repr(parsed) and digest not in repr(parsed)
