"""The dashboard's only way to its data: the driftscope API over HTTP (httpx).

No Streamlit here, so the client and its error messages can be tested on their own. Every
failure becomes an :class:`ApiError` whose message is the one line a page shows: which URL,
and what went wrong (refused, timed out, or the status the API answered with its detail).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import Field, SecretStr

from driftscope.core.config.environment import DeploymentSettings

DEFAULT_CACHE_TTL = 10.0


class DashboardSettings(DeploymentSettings):
    """The API settings the dashboard reads (``DRIFTSCOPE_API_URL``, and
    ``DRIFTSCOPE_API_KEY``: give it a read-scoped key), how long fetched data is cached
    (``DRIFTSCOPE_DASHBOARD_CACHE_TTL``, seconds) and the sign-in password's hash
    (``DRIFTSCOPE_DASHBOARD_PASSWORD_HASH``)."""

    dashboard_cache_ttl: float = Field(
        default=DEFAULT_CACHE_TTL, ge=0, description="Seconds the dashboard caches API answers."
    )
    dashboard_password_hash: SecretStr | None = Field(
        default=None,
        description="scrypt hash of the dashboard's password (`driftscope hash-password`); "
        "used when no identity provider is configured in Streamlit's secrets.",
    )


class ApiError(Exception):
    """The API could not be reached or answered with an error.

    :param url: The full URL that was requested.
    :param status: The HTTP status, or ``None`` when no answer came back.
    :param reason: A short reason: the API's ``detail`` or the connection problem.
    """

    def __init__(self, url: str, status: int | None, reason: str) -> None:
        super().__init__(url, status, reason)
        self.url = url
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return self.message

    @property
    def message(self) -> str:
        """One line for the page: what failed, where, and what to check."""
        if self.status is None:
            return (
                f"Cannot reach the driftscope API at {self.url}: {self.reason}. "
                "Start it with `driftscope serve` or point DRIFTSCOPE_API_URL at it."
            )
        hint = ""
        if self.status == 401:
            hint = " Check DRIFTSCOPE_API_KEY."
        elif self.status == 403:
            hint = " The dashboard's key (DRIFTSCOPE_API_KEY) does not have that scope."
        return f"The driftscope API at {self.url} answered {self.status}: {self.reason}.{hint}"


def _detail(response: httpx.Response) -> str:
    """The error text of an API answer: its JSON ``detail`` when there is one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail: Any = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    text = str(detail) if detail else response.reason_phrase or "error"
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _connection_reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "the request timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class ApiClient:
    """A small synchronous client of the driftscope API.

    :param base_url: Where the API lives, e.g. ``http://127.0.0.1:8000``.
    :param api_key: Sent as ``X-API-Key`` when set.
    :param timeout: Seconds to wait for an answer.
    :param transport: An httpx transport (tests pass a mock one).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "driftscope-dashboard"}
        if api_key:
            headers["X-API-Key"] = api_key
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        accept: tuple[int, ...] = (),
    ) -> Any:
        """Send one request and return the decoded JSON body, or raise :class:`ApiError`.

        :param accept: Error statuses whose body is still the answer (``/readyz``'s 503).
        """
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.base_url}{path}"
        try:
            response = self._http.request(method, path, params=clean)
        except httpx.HTTPError as exc:
            raise ApiError(url, None, _connection_reason(exc)) from None
        if response.status_code >= 400 and response.status_code not in accept:
            raise ApiError(url, response.status_code, _detail(response))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(url, response.status_code, "the answer was not JSON") from None

    def get(
        self, path: str, params: dict[str, Any] | None = None, *, accept: tuple[int, ...] = ()
    ) -> Any:
        """``GET`` a JSON document."""
        return self.request("GET", path, params, accept=accept)

    def download(self, path: str, accept: str = "text/html") -> bytes:
        """``GET`` a file the API writes (not JSON: the report's HTML) and return its bytes,
        or raise :class:`ApiError`."""
        url = f"{self.base_url}{path}"
        try:
            response = self._http.get(path, headers={"Accept": accept})
        except httpx.HTTPError as exc:
            raise ApiError(url, None, _connection_reason(exc)) from None
        if response.status_code >= 400:
            raise ApiError(url, response.status_code, _detail(response))
        return response.content

    def post(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """``POST`` without a body (to run a monitor now) and return the JSON answer."""
        return self.request("POST", path, params)
