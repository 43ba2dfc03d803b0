"""The kiosk page as a Starlette app over one kiosk :class:`~discreet.engine.Engine`.

Routes (every page is server-rendered; forms post and redirect, so the page
works with the keyboard, a touch screen or a screen reader alike)::

    GET  /                 the start screen (language from Accept-Language, or ?lang=)
    POST /start            start a visit: a new session id, the page's only cookie
    GET  /visit            recommendations, each with "why this?"; ?category= browses a topic
    POST /feedback         item=ID, kind=like|dismiss: Engine.record, then back to /visit
    POST /forget           "forget me": Engine.erase_session, back to the start screen
    GET  /privacy          the data card (Engine.data_card) and the notices
    GET  /visit/status     {"active": bool}: the page's timer asks it, without resetting it
    GET  /static/NAME      the stylesheet and the script, from the package

Every response carries a strict Content-Security-Policy (only the package's own
stylesheet and script, no inline code, no framing) and ``Cache-Control:
no-store``, so that the back button cannot bring a previous visit back. Only
requests addressed to the loopback host names are answered (no DNS
rebinding), and a form posted from another origin is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from discreet import i18n
from discreet.engine import Engine
from discreet.i18n import _
from discreet.kiosk_web import pages
from discreet.kiosk_web.visit import Visit, VisitDesk

#: The one cookie: the visit's session id, with no expiry (it dies with the browser session).
COOKIE = "visit"
#: Recommendations on the visit screen.
PAGE_SIZE = 8
#: The host names the page answers to.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
#: A form is a few short fields; anything longer is refused unread.
MAX_FORM_BYTES = 4096
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # "no-referrer" would make a form's Origin "null"
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
STATIC = {"kiosk.css": "text/css; charset=utf-8", "kiosk.js": "text/javascript; charset=utf-8"}
FEEDBACK_KINDS = {"like": "like", "dismiss": "dismiss"}


def preferred_language(accept_language: str) -> str:
    """The supported language a browser's ``Accept-Language`` prefers most, else English.

    >>> preferred_language("fr-CH, fr;q=0.9, es;q=0.8, en;q=0.7")
    'es'
    """
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:32]):
        tag, _sep, params = part.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        lang = i18n.primary(tag)
        if lang is not None and weight > 0:
            ranked.append((-weight, position, lang))
    return min(ranked)[2] if ranked else i18n.DEFAULT


def _with_security_headers(app: ASGIApp) -> ASGIApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = message.get("headers", [])
                headers = [(k, v) for k, v in kept if k.decode() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return guarded


class KioskPage:
    """The routes' state: the Engine, the visit desk, the catalog's frame."""

    def __init__(self, engine: Engine, desk: VisitDesk) -> None:
        self.engine = engine
        self.desk = desk
        self.static = {
            name: (resources.files("discreet.kiosk_web") / "static" / name).read_bytes()
            for name in STATIC
        }
        self.poll_ms = int(min(5.0, max(0.5, desk.idle_seconds / 4)) * 1000)

    # ---- helpers -----------------------------------------------------------------------
    def _visit(self, request: Request) -> Visit | None:
        return self.desk.find(request.cookies.get(COOKIE))

    def _lang(self, request: Request, visit: Visit | None) -> str:
        asked = i18n.primary(request.query_params.get("lang", ""))
        if visit is not None:
            visit.lang = asked or visit.lang
            return visit.lang
        return asked or preferred_language(request.headers.get("accept-language", ""))

    def _frame(self, lang: str, request: Request, visit: Visit | None) -> pages.Frame:
        catalog = self.engine.catalog
        query = {k: v for k, v in request.query_params.items() if k in ("category",)}
        return pages.Frame(
            lang=lang,
            shop=catalog.manifest.name,
            notices=catalog.manifest.notices,
            here=request.url.path,
            query=query,
            poll_ms=self.poll_ms if visit is not None else 0,
        )

    @staticmethod
    def _html(body: str, request: Request, visit: Visit | None) -> HTMLResponse:
        response = HTMLResponse(body)
        if visit is None and COOKIE in request.cookies:  # an id that no longer names a visit
            response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @staticmethod
    async def _form(request: Request) -> dict[str, str] | None:
        """The posted form, or ``None`` for a post this page would never make."""
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return None
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return None
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            return None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return None
        try:
            return dict(parse_qsl(body.decode("utf-8"), max_num_fields=8))
        except (UnicodeDecodeError, ValueError):
            return None

    @staticmethod
    def _refused() -> PlainTextResponse:
        message = _("refused: this page takes only its own forms, from its own address")
        return PlainTextResponse(message + "\n", status_code=403)

    # ---- routes ------------------------------------------------------------------------
    async def start_screen(self, request: Request) -> Response:
        """``GET /``."""
        visit = self._visit(request)
        if visit is not None:
            return RedirectResponse("/visit", status_code=303)
        with i18n.use(self._lang(request, None)) as lang:
            said = (
                _("Forgotten: nothing of your visit is left.")
                if "forgotten" in request.query_params
                else ""
            )
            return self._html(
                pages.start_screen(self._frame(lang, request, None), said), request, None
            )

    async def start(self, request: Request) -> Response:
        """``POST /start``."""
        form = await self._form(request)
        if form is None:
            return self._refused()
        visit = self.desk.start(i18n.primary(form.get("lang", "")) or i18n.DEFAULT)
        response = RedirectResponse("/visit", status_code=303)
        response.set_cookie(COOKIE, visit.token, path="/", httponly=True, samesite="strict")
        return response

    async def visit(self, request: Request) -> Response:
        """``GET /visit``."""
        visit = self._visit(request)
        if visit is None:
            return RedirectResponse("/", status_code=303)
        self.desk.touch(visit)
        taxonomy = self.engine.catalog.taxonomy
        category = request.query_params.get("category", "")
        category = category if category in taxonomy else ""
        with i18n.use(self._lang(request, visit)) as lang:
            recommendations = self.engine.recommend(PAGE_SIZE, category=category or None)
            said, visit.said = visit.said, ""
            body = pages.visit_screen(
                self._frame(lang, request, visit),
                recommendations,
                taxonomy,
                self.engine.interests(),
                category=category,
                said=said,
            )
        return self._html(body, request, visit)

    async def feedback(self, request: Request) -> Response:
        """``POST /feedback``."""
        form = await self._form(request)
        if form is None or form.get("kind") not in FEEDBACK_KINDS:
            return self._refused()
        visit = self._visit(request)
        if visit is None:  # the visit ended (forgotten, idle, replaced): nothing is recorded
            return RedirectResponse("/", status_code=303)
        self.desk.touch(visit)
        category = form.get("category", "")
        with i18n.use(visit.lang):
            try:
                item = self.engine.catalog.item(form.get("item", ""))
            except KeyError:
                visit.said = _("That book is not in this shop's catalog.")
            else:
                kept = self.engine.record(item.id, FEEDBACK_KINDS[form["kind"]])
                if kept is None:
                    visit.said = _("Not kept: this topic is sensitive, so nothing was recorded.")
                elif form["kind"] == "like":
                    visit.said = _("Liked: {title}").format(title=item.title)
                else:
                    visit.said = _("Fewer like this: {title}").format(title=item.title)
        query = urlencode({"category": category}) if category else ""
        return RedirectResponse("/visit" + ("?" + query if query else ""), status_code=303)

    async def forget(self, request: Request) -> Response:
        """``POST /forget``: the visit ends now, whoever's it was."""
        form = await self._form(request)
        if form is None:
            return self._refused()
        visit = self._visit(request)
        lang = visit.lang if visit is not None else i18n.DEFAULT
        if visit is not None:
            self.desk.end()
        response = RedirectResponse("/?" + urlencode({"lang": lang, "forgotten": "1"}), 303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def privacy(self, request: Request) -> Response:
        """``GET /privacy``."""
        visit = self._visit(request)
        if visit is not None:
            self.desk.touch(visit)
        with i18n.use(self._lang(request, visit)) as lang:
            card = self.engine.data_card()
            back = "/visit" if visit is not None else "/?" + urlencode({"lang": lang})
            body = pages.privacy_screen(self._frame(lang, request, visit), card, back)
        return self._html(body, request, visit)

    async def status(self, request: Request) -> Response:
        """``GET /visit/status``: asking does not count as activity."""
        return JSONResponse({"active": self._visit(request) is not None})

    async def asset(self, request: Request) -> Response:
        """``GET /static/NAME``."""
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found\n", status_code=404)
        return Response(self.static[name], media_type=STATIC[name])

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Wipe an idle visit on time, even when no page is open to notice."""

        async def watch() -> None:
            tick = min(1.0, self.desk.idle_seconds / 4)
            while True:
                await asyncio.sleep(tick)
                self.desk.expire()

        watcher = asyncio.create_task(watch())
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self.desk.end()


def create_app(engine: Engine, idle_seconds: float) -> ASGIApp:
    """The kiosk page over ``engine`` (opened with ``kiosk=True``), for uvicorn.

    A visit is wiped after ``idle_seconds`` without a visitor's action.
    """
    page = KioskPage(engine, VisitDesk(engine, idle_seconds))
    app = Starlette(
        routes=[
            Route("/", page.start_screen),
            Route("/start", page.start, methods=["POST"]),
            Route("/visit", page.visit),
            Route("/feedback", page.feedback, methods=["POST"]),
            Route("/forget", page.forget, methods=["POST"]),
            Route("/privacy", page.privacy),
            Route("/visit/status", page.status),
            Route("/static/{name}", page.asset),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK_HOSTS))],
        lifespan=page.lifespan,
    )
    return _with_security_headers(app)
