"""Glue that points the Microsoft 365 Agents SDK (1.9) at the local fakes.

The SDK hard-codes two Microsoft endpoints that tests must never reach:

* incoming-token validation fetches its JWKS from ``login.botframework.com`` (channel tokens)
  or ``login.microsoftonline.com/{tenant}/discovery/v2.0/keys`` (Entra tokens); there is no
  setting for it. :func:`route_sdk_to_fakes` swaps ``JwtTokenValidator._jwk_client_manager``
  (a class attribute) for one that reads the fake identity's JWKS instead.
* ``MsalAuth`` builds ``msal.ConfidentialClientApplication(client_id, authority,
  client_credential, azure_region)`` with no way to disable instance discovery (which calls
  ``login.microsoftonline.com`` for an unknown authority host) or to trust a private CA.
  :func:`route_sdk_to_fakes` patches ``MsalAuth._create_client_application`` to add
  ``instance_discovery=False`` and an ``http_client`` that trusts the fake CA.

Both patches go through ``pytest.MonkeyPatch`` and are undone after the test. Everything
else (JWT checks, MSAL token acquisition and caching, connector REST calls) is the real code.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import msal
import pytest
from jwt import PyJWK, PyJWKClient
from microsoft_agents.authentication.msal import MsalAuth, MsalConnectionManager
from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration, AuthTypes
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    JwtTokenValidator,
)

from tests.fakes.teams_identity import FakeIdentity


@dataclass
class LocalJwksManager:
    """Stands in for the SDK's ``_JwkClientManager``: same ``get_signing_key`` signature."""

    identity: FakeIdentity
    requested_uris: list[str] = field(default_factory=list)
    _clients: dict[str, PyJWKClient] = field(default_factory=dict)

    async def get_signing_key(self, jwks_uri: str, header: dict[str, Any]) -> PyJWK:
        self.requested_uris.append(jwks_uri)
        local = self.identity.local_jwks_url_for(jwks_uri)
        client = self._clients.get(local)
        if client is None:
            client = self._clients[local] = PyJWKClient(
                local, ssl_context=self.identity.tls.client_context()
            )
        return await asyncio.to_thread(client.get_signing_key, header["kid"])


def route_sdk_to_fakes(monkeypatch: pytest.MonkeyPatch, identity: FakeIdentity) -> LocalJwksManager:
    """Redirect the SDK's JWKS fetches and MSAL clients to ``identity``; returns the JWKS stub."""
    manager = LocalJwksManager(identity)
    monkeypatch.setattr(JwtTokenValidator, "_jwk_client_manager", manager)

    def create_client_application(
        self: MsalAuth, tenant_id: str | None = None
    ) -> msal.ConfidentialClientApplication:
        config = self.configuration
        if AuthTypes.client_secret != config.AUTH_TYPE:
            raise NotImplementedError("the fake identity only supports client secrets")
        return msal.ConfidentialClientApplication(
            client_id=config.CLIENT_ID,
            authority=MsalAuth._resolve_authority(config, tenant_id),
            client_credential=config.CLIENT_SECRET,
            instance_discovery=False,
            http_client=identity.tls.requests_session(),
        )

    monkeypatch.setattr(MsalAuth, "_create_client_application", create_client_application)
    return manager


def auth_configuration(
    identity: FakeIdentity, client_id: str, client_secret: str
) -> AgentAuthConfiguration:
    """The SERVICE_CONNECTION settings a bot would have, pointed at the fake tenant."""
    return AgentAuthConfiguration(
        auth_type=AuthTypes.client_secret,
        client_id=client_id,
        tenant_id=identity.tenant_id,
        client_secret=client_secret,
        authority=identity.authority,
    )


def connection_manager(
    identity: FakeIdentity, client_id: str, client_secret: str
) -> MsalConnectionManager:
    return MsalConnectionManager(
        connections_configurations={
            "SERVICE_CONNECTION": auth_configuration(identity, client_id, client_secret)
        }
    )


def anonymous_connection_manager() -> MsalConnectionManager:
    """No app id, anonymous requests allowed (local/emulator mode; no tokens anywhere)."""
    return MsalConnectionManager(
        connections_configurations={
            "SERVICE_CONNECTION": AgentAuthConfiguration(anonymous_allowed=True)
        }
    )
