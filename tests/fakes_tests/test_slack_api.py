"""The fake Slack Web API, driven by the real slack_sdk clients."""

from __future__ import annotations

import asyncio
import json
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack, FakeSlackThread

TOKEN = "xoxb-test-123"
TS = re.compile(r"^\d{10}\.\d{6}$")


def tiny_png() -> bytes:
    """A valid 2x1 RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\xff\x00\x00" + b"\x00\x00\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack.start(token=TOKEN) as server:
        yield server


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.url)


@pytest.fixture
def threaded() -> Iterator[FakeSlackThread]:
    with FakeSlackThread(token=TOKEN) as server:
        yield server


async def api_error(awaitable: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await awaitable
    return info.value


# ---------------------------------------------------------------- auth


async def test_auth_test_describes_the_bot(slack: FakeSlack, client: AsyncWebClient) -> None:
    assert slack.url.startswith("http://127.0.0.1:")
    assert slack.url.endswith("/api/")
    response = await client.auth_test()
    assert response["ok"] is True
    assert response["team_id"] == slack.team_id
    assert response["user_id"] == slack.bot_user_id
    assert response["bot_id"] == slack.bot_id
    assert response["url"].startswith("http://127.0.0.1:")
    call = slack.call_records("auth.test")[0]
    assert call.status == 200
    assert call.ok
    assert abs(call.received_at - time.time()) < 5
    assert "token" not in call.args


async def test_missing_or_wrong_token_is_refused_with_http_200(slack: FakeSlack) -> None:
    error = await api_error(AsyncWebClient(base_url=slack.url).auth_test())
    assert error.response.status_code == 200
    assert error.response["error"] == "not_authed"
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=slack.url)
    error = await api_error(wrong.chat_postMessage(channel="C1", text="hi"))
    assert error.response.status_code == 200
    assert error.response["error"] == "invalid_auth"


async def test_token_may_come_as_a_form_field(slack: FakeSlack) -> None:
    response = await AsyncWebClient(base_url=slack.url).api_call("auth.test", data={"token": TOKEN})
    assert response["user_id"] == slack.bot_user_id


async def test_unknown_method(client: AsyncWebClient) -> None:
    error = await api_error(client.api_call("surveys.doSomething"))
    assert error.response["error"] == "unknown_method"


# ---------------------------------------------------------------- users


async def test_users_list_paginates_over_three_pages(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    for i in range(4):
        slack.add_user(f"user{i}@example.com", name=f"user{i}", tz="Europe/Berlin")
    gone = slack.add_user("gone@example.com", name="gone", deleted=True)
    # Slackbot and the bot user are members too: 7 in all, so pages of 3, 3 and 1.
    # slack_sdk reuses one response object while paging: keep each page's data.
    pages = [dict(page.data) async for page in await client.users_list(limit=3)]
    assert [len(p["members"]) for p in pages] == [3, 3, 1]
    assert pages[0]["response_metadata"]["next_cursor"]
    assert pages[-1]["response_metadata"]["next_cursor"] == ""
    members = {m["id"]: m for p in pages for m in p["members"]}
    assert len(members) == 7
    assert members["U0001"]["profile"]["email"] == "user0@example.com"
    assert members["U0001"]["tz"] == "Europe/Berlin"
    assert members["U0001"]["tz_offset"] in (3600, 7200)
    assert members[gone]["deleted"] is True
    assert members[slack.bot_user_id]["is_bot"] is True
    assert members["USLACKBOT"]["is_bot"] is False  # as on real Slack
    assert [c["cursor"] for c in slack.calls("users.list")[1:]] == [
        p["response_metadata"]["next_cursor"] for p in pages[:-1]
    ]
    error = await api_error(client.users_list(cursor="bm9wZQ=="))
    assert error.response["error"] == "invalid_cursor"


async def test_lookup_by_email(slack: FakeSlack, client: AsyncWebClient) -> None:
    alice = slack.add_user("Alice@Example.com", name="alice", tz="America/New_York")
    slack.add_user("bob@example.com", deleted=True)
    found = await client.users_lookupByEmail(email="alice@example.com")
    assert found["user"]["id"] == alice
    assert found["user"]["tz"] == "America/New_York"
    for email in ("nobody@example.com", "bob@example.com"):
        error = await api_error(client.users_lookupByEmail(email=email))
        assert error.response["error"] == "users_not_found"
    info = await client.users_info(user=alice)
    assert info["user"]["name"] == "alice"
    error = await api_error(client.users_info(user="U9999"))
    assert error.response["error"] == "user_not_found"


# ---------------------------------------------------------------- conversations & chat


async def test_conversations_open_gives_stable_dm_ids(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    alice = slack.add_user("alice@example.com")
    bob = slack.add_user("bob@example.com")
    first = (await client.conversations_open(users=alice))["channel"]["id"]
    again = (await client.conversations_open(users=[alice]))["channel"]["id"]
    other = (await client.conversations_open(users=bob))["channel"]["id"]
    assert first.startswith("D")
    assert first == again == slack.dm_channel(alice)
    assert other != first
    gone = slack.add_user("gone@example.com", deleted=True)
    error = await api_error(client.conversations_open(users=gone))
    assert error.response["error"] == "user_disabled"


async def test_post_update_and_history_with_metadata(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    alice = slack.add_user("alice@example.com")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Q1*"}}]
    metadata = {"event_type": "survey_question", "event_payload": {"wave": 3, "q": 1}}
    first = await client.chat_postMessage(
        channel=alice, text="Question 1", blocks=blocks, metadata=metadata
    )
    channel = first["channel"]
    assert channel == slack.dm_channel(alice)
    assert TS.match(first["ts"])
    assert first["message"]["bot_id"] == slack.bot_id
    assert first["message"]["blocks"] == blocks
    second = await client.chat_postMessage(channel=channel, text="Question 2")
    assert float(second["ts"]) > float(first["ts"])

    updated = await client.chat_update(channel=channel, ts=first["ts"], text="Answered")
    assert updated["ts"] == first["ts"]
    assert updated["message"]["blocks"] == blocks  # kept, as Slack keeps them

    history = await client.conversations_history(channel=channel, include_all_metadata=True)
    assert [m["ts"] for m in history["messages"]] == [second["ts"], first["ts"]]
    assert history["messages"][1]["metadata"] == metadata
    assert history["messages"][1]["text"] == "Answered"
    plain = await client.conversations_history(channel=channel)
    assert "metadata" not in plain["messages"][1]

    assert [m["text"] for m in slack.dm_messages(alice)] == ["Answered", "Question 2"]
    assert slack.calls("chat.postMessage")[0]["metadata"] == metadata

    error = await api_error(client.chat_update(channel=channel, ts="1.000001", text="x"))
    assert error.response["error"] == "message_not_found"


async def test_form_encoded_json_fields_are_decoded(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    alice = slack.add_user("alice@example.com")
    blocks = [{"type": "divider"}]
    metadata = {"event_type": "e", "event_payload": {"k": "v"}}
    await client.api_call(
        "chat.postMessage",
        data={
            "channel": alice,
            "text": "form",
            "blocks": json.dumps(blocks),
            "metadata": json.dumps(metadata),
        },
    )
    call = slack.calls("chat.postMessage")[0]
    assert call["blocks"] == blocks
    assert call["metadata"] == metadata
    assert slack.dm_messages(alice)[0]["metadata"] == metadata


async def test_channel_membership_rules(slack: FakeSlack, client: AsyncWebClient) -> None:
    for channel, expected in (
        ("C0UNKNOWN", "not_in_channel"),
        ("D9999", "channel_not_found"),
        ("U9999", "channel_not_found"),
    ):
        error = await api_error(client.chat_postMessage(channel=channel, text="hi"))
        assert error.response["error"] == expected
    slack.add_channel("C0TEAM", name="team", members=["U0001"])
    posted = await client.chat_postMessage(channel="C0TEAM", text="hello team")
    assert posted["channel"] == "C0TEAM"
    assert [m["text"] for m in slack.channel_messages("C0TEAM")] == ["hello team"]
    by_name = await client.chat_postMessage(channel="#team", text="again")
    assert by_name["channel"] == "C0TEAM"


async def test_post_ephemeral(slack: FakeSlack, client: AsyncWebClient) -> None:
    alice = slack.add_user("alice@example.com")
    slack.add_channel("C0TEAM", members=[alice])
    response = await client.chat_postEphemeral(channel="C0TEAM", user=alice, text="only you")
    assert TS.match(response["message_ts"])
    assert slack.ephemeral_messages(alice)[0]["text"] == "only you"
    outsider = slack.add_user("out@example.com")
    error = await api_error(client.chat_postEphemeral(channel="C0TEAM", user=outsider, text="x"))
    assert error.response["error"] == "user_not_in_channel"


# ---------------------------------------------------------------- views


def modal(title: str = "Survey", blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "survey",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Send"},
        "private_metadata": "wave=3",
        "blocks": blocks or [{"type": "section", "text": {"type": "plain_text", "text": "Hi"}}],
    }


async def test_views_open_with_valid_and_expired_triggers(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    alice = slack.add_user("alice@example.com")
    opened = await client.views_open(trigger_id=slack.new_trigger(alice), view=modal())
    view = opened["view"]
    assert view["id"].startswith("V")
    assert view["hash"]
    assert view["private_metadata"] == "wave=3"
    assert view["root_view_id"] == view["id"]
    assert slack.open_views(alice)[0]["id"] == view["id"]

    stale = slack.new_trigger(alice, ttl=0.05)
    await asyncio.sleep(0.1)
    error = await api_error(client.views_open(trigger_id=stale, view=modal()))
    assert error.response["error"] == "expired_trigger_id"
    error = await api_error(client.views_open(trigger_id="1.2.nope", view=modal()))
    assert error.response["error"] == "invalid_trigger_id"
    used = slack.new_trigger(alice)
    await client.views_open(trigger_id=used, view=modal())
    error = await api_error(client.views_open(trigger_id=used, view=modal()))
    assert error.response["error"] == "exchanged_trigger_id"


async def test_views_update_and_push(slack: FakeSlack, client: AsyncWebClient) -> None:
    alice = slack.add_user("alice@example.com")
    view = (await client.views_open(trigger_id=slack.new_trigger(alice), view=modal()))["view"]
    updated = await client.views_update(view_id=view["id"], view=modal("Page 2"), hash=view["hash"])
    assert updated["view"]["id"] == view["id"]
    assert updated["view"]["title"]["text"] == "Page 2"
    assert updated["view"]["hash"] != view["hash"]
    error = await api_error(client.views_update(view_id=view["id"], view=modal(), hash="stale"))
    assert error.response["error"] == "hash_conflict"
    error = await api_error(client.views_update(view_id="V404", view=modal()))
    assert error.response["error"] == "not_found"
    pushed = await client.views_push(trigger_id=slack.new_trigger(alice), view=modal("More"))
    assert pushed["view"]["previous_view_id"] == view["id"]
    assert [v["id"] for v in slack.open_views(alice)] == [view["id"], pushed["view"]["id"]]


async def test_views_publish_app_home(slack: FakeSlack, client: AsyncWebClient) -> None:
    alice = slack.add_user("alice@example.com")
    home = {
        "type": "home",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Hi"}}],
    }
    first = await client.views_publish(user_id=alice, view=home)
    again = await client.views_publish(user_id=alice, view=home)
    assert first["view"]["type"] == "home"
    assert again["view"]["id"] == first["view"]["id"]
    published = slack.home_view(alice)
    assert published is not None
    assert published["blocks"] == home["blocks"]
    error = await api_error(client.views_publish(user_id=alice, view=modal()))
    assert error.response["error"] == "invalid_arguments"


# ---------------------------------------------------------------- files


async def test_files_upload_v2_puts_a_png_in_a_channel(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.add_channel("C0REPORTS", name="reports")
    png = tiny_png()
    response = await client.files_upload_v2(
        channel="C0REPORTS",
        content=png,
        filename="scores.png",
        title="Team scores",
        initial_comment="This week's results",
    )
    assert response["file"]["name"] == "scores.png"
    assert response["file"]["mimetype"] == "image/png"
    assert (response["file"]["original_w"], response["file"]["original_h"]) == (2, 1)
    [uploaded] = slack.files("C0REPORTS")
    assert uploaded.content == png
    assert uploaded.title == "Team scores"
    assert uploaded.initial_comment == "This week's results"
    [message] = slack.channel_messages("C0REPORTS")
    assert message["text"] == "This week's results"
    assert message["files"][0]["id"] == uploaded.id
    assert [c.method for c in slack.call_records()] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    error = await api_error(
        client.files_upload_v2(channel="C0ELSEWHERE", content=png, filename="a.png")
    )
    assert error.response["error"] == "not_in_channel"


def test_sync_client_in_a_thread_uploads_to_a_dm(threaded: FakeSlackThread) -> None:
    alice = threaded.add_user("alice@example.com")
    client = WebClient(token=TOKEN, base_url=threaded.url)
    assert client.auth_test()["user_id"] == threaded.bot_user_id
    members = [m for page in client.users_list(limit=2) for m in page.data["members"]]
    assert alice in {m["id"] for m in members}
    dm = client.conversations_open(users=alice)["channel"]["id"]
    client.files_upload_v2(channel=dm, content=tiny_png(), filename="chart.png")
    assert threaded.files(alice)[0].mimetype == "image/png"
    client.chat_postMessage(channel=alice, text="done")
    assert threaded.dm_messages(alice)[-1]["text"] == "done"


# ---------------------------------------------------------------- limits


async def test_block_kit_limits(slack: FakeSlack, client: AsyncWebClient) -> None:
    alice = slack.add_user("alice@example.com")
    divider = {"type": "divider"}
    error = await api_error(client.chat_postMessage(channel=alice, text="x", blocks=[divider] * 51))
    assert error.response["error"] == "invalid_blocks"
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 51 items [json-pointer:/blocks]"
    ]
    await client.chat_postMessage(channel=alice, text="x", blocks=[divider] * 50)

    option = {"text": {"type": "plain_text", "text": "o" * 76}, "value": "1"}
    radios = {
        "type": "actions",
        "elements": [{"type": "radio_buttons", "action_id": "a", "options": [option]}],
    }
    error = await api_error(client.chat_postMessage(channel=alice, text="x", blocks=[radios]))
    assert "[json-pointer:/blocks/0/elements/0/options/0/text/text]" in error.response["errors"][0]

    long_id = {"type": "divider", "block_id": "b" * 256}
    error = await api_error(client.chat_postMessage(channel=alice, text="x", blocks=[long_id]))
    assert error.response["error"] == "invalid_blocks"
    error = await api_error(client.chat_postMessage(channel=alice, text="x" * 40_001))
    assert error.response["error"] == "msg_too_long"
    with pytest.warns(UserWarning, match="text"):  # slack_sdk warns too
        error = await api_error(client.chat_postMessage(channel=alice))
    assert error.response["error"] == "no_text"

    trigger = slack.new_trigger(alice)
    for bad, pointer in (
        (modal(title="t" * 25), "/view/title/text"),
        (modal(blocks=[divider] * 101), "/view/blocks"),
        ({**modal(), "private_metadata": "m" * 3001}, "/view/private_metadata"),
    ):
        error = await api_error(client.views_open(trigger_id=trigger, view=bad))
        assert error.response["error"] == "invalid_arguments"
        assert pointer in error.response["response_metadata"]["messages"][0]
    # A refused payload does not use up the trigger.
    await client.views_open(trigger_id=trigger, view=modal(blocks=[divider] * 100))


async def test_rate_limit_answers_429_and_slack_sdk_retries(slack: FakeSlack) -> None:
    alice = slack.add_user("alice@example.com")
    slack.set_rate_limit("chat.postMessage", per_second=1, burst=1)
    plain = AsyncWebClient(token=TOKEN, base_url=slack.url)
    await plain.chat_postMessage(channel=alice, text="1")
    error = await api_error(plain.chat_postMessage(channel=alice, text="2"))
    assert error.response.status_code == 429
    assert error.response["error"] == "ratelimited"
    assert int(error.response.headers["Retry-After"]) >= 1

    retrying = AsyncWebClient(
        token=TOKEN,
        base_url=slack.url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    started = time.monotonic()
    response = await retrying.chat_postMessage(channel=alice, text="3")
    assert response["ok"]
    assert time.monotonic() - started >= 1
    assert slack.ratelimited_count == 2
    assert [c.status for c in slack.call_records("chat.postMessage")] == [200, 429, 429, 200]
    assert [m["text"] for m in slack.dm_messages(alice)] == ["1", "3"]


async def test_workspace_and_per_channel_rate_limits(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    alice = slack.add_user("alice@example.com")
    bob = slack.add_user("bob@example.com")
    slack.set_rate_limit("chat.postMessage", per_second=0.5, per_channel=True)
    await client.chat_postMessage(channel=alice, text="a")
    await client.chat_postMessage(channel=bob, text="b")  # another channel, another bucket
    error = await api_error(client.chat_postMessage(channel=alice, text="a2"))
    assert error.response.headers["Retry-After"] == "2"
    slack.clear_rate_limits()
    slack.set_workspace_rate_limit(per_second=1, burst=2)
    await client.auth_test()
    await client.users_info(user=alice)
    error = await api_error(client.auth_test())
    assert error.response.status_code == 429


async def test_fail_next_500_and_503(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail_next("auth.test", status=500)
    error = await api_error(client.auth_test())
    assert error.response.status_code == 500
    assert error.response["error"] == "internal_error"
    assert (await client.auth_test())["ok"]  # only the next call failed

    slack.fail_next("auth.test", status=503, times=1)
    retrying = AsyncWebClient(
        token=TOKEN, base_url=slack.url, retry_handlers=[AsyncServerErrorRetryHandler()]
    )
    assert (await retrying.auth_test())["ok"]
    assert [c.status for c in slack.call_records("auth.test")] == [500, 200, 503, 200]

    slack.fail_next("*", status=200, error="fatal_error", times=2)
    for _ in range(2):
        error = await api_error(client.auth_test())
        assert error.response["error"] == "fatal_error"
    slack.fail_next("chat.postMessage", status=429, retry_after=7)
    error = await api_error(client.chat_postMessage(channel="C1", text="x"))
    assert error.response.headers["Retry-After"] == "7"
    assert slack.ratelimited_count == 1
    slack.reset_calls()
    assert slack.calls() == []
    assert slack.ratelimited_count == 0


def test_sync_client_sees_429_and_retries(threaded: FakeSlackThread) -> None:
    threaded.fail_next("auth.test", status=429, retry_after=1)
    client = WebClient(token=TOKEN, base_url=threaded.url)
    with pytest.raises(SlackApiError) as info:
        client.auth_test()
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "1"
    threaded.fail_next("auth.test", status=429, retry_after=1)
    retrying = WebClient(
        token=TOKEN, base_url=threaded.url, retry_handlers=[RateLimitErrorRetryHandler()]
    )
    assert retrying.auth_test()["ok"]
    assert threaded.ratelimited_count == 2
