"""The Teams fakes against real clients: msal, aiohttp and PyJWT (no Agents SDK needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import msal
import pytest
import requests

from tests.fakes.teams_common import TlsMaterial, guard_loopback_only
from tests.fakes.teams_connector import (
    BAD_GATEWAY,
    NOT_INSTALLED,
    PRECONDITION_FAILED,
    FakeConnector,
)
from tests.fakes.teams_graph import FakeGraph
from tests.fakes.teams_identity import (
    BOT_CONNECTOR_RESOURCE,
    BOTFRAMEWORK_ISSUER,
    GRAPH_RESOURCE,
    FakeIdentity,
)

APP_ID = "9f1c2d3e-0000-4000-8000-00000000b07a"
SECRET = "s3cret-value"
CONNECTOR_SCOPE = f"{BOT_CONNECTOR_RESOURCE}/.default"
GRAPH_SCOPE = f"{GRAPH_RESOURCE}/.default"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return TlsMaterial.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def identity(
    tls: TlsMaterial, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeIdentity]:
    guard_loopback_only(monkeypatch)
    async with FakeIdentity(tls) as fake:
        fake.register_client(APP_ID, SECRET)
        yield fake


@pytest.fixture
async def connector(identity: FakeIdentity) -> AsyncIterator[FakeConnector]:
    async with FakeConnector(identity) as fake:
        yield fake


@pytest.fixture
async def graph(identity: FakeIdentity) -> AsyncIterator[FakeGraph]:
    async with FakeGraph(identity, bot_app_id=APP_ID) as fake:
        yield fake


def msal_app(identity: FakeIdentity, secret: str = SECRET) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        APP_ID,
        client_credential=secret,
        authority=identity.authority,
        instance_discovery=False,
        http_client=identity.tls.requests_session(),
    )


# -- identity ------------------------------------------------------------------------------


async def test_msal_gets_a_client_credentials_token_and_caches_it(identity: FakeIdentity) -> None:
    app = await asyncio.to_thread(msal_app, identity)
    result = await asyncio.to_thread(app.acquire_token_for_client, [CONNECTOR_SCOPE])
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] > 3000
    claims = identity.verify_access_token(result["access_token"], BOT_CONNECTOR_RESOURCE)
    assert claims["appid"] == APP_ID
    assert claims["tid"] == identity.tenant_id

    again = await asyncio.to_thread(app.acquire_token_for_client, [CONNECTOR_SCOPE])
    assert again["access_token"] == result["access_token"]
    assert again["token_source"] == "cache"
    assert [r.scope for r in identity.token_requests] == [CONNECTOR_SCOPE]


async def test_msal_token_for_graph_has_graph_audience(identity: FakeIdentity) -> None:
    app = await asyncio.to_thread(msal_app, identity)
    result = await asyncio.to_thread(app.acquire_token_for_client, [GRAPH_SCOPE])
    identity.verify_access_token(result["access_token"], GRAPH_RESOURCE)
    with pytest.raises(jwt.InvalidAudienceError):
        identity.verify_access_token(result["access_token"], BOT_CONNECTOR_RESOURCE)


async def test_msal_wrong_secret_is_an_invalid_client_error(identity: FakeIdentity) -> None:
    app = await asyncio.to_thread(msal_app, identity, "wrong")
    result = await asyncio.to_thread(app.acquire_token_for_client, [CONNECTOR_SCOPE])
    assert result["error"] == "invalid_client"
    assert "AADSTS7000215" in result["error_description"]


def test_msal_refuses_an_http_authority() -> None:
    with pytest.raises(ValueError, match="https"):
        msal.ConfidentialClientApplication(
            APP_ID,
            client_credential=SECRET,
            authority="http://127.0.0.1:9/tenant",
            instance_discovery=False,
        )


async def test_msal_without_the_fake_ca_fails_tls(identity: FakeIdentity) -> None:
    def build() -> None:
        msal.ConfidentialClientApplication(
            APP_ID,
            client_credential=SECRET,
            authority=identity.authority,
            instance_discovery=False,
        )

    with pytest.raises(requests.exceptions.SSLError):
        await asyncio.to_thread(build)


async def test_msal_trusts_the_fake_ca_through_requests_ca_bundle(
    identity: FakeIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", identity.tls.ca_file)

    def acquire() -> dict[str, Any]:
        app = msal.ConfidentialClientApplication(
            APP_ID,
            client_credential=SECRET,
            authority=identity.authority,
            instance_discovery=False,
        )
        result: dict[str, Any] = app.acquire_token_for_client([CONNECTOR_SCOPE])
        return result

    assert "access_token" in await asyncio.to_thread(acquire)


async def test_injected_token_failures_and_msal_throttling(identity: FakeIdentity) -> None:
    app = await asyncio.to_thread(msal_app, identity)
    identity.fail_next_token_request(400, "invalid_request")
    result = await asyncio.to_thread(app.acquire_token_for_client, [CONNECTOR_SCOPE])
    assert result["error"] == "invalid_request"
    # msal replays an identical failed request's HTTP 400 for 60 s without calling again.
    again = await asyncio.to_thread(app.acquire_token_for_client, [CONNECTOR_SCOPE])
    assert again["error"] == "invalid_request"
    assert len(identity.token_requests) == 1

    # A 5xx is raised, not returned, and replayed for Retry-After (default 5 s).
    identity.fail_next_token_request(503)
    with pytest.raises(msal.exceptions.MsalServiceError, match="503"):
        await asyncio.to_thread(app.acquire_token_for_client, [GRAPH_SCOPE])
    with pytest.raises(msal.exceptions.MsalServiceError, match="503"):
        await asyncio.to_thread(app.acquire_token_for_client, [GRAPH_SCOPE])
    assert len(identity.token_requests) == 2
    # A fresh application has a fresh HTTP cache.
    fresh = await asyncio.to_thread(msal_app, identity)
    assert "access_token" in await asyncio.to_thread(fresh.acquire_token_for_client, [GRAPH_SCOPE])


async def test_channel_token_verifies_against_the_channel_jwks(identity: FakeIdentity) -> None:
    service_url = "https://smba.example/teams/"
    token = identity.sign_channel_token(APP_ID, service_url)
    client = jwt.PyJWKClient(identity.channel_jwks_url, ssl_context=identity.tls.client_context())
    key = await asyncio.to_thread(client.get_signing_key_from_jwt, token)
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=APP_ID, leeway=300)
    assert claims["iss"] == BOTFRAMEWORK_ISSUER
    assert claims["serviceurl"] == service_url

    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(
            identity.sign_channel_token(APP_ID, service_url, expired=True),
            key,
            algorithms=["RS256"],
            audience=APP_ID,
            leeway=300,
        )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            identity.sign_channel_token(APP_ID, service_url, forged=True),
            key,
            algorithms=["RS256"],
            audience=APP_ID,
            leeway=300,
        )


# -- connector -----------------------------------------------------------------------------


class ConnectorClient:
    """Just enough of a Bot Connector client, on plain aiohttp."""

    def __init__(self, connector: FakeConnector, token: str | None) -> None:
        self.base = connector.service_url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call(
        self, method: str, path: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.base + path, json=body, headers=self.headers) as resp,
        ):
            return resp.status, await resp.json(), dict(resp.headers)


def bot_token(identity: FakeIdentity) -> str:
    return identity.issue_access_token(APP_ID, BOT_CONNECTOR_RESOURCE)


def create_body(identity: FakeIdentity, user_id: str = "29:1user") -> dict[str, Any]:
    return {
        "isGroup": False,
        "bot": {"id": f"28:{APP_ID}"},
        "members": [{"id": user_id}],
        "tenantId": identity.tenant_id,
        "channelData": {"tenant": {"id": identity.tenant_id}},
    }


async def test_connector_refuses_missing_and_foreign_tokens(
    identity: FakeIdentity, connector: FakeConnector
) -> None:
    for token in (None, identity.issue_access_token(APP_ID, GRAPH_RESOURCE), "garbage"):
        status, body, _ = await ConnectorClient(connector, token).call(
            "POST", "v3/conversations/a:1/activities", {"type": "message", "text": "x"}
        )
        assert status == 401
        assert body["error"]["code"] == "Unauthorized"
    assert connector.all_activities() == []


async def test_connector_create_send_reply_update(
    identity: FakeIdentity, connector: FakeConnector
) -> None:
    client = ConnectorClient(connector, bot_token(identity))
    status, created, _ = await client.call("POST", "v3/conversations", create_body(identity))
    assert status == 201
    conversation_id = created["id"]
    # The same bot and user always get the same personal conversation.
    _, again, _ = await client.call("POST", "v3/conversations", create_body(identity))
    assert again["id"] == conversation_id

    card = {"type": "AdaptiveCard", "version": "1.5", "body": []}
    status, sent, _ = await client.call(
        "POST",
        f"v3/conversations/{conversation_id}/activities",
        {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        },
    )
    assert status == 201
    status, replied, _ = await client.call(
        "POST",
        f"v3/conversations/{conversation_id}/activities/{sent['id']}",
        {"type": "message", "text": "thanks", "replyToId": sent["id"]},
    )
    assert status == 201
    status, _, _ = await client.call(
        "PUT",
        f"v3/conversations/{conversation_id}/activities/{sent['id']}",
        {"type": "message", "text": None},
    )
    assert status == 400
    status, updated, _ = await client.call(
        "PUT",
        f"v3/conversations/{conversation_id}/activities/{sent['id']}",
        {"type": "message", "text": "answered"},
    )
    assert (status, updated) == (200, {"id": sent["id"]})

    kinds = [(a.kind, a.activity_id) for a in connector.activities(conversation_id)]
    assert kinds == [("send", sent["id"]), ("reply", replied["id"]), ("update", sent["id"])]
    assert connector.activities(conversation_id)[0].adaptive_cards == [card]
    assert connector.current(conversation_id, sent["id"])["text"] == "answered"
    assert connector.conversations[conversation_id].member_ids == ["29:1user"]
    assert connector.token_claims[0]["appid"] == APP_ID


async def test_connector_update_of_unknown_activity_is_404(
    identity: FakeIdentity, connector: FakeConnector
) -> None:
    status, body, _ = await ConnectorClient(connector, bot_token(identity)).call(
        "PUT", "v3/conversations/a:1/activities/42", {"type": "message", "text": "x"}
    )
    assert status == 404
    assert body["error"]["code"] == "ActivityNotFoundInConversation"


async def test_connector_rate_limit_per_conversation(
    identity: FakeIdentity, monkeypatch: pytest.MonkeyPatch, tls: TlsMaterial
) -> None:
    now = [100.0]
    async with FakeConnector(identity, clock=lambda: now[0]) as connector:
        connector.set_rate_limit(2, 1.0, retry_after=1.5)
        client = ConnectorClient(connector, bot_token(identity))
        statuses = []
        for conversation_id in ("a:1", "a:1", "a:2", "a:1"):
            status, _, headers = await client.call(
                "POST", f"v3/conversations/{conversation_id}/activities", {"type": "message"}
            )
            statuses.append(status)
        assert statuses == [201, 201, 201, 429]
        assert headers["Retry-After"] == "2"
        now[0] += 1.0
        status, _, _ = await client.call(
            "POST", "v3/conversations/a:1/activities", {"type": "message"}
        )
        assert status == 201
        assert len(connector.activities("a:1")) == 3


@pytest.mark.parametrize("reason", [NOT_INSTALLED, PRECONDITION_FAILED, BAD_GATEWAY])
async def test_connector_injected_failures(
    identity: FakeIdentity, connector: FakeConnector, reason: tuple[int, str, str]
) -> None:
    connector.inject(reason, conversation_id="a:9")
    client = ConnectorClient(connector, bot_token(identity))
    status, body, _ = await client.call(
        "POST", "v3/conversations/a:1/activities", {"type": "message"}
    )
    assert status == 201  # another conversation is unaffected
    status, body, _ = await client.call(
        "POST", "v3/conversations/a:9/activities", {"type": "message"}
    )
    assert (status, body["error"]["code"]) == reason[:2]
    status, _, _ = await client.call("POST", "v3/conversations/a:9/activities", {"type": "message"})
    assert status == 201  # one-shot


async def test_connector_blocked_user(identity: FakeIdentity, connector: FakeConnector) -> None:
    client = ConnectorClient(connector, bot_token(identity))
    _, created, _ = await client.call("POST", "v3/conversations", create_body(identity))
    connector.block_user("29:1user")
    status, body, _ = await client.call("POST", "v3/conversations", create_body(identity))
    assert (status, body["error"]["code"]) == (403, "BotNotInConversationRoster")
    status, _, _ = await client.call(
        "POST", f"v3/conversations/{created['id']}/activities", {"type": "message"}
    )
    assert status == 403
    connector.unblock_user("29:1user")
    status, _, _ = await client.call(
        "POST", f"v3/conversations/{created['id']}/activities", {"type": "message"}
    )
    assert status == 201


async def test_connector_wait_for_activities(
    identity: FakeIdentity, connector: FakeConnector
) -> None:
    client = ConnectorClient(connector, bot_token(identity))
    waiter = asyncio.create_task(connector.wait_for_activities("a:5", 2, timeout=5))
    for _ in range(2):
        await client.call("POST", "v3/conversations/a:5/activities", {"type": "message"})
    assert len(await waiter) == 2


# -- graph ---------------------------------------------------------------------------------


class GraphClient:
    def __init__(self, graph: FakeGraph, token: str | None) -> None:
        self.base = graph.graph_url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.base + path, json=body, headers=self.headers) as resp,
        ):
            text = await resp.text()
            return resp.status, (await resp.json() if text else None)


def graph_client(identity: FakeIdentity, graph: FakeGraph) -> GraphClient:
    return GraphClient(graph, identity.issue_access_token(APP_ID, GRAPH_RESOURCE))


async def test_graph_requires_a_graph_token(identity: FakeIdentity, graph: FakeGraph) -> None:
    graph.add_user("ann@example.org")
    for token in (None, bot_token(identity)):
        status, body = await GraphClient(graph, token).call("GET", "/users/ann@example.org")
        assert status == 401
        assert body["error"]["code"] == "InvalidAuthenticationToken"


async def test_graph_resolves_users_by_email(identity: FakeIdentity, graph: FakeGraph) -> None:
    ann = graph.add_user("Ann@Example.org", display_name="Ann")
    client = graph_client(identity, graph)
    status, body = await client.call("GET", "/users/ann@example.org")
    assert (status, body["id"], body["mail"]) == (200, ann.id, "Ann@Example.org")
    status, body = await client.call("GET", f"/users/{ann.id}")
    assert body["displayName"] == "Ann"
    status, body = await client.call("GET", "/users?$filter=mail eq 'ann@example.org'")
    assert [u["id"] for u in body["value"]] == [ann.id]
    status, body = await client.call("GET", "/users?$filter=mail eq 'nobody@example.org'")
    assert (status, body["value"]) == (200, [])
    status, body = await client.call("GET", "/users/nobody@example.org")
    assert status == 404
    assert body["error"]["code"] == "Request_ResourceNotFound"
    assert set(body["error"]["innerError"]) >= {"date", "request-id", "client-request-id"}


async def test_graph_install_app_then_get_chat(identity: FakeIdentity, graph: FakeGraph) -> None:
    catalog_id = "c0ffee00-0000-4000-8000-000000000001"
    graph.add_app(catalog_id, external_id="manifest-id")
    ann = graph.add_user("ann@example.org")
    client = graph_client(identity, graph)
    bind = {
        "teamsApp@odata.bind": f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{catalog_id}"
    }

    status, body = await client.call(
        "GET", "/appCatalogs/teamsApps?$filter=externalId eq 'manifest-id'"
    )
    assert [a["id"] for a in body["value"]] == [catalog_id]
    status, body = await client.call("POST", f"/users/{ann.id}/teamwork/installedApps", bind)
    assert (status, body) == (201, None)
    status, body = await client.call("POST", f"/users/{ann.id}/teamwork/installedApps", bind)
    assert (status, body["error"]["code"]) == (409, "Conflict")

    status, body = await client.call(
        "GET",
        f"/users/{ann.id}/teamwork/installedApps"
        f"?$expand=teamsApp&$filter=teamsApp/id eq '{catalog_id}'",
    )
    assert status == 200
    [installation] = body["value"]
    assert installation["teamsApp"]["externalId"] == "manifest-id"
    status, chat = await client.call(
        "GET", f"/users/{ann.id}/teamwork/installedApps/{installation['id']}/chat"
    )
    assert status == 200
    assert chat["id"] == f"19:{ann.id}_{APP_ID}@unq.gbl.spaces"
    status, body = await client.call(
        "GET", f"/users/{ann.id}/teamwork/installedApps?$filter=teamsApp/id eq 'other'"
    )
    assert body["value"] == []


async def test_graph_install_errors(identity: FakeIdentity, graph: FakeGraph) -> None:
    graph.add_app("app-1")
    bob = graph.add_user("bob@example.org", licensed=False)
    client = graph_client(identity, graph)
    bind = {"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/app-1"}
    status, body = await client.call("POST", f"/users/{bob.id}/teamwork/installedApps", bind)
    assert (status, body["error"]["code"]) == (403, "Forbidden")
    status, body = await client.call("POST", "/users/nobody/teamwork/installedApps", bind)
    assert status == 404
    unknown = {"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/x"}
    status, body = await client.call("POST", f"/users/{bob.id}/teamwork/installedApps", unknown)
    assert status == 404
    graph.fail_next(503)
    status, body = await client.call("GET", f"/users/{bob.id}")
    assert (status, body["error"]["code"]) == (503, "ServiceNotAvailable")


def test_tls_material_files(tls: TlsMaterial) -> None:
    assert Path(tls.ca_file).read_text().startswith("-----BEGIN CERTIFICATE-----")
