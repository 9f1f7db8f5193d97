"""Data protection on SQLite and PostgreSQL: withdraw, erase, export, retention and purge,
and the audit log (who, when, what; never an answer)."""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, select, text

from bot.delivery.dispatch import Dispatcher, plan_invitations
from bot.publishing.publisher import Publisher
from bot.publishing.reporting import build_report
from bot.scheduling import jobs
from bot.scheduling.jobs import JOBS
from bot.scheduling.lifecycle import Lifecycle
from bot.scheduling.retention import Retention
from surveys.clock import FixedClock
from surveys.conversations import ConversationRef, ConversationStore
from surveys.delivery import Outbox
from surveys.errors import Conflict, NotFound
from surveys.importing import parse_csv_text
from surveys.model import AnswerPage, DeliveryState, InvitationId, Platform
from surveys.outbox import OutboxKind, OutboxState
from surveys.persistence.orm import AuditEventRow
from surveys.persistence.uow import UnitOfWork
from surveys.protection import DataProtection
from surveys.publishing import PublishJobs
from surveys.service import NewSurvey, SurveyService

NURSES = [f"n{i}@nhs.net" for i in range(5)]
DOCTORS = [f"d{i}@nhs.net" for i in range(5)]
EXTRA = "extra@nhs.net"
"""In round 1 only: once round 1 is purged, rcbot must hold nothing about them."""


@pytest.fixture
def service(engine: Engine, clock: FixedClock) -> SurveyService:
    svc = SurveyService(engine, clock)
    svc.create_survey(
        NewSurvey("Chemo", owners=["lead@nhs.net"], leadership_channels=["slack:CLEAD"])
    )
    rows = [f"{e},Nurse {i},Nurses" for i, e in enumerate(NURSES)]
    rows += [f"{e},Doctor {i},Doctors" for i, e in enumerate(DOCTORS)]
    rows.append(f"{EXTRA},Extra Person,Nurses,UEXTRA")
    table = "email,name,role,slack_user_id\n" + "\n".join(
        r if r.count(",") == 3 else r + "," for r in rows
    )
    svc.import_participants("Chemo", parse_csv_text(table))
    return svc


def publish_closed(service: SurveyService) -> None:
    """Run the publish jobs of closed rounds, as the scheduler does (purges wait for them)."""
    folder = Path(tempfile.mkdtemp(prefix="rcbot-reports-"))
    publisher = Publisher(service, PublishJobs(service.engine, service.clock), folder)
    while publisher.run_one():
        pass


def run_round(service: SurveyService, clock: FixedClock, nurses: int, doctors: int) -> None:
    service.open_round("Chemo", clock.now() + timedelta(days=14))
    dims = service.get_survey("Chemo").instrument.dimensions
    for inv in service.invitations("Chemo"):
        assert inv.id is not None
        score = nurses if inv.role == "Nurses" else doctors
        for partner in inv.partner_roles:
            service.submit_page(inv.id, AnswerPage(partner, dict.fromkeys(dims, score)))
    clock.advance(timedelta(days=15))
    service.close_round("Chemo")
    publish_closed(service)


def invitation_of(service: SurveyService, email: str, number: int | None = None) -> InvitationId:
    people = {p.id: p.email for p in service.list_participants("Chemo")}
    for inv in service.invitations("Chemo", number):
        if people[inv.participant_id] == email:
            assert inv.id is not None
            return inv.id
    raise AssertionError(email)


def everything(engine: Engine) -> str:
    """Every row of every table, as text: what 'nothing left' is checked against."""
    meta = MetaData()
    meta.reflect(engine)
    lines = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name == "apscheduler_jobs":
                continue
            for row in conn.execute(select(table)):
                lines.append(f"{table.name}: {json.dumps([str(v) for v in row])}")
    return "\n".join(lines)


def audit(engine: Engine) -> list[AuditEventRow]:
    with UnitOfWork(engine) as uow:
        return list(uow.session.scalars(select(AuditEventRow).order_by(AuditEventRow.id)))


def test_withdrawing_before_close_deletes_answers_and_stops_reminders(
    service: SurveyService, engine: Engine, clock: FixedClock
) -> None:
    service.open_round("Chemo", clock.now() + timedelta(days=14))
    dims = service.get_survey("Chemo").instrument.dimensions
    inv = invitation_of(service, NURSES[0])
    service.submit_page(inv, AnswerPage("Nurses", dict.fromkeys(dims, 3)))
    service.record_delivery(inv, DeliveryState.SENT)
    outbox = Outbox(engine, clock)
    clock.advance(timedelta(days=3, hours=1))
    assert service.plan_reminders() >= 1
    assert any(i.invitation_id == inv for i in outbox.items(kinds=[OutboxKind.REMINDER]))
    done = DataProtection(engine, clock).withdraw(inv)
    assert (done.answers_deleted, done.after_close) == (7, False)
    assert service.view(inv).pages == {}
    reminders = [i for i in outbox.items(kinds=[OutboxKind.REMINDER]) if i.invitation_id == inv]
    assert {i.state for i in reminders} == {OutboxState.CANCELLED}
    clock.advance(timedelta(days=2))
    service.plan_reminders()
    assert [i for i in outbox.items(states=[OutboxState.PENDING]) if i.invitation_id == inv] == []
    status = service.round_status("Chemo")
    assert status.withdrew == 1
    assert next(r for r in status.by_role if r.role == "Nurses").withdrew == 1
    with pytest.raises(Conflict, match="withdrew"):
        service.submit_page(inv, AnswerPage("Nurses", dict.fromkeys(dims, 3)))
    (event,) = audit(engine)
    assert event.action == "participant.withdraw"
    assert event.subject is None  # owners never learn who withdrew
    assert NURSES[0] not in event.detail
    assert "Nurse 0" not in event.detail


def test_withdrawing_after_close_keeps_the_published_counts(
    service: SurveyService, engine: Engine, clock: FixedClock
) -> None:
    run_round(service, clock, 4, 3)
    inv = invitation_of(service, NURSES[1])
    before = service.round_status("Chemo")
    done = DataProtection(engine, clock).withdraw(inv)
    assert done.after_close
    assert done.answers_deleted == 14
    assert service.view(inv).pages == {}
    after = service.round_status("Chemo")
    assert after.completed == before.completed  # as published
    assert after.withdrew == 1
    assert service.withdrawable_views(Platform.SLACK, "UNKNOWN") == []


def test_erasing_a_person_leaves_nothing_of_them(
    service: SurveyService, engine: Engine, clock: FixedClock
) -> None:
    ConversationStore(engine, clock).put(
        ConversationRef(Platform.SLACK, "UEXTRA", "DEXTRA", "https://slack.example")
    )
    run_round(service, clock, 4, 3)
    service.open_round("Chemo", clock.now() + timedelta(days=14))
    outbox = Outbox(engine, clock)
    assert plan_invitations(service, outbox) == 11
    protection = DataProtection(engine, clock)
    erased = protection.erase(EXTRA.upper(), "Chemo", "alice (command line)")
    assert (erased.invitations, erased.answers) == (2, 14)
    assert erased.messages >= 1
    outside_audit = "\n".join(
        line for line in everything(engine).splitlines() if not line.startswith("audit_events")
    )
    for trace in (EXTRA, "Extra Person", "UEXTRA", "DEXTRA"):
        assert trace not in outside_audit, trace
    assert len(outbox.items(kinds=[OutboxKind.INVITATION])) == 10
    (event,) = audit(engine)
    assert (event.actor, event.action, event.subject) == (
        "alice (command line)",
        "participant.erase",
        EXTRA,
    )
    assert "score" not in event.detail
    with pytest.raises(NotFound):
        protection.erase(EXTRA, "Chemo", "alice")


def test_export_holds_everything_about_a_person(
    service: SurveyService, engine: Engine, clock: FixedClock
) -> None:
    run_round(service, clock, 4, 3)
    protection = DataProtection(engine, clock)
    data = protection.export(NURSES[2], None, "bob (command line)")
    assert {"invitations", "answers", "participants", "messages"} <= set(data)
    assert data["participants"][0]["name"] == "Nurse 2"
    (invitation,) = data["invitations"]
    assert invitation["round"] == 1
    assert len(data["answers"]) == 14
    assert {a["score"] for a in data["answers"]} == {4}
    json.dumps(data)  # plain data
    ConversationStore(engine, clock).put(
        ConversationRef(Platform.SLACK, "UEXTRA", "DEXTRA", "https://slack.example")
    )
    extra = protection.export(EXTRA, "Chemo", "bob (command line)")
    assert [c["conversation_id"] for c in extra["chats"]] == ["DEXTRA"]
    owner = protection.export("lead@nhs.net", "Chemo", "bob (command line)")
    assert owner["owner_of"] == ["Chemo"]
    with pytest.raises(NotFound, match="not found"):
        protection.export("nobody@nhs.net", None, "bob")
    events = audit(engine)
    assert [e.action for e in events] == ["participant.export"] * 3
    assert all("4" not in e.detail.replace("14", "") for e in events)


def test_retention_purges_raw_data_on_a_simulated_clock_and_trends_survive(
    service: SurveyService, engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    protection = DataProtection(engine, clock)
    protection.set_retention("Chemo", 365, "alice (command line)")
    run_round(service, clock, 3, 3)
    round_one_close = clock.now()
    run_round(service, clock, 5, 5)
    round_two_close = clock.now()
    outbox = Outbox(engine, clock)
    lifecycle = Lifecycle(
        service,
        outbox,
        Dispatcher(service, outbox, {}),
        retention=Retention(service, protection),
    )
    # The scheduler's own job, as its leader runs it every tick.
    assert JOBS["purge"] == "bot.scheduling.jobs:purge"
    jobs.install(lifecycle)
    try:
        clock.set(round_one_close + timedelta(days=364))
        jobs.purge()
        assert service.rounds("Chemo")[0].purged_at is None
        clock.set(round_one_close + timedelta(days=365))
        jobs.purge()
        assert service.rounds("Chemo")[0].purged_at == clock.now()
        assert lifecycle.purge() == 0  # idempotent
    finally:
        jobs.install(None)
    rounds = service.rounds("Chemo")
    assert rounds[0].purged_at is not None
    assert rounds[1].purged_at is None
    with engine.connect() as conn:
        first = conn.execute(text("SELECT id FROM rounds WHERE number = 1")).scalar_one()
        left = conn.execute(
            text("SELECT count(*) FROM invitations WHERE round_id = :r"), {"r": first}
        ).scalar_one()
        assert left == 0
        # Only the published results (summary, owners' workbook) stay in the outbox.
        kinds = conn.execute(
            text("SELECT DISTINCT kind FROM outbox WHERE round_id = :r"), {"r": first}
        ).scalars()
        assert set(kinds) <= {"summary", "workbook", "notice"}
    assert service.answers("Chemo", 1) == []
    assert len(service.answers("Chemo", 2)) > 0  # round 2 is still within its period
    # Round 2's report still shows the trend, from round 1's stored aggregates.
    aggregates = protection.aggregates_of(rounds[0].id)  # type: ignore[arg-type]
    assert aggregates is not None
    assert aggregates["overall"]["rc"] == pytest.approx(3.0)
    report = build_report(service, "Chemo", 2, tmp_path)
    assert report.analysis is not None
    assert report.analysis.trends is not None
    change = report.analysis.trends.overall
    assert change is not None
    assert change.previous == pytest.approx(3.0)
    assert change.change == pytest.approx(2.0)
    assert not change.within_noise
    assert (report.folder / "trends.csv").exists()
    # When round 2 goes too, nothing personal is left in any table: no answer, no
    # invitation, no name, e-mail or chat id (the audit log names nobody for a purge).
    clock.set(round_two_close + timedelta(days=365))
    assert lifecycle.purge() == 1
    dump = everything(engine)
    for trace in [*NURSES, *DOCTORS, EXTRA, "Nurse 0", "Extra Person", "UEXTRA"]:
        assert trace not in dump, trace
    with engine.connect() as conn:
        for table in ("answers", "invitations", "participants"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    assert service.list_participants("Chemo") == []
    assert protection.aggregates_of(service.rounds("Chemo")[1].id) is not None  # type: ignore[arg-type]
    actions = [e.action for e in audit(engine)]
    assert actions == ["survey.retention", "round.purge", "round.purge"]


def test_purge_now_is_a_promise_the_scheduler_keeps(
    service: SurveyService, engine: Engine, clock: FixedClock
) -> None:
    run_round(service, clock, 4, 3)
    protection = DataProtection(engine, clock)
    requested = protection.request_purge("Chemo", "alice (command line)")
    assert [r.number for r in requested] == [1]
    # The command stopped here (a crash); the scheduler's next run keeps the promise.
    retention = Retention(service, protection)
    assert retention.run() == 1
    assert service.answers("Chemo", 1) == []
    assert service.rounds("Chemo")[0].purged_at is not None
    with pytest.raises(NotFound):  # the invitation itself is gone
        protection.withdraw(1)  # type: ignore[arg-type]


def test_forever_is_never_purged(service: SurveyService, engine: Engine, clock: FixedClock) -> None:
    protection = DataProtection(engine, clock)
    protection.set_retention("Chemo", None, "alice")
    run_round(service, clock, 4, 3)
    clock.advance(timedelta(days=365 * 50))
    assert Retention(service, protection).run() == 0
    assert len(service.answers("Chemo", 1)) > 0
