"""Configuration from the environment and a ``.env`` file in the working directory, checked
by pydantic. Secrets stay secret.

The variables are read here (:func:`environment`) rather than by pydantic-settings, whose
import (asyncio and ssl with it, and every settings source it supports) was a fifth of a
quick command's start-up. What it did for these settings is kept: a variable's name matches
in any case, the environment wins over ``.env``, which python-dotenv reads (``${VAR}``
expanded), a bare ``NAME`` line there sets nothing, and unknown variables are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from surveys.persistence import DEFAULT_DATABASE_URL

ENV_FILE = Path(".env")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A setting in the environment or .env is malformed; one sentence names it."""


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseModel):
    """Each field is read from the variable its alias names; :func:`load_settings` reads them."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, validate_default=True)

    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias=_env("DATABASE_URL"))

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))

    microsoft_app_id: str | None = Field(None, validation_alias=_env("MICROSOFT_APP_ID"))
    microsoft_app_password: SecretStr | None = Field(
        None, validation_alias=_env("MICROSOFT_APP_PASSWORD")
    )
    microsoft_app_certificate: Path | None = Field(
        None, validation_alias=_env("MICROSOFT_APP_CERTIFICATE")
    )
    """A .pfx certificate for the bot's identity, instead of MICROSOFT_APP_PASSWORD."""
    microsoft_app_tenant_id: str | None = Field(
        None, validation_alias=_env("MICROSOFT_APP_TENANT_ID")
    )

    teams_anonymous: bool = Field(False, validation_alias=_env("RCBOT_TEAMS_ANONYMOUS"))
    """Local trial mode: Teams requests are not signed and the connector gets no token (for
    the Microsoft 365 Agents Playground on one machine only; never with MICROSOFT_APP_ID)."""

    slack_post_rate: float | None = Field(
        None, gt=0, validation_alias=_env("RCBOT_SLACK_POST_RATE")
    )
    """Messages a second rcbot posts at most (set it a little under your workspace's limit)."""
    teams_service_url: str = Field(
        "https://smba.trafficmanager.net/teams/", validation_alias=_env("RCBOT_TEAMS_SERVICE_URL")
    )
    """The Bot Connector of your tenant's region; replies use the URL each activity gives."""
    graph_url: str = Field(
        "https://graph.microsoft.com/v1.0", validation_alias=_env("RCBOT_GRAPH_URL")
    )
    microsoft_authority: str | None = Field(
        None, validation_alias=_env("RCBOT_MICROSOFT_AUTHORITY")
    )
    """Default: https://login.microsoftonline.com/<tenant>."""
    public_url: str | None = Field(None, validation_alias=_env("RCBOT_PUBLIC_URL"))
    """The HTTPS address of ``rcbot serve``, for images and files that Teams cards link to."""

    clock_start: datetime | None = Field(None, validation_alias=_env("RCBOT_CLOCK_START"))
    time_scale: float = Field(1.0, gt=0, validation_alias=_env("RCBOT_TIME_SCALE"))
    clock_anchor: float | None = Field(None, validation_alias=_env("RCBOT_CLOCK_ANCHOR"))
    log_level: str = Field("INFO", validation_alias=_env("RCBOT_LOG_LEVEL"))
    reports_dir: Path = Field(Path("rcbot-reports"), validation_alias=_env("RCBOT_REPORTS_DIR"))
    """Where each closed round's files (images, CSV, workbook, report) are written."""
    file_link_days: int = Field(30, gt=0, le=3650, validation_alias=_env("RCBOT_FILE_LINK_DAYS"))
    """How long a link to a published file (Teams card images, the owners' workbook) works."""
    tick: float | None = Field(None, gt=0, validation_alias=_env("RCBOT_TICK_SECONDS"))
    """How often (real seconds) the scheduler looks for due work."""
    analysis_process: bool = Field(True, validation_alias=_env("RCBOT_ANALYSIS_PROCESS"))
    """Analyse closed rounds in a separate process, at a lower scheduling priority (the
    analysis then never holds the web server's interpreter lock, nor takes a core from its
    acknowledgements); false: in a worker thread of the server's own process."""

    @property
    def tick_seconds(self) -> float:
        if self.tick is not None:
            return self.tick
        return 2.0 if self.clock_start is not None else 30.0

    @field_validator("clock_start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must have a UTC offset, e.g. 2026-03-02T09:00:00+00:00")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.strip().upper()

    @field_validator(
        "slack_api_url",
        "teams_service_url",
        "graph_url",
        "microsoft_authority",
        "public_url",
        mode="before",
    )
    @classmethod
    def _url(cls, value: object) -> object:
        if isinstance(value, str) and value.strip():
            parsed = urlparse(value.strip())
            if parsed.scheme not in {"http", "https"} or not parsed.netloc:
                raise ValueError("must be an http(s) address such as https://rcbot.example.org")
            return value.strip()
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


_EXPECTED = {
    "float_parsing": "must be a number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_parsing": "must be true or false",
    "datetime_parsing": "must be an ISO 8601 date-time with an offset (2026-03-02T09:00:00+00:00)",
    "datetime_from_date_parsing": "must be an ISO 8601 date-time with an offset",
    "path_type": "must be a path",
    "string_too_long": "is too long",
}


def variable_of(field: str) -> str:
    """The environment variable a settings field is read from."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices) and alias.choices:
        return str(alias.choices[0])
    return field.upper()


def explain(exc: ValidationError) -> str:
    """One sentence for the first malformed setting: the variable, what it must be, and
    (unless it is a secret) what it is."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    variable = variable_of(field)
    kind = error["type"]
    if kind in _EXPECTED:
        need = _EXPECTED[kind]
    elif kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        words = {
            "greater_than": "greater than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        limit = next(iter((error.get("ctx") or {}).values()), "")
        shown_limit = f"{limit:g}" if isinstance(limit, float) else str(limit)
        need = f"must be {words} {shown_limit}"
    else:
        need = str(error["msg"]).removeprefix("Value error, ")
        need = need[:1].lower() + need[1:]
    secret = any(word in variable for word in ("TOKEN", "SECRET", "PASSWORD"))
    given = error.get("input")
    shown = "" if secret or not isinstance(given, str) else f" (it is '{given[:60]}')"
    return f"The setting {variable} {need}{shown}; fix it in the environment or .env."


def variables() -> Iterator[str]:
    """The names of the variables the settings are read from."""
    for info in Settings.model_fields.values():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            yield from (name for name in alias.choices if isinstance(name, str))


def environment(
    environ: Mapping[str, str] | None = None, env_file: Path = ENV_FILE
) -> dict[str, str]:
    """The settings' variables that are set, by the names the fields know them by: from
    ``env_file`` (when it exists), then from the environment, which wins."""
    wanted = {name.lower(): name for name in variables()}
    found: dict[str, str] = {}
    if env_file.is_file() or env_file.is_fifo():
        from dotenv import dotenv_values

        for name, value in dotenv_values(env_file, encoding="utf-8").items():
            if value is not None and name.lower() in wanted:
                found[wanted[name.lower()]] = value
    for name, value in (os.environ if environ is None else environ).items():
        if name.lower() in wanted:
            found[wanted[name.lower()]] = value
    return found


def load_settings() -> Settings:
    """The settings, or SettingsError naming the first malformed variable (never a
    traceback)."""
    try:
        return Settings.model_validate(environment())
    except ValidationError as exc:
        raise SettingsError(explain(exc)) from None
