"""Outbox addresses are typed: written and read in one place, stored as text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveys.model import ParticipantId
from surveys.outbox import Address, AddressKind


@given(st.integers(min_value=1, max_value=2**40))
def test_a_participant_address_round_trips(pid: int) -> None:
    address = Address.participant(pid)
    assert Address.parse(str(address)) == address
    assert address.participant_id == ParticipantId(pid)
    assert str(address) == f"participant:{pid}"


@given(st.emails())
def test_an_owner_address_round_trips(email: str) -> None:
    address = Address.owner(email)
    assert Address.parse(str(address)) == address
    assert address.kind is AddressKind.OWNER
    assert address.participant_id is None


def test_a_channel_address_keeps_its_id() -> None:
    address = Address.parse("channel:C0123:odd")
    assert (address.kind, address.value) == (AddressKind.CHANNEL, "C0123:odd")


@pytest.mark.parametrize("text", ["", "participant:", "participant:x1", "user:U1", "C123"])
def test_text_that_is_not_an_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"not an outbox address|not a participant id"):
        Address.parse(text)


def test_a_participant_not_yet_stored_has_no_address() -> None:
    with pytest.raises(ValueError, match="has no address"):
        Address.participant(None)
