"""The Teams app package: a zip with the manifest and both icons, or nothing at all."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.platforms.teams.package import (
    COMMANDS,
    MANIFEST_VERSION,
    build_manifest,
    build_package,
    color_icon,
    outline_icon,
    png,
)

APP_ID = "0f6a1d3c-2b4e-4c7a-9d1e-123456789abc"
URLS = {
    "website_url": "https://rcbot.example.org",
    "privacy_url": "https://rcbot.example.org/privacy",
    "terms_url": "https://rcbot.example.org/terms",
}


def build(out: Path, **overrides: Any) -> Path:
    options: dict[str, Any] = {"app_id": APP_ID, **URLS, **overrides}
    return build_package(out, **options)


def read(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files["manifest.json"]), files


def pixel(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    value = image.getpixel((x, y))
    assert isinstance(value, tuple)
    return value


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_package_holds_the_manifest_and_both_icons(tmp_path: Path) -> None:
    out = build(tmp_path / "rcbot-teams.zip", valid_domains=["rcbot.example.org"])
    assert out == tmp_path / "rcbot-teams.zip"
    manifest, files = read(out)
    assert sorted(files) == ["color.png", "manifest.json", "outline.png"]  # at the zip's root
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert png_size(files["color.png"]) == (192, 192)
    assert png_size(files["outline.png"]) == (32, 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rcbot-teams.zip"]  # no temp file


def test_the_manifest(tmp_path: Path) -> None:
    manifest, _ = read(build(tmp_path / "p.zip", valid_domains=["rcbot.example.org"]))
    major, minor = (int(part) for part in manifest["manifestVersion"].split("."))
    assert (major, minor) >= (1, 17)
    assert manifest["manifestVersion"] == MANIFEST_VERSION
    assert manifest["$schema"].endswith(f"/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json")
    assert manifest["id"] == APP_ID
    assert manifest["version"] == "1.0.0"
    assert manifest["developer"] == {
        "name": "rcbot",
        "websiteUrl": URLS["website_url"],
        "privacyUrl": URLS["privacy_url"],
        "termsOfUseUrl": URLS["terms_url"],
    }
    assert manifest["name"]["short"] == "rcbot"
    assert len(manifest["description"]["short"]) <= 80
    assert manifest["accentColor"].startswith("#")
    (bot,) = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert bot["scopes"] == ["personal", "team"]
    assert bot["supportsFiles"] is False
    assert bot["isNotificationOnly"] is False
    lists = {tuple(entry["scopes"]): entry["commands"] for entry in bot["commandLists"]}
    assert set(lists) == {("personal",), ("team",)}
    for commands in lists.values():
        assert [c["title"] for c in commands] == ["status", "nudge", "close", "results", "help"]
        assert all(c["description"] for c in commands)
    assert manifest["permissions"] == ["identity", "messageTeamMembers"]
    assert manifest["validDomains"] == ["rcbot.example.org"]


def test_every_owner_command_is_listed() -> None:
    from bot.conversation.commands import HELP

    for title, _ in COMMANDS:
        assert f"`{title}" in HELP


def test_the_icons() -> None:
    color = Image.open(io.BytesIO(color_icon()))
    assert (color.size, color.mode) == ((192, 192), "RGB")
    # A white motif on the accent colour.
    assert pixel(color, 2, 2) == (0x1F, 0x6F, 0x8B)
    assert (255, 255, 255) in {pixel(color, x, y) for x in range(192) for y in range(192)}
    outline = Image.open(io.BytesIO(outline_icon()))
    assert (outline.size, outline.mode) == ((32, 32), "RGBA")
    pixels = [pixel(outline, x, y) for x in range(32) for y in range(32)]
    assert all(p[:3] == (255, 255, 255) for p in pixels)  # white only...
    assert pixel(outline, 0, 0)[3] == 0  # ...on transparent
    assert pixel(outline, 16, 16)[3] == 0  # the triangle's middle is see-through
    assert sum(p[3] == 255 for p in pixels) > 100


def test_png_refuses_rows_that_do_not_match() -> None:
    with pytest.raises(ValueError, match="size"):
        png(2, 2, [b"\x00" * 6], alpha=False)


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    first = build(tmp_path / "a.zip").read_bytes()
    assert build(tmp_path / "b.zip").read_bytes() == first


def test_a_new_package_replaces_the_old_one(tmp_path: Path) -> None:
    out = build(tmp_path / "p.zip")
    build(out, version="1.0.1", accent_color="#aa3355")
    manifest, files = read(out)
    assert manifest["version"] == "1.0.1"
    assert manifest["accentColor"] == "#AA3355"
    assert pixel(Image.open(io.BytesIO(files["color.png"])), 0, 0) == (
        0xAA,
        0x33,
        0x55,
    )


def test_parent_folders_are_created(tmp_path: Path) -> None:
    out = build(tmp_path / "dist" / "teams" / "rcbot.zip")
    assert zipfile.is_zipfile(out)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"app_id": "rcbot"}, "must be the Azure bot's Microsoft App ID, a GUID"),
        ({"app_id": ""}, "GUID"),
        ({"app_id": "0f6a1d3c2b4e4c7a9d1e123456789abc"}, "GUID"),
        ({"app_id": "{0f6a1d3c-2b4e-4c7a-9d1e-123456789abc}"}, "GUID"),
        ({"website_url": "http://rcbot.example.org"}, "website URL must be an https://"),
        ({"privacy_url": "rcbot.example.org/privacy"}, "privacy URL"),
        ({"terms_url": ""}, "terms of use URL"),
        ({"name": "x" * 31}, "app name must be at most 30 characters"),
        ({"name": "  "}, "app name must not be empty"),
        ({"short_description": "y" * 81}, "short description"),
        ({"developer_name": "z" * 33}, "developer name"),
        ({"version": "1.0"}, "version must look like 1.0.0"),
        ({"accent_color": "teal"}, "accent colour"),
        ({"valid_domains": ["https://rcbot.example.org/"]}, "without https://"),
        ({"valid_domains": "rcbot.example.org"}, "list of host names"),
        ({"valid_domains": [f"h{i}.example.org" for i in range(17)]}, "at most 16"),
    ],
)
def test_bad_inputs_are_refused_and_nothing_is_written(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    out = tmp_path / "new" / "rcbot-teams.zip"
    with pytest.raises(ValueError, match=message):
        build(out, **overrides)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_package_is_kept_when_the_new_one_is_refused(tmp_path: Path) -> None:
    out = build(tmp_path / "p.zip")
    before = out.read_bytes()
    with pytest.raises(ValueError, match="GUID"):
        build(out, app_id="not-a-guid")
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.zip"]


def test_a_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = build(tmp_path / "p.zip")
    before = out.read_bytes()

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        build(out, version="2.0.0")
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.zip"]


def test_a_folder_is_not_a_package_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a folder"):
        build(tmp_path)


def test_duplicate_domains_are_listed_once() -> None:
    manifest = build_manifest(
        app_id=APP_ID.upper(), valid_domains=["A.example.org", "a.example.org", "*.b.org"], **URLS
    )
    assert manifest["validDomains"] == ["a.example.org", "*.b.org"]
    assert manifest["bots"][0]["botId"] == APP_ID.upper()
