"""The RC instrument as configuration: question wording, scales and labels.

The validated wording of the Relational Coordination Survey is licensed by its owners, so
the text is data. rcbot ships its own paraphrase (``instruments/default.toml``); an owner can
load licensed wording or a translation from a TOML or YAML file. :func:`check_instrument`
lists every problem in such a file instead of stopping at the first.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from surveys.dimensions import DIMENSIONS
from surveys.errors import InvalidInput

SCALE_POINTS: Final = 5
MAX_LABEL: Final = 75
"""Slack refuses option text longer than this, so every label must fit."""
MAX_QUESTION: Final = 300
"""With a partner role (60 characters at most) filled in, a question stays well inside
Slack's 2,000-character input label and a Teams card."""
MAX_NAME: Final = 100
MAX_NOTICE: Final = 1000
"""Shown as small print under every invitation and page (Slack allows 2,000 there)."""
MAX_ITEM_LABEL: Final = 40
MAX_LANGUAGE: Final = 35
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")


PLACEHOLDERS: Final = ("partner", "partners")
_COLLECTIVE: Final = frozenset({"staff", "people", "team", "personnel", "police", "workforce"})


def people_in(role: str) -> str:
    """The people in a role, as the subject of a sentence that reads right whatever the role
    is called: a plural name as it is ("Doctors", "ED staff"), anything else as "people in
    the Doctor role" ("people in the Police liaison officer role")."""
    name = " ".join(role.split())
    words = name.split()
    last = words[-1].lower() if words else ""
    plural = last in _COLLECTIVE or (
        len(last) > 2 and last.endswith("s") and not last.endswith(("ss", "us", "is"))
    )
    return name if plural else f"people in the {name} role"


@dataclass(frozen=True)
class Item:
    dimension: str
    question: str
    scale: tuple[str, str, str, str, str]
    label: str

    def ask(self, partner: str) -> str:
        """The question with the partner role filled in: ``{partner}`` is the role's name as
        written, ``{partners}`` the people in it (see :func:`people_in`)."""
        return self.question.replace("{partners}", people_in(partner)).replace("{partner}", partner)


@dataclass(frozen=True)
class Instrument:
    name: str
    items: tuple[Item, ...]
    not_applicable: str
    language: str = "en"
    validated: bool = False
    notice: str = ""

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(item.dimension for item in self.items)

    def item(self, dimension: str) -> Item:
        for item in self.items:
            if item.dimension == dimension:
                return item
        raise KeyError(dimension)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": {
                "name": self.name,
                "language": self.language,
                "validated": self.validated,
                "notice": self.notice,
                "not_applicable": self.not_applicable,
            },
            "items": [
                {
                    "dimension": i.dimension,
                    "label": i.label,
                    "question": i.question,
                    "scale": list(i.scale),
                }
                for i in self.items
            ],
        }


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class InstrumentError(InvalidInput):
    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        count = len(problems)
        super().__init__(
            f"{source} is not a usable instrument ({count} problem{'s' * (count != 1)})"
        )


def read_instrument_file(path: Path) -> dict[str, Any]:
    """Parse a TOML or YAML instrument file into plain data, or raise InstrumentError."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InstrumentError(name, [Problem("file", "does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InstrumentError(name, [Problem("file", f"cannot be read ({exc})")]) from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: object = tomllib.loads(text)
        elif suffix in {".yaml", ".yml"}:
            data = _yaml(name, text)
        else:
            raise InstrumentError(name, [Problem("file", "must end in .toml, .yaml or .yml")])
    except tomllib.TOMLDecodeError as exc:
        raise InstrumentError(name, [Problem("file", f"is not valid TOML ({exc})")]) from None
    if not isinstance(data, dict):
        raise InstrumentError(name, [Problem("file", "must hold a table/mapping at the top")])
    return data


def _yaml(name: str, text: str) -> object:
    import yaml  # only for YAML files: every command imports this module

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InstrumentError(name, [Problem("file", f"is not valid YAML ({exc})")]) from None


def check_instrument(data: Mapping[str, Any]) -> list[Problem]:
    """Every problem that stops ``data`` from being a usable instrument (empty: usable)."""
    problems: list[Problem] = []
    head = data.get("instrument")
    if not isinstance(head, Mapping):
        problems.append(Problem("instrument", "the [instrument] section is missing"))
        head = {}
    for key in ("name", "not_applicable"):
        value = head.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(f"instrument.{key}", "is missing or empty"))
    name = head.get("name")
    if isinstance(name, str) and len(name) > MAX_NAME:
        problems.append(Problem("instrument.name", f"is longer than {MAX_NAME} characters"))
    notice = head.get("notice", "")
    if isinstance(notice, str) and len(notice) > MAX_NOTICE:
        problems.append(Problem("instrument.notice", f"is longer than {MAX_NOTICE} characters"))
    na = head.get("not_applicable")
    if isinstance(na, str) and len(na) > MAX_LABEL:
        problems.append(
            Problem("instrument.not_applicable", f"is longer than {MAX_LABEL} characters")
        )
    language = head.get("language", "en")
    if (
        not isinstance(language, str)
        or len(language) > MAX_LANGUAGE
        or not _LANGUAGE.match(language)
    ):
        problems.append(
            Problem("instrument.language", f"{language!r} is not a language code such as en or cy")
        )
    if not isinstance(head.get("validated", False), bool):
        problems.append(Problem("instrument.validated", "must be true or false"))
    if not isinstance(head.get("notice", ""), str):
        problems.append(Problem("instrument.notice", "must be text"))
    unknown_head = sorted(set(head) - {"name", "language", "validated", "notice", "not_applicable"})
    for key in unknown_head:
        problems.append(Problem(f"instrument.{key}", "is not a known setting"))

    items = data.get("items")
    if not isinstance(items, list) or not items:
        problems.append(Problem("items", "there must be one [[items]] entry per dimension"))
        items = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items, start=1):
        problems.extend(_check_item(index, item, seen))
    missing = [d for d in DIMENSIONS if d not in seen]
    if missing:
        problems.append(Problem("items", f"no question for: {', '.join(missing)}"))
    return problems


def _check_item(index: int, item: object, seen: dict[str, int]) -> list[Problem]:
    where = f"items[{index}]"
    if not isinstance(item, Mapping):
        return [Problem(where, "must be a table with dimension, question and scale")]
    problems: list[Problem] = []
    dimension = item.get("dimension")
    if not isinstance(dimension, str) or dimension not in DIMENSIONS:
        problems.append(
            Problem(
                f"{where}.dimension",
                f"{dimension!r} is not one of {', '.join(DIMENSIONS)}",
            )
        )
    elif dimension in seen:
        problems.append(
            Problem(
                f"{where}.dimension", f"'{dimension}' is already asked in items[{seen[dimension]}]"
            )
        )
    else:
        seen[dimension] = index
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        problems.append(Problem(f"{where}.question", "is missing or empty"))
    else:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(question) if f is not None}
        except ValueError:
            problems.append(Problem(f"{where}.question", "has an unmatched { or }"))
            fields = {"partner"}
        if not fields & set(PLACEHOLDERS):
            problems.append(
                Problem(
                    f"{where}.question",
                    "must contain {partners} (the people in the role, e.g. 'people in the "
                    "Doctor role') or {partner} (the role's name) where the role goes",
                )
            )
        others = sorted(fields - set(PLACEHOLDERS))
        if others:
            problems.append(
                Problem(f"{where}.question", f"has unknown placeholder(s): {', '.join(others)}")
            )
        if len(question) > MAX_QUESTION:
            problems.append(
                Problem(f"{where}.question", f"is longer than {MAX_QUESTION} characters")
            )
    scale = item.get("scale")
    if not isinstance(scale, list) or len(scale) != SCALE_POINTS:
        problems.append(
            Problem(f"{where}.scale", f"must list exactly {SCALE_POINTS} labels, weakest first")
        )
    else:
        for point, label in enumerate(scale, start=1):
            if not isinstance(label, str) or not label.strip():
                problems.append(Problem(f"{where}.scale[{point}]", "is missing or empty"))
            elif len(label) > MAX_LABEL:
                problems.append(
                    Problem(f"{where}.scale[{point}]", f"is longer than {MAX_LABEL} characters")
                )
        if all(isinstance(s, str) for s in scale) and len(set(scale)) != len(scale):
            problems.append(Problem(f"{where}.scale", "has the same label twice"))
    label = item.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        problems.append(Problem(f"{where}.label", "must be non-empty text when given"))
    elif isinstance(label, str) and len(label) > MAX_ITEM_LABEL:
        problems.append(Problem(f"{where}.label", f"is longer than {MAX_ITEM_LABEL} characters"))
    unknown = sorted(set(item) - {"dimension", "question", "scale", "label"})
    for key in unknown:
        problems.append(Problem(f"{where}.{key}", "is not a known setting"))
    return problems


def instrument_from_dict(data: Mapping[str, Any], source: str = "instrument") -> Instrument:
    """Build an Instrument from checked data; raise InstrumentError listing every problem."""
    problems = check_instrument(data)
    if problems:
        raise InstrumentError(source, problems)
    head = data["instrument"]
    by_dimension = {item["dimension"]: item for item in data["items"]}
    items = tuple(
        Item(
            dimension=d,
            question=by_dimension[d]["question"].strip(),
            scale=tuple(s.strip() for s in by_dimension[d]["scale"]),
            label=(by_dimension[d].get("label") or d.replace("_", " ").capitalize()).strip(),
        )
        for d in DIMENSIONS
    )
    return Instrument(
        name=head["name"].strip(),
        items=items,
        not_applicable=head["not_applicable"].strip(),
        language=head.get("language", "en"),
        validated=head.get("validated", False),
        notice=head.get("notice", "").strip(),
    )


def load_instrument(path: Path) -> Instrument:
    return instrument_from_dict(read_instrument_file(path), str(path))


def default_instrument() -> Instrument:
    from importlib import resources

    text = resources.files("surveys").joinpath("instruments/default.toml").read_text("utf-8")
    return instrument_from_dict(tomllib.loads(text), "the default instrument")
