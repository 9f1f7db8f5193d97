"""A failed statement's message never carries its parameters (people's answers, e-mail
addresses), so no log of an error can leak them."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError


def test_a_failed_statement_does_not_show_its_parameters(engine: Engine) -> None:
    with pytest.raises(DBAPIError) as raised, engine.begin() as connection:
        connection.execute(
            text("INSERT INTO no_such_table (answer) VALUES (:answer)"),
            {"answer": "ann-rated-doctors-2"},
        )
    assert "ann-rated-doctors-2" not in str(raised.value)
    assert "hidden" in str(raised.value)
