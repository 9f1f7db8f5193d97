"""A fake Microsoft Entra ID (plus the Bot Framework channel's token signer) on 127.0.0.1.

Served over HTTPS (MSAL refuses ``http://`` authorities) from its own thread and event loop
(MSAL is synchronous and the SDK calls it on the event loop), with these endpoints:

* ``GET  /{tenant}/v2.0/.well-known/openid-configuration``  - OpenID metadata (MSAL reads it)
* ``GET  /{tenant}/discovery/v2.0/keys``                    - JWKS of the Entra signing key
* ``POST /{tenant}/oauth2/v2.0/token``                      - client-credentials grant
* ``GET  /v1/.well-known/openidconfiguration``              - Bot Framework channel metadata
* ``GET  /v1/.well-known/keys``                             - JWKS of the channel signing key

Access tokens are RS256 JWTs whose ``aud`` is the requested resource (the scope without
``/.default``), e.g. ``https://api.botframework.com`` or ``https://graph.microsoft.com``; the
fake connector and fake Graph check them with :meth:`FakeIdentity.verify_access_token`.

:meth:`FakeIdentity.sign_channel_token` signs incoming-activity tokens the way the Bot Framework
channel (Teams) does: ``iss=https://api.botframework.com``, ``aud=<bot app id>``,
``serviceurl=<service url>``, signed by the channel key, with options for expired, forged
(signed by an unknown key under the real ``kid``), wrong-audience and unknown-``kid`` tokens.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fakes.teams_common import LocalServer, TlsMaterial

BOTFRAMEWORK_ISSUER = "https://api.botframework.com"
BOT_CONNECTOR_RESOURCE = "https://api.botframework.com"
GRAPH_RESOURCE = "https://graph.microsoft.com"
DEFAULT_TENANT_ID = "72f988bf-0000-4000-8000-000000000001"
# What the SDK's JwtTokenValidator fetches for channel tokens (hard-coded there).
PUBLIC_BOTFRAMEWORK_JWKS_URL = "https://login.botframework.com/v1/.well-known/keys"
# Tokens within this many seconds of expiry still validate: the SDK allows 300 s of leeway.
SDK_LEEWAY_SECONDS = 300


@dataclass
class _SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> _SigningKey:
        return cls(
            kid=secrets.token_hex(10),
            private_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        )

    def jwk(self, **extra: Any) -> dict[str, Any]:
        jwk_dict: dict[str, Any] = dict(
            RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        )
        jwk_dict.update({"kid": self.kid, "use": "sig", "alg": "RS256", **extra})
        return jwk_dict

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(
            claims, self.private_key, algorithm="RS256", headers={"kid": kid or self.kid}
        )


@dataclass(frozen=True)
class TokenRequest:
    """One call to the token endpoint, as recorded by the fake."""

    client_id: str | None
    scope: str
    grant_type: str
    status: int


class FakeIdentity(LocalServer):
    """Fake Entra ID tenant + Bot Framework channel signer. Use as ``async with``."""

    def __init__(
        self,
        tls: TlsMaterial,
        *,
        tenant_id: str = DEFAULT_TENANT_ID,
        token_lifetime: int = 3599,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(tls=tls, threaded=True)
        self.tls = tls
        self.tenant_id = tenant_id
        self.token_lifetime = token_lifetime
        self._clock = clock
        self._clients: dict[str, str] = {}
        self._entra_key = _SigningKey.generate()
        self._channel_key = _SigningKey.generate()
        self._forger_key = _SigningKey.generate()
        self.token_requests: list[TokenRequest] = []
        self._token_failures: list[tuple[int, str]] = []

    # -- configuration -------------------------------------------------------------------

    def register_client(self, client_id: str, client_secret: str) -> None:
        """Register an app registration (bot app id + secret) that may get tokens."""
        self._clients[client_id] = client_secret

    def fail_next_token_request(
        self, status: int = 503, error: str = "temporarily_unavailable"
    ) -> None:
        """Make the next token request fail with ``status`` (queue; one entry per call)."""
        self._token_failures.append((status, error))

    # -- URLs ------------------------------------------------------------------------------

    @property
    def authority(self) -> str:
        """``https://127.0.0.1:PORT/{tenant}``: MSAL ``authority`` / SDK ``AUTHORITY``."""
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def issuer(self) -> str:
        return f"{self.authority}/v2.0"

    @property
    def openid_configuration_url(self) -> str:
        return f"{self.authority}/v2.0/.well-known/openid-configuration"

    @property
    def token_endpoint(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.authority}/discovery/v2.0/keys"

    @property
    def channel_openid_configuration_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/openidconfiguration"

    @property
    def channel_jwks_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/keys"

    def local_jwks_url_for(self, public_jwks_url: str) -> str:
        """Map a JWKS URL the SDK would fetch from Microsoft to this fake's equivalent."""
        if public_jwks_url.rstrip("/") == PUBLIC_BOTFRAMEWORK_JWKS_URL:
            return self.channel_jwks_url
        if public_jwks_url.startswith("https://login.microsoftonline.com/"):
            return self.jwks_url
        raise LookupError(f"no local JWKS for {public_jwks_url}")

    # -- tokens ----------------------------------------------------------------------------

    def issue_access_token(
        self, client_id: str, resource: str, *, lifetime: int | None = None
    ) -> str:
        """An app-only access token as Entra would issue for ``{resource}/.default``."""
        now = int(self._clock())
        claims = {
            "aud": resource,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + (self.token_lifetime if lifetime is None else lifetime),
            "appid": client_id,
            "azp": client_id,
            "appidacr": "1",
            "idtyp": "app",
            "tid": self.tenant_id,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{client_id}")),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{client_id}")),
            "ver": "2.0",
            "jti": secrets.token_urlsafe(12),
        }
        return self._entra_key.sign(claims)

    def verify_access_token(self, token: str, audience: str) -> dict[str, Any]:
        """Decode a token issued by :meth:`issue_access_token`; raises ``jwt.InvalidTokenError``."""
        header = jwt.get_unverified_header(token)
        if header.get("kid") != self._entra_key.kid:
            raise jwt.InvalidTokenError("unknown signing key")
        claims: dict[str, Any] = jwt.decode(
            token,
            self._entra_key.private_key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            issuer=self.issuer,
            options={"require": ["exp", "iat", "aud", "iss"]},
        )
        if claims.get("appid") not in self._clients:
            raise jwt.InvalidTokenError("token for an unknown client")
        return claims

    def sign_channel_token(
        self,
        app_id: str,
        service_url: str,
        *,
        expired: bool = False,
        forged: bool = False,
        unknown_kid: bool = False,
        audience: str | None = None,
        issuer: str = BOTFRAMEWORK_ISSUER,
        lifetime: int = 3600,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """A token like the one Teams sends in ``Authorization`` with each activity.

        ``expired`` puts ``exp`` well past the SDK's 300 s leeway; ``forged`` signs with a key
        the JWKS does not contain but under the genuine ``kid``; ``unknown_kid`` uses a ``kid``
        absent from the JWKS; ``audience`` overrides ``aud`` (default: ``app_id``).
        """
        now = int(self._clock())
        issued = now - lifetime - SDK_LEEWAY_SECONDS - 600 if expired else now - 5
        claims: dict[str, Any] = {
            "serviceurl": service_url,
            "nbf": issued,
            "iat": issued,
            "exp": issued + lifetime,
            "iss": issuer,
            "aud": app_id if audience is None else audience,
            **(extra_claims or {}),
        }
        if forged:
            return self._forger_key.sign(claims, kid=self._channel_key.kid)
        if unknown_kid:
            return self._channel_key.sign(claims, kid="not-" + self._channel_key.kid)
        return self._channel_key.sign(claims)

    def channel_auth_header(self, app_id: str, service_url: str, **options: Any) -> str:
        return "Bearer " + self.sign_channel_token(app_id, service_url, **options)

    # -- HTTP ------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_get("/{tenant}/discovery/v2.0/keys", self._keys)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/v1/.well-known/openidconfiguration", self._channel_openid)
        app.router.add_get("/v1/.well-known/keys", self._channel_keys)
        return app

    def _check_tenant(self, request: web.Request) -> web.Response | None:
        tenant = request.match_info["tenant"]
        if tenant not in (self.tenant_id, "common", "organizations"):
            return web.json_response(
                {
                    "error": "invalid_tenant",
                    "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                    "error_codes": [90002],
                },
                status=400,
            )
        return None

    async def _openid(self, request: web.Request) -> web.Response:
        if (refusal := self._check_tenant(request)) is not None:
            return refusal
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.authority}/oauth2/v2.0/authorize",
                "token_endpoint": self.token_endpoint,
                "jwks_uri": self.jwks_url,
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "tenant_region_scope": "EU",
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        if (refusal := self._check_tenant(request)) is not None:
            return refusal
        return web.json_response({"keys": [self._entra_key.jwk()]})

    async def _channel_openid(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": BOTFRAMEWORK_ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": self.channel_jwks_url,
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _channel_keys(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [self._channel_key.jwk(endorsements=["msteams"])]})

    async def _token(self, request: web.Request) -> web.Response:
        if (refusal := self._check_tenant(request)) is not None:
            return refusal
        form = await request.post()
        client_id = _form_str(form.get("client_id"))
        secret = _form_str(form.get("client_secret"))
        basic = request.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):
            decoded = base64.b64decode(basic[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        grant_type = _form_str(form.get("grant_type")) or ""
        scope = _form_str(form.get("scope")) or ""

        def record(status: int) -> None:
            self.token_requests.append(TokenRequest(client_id, scope, grant_type, status))

        if self._token_failures:
            status, error = self._token_failures.pop(0)
            record(status)
            return web.json_response(
                {"error": error, "error_description": "AADSTS50000: injected failure."},
                status=status,
            )
        if grant_type != "client_credentials":
            record(400)
            return _oauth_error(400, "unsupported_grant_type", 70003, "grant not supported")
        if client_id is None or client_id not in self._clients:
            record(400)
            return _oauth_error(
                400, "unauthorized_client", 700016, f"Application '{client_id}' not found."
            )
        if secret != self._clients[client_id]:
            record(401)
            return _oauth_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        resources = [s.removesuffix("/.default") for s in scope.split() if s.endswith("/.default")]
        if len(resources) != 1:
            record(400)
            return _oauth_error(
                400, "invalid_scope", 1002012, "The scope must be a single '<resource>/.default'."
            )
        record(200)
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": self.issue_access_token(client_id, resources[0]),
            }
        )


def _form_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _oauth_error(status: int, error: str, code: int, description: str) -> web.Response:
    return web.json_response(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}",
            "error_codes": [code],
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
        status=status,
    )
