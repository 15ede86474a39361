"""A small HTTP client for serving engines: JSON requests, server-sent-event streams, TLS.

Standard library only (http.client), one connection per request so that cancelling a stream
is closing its socket, which llama-server and vLLM both take as "stop generating". Every
failure becomes a RemoteError whose message names the server and what to do; none leaks a
traceback to the user.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from caveat.engine.errors import ModelError

#: Seconds to wait for a connection and for each read; a stalled server is reported, not waited on.
DEFAULT_TIMEOUT = 30.0

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class RemoteError(ModelError):
    """The serving engine is unreachable, slow, refused the request, or answered nonsense."""


def is_loopback(host: str) -> bool:
    """True for a host name or address that stays on this machine."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    """Where the serving engine is and how to authenticate to it."""

    url: str
    api_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def host(self) -> str:
        """The host part of the URL."""
        return urlsplit(self.url).hostname or ""


def parse_endpoint(
    url: str,
    *,
    api_key_env: str | None = None,
    allow_remote: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Endpoint:
    """Check a server URL and read its API key; raise RemoteError with what to change.

    Code leaves the machine only when the user said so: a host other than loopback needs
    `allow_remote` (`--allow-remote`, `caveat.model.allowRemote`). The key comes from the
    environment variable named by `api_key_env`, never from a settings file.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(
            f"the server URL {url!r} is not an http:// or https:// URL with a host "
            "(for example http://127.0.0.1:8080)"
        )
    if not is_loopback(parts.hostname) and not allow_remote:
        raise RemoteError(
            f"refusing to send code to {parts.hostname}: it is not this machine. Pass "
            "--allow-remote (or set caveat.model.allowRemote) if that server is yours."
        )
    key = None
    if api_key_env:
        key = os.environ.get(api_key_env) or None
        if key is None:
            raise RemoteError(
                f"the API key variable {api_key_env} is not set in caveat's environment"
            )
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return Endpoint(base, key, timeout)


class HttpClient:
    """JSON and event-stream requests to one serving engine."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        parts = urlsplit(endpoint.url)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._base_path = parts.path

    def _connect(self) -> http.client.HTTPConnection:
        timeout = self.endpoint.timeout
        if self._https:
            return http.client.HTTPSConnection(
                self._netloc, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._netloc, timeout=timeout)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.endpoint.api_key:
            headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        return headers

    def _open(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self._connect()
        data = None if body is None else json.dumps(body)
        try:
            conn.request(method, self._base_path + path, data, self._headers())
            resp = conn.getresponse()
        except TimeoutError as exc:
            conn.close()
            raise RemoteError(
                f"the server at {self.endpoint.url} did not answer within "
                f"{self.endpoint.timeout:g}s"
            ) from exc
        except ssl.SSLError as exc:
            conn.close()
            raise RemoteError(f"TLS to {self.endpoint.url} failed: {exc}") from exc
        except OSError as exc:
            conn.close()
            raise RemoteError(
                f"cannot reach the server at {self.endpoint.url} ({exc.strerror or exc}); "
                "is it running? (`caveat llama-server` starts one)"
            ) from exc
        if resp.status != 200:
            detail = _error_detail(resp.read())
            conn.close()
            if resp.status in (401, 403):
                raise RemoteError(
                    f"the server at {self.endpoint.url} refused the API key ({resp.status})"
                )
            raise RemoteError(
                f"the server at {self.endpoint.url} answered {resp.status} to {path}: {detail}"
            )
        return conn, resp

    def get(self, path: str) -> Any:
        """GET a JSON document."""
        conn, resp = self._open("GET", path, None)
        try:
            return _json(resp.read(), self.endpoint.url, path)
        finally:
            conn.close()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST a JSON body, return the JSON answer."""
        conn, resp = self._open("POST", path, body)
        try:
            return _json(resp.read(), self.endpoint.url, path)
        except TimeoutError as exc:
            raise RemoteError(f"the server at {self.endpoint.url} stalled on {path}") from exc
        finally:
            conn.close()

    def stream(
        self, path: str, body: dict[str, Any], cancel: threading.Event | None = None
    ) -> Iterator[dict[str, Any]]:
        """POST and yield each server-sent event's JSON until `[DONE]` or the stream ends.

        Stops early (closing the connection, which stops the server's generation) when `cancel`
        is set or the caller stops iterating.
        """
        conn, resp = self._open("POST", path, body)
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    return
                try:
                    raw = resp.readline()
                except TimeoutError as exc:
                    raise RemoteError(
                        f"the server at {self.endpoint.url} stalled mid-stream on {path}"
                    ) from exc
                if not raw:
                    return
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    return
                event = _json(payload, self.endpoint.url, path)
                if isinstance(event, dict) and "error" in event:
                    raise RemoteError(
                        f"the server at {self.endpoint.url} failed on {path}: "
                        f"{_error_detail(payload)}"
                    )
                yield event
        finally:
            conn.close()


def _json(raw: bytes, url: str, path: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise RemoteError(f"the server at {url} sent something that is not JSON on {path}") from exc


def _error_detail(raw: bytes) -> str:
    """The message inside an engine's error body, or the body's start."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw[:200].decode("utf-8", errors="replace").strip() or "no detail"
    err = doc.get("error", doc) if isinstance(doc, dict) else doc
    if isinstance(err, dict):
        return str(err.get("message") or err)[:300]
    return str(err)[:300]
