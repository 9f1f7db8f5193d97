"""Typed ORM tables. Kept apart from the domain dataclasses; repositories map between them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from surveys.persistence.db import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class SurveyRow(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    instrument: Mapped[dict[str, Any]]
    min_group_size: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    reminder_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """NULL means rcbot's default reminder policy."""
    retain_days: Mapped[int | None] = mapped_column(Integer, server_default="730")
    """Days raw answers and personal data are kept after a round closes; NULL: forever."""

    roles: Mapped[list[RoleRow]] = relationship(
        back_populates="survey", order_by="RoleRow.position", cascade="all, delete-orphan"
    )
    owners: Mapped[list[OwnerRow]] = relationship(cascade="all, delete-orphan")
    channels: Mapped[list[ChannelRow]] = relationship(cascade="all, delete-orphan")

    __table_args__ = (CheckConstraint("min_group_size BETWEEN 3 AND 25", name="min_group_size"),)


class RoleRow(Base):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    position: Mapped[int]
    rates: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    """Names of the partner roles this role rates; NULL means every role."""

    survey: Mapped[SurveyRow] = relationship(back_populates="roles")

    __table_args__ = (UniqueConstraint("survey_id", "name"),)


class OwnerRow(Base):
    __tablename__ = "survey_owners"

    survey_id: Mapped[int] = mapped_column(
        ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str] = mapped_column(String(254), primary_key=True)


class ChannelRow(Base):
    __tablename__ = "leadership_channels"

    survey_id: Mapped[int] = mapped_column(
        ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True
    )
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(200), primary_key=True)


class ParticipantRow(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"))
    platform: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    team: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    role: Mapped[RoleRow] = relationship()
    identities: Mapped[list[ParticipantIdentityRow]] = relationship(viewonly=True, lazy="selectin")
    """Read only: written by ParticipantRepository as rows of their own, deleted with the
    participant by the database (ON DELETE CASCADE)."""

    __table_args__ = (UniqueConstraint("survey_id", "email"),)


class ParticipantIdentityRow(Base):
    """A participant's user id on one chat platform (none until known)."""

    __tablename__ = "participant_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        # One identity per platform per participant; one chat account is one participant
        # per survey.
        UniqueConstraint("participant_id", "platform", name="uq_identities_participant"),
        UniqueConstraint("survey_id", "platform", "user_id", name="uq_identities_user"),
        Index("ix_identities_user", "platform", "user_id"),
    )


class RoundRow(Base):
    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    number: Mapped[int]
    state: Mapped[str] = mapped_column(String(16))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]
    purge_requested_at: Mapped[datetime | None]
    """An owner asked for the round's raw data to go now (``rcbot survey purge``); the
    scheduler finishes the job if the command could not."""
    aggregates: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The round's published, suppression-safe figures, kept when its raw answers go."""

    __table_args__ = (
        UniqueConstraint("survey_id", "number"),
        CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
    )


class InvitationRow(Base):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    role: Mapped[str] = mapped_column(String(60))
    partner_roles: Mapped[list[Any]]
    delivery: Mapped[str] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    message_ref: Mapped[str | None] = mapped_column(String(400))
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None]
    reminders_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("round_id", "participant_id"),
        Index("ix_invitations_round_state", "round_id", "completed_at"),
    )


class AnswerRow(Base):
    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"))
    partner_role: Mapped[str] = mapped_column(String(60))
    dimension: Mapped[str] = mapped_column(String(32))
    score: Mapped[int | None] = mapped_column(Integer)
    """1-5, or NULL for not applicable."""
    answered_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("invitation_id", "partner_role", "dimension"),
        CheckConstraint("score IS NULL OR score BETWEEN 1 AND 5", name="score_range"),
    )


class OutboxRow(Base):
    """One outbound chat message. Sent at most once; see :mod:`surveys.outbox`."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE")
    )
    platform: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(254))
    """A participant's e-mail for direct messages, or a channel id."""
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    message_ref: Mapped[str | None] = mapped_column(String(400))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_due", "state", "not_before"),)


class PublishJobRow(Base):
    """A promise to publish a closed round's results; see :mod:`surveys.publishing`.

    Written in the transaction that closes the round, so a crash cannot lose it."""

    __tablename__ = "publish_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), unique=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    """1 for the publication at close; each ``rcbot round publish`` adds one."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    folder: Mapped[str | None] = mapped_column(String(500))
    """Where the round's files were written."""

    __table_args__ = (Index("ix_publish_jobs_due", "state", "not_before"),)


class RuntimeStateRow(Base):
    """Small facts several rcbot processes must agree on (e.g. the simulated clock's anchor)."""

    __tablename__ = "runtime_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


scheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
"""APScheduler's job store table: no longer written (the scheduler keeps its interval jobs in
memory, see bot/scheduling/scheduler.py); kept so the models match the migrations."""


class ConversationRefRow(Base):
    """Where to reach a person proactively on a platform that needs a conversation first
    (Teams: the 1:1 chat id and the service URL of the person's region)."""

    __tablename__ = "conversation_refs"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(400))
    service_url: Mapped[str] = mapped_column(String(400))
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class FileLinkRow(Base):
    """A link rcbot issued to one published file: ``/files/<token>/<name>`` until it
    expires. Only tokens with a row are ever served."""

    __tablename__ = "file_links"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditEventRow(Base):
    """Who did what to whose data, and when: erasures, exports, purges, withdrawals, changes
    of the retention period. Never an answer."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(254))
    """The operating-system user of a CLI command, ``slack:U...``/``teams:...`` of a person
    in chat, or ``rcbot`` for the scheduler."""
    action: Mapped[str] = mapped_column(String(40))
    survey_id: Mapped[int | None] = mapped_column(Integer)
    survey: Mapped[str | None] = mapped_column(String(120))
    subject: Mapped[str | None] = mapped_column(String(254))
    """The e-mail of the person the action concerned, if any."""
    detail: Mapped[str] = mapped_column(String(400))
