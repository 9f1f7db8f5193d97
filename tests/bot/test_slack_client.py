"""The Slack adapter's look-ups and error mapping, against the local fake Slack."""

from __future__ import annotations

import pytest

from bot.messages import Message
from bot.platform import DeliveryError, PlatformUserId
from bot.platforms.slack.client import SlackPlatform, make_client
from surveys.model import Email
from tests.fakes.slack_api import FakeSlack


async def test_people_are_found_in_bulk_once_then_one_by_one() -> None:
    async with FakeSlack.start(token="xoxb-t") as slack:
        ids = {f"p{i}@nhs.net": slack.add_user(f"p{i}@nhs.net") for i in range(1200)}
        gone = slack.add_user("gone@nhs.net")
        slack.deactivate_user(gone)
        platform = SlackPlatform(make_client("xoxb-t", slack.url))
        wanted = [Email(e) for e in ["p0@nhs.net", "p1199@nhs.net", "ghost@nhs.net"]]
        first = await platform.resolve_users(wanted)
        assert first.found == {
            "p0@nhs.net": ids["p0@nhs.net"],
            "p1199@nhs.net": ids["p1199@nhs.net"],
        }
        assert first.missing == {"ghost@nhs.net": "no Slack user with this e-mail"}
        pages = len(slack.calls("users.list"))
        assert pages >= 3  # paginated, 500 a page
        # Someone who joined since is found by the per-person look-up; the list is reused.
        late = slack.add_user("late@nhs.net")
        again = await platform.resolve_users([Email("late@nhs.net"), Email("gone@nhs.net")])
        assert again.found == {"late@nhs.net": late}
        assert "gone@nhs.net" in again.missing
        assert len(slack.calls("users.list")) == pages


async def test_errors_become_delivery_errors() -> None:
    async with FakeSlack.start(token="xoxb-t") as slack:
        ann = PlatformUserId(slack.add_user("ann@nhs.net"))
        platform = SlackPlatform(make_client("xoxb-t", slack.url), rate_limited_tries=1)
        slack.fail_next("chat.postMessage", status=429, retry_after=7)
        with pytest.raises(DeliveryError) as limited:
            await platform.send_direct(ann, Message("hi"))
        assert limited.value.retry_after == 7
        assert not limited.value.permanent
        slack.fail_next("chat.postMessage", status=500)
        with pytest.raises(DeliveryError) as broken:
            await platform.send_direct(ann, Message("hi"))
        assert not broken.value.permanent
        with pytest.raises(DeliveryError) as missing:
            await platform.post_to_channel("CNOPE", Message("hi"))  # type: ignore[arg-type]
        assert missing.value.permanent
        wrong = SlackPlatform(make_client("xoxb-wrong", slack.url))
        with pytest.raises(DeliveryError, match="invalid_auth"):
            await wrong.check()
