"""Reading a participants file (CSV or XLSX) into checked records, all or nothing.

Columns: ``email,name,role`` are required; ``timezone``, ``platform``, ``slack_user_id``,
``teams_user_id`` and ``team`` are optional. Every problem in the file is collected with its
line number and column, so an owner can fix the whole file in one pass. One chat identity is
one participant: an e-mail, a Slack user id or a Teams user id may appear on one row only.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from surveys.errors import InvalidInput
from surveys.model import (
    Email,
    Platform,
    check_role_name,
    check_timezone,
    parse_email,
    role_key,
)

REQUIRED: Final = ("email", "name", "role")
OPTIONAL: Final = ("timezone", "platform", "slack_user_id", "teams_user_id", "team")
MAX_PROBLEMS_SHOWN: Final = 50
MAX_ROWS: Final = 50_000
"""Most participants one file may hold; a larger file is refused before it is parsed."""
MAX_FILE_BYTES: Final = 20 * 1024 * 1024
"""Largest participants file (20 MB, about 100,000 typical rows of CSV)."""
MAX_LENGTHS: Final = {"name": 200, "team": 120, "slack_user_id": 64, "teams_user_id": 200}
"""Longest value of each free-text column (what the database holds)."""
PLATFORM_ID_COLUMNS: Final = {Platform.SLACK: "slack_user_id", Platform.TEAMS: "teams_user_id"}
"""The column of the participants CSV that holds each platform's user id."""


def identity_key(user_id: str) -> str:
    """How two chat user ids are compared: trimmed and case-folded (Entra object ids are
    GUIDs in any case; Slack ids are upper case), so one account cannot hide behind its
    spelling."""
    return user_id.strip().casefold()


@dataclass(frozen=True)
class ParticipantRecord:
    line: int
    email: Email
    name: str
    role: str
    platform: Platform
    timezone: str | None
    team: str | None
    user_ids: Mapping[Platform, str]
    """The user ids the file gave, by platform."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "header"
        return f"{where}, {self.column}: {self.reason}"


class ImportRejected(InvalidInput):
    """The file has problems; nothing was imported."""

    def __init__(self, source: str, problems: Sequence[RowProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        rows = len({p.line for p in problems if p.line})
        parts = ["the header"] if any(not p.line for p in problems) else []
        if rows:
            parts.append(f"{rows} row{'s' * (rows != 1)}")
        verb = "has" if len(parts) == 1 and rows <= 1 else "have"
        super().__init__(
            f"{source} was not imported: {' and '.join(parts)} {verb} problems; nothing was changed"
        )

    def details(self) -> list[str]:
        shown = [str(p) for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        hidden = len(self.problems) - len(shown)
        if hidden:
            shown.append(f"... and {hidden} more")
        return shown


@dataclass(frozen=True)
class RawTable:
    """Header and rows of a participants file, with each row's line number."""

    source: str
    header: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]


def read_table(path: Path) -> RawTable:
    """Read a .csv (UTF-8, with or without BOM) or .xlsx file's first sheet."""
    if not path.exists():
        raise InvalidInput(f"the file {path} does not exist")
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InvalidInput(
            f"{path} is {size / 1024 / 1024:.0f} MB, more than the {MAX_FILE_BYTES // 1024 // 1024}"
            f" MB a participants file may be (at most {MAX_ROWS:,} people); nothing was imported"
        )
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(path)
    if suffix in {".csv", ".txt"}:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput(f"{path} is not UTF-8 text; save it as CSV UTF-8") from None
        return parse_csv_text(text, str(path))
    raise InvalidInput(f"{path} must be a .csv or .xlsx file")


def parse_csv_text(text: str, source: str = "the file") -> RawTable:
    reader = csv.reader(io.StringIO(text))
    header: tuple[str, ...] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            line = reader.line_num
            if header is None:
                header = tuple(_column(v) for v in values)
                continue
            if not any(v.strip() for v in values):
                continue
            rows.append((line, _row(header, values)))
            if len(rows) > MAX_ROWS:
                raise _too_many(source)
    except csv.Error as exc:
        raise InvalidInput(
            f"{source} is not valid CSV near line {reader.line_num}: {exc}"
        ) from None
    if header is None:
        raise InvalidInput(f"{source} is empty")
    return RawTable(source, header, tuple(rows))


def _read_xlsx(path: Path) -> RawTable:
    from openpyxl import load_workbook  # imported here: only .xlsx imports pay for it

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise InvalidInput(f"{path} is not a readable .xlsx workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        header: tuple[str, ...] | None = None
        rows: list[tuple[int, dict[str, str]]] = []
        for line, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            values = ["" if c is None else str(c) for c in cells]
            if header is None:
                if not any(v.strip() for v in values):
                    continue
                header = tuple(_column(v) for v in values)
                continue
            if not any(v.strip() for v in values):
                continue
            rows.append((line, _row(header, values)))
            if len(rows) > MAX_ROWS:
                raise _too_many(str(path))
    finally:
        book.close()
    if header is None:
        raise InvalidInput(f"{path} is empty")
    return RawTable(str(path), header, tuple(rows))


def _too_many(source: str) -> InvalidInput:
    return InvalidInput(
        f"{source} has more than {MAX_ROWS:,} participants, the most one file may hold; "
        "split it by service or site into separate surveys; nothing was imported"
    )


def _column(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _row(header: Sequence[str], values: Sequence[str]) -> dict[str, str]:
    row = {name: (values[i].strip() if i < len(values) else "") for i, name in enumerate(header)}
    if len(values) > len(header) and any(v.strip() for v in values[len(header) :]):
        row["__extra__"] = "yes"
    return row


def check_table(
    table: RawTable,
    *,
    known_roles: Iterable[str] | None,
    default_platform: Platform = Platform.SLACK,
) -> list[ParticipantRecord]:
    """Turn a table into records, or raise ImportRejected listing every problem.

    ``known_roles`` of ``None`` accepts any role (the survey takes its roles from the file).
    """
    problems: list[RowProblem] = []
    known = set(REQUIRED) | set(OPTIONAL)
    for column in REQUIRED:
        if column not in table.header:
            problems.append(RowProblem(0, column, "this required column is missing"))
    for column in table.header:
        if not column:
            problems.append(RowProblem(0, "(blank)", "a column has no name"))
        elif column not in known:
            close = difflib.get_close_matches(column, sorted(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(RowProblem(0, column, f"is not a known column{hint}"))
    duplicate_columns = sorted({c for c in table.header if c and table.header.count(c) > 1})
    for column in duplicate_columns:
        problems.append(RowProblem(0, column, "appears twice in the header"))
    if any(column not in table.header for column in REQUIRED) or duplicate_columns:
        raise ImportRejected(table.source, problems)
    if not table.rows:
        raise InvalidInput(f"{table.source} has a header but no participants")

    roles_by_key = None if known_roles is None else {role_key(r): r for r in known_roles}
    first_line: dict[str, int] = {}
    first_id_line: dict[tuple[str, str], int] = {}
    records: list[ParticipantRecord] = []
    for line, row in table.rows:
        row_problems: list[RowProblem] = []

        def fail(
            column: str, reason: str, _line: int = line, _into: list[RowProblem] = row_problems
        ) -> None:
            _into.append(RowProblem(_line, column, reason))

        if row.get("__extra__"):
            fail("(extra)", "has more values than the header has columns")
        email: Email | None = None
        try:
            email = parse_email(row.get("email", ""))
        except InvalidInput as exc:
            fail("email", str(exc))
        if email is not None:
            if email in first_line:
                fail("email", f"{email} is already on line {first_line[email]}")
            else:
                first_line[email] = line
        name = " ".join(row.get("name", "").split())
        if not name:
            fail("name", "the name is empty")
        role = row.get("role", "")
        try:
            role = check_role_name(role)
            if roles_by_key is not None:
                if role_key(role) not in roles_by_key:
                    choices = ", ".join(roles_by_key.values())
                    fail("role", f"'{role}' is not a role of this survey ({choices})")
                else:
                    role = roles_by_key[role_key(role)]
        except InvalidInput as exc:
            fail("role", str(exc))
        timezone = row.get("timezone") or None
        if timezone is not None:
            try:
                check_timezone(timezone)
            except InvalidInput:
                fail("timezone", f"'{timezone}' is not an IANA timezone such as Europe/London")
        platform = _platform(row, default_platform, fail)
        for column, longest in MAX_LENGTHS.items():
            if len(row.get(column, "")) > longest:
                fail(column, f"is longer than {longest} characters")
        for column in PLATFORM_ID_COLUMNS.values():
            user_id = row.get(column, "")
            if not user_id:
                continue
            key = (column, identity_key(user_id))
            if key in first_id_line:
                fail(
                    column,
                    f"{user_id} is already on line {first_id_line[key]}; one chat account "
                    "can belong to one participant only",
                )
            else:
                first_id_line[key] = line
        if not row_problems and email is not None:
            records.append(
                ParticipantRecord(
                    line=line,
                    email=email,
                    name=name,
                    role=role,
                    platform=platform,
                    timezone=timezone,
                    team=" ".join(row.get("team", "").split()) or None,
                    user_ids=_user_ids(row),
                )
            )
        problems.extend(row_problems)
    if problems:
        raise ImportRejected(table.source, problems)
    return records


def _user_ids(row: dict[str, str]) -> dict[Platform, str]:
    return {p: row[column] for p, column in PLATFORM_ID_COLUMNS.items() if row.get(column)}


def _platform(row: dict[str, str], default: Platform, fail: Callable[[str, str], None]) -> Platform:
    text = row.get("platform", "").strip().lower()
    if text:
        try:
            return Platform(text)
        except ValueError:
            fail("platform", f"'{row['platform']}' is not a platform; use slack or teams")
            return default
    given = [p for p, column in PLATFORM_ID_COLUMNS.items() if row.get(column)]
    return given[0] if len(given) == 1 else default
