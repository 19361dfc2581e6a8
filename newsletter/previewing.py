"""``newsletter preview``: the exact emails ``send`` would send, written to a folder.

For each subscriber, ``<slug>.html`` (the HTML part as sent, after inlining),
``<slug>.txt`` and ``<slug>.eml`` (the message exactly as sent, CRLF line ends), plus ``index.html``
linking them.  Everything goes through :meth:`rendering.Composer.compose`, the
code path of ``send``; the state is never opened for writing.

:class:`PreviewServer` serves the folder on 127.0.0.1 and rebuilds it when the
config, a template or a source file changes.  The pages it *serves* get a tiny
script that polls ``/__version`` and reloads the page; the files on disk stay
exactly what is sent.
"""

from __future__ import annotations

import errno
import hashlib
import html as html_lib
import http.server
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .config import Config, Subscriber, expand_paths, export_folder_source, load_config
from .errors import ConfigError, NewsletterError, Problem, cannot_listen, counted
from .files import fitted_name, sweep_temporaries, write_atomic
from .rendering import Composer, default_templates_dir
from .scheduling import shown_time

VERSION_PATH = "/__version"
RELOAD_SCRIPT = (
    "<script>(function(){var v=null;function poll(){fetch('" + VERSION_PATH + "',{cache:'no-store'})"
    ".then(function(r){return r.text()}).then(function(t){if(v!==null&&t!==v){location.reload()}v=t})"
    ".catch(function(){}).finally(function(){setTimeout(poll,1000)})}poll()})();</script>"
)


@dataclass(frozen=True)
class PreviewEntry:
    email: str
    name: str | None
    slug: str
    subject: str
    papers: int
    html_bytes: int
    eml_bytes: int
    would_send: bool = True  # False: no new papers and no send_empty, so send sends nothing
    unsubscribed: datetime | None = None  # when it left (then would_send is False)
    #: Not due now (a schedule): when ``send`` sends the digest shown (its zone); None when due now.
    next_send: datetime | None = None


@dataclass(frozen=True)
class PreviewReport:
    out: Path
    entries: tuple[PreviewEntry, ...]
    warnings: tuple[str, ...]
    #: The files of addresses no longer in the config, removed (they looked current).
    removed: tuple[str, ...] = ()

    def __str__(self) -> str:
        # a subscriber with nothing to send gets a line in the index, no files:
        # "wrote 1 preview" over a folder holding only index.html read as a lost file
        n = sum(e.would_send for e in self.entries)
        line = f"wrote {counted(n, 'preview')} to {self.out}"
        if self.removed:
            line += f"; removed {counted(len(self.removed), 'file')} of addresses no longer in the config"
        return line

    def to_json(self) -> dict:
        files = lambda e: {kind: str(self.out / f"{e.slug}.{kind}") for kind in ("html", "txt", "eml")}  # noqa: E731
        return {
            "out": str(self.out),
            "index": str(self.out / "index.html"),
            "subscribers": [
                {"email": e.email, "would_send": e.would_send, "subject": e.subject or None, "papers": e.papers,
                 "html_bytes": e.html_bytes, "eml_bytes": e.eml_bytes, "files": files(e) if e.would_send else {},
                 "unsubscribed": e.unsubscribed.isoformat() if e.unsubscribed else None,
                 "next_send": e.next_send.isoformat() if e.next_send else None}
                for e in self.entries
            ],
            "warnings": list(self.warnings),
            "removed": [str(self.out / name) for name in self.removed],
        }


def slug(email: str) -> str:
    """A file name for a subscriber, one per address: the address, lower-cased,
    safe characters only.  Where a character had to be replaced, a hash of the
    address follows (``a/b@x.org`` and ``a_b@x.org`` are two mailboxes, and
    the second preview overwrote the first); a name too long for the file
    system is cut short (:func:`~newsletter.files.fitted_name`)."""
    address = email.lower()
    name = re.sub(r"[^a-z0-9@._+-]+", "_", address)
    if name != address:  # '~' is never kept above, so these never meet an unchanged address
        name += "~" + hashlib.blake2s(address.encode("utf-8"), digest_size=4).hexdigest()
    return fitted_name(name, ".html").removesuffix(".html")  # .html is the longest suffix written


def default_out(config: Config) -> Path:
    """``preview/`` beside the config file."""
    return config.base_dir / "preview"


def refuse_export_folder(config: Config, out: Path) -> None:
    """A :class:`ConfigError` at the source's line when an ``hf-papers-text``
    source reads the files a preview writes to ``out`` (``--out papers`` with
    ``path: papers/``): the preview would work, and every later run would read
    its pages as exports and stop, as an outbox there would.  Nor may ``out``
    be the outbox (at its line)."""
    index = export_folder_source(config, out, ("index.html", "x@example.org.txt", "x@example.org.eml"))
    if index is not None:
        path = config.sources[index].path
        raise ConfigError(config.problem(
            ("sources", index, "path"),
            f"{path!r} reads the folder preview would write to ({str(out)!r}): from the next run on, its "
            ".html, .txt and .eml files would be read as exports; write the preview elsewhere (--out DIR)",
        ))
    if config.delivery.transport == "outbox" and os.path.abspath(out) == os.path.abspath(config.outbox_dir):
        # its .eml files would sit among the digests sent, as if sent (and a mailer
        # that takes the outbox's files would send them)
        raise ConfigError(config.problem(
            ("delivery", "path"),
            f"preview --out {str(out)!r} is the outbox: its .eml files would sit among the digests sent, "
            "as if sent; write the preview elsewhere (--out DIR)",
        ))


def preview(
    config: Config,
    *,
    now: datetime,
    out: Path | None = None,
    only: str | None = None,
    exclude: Callable[[Subscriber], frozenset[str]] | None = None,
    composer: Composer | None = None,
    papers=None,
) -> PreviewReport:
    """Render every subscriber's next digest (or ``only`` one) and write the files.

    ``exclude(subscriber)`` gives the paper ids not to show.  By default the
    state (read-only: preview never writes it) says, so the preview is the
    digest ``send`` would build next, through the same selection
    (:func:`sending.digest_papers`): none of the papers already sent, and a
    digest owed after a failure with its papers first and its Message-ID.  A subscriber
    with no new papers gets the short "no new papers" email only where
    ``send_empty`` would send it (set it to preview that template); otherwise
    it gets no files and the index says nothing would be sent; so does one
    who unsubscribed (read from the state, like ``send``).
    All rendering happens before anything is written: a template error leaves
    the previous preview untouched.
    """
    from . import pipeline

    out = Path(out) if out is not None else default_out(config)
    refuse_export_folder(config, out)
    composer = composer or Composer(config)
    warnings: list[str] = []
    # a source's warnings with the others: logged, they lost the "warning:" every other command gives them
    found = pipeline.papers(config, warn=warnings.append) if papers is None else papers
    files: dict[str, bytes] = {}
    stale: list[str] = []
    entries: list[PreviewEntry] = []
    left = pipeline.unsubscribed(config, only)
    timing = {row.email: row for row in pipeline.schedules(config, now=now, only=only)}
    # what send builds next (an owed digest's papers first, an uncertain one as it was), under its Message-ID
    owed = pipeline.owed_message_ids(config, only) if exclude is None else {}
    report = pipeline.match_report(
        config, found, only, exclude=exclude, warn=warnings.append, left=left, next_digest=exclude is None
    )
    selected = {sub.email: matches for sub, matches in report.subscribers}
    # a topic the digests leave out, or fill with vague fits: said where the digests are looked at
    warnings.extend(str(problem) for problem in report.digest_advice)
    for sub in pipeline.subscribers(config, only):
        name = slug(sub.email)
        if sub.email in left:
            stale.extend(f"{name}.{kind}" for kind in ("html", "txt", "eml"))
            entries.append(PreviewEntry(sub.email, sub.name, name, "", 0, 0, 0, False, left[sub.email]))
            continue
        matches = selected[sub.email]
        if not matches and not config.sends_empty(sub):
            # send sends nothing here, so neither does the preview (stale files go, below)
            stale.extend(f"{name}.{kind}" for kind in ("html", "txt", "eml"))
            entries.append(PreviewEntry(sub.email, sub.name, name, "", 0, 0, 0, would_send=False))
            continue
        composed = composer.compose(sub, matches, now=now, message_id=owed.get(sub.email))
        html_data = composed.html.encode("utf-8")
        eml = composed.data  # the wire bytes: re-serialising the parsed message would refold headers
        files[f"{name}.html"] = html_data
        files[f"{name}.txt"] = composed.text.encode("utf-8")
        files[f"{name}.eml"] = eml
        row = timing.get(sub.email)
        later = row.next_send if row is not None and not row.due else None
        entries.append(
            PreviewEntry(sub.email, sub.name, name, composed.subject, len(matches), len(html_data), len(eml), next_send=later)
        )
        warnings.extend(composed.warnings)
    files["index.html"] = index_page(config, entries, now).encode("utf-8")
    try:
        out.mkdir(parents=True, exist_ok=True)
        # what a preview killed mid-write left (.NAME.XXXX.tmp): there for ever, else
        sweep_temporaries(out, lambda name: name == "index.html" or bool(_PREVIEW_FILE.fullmatch(name)))
        for filename, data in files.items():
            write_atomic(out / filename, data, mode=0o644)
        for filename in stale:
            (out / filename).unlink(missing_ok=True)
        removed = () if only is not None else _files_of_others(out, {entry.slug for entry in entries})
        for filename in removed:
            (out / filename).unlink(missing_ok=True)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise  # a file where the folder goes, a full disk: said as any command says them
        raise NewsletterError(unwritable_out(out, exc)) from None
    return PreviewReport(out, tuple(entries), tuple(warnings), removed)


def unwritable_out(out: Path, exc: OSError) -> Problem:
    """Why the preview could not be written to ``out``, with the way out.

    A config in a folder this user cannot write (a shared one, a read-only
    checkout) gave the bare ``preview: Permission denied``: neither where
    ``preview/`` was (beside the config, not in the current folder) nor that
    ``--out`` puts it elsewhere.  ``match`` and ``schedule`` work there, so
    preview was the first command a newcomer saw fail in such a folder."""
    what = exc.strerror or str(exc)
    return Problem(f"cannot write the preview there: {what}; give it another folder with --out DIR",
                   os.path.abspath(out))


#: A preview's file of one address, as :func:`slug` names it.
_PREVIEW_FILE = re.compile(
    r"(?:[a-z0-9._+-]*@[a-z0-9@._+-]*(?:~[0-9a-f]{8})?|[a-z0-9@._+-]+~[0-9a-f]{12})\.(?:html|txt|eml)"  # or cut short
)


def _files_of_others(out: Path, kept: set[str]) -> tuple[str, ...]:
    """The preview files in ``out`` of addresses that are not ``kept``: a
    subscriber taken out of the config kept its preview beside the current
    ones, dated as fresh as they, and ``index.html`` no longer named it."""
    return tuple(sorted(
        path.name for path in out.iterdir()
        if _PREVIEW_FILE.fullmatch(path.name) and path.is_file() and path.name.rsplit(".", 1)[0] not in kept
    ))


def index_page(config: Config, entries: Iterable[PreviewEntry], now: datetime) -> str:
    esc = html_lib.escape
    rows = []
    for e in entries:
        who = f"{esc(e.name)} &lt;{esc(e.email)}&gt;" if e.name else esc(e.email)
        if e.unsubscribed:
            rows.append(f'<tr><td>{who}</td><td colspan="4">unsubscribed {esc(e.unsubscribed.isoformat(timespec="minutes"))}: '
                        "nothing is sent until they re-subscribe (or <code>newsletter resubscribe</code>)</td></tr>")
            continue
        if not e.would_send:
            rows.append(f'<tr><td>{who}</td><td colspan="4">no new papers: nothing would be sent '
                        "(set <code>send_empty: true</code> to send and preview a short note)</td></tr>")
            continue
        # as the command's line says it: a newcomer took the preview for what goes out now
        when = esc(shown_time(e.next_send)) if e.next_send else ""
        later = f"<br><small>not due now: goes out {when}</small>" if when else ""
        rows.append(
            f'<tr><td>{who}</td><td><a href="{esc(e.slug)}.html">{esc(e.subject)}</a>{later}</td>'
            f'<td class="n" data-label="Papers">{e.papers}</td>'
            f'<td class="n" data-label="HTML size">{e.html_bytes / 1024:.1f} KB</td>'
            f'<td><a href="{esc(e.slug)}.html">HTML</a> · <a href="{esc(e.slug)}.txt">text</a> · '
            f'<a href="{esc(e.slug)}.eml">.eml</a></td></tr>'
        )
    body = "\n".join(rows) or '<tr><td colspan="5">No subscribers in the config.</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Preview: {esc(config.email.title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1f2937; overflow-wrap: anywhere; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: 6px 10px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }}
td.n {{ text-align: right; white-space: nowrap; }}
/* a phone: one block per subscriber, each value labelled (the table ran off the screen) */
@media (max-width: 600px) {{
  body {{ margin: 1rem; }}
  tr.head {{ display: none; }}
  table, tr, td {{ display: block; }}
  tr {{ border-bottom: 1px solid #e5e7eb; padding: 6px 0; }}
  td {{ border: 0; padding: 2px 0; }}
  td.n {{ text-align: left; }}
  td[data-label]::before {{ content: attr(data-label) ": "; color: #6b7280; }}
}}
</style>
</head>
<body>
<h1>Preview: {esc(config.email.title)}</h1>
<p>{esc(str(config.file))} &middot; rendered {esc(now.isoformat(timespec="seconds"))}</p>
<table>
<tr class="head"><th>Subscriber</th><th>Subject</th><th>Papers</th><th>HTML size</th><th>Files</th></tr>
{body}
</table>
</body>
</html>
"""


# --------------------------------------------------------------------------- serve


def watched_files(config: Config, config_path: Path) -> list[Path]:
    """What a preview depends on: the config, every template, local source files."""
    paths = [config_path]
    dirs = ([config.templates_dir] if config.templates_dir else []) + [default_templates_dir()]
    for d in dirs:
        if d.is_dir():
            paths.extend(sorted(p for p in d.rglob("*") if p.is_file()))
    for source in config.sources:
        path = getattr(source, "path", None)
        if path:
            paths.extend(expand_paths(config.base_dir, path))
    return paths


def _snapshot(paths: Iterable[Path]) -> dict[Path, tuple[int, int] | None]:
    out: dict[Path, tuple[int, int] | None] = {}
    for p in paths:
        try:
            st = p.stat()
            out[p] = (st.st_mtime_ns, st.st_size)
        except OSError:
            out[p] = None
    return out


class PreviewServer:
    """Serve a preview folder and rebuild it when its inputs change.

    ``build()`` (re)loads the config and writes the preview; ``version``
    counts successful builds and is what ``/__version`` returns.  A failing
    rebuild reports its one-line error through ``report`` and leaves the last
    good files in place.
    """

    def __init__(
        self,
        config_path: Path,
        out: Path | None,
        *,
        only: str | None = None,
        now: Callable[[], datetime],
        report: Callable[[str], None],
        exclude_for: Callable[[Config], Callable[[Subscriber], frozenset[str]] | None] | None = None,
        port: int = 8000,
    ) -> None:
        self.config_path = Path(config_path)
        self.out_arg = out
        self.only = only
        self.now = now
        self.report = report
        self.exclude_for = exclude_for
        self.version = 0
        #: Why the last rebuild failed (None once one succeeds), shown on every page served.
        self.error: str | None = None
        self._failures = 0
        self.out: Path | None = None
        self._watch: dict[Path, tuple[int, int] | None] = {}
        self._port = port
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- building -----------------------------------------------------------------------

    def build(self) -> PreviewReport:
        """Load the config and write the preview; raises :class:`NewsletterError`."""
        self._watch = self._inputs()
        config = load_config(self.config_path)
        out = Path(self.out_arg) if self.out_arg is not None else default_out(config)
        if self.out is not None:
            out = self.out  # the folder being served does not move
        exclude = self.exclude_for(config) if self.exclude_for else None
        result = preview(config, now=self.now(), out=out, only=self.only, exclude=exclude)
        self.out = out
        self.version += 1
        self.error = None
        return result

    def _inputs(self) -> dict[Path, tuple[int, int] | None]:
        """mtime and size of every input (the config's list, or the last one
        known while the config does not load)."""
        try:
            config = load_config(self.config_path)
            files = watched_files(config, self.config_path)
        except NewsletterError:
            files = list(self._watch) or [self.config_path]
        return _snapshot(files)

    def rebuild_if_changed(self) -> bool:
        """One poll: rebuild when an input changed; True if a rebuild succeeded."""
        if self._inputs() == self._watch:
            return False
        try:
            result = self.build()
        except NewsletterError as exc:
            self.error = f"preview not updated: {' / '.join(str(p) for p in exc.problems)}"
            self._failures += 1
            self.report(self.error)
            return False
        self.report(f"rebuilt: {result}")
        for warning in result.warnings:
            self.report(f"warning: {warning}")
        return True

    # -- serving ------------------------------------------------------------------------

    def shown_version(self) -> str:
        """What ``/__version`` answers: it changes on each rebuild and on each
        failed one, so that an open page reloads to show the error (it was only
        on the terminal: the page looked up to date while the edit was broken)
        and again when the next edit fixes it."""
        return f"{self.version}" if self.error is None else f"{self.version}-failed-{self._failures}"

    def start(self) -> str:
        """Serve ``self.out`` in a thread; return the URL."""
        assert self.out is not None, "build() first"
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            extensions_map = {
                **http.server.SimpleHTTPRequestHandler.extensions_map,
                ".eml": "text/plain; charset=utf-8",
                ".txt": "text/plain; charset=utf-8",
                ".html": "text/html; charset=utf-8",
            }

            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(server.out), **kwargs)

            def end_headers(self):
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path == VERSION_PATH:
                    return self._send(server.shown_version().encode(), "text/plain; charset=utf-8")
                if path == "/":
                    path = "/index.html"
                if path.endswith(".html"):
                    file = Path(self.translate_path(path))
                    if file.is_file():
                        page = inject_reload(file.read_text(encoding="utf-8"), server.error)
                        return self._send(page.encode("utf-8"), "text/html; charset=utf-8")
                return super().do_GET()

            def _send(self, data: bytes, ctype: str):
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):
                pass

        try:
            self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        except OSError as exc:  # as `serve` says it
            raise NewsletterError(cannot_listen("127.0.0.1", self._port, exc)) from None
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="preview-http", daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def watch(
        self,
        interval: float = 1.0,
        should_stop: Callable[[], bool] = lambda: False,
        wait: Callable[[float], object] = time.sleep,
    ) -> None:
        """Poll the inputs every ``interval`` seconds until ``should_stop()``.

        ``wait(interval)`` waits between polls: give an event's ``wait`` so
        that setting it (from a signal handler) stops the loop at once, and
        never in the middle of a rebuild."""
        while not should_stop():
            wait(interval)
            if should_stop():
                break
            self.rebuild_if_changed()


def inject_reload(page: str, error: str | None = None) -> str:
    """The page with the auto-reload script before ``</body>`` (serve time
    only), and ``error`` (why the last rebuild failed) as a banner at the top:
    the page below it is the last good one."""
    at = page.lower().rfind("</body>")
    page = page + RELOAD_SCRIPT if at < 0 else page[:at] + RELOAD_SCRIPT + page[at:]
    if error is None:
        return page
    banner = (
        '<div id="preview-error" style="background:#fee2e2;color:#7f1d1d;border:2px solid #b91c1c;padding:8px 12px;'
        'font:14px/1.4 monospace;white-space:pre-wrap">' + html_lib.escape(error)
        + "\n(showing the last preview that built; it updates when the error is fixed)</div>"
    )
    body = re.search(r"<body\b[^>]*>", page, re.IGNORECASE)
    return banner + page if body is None else page[: body.end()] + banner + page[body.end():]
