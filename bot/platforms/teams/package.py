"""The Teams app package: the zip an administrator uploads to install rcbot in Teams.

It holds ``manifest.json`` (Teams app manifest schema v1.22), ``color.png`` (192x192) and
``outline.png`` (32x32, white on transparent). The icons are drawn here, in code: three
connected nodes, the roles around a patient. The Azure bot's Microsoft App ID doubles as
the Teams app id, so one GUID ties the package to the bot registration.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final

from analytics.png import png_rows

MANIFEST_VERSION: Final = "1.22"
MANIFEST_SCHEMA: Final = (
    f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}"
    "/MicrosoftTeams.schema.json"
)
COLOR_ICON: Final = "color.png"
OUTLINE_ICON: Final = "outline.png"
COLOR_SIZE: Final = 192
OUTLINE_SIZE: Final = 32
DEFAULT_ACCENT: Final = "#1F6F8B"
SHORT_DESCRIPTION: Final = "Relational Coordination surveys for care teams, in chat."
FULL_DESCRIPTION: Final = (
    "rcbot runs a Relational Coordination survey where your staff already work. Each person "
    "rates how well they communicate and relate with each partner role around a patient "
    "(frequent, timely, accurate, problem-solving communication; shared goals, shared "
    "knowledge, mutual respect), one short card per role. rcbot reminds only those who have "
    "not answered, in their working hours, and when the round closes it posts anonymised "
    "results (groups too small to stay anonymous are hidden) for a facilitated discussion. "
    "Survey owners can message rcbot: status, nudge, close, results, help."
)
COMMANDS: Final[tuple[tuple[str, str], ...]] = (
    ("status", "Response rate of the open round, overall and per role (survey owners)."),
    ("nudge", "Remind everyone who has not answered yet, at most once a day each."),
    ("close", "Close the current round now and post the results."),
    ("results", "Where the latest results are."),
    ("help", "What rcbot can do for survey owners."),
)
SCOPES: Final = ("personal", "team")

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SEMVER = re.compile(r"^(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)$")
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_DOMAIN = re.compile(
    r"^(?:\*\.)?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::[0-9]{1,5})?$"
)
_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)
_MAX_DOMAINS: Final = 16


# --- manifest ------------------------------------------------------------------------------


def _text(field: str, value: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"The {field} must not be empty.")
    if len(value) > limit:
        raise ValueError(f"The {field} must be at most {limit} characters (it has {len(value)}).")
    return value


def _https(field: str, value: str) -> str:
    value = value.strip()
    if not re.match(r"^https://[^\s/?#]+", value) or len(value) > 2048:
        raise ValueError(f"The {field} must be an https:// address (got {value!r}).")
    return value


def _domains(values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        raise ValueError("valid_domains must be a list of host names, not one string.")
    found: list[str] = []
    for raw in values:
        domain = raw.strip().lower()
        if not _DOMAIN.match(domain):
            raise ValueError(
                f"{raw!r} is not a valid domain: give host names such as rcbot.example.org "
                "or *.example.org, without https:// or a path."
            )
        if domain not in found:
            found.append(domain)
    if len(found) > _MAX_DOMAINS:
        raise ValueError(f"Teams allows at most {_MAX_DOMAINS} valid domains ({len(found)} given).")
    return found


def build_manifest(
    *,
    app_id: str,
    website_url: str,
    privacy_url: str,
    terms_url: str,
    name: str = "rcbot",
    full_name: str = "rcbot: Relational Coordination surveys",
    short_description: str = SHORT_DESCRIPTION,
    full_description: str = FULL_DESCRIPTION,
    developer_name: str | None = None,
    version: str = "1.0.0",
    accent_color: str = DEFAULT_ACCENT,
    valid_domains: Sequence[str] = (),
) -> dict[str, Any]:
    """The app manifest, checked against the manifest schema's rules; ValueError if not."""
    app_id = app_id.strip()
    if not _GUID.match(app_id):
        raise ValueError(
            f"The Teams app id must be the Azure bot's Microsoft App ID, a GUID such as "
            f"00000000-0000-0000-0000-000000000000 (got {app_id!r})."
        )
    if not _SEMVER.match(version.strip()):
        raise ValueError(f"The app version must look like 1.0.0 (got {version!r}).")
    if not _HEX_COLOR.match(accent_color.strip()):
        raise ValueError(f"The accent colour must look like #1F6F8B (got {accent_color!r}).")
    short_name = _text("app name", name, 30)
    commands = [{"title": title, "description": text} for title, text in COMMANDS]
    return {
        "$schema": MANIFEST_SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": version.strip(),
        "id": app_id,
        "developer": {
            "name": _text("developer name", developer_name or short_name, 32),
            "websiteUrl": _https("website URL", website_url),
            "privacyUrl": _https("privacy URL", privacy_url),
            "termsOfUseUrl": _https("terms of use URL", terms_url),
        },
        "name": {"short": short_name, "full": _text("full app name", full_name, 100)},
        "description": {
            "short": _text("short description", short_description, 80),
            "full": _text("full description", full_description, 4000),
        },
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": accent_color.strip().upper(),
        "bots": [
            {
                "botId": app_id,
                "scopes": list(SCOPES),
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [{"scopes": [scope], "commands": commands} for scope in SCOPES],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": _domains(valid_domains),
        "defaultInstallScope": "personal",
    }


# --- icons ---------------------------------------------------------------------------------


def png(width: int, height: int, rows: Sequence[bytes], *, alpha: bool) -> bytes:
    """A PNG of 8-bit RGB or RGBA rows (no filtering), written with the standard library."""
    return png_rows(width, height, rows, alpha=alpha, level=9)


def _segment_distance(
    px: float, py: float, a: tuple[float, float], b: tuple[float, float]
) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = max(0.0, min(1.0, ((px - a[0]) * dx + (py - a[1]) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - a[0] - t * dx, py - a[1] - t * dy)


def _coverage(
    size: int, nodes: Sequence[tuple[float, float]], radius: float, line: float
) -> list[list[float]]:
    """How much of each pixel the motif covers (0..1): nodes joined in a triangle.

    Positions are fractions of the icon; edges are anti-aliased from the signed distance.
    """
    scale = float(size)
    centres = [(x * scale, y * scale) for x, y in nodes]
    edges = [(centres[i], centres[(i + 1) % len(centres)]) for i in range(len(centres))]
    r, w = radius * scale, line * scale / 2
    grid: list[list[float]] = []
    for j in range(size):
        row: list[float] = []
        for i in range(size):
            px, py = i + 0.5, j + 0.5
            d = min(math.hypot(px - cx, py - cy) - r for cx, cy in centres)
            d = min(d, *(_segment_distance(px, py, a, b) - w for a, b in edges))
            row.append(max(0.0, min(1.0, 0.5 - d)))
        grid.append(row)
    return grid


@cache
def color_icon(accent: str = DEFAULT_ACCENT) -> bytes:
    """192x192: a white motif inside the central area, on the accent colour."""
    red, green, blue = (int(accent[k : k + 2], 16) for k in (1, 3, 5))
    nodes = ((0.5, 0.3), (0.3, 0.66), (0.7, 0.66))
    cover = _coverage(COLOR_SIZE, nodes, radius=0.085, line=0.04)
    rows = []
    for line in cover:
        row = bytearray()
        for a in line:
            row += bytes(round(c + (255 - c) * a) for c in (red, green, blue))
        rows.append(bytes(row))
    return png(COLOR_SIZE, COLOR_SIZE, rows, alpha=False)


@cache
def outline_icon() -> bytes:
    """32x32: the same motif in white on a transparent background."""
    nodes = ((0.5, 0.2), (0.19, 0.76), (0.81, 0.76))
    cover = _coverage(OUTLINE_SIZE, nodes, radius=0.14, line=0.09)
    rows = [b"".join(bytes((255, 255, 255, round(255 * a))) for a in line) for line in cover]
    return png(OUTLINE_SIZE, OUTLINE_SIZE, rows, alpha=True)


# --- the package ---------------------------------------------------------------------------


def _zip(files: Sequence[tuple[str, bytes]]) -> bytes:
    """A deterministic zip: the same inputs give the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def build_package(
    out: Path,
    *,
    app_id: str,
    website_url: str,
    privacy_url: str,
    terms_url: str,
    name: str = "rcbot",
    full_name: str = "rcbot: Relational Coordination surveys",
    short_description: str = SHORT_DESCRIPTION,
    full_description: str = FULL_DESCRIPTION,
    developer_name: str | None = None,
    version: str = "1.0.0",
    accent_color: str = DEFAULT_ACCENT,
    valid_domains: Sequence[str] = (),
) -> Path:
    """Write the Teams app package to ``out`` and return its path.

    Everything is checked before anything is written (ValueError with one clear sentence),
    and the zip is written to a temporary file next to ``out`` then renamed, so ``out`` is
    either the complete new package or untouched. Raise ``version`` for every upload that
    changes the manifest: Teams keeps the old one otherwise.
    """
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"{out} is a folder; give the path of the .zip file to write.")
    manifest = build_manifest(
        app_id=app_id,
        website_url=website_url,
        privacy_url=privacy_url,
        terms_url=terms_url,
        name=name,
        full_name=full_name,
        short_description=short_description,
        full_description=full_description,
        developer_name=developer_name,
        version=version,
        accent_color=accent_color,
        valid_domains=valid_domains,
    )
    data = _zip(
        [
            ("manifest.json", (json.dumps(manifest, indent=2) + "\n").encode()),
            (COLOR_ICON, color_icon(manifest["accentColor"])),
            (OUTLINE_ICON, outline_icon()),
        ]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out


__all__ = [
    "COMMANDS",
    "MANIFEST_VERSION",
    "build_manifest",
    "build_package",
    "color_icon",
    "outline_icon",
]
