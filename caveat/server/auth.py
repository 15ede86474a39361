"""Who may talk to a socket server: the holder of a random token, from a local page only.

A loopback port is open to every local user, so `caveat serve --tcp`/`--ws` makes a random
token, writes it to a file only this user can read (0600, in a 0700 directory: the user
runtime directory unless `--token-file` says otherwise) and serves only a client that presents
it. A WebSocket handshake must also come from a local page: `Host` and `Origin`, when present,
must name localhost, 127.0.0.1 or [::1], so a web page that rebinds its own name to 127.0.0.1
is refused even before the token is checked.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

#: Random bytes in a token (43 characters of URL-safe base64).
TOKEN_BYTES = 32
#: Host names a local client uses (Host header, Origin URL).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class TokenFileError(Exception):
    """The token file cannot be written privately (a directory others can write, not ours)."""


def new_token() -> str:
    """A fresh random token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_matches(expected: str, given: object) -> bool:
    """Whether `given` is the token, compared in constant time."""
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


def private_dir(path: Path) -> Path:
    """`path` as a directory of this user that no one else can enter (created 0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise TokenFileError(
            f"{path} is not a directory of this user; refusing to put a token there"
        )
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def token_path(kind: str, port: int) -> Path:
    """Where `caveat serve --<kind> --port <port>` writes its token by default."""
    import platformdirs

    with warnings.catch_warnings():  # a missing XDG_RUNTIME_DIR: platformdirs' fallback is fine
        warnings.simplefilter("ignore")
        base = Path(platformdirs.user_runtime_dir("caveat"))
    return private_dir(base) / f"{kind}-{port}.token"


def write_token(path: Path, token: str) -> None:
    """Write `token` to `path`, readable by this user only, replacing any older file atomically.

    The file is created 0600 under a temporary name (never following a link) and renamed, so
    there is no moment at which another user could open it.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(token + "\n")
    os.replace(tmp, path)


def remove_token(path: Path, token: str) -> None:
    """Remove the token file if it still holds `token` (a newer server may have replaced it)."""
    try:
        if path.read_text(encoding="ascii").strip() == token:
            path.unlink()
    except (OSError, UnicodeDecodeError):
        pass


def local_host(value: str | None) -> bool:
    """Whether a `Host` header (absent, or host[:port]) names this machine's loopback."""
    if value is None:
        return True
    host = value.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return False
        name, port = host[1:end], host[end + 1 :]
        if port and not (port.startswith(":") and port[1:].isdigit()):
            return False
    else:
        name, sep, digits = host.partition(":")
        if sep and not digits.isdigit():
            return False
    return name in LOCAL_HOSTS


def local_origin(value: str | None) -> bool:
    """Whether an `Origin` header is absent or an http(s) page on this machine's loopback."""
    if value is None:
        return True
    try:
        url = urlsplit(value.strip())
        _ = url.port  # raises on a malformed port
    except ValueError:
        return False
    return url.scheme in ("http", "https") and url.hostname in LOCAL_HOSTS


def presented_token(authorization: str | None, path: str) -> str | None:
    """The token of a WebSocket handshake: `Authorization: Bearer T`, else `?token=T`."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None
