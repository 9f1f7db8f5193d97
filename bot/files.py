"""Files rcbot publishes by link (Teams shows card images by URL and cannot take a file in a
1:1 message without a consent flow), and the rules that keep every other file unreachable.

A published file is a copy of what was analysed, written under
``RCBOT_REPORTS_DIR/public/<token>/<name>`` (readable by rcbot's user only) and linked as
``RCBOT_PUBLIC_URL/files/<token>/<name>``. ``/files/`` serves a request only when the token
and name have the one fixed shape rcbot issues (checked before the disk is touched), the
token has a row in ``file_links`` that has not expired, the name is the one issued, and the
resolved path lies strictly inside the published folder. Expired links and their copies are
removed by the scheduler. Only suppression-safe aggregates are ever published.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from bot.messages import Attachment
from surveys.links import FileLink, LinkStore

log = logging.getLogger(__name__)

TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{43}")
"""``secrets.token_urlsafe(32)``: 256 random bits, always 43 characters."""
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,80}(\.[A-Za-z0-9]{1,10})?")
DEFAULT_LINK_DAYS: Final = 30
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600


def safe_name(filename: str) -> str:
    """A file name of the one shape ``/files/`` accepts (``report.xlsx`` stays as it is)."""
    stem, dot, suffix = filename.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,10}", suffix):
        stem, suffix = filename, ""
    stem = re.sub(r"_+", "_", _UNSAFE.sub("_", stem)).strip("_-")[:80] or "file"
    return f"{stem}.{suffix}" if suffix else stem


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by rcbot's user only."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    path.chmod(PRIVATE_DIR)
    return path


def write_private(path: Path, content: bytes) -> None:
    """Write a file that is readable by rcbot's user only from the moment it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    path.chmod(PRIVATE_FILE)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: datetime


class PublishedFiles:
    def __init__(
        self,
        folder: Path,
        base_url: str,
        links: LinkStore,
        *,
        days: int = DEFAULT_LINK_DAYS,
    ) -> None:
        self.folder = folder
        self.base_url = base_url.rstrip("/")
        self.links = links
        self.lifetime = timedelta(days=days)

    def publish(self, attachment: Attachment) -> Link:
        """Copy the attachment's bytes under a new token; return its expiring link."""
        token = secrets.token_urlsafe(32)
        assert TOKEN.fullmatch(token)
        name = safe_name(attachment.filename)
        private_dir(self.folder)
        target = private_dir(self.folder / token) / name
        write_private(target, attachment.content)
        now = self.links.now()
        expires = now + self.lifetime
        self.links.issue(FileLink(token, name, sha256(attachment.content), now, expires))
        return Link(f"{self.base_url}/files/{token}/{name}", expires)

    def path(self, token: str, name: str) -> Path | None:
        """The stored file for a link's token and name, or None: the shapes are checked
        before anything else, and the path must resolve strictly inside the folder."""
        if not TOKEN.fullmatch(token) or not NAME.fullmatch(name):
            return None
        link = self.links.live(token)
        if link is None or link.name != name:
            return None
        try:
            root = self.folder.resolve(strict=True)
            target = (root / token / name).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if target.parent.parent != root or not target.is_file():
            return None
        return target

    def remove_expired(self) -> int:
        """Delete expired links and their copies; return how many."""
        expired = self.links.expired()
        for link in expired:
            if TOKEN.fullmatch(link.token):
                shutil.rmtree(self.folder / link.token, ignore_errors=True)
        self.links.forget([link.token for link in expired])
        if expired:
            log.info("removed %d expired file links", len(expired))
        return len(expired)
