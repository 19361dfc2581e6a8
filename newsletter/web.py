"""``newsletter serve``: one-click unsubscribe (RFC 8058) and re-subscribe.

Each digest links to ``BASE/unsubscribe/<token>`` (:mod:`tokens` makes the
token; this app reads it back).  What the app promises:

- ``POST`` of the form field ``List-Unsubscribe=One-Click`` (as mail
  providers send it, ``multipart/form-data`` or urlencoded; some clients
  send it as text/plain, or send no body at all) unsubscribes at once and
  answers 200: recorded in the state, honoured by every command.
- ``GET`` only shows a page whose button posts that same form.  Link
  scanners and previews fetch every link, so a GET never changes anything.
- A forged, truncated or altered token gets 400 and changes nothing.  The
  token holds the address encrypted (the links of digests sent before
  that, signed with the address readable, still work): the app reads the
  address from the token, not from the config's subscribers.
- Nothing lists subscribers or tells whether an address is subscribed: a
  valid token gets the same pages whatever the state holds, and no page
  reads it.
- After unsubscribing, the page offers to re-subscribe (a POST with the same
  token to ``BASE/resubscribe/<token>``).

Forms post to relative URLs, so the app works behind a reverse proxy at any
path; it serves its routes under ``web.base_url``'s path, which the proxy
passes on unchanged.  Tokens are never logged (uvicorn's access log, which
would print every path, is off); each change is logged with the address.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from .config import SERVE_PORT, Config, load_config
from .errors import ConfigError, NewsletterError, Problem, StateError, cannot_listen
from .messages import ONE_CLICK
from .runner import stopped_by_signals
from .state import State, is_database_url, open_state, public_url
from .tokens import RESUBSCRIBE_PATH, UNSUBSCRIBE_PATH, BadToken, Links, links, old_secrets_problem

log = logging.getLogger(__name__)
# The form parser logs each malformed body it is sent as a warning: any client
# could add lines to the operator's log.  A malformed form is answered 400.
logging.getLogger("python_multipart").setLevel(logging.ERROR)

#: A one-click POST is one short field; anything longer is not one.
MAX_BODY = 8192
#: When a request the state could not take (locked, database down) may come again.
RETRY_AFTER_SECONDS = 60

#: Sent with every response: nothing cached or indexed, no framing (a hidden
#: frame could trick a click on the button), no Referer carrying the token.
SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"x-robots-tag", b"noindex, nofollow"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
]

_PAGE = jinja2.Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{ heading }} - {{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; padding: 0 1rem;
       color: #1f2937; line-height: 1.5; }
button { font: inherit; padding: .5rem 1.2rem; border-radius: 6px; border: 1px solid #1f2937;
         background: #1f2937; color: #fff; cursor: pointer; }
@media (prefers-color-scheme: dark) {
  body { background: #111827; color: #e5e7eb; }
  button { background: #e5e7eb; color: #111827; border-color: #e5e7eb; }
}
</style>
</head>
<body>
<h1>{{ heading }}</h1>
<p>{{ text }}</p>
{% if action is not none %}<form method="post" action="{{ action }}">
{% for name, value in fields %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}<button type="submit">{{ button }}</button>
</form>
{% endif %}</body>
</html>
""")


class _SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(config: Config, *, now: Callable[[], datetime] | None = None) -> Starlette:
    """The ASGI app for ``config`` (its ``web:``, state and title).

    ``now`` gives the time recorded for an unsubscribe (tests pin it).
    Raises :class:`ConfigError` without ``web:`` or without the signing key.
    """
    return _app(config, now).starlette()


def _app(config: Config, now: Callable[[], datetime] | None = None) -> _App:
    signed = links(config)
    if signed is None or config.web is None:
        raise ConfigError(
            Problem("`newsletter serve` needs a 'web:' section with base_url and secret_env: add `web:` with "
                    "`base_url: https://...` (where readers reach serve) and `secret_env: NEWSLETTER_SECRET` "
                    "indented under it (README \"Unsubscribe links\")", str(config.file))
        )
    old = old_secrets_problem(config)
    if old is not None:  # the links the old keys signed would all be refused
        raise ConfigError(old)
    return _App(config, signed, now or (lambda: datetime.now(UTC)))


#: At most one "signed with another key" warning per this many seconds.
OTHER_KEY_WARN_EVERY = 3600.0
#: How long the key ids sends recorded are kept before the state is read again.
LINK_KEYS_READ_EVERY = 60.0


class _App:
    def __init__(self, config: Config, signed: Links, now: Callable[[], datetime]) -> None:
        self.config, self.links, self.now = config, signed, now
        self.title = config.email.title
        self.warned_at: float | None = None
        self.keys_read_at: float | None = None
        self.recorded_keys: frozenset[str] = frozenset()
        self.state_target = config.state_target
        self.config_seen = _modified(config.file)
        self.rereading = threading.Lock()
        #: Set when serve is told to stop: a change waiting for another
        #: process's lock on the state gives up (503, try again) rather than
        #: holding the stop for the state's busy timeout.
        self.stopping = threading.Event()
        #: The PostgreSQL state changes are recorded in, opened once and kept
        #: (its URL, the state): see :meth:`_recorder`.
        self.kept: tuple[str, State] | None = None
        self.keeping = threading.Lock()

    def starlette(self) -> Starlette:
        assert self.config.web is not None
        # Under base_url's path, as a proxy passing the path on unchanged asks,
        # and at the root too: nginx's `location /news/ { proxy_pass
        # http://127.0.0.1:8058/; }` strips the prefix, and every one-click POST
        # got a 404 (the pages' forms post to relative URLs, right either way).
        prefix = urlsplit(self.config.web.base).path.rstrip("/")
        routes = [
            route
            for root in dict.fromkeys((prefix, ""))
            # With a slash after the token too (a link edited, or completed by
            # a client), answered in place: Starlette's 307 to the slashless
            # URL named this server's own host and left out the prefix a proxy
            # strips, and a one-click POST is not followed through a redirect.
            for slash in ("", "/")
            for route in (
                Route(root + UNSUBSCRIBE_PATH + slash, self.unsubscribe, methods=["GET", "POST"]),
                Route(root + RESUBSCRIBE_PATH + slash, self.resubscribe, methods=["GET", "POST"]),
                Route(root + "/healthz" + slash, self.health, methods=["GET"]),
            )
        ]
        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette):
            yield
            await run_in_threadpool(self.close)  # (serve() closes it too: it runs with lifespan off)

        app = Starlette(routes=routes, middleware=[Middleware(_SecurityHeaders)],
                        exception_handlers={404: self.not_found}, lifespan=lifespan)
        app.router.redirect_slashes = False
        return app

    async def not_found(self, request: Request, exc: Exception) -> Response:
        """Any other address (a link cut before its token, a guessed path): a
        page in the site's look saying where the working link is, not
        Starlette's bare "Not Found"."""
        return self.page("No such page", f"This address is not a page of {self.title}. To unsubscribe, use the "
                         "link at the bottom of your latest digest, or reply to it.", status=404)

    # -- pages ---------------------------------------------------------------------------

    def page(self, heading: str, text: str, *, status: int = 200, action: str | None = None,
             fields: tuple = (), button: str = "") -> HTMLResponse:
        html = _PAGE.render(heading=heading, text=text, title=self.title, action=action, fields=fields, button=button)
        return HTMLResponse(html, status_code=status)

    def bad_link(self) -> HTMLResponse:
        return self.page(
            "This link does not work",
            "It may have been cut short or changed on its way here. Use the unsubscribe link "
            "in your latest digest, or reply to it.",
            status=400,
        )

    def unsubscribed_page(self, email: str, token: str, slash: bool = False) -> HTMLResponse:
        return self.page(
            "Unsubscribed",
            f"{masked(email)} will get no more {self.title} emails. Changed your mind?",
            action=_sibling("resubscribe", token, slash),
            fields=(("resubscribe", "yes"),),
            button="Re-subscribe",
        )

    def resubscribed_page(self, email: str, token: str, slash: bool = False) -> HTMLResponse:
        return self.page(
            "Subscribed again",
            f"{masked(email)} will get {self.title} again, starting with the next digest.",
            action=_sibling("unsubscribe", token, slash),
            fields=(("List-Unsubscribe", "One-Click"),),
            button="Unsubscribe",
        )

    # -- endpoints -----------------------------------------------------------------------

    def _email(self, request: Request) -> str | None:
        try:
            return self.links.email(request.path_params["token"])
        except BadToken:
            return None

    def _other_key(self, token: str) -> None:
        """Warn (at most once an hour) when a refused link was made with a key
        a send recorded in the state (:meth:`State.record_link_key`) and this
        process does not have: the digests are made with another key than
        this process's (`send` from cron, `serve` under systemd, each with
        its own env file, or an old key dropped), and then nobody can
        unsubscribe.  Any key id can be written into a made-up link; only a
        send can record one, so no stranger can set the warning off.
        Neither the token nor an address is logged.  Runs in a worker
        thread (the state is read, at most once a minute)."""
        key_id = self.links.foreign_key_id(token)
        if key_id is None:
            return
        clock = time.monotonic()
        if self.warned_at is not None and clock - self.warned_at < OTHER_KEY_WARN_EVERY:
            return
        if key_id not in self._recorded_keys(clock):
            return
        self.warned_at = clock
        assert self.config.web is not None
        name = self.config.web.secret_env
        log.warning(
            "warning: %s: web.secret_env: refused a link made with another key than %s's: if `send` or `run` "
            "run with another %s than `serve`, no emailed unsubscribe link works; give every process the same "
            "key (after a change of key, name the one before in web.old_secret_env: the digests it signed carry its links)",
            self.config.where("web", "secret_env"), name, name,
        )

    def _recorded_keys(self, clock: float) -> frozenset[str]:
        """The key ids sends recorded, read again at most every
        :data:`LINK_KEYS_READ_EVERY` seconds: made-up links, however many,
        cost the state one read a minute."""
        if self.keys_read_at is None or clock - self.keys_read_at >= LINK_KEYS_READ_EVERY:
            self.keys_read_at = clock
            try:
                with open_state(self._state(), readonly=True) as state:
                    self.recorded_keys = state.link_keys()
            except NewsletterError as exc:
                log.error("serve: cannot read the state to check a refused link's key (%s)", exc)
        return self.recorded_keys

    async def unsubscribe(self, request: Request) -> Response:
        return await self._change(
            request, "unsubscribe", "Unsubscribe?", "Stop sending {title} to {email}?",
            ("List-Unsubscribe", "One-Click"), "Unsubscribe", self.unsubscribed_page, required=True,
        )

    async def resubscribe(self, request: Request) -> Response:
        return await self._change(
            request, "resubscribe", "Re-subscribe?", "Send {title} to {email} again?",
            ("resubscribe", "yes"), "Re-subscribe", self.resubscribed_page,
        )

    async def _change(
        self,
        request: Request,
        action: str,
        question: str,
        text: str,
        field: tuple[str, str],
        button: str,
        done: Callable[[str, str, bool], HTMLResponse],
        *,
        required: bool = False,
    ) -> Response:
        """Both endpoints: GET (or HEAD) asks, with a button posting ``field``;
        POST does it, and must carry ``field`` when ``required`` (an
        unsubscribe: RFC 8058's ``List-Unsubscribe=One-Click``; a re-subscribe
        needs only the link)."""
        email = self._email(request)
        token = request.path_params["token"]
        if email is None:
            await run_in_threadpool(self._other_key, token)
            return self.bad_link()
        if request.method in ("GET", "HEAD"):
            return self.page(
                question, text.format(title=self.title, email=masked(email)), action="", fields=(field,), button=button
            )
        form = await _form(request)
        if isinstance(form, Response):
            return form
        if required and not _asks(form, field):
            return self.page(
                "Nothing changed",
                f"An unsubscribe request must carry {ONE_CLICK}; use the button on the unsubscribe page.",
                status=400,
            )
        failed = await run_in_threadpool(self._write, action, email)
        return failed or done(email, token, request.url.path.endswith("/"))

    async def health(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def reread(self, *_args) -> None:
        """SIGHUP (a service manager's reload): read the config again before
        the next change is recorded, changed or not.  The signal killed the
        server (Python's default), and no unsubscribe was taken until a restart."""
        self.config_seen = None

    def _state(self) -> str | Path:
        """Where to record a change: the ``state:`` the config file names now.

        After ``newsletter state migrate`` and the switch of ``state:`` to the
        database, a ``serve`` started before went on recording unsubscribes in
        the SQLite file, which nothing read any more: they were lost.  The file
        is re-read when it changes (a broken edit keeps the state in use)."""
        with self.rereading:
            seen = _modified(self.config.file)
            if seen == self.config_seen:
                return self.state_target
            self.config_seen = seen
            try:
                target = load_config(self.config.file).state_target
            except NewsletterError as exc:
                log.error("serve: %s changed but does not load (%s); recording in %s as before",
                          self.config.file, exc.problems[0], public_url(str(self.state_target)))
                return self.state_target
            if target != self.state_target:
                log.warning("serve: %s now names the state %s: changes are recorded there", self.config.file,
                            public_url(str(target)))
                self.state_target = target
            return self.state_target

    def _recorder(self, url: str) -> State:
        """The PostgreSQL state at ``url``, opened at the first change and
        kept for the next (a small pool of connections, safe from any
        request thread: see ``PostgresState.open``'s ``recorder``).  Opened
        per request as a worker, a burst of one-click POSTs cost a login, a
        lock and a worker's row each.  One at another URL (the config
        switched ``state:``) is closed.  Opened outside the lock: with the
        server down, requests waiting their turn to try the open, each up to
        the connect timeout, would have waited for one another's."""
        with self.keeping:
            kept = self.kept
            if kept is not None and kept[0] == url:
                return kept[1]
        state = open_state(url, stop=self.stopping.is_set, recorder=True)
        spare: State | None
        with self.keeping:
            kept = self.kept
            if kept is not None and kept[0] == url:
                spare, state = state, kept[1]  # another request opened it meanwhile
            else:
                spare, self.kept = (kept[1] if kept is not None else None), (url, state)
        if spare is not None:
            spare.close()
        return state

    def _let_go(self, state: State) -> None:
        """A kept state a change failed on is closed: the next change opens
        it anew, rather than meet again what it met (a server that fell
        silent stays so for a state, see ``PostgresState._errors``)."""
        with self.keeping:
            if self.kept is not None and self.kept[1] is state:
                self.kept = None
            else:
                return
        state.close()

    def close(self) -> None:
        """Close the kept state (serve stops)."""
        with self.keeping:
            kept, self.kept = self.kept, None
        if kept is not None:
            kept[1].close()

    def _apply(self, state: State, action: str, email: str) -> bool:
        if action == "unsubscribe":
            return state.unsubscribe(email, self.now())
        return state.resubscribe(email)

    def _write(self, action: str, email: str) -> Response | None:
        """Record the change (in a worker thread: SQLite blocks); a page if it failed."""
        try:
            target = self._state()
            if is_database_url(target):
                state = self._recorder(str(target))
                try:
                    changed = self._apply(state, action, email)
                except NewsletterError:
                    self._let_go(state)
                    raise
            else:  # (a SQLite file is opened per change: a send's lock on it is never held up by serve)
                with open_state(target, stop=self.stopping.is_set) as state:
                    changed = self._apply(state, action, email)
        except NewsletterError as exc:
            log.error("could not %s %s: %s", action, email, exc)
            busy = isinstance(exc, StateError)
            page = self.page(
                "Please try again",
                "Your request could not be recorded just now; nothing changed. Please try again in a minute.",
                status=503 if busy else 500,
            )
            if busy:  # a mail provider's one-click POST is retried when it is told when (RFC 9110, 10.2.3)
                page.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
            return page
        if changed:
            log.info("%s: %s (web)", "unsubscribed" if action == "unsubscribe" else "re-subscribed", email)
        return None


@contextlib.contextmanager
def _on_hangup(handler: Callable[..., None]) -> Iterator[None]:
    """Inside, SIGHUP calls ``handler`` (main thread only, as signals allow)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGHUP, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def _modified(path: Path) -> tuple[int, int] | None:
    """The file's modification time and size, None if it cannot be read: a change to re-read it for."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def masked(email: str) -> str:
    """The address as the pages show it: its first character and its domain
    (``a***@example.org``), enough for its owner to know it as theirs.  The
    link travels with the email it came in, and a digest forwarded to a
    colleague or a list gave whoever opened its unsubscribe link the full
    address; the stars are as many whatever the length, which they hide too."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


def _asks(form: dict[str, str], field: tuple[str, str]) -> bool:
    """Whether a POST asks for the change: it carries ``field`` (its value in
    any case, spaces around it aside), or nothing at all.  Mail clients that
    POST without the body RFC 8058 asks for (a Thunderbird add-on sends
    none) act for a reader who clicked "Unsubscribe", as every POST to a
    signed link does; scanners only GET.  A body holding other fields is not
    such a request."""
    if not form:  # no body (a form that reads as nothing is refused by _form)
        return True
    value = form.get(field[0])
    return value is not None and value.strip().casefold() == field[1].casefold()


def _sibling(kind: str, token: str, slash: bool) -> str:
    """The other endpoint's URL for a form, relative (the app works behind
    a proxy at any path) to a page at ``.../KIND/TOKEN`` or, with ``slash``,
    at ``.../KIND/TOKEN/``, where ``..`` only climbs to the ``KIND`` folder."""
    return f"../../{kind}/{token}/" if slash else f"../{kind}/{token}"


async def _form(request: Request):
    """The POSTed form (urlencoded or multipart; a body of another type is read
    as urlencoded), at most :data:`MAX_BODY` bytes, empty when nothing was
    sent; a 4xx response for anything else."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return PlainTextResponse("request too large\n", status_code=413)

    if not body.strip():
        return {}  # nothing sent (see _asks)
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    fields = await _fields(request, body) if kind in ("application/x-www-form-urlencoded", "multipart/form-data") else (
        # the field sent as text/plain or with no Content-Type (some one-click clients): read as urlencoded
        _urlencoded(body))
    if not fields:  # a body, but no field could be read from it
        return PlainTextResponse("malformed form\n", status_code=400)
    return fields


async def _fields(request: Request, body: bytes) -> dict[str, str] | None:
    """The fields of a form body Starlette reads (urlencoded, multipart); None if it cannot."""

    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        async with Request(request.scope, replay).form(max_files=0, max_fields=16) as form:
            return {k: v for k, v in form.items() if isinstance(v, str)}
    except (HTTPException, ValueError, AssertionError):
        return None


def _urlencoded(body: bytes) -> dict[str, str] | None:
    try:
        return dict(parse_qsl(body.decode("utf-8", "replace").strip(), keep_blank_values=True, max_num_fields=16))
    except ValueError:
        return None


def serve(config: Config, *, host: str = "127.0.0.1", port: int = SERVE_PORT, ready: Callable[[str], None] | None = None) -> None:
    """Run the app on uvicorn until SIGINT/SIGTERM.

    The socket is bound (and listening) before ``ready(url)`` is called, so a
    client may connect as soon as it is told where; ``port=0`` picks a free
    port.  Meant to sit behind a reverse proxy that terminates HTTPS.
    """
    import uvicorn

    app = _app(config)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise NewsletterError(cannot_listen(host, port, exc)) from None
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
    class _Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            app.stopping.set()  # (uvicorn's own handler, while it runs: its shutdown waits for the requests)
            super().handle_exit(sig, frame)

    server = _Server(
        uvicorn.Config(
            app.starlette(),
            log_config=None,  # keep the CLI's logging; uvicorn's own warnings still show
            log_level="warning",
            access_log=False,  # it would log every token
            server_header=False,
            proxy_headers=True,
            lifespan="off",
        )
    )
    # uvicorn catches SIGINT/SIGTERM only once it runs, and after its graceful
    # shutdown raises the signal again for the handler it found: by default
    # that killed the command (exit 143 on a service manager's stop).  With
    # this handler in place first, a stop at any moment is a clean exit 0.
    def stop() -> None:
        app.stopping.set()
        server.should_exit = True

    with stopped_by_signals(stop), _on_hangup(app.reread):
        try:
            if ready:
                ready(f"http://{shown}:{bound_port}")
            server.run(sockets=[sock])
        finally:
            sock.close()
            app.close()
