"""Stored conversation references: how to reach a person proactively on a platform.

Teams cannot message someone out of the blue: the bot needs the 1:1 conversation id and the
service URL of the person's region, learnt when the app is installed for them or when they
first write. Kept per platform and platform user id, across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from surveys.clock import Clock, ensure_utc
from surveys.model import Platform
from surveys.persistence.orm import ConversationRefRow
from surveys.persistence.uow import UnitOfWork


@dataclass(frozen=True)
class ConversationRef:
    platform: Platform
    user_id: str
    conversation_id: str
    service_url: str
    tenant_id: str | None = None


class ConversationStore:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def get(self, platform: Platform, user_id: str) -> ConversationRef | None:
        with UnitOfWork(self.engine) as uow:
            row = uow.session.get(ConversationRefRow, (platform.value, user_id))
            if row is None:
                return None
            return ConversationRef(
                platform, user_id, row.conversation_id, row.service_url, row.tenant_id
            )

    def put(self, ref: ConversationRef) -> None:
        now: datetime = ensure_utc(self.clock.now())
        for attempt in range(2):
            try:
                self._put(ref, now)
                return
            except IntegrityError:
                # Teams sends conversationUpdate and installationUpdate together: the other
                # one inserted the row first, so this time it is an update.
                if attempt:
                    raise

    def _put(self, ref: ConversationRef, now: datetime) -> None:
        with UnitOfWork(self.engine) as uow:
            row = uow.session.get(ConversationRefRow, (ref.platform.value, ref.user_id))
            if row is None:
                uow.session.add(
                    ConversationRefRow(
                        platform=ref.platform.value,
                        user_id=ref.user_id,
                        conversation_id=ref.conversation_id,
                        service_url=ref.service_url,
                        tenant_id=ref.tenant_id,
                        updated_at=now,
                    )
                )
            else:
                row.conversation_id = ref.conversation_id
                row.service_url = ref.service_url
                row.tenant_id = ref.tenant_id
                row.updated_at = now
