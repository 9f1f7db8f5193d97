"""A fake Microsoft Graph (the parts a Teams survey bot needs) on 127.0.0.1.

Routes (under :attr:`FakeGraph.graph_url`, i.e. ``http://127.0.0.1:PORT/v1.0``):

* ``GET  /users/{id | userPrincipalName | mail}``        - one user, 404 if unknown
* ``GET  /users?$filter=mail eq 'x'`` (or ``userPrincipalName eq 'x'``) - ``{"value": [...]}``
* ``GET  /appCatalogs/teamsApps[?$filter=externalId eq 'manifest id']`` - catalog apps
* ``GET  /users/{id}/teamwork/installedApps[?$expand=teamsApp&$filter=teamsApp/id eq 'x']``
* ``POST /users/{id}/teamwork/installedApps`` with ``{"teamsApp@odata.bind": ".../teamsApps/{id}"}``
  - 201 with no body; 409 if already installed; 403 if the user has no Teams licence;
  404 if the user or the catalog app is unknown
* ``GET  /users/{id}/teamwork/installedApps/{installationId}/chat``
  - ``{"id": "19:...@unq.gbl.spaces"}``

Every request needs a bearer token issued by the fake identity for
``https://graph.microsoft.com`` (unless built without an identity). Errors use Graph's
``{"error": {"code", "message", "innerError"}}`` shape.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web

from tests.fakes.teams_common import LocalServer, bearer_token, graph_error
from tests.fakes.teams_identity import GRAPH_RESOURCE, FakeIdentity

_FILTER = re.compile(r"^\s*(mail|userPrincipalName)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_CATALOG_FILTER = re.compile(r"^\s*(id|externalId)\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)
_APP_FILTER = re.compile(r"^\s*teamsApp/(id|externalId)\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)
_BIND = re.compile(r"/appCatalogs/teamsApps/([^/?#]+)$")


@dataclass
class GraphUser:
    id: str
    mail: str
    user_principal_name: str
    display_name: str
    licensed: bool = True
    installed_apps: dict[str, str] = field(default_factory=dict)  # installation id -> app id

    def as_json(self) -> dict[str, Any]:
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": self.id,
            "displayName": self.display_name,
            "mail": self.mail,
            "userPrincipalName": self.user_principal_name,
        }


@dataclass(frozen=True)
class CatalogApp:
    id: str
    external_id: str
    display_name: str


@dataclass(frozen=True)
class GraphRequest:
    method: str
    path: str
    query: str
    status: int


class FakeGraph(LocalServer):
    """Fake Graph. Add users with :meth:`add_user` and catalog apps with :meth:`add_app`."""

    def __init__(self, identity: FakeIdentity | None, *, bot_app_id: str = "") -> None:
        super().__init__()
        self._identity = identity
        self.bot_app_id = bot_app_id
        self.users: dict[str, GraphUser] = {}
        self.apps: dict[str, CatalogApp] = {}
        self.requests: list[GraphRequest] = []
        self._failures: list[tuple[int, str, str]] = []

    @property
    def graph_url(self) -> str:
        """Base URL to use instead of ``https://graph.microsoft.com/v1.0`` (no trailing /)."""
        return f"{self.base_url}/v1.0"

    def add_user(
        self,
        mail: str,
        *,
        user_id: str | None = None,
        display_name: str | None = None,
        user_principal_name: str | None = None,
        licensed: bool = True,
    ) -> GraphUser:
        user = GraphUser(
            id=user_id or str(uuid.uuid4()),
            mail=mail,
            user_principal_name=user_principal_name or mail,
            display_name=display_name or mail.split("@", 1)[0].title(),
            licensed=licensed,
        )
        self.users[user.id] = user
        return user

    def add_app(
        self, app_id: str, *, external_id: str | None = None, display_name: str = "rcbot"
    ) -> CatalogApp:
        """Publish an app in the tenant catalog (``app_id`` is the catalog id)."""
        app = CatalogApp(app_id, external_id or app_id, display_name)
        self.apps[app_id] = app
        return app

    def install(self, user: GraphUser, app_id: str) -> str:
        """Pre-install ``app_id`` for ``user`` (as if the user added it); returns the id."""
        installation_id = base64.urlsafe_b64encode(f"{user.id}##{app_id}".encode()).decode()
        user.installed_apps[installation_id] = app_id
        return installation_id

    def chat_id_for(self, user: GraphUser) -> str:
        """The 1:1 chat id Graph reports for the bot and ``user``."""
        return f"19:{user.id}_{self.bot_app_id or 'bot'}@unq.gbl.spaces"

    def fail_next(self, status: int, code: str = "ServiceNotAvailable", message: str = "") -> None:
        """Fail the next request with ``status`` (queue; one entry per call)."""
        self._failures.append((status, code, message or "Injected failure."))

    def find_user(self, key: str) -> GraphUser | None:
        lowered = key.lower()
        for user in self.users.values():
            if lowered in (user.id.lower(), user.mail.lower(), user.user_principal_name.lower()):
                return user
        return None

    # -- HTTP ------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/v1.0/appCatalogs/teamsApps", self._list_catalog)
        app.router.add_get("/v1.0/users", self._list_users)
        app.router.add_get("/v1.0/users/{user}", self._get_user)
        app.router.add_get("/v1.0/users/{user}/teamwork/installedApps", self._list_installed)
        app.router.add_post("/v1.0/users/{user}/teamwork/installedApps", self._install)
        app.router.add_get(
            "/v1.0/users/{user}/teamwork/installedApps/{installation}/chat", self._chat
        )
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await self._guarded(request, handler)
        self.requests.append(
            GraphRequest(request.method, request.path, request.query_string, response.status)
        )
        return response

    async def _guarded(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._identity is not None:
            token = bearer_token(request)
            if token is None:
                return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
            try:
                self._identity.verify_access_token(token, GRAPH_RESOURCE)
            except jwt.ExpiredSignatureError:
                return graph_error(
                    401,
                    "InvalidAuthenticationToken",
                    "Lifetime validation failed, the token is expired.",
                )
            except jwt.InvalidTokenError:
                return graph_error(
                    401, "InvalidAuthenticationToken", "Access token validation failure."
                )
        if self._failures:
            status, code, message = self._failures.pop(0)
            return graph_error(status, code, message)
        response: web.StreamResponse = await handler(request)
        return response

    def _user_or_404(self, request: web.Request) -> GraphUser | web.Response:
        key = request.match_info["user"]
        user = self.find_user(key)
        if user is None:
            return graph_error(
                404,
                "Request_ResourceNotFound",
                f"Resource '{key}' does not exist or one of its queried reference-property "
                "objects are not present.",
            )
        return user

    async def _list_catalog(self, request: web.Request) -> web.Response:
        apps = list(self.apps.values())
        expression = request.query.get("$filter")
        if expression is not None:
            match = _CATALOG_FILTER.match(expression)
            if match is None:
                return graph_error(400, "BadRequest", "Unsupported filter.")
            prop, value = match.group(1).lower(), match.group(2)
            apps = [a for a in apps if (a.id if prop == "id" else a.external_id) == value]
        return web.json_response(
            {
                "value": [
                    {
                        "id": a.id,
                        "externalId": a.external_id,
                        "displayName": a.display_name,
                        "distributionMethod": "organization",
                    }
                    for a in apps
                ]
            }
        )

    async def _list_users(self, request: web.Request) -> web.Response:
        expression = request.query.get("$filter")
        if expression is None:
            return web.json_response({"value": [u.as_json() for u in self.users.values()]})
        match = _FILTER.match(expression)
        if match is None:
            return graph_error(400, "Request_UnsupportedQuery", "Unsupported query.")
        prop, value = match.group(1).lower(), match.group(2).replace("''", "'").lower()
        found = [
            u.as_json()
            for u in self.users.values()
            if (u.mail if prop == "mail" else u.user_principal_name).lower() == value
        ]
        return web.json_response({"value": found})

    async def _get_user(self, request: web.Request) -> web.Response:
        user = self._user_or_404(request)
        if isinstance(user, web.Response):
            return user
        return web.json_response(user.as_json())

    def _installation_json(self, installation_id: str, app_id: str, expand: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"id": installation_id}
        if expand:
            app = self.apps.get(app_id) or CatalogApp(app_id, app_id, "")
            item["teamsApp"] = {
                "id": app.id,
                "externalId": app.external_id,
                "displayName": app.display_name,
                "distributionMethod": "organization",
            }
        return item

    async def _list_installed(self, request: web.Request) -> web.Response:
        user = self._user_or_404(request)
        if isinstance(user, web.Response):
            return user
        expand = "teamsApp" in request.query.get("$expand", "")
        items = list(user.installed_apps.items())
        expression = request.query.get("$filter")
        if expression is not None:
            match = _APP_FILTER.match(expression)
            if match is None:
                return graph_error(400, "BadRequest", "Unsupported filter.")
            prop, value = match.group(1).lower(), match.group(2)
            items = [
                (iid, aid)
                for iid, aid in items
                if (
                    aid
                    if prop == "id"
                    else self.apps.get(aid, CatalogApp(aid, aid, "")).external_id
                )
                == value
            ]
        return web.json_response(
            {"value": [self._installation_json(iid, aid, expand) for iid, aid in items]}
        )

    async def _install(self, request: web.Request) -> web.Response:
        user = self._user_or_404(request)
        if isinstance(user, web.Response):
            return user
        try:
            body = await request.json()
        except ValueError:
            return graph_error(400, "BadRequest", "Invalid request body.")
        bind = body.get("teamsApp@odata.bind") if isinstance(body, dict) else None
        match = _BIND.search(bind) if isinstance(bind, str) else None
        if match is None:
            return graph_error(400, "BadRequest", "teamsApp@odata.bind is required.")
        app_id = match.group(1)
        if app_id not in self.apps:
            return graph_error(404, "NotFound", f"App '{app_id}' was not found in the catalog.")
        if not user.licensed:
            return graph_error(
                403, "Forbidden", "User does not have a valid license for Microsoft Teams."
            )
        if app_id in user.installed_apps.values():
            return graph_error(409, "Conflict", "App is already installed for this user.")
        self.install(user, app_id)
        return web.Response(status=201)

    async def _chat(self, request: web.Request) -> web.Response:
        user = self._user_or_404(request)
        if isinstance(user, web.Response):
            return user
        installation_id = request.match_info["installation"]
        if installation_id not in user.installed_apps:
            return graph_error(404, "NotFound", "The installation was not found.")
        return web.json_response(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#chats/$entity",
                "id": self.chat_id_for(user),
            }
        )
