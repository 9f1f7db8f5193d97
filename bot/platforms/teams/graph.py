"""The few Microsoft Graph calls rcbot needs to reach people in Teams proactively.

Find a person by e-mail, install rcbot for them if it is not yet (the app must be in the
organisation's catalogue), and read the 1:1 chat id with the bot. App-only token; the
permissions are User.Read.All and TeamsAppInstallation.ReadWriteSelfForUser.All.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp

TokenSource = Callable[[], Awaitable[str]]


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"Graph {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class GraphClient:
    def __init__(self, base_url: str, token: TokenSource, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session
        self._catalog_id: dict[str, str] = {}

    async def _call(
        self, method: str, path: str, *, json: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {await self.token()}"}
        async with self.session.request(
            method, f"{self.base_url}/{path}", json=json, headers=headers
        ) as response:
            body: dict[str, Any] = {}
            if response.content_type == "application/json":
                body = await response.json()
            if response.status >= 400:
                error = body.get("error") or {}
                raise GraphError(
                    response.status,
                    str(error.get("code", "error")),
                    str(error.get("message", response.reason)),
                )
            return body

    async def find_user(self, email: str) -> str | None:
        """The Entra object id of the user whose mail is ``email``, or None."""
        escaped = email.replace("'", "''")
        found = await self._call("GET", f"users?$filter={quote(f"mail eq '{escaped}'")}")
        users = found.get("value") or []
        if users:
            return str(users[0]["id"])
        try:  # the sign-in name (UPN) is often the e-mail even when mail differs
            user = await self._call("GET", f"users/{quote(email)}")
        except GraphError as exc:
            if exc.status == 404:
                return None
            raise
        return str(user["id"])

    async def catalog_id(self, external_id: str) -> str:
        """The organisation catalogue id of the app whose manifest id is ``external_id``."""
        if external_id not in self._catalog_id:
            query = quote(f"externalId eq '{external_id}'")
            apps = (await self._call("GET", f"appCatalogs/teamsApps?$filter={query}")).get(
                "value"
            ) or []
            if not apps:
                raise GraphError(404, "AppNotInCatalog", "rcbot is not in the Teams app catalogue")
            self._catalog_id[external_id] = str(apps[0]["id"])
        return self._catalog_id[external_id]

    async def personal_chat(self, user_id: str, external_id: str) -> str:
        """Install the app for ``user_id`` when needed and return the bot's 1:1 chat id."""
        catalog = await self.catalog_id(external_id)
        installation = await self._installation(user_id, catalog)
        if installation is None:
            try:
                await self._call(
                    "POST",
                    f"users/{user_id}/teamwork/installedApps",
                    json={
                        "teamsApp@odata.bind": f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{catalog}"
                    },
                )
            except GraphError as exc:
                if exc.status != 409:  # 409: installed meanwhile
                    raise
            installation = await self._installation(user_id, catalog)
            if installation is None:
                raise GraphError(404, "NotInstalled", "the installation did not appear")
        chat = await self._call(
            "GET", f"users/{user_id}/teamwork/installedApps/{installation}/chat"
        )
        return str(chat["id"])

    async def _installation(self, user_id: str, catalog: str) -> str | None:
        query = quote(f"teamsApp/id eq '{catalog}'")
        found = await self._call(
            "GET", f"users/{user_id}/teamwork/installedApps?$expand=teamsApp&$filter={query}"
        )
        apps = found.get("value") or []
        return str(apps[0]["id"]) if apps else None

    async def mail_of(self, user_id: str) -> str | None:
        try:
            user = await self._call("GET", f"users/{quote(user_id)}")
        except GraphError:
            return None
        mail = user.get("mail") or user.get("userPrincipalName")
        return str(mail).lower() if mail else None
