"""Fetch what remote sources publish: politely, patiently, and at most once an hour.

:class:`Fetcher` is the one way the readers talk HTTP (httpx underneath):

- a deadline on every request: ``timeout`` seconds for all of it (connecting,
  headers and body), so a server that drips one byte a second is abandoned
  at the deadline, and a size cap (``max_bytes``, counted after decompression)
  beyond which the source fails instead of filling memory;
- a ``User-Agent`` naming the tool and version;
- compressed answers: ``Accept-Encoding`` offers exactly what
  :func:`decompressed` decodes (gzip, deflate, br, zstd), 64 KiB of
  output at a time, so ``max_bytes`` holds however well a body packs
  (a few hundred bytes of brotli can unpack to gigabytes); a body in an
  encoding not offered fails the source at once, naming the encoding;
- retries with exponential backoff on 429, 5xx and connection errors, waiting
  at least what ``Retry-After`` asks (seconds or an HTTP date; a shorter ask,
  ``Retry-After: 0``, still waits the backoff's step); a server asking for
  longer than ``max_wait`` fails the source at once, saying so (it would not
  answer sooner, and the run would only wait to fail);
- an optional minimum interval between requests to one host (arXiv asks for
  one request every three seconds);
- an on-disk cache keyed by URL: within ``fresh_for`` seconds of the last
  download a URL is answered from disk without any request; after that the
  cached copy is revalidated with ``If-None-Match`` / ``If-Modified-Since``, and
  a ``304 Not Modified`` reuses it.  Cache files are replaced atomically, so a
  killed run never leaves a half-written response behind.

Waiting and time are injected (``sleep``, ``clock``), so tests never sleep.
Failures raise :class:`InputError` located at the URL, naming the source.
"""

from __future__ import annotations

import ast
import bz2
import email.utils
import functools
import hashlib
import io
import json
import logging
import lzma
import math
import os
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

from .errors import InputError, Problem, Unreachable, UnreachableKind
from .files import sweep_temporaries, write_atomic
from .patterns import XML_PROLOG, lazy
from .retrying import backoff, certificate_fault, certificate_unmendable, handshake_refused, speaks_tls, waiting, within

log = logging.getLogger(__name__)
E = TypeVar("E", bound=BaseException)

#: Default cap on one response body (after decompression).
MAX_BYTES = 50 * 1024 * 1024

#: How long a cached answer not fetched again is kept: 30 days.
CACHE_KEEP = 30 * 24 * 3600.0
#: A cache entry's name: the SHA-256 of its URL.
_CACHE_KEY = lazy(r"[0-9a-f]{64}")
#: An entry's file: its body or its metadata.
_CACHE_FILE = lazy(r"[0-9a-f]{64}\.(?:body|json)")

#: Answers worth asking again for: rate limiting and server-side trouble.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# getaddrinfo's "no such name" answers (not EAI_AGAIN, "temporary failure", which
# keeps the full backoff).
_NO_SUCH_NAME = frozenset(getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name))


def default_user_agent() -> str:
    import httpx

    from . import __version__

    return f"paper-digest-mailer/{__version__} (python-httpx/{httpx.__version__})"


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks us to wait (delta-seconds or an HTTP
    date relative to ``now``), or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # 'nan' or '1e400' (inf) are no wait: 'retry after inf days' was said of one
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class Fetched:
    """A response body and how we got it."""

    url: str
    body: bytes
    from_cache: bool = False  # True: answered from disk, no request made
    revalidated: bool = False  # True: the server said 304 and the cached body was reused
    #: Where the body came from, after redirects (None: ``url`` itself): a feed's relative
    #: links are relative to it, not to the address asked (``/feed`` moved to ``/blog/feed.xml``).
    final_url: str | None = None

    @property
    def base(self) -> str:
        """The URL the body's relative links are relative to."""
        return self.final_url or self.url


@dataclass(frozen=True)
class CachedResponse:
    url: str
    body: bytes
    fetched_at: float
    etag: str | None
    last_modified: str | None
    final_url: str | None = None  # where a redirect led (see :attr:`Fetched.final_url`)


class ResponseCache:
    """Bodies and validators of fetched URLs, one ``<sha256>.body`` + ``.json`` pair each.

    The metadata records the body's digest, so a body that does not match
    (a crash between the two replacements, a hand-edited file) is a miss,
    never wrong data.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._warned = False  # an unwritable cache is said once per run, not once per source

    def _cannot_write(self, exc: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning("warning: cannot keep the HTTP cache in %s (%s): each run fetches the sources anew; "
                        "make it a folder this user can write, or set cache: to one", self.folder, exc.strerror or exc)

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return self.folder / f"{key}.body", self.folder / f"{key}.json"

    def load(self, url: str) -> CachedResponse | None:
        body_path, meta_path = self._paths(url)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            body = body_path.read_bytes()
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("url") != url:
            return None
        if meta.get("sha256") != hashlib.sha256(body).hexdigest():
            return None
        try:
            fetched_at = float(meta["fetched_at"])
        except (KeyError, TypeError, ValueError):
            return None
        final = meta.get("final_url")
        return CachedResponse(url, body, fetched_at, meta.get("etag"), meta.get("last_modified"),
                              final if isinstance(final, str) else None)

    def store(
        self,
        url: str,
        body: bytes,
        fetched_at: float,
        etag: str | None,
        last_modified: str | None,
        *,
        body_unchanged: bool = False,
        final_url: str | None = None,
    ) -> None:
        """Save atomically; a cache that cannot be written is logged, not fatal.

        ``body_unchanged`` (after a 304) rewrites only the metadata."""
        body_path, meta_path = self._paths(url)
        meta = {
            "url": url,
            "fetched_at": fetched_at,
            "etag": etag,
            "last_modified": last_modified,
            "sha256": hashlib.sha256(body).hexdigest(),
            **({"final_url": final_url} if final_url and final_url != url else {}),
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not body_unchanged:
                write_atomic(body_path, body, durable=True)
            write_atomic(meta_path, json.dumps(meta, indent=1).encode("utf-8"), durable=True)
        except OSError as exc:
            self._cannot_write(exc)

    def prune(self, now: float, keep: float = CACHE_KEEP) -> None:
        """Remove the entries not fetched for ``keep`` seconds: a URL asked once
        and never again (the daily papers of each past day, ``?date=...``)
        stayed for good, a new one a day, for as long as the tool ran.  Only
        this cache's own files are looked at (the folder holds others).
        Also the temporary files of entries a killed run was writing."""
        sweep_temporaries(self.folder, lambda name: bool(_CACHE_FILE.fullmatch(name)), now=now)
        try:
            metas = [p for p in self.folder.glob("*.json") if _CACHE_KEY.fullmatch(p.stem)]
        except OSError:
            return
        for meta_path in metas:
            try:
                fetched_at = float(json.loads(meta_path.read_text(encoding="utf-8"))["fetched_at"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # being written, or not ours to judge: load() treats it as a miss anyway
            if now - fetched_at > keep:
                try:
                    meta_path.unlink(missing_ok=True)
                    meta_path.with_suffix(".body").unlink(missing_ok=True)
                except OSError:
                    return

    def forget(self, url: str) -> None:
        """Remove a URL's entry (metadata first: a body alone is never used)."""
        body_path, meta_path = self._paths(url)
        try:
            meta_path.unlink(missing_ok=True)
            body_path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove %s from the HTTP cache: %s", url, exc.strerror or exc)


class HTTPStatusFailure(InputError):
    """The server answered with an error status that retrying will not change
    (404, 400...).  ``body`` is what it said: some APIs explain the error there
    (arXiv answers a bad query with 400 and an Atom feed saying why)."""

    def __init__(self, problem: Problem, status: int, body: bytes) -> None:
        super().__init__(problem)
        self.status = status
        self.body = body


class _TooBig(Exception):
    pass


class _Undecodable(Exception):
    """The body is compressed in an encoding the client cannot decode (and
    did not offer), or does not decompress: asking again would bring the
    same bytes."""


#: The most a decoder hands on at a time: the size cap is checked between pieces.
_PIECE = 64 * 1024


class Truncated(EOFError):
    """Packed data that ends before its end: a cut-off download or copy."""


#: What packed data is unpacked with, by name: a new decompressor object each
#: (zlib's, bz2's, lzma's; see :func:`unpacking`).
UNPACKERS: dict[str, Callable[[], Any]] = {
    "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "bzip2": lambda: bz2.BZ2Decompressor(),
    "xz": lambda: lzma.LZMADecompressor(),
}


def unpacking(
    chunks: Iterable[bytes],
    new: Callable[[], Any],
    *,
    members: bool = False,
    fallback: Callable[[], Any] | None = None,
) -> Iterator[bytes]:
    """What the packed ``chunks`` unpack to, at most 64 KiB at a time whatever
    the ratio, so that a caller counting the pieces stops a bomb at its cap
    with no more than that in memory.  The one bounded decompression of the
    house: HTTP bodies (:func:`decompressed`) and packed local files
    (``readers.unpacked``) both go through it.

    ``new`` makes the decompressor (zlib's, bz2's or lzma's, as in
    :data:`UNPACKERS`).  ``members``: another packed member may follow the
    end of one (``cat a.gz b.gz``; pbzip2 and xz write several); otherwise
    what follows the end is ignored, as browsers do.  ``fallback``: the
    decompressor to start again with when the first input does not unpack
    (a ``deflate`` body sent raw).  Raises :class:`Truncated` when the data
    ends before its packed data does, and the decompressor's own error when
    it does not unpack."""
    d, begun = new(), False
    for chunk in chunks:
        data = chunk
        while data:
            if d.eof:
                if not members:
                    break  # what follows the packed data is ignored
                d, begun = new(), False
            try:
                out = d.decompress(data, _PIECE)
            except Exception:
                if fallback is None or begun:
                    raise
                d, fallback = fallback(), None
                continue
            begun = True
            while True:
                if out:
                    yield out
                if d.eof:
                    data = d.unused_data
                    break
                # zlib hands back what it did not read; bz2 and lzma keep it
                data = getattr(d, "unconsumed_tail", b"")
                if data or not out:
                    break
                out = d.decompress(b"", _PIECE)
    if begun and not d.eof:
        raise Truncated("the compressed data ends before its end (truncated)")


def _unbrotli(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import brotli

    d = brotli.Decompressor()
    seen = False
    for chunk in chunks:
        seen = seen or bool(chunk)
        out = d.process(chunk, output_buffer_limit=_PIECE)
        while True:
            if out:
                yield out
            if d.can_accept_more_data():
                break
            out = d.process(b"", output_buffer_limit=_PIECE)
    if seen and not d.is_finished():
        raise brotli.error("the compressed data ends before its end (truncated)")


class _ChunkReader(io.RawIOBase):
    """An iterator of chunks as a binary stream, for zstandard's stream reader."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self.chunks = iter(chunks)
        self.rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.rest:
            chunk = next(self.chunks, None)
            if chunk is None:
                return 0
            self.rest = chunk
        n = min(len(buffer), len(self.rest))
        buffer[:n], self.rest = self.rest[:n], self.rest[n:]
        return n


def _unzstd(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import zstandard

    with zstandard.ZstdDecompressor().stream_reader(io.BufferedReader(_ChunkReader(chunks)), read_across_frames=True) as reader:
        while out := reader.read(_PIECE):
            yield out


Decoder = Callable[[Iterable[bytes]], Iterator[bytes]]


@functools.cache
def decoders() -> tuple[dict[str, Decoder], tuple[type[Exception], ...]]:
    """Content-Encoding -> how to undo it, and the errors a corrupt body
    raises.  br and zstd need ``brotli`` and ``zstandard`` (dependencies of
    this package); an install without them offers and decodes the rest."""
    table: dict[str, Decoder] = {
        "gzip": lambda chunks: unpacking(chunks, UNPACKERS["gzip"]),
        "x-gzip": lambda chunks: unpacking(chunks, UNPACKERS["gzip"]),
        # zlib-wrapped, or raw as some servers send it (browsers and httpx read both)
        "deflate": lambda chunks: unpacking(
            chunks, zlib.decompressobj, fallback=lambda: zlib.decompressobj(-zlib.MAX_WBITS)
        ),
    }
    errors: list[type[Exception]] = [zlib.error, Truncated]
    try:
        import brotli
    except ImportError:
        pass
    else:
        table["br"] = _unbrotli
        errors.append(brotli.error)
    try:
        import zstandard
    except ImportError:
        pass
    else:
        table["zstd"] = _unzstd
        errors.append(zstandard.ZstdError)
    return table, tuple(errors)


def accept_encoding() -> str:
    """The ``Accept-Encoding`` header: exactly what :func:`decompressed` decodes."""
    return ", ".join(e for e in decoders()[0] if e != "x-gzip")


#: Content-Encoding values that misconfigured servers send for a body not compressed at all.
_NOT_CODINGS = frozenset({"none", "binary", "text", "plain", "7bit", "8bit", "raw"})


def _no_coding(encoding: str) -> bool:
    """Whether a Content-Encoding says nothing of compression: a character
    set where the charset goes ('UTF-8', sent by PHP set-ups) or a word for
    none.  Such a feed failed as 'compressed as 'utf-8', which this client
    cannot decode'; browsers and curl read the body as it is."""
    if encoding in _NOT_CODINGS:
        return True
    try:
        "".encode(encoding)  # a text encoding; binary transforms (base64, zlib) are no charset
    except LookupError:
        return False
    return True


def decompressed(chunks: Iterable[bytes], encodings: list[str]) -> Iterator[bytes]:
    """The body ``chunks`` with its ``Content-Encoding`` layers undone (the last
    applied first), at most 64 KiB at a time whatever the compression ratio:
    httpx's own decoders hand on all a chunk unpacks to at once.  Raises
    :class:`_Undecodable` for an encoding not in :func:`decoders` or a body
    that does not decompress."""
    table, errors = decoders()
    encodings = [e for e in encodings if not _no_coding(e)]
    unknown = [e for e in encodings if e not in table and e != "identity"]
    if unknown:
        raise _Undecodable(
            f"the server sent the body compressed as {', '.join(repr(e) for e in unknown)} (Content-Encoding), "
            f"which this client cannot decode and did not ask for (it accepts {accept_encoding()})"
        )
    out: Iterable[bytes] = chunks
    for encoding in reversed(encodings):
        if encoding != "identity":
            out = table[encoding](out)
    try:
        yield from out
    except errors as exc:
        raise _Undecodable(
            f"the response body does not decompress as its Content-Encoding ({', '.join(encodings)}) says ({exc})"
        ) from None


def _cause(exc: BaseException, kind: type[E]) -> E | None:
    """The ``kind`` of error under ``exc`` (its cause or context, a few deep), if any."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _certificate_remedy(exc: ssl.SSLCertVerificationError, host: str) -> str:
    """What mends a refused certificate, by the check that failed."""
    fault = certificate_fault(exc)
    if (theirs := certificate_unmendable(fault, "the site")) is not None:
        return theirs
    if fault == "name":
        return f"it is for another name than {host!r}: check the host in the URL"
    return "behind a proxy or a private CA, point SSL_CERT_FILE at its certificate"


def _cert_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed under an httpx connection error, if that is what it was."""
    return _cause(exc, ssl.SSLCertVerificationError)


def _handshake_refused(exc: BaseException) -> tuple[str, bool] | None:
    """:func:`handshake_refused` of the error under a failed connection (httpx's
    ConnectError, which holds the TLS handshake: a reset there came after the
    server took the connection)."""
    under = _cause(exc, ssl.SSLError) or _cause(exc, ConnectionResetError)
    return handshake_refused(under) if under is not None else None


#: How h11 says an answer is no HTTP: its first line, or a header line, as bytes.
_ILLEGAL_LINE = lazy(r"illegal (status|header) line: bytearray\((b(['\"]).*\3)\)$", re.DOTALL)


def _not_http(exc: BaseException) -> str | None:
    """What is wrong with an answer that is not HTTP (another service at the
    port: SSH, SMTP, a database), or HTTP broken in a header line; None for
    other failures.  It read 'connection failed: illegal status line:
    bytearray(b'...')' and was asked three more times."""
    found = _ILLEGAL_LINE.match(str(exc))
    if found is None:
        return _broken_framing(str(exc))
    line = _h11_bytes(found[2])
    if found[1] == "status":
        return (f"the server's answer is not HTTP (it began {_shown_line(line)}): is the port in the URL the web "
                "server's?")
    return f"the server's answer is broken HTTP (a header line reads {_shown_line(line)})"


#: How h11 says an answer's framing is broken: its first line unreadable as a status line
#: (binary bytes, HTTP/2 frames), its length or chunks told wrongly.
_BROKEN_FRAMING = lazy(r"(illegal request line|no response line received)|(conflicting Content-Length headers|"
                             r"bad Content-Length|illegal chunk header|continuation line at start of headers)")


def _broken_framing(said: str) -> str | None:
    """:func:`_not_http` for a first line or framing h11 gives no line of:
    they read 'connection failed: illegal chunk header: bytearray(b...)' (or
    'illegal request line', of a response) and were asked again."""
    found = _BROKEN_FRAMING.match(said)
    if found is None:
        return None
    if found[1]:
        return "the server's answer is not HTTP (no status line): is the port in the URL the web server's?"
    quoted = re.search(r": bytearray\((b(['\"]).*\2)\)$", said, re.DOTALL)
    if quoted is not None:
        said = f"{said[:quoted.start()]}: {_shown_line(_h11_bytes(quoted[1]))}"
    return f"the server's answer is broken HTTP ({said})"


def _h11_bytes(literal: str) -> str:
    """The text of the bytes h11 quotes in its errors (``b'...'``, as Python writes them)."""
    try:
        return ast.literal_eval(literal).decode("utf-8", "replace")
    except (ValueError, SyntaxError, AttributeError):
        return literal


def _shown_line(line: str, most: int = 60) -> str:
    """A line of a server's answer as a message quotes it: printable, and short."""
    line = "".join(c if c.isprintable() else "?" for c in line.strip())
    return repr(line if len(line) <= most else line[: most - 1] + "…")


#: How h11 says a body ended early: the connection closed before its Content-Length or last chunk.
_CUT_OFF = lazy(r"peer closed connection without sending complete message body \((.*)\)$")


#: What a bot check's page holds: Cloudflare's challenge ("Just a moment...", its scripts).
_CHALLENGE_PAGE = lazy(rb"<title>\s*Just a moment\.\.\.\s*</title>|/cdn-cgi/challenge-platform/|_cf_chl_opt", re.I)


#: Where an HTML document starts (after a byte order mark, white space, comments).
_HTML_START = lazy(rb"(?:\xef\xbb\xbf)?" + XML_PROLOG + rb"<(?:!doctype\s+html|html)[\s>]", re.I | re.S)
#: A storage service's error document (S3, Google Cloud Storage, Azure, MinIO: a feed
#: kept in a bucket): ``<Error><Code>AccessDenied</Code><Message>Access Denied</Message>``.
_STORAGE_ERROR = lazy(rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?<Error>", re.S)
_STORAGE_PART = lazy(rb"<(Code|Message)>([^<]{1,400})</\1>")


def storage_error(body: bytes) -> str | None:
    """What a storage service's error document says (``'NoSuchKey: The
    specified key does not exist.'``, quoted), or None for any other body.
    A feed kept in a bucket that went private, or moved, read 'HTTP 403
    Forbidden' alone (the bucket's word is what tells the two apart), and
    such a document answered with 200 read 'not an RSS or Atom feed'."""
    head = body[:8192]
    if _STORAGE_ERROR.match(head) is None:
        return None
    parts = {k.decode(): " ".join(v.decode("utf-8", "replace").split()) for k, v in _STORAGE_PART.findall(head)}
    said = ": ".join(p for p in (parts.get("Code"), parts.get("Message", "").split(" RequestId:")[0]) if p)
    return repr(said if len(said) <= 200 else said[:199] + "…") if said else None


#: An HTML page's title, in its head.
_PAGE_TITLE = lazy(rb"<title[^>]*>(.*?)</title\s*>", re.I | re.S)


def page_title(body: bytes) -> str | None:
    """The title of an HTML page (``body``), as its head gives it: unescaped,
    its white space one space, printable, at most 80 characters; None for a
    body that is no HTML page or a page without a title."""
    import html

    head = body[:65536]
    if _HTML_START.match(head) is None or (m := _PAGE_TITLE.search(head)) is None:
        return None
    title = " ".join(html.unescape(m[1].decode("utf-8", "replace")).split())
    title = "".join(c if c.isprintable() else "?" for c in title)
    return (title if len(title) <= 80 else title[:79] + "…") or None


def _status_page_said(status: int, reason: str, body: bytes) -> str:
    """What an error status's HTML page says of itself, when its title says
    more than the status (``; the page's title: 'Down for maintenance until
    14:00 UTC'``): a mirror's or a proxy's error page read 'HTTP 503 Service
    Unavailable' alone, and a title such as '503 Service Unavailable' adds nothing."""
    title = page_title(body)
    if title is None:
        return ""
    rest = re.sub(rf"(?i)\b{status}\b|{re.escape(reason)}|\b(?:error|http|status)\b|[\W_]+", "", title)
    return f"; the page's title: {title!r}" if rest else ""


def html_page_said(fetched: Fetched) -> str:
    """What a fetched HTML page that came where a feed or JSON goes says of
    itself: its title and, after a redirect, where it was (``; the page's
    title: 'Hotel Wi-Fi: sign in'; redirected to http://wifi.example/login?...``);
    "" for any other answer.  A network's login page (a hotel's or a train's
    Wi-Fi, answering every address with its own page) read "an HTML page,
    not an RSS or Atom feed (an error page or a login wall?)" at the feed's
    own URL, and the user went to look at the feed, not at the network."""
    if _HTML_START.match(fetched.body[:65536]) is None:
        return ""
    said = f"; the page's title: {title!r}" if (title := page_title(fetched.body)) else ""
    if fetched.final_url and fetched.final_url != fetched.url:
        said += f"; redirected to {shown_url(fetched.final_url)}"
    return said


def _bot_check(response: httpx.Response, body: bytes) -> str | None:
    """What to do about an answer that is a site's bot check (a challenge
    only a browser running its script passes: Cloudflare's, AWS WAF's),
    None for any other.  It read 'HTTP 403 Forbidden' alone, as if the URL
    were private, and a 503 challenge was asked three more times.  Served
    as 200 (Cloudflare does, to some clients), it read 'an HTML page, not
    an RSS or Atom feed (an error page or a login wall?)', and was kept in
    the cache as the feed: a 2xx answer's body is a challenge only when it
    is an HTML page (a feed whose entry is titled 'Just a moment...' is a feed)."""
    headers = response.headers
    page = _CHALLENGE_PAGE.search(body[:65536]) is not None and (
        not 200 <= response.status_code < 300 or _HTML_START.match(body[:65536]) is not None)
    if headers.get("cf-mitigated", "").lower() == "challenge" or page:
        who = "Cloudflare"
    elif headers.get("x-amzn-waf-action", "").lower() in ("captcha", "challenge"):
        who = "AWS WAF"
    else:
        return None
    return (f"the site's bot check ({who}) wants a browser, which a feed reader is not: ask the site to let "
            "its feed through, or save the feed from a browser and give the file as path:")


#: What web servers answer to a plain HTTP request on their HTTPS port (nginx, Go's net/http).
_PLAIN_HTTP_TO_HTTPS = lazy(rb"plain HTTP request was sent to HTTPS port|HTTP request to an HTTPS server", re.I)


class _ProxyUnusable(Exception):
    """A proxy named in the environment that httpx cannot use (an ``ftp://`` or ``socks4://`` one)."""


#: The proxies httpx can use (socks5 through the ``socksio`` package, installed with it).
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def environment_proxies() -> list[tuple[str, str, str]]:
    """``(scheme served, proxy URL, variable)`` for each proxy the environment
    names, as httpx reads them (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
    either case): to say which one a failed request went through."""
    from urllib.request import getproxies

    found = getproxies()
    out = []
    for scheme in ("http", "https", "all"):
        url = found.get(scheme)
        if url:
            names = (f"{scheme}_proxy", f"{scheme.upper()}_PROXY")
            variable = next((n for n in names if os.environ.get(n) == url), names[1])
            out.append((scheme, url if "://" in url else f"http://{url}", variable))
    return out


def shown_proxy(url: str, variable: str) -> str:
    """``socks5://host:port of $ALL_PROXY``: the proxy without a user or password in it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path.rstrip('/')} of ${variable}"


#: Query parameters that carry a secret in a private feed's URL (``?token=...``).
_SECRET_PARAMS = frozenset(
    "token access_token auth_token private_token api_key apikey key secret password passwd pass auth sig signature"
    .split()
)
#: How the names of other secret parameters end: a presigned S3 or Google Cloud
#: Storage URL's ``X-Amz-Signature``, ``X-Amz-Security-Token``, ``X-Goog-Credential``
#: (names lowered, ``-`` as ``_``), an API's ``sessiontoken``, a CDN's ``hdnts_sig``.
_SECRET_ENDINGS = ("signature", "token", "credential", "sig")
#: Names so ending that are no secret: OAI-PMH's paging cursor, shown to say which page failed.
_NOT_SECRET = frozenset({"resumptiontoken"})


def _secret_param(name: str) -> bool:
    """Whether a query parameter named ``name`` carries a secret."""
    name = name.strip().lower().replace("-", "_")
    return name in _SECRET_PARAMS or (name.endswith(_SECRET_ENDINGS) and name not in _NOT_SECRET)


#: The least length of a secret's other forms looked for (decoded, encoded again): a
#: value of a character or two, masked in each of its forms, would mask half a message.
_SECRET_FORM_LEAST = 4


def _secret_forms(value: str) -> list[str]:
    """``value`` as written and, unless short, as a server may echo it: decoded
    (``+`` a space or not), encoded once and twice (a login page's ``?next=``
    holding the whole address encodes what the address had encoded)."""
    from urllib.parse import quote, unquote, unquote_plus

    forms = [value]
    for plain in dict.fromkeys((unquote(value), unquote_plus(value))):
        forms += [plain, quote(plain, safe=""), quote(quote(plain, safe=""), safe="")]
    forms.append(quote(value, safe=""))
    return [value] + [f for f in dict.fromkeys(forms[1:]) if f != value and len(f) >= _SECRET_FORM_LEAST]


def url_secrets(url: str) -> list[str]:
    """The secrets a URL carries: the password of
    ``https://user:PASSWORD@host/...`` and the values of ``?token=``,
    ``?key=`` and the like, each as written and in the forms a server
    echoes it in (see :func:`_secret_forms`)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    found = [password] if password else []
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if value and _secret_param(name):
            found.append(value)
    return list(dict.fromkeys(form for value in found for form in _secret_forms(value)))


def shown_url(url: str, secrets: list[str] | None = None) -> str:
    """``url`` (or any text holding it) with the secrets it carries as ``***``:
    what messages and logs show (cron mails them, journald keeps them)."""
    for secret in sorted(url_secrets(url) if secrets is None else secrets, key=len, reverse=True):
        url = url.replace(secret, "***")
    return url


def hide_secrets(exc: InputError, secrets: list[str]) -> InputError:
    """``exc`` with ``secrets`` (a configured URL's, see :func:`url_secrets`)
    as ``***`` in each of its problems' messages and files, in place: what a
    server echoes of the URL (a login page's ``?continue=`` holding the whole
    address) is masked with the secrets the user gave, not only with those
    the echoing URL carries in its own parameters."""
    if secrets:
        exc.problems = tuple(replace(p, message=shown_url(p.message, secrets),
                                     file=p.file and shown_url(p.file, secrets)) for p in exc.problems)
        exc.args = ("\n".join(str(p) for p in exc.problems),)
    return exc


def _proxy(url) -> tuple[str, str] | None:
    """``(proxy URL, variable)`` when the environment sends ``url`` through a proxy."""
    from urllib.request import proxy_bypass

    if proxy_bypass(url.host):
        return None
    proxies = {scheme: (proxy, variable) for scheme, proxy, variable in environment_proxies()}
    return proxies.get(url.scheme) or proxies.get("all")


def _via(url) -> str:
    """`` (through the proxy ... of $VAR)`` when the environment sends ``url`` through one."""
    hit = _proxy(url)
    return f" (through the proxy {shown_proxy(*hit)})" if hit else ""


def _proxy_fault(exc: httpx.TransportError, url: httpx.URL, host: str) -> tuple[str, bool] | None:
    """What went wrong with the environment's proxy for ``url`` (``host`` is
    the site asked), and whether asking again may mend it; None when the
    failure is not the proxy's.  A proxy that was not running read 'connection
    failed: [Errno 111] Connection refused (through the proxy ...)' and then
    'is this machine offline?'; a proxy wanting a login, '407 Proxy
    Authentication Required', was asked three times more."""
    hit = _proxy(url)
    if hit is None:
        return None
    proxy, variable = hit
    shown = shown_proxy(proxy, variable)
    status = re.match(r"(\d{3}) ", str(exc)) if type(exc).__name__ == "ProxyError" else None
    if status is not None:  # the proxy's answer to CONNECT
        said = str(exc)
        if status.group(1) == "407":
            return (f"the proxy {shown} wants a login ({said}): " + (
                f"it refused the user and password in ${variable}" if urlsplit(proxy).password
                else f"write them into ${variable} (http://USER:PASSWORD@host:port)"), False)
        if status.group(1) == "403":
            return (f"the proxy {shown} refused to connect to {host} ({said}): its rules block the site; "
                    "list the host in NO_PROXY if it is reachable without the proxy", False)
        return f"the proxy {shown} could not connect to {host} ({said})", True
    if _cause(exc, ConnectionRefusedError) is not None or _cause(exc, socket.gaierror) is not None:
        why = _cause(exc, OSError)
        return (f"cannot connect to the proxy {shown} ({why.strerror if why and why.strerror else exc}): is it "
                f"running, or is ${variable} left from another network? (unset it, or list the host in NO_PROXY)",
                True)
    return None


def _asked(event: httpx.HTTPError | httpx.Response, url: httpx.URL) -> httpx.URL:
    """The URL of the request ``event`` (a response or a failure) answered:
    ``url`` or, after redirects, the last one they led to."""
    try:
        return event.request.url
    except (RuntimeError, AttributeError):  # an error raised before any request was made
        return url


def _final(key: str, response: httpx.Response) -> str | None:
    """Where a redirect led the request for ``key``, or None when nowhere else."""
    final = str(response.url)
    return final if final != key else None


def _redirected(url: httpx.URL, event: httpx.HTTPError | httpx.Response) -> str:
    """`` (redirected to ...)`` when ``event`` came from where redirects led
    from ``url``: "connection refused" or a 404 for the configured URL, which
    answers, only misleads."""
    asked = _asked(event, url)
    return "" if asked == url else f" (redirected to {shown_url(str(asked))})"


class _Deadline(Exception):
    def __init__(self, answered: bool, looking_up: str | None = None) -> None:
        super().__init__()
        self.answered = answered  # the status line and headers had come
        self.looking_up = looking_up  # the host still being looked up (or connected to) at the deadline


#: How long after the deadline a request's thread may take to end once its sockets are shut.
_LOOKUP_GRACE = 0.5


def _unframed(response: httpx.Response) -> bool:
    """Whether ``response``'s body ends only where the connection closes (HTTP/1
    with neither a Content-Length nor chunks): its end says nothing of a cut."""
    headers = response.headers
    return not ("Content-Length" in headers or "chunked" in headers.get("Transfer-Encoding", "").lower()
                or not response.http_version.startswith("HTTP/1"))


#: What may follow a whole document in a body and say nothing of a cut: white space,
#: NUL padding, a DOS end-of-file mark (``\x1a``).
_TRAILERS = b" \t\r\n\x0b\x0c\x00\x1a"
#: The charsets a body's end is judged in (another's bytes, UTF-16's NULs, end otherwise).
_JUDGED_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
#: expat's errors that only the end of the input gives: a document stopped short.
_CUT_XML = frozenset({"no element found", "unclosed token", "partial character", "unclosed CDATA section"})
#: An XML declaration's encoding.
_DECLARED_ENCODING = lazy(rb"""^<\?xml[^>]*?\bencoding\s*=\s*["']([^"']{0,40})["']""")


def _cut_unframed(response: httpx.Response, body: bytes) -> str | None:
    """Why ``body`` was cut off, or None: an HTTP/1 answer with neither a
    Content-Length nor chunks ends where the server closes the connection,
    so a server (or a proxy) that dropped it halfway gave half a feed that
    looked whole to the client: it failed as 'not a well-formed feed (no
    element found); truncated or not XML?' and was never asked again,
    though the next request brought it all.  A UTF-8 or ASCII document is
    cut off when parsing it fails as only its end stopping short fails;
    a mere look at its last byte took whole feeds followed by NULs or by
    a PHP notice, in UTF-16, and login pages that close no tags, as cut
    off, and failed them as such (see :func:`_stops_short`)."""
    if not _unframed(response):
        return None
    if (response.charset_encoding or "utf-8").lower() not in _JUDGED_CHARSETS:
        return None
    text = body.removeprefix(b"\xef\xbb\xbf").strip(_TRAILERS)
    if not text or b"\x00" in text[:4] or _HTML_START.match(text[:65536]) is not None:  # UTF-16, UTF-32; a page
        return None
    if not _stops_short(text):
        return None
    return f"received {len(body):,} bytes with no length said, ending mid-document"


def _stops_short(text: bytes) -> bool:
    """Whether ``text``, XML or JSON in UTF-8, fails to parse as a document cut
    off fails: expat's errors that only the end of the input gives, a JSON
    value or string the input ends in, a character split by the end."""
    import json
    import xml.parsers.expat

    if text[:1] == b"<":
        declared = _DECLARED_ENCODING.match(text[:1024])
        if declared is not None and declared[1].decode("ascii", "replace").lower() not in _JUDGED_CHARSETS:
            return False
        parser = xml.parsers.expat.ParserCreate()

        def declared_entity(*_: object) -> None:  # nothing expanded: the real parse refuses them
            raise ValueError

        parser.EntityDeclHandler = declared_entity
        try:
            parser.Parse(text, True)
        except ValueError:
            return False
        except xml.parsers.expat.ExpatError as exc:
            return xml.parsers.expat.ErrorString(exc.code) in _CUT_XML
        return False
    if text[:1] not in (b"{", b"["):
        return False
    try:
        document = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(text) - 3 and exc.reason == "unexpected end of data"
    try:
        json.loads(document)
    except json.JSONDecodeError as exc:
        rest = document[exc.pos:]  # a literal the end split ('fa' of false), or nothing
        return exc.msg.startswith("Unterminated string") or any(word.startswith(rest) for word in ("true", "false",
                                                                                                   "null", "-"))
    except RecursionError:
        return False
    return False


class _RedirectLoop(Exception):
    """httpx's ``TooManyRedirects``, with the URLs the redirects led to."""

    def __init__(self, asked: list[str]) -> None:
        super().__init__()
        self.asked = asked


def _loop_said(asked: list[str], secrets: list[str]) -> str:
    """Where redirects went round: ``a redirect loop: URL -> URL -> URL``
    from the first address asked again back to it (an http:// and https://
    pair of a proxy in front of the site, a login page sending back to the
    feed), or the first and last of a chain that never came back; "a
    redirect loop?" alone left the user to follow 21 redirects by hand.
    ``secrets`` are the configured URL's: an address a login page sends
    back to may hold the feed's, encoded again (see :func:`url_secrets`)."""
    shown = [shown_url(u, url_secrets(u) + secrets) for u in asked]
    for j, url in enumerate(shown):
        if url in shown[:j]:
            return "a redirect loop: " + " -> ".join(shown[shown.index(url): j + 1])
    if len(shown) < 2:
        return "a redirect loop?"
    return f"each to another address: {shown[0]} -> {shown[1]} -> ... -> {shown[-1]}"


class _Exchange:
    """One request's connections, as httpcore's ``trace`` reports them, and
    the deadline's way to end them: shut each socket down (a connection made
    after the deadline, once a slow lookup has answered, at once)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.fired = threading.Event()
        self.looking_up: str | None = None  # the host of a connection begun and not yet made
        self.asked: list[str] = []  # each URL a GET went to, redirects followed (see _loop_said)
        self._streams: list = []
        self._lock = threading.Lock()

    def trace(self, event: str, info: dict) -> None:
        if event.endswith(".send_request_headers.started") and (request := info.get("request")) is not None:
            if request.method == b"GET":  # (not a proxy's CONNECT)
                url = request.url
                target = url.target.decode("ascii", "replace")
                self.asked.append(target if target.startswith(("http://", "https://")) else
                                  f"{url.scheme.decode()}://{url.host.decode()}"
                                  f"{'' if url.port is None else f':{url.port}'}{target}")
        elif event.endswith(".connect_tcp.started"):
            self.looking_up = info.get("host")
        elif event.endswith((".connect_tcp.complete", ".start_tls.complete")) and info.get("return_value"):
            self.looking_up = None
            with self._lock:
                self._streams.append(info["return_value"])
            if self.fired.is_set():
                self.abort()

    def abort(self) -> None:
        self.fired.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            sock = stream.get_extra_info("socket")
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError):
                pass


class Fetcher:
    """GET with timeout, retries, politeness and a revalidating cache; see the module doc.

    ``sleep(seconds)`` and ``clock() -> seconds since the epoch`` are injectable
    for tests.  Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 2.0,
        max_wait: float = 120.0,
        fresh_for: float = 3600.0,
        user_agent: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_bytes: int = MAX_BYTES,
        monotonic: Callable[[], float] = time.monotonic,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.cache = ResponseCache(cache_dir) if cache_dir is not None else None
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.monotonic = monotonic  # the deadline's clock: real time, as socket timeouts are
        self.stop = stop  # true (``run`` got SIGTERM): no new attempt, no retry
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.fresh_for = fresh_for
        self.user_agent = user_agent  # None: default_user_agent(), on the first request
        self.sleep = sleep
        self.clock = clock
        self._client: httpx.Client | None = None
        self._last_request: dict[str, float] = {}

    @classmethod
    def from_config(cls, config, **overrides) -> Fetcher:
        http = config.http
        settings = dict(
            cache_dir=config.cache_dir,
            timeout=http.timeout,
            retries=http.retries,
            backoff=http.backoff,
            max_wait=http.max_wait,
            fresh_for=http.fresh_for,
            user_agent=http.user_agent,
            max_bytes=http.max_bytes,
        )
        settings.update(overrides)
        return cls(**settings)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
            if self.cache is not None:  # a run that asked a server (one answered from disk alone leaves it)
                self.cache.prune(self.clock(), max(CACHE_KEEP, self.fresh_for))

    @property
    def client(self) -> httpx.Client:
        import httpx  # imported on the first request: sends from local files never need it

        if self._client is None:
            try:
                self._client = httpx.Client(
                    timeout=self.timeout,
                    limits=httpx.Limits(max_keepalive_connections=0),  # one socket per request (see _request)
                    follow_redirects=True,
                    headers={"User-Agent": self.user_agent or default_user_agent(), "Accept-Encoding": accept_encoding()},
                )
            except (ValueError, ImportError) as exc:  # a proxy in the environment (httpx builds them all up front)
                bad = [(u, v) for _, u, v in environment_proxies() if urlsplit(u).scheme.lower() not in PROXY_SCHEMES]
                if not bad:
                    raise
                raise _ProxyUnusable(
                    f"cannot use the proxy {shown_proxy(*bad[0])}: only http://, https:// and socks5:// proxies are supported"
                ) from exc
        return self._client

    def get(
        self,
        url: str,
        params: Mapping[str, object] | None = None,
        *,
        source: str,
        min_interval: float = 0.0,
        refresh: bool = False,
    ) -> Fetched:
        """The body at ``url`` (with ``params`` added to its query).

        ``source`` names the config source in errors.  ``min_interval`` is the
        least time between two requests to the URL's host (a cached answer
        makes no request, so it does not wait).  ``refresh`` asks the server
        again, unconditionally, whatever the cache holds (a cached answer
        the caller found wanting).  Errors show the URL without the secrets
        it carries (see :func:`shown_url`).
        """
        try:
            return self._get(url, params, source=source, min_interval=min_interval, refresh=refresh)
        except InputError as exc:
            hide_secrets(exc, url_secrets(url))
            raise

    def _get(
        self,
        url: str,
        params: Mapping[str, object] | None,
        *,
        source: str,
        min_interval: float,
        refresh: bool,
    ) -> Fetched:
        import httpx

        try:
            full = httpx.URL(url)
            if params:
                full = full.copy_merge_params({k: str(v) for k, v in params.items()})
        except httpx.InvalidURL as exc:
            raise InputError(Problem(f"source {source!r}: invalid URL ({exc})", url)) from None
        key = str(full)
        cached = self.cache.load(key) if self.cache and not refresh else None
        if cached is not None and 0 <= self.clock() - cached.fetched_at < self.fresh_for:
            log.debug("%s: fresh in the cache", shown_url(key))
            return Fetched(key, cached.body, from_cache=True, final_url=cached.final_url)
        try:
            self.client  # noqa: B018 -- built before asking, so that a proxy it cannot use fails this source, named
        except _ProxyUnusable as exc:
            raise InputError(Problem(f"source {source!r}: {exc}", key)) from None

        headers = {}
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified

        attempts = self.retries + 1
        problem = ""
        unreachable = False  # the last attempt reached no server (a name that did not resolve, no connection)
        kind: UnreachableKind = "no answer"  # and why, when it did not
        attempt, retries = 0, self.retries
        for attempt in range(attempts):
            if self.stop is not None and self.stop():
                raise InputError(Problem(f"source {source!r}: not fetched: stop requested", key))
            self._be_polite(full.host, min_interval)
            wait: float | None = None
            try:
                response, body = self._request(full, headers)
            except (_TooBig, _Undecodable) as exc:
                raise InputError(Problem(f"source {source!r}: {exc}", key)) from None
            except httpx.TimeoutException as exc:
                problem = f"no answer within {self.timeout:g} s{_redirected(full, exc)}"
                unreachable, kind = isinstance(exc, httpx.ConnectTimeout), "no answer"
            except httpx.UnsupportedProtocol as exc:  # a redirect to file:, ftp:...: asking again ends there again
                raise InputError(
                    Problem(f"source {source!r}: redirected to a URL that is not http(s) ({exc})", key)
                ) from None
            except _Deadline as exc:
                problem = (
                    f"the answer did not complete within {self.timeout:g} s (http.timeout, for the whole request)"
                    if exc.answered
                    else f"no answer within {self.timeout:g} s"
                )
                if exc.looking_up is not None:  # no server was reached: a DNS server not answering, or no network
                    problem = (f"no connection to {exc.looking_up!r} within {self.timeout:g} s (http.timeout): its "
                               "name was not looked up in time, or none of its addresses answered; a DNS server "
                               "that does not answer, or no network?")
                    unreachable, kind = True, "no answer"
            except httpx.TransportError as exc:
                # the URL asked when it failed: a redirect's target is not the configured URL
                target, moved = _asked(exc, full), _redirected(full, exc)
                if (cert := _cert_error(exc)) is not None:  # asking again brings the same certificate
                    raise InputError(
                        Problem(f"source {source!r}: the server's TLS certificate is not trusted "
                                f"({cert.verify_message or cert.reason}){moved}; "
                                f"{_certificate_remedy(cert, target.host)}", key)
                    ) from None
                tls = _cause(exc, ssl.SSLError)
                if tls is not None and tls.reason == "WRONG_VERSION_NUMBER" and not _via(target):
                    # https:// to a plain HTTP port: its "HTTP/1.1 400" read as a TLS record, and asking
                    # again brings the same; it was retried, then called unreachable ("offline?")
                    raise InputError(Problem(f"source {source!r}: the server answered without TLS{moved}: "
                                             f"use http:// ({target.copy_with(scheme='http')})", key)) from None
                if str(exc).startswith("Invalid URL in location header"):  # asking again is redirected there again
                    raise InputError(Problem(f"source {source!r}: redirected to an address that is not a URL "
                                             f"({exc})", key)) from None
                if (attempt == 0 and target.scheme == "http" and not isinstance(exc, httpx.ConnectError)
                        and not _via(target) and speaks_tls(target.host, target.port or 80, min(self.timeout, 10.0))):
                    raise InputError(Problem(f"source {source!r}: the server answered in TLS: use https:// "
                                             f"({target.copy_with(scheme='https')})", key)) from None
                ended = (_handshake_refused(exc) if isinstance(exc, httpx.ConnectError) and target.scheme == "https"
                         and not _via(target) else None)
                if ended is not None and not ended[1]:  # no TLS version in common: asking again agrees on none again
                    raise InputError(Problem(f"source {source!r}: {ended[0]}{moved}", key)) from None
                if (garbled := _not_http(exc)) is not None:  # asking again brings the same answer
                    raise InputError(Problem(f"source {source!r}: {garbled}{_via(target)}{moved}", key)) from None
                proxied = _proxy_fault(exc, target, target.host)
                if proxied is not None and not proxied[1]:  # the proxy's rule or login: asking again gets the same
                    raise InputError(Problem(f"source {source!r}: {proxied[0]}{moved}", key)) from None
                unresolved = _cause(exc, socket.gaierror)
                # a TLS handshake that failed reached the server (httpx counts it a connection error)
                unreachable = unresolved is not None or (isinstance(exc, httpx.ConnectError) and tls is None)
                # a refused connection is the host's answer (nothing listens on that port): the network works
                kind = ("no name" if unresolved is not None
                        else "refused" if _cause(exc, ConnectionRefusedError) is not None else "no answer")
                if proxied is not None:  # the proxy's fault, not the network's: no 'offline?'
                    problem, unreachable = f"{proxied[0]}{moved}", False
                elif unresolved is not None and not _via(target):  # "[Errno -2] Name or service not known"
                    problem = (f"cannot find the host {target.host!r} ({unresolved.strerror}){moved}: "
                               + ("a host the site no longer has, or no network?" if moved
                                  else "a typo in the URL, or no network?"))
                    if unresolved.errno in _NO_SUCH_NAME:
                        # The resolver answered that the name does not exist (offline, it
                        # often says so too): one more try covers a resolver that was
                        # restarting; the full backoff only made a first run offline wait
                        # half a minute per source before saying so.
                        retries = min(retries, 1)
                        if attempt >= retries:
                            break
                elif ended is not None:  # the server took the connection: not a host unreached
                    problem, unreachable = f"{ended[0]}{moved}", False
                elif (cut := _CUT_OFF.match(str(exc))) is not None:  # (h11's words: the connection had worked)
                    problem = f"the answer was cut off: the server closed the connection before its end ({cut[1]}){moved}"
                else:
                    problem = f"connection failed: {exc or type(exc).__name__}{_via(target)}{moved}"
            except _RedirectLoop as exc:
                raise InputError(
                    Problem(f"source {source!r}: too many redirects (more than {self.client.max_redirects}): "
                            f"{_loop_said(exc.asked, url_secrets(url))}", key)
                ) from None
            except httpx.InvalidURL as exc:  # the configured URL parsed above: a redirect's Location did not
                raise InputError(
                    Problem(f"source {source!r}: redirected to an address that cannot be fetched ({exc})", key)
                ) from None
            except httpx.HTTPError as exc:  # retrying will not help
                raise InputError(Problem(f"source {source!r}: {exc}", key)) from None
            else:
                unreachable = False
                status = response.status_code
                if status == 304 and cached is not None:
                    log.debug("%s: not modified, reusing the cached copy", shown_url(key))
                    self._store(key, cached.body, response, cached)
                    return Fetched(key, cached.body, revalidated=True, final_url=_final(key, response))
                if 200 <= status < 300 and (check := _bot_check(response, body)) is not None:
                    raise InputError(Problem(f"source {source!r}: HTTP {status} {response.reason_phrase}, with "
                                             f"a challenge page for the feed: {check}", key))
                if 200 <= status < 300:
                    self._store(key, body, response, None)
                    return Fetched(key, body, final_url=_final(key, response))
                problem = f"HTTP {status} {response.reason_phrase}".rstrip()
                if status == 304:  # "not modified" since a copy this request did not say it had
                    problem += (" to a request that named no cached copy (no If-None-Match or If-Modified-Since): "
                                "the server, or a proxy or cache in the way, answers wrongly")
                elif 300 <= status < 400 and "Location" not in response.headers:
                    problem += " (a redirect that names no address to go to)"
                elif (stored := storage_error(body)) is not None:
                    problem += f" (the server says {stored})"
                elif _bot_check(response, body) is None:  # (a challenge's title, "Just a moment...", says nothing)
                    problem += _status_page_said(status, response.reason_phrase, body)
                problem += _redirected(full, response)
                if status == 400 and full.scheme == "http" and _PLAIN_HTTP_TO_HTTPS.search(body[:4096]):
                    raise HTTPStatusFailure(Problem(f"source {source!r}: {problem}: the server expects TLS on "
                                                    f"this port: use https:// ({full.copy_with(scheme='https')})",
                                                    key), status, body)
                if status == 401:  # 'HTTP 401 Unauthorized' alone did not say what the URL lacks
                    problem += (": the server refused the login the URL carries" if url_secrets(str(full))
                                else ": the server wants a login: write it into the url "
                                     "(https://USER:PASSWORD@host/...), or the token the site gives (?token=...)")
                if (check := _bot_check(response, body)) is not None:  # asking again meets the same check
                    raise HTTPStatusFailure(Problem(f"source {source!r}: {problem}: {check}", key), status, body)
                if status not in RETRY_STATUSES:
                    raise HTTPStatusFailure(Problem(f"source {source!r}: {problem}", key), status, body)
                wait = retry_after(response.headers.get("Retry-After"), self.clock())
                if wait is not None and wait > self.max_wait:
                    # asked to come back later than we would wait: say so now, not after the retries
                    raise InputError(
                        Problem(f"source {source!r}: {problem}, retry after {waiting(wait)} "
                                f"(longer than the {self.max_wait:g} s this run waits)", key)
                    )
            if attempt + 1 < attempts:
                # Retry-After is the least wait: a '0' (or a second) from a server that keeps failing
                # had every retry sent back to back, all of them spent in the same moment of trouble
                delay = min(max(wait or 0.0, backoff(self.backoff, attempt + 1, self.max_wait)), self.max_wait)
                log.info("%s: %s; retry %d of %d in %s", shown_url(key), problem, attempt + 1, retries, waiting(delay))
                self.sleep(delay)
        tries = f" (gave up after {attempt + 1} attempts)" if attempt else ""
        failure = Problem(f"source {source!r}: {problem}{tries}", key)
        raise Unreachable(failure, kind=kind) if unreachable else InputError(failure)

    def _request(self, url: httpx.URL, headers: dict) -> tuple[httpx.Response, bytes]:
        """One GET, streamed: the whole of it within ``timeout`` seconds and the
        body within ``max_bytes`` (a declared Content-Length over it is refused
        before reading).  Raises :class:`_Deadline` or :class:`_TooBig`.

        httpx's timeouts are per read, so a server dripping bytes (into the
        body or the headers) would never time out: a watchdog shuts the
        connection's socket down at the deadline (the socket comes from
        httpcore's ``trace`` extension; connections are not kept alive, so
        every request has its own).  Looking the host name up has no socket
        to shut and no timeout of its own (a DNS server that does not answer
        held a run for as long as the resolver's retries took): the exchange
        runs in a thread of its own, left behind when the deadline passes
        with no connection made."""
        deadline = self.monotonic() + self.timeout
        exchange = _Exchange(self.timeout)
        # past the deadline the watchdog has shut the sockets: a worker still busy a moment
        # later is in no socket, but in the name lookup
        done = within(lambda: self._exchange(url, headers, exchange, deadline), self.timeout + _LOOKUP_GRACE)
        if done is None:
            exchange.abort()
            raise _Deadline(False, looking_up=exchange.looking_up or url.host)
        return done

    def _exchange(self, url: httpx.URL, headers: dict, exchange: _Exchange,
                  deadline: float) -> tuple[httpx.Response, bytes]:
        """:meth:`_request`'s GET, in its worker thread."""
        import httpx

        answered = False
        watchdog = threading.Timer(self.timeout, exchange.abort)
        watchdog.daemon = True
        watchdog.start()
        try:
            with self.client.stream("GET", url, headers=headers, extensions={"trace": exchange.trace}) as response:
                answered = True
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_bytes and "Content-Encoding" not in response.headers:
                    raise _TooBig(self._too_big(int(declared)))
                encodings = [e.strip().lower() for e in response.headers.get_list("Content-Encoding", split_commas=True)]
                chunks, size = [], 0
                try:
                    for chunk in decompressed(response.iter_raw(), [e for e in encodings if e]):
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise _TooBig(self._too_big(None))
                        chunks.append(chunk)
                        if self.monotonic() > deadline:
                            raise _Deadline(answered)
                except _Undecodable as exc:
                    if response.is_success and _unframed(response) and str(exc).endswith("(truncated))"):
                        # a packed answer with no length, stopped short: cut off, as below
                        raise httpx.RemoteProtocolError(
                            f"peer closed connection without sending complete message body (received "
                            f"{response.num_bytes_downloaded:,} bytes with no length said, the compressed data "
                            "ending before its end)", request=response.request) from None
                    if response.is_success:
                        raise
                    chunks = []  # an error page's body is a bonus: its status is the news
                if exchange.fired.is_set():
                    raise _Deadline(answered)
                body = b"".join(chunks)
                if response.is_success and (cut := _cut_unframed(response, body)) is not None:
                    # said and asked again as an answer cut off before its Content-Length is
                    raise httpx.RemoteProtocolError(f"peer closed connection without sending complete message body "
                                                    f"({cut})", request=response.request)
                return response, body
        except httpx.TransportError:
            if exchange.fired.is_set():
                raise _Deadline(answered) from None
            raise
        except httpx.TooManyRedirects:
            raise _RedirectLoop(exchange.asked) from None
        finally:
            watchdog.cancel()

    def _too_big(self, size: int | None) -> str:
        what = f"is {size:,} bytes" if size is not None else "goes on"
        return f"the response {what}, over the limit of {self.max_bytes:,} bytes (http.max_bytes)"

    def forget(self, url: str) -> None:
        """Drop a cached answer (one that turned out to be unusable), so the
        next run asks the server instead of reusing it."""
        if self.cache is not None:
            self.cache.forget(url)

    def _be_polite(self, host: str, min_interval: float) -> None:
        """Space out the requests that ask for it (only those: other sources on
        the same host are not slowed down)."""
        if min_interval <= 0:
            return
        if host in self._last_request:
            elapsed = self.clock() - self._last_request[host]
            if elapsed < min_interval:
                self.sleep(min_interval - max(elapsed, 0.0))
        self._last_request[host] = self.clock()

    def _store(self, key: str, body: bytes, response: httpx.Response, cached: CachedResponse | None) -> None:
        if self.cache is None:
            return
        etag = response.headers.get("ETag") or (cached.etag if cached else None)
        modified = response.headers.get("Last-Modified") or (cached.last_modified if cached else None)
        self.cache.store(key, body, self.clock(), etag, modified, body_unchanged=cached is not None,
                         final_url=_final(key, response))
