"""Shared plumbing for the local Microsoft Teams fakes.

* :class:`LocalServer`: an aiohttp server on 127.0.0.1 with an ephemeral port, optionally
  over TLS, usable as ``async with``.
* :class:`TlsMaterial`: a throw-away self-signed certificate for 127.0.0.1/localhost. MSAL
  only accepts ``https://`` authorities, so the fake identity provider must speak TLS.
* :func:`graph_error` / :func:`connector_error`: the JSON error bodies the real services use.
* :func:`guard_loopback_only`: a safety net for tests that makes any connection to a
  non-loopback address fail at once, so a mis-configured client can never reach Microsoft.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
import requests
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class TlsMaterial:
    """A self-signed server certificate for 127.0.0.1 and localhost, written to files."""

    cert_file: Path
    key_file: Path

    @property
    def ca_file(self) -> str:
        """Path to pass as ``verify=`` (requests/MSAL) or ``cafile=`` (ssl): the cert itself."""
        return str(self.cert_file)

    @classmethod
    def create(cls, directory: Path) -> TlsMaterial:
        directory.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rcbot fake Teams services")])
        now = dt.datetime.now(dt.UTC)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address(LOOPBACK)),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        cert_file = directory / "fake-teams-cert.pem"
        key_file = directory / "fake-teams-key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cls(cert_file=cert_file, key_file=key_file)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts only this certificate (for aiohttp/urllib clients)."""
        return ssl.create_default_context(cafile=self.ca_file)

    def requests_session(self) -> requests.Session:
        """A session for ``msal``'s ``http_client=`` that trusts only this certificate.

        ``trust_env`` is off because requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``
        override ``Session.verify``, so ``verify=`` alone is ignored wherever they are set.
        """
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_file
        return session


class LocalServer:
    """Base class: an aiohttp application served on 127.0.0.1 at an ephemeral port.

    ``threaded=True`` serves it from its own event loop in a daemon thread. That is needed
    for servers that synchronous clients call from the test's event-loop thread (MSAL does:
    the SDK's ``MsalAuth`` builds its MSAL app, which fetches OpenID metadata, on the loop).
    """

    def __init__(self, *, tls: TlsMaterial | None = None, threaded: bool = False) -> None:
        self._tls = tls
        self._threaded = threaded
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def build_app(self) -> web.Application:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """``http(s)://127.0.0.1:PORT`` (no trailing slash)."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{LOOPBACK}:{self._port}"

    async def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._loop is None:
            await coro
        else:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def _start_here(self) -> None:
        runner = web.AppRunner(self.build_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(
            runner,
            LOOPBACK,
            0,
            ssl_context=self._tls.server_context() if self._tls else None,
        )
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def _close_here(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def start(self) -> None:
        if self._runner is not None:
            return
        if self._threaded and self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name=f"{type(self).__name__}-loop", daemon=True
            )
            thread.start()
            self._loop, self._thread = loop, thread
        await self._run(self._start_here())

    async def close(self) -> None:
        await self._run(self._close_here())
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 5)
            self._loop.close()
            self._loop = self._thread = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def graph_error(status: int, code: str, message: str) -> web.Response:
    """A Microsoft Graph style error: ``{"error": {"code", "message", "innerError"}}``."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": str(uuid.uuid4()),
                "client-request-id": str(uuid.uuid4()),
            },
        }
    }
    return web.json_response(body, status=status)


def connector_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A Bot Connector style error: ``{"error": {"code", "message"}}``."""
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def _is_loopback_host(host: Any) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def guard_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make name resolution and connections to anything but loopback fail immediately.

    Covers aiohttp, requests (MSAL) and urllib (PyJWKClient), which all end in
    ``socket.getaddrinfo`` and ``socket.socket.connect``.
    """
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host is not None and not _is_loopback_host(host):
            raise OSError(f"test guard: name resolution of {host!r} is not allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    def _check(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback_host(host):
            raise OSError(f"test guard: connection to {address!r} is not allowed")

    def connect(self: socket.socket, address: Any) -> None:
        _check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
