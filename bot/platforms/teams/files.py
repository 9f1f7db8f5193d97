"""Files that Teams cards link to (report images, the owners' workbook).

Teams shows card images by URL and a bot cannot attach a file to a 1:1 message without a
consent flow, so rcbot keeps such files under an unguessable path and serves them from
``rcbot serve`` at ``RCBOT_PUBLIC_URL/files/...``. They hold only suppression-safe
aggregates, never individual answers.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from bot.messages import Attachment

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class PublicFiles:
    def __init__(self, folder: Path, base_url: str) -> None:
        self.folder = folder
        self.base_url = base_url.rstrip("/")

    def publish(self, attachment: Attachment) -> str:
        token = secrets.token_urlsafe(24)
        name = _SAFE.sub("_", attachment.filename) or "file"
        target = self.folder / token / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(attachment.content)
        return f"{self.base_url}/files/{token}/{name}"

    def path(self, token: str, name: str) -> Path | None:
        """The stored file for a URL's token and name, or None (never outside the folder)."""
        if _SAFE.search(token) or _SAFE.search(name) or name.startswith("."):
            return None
        target = self.folder / token / name
        return target if target.is_file() else None
