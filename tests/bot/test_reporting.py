"""From a closed round to the leadership summary and the owners' workbook."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.delivery.dispatch import Dispatcher
from bot.messages import message_to_dict
from bot.platform import ChannelId, ChatPlatform
from bot.platforms.fake import FakeChatPlatform
from bot.publishing.reporting import build_report, results_messages, summary_message
from surveys.clock import FixedClock
from surveys.delivery import Outbox
from surveys.importing import parse_csv_text
from surveys.model import AnswerPage, Email, Platform
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY

NURSES = [f"n{i}@nhs.net" for i in range(6)]
DOCTORS = ["d0@nhs.net", "d1@nhs.net"]


@pytest.fixture
def service(engine: Engine, clock: FixedClock) -> SurveyService:
    svc = SurveyService(engine, clock)
    svc.create_survey(
        NewSurvey(
            "Chemo",
            owners=["lead@nhs.net"],
            leadership_channels=["slack:CLEAD"],
            roles=["Nurses", "Doctors"],
        )
    )
    rows = [f"{e},N{i},Nurses" for i, e in enumerate(NURSES)]
    rows += [f"{e},D{i},Doctors" for i, e in enumerate(DOCTORS)]
    svc.import_participants("Chemo", parse_csv_text("email,name,role\n" + "\n".join(rows)))
    svc.open_round("Chemo", MONDAY + timedelta(days=14))
    return svc


def answer_all(service: SurveyService, nurses: float = 4, doctors: int = 2) -> None:
    dims = service.get_survey("Chemo").instrument.dimensions
    for inv in service.invitations("Chemo"):
        assert inv.id is not None
        score = int(nurses) if inv.role == "Nurses" else doctors
        for partner in inv.partner_roles:
            service.submit_page(inv.id, AnswerPage(partner, dict.fromkeys(dims, score)))


def test_small_groups_never_reach_the_summary(service: SurveyService, tmp_path: Path) -> None:
    answer_all(service)
    service.close_round("Chemo")
    report = build_report(service, "Chemo", None, tmp_path)
    assert report.analysis is not None
    text = summary_message(report).plain()
    assert "Response rate: 100% (8 of 8)" in text
    assert "Nurses about Doctors: 4.00" in text
    # Two doctors answered: below the minimum of 5, so nothing they said is shown.
    assert "Doctors about" not in text
    assert "2.00" not in text
    assert "For the conversation" in text
    assert {p.name for p in report.files} >= {"heatmap.png", "network.png", "report.xlsx"}


def test_a_round_without_answers_says_so(service: SurveyService, tmp_path: Path) -> None:
    service.close_round("Chemo")
    report = build_report(service, "Chemo", None, tmp_path)
    assert report.analysis is not None
    text = summary_message(report).plain()
    assert "Not enough answers" in text
    assert "Response rate: not shown (fewer than 5" in text


def test_a_few_answers_look_exactly_like_none(service: SurveyService, tmp_path: Path) -> None:
    # Regression (issue 14, item 3): whether nobody or a few answered a hidden group showed
    # in the summary, the pictures and the tables.
    from analytics.figures import figure_data

    def published(folder: Path) -> tuple[object, ...]:
        report = build_report(service, "Chemo", None, folder)
        assert report.analysis is not None
        texts = {
            p.name: p.read_bytes() for p in report.files if p.suffix in {".csv", ".md", ".json"}
        }
        return message_to_dict(summary_message(report)), texts, figure_data(report.analysis)

    nobody = published(tmp_path / "a")
    dims = service.get_survey("Chemo").instrument.dimensions
    for inv in service.invitations("Chemo"):
        assert inv.id is not None
        if inv.role == "Doctors":  # two doctors: below the minimum of 5
            for partner in inv.partner_roles:
                service.submit_page(inv.id, AnswerPage(partner, dict.fromkeys(dims, 1)))
    assert published(tmp_path / "b") == nobody


async def test_results_go_to_the_channel_and_the_workbook_to_owners(
    service: SurveyService, engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    answer_all(service)
    service.close_round("Chemo")
    outbox = Outbox(engine, clock)
    report = build_report(service, "Chemo", None, tmp_path)
    messages = results_messages(report, Platform.SLACK)
    assert len(messages) == 2
    assert outbox.enqueue(messages) == 2
    assert outbox.enqueue(results_messages(report, Platform.SLACK)) == 0  # keyed: once
    slack = FakeChatPlatform(Platform.SLACK)
    slack.add_channel(ChannelId("CLEAD"))
    lead = slack.add_user(Email("lead@nhs.net"))
    platforms: dict[Platform, ChatPlatform] = {Platform.SLACK: slack}
    sent = await Dispatcher(service, outbox, platforms).drain()
    assert sent.sent == 2
    (post,) = slack.channel_posts(ChannelId("CLEAD"))
    assert [a.filename for a in post.attachments] == ["heatmap.png", "network.png"]
    assert post.attachments[0].content.startswith(b"\x89PNG")
    (private,) = slack.inbox(lead)
    assert [a.filename for a in private.attachments] == ["report.xlsx"]
