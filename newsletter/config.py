"""Read ``config.yaml`` once into typed, frozen objects, or fail with every problem.

Validation is pydantic's; what this module adds is the *where*: each problem is
reported as ``FILE:LINE: path: message`` (``config.yaml:14: subscribers[2].email:
'bob@' is not a valid address``), all of them at once, with a "did you mean"
for misspelt keys and values.  Paths in the config are relative to the config
file's folder, and are resolved here so no later stage needs to know that.
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import fnmatch
import functools
import glob
import hashlib
import json
import marshal
import os
import re
import shlex
import stat
import sys
import unicodedata
import zoneinfo
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError, Problem, counted, line_of
from .files import bomless_unicode, broken_link, own_private, write_atomic
from .models import ARXIV_ID, SHOWS_NOTHING
from .patterns import lazy, lazy_while_importing
from .retrying import waiting
from .scheduling import Schedule, parse_schedule
from .state import check_state_target, is_database_url, public_url

#: PyYAML, imported by :func:`_yaml` when a text is first read: a config taken
#: from its kept read (see :class:`_KeptRead`) needs none (the import was some
#: 4 ms of every command's start).
yaml: Any = None

#: The template files an email is built from (see rendering.py); a `templates:` folder overrides any of them.
TEMPLATE_NAMES = ("digest.html", "digest.txt", "style.css")
DEFAULT_SUBJECT = "{{ count or 'No' }} new paper{{ 's' if count != 1 }}: {{ topics | join(', ') }}"
FIELDS = ("title", "abstract", "authors", "categories")

_ADDRESS = lazy(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


# --------------------------------------------------------------------------- checks

#: Characters that show nothing (:data:`models.SHOWS_NOTHING`), and in a setting
#: also the zero-width joiners and the left-to-right and right-to-left marks.
_SHOWS_NOTHING = lazy(f"[{SHOWS_NOTHING}\u200c-\u200f]")


def _visible(value):
    """A setting's text without the characters that show nothing (a zero-width
    space copied with a term from a web page: the papers lose theirs when read,
    so the term matched none of them)."""
    return _SHOWS_NOTHING.sub("", value) if isinstance(value, str) else value


#: A mailbox with its name, where a bare address goes.
_NAMED_ADDRESS = lazy(r"[^<>\r\n]*<(?P<addr>[^<>\s]+@[^<>\s]+)>")


def check_address(value: str, *, in_config: bool = True) -> str:
    """A bare e-mail address, ``local@domain.tld``, as it is to be used; ``ValueError`` otherwise.

    A domain written in Unicode (``ada@münchen.de``) is returned in its ASCII
    form (``ada@xn--mnchen-3ya.de``, IDNA 2008 with the UTS 46 mapping, by
    the ``idna`` package): that is what SMTP servers without SMTPUTF8 take,
    what the headers carry (mail clients show it in Unicode again) and what
    the state records, so both spellings are one subscriber.  A non-ASCII
    part before the ``@`` has no ASCII form: it would need SMTPUTF8 mail
    (RFC 6531), which is not sent, so it is refused, saying so.  Spaces
    around the address and characters that show nothing (a zero-width space
    copied with it) are dropped: "needs SMTPUTF8" was said of an address
    that looked plain ASCII.  ``in_config=False`` for one given on the
    command line, where there is no ``name:`` to put a name under."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a valid address")
    if _plain_address(value):
        return value  # (every subscriber's address is checked at each start: 2,000 took 10 ms the long way)
    # what a copy from a web page, a chat or a spreadsheet brings along: spaces
    # around it, characters that show nothing (no address holds any)
    value = _visible(value)
    if "\n" not in value and "\r" not in value:  # (a line break is refused below: it reached headers and state)
        value = value.strip()
    if (named := _NAMED_ADDRESS.fullmatch(value)) is not None:  # "Ada Lovelace <ada@example.org>"
        raise ValueError(f"{value!r} is not a bare address: write the address alone, {named['addr'].strip()}"
                         + (", and the name under name:" if in_config else ""))
    if value[:7].casefold() == "mailto:":
        raise ValueError(f"{value!r} is not a bare address: write it without 'mailto:', {value[7:]}")
    if value.count("@") > 1 and re.search(r"@[^,;\s]+[,;\s]+[^,;\s]+@", value):  # a list pasted as one address
        one = "each subscriber its own email: (an entry of its own)" if in_config else "one address at a time"
        raise ValueError(f"{value!r} is several addresses: give {one}")
    if any(c.isspace() and c not in "\r\n" for c in value):
        odd = next((c for c in value if c.isspace() and c != " "), None)
        what = f" ({unicodedata.name(odd, 'a space').lower()})" if odd and odd not in "\t\r\n" else ""
        raise ValueError(f"{value!r} is not a valid address: it holds a space{what}")
    local, at, domain = value.rpartition("@")
    if at and not local.isascii():
        raise ValueError(
            f"{value!r}: the part before the @ is not ASCII; such an address needs SMTPUTF8 mail (RFC 6531), "
            "which Paper Digest does not send: use an ASCII address of the same mailbox"
        )
    if at and local and not domain.isascii() and "\n" not in domain and "\r" not in domain:
        try:
            domain = ascii_domain(domain)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid address ({exc})") from None
        value = f"{local}@{domain}"
    # fullmatch: the pattern's $ also matches before a final newline, which let
    # "ada@example.org\n" through to the headers (refused only when composing)
    if not _ADDRESS.fullmatch(value) or ".." in value:
        raise ValueError(f"{value!r} is not a valid address")
    if local.startswith(".") or local.endswith("."):  # taken here, it was refused by every send, with no line
        raise ValueError(f"{value!r} is not a valid address: the part before the @ may not start or end with a dot")
    return value


def _plain_address(value: str) -> bool:
    """Whether :func:`check_address` would return ``value`` as it is, told
    by one match: ASCII, one ``@``, nothing to strip or drop, no dot at
    either end of the part before the ``@`` (what almost every address is)."""
    if not _ADDRESS.fullmatch(value) or ".." in value:
        return False
    local = value.partition("@")[0]
    return not (local.startswith(".") or local.endswith("."))


def ascii_domain(domain: str) -> str:
    """A domain name written in Unicode (``münchen.de``) in its ASCII form
    (``xn--mnchen-3ya.de``: IDNA 2008 with the UTS 46 mapping, by the
    ``idna`` package), as mail servers and URLs in headers take it;
    ``ValueError`` saying why when it has none."""
    import idna  # only for the rare name that needs it

    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(f"its domain is not a valid internationalised name: {exc}") from None


def address_key(value: str) -> str:
    """What tells two addresses apart: the form :func:`check_address` uses,
    case-folded (``ADA@Example.org`` and ``ada@example.org`` are one mailbox
    in practice); an invalid address as written."""
    value = value.strip()
    try:
        value = check_address(value)
    except ValueError:
        pass
    return value.lower()


def check_header_text(value: str) -> str:
    """Text bound for a mail header: a line break would let it forge headers."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError(f"{value!r} contains a line break (header injection is not allowed)")
    return value


def check_mailbox(value: str) -> str:
    """``Name <addr@host>`` or ``addr@host``."""
    from email.utils import getaddresses

    check_header_text(value)
    # getaddresses, not parseaddr: parseaddr quietly takes the first of
    # 'a@b.org, c@d.org' or of 'x@y.org <digest@example.org>' (the email went
    # out from another address than the one configured)
    found = getaddresses([value])
    try:
        if len(found) != 1:
            raise ValueError
        written = found[0][1]
        used = check_address(written)
    except ValueError:
        named = re.fullmatch(r"\s*([^\"<>@]*[,;][^\"<>@]*?)\s*(<[^<>]+>)\s*", value)
        if named and len(found) != 1:  # 'Lab, Digest <d@x.org>': a comma in the name splits it in two
            raise ValueError(f"{value!r}: the name holds {next(c for c in ',;' if c in named[1])!r}, which splits "
                             f"or ends an address: put the name in double quotes, '\"{named[1]}\" {named[2]}'"
                             ) from None
        raise ValueError(f"{value!r} is not a valid mailbox (expected 'Name <address>' or 'address')") from None
    if used != written:  # an internationalised domain: its ASCII form, the name kept as written
        head, _, tail = value.rpartition(written)
        value = head + used + tail
    return value


#: Abbreviations people write for a zone (not zone names, except the few
#: legacy ones below that are fixed offsets): the zones of places they mean.
_ABBREVIATIONS = {
    **dict.fromkeys(("PST", "PDT", "PT"), ("America/Los_Angeles",)),
    **dict.fromkeys(("MDT", "MT"), ("America/Denver",)),
    **dict.fromkeys(("CST", "CDT", "CT"), ("America/Chicago", "Asia/Shanghai")),
    **dict.fromkeys(("EDT", "ET"), ("America/New_York",)),
    **dict.fromkeys(("AKST", "AKDT"), ("America/Anchorage",)),
    **dict.fromkeys(("CEST", "MEZ", "MESZ"), ("Europe/Berlin", "Europe/Paris")),
    **dict.fromkeys(("BST",), ("Europe/London",)),
    **dict.fromkeys(("IST",), ("Asia/Kolkata", "Europe/Dublin", "Asia/Jerusalem")),
    **dict.fromkeys(("EEST",), ("Europe/Athens", "Europe/Helsinki")),
    **dict.fromkeys(("WEST",), ("Europe/Lisbon",)),
    **dict.fromkeys(("MSK",), ("Europe/Moscow",)),
    **dict.fromkeys(("JST",), ("Asia/Tokyo",)),
    **dict.fromkeys(("KST",), ("Asia/Seoul",)),
    **dict.fromkeys(("SGT",), ("Asia/Singapore",)),
    **dict.fromkeys(("HKT",), ("Asia/Hong_Kong",)),
    **dict.fromkeys(("AEST", "AEDT"), ("Australia/Sydney",)),
    **dict.fromkeys(("ACST", "ACDT"), ("Australia/Adelaide",)),
    **dict.fromkeys(("AWST",), ("Australia/Perth",)),
    **dict.fromkeys(("NZST", "NZDT"), ("Pacific/Auckland",)),
    **dict.fromkeys(("BRT",), ("America/Sao_Paulo",)),
}
#: Where an ambiguous abbreviation's zones are.
_ZONE_PLACES = {"Asia/Kolkata": "India", "Europe/Dublin": "Ireland", "Asia/Jerusalem": "Israel",
                "America/Chicago": "US Central", "Asia/Shanghai": "China"}
#: A zone as people say it, or a large city without a zone of its own name
#: (the zone is its neighbour's): the nearest spelling answered 'Pacific Time'
#: with 'Pacific/Niue', 'Mumbai' with 'Cuba' and 'Eastern' with 'Canada/Eastern'.
#: Not a name several places share ('Washington' the state or DC, 'Portland'
#: Oregon or Maine): a guess there puts the digests hours off.
_SPOKEN_ZONES = {
    **dict.fromkeys(("eastern", "us eastern"), "America/New_York"),
    **dict.fromkeys(("central", "us central"), "America/Chicago"),
    **dict.fromkeys(("mountain", "us mountain"), "America/Denver"),
    **dict.fromkeys(("pacific", "us pacific"), "America/Los_Angeles"),
    **dict.fromkeys(("central european", "central europe"), "Europe/Berlin"),
    "western european": "Europe/Lisbon", "eastern european": "Europe/Athens", "british": "Europe/London",
    "indian": "Asia/Kolkata", "india": "Asia/Kolkata", "china": "Asia/Shanghai",
    **dict.fromkeys(("boston", "washington dc", "dc", "philadelphia", "atlanta", "pittsburgh",
                     "princeton", "baltimore", "cambridge ma"), "America/New_York"),
    **dict.fromkeys(("houston", "dallas", "austin", "minneapolis", "st louis", "madison"), "America/Chicago"),
    **dict.fromkeys(("san francisco", "sf", "bay area", "silicon valley", "palo alto", "stanford", "berkeley",
                     "seattle", "san diego", "mountain view", "san jose"), "America/Los_Angeles"),
    **dict.fromkeys(("salt lake city", "boulder"), "America/Denver"),
    **dict.fromkeys(("montreal", "ottawa", "waterloo"), "America/Toronto"),
    **dict.fromkeys(("munich", "frankfurt", "hamburg", "cologne", "heidelberg", "tubingen", "tübingen", "stuttgart",
                     "bonn", "dresden", "leipzig"), "Europe/Berlin"),
    **dict.fromkeys(("geneva", "lausanne", "basel", "bern"), "Europe/Zurich"),
    **dict.fromkeys(("barcelona", "valencia", "seville"), "Europe/Madrid"),
    **dict.fromkeys(("milan", "turin", "florence", "naples", "pisa", "bologna"), "Europe/Rome"),
    **dict.fromkeys(("edinburgh", "manchester", "oxford", "glasgow", "bristol"), "Europe/London"),
    **dict.fromkeys(("lyon", "grenoble", "toulouse", "marseille"), "Europe/Paris"),
    **dict.fromkeys(("delft", "utrecht", "leiden", "eindhoven"), "Europe/Amsterdam"),
    **dict.fromkeys(("beijing", "peking", "shenzhen", "hangzhou", "nanjing", "guangzhou", "wuhan"), "Asia/Shanghai"),
    **dict.fromkeys(("delhi", "new delhi", "mumbai", "bombay", "bangalore", "bengaluru", "chennai", "madras",
                     "hyderabad", "pune", "calcutta"), "Asia/Kolkata"),
    **dict.fromkeys(("osaka", "kyoto"), "Asia/Tokyo"),
    **dict.fromkeys(("tel aviv", "haifa"), "Asia/Jerusalem"),
    **dict.fromkeys(("canberra",), "Australia/Sydney"),
}


def _spoken_zone(value: str) -> str | None:
    """The zone of ``value`` as people say it ('Pacific Time', 'Central
    European Time') or of a large city named after no zone ('Mumbai'), or None."""
    said = " ".join(value.replace("_", " ").replace(".", "").split()).casefold()
    for tail in (" standard time", " daylight time", " time", " timezone", " time zone"):
        said = said.removesuffix(tail) if said not in _SPOKEN_ZONES else said
    return _SPOKEN_ZONES.get(said)


#: Names several places share, with each one's zone: the nearest spelling
#: answered 'Portland' with 'Poland'.
_SHARED_NAMES = {"washington": "'America/New_York' for Washington DC, 'America/Los_Angeles' for the state",
                 "portland": "'America/Los_Angeles' for Portland, Oregon, 'America/New_York' for Portland, Maine"}
#: Said as US Mountain time, Arizona's clock too, which keeps standard time all year.
_MOUNTAIN_TOO = " or, in Arizona (no daylight saving time), 'America/Phoenix'"


#: 'UTC+1', 'GMT-05:00', '+05:30': an offset written as a zone.
_OFFSET = lazy(r"^(?:UTC|GMT|Z)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
#: Zone names of the database that are fixed offsets a reader takes for a place's time.
_FIXED_LEGACY = {"EST": "US Eastern time write 'America/New_York'", "MST": "US Mountain time write 'America/Denver'",
                 "GMT": "UK time write 'Europe/London' (for UTC, 'UTC')"}
#: Names for "the zone of this machine", which the database has as 'localtime'
#: (a link to /etc/localtime) or not at all.
_MACHINE_ZONE = ("local", "localtime", "system", "machine", "server")


def machine_zone() -> str | None:
    """This machine's zone by name ('Europe/Berlin'): ``$TZ`` when it names
    one, else where /etc/localtime links to; None where neither names a zone
    of the database."""
    tz = os.environ.get("TZ", "").removeprefix(":")
    target = os.path.realpath("/etc/localtime")
    for name in (tz, target.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in target else ""):
        if re.fullmatch(r"[A-Za-z][\w+-]*(?:/[\w+-]+)*", name) and name.casefold() not in _MACHINE_ZONE:
            try:
                zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
                continue
            return name
    return None


def _machine_zone_hint(name: str, *, known: bool) -> str:
    """Why 'localtime' is no zone to write: the config moves (to a server, a
    container, a systemd unit on a UTC host) and the digests' hour with it."""
    here = machine_zone()
    write = f"write its name, {here!r} here" if here else "write its name, such as 'Europe/Berlin'"
    what = f"{name!r} is the zone of whichever machine runs the command:" if known else "this machine's zone?"
    return f"{what} {write}; a server or a container running this config has its own, often UTC"


def _zone_hint(value: str) -> str | None:
    """What to write instead of an abbreviation, an offset or ISO 8601's 'Z',
    which the nearest spelling answered wrongly ('PST': 'MST', 'CEST': 'EST',
    'GMT+1': 'Etc/GMT+1', which is UTC-01:00, 'Z': 'NZ'); None for anything else."""
    if (offset := _OFFSET.match(value.strip())) is not None:
        sign, hours, minutes = offset.group(1), int(offset.group(2)), int(offset.group(3) or 0)
        place = "'Asia/Kolkata'" if minutes else "'Europe/Berlin', which keeps that place's clock all year"
        hint = f"an offset, not a zone: write the zone of a place, such as {place}"
        if not minutes and 0 < hours <= (14 if sign == "+" else 12):
            etc = f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
            hint += f"; for UTC{sign}{hours:02d}:00 all year, {etc!r}: the Etc/GMT names' signs are inverted"
        return hint
    if value.strip().upper() == "Z":  # the nearest spelling was 'NZ', New Zealand
        return "ISO 8601's mark for UTC, not a zone: write 'UTC'"
    if value.strip().casefold() in _MACHINE_ZONE:  # the nearest spelling of 'local' was 'localtime'
        return _machine_zone_hint(value.strip(), known=False)
    meant = _ABBREVIATIONS.get(value.strip().upper())
    if meant is None:
        if re.fullmatch(r"[A-Z]{2,5}", value.strip()):
            return "an abbreviation? write the zone of a place, such as 'Europe/Berlin'"
        return None
    if len(meant) == 1:
        return f"an abbreviation, not a zone: write the zone of a place, {meant[0]!r}, which keeps that place's clock all year"
    if all(zone in _ZONE_PLACES for zone in meant):
        named = [f"{zone!r} ({_ZONE_PLACES[zone]})" for zone in meant]
    else:
        named = [repr(zone) for zone in meant]
    listed = " or ".join(named) if len(named) == 2 else f"{', '.join(named[:-1])} or {named[-1]}"
    return f"an abbreviation, not a zone: write the zone of a place, such as {listed}"


def fixed_zone_advice(name: str) -> str | None:
    """Why a zone name the database knows is probably not what its writer
    meant: 'EST' is UTC-05:00 all year (New York's digests an hour late all
    summer), 'Etc/GMT+1' is UTC-01:00, 'localtime' is whichever machine's.
    None for any other name."""
    if name.casefold() in _MACHINE_ZONE:
        return _machine_zone_hint(name, known=True)
    if name in _FIXED_LEGACY:
        offset = zoneinfo.ZoneInfo(name).utcoffset(datetime(2000, 1, 1))
        hours = int(offset.total_seconds() // 3600) if offset is not None else 0
        return (f"{name!r} is UTC{'+' if hours >= 0 else '-'}{abs(hours):02d}:00 all year, without daylight saving "
                f"time: for {_FIXED_LEGACY[name]}")
    if (etc := re.fullmatch(r"Etc/GMT([+-])(\d{1,2})", name)) and int(etc.group(2)):
        written, hours = etc.group(1), int(etc.group(2))
        real = "-" if written == "+" else "+"
        return (f"{name!r} is UTC{real}{hours:02d}:00 all year (the Etc/GMT names' signs are inverted): for "
                f"UTC{written}{hours:02d}:00 write 'Etc/GMT{real}{hours}', or the zone of a place, such as "
                "'Europe/Berlin'")
    return None


def check_timezone(value: str) -> str:
    """``value`` as the zone name to use, or a ``ValueError`` naming the one
    meant.  Spaces around it, copied with it (``'Europe/Paris '`` in quotes:
    YAML keeps them there), are dropped, as around ``host`` and ``username``:
    the zone was plain, and the error said to write what was written."""
    if isinstance(value, str) and value.strip() and value.strip() != value:
        try:
            return check_timezone(value.strip())
        except ValueError:
            pass  # said of the value as written
    try:
        zoneinfo.ZoneInfo(value)
    # OSError: the key is a file path in the zone database: a region alone
    # ('Europe') is a folder, a name over 255 bytes too long for one
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        if isinstance(value, str) and (place := _zone_hint(value)) is not None:
            raise ValueError(f"unknown time zone {value!r} ({place})") from None
        if isinstance(value, str) and (shared := _SHARED_NAMES.get(" ".join(value.split()).casefold())):
            raise ValueError(f"unknown time zone {value!r} (several places have that name: {shared})") from None
        if isinstance(value, str) and (spoken := _spoken_zone(value)) is not None:
            too = _MOUNTAIN_TOO if spoken == "America/Denver" and "mountain" in value.casefold() else ""
            raise ValueError(f"unknown time zone {value!r} (did you mean {spoken!r}{too}?)") from None
        names = sorted(zoneinfo.available_timezones())
        folded = str(value).casefold()
        same = [n for n in names if n.casefold() == folded]  # 'utc', 'europe/berlin'
        city = str(value).strip().replace(" ", "_").casefold()
        # 'Paris', 'new york': the zone named after the city (its last part)
        named = [n for n in names if "/" in n and n.rpartition("/")[2].casefold() == city and not n.startswith("posix/")]
        region = [n for n in names if n.casefold().startswith(folded + "/")]
        hint = same or named or difflib.get_close_matches(value, names, n=1)
        shown = repr(value) if len(value) <= 60 else f"{value[:50]!r}... ({len(value) - 50} more characters)"
        if same or named or not region:
            why = f" (did you mean {hint[0]!r}?)" if hint else " (use an IANA name such as 'Europe/Berlin')"
        else:
            why = f" (a region: name one of its zones, such as {region[0]!r})"
        raise ValueError(f"unknown time zone {shown}{why}") from None
    return value


# --------------------------------------------------------------------------- the schema


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


def _check_path(value):
    # An empty path would silently mean the config's own folder (or "fetch it").
    if value is not None and not value.strip():
        raise ValueError("empty path; give a file, a folder or a glob such as 'papers/*.txt'")
    return _literal_path(value)


#: A shell variable written in a path ($HOME, ${STATE_DIRECTORY}): nothing expands it.
_VARIABLE = lazy(r"\$(?:\{\w+\}|[A-Za-z_]\w*)")


def _literal_path(value):
    """A path as written: ``delivery.path: $STATE_DIRECTORY/outbox`` (systemd's
    habit) made a folder named ``$STATE_DIRECTORY`` beside the config."""
    if isinstance(value, str) and _VARIABLE.search(value):
        raise ValueError(
            f"{value!r}: environment variables are not expanded in the config's paths: "
            "write the path itself (a leading ~ is expanded)"
        )
    return value


def _literal_state(value):
    """``state: ${DATABASE_URL}``, as a container or CI platform hands a
    database over, was told to "write the path itself": the URL holds no
    secret and goes in the config; libpq reads the rest from its variables."""
    url = isinstance(value, str) and (_VARIABLE.fullmatch(value.strip()) or value.startswith("postgres"))
    if url and _VARIABLE.search(value):
        raise ValueError(
            f"{value!r}: environment variables are not expanded in the config: write the state's database URL "
            "itself, postgresql://user@host:port/db (no password in it: libpq reads PGPASSWORD or ~/.pgpass), or "
            "postgresql:///db to take the host, port and user from PGHOST, PGPORT and PGUSER"
        )
    return _literal_path(value)


class _Source(_Model):
    name: str | None = None
    required: bool | None = None
    """A required source that fails stops the run (exit 2); others are reported
    and skipped.  Default: required when read from a local ``path:`` (a broken
    file is the user's to fix), optional when fetched (networks fail)."""

    _v_path = field_validator("path", check_fields=False)(lambda cls, v: _check_path(v))

    @property
    def is_required(self) -> bool:
        if self.required is not None:
            return self.required
        return bool(getattr(self, "path", None))

    @property
    def label(self) -> str:
        return self.name or self.type  # type: ignore[attr-defined]


class HFPapersTextSource(_Source):
    """Text export of a Hugging Face papers listing page (a file, folder or glob)."""

    type: Literal["hf-papers-text"]
    path: str


_HTTP_URL = lazy(r"^https?://[^\s/]+\S*$")


#: A URL written without its scheme: a host name with a dot, then a path or nothing.
_HOST_FIRST = lazy(r"^(?:www\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?::\d+)?(?:/\S*)?$")


def _check_url(value):
    """An http(s) URL as it is to be asked: without the spaces around it and the
    characters that show nothing which a copy from a web page or a chat brings
    along (pages put zero-width spaces and soft hyphens into long URLs, to
    break them: they reached the server, which answered 404)."""
    if isinstance(value, str):
        value = _visible(value).strip()
    if value is not None and not _HTTP_URL.match(value):
        feed = re.match(r"(?i)feed:(?://)?(https?://)?(.+)", value)
        if feed:  # the feed: scheme of old browsers' feed links
            hint = f" (a feed: link: write it as '{feed.group(1) or 'https://'}{feed.group(2)}')"
        elif _HOST_FIRST.match(value) and "/" in value.rstrip("/") or value.startswith("www."):
            hint = f" (did you mean 'https://{value}'?)"
        elif value.startswith("file:") or "://" not in value:
            hint = " (a saved file is given as path:)"
        else:
            hint = ""
        raise ValueError(f"{value!r} is not an http:// or https:// URL{hint}")
    if value is not None:
        # a URL with no host ('http://:80/feed', 'https://user@/x') or a port no server has
        # failed at the first request as 'redirected to a URL that is not http(s)' or 'offline?'
        try:
            parts = urlsplit(value)
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid URL ({exc})") from None
        if not host:
            raise ValueError(f"{value!r} names no host")
        if port == 0:
            raise ValueError(f"{value!r}: port 0 is no port a server listens on")
    return value


#: arXiv's categories (https://arxiv.org/category_taxonomy): each archive and its
#: subject classes, the aliases included (``math.MP`` is ``math-ph``, ``cs.NA``
#: ``math.NA``, ``math.ST`` ``stat.TH``, ...).  An archive alone (``astro-ph``,
#: ``cs``) is valid too: the announcement feed lists a whole archive.
ARXIV_TAXONOMY: dict[str, tuple[str, ...]] = {
    archive: tuple(subjects.split())
    for archive, subjects in {
        "astro-ph": "CO EP GA HE IM SR",
        "cond-mat": "dis-nn mes-hall mtrl-sci other quant-gas soft stat-mech str-el supr-con",
        "cs": "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS NA NE NI "
        "OH OS PF PL RO SC SD SE SI SY",
        "econ": "EM GN TH",
        "eess": "AS IV SP SY",
        "gr-qc": "",
        "hep-ex": "",
        "hep-lat": "",
        "hep-ph": "",
        "hep-th": "",
        "math": "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR QA RA RT SG SP ST",
        "math-ph": "",
        "nlin": "AO CD CG PS SI",
        "nucl-ex": "",
        "nucl-th": "",
        "physics": "acc-ph ao-ph app-ph atm-clus atom-ph bio-ph chem-ph class-ph comp-ph data-an ed-ph flu-dyn "
        "gen-ph geo-ph hist-ph ins-det med-ph optics plasm-ph pop-ph soc-ph space-ph",
        "q-bio": "BM CB GN MN NC OT PE QM SC TO",
        "q-fin": "CP EC GN MF PM PR RM ST TR",
        "quant-ph": "",
        "stat": "AP CO ME ML OT TH",
    }.items()
}
#: Every category, by its case-folded spelling (``cs.lg`` is ``cs.LG``).
_CATEGORIES = {
    name.casefold(): name
    for archive, subjects in ARXIV_TAXONOMY.items()
    for name in (archive, *(f"{archive}.{subject}" for subject in subjects))
}


#: Codes people write for a subject arXiv files elsewhere, and where it is: the
#: nearest spelling answered them with another subject ('cs.ML': 'cs.PL',
#: programming languages; 'cs.RL': 'cs.RO', robotics; 'cs.SEC': 'cs.SE').
_SUBJECT_CODES = {
    "cs.ml": "machine learning is 'cs.LG', or 'stat.ML'; arXiv has no cs.ML",
    "math.ml": "machine learning is 'cs.LG', or 'stat.ML'",
    "cs.rl": "reinforcement learning is in 'cs.LG', machine learning; arXiv has no category of its own for it",
    "cs.nlp": "natural language processing is 'cs.CL', computation and language",
    "cs.nn": "neural networks are 'cs.NE', neural and evolutionary computing; their learning, 'cs.LG'",
    "cs.sec": "security is 'cs.CR', cryptography and security",
    "cs.crypto": "cryptography is 'cs.CR', cryptography and security",
    "cs.qc": "quantum computing is 'quant-ph'",
    "cs.qi": "quantum information is 'quant-ph'",
    "cs.sp": "signal processing is 'eess.SP'",
    "cs.iv": "image and video processing is 'eess.IV'; computer vision, 'cs.CV'",
    "cs.as": "audio and speech processing is 'eess.AS'; sound, 'cs.SD'",
    "cs.oc": "optimization and control is 'math.OC'",
    "cs.st": "statistics theory is 'math.ST', also listed as 'stat.TH'",
    "cs.hci": "human-computer interaction is 'cs.HC'",
}


#: What parts several categories written in one text: spaces, commas, semicolons, bars, OR.
_CATEGORIES_APART = r"[\s,;|]+|\b(?:OR|or)\b"


def check_arxiv_category(value: str) -> str:
    """``value`` as arXiv spells it (``cs.lg`` -> ``cs.LG``), or an error
    saying what was meant: a category arXiv does not have matches no paper,
    and the API and the feed answer it with nothing, never an error, so a
    typo would read as a quiet day forever."""
    known = _CATEGORIES.get(value.strip().casefold())
    if known is not None:
        return known
    close = difflib.get_close_matches(value.strip().casefold(), list(_CATEGORIES), n=1, cutoff=0.75)
    archive = value.strip().split(".")[0].casefold()
    # as arXiv's pages name one: 'Machine Learning (cs.LG)', 'cs.LG - Machine Learning'
    named = [_CATEGORIES[w.casefold()] for w in re.findall(r"[A-Za-z-]+\.[A-Za-z-]+", value)
             if w.casefold() in _CATEGORIES]
    # an alert's list pasted as one item, 'cs.AI cs.LG', 'hep-th quant-ph': it said "not an arXiv category"
    # (or kept one code and dropped the others, or an unknown one unsaid)
    tokens = [t for t in re.split(_CATEGORIES_APART, value) if t]
    listed = [_CATEGORIES.get(t.casefold()) for t in tokens]
    if len(tokens) > 1 and any(listed) and all(c or "." in t for t, c in zip(tokens, listed, strict=True)):
        unknown = "".join(f"; {_unknown_category(t)}" for t, c in zip(tokens, listed, strict=True) if not c)
        shown = ", ".join(c or t for t, c in zip(tokens, listed, strict=True))
        raise ValueError(f"{value!r} holds {len(tokens)} categories: list each as its own item, [{shown}]{unknown}")
    if len(named) == 1:
        raise ValueError(f"{value!r} is not an arXiv category: write its code alone, {named[0]!r}")
    if (subject := _SUBJECT_CODES.get(value.strip().casefold())) is not None:
        raise ValueError(f"{value!r} is not an arXiv category ({subject})")
    if close:
        hint = f"did you mean {_CATEGORIES[close[0]]!r}?"
    elif ARXIV_TAXONOMY.get(archive):
        hint = f"{archive} has " + ", ".join(f"{archive}.{s}" for s in ARXIV_TAXONOMY[archive])
    else:
        hint = "the archives are " + ", ".join(ARXIV_TAXONOMY) + "; e.g. 'cs.LG', 'stat.ML', 'hep-th'"
    raise ValueError(f"{value!r} is not an arXiv category ({hint})")


def _unknown_category(token: str) -> str:
    """What :func:`check_arxiv_category` says of one code of several in one item."""
    try:
        check_arxiv_category(token)
    except ValueError as exc:
        return str(exc)
    raise AssertionError(f"{token!r} is a category")  # (only called for tokens it does not know)


ArxivCategory = Annotated[str, BeforeValidator(_visible), AfterValidator(check_arxiv_category)]


#: The arXiv API's field prefixes, and what people write for them.
_ARXIV_PREFIXES = ("ti", "au", "abs", "co", "jr", "cat", "rn", "id", "all")
_ARXIV_PREFIX_MEANT = {"title": "ti", "author": "au", "authors": "au", "abstract": "abs", "summary": "abs",
                       "comment": "co", "comments": "co", "journal": "jr", "category": "cat", "categories": "cat",
                       "any": "all", "text": "all"}


def _check_arxiv_query(value: str | None) -> str | None:
    """arXiv's search syntax where it differs from what people type: its
    operators are AND, OR and ANDNOT in capitals (the API documents no other
    spelling: 'diffusion or flow' is no OR), there is no NOT, and the fields
    have short prefixes ('title:' is none).  Each fetched the wrong papers,
    or none, and every digest after was short without a word."""
    if value is None:
        return value
    if re.match(r"(?i)https?://", value.strip()):  # a listing page's address copied as the query
        raise ValueError(f"query {value!r} is a web address, not arXiv search syntax: a listing's categories go "
                         "under categories: (with feed: rss for the daily announcement)")
    codes = [c for c in re.split(r"[,;\s]+", value.strip()) if c]
    if codes and all(c.casefold() in _CATEGORIES and "." in c for c in codes):  # query: cs.LG
        listed = ", ".join(_CATEGORIES[c.casefold()] for c in codes)
        raise ValueError(f"query {value!r} is a category, which a query searches as text: write categories: [{listed}]")
    outside = re.sub(r'"[^"]*"', " ", value)  # a quoted phrase is words, whatever they are
    if m := re.search(r"(?:^|\s)-([A-Za-z]+:)?(\w+)", outside):  # a search box's exclusion
        raise ValueError(f"query {value!r}: arXiv excludes with ANDNOT, not a leading '-': write "
                         f"'... ANDNOT {m[1] or 'all:'}{m[2]}'")
    operators = "arXiv's operators are AND, OR and ANDNOT, in capitals"
    if m := re.search(r"(?<![\w:])(and|or|andnot|And|Or|AndNot|NOT)(?![\w:])", outside):
        fix = "A ANDNOT B" if m[1] == "NOT" else m[1].upper()
        raise ValueError(f"query {value!r}: {m[1]!r} is no operator of arXiv's ({operators}): write {fix!r}")
    for m in re.finditer(r"(?<![\w.])([A-Za-z]+):", outside):
        if m[1].casefold() not in _ARXIV_PREFIXES:
            meant = _ARXIV_PREFIX_MEANT.get(m[1].casefold())
            hint = f"write {meant + ':'!r}" if meant else f"arXiv's are {', '.join(p + ':' for p in _ARXIV_PREFIXES)}"
            raise ValueError(f"query {value!r}: {m[1] + ':'!r} is no arXiv field prefix; {hint}")
    return value


class ArxivSource(_Source):
    """arXiv: the search API (``feed: api``, by ``query``/``categories``) or the
    daily announcement feed (``feed: rss``, by ``categories``), or a saved file."""

    type: Literal["arxiv"]
    query: str | None = None
    categories: list[ArxivCategory] = []
    max_results: int = Field(100, ge=1, le=30000)
    feed: Literal["api", "rss"] = "api"
    announce_type: list[Literal["new", "cross", "replace", "replace-cross"]] = []
    url: str | None = None
    path: str | None = None

    _v_url = field_validator("url")(lambda cls, v: _check_url(v))
    _v_query = field_validator("query")(lambda cls, v: _check_arxiv_query(v))

    @model_validator(mode="after")
    def _enough_to_ask(self):
        if self.path:
            return self
        if self.feed == "api" and not (self.query or self.categories):
            if self.url and (page := re.search(r"(?i)//(?:www\.)?arxiv\.org/list/|//rss\.arxiv\.org/", self.url)):
                # a listing page's address copied from the browser, or the feed's a feed reader shows
                # (rss.arxiv.org/rss/cs.LG): the API was asked nothing by it, and "needs 'query'" said nothing of feed:
                settings = _source_for_url(self.url).removeprefix("{type: arxiv, ").removesuffix("}")
                what = "announcement feed" if page[0].casefold().startswith("//rss.") else "listing page"
                raise ValueError(f"url: {self.url!r} is arXiv's {what}, not a search: leave url: out and "
                                 f"write {settings}")
            raise ValueError("an arxiv source needs 'query' and/or 'categories' (or 'path' to a saved response)"
                             + (" (url: only replaces the API's address)" if self.url else ""))
        if self.feed == "rss" and not (self.categories or self.url):
            raise ValueError("an arxiv source with 'feed: rss' needs 'categories' (or 'url' or 'path')")
        if self.feed == "rss" and self.query:
            raise ValueError("'query' needs 'feed: api'; the rss feed lists whole categories")
        if self.feed == "api" and self.announce_type:
            raise ValueError("'announce_type' needs 'feed: rss'; the api does not report announcement types")
        return self


class HFDailySource(_Source):
    """Hugging Face daily papers (``/api/daily_papers?date=``), the last ``days``
    dates ending at ``date`` (default: today, UTC), or a saved JSON file."""

    type: Literal["hf-daily"]
    date: str | None = None
    days: int = Field(1, ge=1, le=31)
    url: str | None = None
    path: str | None = None

    _v_url = field_validator("url")(lambda cls, v: _check_url(v))

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date(cls, value):
        import datetime as dt

        if isinstance(value, dt.date):
            return value.isoformat()
        if value is None:
            return value
        if str(value).strip().casefold() in ("today", "now", "latest", "yesterday"):
            # leaving date: out is what reads the newest days; a word here was only 'not a date'
            raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD: leave date: out to read the last "
                             "`days:` up to today")
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD") from None
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", str(value)):
            raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD")
        return str(value)


class FeedSource(_Source):
    """Any RSS 2.0 or Atom feed, by URL or saved file."""

    type: Literal["feed"]
    url: str | None = None
    path: str | None = None

    _v_url = field_validator("url")(lambda cls, v: _check_url(v))

    @model_validator(mode="after")
    def _url_or_path(self):
        if not self.url and not self.path:
            raise ValueError("a feed source needs 'url' or 'path'")
        return self


class HttpSettings(_Model):
    """How sources are fetched; the defaults suit arXiv's and Hugging Face's terms."""

    timeout: float = Field(30.0, ge=0.1, le=600)  # (under a tenth of a second, no request is answered)
    """Seconds for a whole request: connecting, headers and body (a deadline, not per read)."""
    max_bytes: int = Field(50 * 1024 * 1024, ge=1024, le=2 * 1024**3)
    """Largest response body accepted (after decompression); a bigger one fails its source."""
    retries: int = Field(3, ge=0, le=10)
    """Further attempts after a 429, a 5xx or a connection error."""
    backoff: float = Field(2.0, ge=0, le=60)
    """Seconds before the first retry, doubling each time (unless Retry-After says)."""
    max_wait: float = Field(120.0, ge=0, le=3600)
    """Cap on any single wait, Retry-After included."""
    fresh_for: float = Field(3600.0, ge=0)
    """Seconds a cached response is reused without asking the server again."""
    user_agent: str | None = None
    """Default ``paper-digest-mailer/<version>``; arXiv asks heavy users to add a contact."""

    _v_ua = field_validator("user_agent")(lambda cls, v: v if v is None else check_header_text(v))


SOURCE_MODELS: dict[str, type[BaseModel]] = {
    "hf-papers-text": HFPapersTextSource,
    "arxiv": ArxivSource,
    "hf-daily": HFDailySource,
    "feed": FeedSource,
}
Source = Annotated[
    HFPapersTextSource | ArxivSource | HFDailySource | FeedSource, Field(discriminator="type")
]


def _check_term(term: str) -> str:
    from .matching import compile_term

    if (ids := _paper_ids(term)) is not None:
        # a term matches the words of titles and abstracts, and no paper's text holds its own id
        raise ValueError(f"term {term!r} names a paper by its arXiv id, which no paper's text holds: a paper you "
                         f"liked goes under the topic's like: [{', '.join(ids)}]")
    compile_term(term)
    return term


#: A Markdown (or word processor) list item's marker at a line's start: "- ", "* ", "• ", "1. ", "2) ".
_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*+\u2022\u25e6\u2023\u2043]|\d{1,2}[.)])[ \t]+", re.M)
#: The same markers inside a line: a list YAML folded into one (`about: >-` joins its lines with spaces).
_FOLDED_MARKER = re.compile(r"[ \t]+[-*+\u2022\u25e6\u2023\u2043][ \t]+")


#: Markdown's marks around words and before a heading: "**diffusion**", "*flow*", "_score_", "`flow matching`",
#: "## Interests".  A mark only wraps words (one at each end, none beside a letter outside): the star
#: of "A* search" or "Q*" and the underscores of "snake_case" are the words' own.
_MARKDOWN_MARKS = re.compile(
    r"(?<![\w*])(?P<stars>\*{1,3})(?=[^\s*])(?P<starred>[^\n]+?)(?<=[^\s*])(?P=stars)(?![\w*])"
    r"|(?<![\w_])(?P<lines>_{1,3})(?=[^\s_])(?P<underlined>[^\n]+?)(?<=[^\s_])(?P=lines)(?![\w_])"
    r"|`(?P<code>[^`\n]+)`"
    r"|^[ \t]*#{1,6}[ \t]+",
    re.M,
)


def _unmarked(text: str) -> str:
    """``text`` without Markdown's emphasis, code and heading marks, the
    words they wrap kept: a reason read "**diffusion models**", and the
    earlier cleaning took every star after a letter, "A* search" read
    "A search"."""
    return _MARKDOWN_MARKS.sub(lambda m: m["starred"] or m["underlined"] or m["code"] or "", text)


def _about_of_a_list(text: str) -> str:
    """An interest written as a Markdown list, one subject an item, as the
    items of one sentence ("- diffusion models / - score matching" reads
    "diffusion models; score matching"). With the markers left in, the list
    was one run-on phrase of dashes: no phrase of it was found in any paper,
    so each was only "close in meaning", and the warning blamed the words.
    Markdown's emphasis and heading marks go too (a reason read
    "**diffusion models**"). A text that is no list is returned as it is."""
    if _MARKDOWN_MARKS.search(text):
        text = _unmarked(text)
    if not _LIST_MARKER.match(text.lstrip("\n")) and len(_LIST_MARKER.findall(text)) < 2:
        return text  # no list; a heading line before the items ("My interests:") is one of them
    items = [" ".join(item.split()) for item in _LIST_MARKER.split(text)]
    if len(items) <= 2 and _FOLDED_MARKER.search(text):  # folded by `>`: one line, markers inside
        items = [" ".join(item.split()) for item in _FOLDED_MARKER.split(_LIST_MARKER.sub("", text, count=1))]
    return "; ".join(item.rstrip(".;,:") for item in items if item.strip(" .;,:"))


def _paper_ids(text: str) -> list[str] | None:
    """The arXiv ids ``text`` is made of (ids or links to papers, separated
    by commas or spaces), or None when it holds anything else."""
    pieces = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
    ids = [liked_reference(p) for p in pieces]
    if not ids or not all(re.fullmatch(ARXIV_ID, i) for i in ids):
        return None
    return [json.dumps(i) for i in ids]


TermText = Annotated[str, BeforeValidator(_visible), AfterValidator(_check_term)]


#: The links a researcher copies for a paper: its arXiv abstract, PDF or HTML page,
#: ``arXiv:ID``, its Hugging Face papers page, the DOI arXiv gives it
#: (``10.48550/arXiv.ID``, bare or as a doi.org link).  Each names the paper by its arXiv id.
_PAPER_LINK = lazy(
    r"(?:(?:https?://)?(?:www\.|export\.|browse\.)?arxiv\.org/(?:abs|pdf|html)/"
    r"|(?:(?:https?://)?(?:dx\.)?doi\.org/|doi:\s*)?10\.48550/arxiv\."
    r"|arxiv:\s*"
    r"|(?:https?://)?(?:www\.)?huggingface\.co/papers/"
    r"|(?:https?://)?(?:www\.)?alphaxiv\.org/(?:abs|overview|pdf)/)"
    rf"(?P<id>{ARXIV_ID})(?:\.pdf)?/?"
    # what follows a copy: a link's ?context=cs.LG or #S2, a listing's ' [cs.LG]'
    r"(?:[?#]\S*|\s*\[[a-z-]+(?:\.[A-Za-z-]+)?\])?",
    re.IGNORECASE,
)


def arxiv_id_from_number(value: float) -> str | None:
    """The arXiv id that YAML read as a number (``like: [2406.10000]`` arrives
    as 2406.1), rebuilt exactly: the number after the point has 4 digits in
    ids of 0704 to 1412 and 5 since 1501.  None when ``value`` is no such id."""
    yymm = int(value)
    digits = 5 if yymm >= 1501 else 4
    number = round((value - yymm) * 10**digits)
    if not (704 <= yymm <= 9912 and 1 <= yymm % 100 <= 12) or number <= 0 or abs(yymm + number / 10**digits - value) > 1e-9:
        return None
    return f"{yymm:04d}.{number:0{digits}d}"


def _like_entry(value: Any) -> Any:
    # An unquoted arXiv id is a number to YAML: rebuild the id rather than
    # refuse what the reader plainly meant.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rebuilt = arxiv_id_from_number(float(value))
        if rebuilt is None:
            raise ValueError(f"{value} is no arXiv id (YYMM.NNNNN): write the id or the paper's title in quotes")
        return rebuilt
    return _visible(value)  # a title copied with a soft hyphen in it named no paper


LikeEntry = Annotated[str, BeforeValidator(_like_entry)]


def liked_reference(entry: str) -> str:
    """A ``like`` entry as the ranker looks it up: the arXiv id when the entry
    is a link to the paper (or ``arXiv:ID``), a title's LaTeX as the papers'
    titles are read (Unicode), else the entry as written (an id or a title)."""
    found = _PAPER_LINK.fullmatch(entry.strip())
    if found:
        return found.group("id")
    if "$" in entry or "\\" in entry:
        # a title copied from arXiv as its source writes it ('Finding $\epsilon$-Stationary Points'): the
        # papers' titles are read with their LaTeX made Unicode, and it matched none of them
        from .latex import to_unicode

        return to_unicode(entry)
    return entry


class Topic(_Model):
    name: str | None = None
    any: list[TermText] = []
    all: list[TermText] = []
    none: list[TermText] = []
    fields: list[Literal["title", "abstract", "authors", "categories"]] = ["title", "abstract"]
    categories: list[ArxivCategory] = []
    """arXiv categories (``cs.LG``): when given, a paper must be in one of them."""
    about: str | None = None
    """The interest in words (one to a few sentences): papers are ranked by how well they fit."""
    like: list[LikeEntry] = []
    """Papers the subscriber liked (arXiv ids or titles of papers the tool has seen): extra queries."""
    min_score: float | None = Field(None, ge=0, le=1)
    """Relevance floor in [0, 1] for ``about``/``like`` ranking (default: ranking.DEFAULT_MIN_SCORE)."""

    # a name of spaces only is no name: the topic's key shows, as for `name: ""`
    # (it gave the subject "2 new papers: diff, " and a heading of nothing)
    _v_name = field_validator("name")(lambda cls, v: (_visible(v).strip() or None) if isinstance(v, str) else v)

    @field_validator("about")
    @classmethod
    def _about_not_empty(cls, value):
        # Runs only when the key is given: `about:` with nothing after it (YAML
        # null) is the same mistake as `about: ''`, not "no about" (beside `like`
        # or rules the sentence would be silently missing).
        if value is None or not value.strip():
            raise ValueError("'about' is empty: describe the interest in one to a few sentences, or remove the key")
        from .ranking import content_words

        value = _about_of_a_list(value)

        if (ids := _paper_ids(value)) is not None:
            raise ValueError(f"'about' holds arXiv ids, not words: papers you liked go under like: [{', '.join(ids)}], "
                             "and about: says the interest in one to a few sentences")
        if not content_words(value):
            # ranked by nothing, it would pick the day's papers at random, each
            # "close in meaning to your interest"
            raise ValueError(
                f"'about' ({value.strip()[:60]!r}) has no word to rank papers by, only common words "
                "or symbols: describe the interest in one to a few sentences"
            )
        return value

    @field_validator("min_score", mode="before")
    @classmethod
    def _min_score_is_a_fraction(cls, value):
        # 50 or "50%" is the floor as a percentage: say the fraction to write
        if isinstance(value, str) and (pct := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)):
            raise ValueError(f"{value!r} is a percentage: the floor is a fraction in [0, 1]; "
                             f"write min_score: {float(pct[1]) / 100:g}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 < value < 10:
            # 1.5 or 3 is far likelier a slip (a score on another scale, a missed
            # "0.") than a floor of 1.5 %, which would take nearly every paper
            raise ValueError(f"{value:g} is over 1: the floor is a fraction in [0, 1] (0.5 is the default, "
                             "0.8 keeps only the clear fits, 1 the best alone); write e.g. min_score: 0.5")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 10 <= value <= 100:
            raise ValueError(f"{value:g} is over 1: the floor is a fraction in [0, 1], not a percentage; "
                             f"for {value:g}% write min_score: {value / 100:g}")
        return value

    @field_validator("like", mode="before")
    @classmethod
    def _like_is_a_list(cls, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            shown = arxiv_id_from_number(float(value)) or value
            raise ValueError(f'expected a list, got {value}: write it in brackets and quotes, like: ["{shown}"]')
        return value

    @field_validator("like")
    @classmethod
    def _like_entries(cls, value):
        for entry in value:
            if not entry.strip():
                raise ValueError("empty entry in 'like': give an arXiv id or the title of a paper")
        return [liked_reference(entry) for entry in value]

    @property
    def ranked(self) -> bool:
        """Whether papers are ranked by relevance (``about`` or ``like``), not by matched terms."""
        return bool(self.about or self.like)

    @property
    def has_rules(self) -> bool:
        return bool(self.any or self.all or self.none or self.categories)

    @field_validator("fields")
    @classmethod
    def _fields_not_empty(cls, value):
        if not value:
            raise ValueError(f"must name at least one of: {', '.join(FIELDS)}")
        return value

    @model_validator(mode="after")
    def _something_to_match(self):
        if not (self.any or self.all or self.categories or self.about or self.like):
            raise ValueError(
                "a topic needs at least one 'any' or 'all' term, 'categories', "
                "or 'about' (the interest in words) or 'like' (papers liked)"
            )
        return self


#: What people write for "no schedule, a digest at every send" (false: YAML's unquoted no/off).
_EVERY_SEND = ("", "every send", "each send", "on every send", "every run", "always", "none", "no", "off",
               "never", "cron", "immediately", "asap", "false")


def _schedule(value):
    if value is None or isinstance(value, Schedule):
        return value
    if value is False or (isinstance(value, str) and " ".join(value.casefold().split()) in _EVERY_SEND):
        # `schedule: null` is what undoes the top-level default for one subscriber
        said = "false (an unquoted no, off or false)" if value is False else repr(value)
        raise ValueError(f"schedule {said}: for a digest at every `send` (cron's pace), leave schedule: out, "
                         "or write schedule: null where the top-level schedule: would apply")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        raise ValueError(_schedule_as_number(value))
    if not isinstance(value, str):
        raise ValueError(f"expected a schedule string, got {value!r}")
    _refuse_zone_in_schedule(value)
    return parse_schedule(value)


def _schedule_as_number(value: int) -> str:
    """``schedule: 8:00`` unquoted: YAML 1.1 reads H:MM as a number in base
    60 (480), and the message said only "got 480", a number nobody wrote."""
    if value < 24:
        return f"expected a schedule string, got the number {value}; did you mean schedule: 'daily at {value:02d}:00'?"
    hour, minute = divmod(value, 60)
    return (f"expected a schedule string, got the number {value}: YAML reads an unquoted {hour}:{minute:02d} as "
            f"minutes in base 60; did you mean schedule: 'daily at {hour:02d}:{minute:02d}'?")


def _refuse_zone_in_schedule(value: str) -> None:
    """``daily at 08:00 CET``: the zone goes under ``timezone:``.  The
    schedule's 'did you mean' dropped it, and the digest came at 08:00 in
    another zone (the subscriber's default) with nothing said."""
    m = re.fullmatch(r"(.*\d{1,2}[:.]\d{2}(?:\s*[ap]\.?m\.?)?)\s+([A-Za-z]+/[\w+-]+(?:/[\w+-]+)?|[A-Z]{2,5}|"
                     r"(?:UTC|GMT)?[+-]\d{1,2}(?::?\d{2})?)", value.strip())
    if m is None:
        return
    try:
        parse_schedule(m[1])
    except ValueError:
        return
    try:
        zone = f"timezone: {check_timezone(m[2])}"
    except ValueError as exc:
        zone = f"the zone under timezone: ({exc})"
    raise ValueError(f"schedule {value!r} names a time zone, which goes apart: write schedule: '{m[1]}' and {zone} "
                     "(in this subscriber, or at the top for everyone)")


#: What people write for "every paper that matches" (0 and -1 as many tools mean it).
_NO_LIMIT = ("all", "unlimited", "no limit", "none", "any", "inf", "infinite", "infinity", "max", "0", "-1")


def _no_limit_advice(path: tuple, value: Any) -> str:
    """What ``max_papers: 0`` (or ``all``, ``-1``) means to write: many tools
    read it as no limit, and the schema's "expected greater than or equal to
    1, got 0" said neither what the most is nor how a subscriber gets nothing
    for a while.  Added to the schema's own message (a before-validator that
    reworded it ran on every subscriber of every config)."""
    if path[-1:] != ("max_papers",) or value is None or isinstance(value, bool) or (
            str(value).strip().casefold() not in _NO_LIMIT):
        return ""
    return (": for every paper its topics take, write max_papers: 1000, the most; to send this subscriber nothing "
            "for a while, `newsletter unsubscribe EMAIL`")


class Subscriber(_Model):
    email: str
    name: str | None = None
    topics: list[str] = Field(min_length=1)
    schedule: Schedule | None = None
    timezone: str | None = None
    max_papers: int = Field(20, ge=1, le=1000)
    # not `= []`: pydantic deep-copies such a default per subscriber; a lambda, not `list`: pydantic reads a
    # builtin factory's signature with tokenize, whose pattern took 13 M instructions to compile at each start
    pin: list[str] = Field(default_factory=lambda: [])
    """Authors whose papers go first in this subscriber's digest."""
    send_empty: bool | None = None
    mailing_list: bool = False
    """The address is a mailing list whose list manager handles leaving it: its digests carry no
    List-Unsubscribe header and no unsubscribe link, one member's click (or mail client) stopped
    the digest for the whole list."""

    _v_email = field_validator("email")(lambda cls, v: check_address(v))
    _v_name = field_validator("name")(lambda cls, v: v if v is None else check_header_text(v))
    _v_tz = field_validator("timezone")(lambda cls, v: v if v is None else check_timezone(v))

    _v_schedule = field_validator("schedule", mode="before")(lambda cls, v: _schedule(v))

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


_DNS_LABELS = lazy(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")


class DkimSettings(_Model):
    """DKIM signing of every digest (see :mod:`signing`): the public key is
    published at ``SELECTOR._domainkey.DOMAIN``.  Mail providers honour
    one-click unsubscribe only from signed mail (RFC 8058, section 4)."""

    domain: str
    selector: str
    key_env: str | None = None
    """Name of the environment variable holding the private key (PEM)."""
    key_file: str | None = None
    """Or: a PEM file with the private key (relative to the config's folder)."""

    _v_key_env = field_validator("key_env")(lambda cls, v: check_env_name(v, "key_env"))
    _v_key_file = field_validator("key_file")(lambda cls, v: _literal_path(v))

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().rstrip(".")
        try:
            value = ascii_domain(value) if not value.isascii() else value
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}") from None
        if "." not in value or not _DNS_LABELS.match(value):
            raise ValueError(f"{value!r} is not a domain name (e.g. example.org)")
        return value.lower()

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        if not _DNS_LABELS.match(value):
            raise ValueError(
                f"{value!r} is not a selector: letters, digits and '-', in labels joined by '.' "
                "(the key is published at SELECTOR._domainkey.DOMAIN)"
            )
        return value

    @model_validator(mode="after")
    def _one_key(self):
        if (self.key_env is None) == (self.key_file is None):
            raise ValueError(
                "give the private key as key_env (the name of a variable holding it) or key_file (a PEM file), one of them"
            )
        return self


class EmailSettings(_Model):
    from_: str = Field("Paper Digest <digest@example.org>", alias="from")
    subject: str = DEFAULT_SUBJECT
    unsubscribe: str | None = None
    abstract_chars: int = Field(600, ge=0)
    reply_to: str | None = None
    title: str = "Paper Digest"
    max_html_kb: int = Field(100, ge=1)
    #: What moves the stylesheet into style="" attributes: css_inline (fast) or premailer.
    inliner: Literal["css-inline", "premailer"] = "css-inline"
    dkim: DkimSettings | None = None

    _v_from = field_validator("from_")(lambda cls, v: check_mailbox(v))
    _v_reply = field_validator("reply_to")(lambda cls, v: v if v is None else check_mailbox(v))

    @model_validator(mode="before")
    @classmethod
    def _title_from_the_sender(cls, data: Any) -> Any:
        """Without ``title:``, the digest (its heading, ``<title>``, the
        unsubscribe pages) is called what ``from:`` calls its sender:
        "Lab Reading List <news@lab.org>" names it, not "Paper Digest"."""
        if isinstance(data, dict) and "title" not in data and isinstance(data.get("from"), str):
            from email.utils import getaddresses

            found = getaddresses([data["from"]])
            if len(found) == 1 and found[0][0].strip():
                data = {**data, "title": found[0][0].strip()}
        return data

    @field_validator("subject")
    @classmethod
    def _subject_compiles(cls, value: str) -> str:
        import jinja2

        if not value.strip():  # it went out with an empty Subject:, which spam filters score
            raise ValueError("is empty: a digest needs a subject; leave subject: out for the default")
        check_header_text(value)
        try:
            # compiled, not only parsed: an unknown filter or test is found by the compiler
            jinja2.Environment().compile(value)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"subject template does not compile: {exc.message}") from None
        # `unsubscribe:` fills in {email}: a subject written the same way
        # went out as '{count} new papers on {topics}'
        bare = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", value, flags=re.DOTALL)
        if single := re.search(r"\{\s*([A-Za-z_][\w.]*)\s*\}", bare):
            raise ValueError(f"{single.group()!r} would go out as written: the subject is a Jinja template, "
                             f"write {{{{ {single.group(1)} }}}}")
        return value

    @field_validator("unsubscribe")
    @classmethod
    def _unsubscribe_url(cls, value):
        if value is None:
            return value
        check_header_text(value)
        if not re.match(r"^(mailto:[^\s@]+@[^\s@]+|https://\S+)$", value):
            # an address alone, as people write where to send requests: say the mailto: form
            bare = re.fullmatch(r"[^\s@:<>]+@[^\s@:<>]+", value.strip())
            raise ValueError(f"{value!r} must be a mailto: address or an https:// URL" + (
                f" (for requests by mail: mailto:{value.strip()}?subject=unsubscribe)" if bare else ""))
        if bad := re.search(r"[<>,\"]", value):
            # List-Unsubscribe is a list of <URL>s: these would end or split it (RFC 2369)
            raise ValueError(f"{value!r}: {bad.group()!r} must be percent-encoded in the unsubscribe URL")
        if other := next((m for m in re.finditer(r"\{+[^{}]*\}*|\}+", value) if m.group() != "{email}"), None):
            # ({name}, {{email}}, { email }: it went out as written, a link no one's address is in)
            raise ValueError(f"{value!r}: {other.group()!r} is not filled in; only {{email}} is (the subscriber's "
                             "address; a brace meant as such is written %7B or %7D)")
        return value


def check_env_name(value: str | None, what: str) -> str | None:
    """The *name* of an environment variable (the value itself never sits in the config)."""
    if value is not None and (m := re.match(r"^\$(\{)?([A-Za-z_][A-Za-z0-9_]*)(?(1)\})$", value.strip())):
        # a shell's reference to the variable ($SMTP_PASSWORD): no secret, and the name is in it
        raise ValueError(f"write the variable's name without '$'{' and braces' if m.group(1) else ''}: {m.group(2)}")
    if value is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
        # not echoed: what sits here instead of a name is most likely the secret itself
        raise ValueError(
            f"the value is not an environment variable name (letters, digits and _; not shown: "
            f"{what} names the variable that holds the secret, not the secret)"
        )
    return value


def unset_variable(name: str, key: str, state: str, holds: str) -> str:
    """The error for the variable ``key`` (``password_env``, ``secret_env``)
    names when it is ``state`` ('not set', 'empty'): named when NAME is
    written as variable names are (``SMTP_PASSWORD``, ``smtp_password``), else
    not: ``password_env: hunter2`` holds the password itself, and the error
    printed it to the terminal, cron's mail and the logs.  ``holds``: what
    the variable must hold, said with a shown name."""
    if re.fullmatch(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*|[a-z][a-z0-9]*(?:_[a-z0-9]+)+", name) or unset_hint(name):
        return f"environment variable {name} is {state} ({holds}{unset_hint(name)})"
    return (f"the environment variable it names is {state} (the name is not shown: it does not look like a variable "
            f"name such as SMTP_PASSWORD, and may be the secret itself; {key} holds the variable's NAME)")


#: How to make a signing key, said where a key is missing or too short.
MAKE_A_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
#: What ``web.secret_env``'s variable holds, said when it is unset.
SECRET_HOLDS = ("it must hold the key that signs unsubscribe links, the same one `newsletter serve` checks them "
                f"with; for a first key: {MAKE_A_KEY}")


#: Where Gmail's SMTP takes a login: an app password only (the account's own
#: is refused with "534 5.7.9 Application-specific password required").
GMAIL_HOSTS = ("smtp.gmail.com", "smtp.googlemail.com")
GMAIL_PASSWORD = ("Gmail takes an app password (myaccount.google.com/apppasswords, with 2-Step Verification on), "
                  "not the account's own")


def password_holds(username: str | None, host: object = None) -> str:
    """What ``delivery.password_env``'s variable holds, said when it is unset:
    for Gmail, which password (a newcomer puts the account's own first)."""
    gmail = f"; {GMAIL_PASSWORD}" if isinstance(host, str) and host.strip().casefold() in GMAIL_HOSTS else ""
    return f"it must hold the SMTP password{' for ' + username if username else ''}{gmail}"


def _unset_secrets(data: dict, lines: dict, shown: str, problems: list[Problem]) -> list[Problem]:
    """The SMTP password's and the signing key's variables left unset, for a
    config broken elsewhere: they were checked only once the config loaded, so
    ``validate`` named them one run after its other problems were mended."""
    found = []
    smtp = d if isinstance(d := data.get("delivery"), dict) and d.get("transport") == "smtp" else {}
    web = w if isinstance(w := data.get("web"), dict) else {}
    username = smtp.get("username") if isinstance(smtp.get("username"), str) else None
    for section, key, holds in (("delivery", "password_env", password_holds(username, smtp.get("host"))),
                                ("web", "secret_env", SECRET_HOLDS)):
        name = (smtp if section == "delivery" else web).get(key)
        said = any(p.path and p.path.startswith(f"{section}.{key}") for p in problems)
        if not isinstance(name, str) or said or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or os.environ.get(name):
            continue
        state = "empty" if os.environ.get(name) == "" else "not set"
        found.append(Problem(unset_variable(name, key, state, holds), shown, _line_for(lines, (section, key)),
                             f"{section}.{key}"))
    return found


def unset_hint(name: str) -> str:
    """For a variable that is not set: ``; smtp_password is set: variable
    names are case-sensitive`` when one differing only in case is, else ''."""
    same = sorted(n for n in os.environ if n.casefold() == name.casefold() and n != name and os.environ[n])
    return f"; {same[0]} is set: variable names are case-sensitive" if same else ""


def line_break_hint(secret: str) -> str | None:
    """None when a secret read from the environment holds no line break; else
    what to say of it ('' or the carriage-return hint).  No password or key
    holds one: read from an env file with Windows line endings it ends in
    ``\r``, and what it signs or logs in with then fails in a misleading way."""
    if "\r" not in secret and "\n" not in secret:
        return None
    return " (a carriage return: an env file saved with Windows line endings?)" if "\r" in secret else ""


class Delivery(_Model):
    transport: Literal["outbox", "smtp"] = "outbox"
    path: str = "outbox"
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    # (.inf would reach the socket and fail every message; under a tenth of a second, no reply comes in time)
    timeout: float = Field(30.0, ge=0.1, le=3600)
    verdict_timeout: float = Field(600.0, ge=0.1, le=3600)
    """Seconds the server may take over its verdict on a message's data (RFC 5321 asks 10 minutes; never
    less than ``timeout``): a verdict given up is a message it may have taken, sent again next run."""
    max_per_minute: int | None = Field(None, ge=1)
    connections: int = Field(1, ge=1, le=64)
    retries: int = Field(3, ge=0, le=20)
    retry_delay: float = Field(1.0, ge=0, le=3600)
    """Seconds before the first retry of a transient failure; doubles each retry."""
    ca_file: str | None = None
    """PEM file of the CA(s) to trust for TLS instead of the system's (private CA, test server)."""

    _v_password_env = field_validator("password_env")(lambda cls, v: check_env_name(v, "password_env"))
    _v_paths = field_validator("path", "ca_file")(lambda cls, v: _literal_path(v))
    # a login name copied with a space or a zero-width space after it failed every login ("535")
    _v_username = field_validator("username")(
        lambda cls, v: _visible(v).strip() or None if isinstance(v, str) else v
    )

    @field_validator("host")
    @classmethod
    def _host_alone(cls, value: str | None) -> str | None:
        """A host name or address, not a URL or ``host:port`` (which reached
        the resolver as a name: 'cannot connect ... Name or service not known');
        an IPv6 address in brackets (``[::1]``, as URLs write it) is the address."""
        if value is None:
            return value
        value = _visible(value).strip()  # as a copy from a provider's page brings them
        url = re.fullmatch(r"(smtps?|submissions?|https?|mailto)://([^/:\s]+)(?::(\d+))?/?", value, re.I)
        if url:  # smtp://smtp.gmail.com:587 from a client's settings: the host (and port) in it
            scheme, name, port = url.groups()
            port_too = f" and port: {port}" if port else ""
            ssl = " (smtps:// is security: ssl)" if scheme.lower() in ("smtps", "submissions") else ""
            raise ValueError(f"{value!r} is a URL: write host: {name}{port_too}{ssl}")
        if "://" in value or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not a host name or address (e.g. smtp.example.org; no URL)")
        bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?", value)
        if bracketed:  # an IPv6 address as a URL writes it: the resolver knows no "[::1]"
            address, port = bracketed.groups()
            if port:
                raise ValueError(f"{value!r} includes a port: write host: '{address}' and port: {port}")
            return address
        host, colon, port = value.rpartition(":")
        if colon and port.isdigit() and host and ":" not in host:
            raise ValueError(f"{value!r} includes a port: write host: {host} and port: {port}")
        return value

    @model_validator(mode="after")
    def _smtp_needs_host(self):
        if self.transport == "smtp" and not self.host:
            raise ValueError("the smtp transport needs 'host'")
        if self.username and not self.password_env and self.transport == "smtp":
            raise ValueError("'username' is set but 'password_env' is not: add password_env: SMTP_PASSWORD (the NAME "
                             "of an environment variable), and give the password there: "
                             "SMTP_PASSWORD='...' newsletter send")
        return self


#: `newsletter serve`'s default port: RFC 8058's number.  It was 8025, which the
#: mail catchers a user tries the digests with take too (`python -m aiosmtpd`
#: listens there by default, Mailpit and MailHog show their web pages there), so
#: the first try of an unsubscribe link met "address already in use".
SERVE_PORT = 8058

_BASE_URL = lazy(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+;=:@%/-]*)?$")


class WebSettings(_Model):
    """Where ``newsletter serve`` is reachable, and the variable holding the
    key that signs each subscriber's unsubscribe link (see :mod:`tokens`)."""

    base_url: str
    """``https://host[:port][/path]``: the links are ``BASE/unsubscribe/<token>``."""
    secret_env: str
    """The variable holding the key that signs the links (and checks them)."""
    old_secret_env: str | None = None
    """The variable holding the keys used before (separated by spaces): the
    links in digests they signed keep working after a change of key."""

    _v_secret_env = field_validator("secret_env")(lambda cls, v: check_env_name(v, "secret_env"))
    _v_old_secret_env = field_validator("old_secret_env")(lambda cls, v: check_env_name(v, "old_secret_env"))

    @field_validator("base_url")
    @classmethod
    def _https_base(cls, value: str) -> str:
        check_header_text(value)
        if not value.startswith("https://"):
            local = re.match(r"(?i)https?://(?:localhost|127\.0\.0\.1|\[::1\]|0\.0\.0\.0)(?::\d+)?(?:/|$)", value)
            raise ValueError(
                f"{value!r} must be an https:// URL (mail providers only make one-click "
                "unsubscribe requests over HTTPS, RFC 8058)"
                # trying the pages on this machine: the links' paths work on serve's own address
                + ("; to try the pages here, keep an https:// base_url and open a link's path on "
                   f"`newsletter serve`'s address (http://127.0.0.1:{SERVE_PORT}/unsubscribe/TOKEN)" if local else "")
            )
        written = value
        host, slash, path = value.removeprefix("https://").partition("/")
        if not host.isascii() and host.isprintable() and " " not in host:  # an internationalised domain
            name, colon, port = host.rpartition(":") if ":" in host else (host, "", "")
            try:
                value = f"https://{ascii_domain(name)}{colon}{port}{slash}{path}"
            except ValueError as exc:
                raise ValueError(f"{value!r}: {exc}") from None
        if not path.isascii():
            # the character and the URL to write (it said "%C3%BC for ü" of any character, shown under the xn-- host)
            char = next(c for c in path if not c.isascii())
            encoded = value[: len(value) - len(path)] + quote(path, safe="/-._~!$&'()*+,;=:@%")
            raise ValueError(f"{written!r}: {char!r} in its path is not ASCII: percent-encode it ({encoded})")
        if not _BASE_URL.match(value):
            raise ValueError(
                f"{value!r} is not a base URL such as 'https://digest.example.org' or "
                "'https://example.org/digest' (no query, fragment, spaces or quotes)"
            )
        return value

    @property
    def base(self) -> str:
        """``base_url`` without a trailing slash."""
        return self.base_url.rstrip("/")


#: The SQLite state beside the config when ``state:`` names none (also where
#: ``state migrate`` copies from when ``state:`` is a database URL).
DEFAULT_STATE_FILE = "newsletter-state.sqlite3"


class Config(_Model):
    sources: list[Source] = Field(min_length=1)
    topics: dict[str, Topic] = Field(min_length=1)
    subscribers: list[Subscriber] = []
    email: EmailSettings = EmailSettings()
    delivery: Delivery = Delivery()
    state: str | None = None
    timezone: str = "UTC"
    templates: str | None = None
    send_empty: bool = False
    cache: str = ".cache"
    """Folder for fetched source responses, relative to the config file."""
    http: HttpSettings = HttpSettings()
    web: WebSettings | None = None
    """``newsletter serve`` and the one-click unsubscribe links it answers."""
    schedule: Schedule | None = None
    """The schedule of every subscriber that does not give its own."""

    _file: Path = PrivateAttr(default=Path("config.yaml"))
    _lines: dict = PrivateAttr(default_factory=dict)
    _mtime: float | None = PrivateAttr(default=None)
    _cut: tuple[Problem, ...] | None = PrivateAttr(default=())
    #: The file's text and its name as said, while :meth:`cut_by_comment` has yet to read them.
    _cut_source: tuple[str, str] | None = PrivateAttr(default=None)

    _v_tz = field_validator("timezone")(lambda cls, v: check_timezone(v))
    _v_state = field_validator("state")(lambda cls, v: v if v is None else check_state_target(_literal_state(v)))
    _v_paths = field_validator("templates", "cache")(lambda cls, v: _literal_path(v))
    _v_schedule = field_validator("schedule", mode="before")(lambda cls, v: _schedule(v))

    @model_validator(mode="before")
    @classmethod
    def _default_schedule(cls, data):
        """Subscribers without ``schedule`` take the top-level one (when it is
        valid: a bad one is reported once, at its own line)."""
        if not isinstance(data, dict) or not isinstance(data.get("schedule"), str):
            return data
        try:
            parse_schedule(data["schedule"])
        except ValueError:
            return data
        subs = data.get("subscribers")
        if not isinstance(subs, list):
            return data
        filled = [
            {**sub, "schedule": data["schedule"]} if isinstance(sub, dict) and "schedule" not in sub else sub for sub in subs
        ]
        return {**data, "subscribers": filled}

    # -- where things are -------------------------------------------------------------

    @property
    def file(self) -> Path:
        """The config file, as the user named it (for messages)."""
        return self._file

    @property
    def base_dir(self) -> Path:
        return self._file.parent

    @property
    def read_at(self) -> float | None:
        """The file's modification time when it was read (None for a config not
        read from a file): a watcher comparing with it sees an edit made after
        the read, where a time taken later missed one made in between."""
        return self._mtime

    def resolve(self, path: str | os.PathLike) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(os.path.expanduser(str(path)))
        return p if p.is_absolute() else self.base_dir / p

    @property
    def state_path(self) -> Path:
        """The SQLite state file (also where its lock files go); see :attr:`state_target`."""
        return self.resolve(self.state) if self.state else self.base_dir / DEFAULT_STATE_FILE

    @property
    def state_target(self) -> str | Path:
        """Where the state lives, as :func:`state.open_state` takes it: a
        ``postgresql://`` URL (no password in it), or the SQLite file."""
        if self.state is not None and is_database_url(self.state):
            return self.state
        return self.state_path

    @property
    def state_is_shared(self) -> bool:
        """True when the state is a database that several workers share."""
        return self.state is not None and is_database_url(self.state)

    @property
    def templates_dir(self) -> Path | None:
        return self.resolve(self.templates) if self.templates else None

    @property
    def outbox_dir(self) -> Path:
        return self.resolve(self.delivery.path)

    @property
    def cache_dir(self) -> Path:
        return self.resolve(self.cache)

    def where(self, *path: str | int) -> str:
        """``FILE:LINE`` of a config item, for errors raised after loading."""
        line = _line_for(self._lines, tuple(path))
        return f"{self._file}:{line}" if line else str(self._file)

    def problem(self, path: tuple, message: str) -> Problem:
        return Problem(message, str(self._file), _line_for(self._lines, path), _dotted(path))

    def cut_by_comment(self) -> tuple[Problem, ...]:
        """The text values YAML cut short at a ``#`` (:func:`_cut_by_comment`), as warnings.
        Found on the first call, not while parsing: only validate and match say them, and the scan
        of every line was 12% of parsing a 50,000-subscriber config with comments, on every send
        and every reload of ``run``."""
        if self._cut is None:
            text, shown = self._cut_source or ("", "")
            self._cut = tuple(_cut_by_comment(text, self._lines, shown))
            self._cut_source = None
        return self._cut

    # -- lookups ------------------------------------------------------------------------

    def subscriber(self, email: str) -> Subscriber:
        """The subscriber of ``email``, given as a command line takes it: the
        bare address, or copied from a mail client with its name
        (``Ada Lovelace <ada@example.org>``, which said "no subscriber")."""
        named = _NAMED_ADDRESS.fullmatch(email.strip())
        key = address_key(named["addr"] if named else email)
        for sub in self.subscribers:
            if sub.email.lower() == key:
                return sub
        if (by_name := self.named_so(email)) is not None:  # `--subscriber "Ada Lovelace"`: the name, not the address
            raise ConfigError(Problem(f"no subscriber {email!r} in the config: {by_name}", str(self._file)))
        raise ConfigError(Problem(f"no subscriber {email!r} in the config ({self._known(key)})", str(self._file)))

    def named_so(self, text: str) -> str | None:
        """What to write for ``text``, a subscriber's name where an address
        goes (``newsletter unsubscribe Kenji``): the subscriber whose ``name:``
        it is, or the one whose name holds its every word ("Kenji" of "Kenji
        Tanaka"), named by address; None for no such one subscriber."""
        words = text.casefold().split()
        if "@" in text or not words:
            return None
        whole = [s for s in self.subscribers if (s.name or "").casefold().split() == words]
        some = whole or [s for s in self.subscribers if set(words) <= set((s.name or "").casefold().split())]
        if len(some) != 1:
            return None
        return f"the subscriber is named by address, {some[0].email} (whose name: is {some[0].name})"

    def _known(self, key: str) -> str:
        """Which subscribers there are, for an address that is none of them:
        the few addresses, or on a mailing list of thousands their count and
        the one meant (the whole list was a line of 80 KB on the terminal)."""
        emails = [s.email for s in self.subscribers]
        if len(emails) <= LIST_SUBSCRIBERS_AT_MOST:
            return "subscribers: " + (", ".join(emails) or "none")
        close = difflib.get_close_matches(key, [e.lower() for e in emails], n=1, cutoff=0.8)
        meant = f"; did you mean {close[0]!r}?" if close else "; `newsletter schedule` lists them"
        return f"{len(emails):,} subscribers{meant}"

    @property
    def like_lookup_source(self) -> ArxivSource | None:
        """The source whose endpoint ``like:`` ids are looked up at: the first
        ``arxiv`` source read from the API (a saved copy or the RSS feed cannot
        be asked for one paper); None keeps ``like:`` offline."""
        return next((s for s in self.sources if isinstance(s, ArxivSource) and not s.path and s.feed == "api"), None)

    def selected_subscribers(self, only: str | None = None) -> list[Subscriber]:
        """All subscribers, or just ``only`` (an address; unknown is a ConfigError)."""
        return [self.subscriber(only)] if only else list(self.subscribers)

    def zone(self, subscriber: Subscriber) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(subscriber.timezone or self.timezone)

    def sends_empty(self, subscriber: Subscriber) -> bool:
        """Whether a due digest with no papers still goes out (a short note)."""
        return self.send_empty if subscriber.send_empty is None else subscriber.send_empty

    def topic_name(self, key: str) -> str:
        return self.topics[key].name or key


#: Places an unknown topic name is reported at one by one; the rest are one line.
UNKNOWN_TOPIC_LINES = 3

#: Up to this many subscribers, a wrong ``--subscriber`` lists them all.
LIST_SUBSCRIBERS_AT_MOST = 5


# --------------------------------------------------------------------------- loading


#: Biggest config file read (a config with 100,000 subscribers is about 10 MB).
MAX_CONFIG_BYTES = 64 * 1024 * 1024
#: Values a config may hold beyond its own nodes once YAML aliases are expanded,
#: as a multiple of its nodes (plus a constant): shared lists are fine, a "billion
#: laughs" alias bomb is not.
ALIAS_EXPANSION = 10
ALIAS_ALLOWANCE = 100_000


def _other_extension(path: Path) -> Path | None:
    """The same name with YAML's other extension (``config.yml`` for
    ``config.yaml``, and back), when that file exists; else a file beside it
    an editor or a download named otherwise: ``config.yaml.txt`` (Notepad,
    TextEdit), ``Config.yaml``, ``config`` without its extension."""
    twin = {".yaml": ".yml", ".yml": ".yaml"}.get(path.suffix.lower())
    other = path.with_suffix(twin) if twin else None
    if other is not None and other.is_file():
        return other
    if not twin:
        return None
    stem = path.stem.casefold()
    names = {f"{stem}{end}" for end in (".yaml", ".yml", ".yaml.txt", ".yml.txt", ".txt", "")}
    try:
        found = sorted(f for f in path.parent.iterdir() if f.name.casefold() in names and f.is_file())
    except OSError:  # a folder we may not list
        return None
    return found[0] if found else None


def _near_name(path: Path) -> Path | None:
    """A YAML file beside ``path`` whose name is ``path``'s mistyped
    (``--config confg.yaml``, ``conifg.yaml``): "not found" said where it
    looked, and the user read the folder's listing to find the typo."""
    if path.suffix.lower() not in (".yaml", ".yml") or path.name.casefold() == "config.yaml":
        return None  # (the default, unwritten: cron's home folder with a configs.yaml is no typo)
    try:
        names = [f.name for f in path.parent.iterdir() if f.suffix.lower() in (".yaml", ".yml") and f.is_file()]
    except OSError:  # a folder we may not list, or none
        return None
    near = difflib.get_close_matches(path.name, names, n=1, cutoff=0.8)
    return path.with_name(near[0]) if near else None


def _configs_beside(path: Path) -> list[Path]:
    """The YAML files beside the missing default ``config.yaml`` that hold a
    top-level ``subscribers:`` (a config under a name of its own, `--config
    ~/digest` for ~/digest/lab.yaml), at most three; none for a name given
    (:func:`_near_name` says those).  A docker-compose.yml or a CI file in
    the folder holds no subscribers, so it is never offered."""
    if path.name != "config.yaml":
        return []
    found = []
    try:
        candidates = sorted(f for f in path.parent.iterdir() if f.suffix.lower() in (".yaml", ".yml") and f.is_file())
    except OSError:  # a folder we may not list, or none
        return []
    for candidate in candidates[:20]:
        with contextlib.suppress(OSError), open(candidate, "rb") as f:
            if re.search(rb"(?m)^subscribers[ \t]*:", f.read(1 << 20)):
                found.append(candidate)
        if len(found) == 3:
            break
    return found


def load_config(path: str | os.PathLike) -> Config:
    """Parse and validate a config file; raise :class:`ConfigError` listing every problem.

    Bounded whatever the file holds: a FIFO, a device (``/dev/zero``) or a file
    over :data:`MAX_CONFIG_BYTES` is refused before reading, and an alias bomb
    or a self-referencing alias before anything is expanded.
    """
    path = Path(path)
    shown = str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO, socket or device"
            raise ConfigError(Problem(f"not a regular file ({kind}); the config must be a YAML file", shown, 1))
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                Problem(f"the file is {info.st_size:,} bytes, over the limit of {MAX_CONFIG_BYTES:,} for a config", shown, 1)
            )
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)  # a file growing under us is still bounded
    except FileNotFoundError:
        hint = "`newsletter init` writes a starter one; or use --config or $NEWSLETTER_CONFIG"
        if not path.is_absolute():
            # cron starts a job in the home folder, systemd in /: "config.yaml: config file not found"
            # did not say where it looked, and the config was where the user's shell had been
            with contextlib.suppress(OSError):  # (a current folder since removed has no name to give)
                hint = (f"relative to the current folder, {os.getcwd()}; {hint}: a full path, as cron and "
                        "systemd start a command in another folder")
        if (twin := _other_extension(path)) is not None:  # config.yml beside a default of config.yaml
            flag = f"--config {shlex.quote(str(twin))}"  # a folder with a space in its name: copied whole
            hint = f"{twin} is there: {flag}"
            if twin.suffix.lower() not in (".yaml", ".yml") or twin.name.casefold() == path.name.casefold():
                hint = f"{twin} is there: rename it to {path.name} (an editor's extension or case), or {flag}"
        elif (near := _near_name(path)) is not None:  # --config confg.yaml
            hint = f"did you mean {str(near)!r}? --config {shlex.quote(str(near))}"
        elif others := _configs_beside(path):  # --config ~/digest, whose config is lab.yaml
            names = [p.name for p in others]
            listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            beside = (f"{listed} there {'holds' if len(names) == 1 else 'hold'} subscribers: "
                      f"--config {shlex.quote(str(others[0]))}")
            # (the current folder's keeps saying where it looked: cron's home folder may hold another config)
            hint = f"{hint}; {beside}" if not path.is_absolute() and str(path.parent) == "." else \
                f"no {path.name} in {os.path.abspath(path.parent)}, but {beside}"
        raise ConfigError(Problem(f"config file not found ({hint})", shown)) from None
    except OSError as exc:
        raise ConfigError(Problem(f"cannot read: {exc.strerror}", shown)) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(Problem(f"the file is over the limit of {MAX_CONFIG_BYTES:,} bytes for a config", shown, 1))
    utf16 = data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # what Windows editors save as "Unicode"
    codec = "utf-16" if utf16 else "utf-8"
    if not utf16 and b"\x00" in data[:4096]:
        # the exports' rule: UTF-16 without its mark (iconv -t UTF-16LE, a script's utf-16-le) said
        # "control characters are not allowed" at line 1
        codec = bomless_unicode(data) or codec
        utf16 = codec != "utf-8"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = line_of(data, exc.start)
        encoding = {"utf-16": "UTF-16 text after its byte order mark", "utf-8": "UTF-8 text"}.get(codec, f"{codec.upper()} text")
        raise ConfigError(Problem(f"not {encoding} ({exc.reason} at byte {exc.start}); save it as UTF-8",
                                  shown, line)) from None
    config = parse_config(text, path, kept=True)
    config._mtime = info.st_mtime
    return config


#: A line holding ``key: value`` (or ``- key: value``): where its key starts, the key, the value.
_KEY_LINE = lazy(r"(?P<lead>[ ]*(?:-[ ]+)*)(?P<key>[^\s'\"#\[\]{},:-][^:#]*?):(?:[ \t]+(?P<value>\S.*))?$")


#: The longest key YAML allows without the explicit ``? key`` form (PyYAML's limit too).
YAML_KEY_MOST = 1024


def _long_key(row: str) -> str | None:
    """What to change when ``row`` holds a key longer than YAML allows, or
    None.  PyYAML stops scanning such a key and words it as another slip
    ("mapping values are not allowed", "could not find expected ':'")."""
    m = re.match(r"[ ]*(?:-[ ]+)*(?P<key>\"[^\"]*\"|'[^']*'|[^:]*?):(?:[ \t]|$)", row)
    if m is None:
        return None
    key = m["key"].strip("\"'")
    if len(key) <= YAML_KEY_MOST:
        return None
    return (f"the key '{key[:30]}...' is {len(key)} characters long, and YAML allows at most {YAML_KEY_MOST} "
            'in a key: shorten it (a long text belongs in a value, as about: "...")')


def _unclosed_quote(rows: list[str], line: int, context_line: int | None) -> tuple[int, str] | None:
    """The line whose value opens a quote it does not close there, with what
    to do: YAML reads on to the next quote, lines below, and the error it
    then meets (``did not find expected key``) named that later line.  The
    lines looked at: where the parser's context began (a ``[`` list's line)
    and the line just above the error.  None when each closes what it opens."""
    above = _above(rows, line)
    for n in dict.fromkeys(x for x in (context_line, above) if x is not None and x < line):
        row = rows[n - 1]
        doubles = row.replace("\\\\", "").replace('\\"', "").count('"')
        m = re.match(r"[ ]*(?:-[ ]+)*(?:[^\s'\"#][^:#]*?:[ ]+)?'(?P<rest>.*)$", row)
        if doubles % 2 == 0 and (m is None or "'" in m["rest"].replace("''", "")):
            continue
        q = '"' if doubles % 2 else "'"
        opened = row[row.rindex(q) if q == '"' else row.index("'"):].strip()
        return n, (f"the quote opening {opened[:40]!r} is not closed on its line: end the value with {q} "
                   "(YAML read on to the next one, below)")
    return None


#: A key whose value is a block of text on the lines below (``about: >-``, ``about: |``).
_BLOCK_KEY = lazy(r"(?P<lead>[ ]*(?:-[ ]+)*)(?P<key>[\w.-]+):[ ]+(?P<mark>[>|][-+0-9]*)[ ]*(?:#.*)?$")


def _block_lines(rows: list[str], line: int | None) -> tuple[str, list[str]] | None:
    """The mark and the lines of the block text ``key: >-`` (or ``|``) at
    ``line`` opens, each stripped; None when that line opens none."""
    if not line or line > len(rows) or (block := _BLOCK_KEY.match(rows[line - 1])) is None:
        return None
    items = []
    for row in rows[line:]:
        if row.strip() and _indent(row) <= len(block["lead"]):
            break
        items += [row.strip()] if row.strip() else []
    return (block["mark"], items) if items else None


def _indent(row: str) -> int:
    return len(row) - len(row.lstrip(" "))


def _above(rows: list[str], line: int) -> int | None:
    """The nearest line above ``line`` (1-based) holding more than a comment."""
    return next((n for n in range(line - 1, 0, -1) if rows[n - 1].strip() and not rows[n - 1].lstrip().startswith("#")),
                None)


def _continues_text(rows: list[str], line: int) -> bool:
    """Whether ``line`` (1-based) goes on with the text of the nearest
    ``key: value`` above it, indented deeper than that key: a line of
    ``about:`` starting "all of them ..." is no key whose ':' was left out
    ('all: of them ...' was said there, and the slip was on the next line)."""
    for n in range(line - 1, 0, -1):
        if (head := _KEY_LINE.match(rows[n - 1])) is not None:
            value = (head["value"] or "").split(" #")[0].strip()
            return bool(value) and not value.startswith("#") and _indent(rows[line - 1]) > len(head["lead"])
    return False


def _text_read_as_keys(rows: list[str], line: int) -> tuple[int, str] | None:
    """A text YAML read as keys, noticed at ``line`` (a line with no ':'):
    the lines of ``about: >-`` not indented under it, or a plain text over
    several lines whose first holds ': '.  PyYAML said "could not find
    expected ':'", and the hint then told to add one."""
    above = _above(rows, line)
    if above is None:
        return None
    block = _BLOCK_KEY.match(rows[above - 1])
    if block and _indent(rows[line - 1]) <= len(block["lead"]):
        key, deeper = block["key"], len(block["lead"]) + 2
        return line, (f"the text of '{key}: {block['mark']}' goes on the lines below it, indented deeper than "
                      f"'{key}:' ({counted(deeper, 'space')} here)")
    here = _KEY_LINE.match(rows[above - 1])
    first = rows[line - 1].split()[0] if rows[line - 1].split() else ""
    if (here is not None and here["key"].strip() == "about" and (here["value"] or " ")[0] not in "'\"[{>|&*"
            and _indent(rows[line - 1]) == len(here["lead"]) and first not in Topic.model_fields):
        # `about: I want papers on diffusion` then `and on score matching.` under the a of about:
        # (not `about Diffusion` after a line: a key's colon left out is said below)
        key, deeper = here["key"].strip(), len(here["lead"]) + 2
        return line, (f"the text of '{key}:' goes on here, which YAML reads as a new key: indent its lines deeper "
                      f"than '{key}:' ({counted(deeper, 'space')} here), or write '{key}: >-' and the whole text on "
                      "the lines below it")
    owner = _above(rows, above)
    if here is None or not here["value"] or " " not in here["key"].strip() or owner is None:
        return None
    head = _KEY_LINE.match(rows[owner - 1])
    if head is None or head["value"] or _indent(rows[owner - 1]) >= _indent(rows[above - 1]):
        return None
    key, said = head["key"].strip(), here["key"].strip()
    said = said if len(said) <= 50 else said[:50].rsplit(" ", 1)[0] + " ..."
    return above, (f"the text under '{key}:' holds ': ' ('{said}: ...'), which YAML reads as a key: "
                   f"write '{key}: >-' so the lines below it are read as text")


def _unescaped_quotes(inner: str) -> str:
    r"""The text between double quotes as single quotes write it: the escapes
    that double quotes allow and mean as one character (``\\``, ``\"``,
    ``\/``) lose their backslash, others stay as written.  Copied as they
    stood, ``"/\\bSGD\\b \d+ steps/"`` was offered ``'/\\bSGD\\b \d+ steps/'``,
    which matches nothing."""
    return re.sub(r"\\(.)", lambda m: m[1] if m[1] in '\\"/' else m[0], inner, flags=re.DOTALL)


def _quote_inside(row: str) -> str | None:
    """What to write when a quoted value holds its own quote (``about:
    'I'm ...'``, ``name: "The "best" digest"``): YAML ends the value there
    and said "expected <block end>, but found '<scalar>'".  None otherwise."""
    here = _KEY_LINE.match(row)
    if here is None or (value := here["value"] or "")[:1] not in ("'", '"'):
        return None
    closed = re.match(r"'(?:[^']|'')*'" if value[0] == "'" else r'"(?:[^"\\]|\\.)*"', value)
    if closed is None or not (rest := value[closed.end():].strip()) or rest.startswith("#"):
        return None
    key, whole = here["key"].strip(), value.split(" #")[0].strip()
    if rest.startswith(","):  # `any: "a", "b"`: a list without its brackets
        return f"several values are a list, written in brackets: {key}: [{whole}]"
    quote = "a single quote" if value[0] == "'" else "a double quote"
    if whole.endswith(value[0]):  # `about: 'I'm ...'`: the quote inside ends the value early
        inner = whole[1:-1]
        said = f"the value between quotes holds {quote} of its own, where YAML ends it"
    else:  # `name: "Diffusion" models`: a value that only starts with a quoted word
        inner = whole
        said = f"the value starts with {quote}, where YAML takes the quoted part for the whole value"
    if value[0] == '"':
        inner = _unescaped_quotes(inner)
    written = "'" + inner.replace("'", "''") + "'"
    shown = written if len(written) <= 60 else written[:56] + " ...'"
    return (f"{said}: write {key}: {shown}" + (" (in single quotes, a ' inside is written twice)"
                                               if "'" in inner else ""))


#: An alias where a key goes, `{email: ..., *member}` or a line `*member` in a mapping: the merge's `<<:` left out.
_ALIAS_KEY = lazy(r"(?:^[ ]*(?:-[ ]+)?|[{,][ ]*)(\*[^\s,\]}:]+)[ ]*(?::|(?=[,}])|$)")


#: A key and its value with the ':' between them left out (`name You`, `- email ada@uni.edu`).
_KEY_WITHOUT_COLON = lazy(r"[ ]*(?:-[ ]+)?([A-Za-z_][\w-]*)[ ]+([^\s:#][^:#]*?)[ ]*$")


def _colon_left_out(row: str) -> str | None:
    """What to write when ``row`` is a settings key and its value without the
    ':' (`- email ada@uni.edu`): the next line's key made YAML read both lines
    as one key, "mapping values are not allowed in this context" at that
    line, which is fine.  Only a key the config knows, so a text's line is not
    taken for one."""
    m = _KEY_WITHOUT_COLON.match(row.split(" #")[0])
    known = {*Config.model_fields, *Subscriber.model_fields, *Topic.model_fields, *EmailSettings.model_fields,
             *Delivery.model_fields, *WebSettings.model_fields}
    if m is None or m[1] not in known:
        return None
    return f"a key and its value need a ':' between them ('{m[1]}: {m[2]}')"


def _alias_as_key(rows: list[str], start: int, end: int) -> tuple[int, str] | None:
    """The line from ``start`` to ``end`` (1-based, from the mapping's first)
    where an alias stands as a key, and what to write: the anchor's keys
    merged, ``<<: *member``.  PyYAML said "found unhashable key" at the
    anchor's line, or "could not find expected ':'" past the line."""
    for n in range(start, min(end, len(rows)) + 1):
        if (token := _ALIAS_KEY.search(rows[n - 1].split(" #")[0])) is not None:
            return n, (f"{token[1]} stands where a key goes: to take the keys of the anchor &{token[1][1:]}, "
                       f"write <<: {token[1]}")
    return None


def _yaml_hint(rows: list[str], line: int, column: int, problem: str, context_line: int | None) -> tuple[int, str]:
    """The line to fix and what to change there, for the YAML slips a newcomer
    makes, which PyYAML words as its parser's state ("mapping values are not
    allowed in this context", "did not find expected key"): a ``: `` inside an
    unquoted value, a key indented unlike its neighbours, ``-email`` and
    ``key:value``.  ``line`` is 1-based, ``column`` 0-based (PyYAML's mark).
    An empty hint when the slip is none of these."""
    row = rows[line - 1]
    if "undefined alias" in problem and (token := re.match(r"\*[^\s,\]}]*", row[column:])) and (
            re.search(r"<<[ ]*:[ ]*\[?[ ]*$", row[:column]) or any(f"&{token[0][1:]}" in r for r in rows[line:])):
        # `<<: *member` with the anchor missing, or defined only further down the file
        name = token[0][1:]
        later = next((n for n, r in enumerate(rows[line:], line + 1) if f"&{name}" in r), None)
        keyed = next((n for n, r in enumerate(rows[:line - 1], 1) if re.match(rf"(?:x-)?{re.escape(name)}[ ]*:", r)
                      and "&" not in r), None)
        if later is None and keyed is not None:  # `x-member: {...}` then `<<: *x-member`: the key is no anchor
            key = rows[keyed - 1].split(":")[0]
            return line, (f"{key} (line {keyed}) is a key, not an anchor: an alias names an &anchor, so write "
                          f"`{key}: &{name} ...` there")
        return line, (f"the anchor &{name} is defined only below, at line {later}: an anchor comes before its "
                      "aliases, so move it up (top-level `x-` keys are there for that)" if later else
                      f"no anchor &{name} is defined above: write one before this line, e.g. at the top "
                      f"`{'' if name.startswith('x-') else 'x-'}{name}: &{name} {{max_papers: 10}}` "
                      "(README \"Many subscribers\")")
    if "undefined alias" in problem and (token := re.match(r"\*[^\s,\]}]*", row[column:])):
        # `any: [*diffusion]`: a suffix wanted, an anchor's alias read
        return line, (f"YAML reads {token[0]} as an alias (a reference to an '&' anchor): to mean the text, "
                      f"write it in quotes, \"{token[0]}\"")
    if "unknown escape character" in problem or "hexdecimal number" in problem:  # (PyYAML's spelling)
        # `any: ["/\d+ steps/"]`, a LaTeX title in double quotes: YAML reads a backslash there as an escape
        span = next((m for m in re.finditer(r'"((?:[^"\\]|\\.)*)"?', row) if m.start() <= column <= m.end()), None)
        inner = _unescaped_quotes(span[1]) if span else ""
        written = "'" + inner.replace("'", "''") + "'" if span else "'...'"
        shown = written if len(written) <= 60 else written[:56] + " ...'"
        slash = row.rfind("\\", 0, column + 1)  # ('\U' and '\x' want hex digits: the mark is past them)
        return line, (f"in double quotes YAML reads a backslash as an escape ('{row[slash:slash + 2]}' is "
                      f"none here): write the value in single quotes, {shown}, where a backslash is itself")
    if "cannot start any token" in problem and row[column:column + 1] in ("@", "`"):
        word = row[column:].split()[0].rstrip(",]}")
        return line, f"YAML keeps {row[column]} for itself at the start of a value: write it in quotes, \"{word}\""
    if "could not find expected ':'" in problem and context_line and context_line <= len(rows):
        # `host:127.0.0.1` is one plain word, noticed only at the next line
        m = re.match(r"[ ]*(?:-[ ]+)?([\w.-]+):(\S.*)$", rows[context_line - 1])
        if m:
            return context_line, f"YAML needs a space after the ':' of a key ('{m[1]}: {m[2]}')"
        if (text := _text_read_as_keys(rows, context_line)) is not None:
            return text
        # `name You`: the key's colon left out, noticed only at the next line too
        m = _KEY_WITHOUT_COLON.match(rows[context_line - 1])
        if m:
            return context_line, f"a key and its value need a ':' between them ('{m[1]}: {m[2]}')"
        return line, ""
    if (opened := _unclosed_quote(rows, line, context_line)) is not None:
        return opened
    if (inside := _quote_inside(row)) is not None:
        return line, inside
    if "expected ',' or ']'" in problem and row.replace('\\"', "").count('"') % 2:
        # `any: ["diffusion model*, "score-based"]`: one item's closing quote left out
        return line, ("an item's quote is not closed in this [...] list (the line has an odd number of \"): "
                      'each item is quoted on its own, ["a b", "c"]')
    if "'-' indicator" in problem and re.match(r"[ ]*-[^\s-]", row):
        key = row.strip()[1:].split(":")[0]
        return line, f"a list item needs a space after its '-' ('- {key}: ...')"
    here = _KEY_LINE.match(row)
    if here and here["value"] and here["value"].startswith(("{{", "{%")):
        # `subject: {{ count }} new papers`: a Jinja template read as a YAML mapping
        value = here["value"].split(" #")[0].strip()
        quoted = "'" + value.replace("'", "''") + "'" if '"' in value else f'"{value}"'
        return line, f"YAML reads a value starting with '{{' as a mapping: put the template in quotes, {here['key']}: {quoted}"
    mapping = "mapping values are not allowed" in problem
    if mapping and here and here["value"] and column >= here.start("value") and here["value"][0] not in "'\"[{|>&*!":
        key, start = here["key"], " ".join(here["value"].split()[:2])
        value = here["value"].split(" #")[0].strip()
        if '"' in value:  # (in double quotes, its own " ended the value: the next message, one round later)
            quoted = "'" + value.replace("'", "''") + "'"
            return line, (f"the value of '{key}' holds ': ', which YAML reads as a new key: put the whole value in "
                          f"single quotes, as it holds a \" ({key}: {quoted if len(quoted) <= 70 else quoted[:60] + ' ...'})"
                          f" or on the lines below '{key}: >-'")
        return line, (f"the value of '{key}' holds ': ', which YAML reads as a new key: put the whole value in "
                      f"quotes ({key}: \"{start} ...\") or on the lines below '{key}: >-'")
    above = _above(rows, line)
    if mapping and above is not None and not _continues_text(rows, above) and (
            left := _colon_left_out(rows[above - 1])) is not None:
        # `- email ada@uni.edu` then `  topics: [...]`: YAML joined the two lines into one key
        return above, left
    if above is None or here is None:
        return line, ""
    prev = _KEY_LINE.match(rows[above - 1])
    mine, theirs = len(here["lead"]), len(prev["lead"]) if prev else len(rows[above - 1]) - len(rows[above - 1].lstrip())
    if mapping and mine > theirs and prev and prev["value"]:
        return line, (f"this line is indented deeper ({counted(mine, 'space')}) than line {above} "
                      f"({counted(theirs, 'space')}), whose key '{prev['key']}' already has its value: "
                      "the keys of one section line up")
    if ("expected key" in problem or "'-' indicator" in problem) and mine != theirs:
        return line, (f"this line is indented {counted(mine, 'space')}, line {above} above it {theirs}: "
                      "the keys of one section line up")
    return line, ""


#: Spaces that are not YAML's: a no-break space (what a web page, a chat or a
#: mail client gives when YAML is copied from it), the typographic spaces.
_ODD_SPACES = "\u00a0\u2000-\u200a\u202f\u205f\u3000"
_ODD_SPACE = lazy(f"[{_ODD_SPACES}]")
#: Where such spaces are YAML's syntax: a line's indent, after a list's ``-``, after a key's ``:``.
_ODD_SYNTAX_SPACE = lazy(
    rf"^(?P<lead>[ {_ODD_SPACES}]*(?:-[ {_ODD_SPACES}]+)*)"
    rf"(?:(?P<key>[^\s'\"#\[\]{{}},:-][^:#]*?:)(?P<after>[ {_ODD_SPACES}]+))?",
    re.MULTILINE,
)


#: A key written with a full-width colon (``timezone：``, as a Chinese or Japanese
#: input method types it): YAML reads the line as one plain value.
_WIDE_COLON = lazy(r"^(?P<lead>[ ]*(?:-[ ]+)*[A-Za-z_][\w.-]*)：(?P<glued>(?=[^ \t\r\n]))?", re.MULTILINE)


def _ordinary_spaces(text: str) -> str:
    """``text`` with the no-break and typographic spaces that stand where YAML
    wants a space (an indent, after ``-`` or a key's ``:``) made spaces, one for
    one, so lines and columns hold.  YAML takes a no-break space for a
    character of a key or value: an indented ``any:`` read as the key "  any"
    beside its topic, which then had no rules.  A no-break space inside a
    value (``name: Paper\u00a0Digest``) is kept.  So is a settings key's
    full-width colon (``timezone：``) made a colon."""
    if "：" in text:
        text = _WIDE_COLON.sub(lambda m: m["lead"] + (": " if m["glued"] is not None else ":"), text)
    if not _ODD_SPACE.search(text):
        return text

    def spaced(m: re.Match) -> str:
        lead = _ODD_SPACE.sub(" ", m.group("lead"))
        if m.group("key") is None:
            return lead
        return lead + m.group("key") + " " * len(m.group("after"))

    return _ODD_SYNTAX_SPACE.sub(spaced, text)


#: A value written between typographic quotes (“a*”, ‘x’: what a word processor, a
#: macOS editor or a chat makes of straight ones), where YAML reads a value:
#: after ``key: ``, ``- ``, ``[`` or ``,``, and up to the value's end.
_CURLY_QUOTED = lazy(
    r"(?:(?<=: )|(?<=- )|(?<=\[)|(?<=, )|(?<=,)|(?<=\[ ))"
    r"(?:“(?P<double>[^“”\"\n]*)”|‘(?P<single>[^‘’\n]*)’)"
    r"(?=[ \t]*(?:[,\]}]|#|$))",
    re.MULTILINE,
)


def _straight_quotes(text: str) -> str:
    """``text`` with each value written between typographic quotes (“a*”, ‘x’)
    quoted as YAML quotes: YAML knows only straight quotes, and kept the
    curly ones as part of the value (the term “a*” refused as "'*' is only
    allowed at the end", a subject sent with its quotes).  Lines hold."""
    if "“" not in text and "‘" not in text:
        return text

    def quoted(m: re.Match) -> str:
        value = m.group("double") if m.group("double") is not None else m.group("single")
        return "'" + value.replace("'", "''") + "'"

    return _CURLY_QUOTED.sub(quoted, text)


def parse_config(text: str, path: str | os.PathLike = "config.yaml", *, kept: bool = False) -> Config:
    """``kept``: take the text's YAML as read by an earlier run, and keep
    it for the next (see :class:`_KeptRead`): only for a config file's own text."""
    path = Path(path)
    shown = str(path)
    text = _straight_quotes(_ordinary_spaces(text))
    if not text.isascii():
        # An accent as a separate mark ("o" + U+0308, as macOS and some editors copy text) is another
        # string than the one-character "ö" papers have: `any: ["Schrödinger bridge*"]` matched none
        text = unicodedata.normalize("NFC", text)
    keeping = _KeptRead(path, text) if kept and _reading_version() else None
    loaded = (keeping.load() if keeping else None) or _read_text(text, shown, keeping)
    data, lines, problems = loaded
    if data is None:  # an empty file (or only comments): say so, not "sources: required key is missing"
        raise ConfigError(Problem(f"the config is empty; `newsletter init --force {shown}` writes a starter one", shown))
    if not isinstance(data, dict):
        raise ConfigError(Problem(f"expected a mapping of settings at the top, got {type(data).__name__}", shown, 1))
    # Top-level `x-...` keys are the config's own, as in docker-compose: a home
    # for YAML anchors (`x-defaults: &d {...}`) that the settings then merge in.
    data = {key: value for key, value in data.items() if not (isinstance(key, str) and key.startswith("x-"))}
    if _NUL_ESCAPE.search(text) and (nuls := _nul_problems(data, lines, shown)):
        raise ConfigError(*nuls)  # before the checks that stat the paths among them
    if "\\" in text and _ESCAPE_MEANT_AS_BACKSLASH.search(text):
        problems = [*problems, *_escape_problems(text, shown)]

    config = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        anchored = _anchored_keys(text)  # one pass over the file, not one per error
        rows = text.splitlines()
        for err in exc.errors():
            problems.append(_problem_from_pydantic(err, data, lines, shown, anchored, rows))
    problems.extend(_cross_checks(data, lines, shown, path.parent))
    if problems:
        unique = list(dict.fromkeys(problems))
        unique.sort(key=lambda p: (p.line or 0))
        error = ConfigError(*unique)
        error.unset_secrets = tuple(_unset_secrets(data, lines, shown, unique))
        if not any(p.path and re.match(r"(sources|cache|http)\b", p.path) for p in unique):
            error.sources_config = _sources_part(data, lines, path)
        raise error
    assert config is not None
    config._file = path
    config._lines = lines
    if " #" in text:  # (read by cut_by_comment when asked)
        config._cut, config._cut_source = None, (text, shown)
    if keeping and config.cache_dir == keeping.cache_dir:
        keeping.save()
    return config


#: The settings whose plain value is text a ``#`` may belong to (a hashtag, an issue number).
_TEXT_KEYS = ("about", "name", "subject")
#: ``key: text #word ...``: a plain value (not quoted, not a block) that a comment mark cuts short; a
#: comment written as one (``# note``, a space after the mark) is not matched.
_CUT_VALUE = lazy(r"(?P<lead>[ ]*(?:-[ ]+)*)(?P<key>[A-Za-z_]\w*):[ ]+(?P<kept>[^\s'\"#|>&*!\[{%@`](?:(?![ \t]#).)*)"
                  r"[ \t]+#(?P<cut>[^\s#!].*)$")


def _cut_by_comment(text: str, lines: dict, shown: str) -> list[Problem]:
    """Text values that YAML ended at `` #`` followed by a word: ``about: graph
    networks #GNN #chemistry for molecules`` is read as 'graph networks', the
    rest a comment, and ``subject: Digest #{{ count }}`` as 'Digest'.  Nothing
    said so: the sentence ranked on what was left and the subject lost its
    number.  A comment as one writes it, with a space after the mark, is
    not named."""
    at = {line: path for path, line in lines.items() if path and isinstance(path[-1], str)}
    found = []
    for n, row in enumerate(text.splitlines(), 1):
        m = _CUT_VALUE.fullmatch(row)
        path = at.get(n)
        if m is None or m["key"] not in _TEXT_KEYS or path is None or path[-1] != m["key"]:
            continue
        kept, cut = m["kept"].strip(), "#" + m["cut"].rstrip()
        kept_shown = kept if len(kept) <= 40 else kept[:37] + "..."
        cut_shown = cut if len(cut) <= 40 else cut[:37] + "..."
        quoted = f"{m['key']}: {json.dumps(f'{kept} {cut}', ensure_ascii=False)}"
        found.append(Problem(
            f"YAML reads {cut_shown!r} as a comment (a '#' after a space starts one), so the {m['key']} is only "
            f"{kept_shown!r}: put the whole value in quotes to keep the rest"
            + (f" ({quoted})" if len(quoted) <= 80 else ""), shown, n, _dotted(path)))
    return found


#: How YAML writes a NUL character in a double-quoted string (as is, the reader refuses it).
_NUL_ESCAPE = lazy(r"\\(?:0|x00|u0000|U00000000)")


#: An escape of YAML's double quotes written where a backslash was meant: one that makes a
#: control character no setting wants ('\epsilon', '\beta', '\bword\b', '\alpha', '\vec',
#: '\frac', 'adamw?\b'), or a tab, line break or return before a LaTeX macro's rest
#: ('\theta', '\nabla', '\rho').  A quick look at the file's text: only double-quoted
#: values are then checked (:func:`_escape_problems`).
_LATEX_AFTER_ESCAPE = r"(?:heta|au|ilde|imes|ext|op|abla|u\b|eq|ho|ight|angle|m\b)"
#: (After a '"' on its line: a regular expression in single quotes, as the starter config has,
#: does not make every load compose the whole file as nodes.)
_ESCAPE_MEANT_AS_BACKSLASH = lazy(rf'"[^"\n]*?\\(?:[abefv]|[tnr]{_LATEX_AFTER_ESCAPE})')
_CONTROL_FROM_ESCAPE = lazy(rf"[\x07\x08\x0b\x0c\x1b]|[\t\n\r]{_LATEX_AFTER_ESCAPE}")
_ESCAPES_READ = {"\x07": "a", "\x08": "b", "\x1b": "e", "\x0c": "f", "\x0b": "v", "\t": "t", "\n": "n", "\r": "r"}


def _double_quoted(text: str) -> Iterator[tuple[tuple, int, str]]:
    """Each scalar of ``text`` written in double quotes: its path, line
    (1-based) and value.  Only there is a backslash an escape: a real line
    break or tab in a plain, single-quoted or block text (``about: |`` and a
    line starting "optimal") reads the same as ``\n`` + "optimal" once
    parsed, and was refused as an escape typed in double quotes."""
    yaml = _yaml()
    root = yaml.compose(text, Loader=_Loader)
    seen: set[int] = set()
    stack: list[tuple[tuple, Any]] = [((), root)] if root is not None else []
    while stack:
        at, node = stack.pop()
        if id(node) in seen:  # (an alias: its anchor's node, checked once where written)
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.style == '"':
                yield at, node.start_mark.line + 1, node.value
        elif isinstance(node, yaml.MappingNode):
            for key, item in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                stack.append(((*at, name), item))
                if isinstance(key, yaml.ScalarNode) and key.style == '"':
                    stack.append(((*at, name), key))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(((*at, i), item) for i, item in enumerate(node.value))


def _escape_problems(text: str, shown: str) -> list[Problem]:
    r"""A problem for every double-quoted text in which YAML read a
    backslash as an escape where a LaTeX macro or a regular expression's
    ``\b`` was written (``like: ["$\epsilon$-nets"]``, ``any:
    ["/\bSGD\b/"]``): the text held an escape character or a backspace,
    and the title matched no paper, the term nothing, without a word.  A
    URL's password is not shown (``state: "postgresql://u:s3cr\bt@host/db"``)."""
    found = []
    for at, line, value in _double_quoted(text):
        if not (m := _CONTROL_FROM_ESCAPE.search(value)):
            continue
        written = "".join(f"\\{_ESCAPES_READ[c]}" if c in _ESCAPES_READ else c for c in value)
        if "://" in written:
            written = public_url(written)
        quoted = "'" + written.replace("'", "''") + "'"
        shown_value = quoted if len(quoted) <= 60 else quoted[:56] + " ...'"
        found.append(Problem(f"in double quotes YAML reads '\\{_ESCAPES_READ[m[0][0]]}' as an escape, not a "
                             f"backslash and a letter: write the value in single quotes, {shown_value}, where a "
                             "backslash is itself", shown, line, _dotted(at)))
    return sorted(found, key=lambda p: (p.line or 0, p.path or ""))


def _nul_problems(data: Any, lines: dict, shown: str) -> list[Problem]:
    """A problem for every text holding a NUL character (``"\\u0000"``): no
    path, address or term can, and a path holding one made the first look at
    the file a traceback ('embedded null byte')."""
    found = []
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        at, value = stack.pop()
        if isinstance(value, str) and "\x00" in value:
            found.append(Problem("holds a NUL character (\\u0000), which no setting can hold", shown,
                                 _line_for(lines, at), _dotted(at)))
        elif isinstance(value, dict):
            stack.extend(((*at, key), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend(((*at, i), item) for i, item in enumerate(value))
    return sorted(found, key=lambda p: (p.line or 0, p.path or ""))


def _sources_part(data: dict, lines: dict, path: Path) -> Config | None:
    """The config's sources alone, as a config that reads them (with a
    placeholder topic and no subscribers), or None when they do not validate
    on their own: for ``validate`` to check the source files of a config
    whose other parts are broken."""
    part = {key: data[key] for key in ("sources", "cache", "http") if key in data}
    part["topics"] = {"sources-only": {"any": ["sources-only"]}}
    try:
        config = Config.model_validate(part)
    except ValidationError:
        return None
    config._file = path
    config._lines = lines
    return config


#: libyaml's parser when PyYAML was built with it (10x faster on big subscriber
#: lists), building what ``safe_load`` builds; made by :func:`_yaml`.
_Loader: Any = None
#: The resolver and constructors of ``safe_load`` without its reader; made by :func:`_yaml`.
_Resolving: Any = None


def _yaml() -> Any:
    """PyYAML, imported on first use, with this module's loader and resolver
    (:data:`_Loader`, :data:`_Resolving`)."""
    global yaml, _Loader, _Resolving
    if yaml is not None:
        return yaml
    with lazy_while_importing("yaml"):  # its patterns compiled on first use (see there)
        import yaml as module

    class Loader(getattr(module, "CSafeLoader", module.SafeLoader)):  # type: ignore[misc]
        """libyaml's parser when PyYAML was built with it, building what ``safe_load`` builds."""

    Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)

    class Resolving(module.constructor.SafeConstructor, module.resolver.Resolver):
        """The resolver and constructors of ``safe_load`` without its reader: a
        ``SafeLoader`` checks its (empty) text for unprintable characters, and that
        compiles PyYAML's pattern for them, which libyaml's parser never needs."""

        def __init__(self) -> None:
            module.constructor.SafeConstructor.__init__(self)
            module.resolver.Resolver.__init__(self)

    _Loader, _Resolving = Loader, Resolving
    yaml = module  # (last: a failed import is tried again)
    return yaml


def _timestamp(loader: Any, node: Any) -> Any:
    """A date or time as ``safe_load`` builds it; a plain value that looks like
    one and names no such day (``date: 2024-02-30``, a month 13) is an error at
    its line: datetime's ValueError was a traceback."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value!r} is written as a date, but there is no such date ({exc})", node.start_mark
        ) from None



class _AliasProblem(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


_STR = "tag:yaml.org,2002:str"


def _read_text(text: str, shown: str, keeping: _KeptRead | None) -> tuple[Any, dict[tuple, int], list[Problem]]:
    """The YAML of a config's ``text``: its data, the line of each path and the
    duplicate keys (see :func:`_load_plain`); ``keeping``: where a plain read is
    kept for the next run.  Malformed YAML is a :class:`ConfigError` at its line."""
    yaml = _yaml()
    try:
        loaded = _load_plain(text, shown)
        if keeping and loaded is not None and not loaded[2]:
            keeping.read(loaded)
        return loaded or _load_yaml(text, shown)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(filter(None, [exc.context, exc.problem]))
        if exc.context_mark and "quoted scalar" in (exc.context or "") and "end of stream" in (exc.problem or ""):
            # PyYAML notices a missing closing quote only at the end of the file:
            # the line to fix is where the quote opens.
            mark = exc.context_mark
            what = f"a quoted string starts here and is never closed ({what})"
        line = mark.line + 1 if mark else None
        rows = text.splitlines()
        bad = rows[line - 1] if line and line <= len(rows) else ""
        if "\t" in bad[: len(bad) - len(bad.lstrip())]:
            # PyYAML's words for a tab ("cannot start any token") do not say what to change
            what += "; the line is indented with a tab: YAML indents with spaces only"
        elif "cannot start any token" in what and mark and bad[mark.column: mark.column + 1] == "\t":
            what += "; a tab stands where YAML wants a space (after a '-' or a ':'): write a space"
        elif exc.context_mark and ("found unhashable key" in what or "could not find expected ':'" in what) and (
                merged := _alias_as_key(rows, exc.context_mark.line + 1, exc.context_mark.line + (
                    50 if "unhashable" in what else 1))):
            # `{email: ..., *member}`: the `<<: ` of a merge left out
            line, hint = merged
            what += f"; {hint}"
        elif line and line <= len(rows) and (long := _long_key(bad)):
            what = long  # PyYAML's words name another slip
        elif line and rows and (line <= len(rows) or "could not find expected ':'" in what):
            # (a key's ':' left out on the last line is noticed past the end of the file)
            context_line = exc.context_mark.line + 1 if exc.context_mark else None
            line, hint = _yaml_hint(rows, min(line, len(rows)), mark.column if mark and line <= len(rows) else 0,
                                    exc.problem or "", context_line)
            what += f"; {hint}" if hint else ""
        raise ConfigError(Problem(f"malformed YAML: {what}", shown, line)) from None
    except yaml.reader.ReaderError as exc:  # a control character: one line, with its line number
        line = line_of(text, exc.position) if isinstance(exc.position, int) else None
        what = f"character {chr(exc.character)!r}" if isinstance(exc.character, int) else "character"
        raise ConfigError(Problem(f"malformed YAML: {what}: {exc.reason}", shown, line)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(Problem(f"malformed YAML: {' '.join(str(exc).split())}", shown)) from None
    except _AliasProblem as exc:
        raise ConfigError(Problem(str(exc), shown, exc.line)) from None


def _load_plain(text: str, shown: str) -> tuple[Any, dict[tuple, int], list[Problem]] | None:
    """A plain document (no anchors, aliases, merge keys or explicit tags, the
    usual config) straight from the parser's events: the data, the line of
    each path and the duplicate keys, as :func:`_load_yaml` and
    :func:`_record_lines` give them, without holding a node for every value
    (a config with 100,000 subscribers would take over 500 MB as nodes).
    None for anything else: the node path handles it.

    A quoted scalar is a string as written; a plain one is resolved and
    built as ``safe_load`` would, once per distinct text (the values it
    builds are immutable: a subscriber list repeats ``true`` and ``14``
    thousands of times)."""
    yaml = _yaml()
    helper = _Resolving()
    plain: dict[str, Any] = {}  # a plain scalar's text -> its value
    lines: dict[tuple, int] = {}
    problems: list[Problem] = []
    # frames: [container, path, is_mapping, pending key (raw text, value) or None, keys seen -> line]
    stack: list[list] = []
    result: Any = None
    documents = 0
    scalar_event, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    # ``yaml.parse(text, Loader=_Loader)``, with one call into the parser per event,
    # not two, and no generator between (a big subscriber list is some 15 events a subscriber)
    loader = _Loader(text)
    try:
        get = loader.get_event
        while (event := get()) is not None:
            kind = type(event)
            if kind is scalar_event or kind is mapping_start or kind is sequence_start:
                if event.anchor is not None or (event.tag is not None and not (kind is scalar_event and event.tag == "!")):
                    return None
                line = event.start_mark.line + 1
                if kind is scalar_event:
                    raw_value = event.value
                    if not event.implicit[0]:  # quoted: a string, as safe_load's resolver says
                        value = raw_value
                    elif raw_value in plain:
                        value = plain[raw_value]
                    else:
                        tag = helper.resolve(yaml.ScalarNode, raw_value, event.implicit)
                        if tag == _STR:
                            value = raw_value
                        else:
                            construct = helper.yaml_constructors.get(tag)
                            if construct is None or tag == "tag:yaml.org,2002:merge":
                                return None
                            try:
                                value = construct(helper, yaml.ScalarNode(tag, raw_value, event.start_mark, event.end_mark))
                            except Exception:  # noqa: BLE001 -- the node path reports it as before
                                return None
                        plain[raw_value] = value
                else:
                    value = {} if kind is mapping_start else []
                if not stack:
                    result = value
                    lines.setdefault((), line)
                    path: tuple = ()
                else:
                    frame = stack[-1]
                    container, at, is_mapping, pending, seen = frame
                    if is_mapping and pending is None:  # a key
                        if kind is not scalar_event:
                            return None
                        raw = event.value
                        if raw in seen:
                            problems.append(_duplicate(raw, seen[raw], shown, line, at))
                        else:
                            seen[raw] = line
                        lines[at + (raw,)] = line
                        frame[3] = (raw, value)
                        continue
                    if is_mapping:
                        path = at + (pending[0],)
                        container[pending[1]] = value
                        frame[3] = None
                    else:
                        path = at + (len(container),)
                        container.append(value)
                        lines.setdefault(path, line)
                if kind is not scalar_event:
                    stack.append([value, path, kind is mapping_start, None, {}])
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                stack.pop()
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    return None
            elif kind is yaml.AliasEvent:
                return None
    finally:
        loader.dispose()
    return result, lines, problems


#: The folder of configs' texts as read (see :class:`_KeptRead`), in the default ``cache:`` folder.
KEPT_READS = "config"


class _KeptRead:
    """A config file's YAML as read (its data and the line of each path),
    kept between runs in ``<the config's folder>/.cache/config/``, one file
    per config file: reading the YAML of 2,000 subscribers (25,000 parser
    events, each a Python object) was some 25 ms of every command's start,
    taking it from the file under 3 ms.  Validation runs on it as on a fresh
    read, so every check and warning is the same.

    Used only while the text, this module, PyYAML and the interpreter are
    what they were (all in the key the file holds), for a plain document
    that read without a problem and gave only values ``marshal`` writes (a
    date does not), and only where the config's ``cache:`` is the default
    one: the folder is looked up before the config is read, when a
    ``cache:`` the text names is not known yet.  The cache is only a
    speed-up: a folder that cannot be made or written, and a file that
    cannot be read, is damaged, holds another text's read or is not the
    user's own (it would change the config: no one else's is used) are
    reading as before, never an error."""

    def __init__(self, path: Path, text: str) -> None:
        self.cache_dir = path.parent / Config.model_fields["cache"].default
        name = hashlib.sha1(os.path.abspath(path).encode("utf-8", "surrogatepass")).hexdigest()[:16]
        self.file = self.cache_dir / KEPT_READS / f"{name}.marshal"
        self.key = hashlib.sha1(f"{_reading_version()}\0{text}".encode("utf-8", "surrogatepass")).digest()
        self.payload: bytes | None = None  # this run's read, to be saved once the config validates

    def load(self) -> tuple[Any, dict[tuple, int], list[Problem]] | None:
        """The kept read of this text, or None."""
        try:
            with open(self.file, "rb") as file:
                if not own_private(os.fstat(file.fileno())):
                    return None
                kept = file.read()
            # The key and the payload's digest are plain bytes before it, compared as bytes: marshal is not
            # safe on crafted data (five bytes stalled it 8.5 s), so it is given only a payload that checks.
            head = len(self.key) + _KEPT_DIGEST_SIZE
            if kept[:len(self.key)] != self.key or _kept_digest(kept[head:]) != kept[len(self.key):head]:
                return None
            data, lines = marshal.loads(kept[head:])
        except Exception:  # noqa: BLE001 -- missing, unreadable, damaged (marshal raises many kinds): read
            return None
        if not isinstance(data, dict) or not isinstance(lines, dict):
            return None
        return data, lines, []

    def read(self, loaded: tuple[Any, dict[tuple, int], list[Problem]]) -> None:
        """This run's read of the text, taken before anything uses it."""
        try:
            self.payload = marshal.dumps(loaded[:2])
        except ValueError:  # a value marshal does not write (a date): nothing kept
            self.payload = None

    def save(self) -> None:
        """Keep this run's read (once the config it gave validated)."""
        if self.payload is None:
            return
        try:
            self.file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(self.file, self.key + _kept_digest(self.payload) + self.payload, mode=0o600)
        except OSError:
            pass  # nothing kept this run: the next reads the text again


#: The bytes of a kept read's payload digest (see :func:`_kept_digest`), after its key.
_KEPT_DIGEST_SIZE = hashlib.sha256().digest_size


def _kept_digest(payload: bytes) -> bytes:
    """A kept read's payload checksum, checked before ``marshal`` reads the payload."""
    return hashlib.sha256(payload).digest()


@functools.cache
def _reading_version() -> str:
    """What a kept read depends on besides the text: this module's text (how
    it reads), the interpreter, and PyYAML's files as installed (told without
    importing it: their size and time, and its folder's, which a reinstall or
    libyaml's parser added or taken away changes); "" (nothing kept) when
    either cannot be looked at."""
    import importlib.util

    try:
        own = hashlib.sha1(Path(__file__).read_bytes()).hexdigest()
        spec = importlib.util.find_spec("yaml")
        if spec is None or not spec.origin:
            return ""
        installed = [os.stat(where) for where in (spec.origin, os.path.dirname(spec.origin))]
    except (OSError, ImportError, ValueError):
        return ""
    files = "|".join(f"{info.st_size}:{info.st_mtime_ns}" for info in installed)
    return f"{own}|{spec.origin}|{files}|{sys.version}"


def _load_yaml(text: str, shown: str) -> tuple[Any, dict[tuple, int], list[Problem]]:
    """Parse once: the Python data, the line of each path and the duplicate keys.

    The node tree shares an aliased node wherever it is used; before building
    data from it, :func:`_check_aliases` makes sure that sharing neither loops
    nor multiplies into millions of values.  Lines and duplicates are taken
    from the tree as written, before it is built: building a mapping with a
    merge key (``<<: *defaults``) puts the merged pairs into its node, where
    a key written beside the merge key to override one would look like a
    duplicate."""
    _yaml()
    loader = _Loader(text)
    lines: dict[tuple, int] = {}
    problems: list[Problem] = []
    try:
        root = loader.get_single_node()
        if root is not None and _ANCHOR.search(text):  # no anchor, no alias: nothing is shared
            _check_aliases(root)
        if root is not None:
            _record_lines(root, (), lines, problems, shown)
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return data, lines, problems


def _duplicate(key: str, first: int, shown: str, line: int, at: tuple) -> Problem:
    """A key written twice in one mapping: YAML would silently keep the last.
    A section written twice at the top is most often the starter's example
    block uncommented beside the one it was to replace (``delivery:``)."""
    keep = ""
    if at == () and key in ("topics", "subscribers", "sources"):
        keep = f": the config holds one {key}: section; move these entries under the first (YAML keeps the last only)"
    elif at == () and key in Config.model_fields:
        keep = f": the config holds one {key}: section; delete or comment out the one not meant"
    return Problem(f"duplicate key {key!r} (first at line {first}){keep}", shown, line, _dotted(at))


#: Something that may be a YAML anchor (``&name`` where a value starts); a
#: conservative test: an ``&`` inside a quoted string may match too.
_ANCHOR = lazy(r"(?:^|[\s\[{,:-])&[^\s\[\]{},]")


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_aliases(root) -> None:
    """Count the values the tree holds with every alias expanded (iteratively:
    memoised per node, so the count itself costs one pass over the distinct
    nodes); a node inside itself (``sources: &a [*a]``) or an expansion far
    beyond the file's own size (an alias bomb) is an :class:`_AliasProblem`."""
    expanded: dict[int, int] = {}
    open_: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            open_.discard(key)
            continue
        if key in expanded:
            continue
        open_.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_:
                raise _AliasProblem(
                    "a YAML alias refers to a value that contains it (an endless structure)", child.start_mark.line + 1
                )
            if id(child) not in expanded:
                stack.append((child, False))
    limit = ALIAS_EXPANSION * len(expanded) + ALIAS_ALLOWANCE
    if expanded[id(root)] > limit:
        # name the anchor whose uses multiply the most: the biggest shared node
        counts = Counter(id(child) for node in _all_nodes(root) for child in _children(node))
        by_id = {id(n): n for n in _all_nodes(root)}
        worst = max((k for k, n in counts.items() if n > 1), key=lambda k: expanded[k] * counts[k], default=id(root))
        raise _AliasProblem(
            f"YAML aliases expand this config to over {limit:,} values (an alias bomb?); "
            "use fewer or smaller repeated anchors",
            by_id[worst].start_mark.line + 1,
        )


def _all_nodes(root) -> list:
    seen: dict[int, object] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(_children(node))
    return list(seen.values())


def _record_lines(node, at: tuple, lines: dict, problems: list, shown: str) -> None:
    """Where each path of the config is written, walking the tree as composed
    (merge keys not applied yet).  Iterative, in the file's order, and an
    aliased node is walked only where it is defined (an anchor comes before
    its aliases): its other uses get its line but are not expanded (line
    counting must not set off an alias bomb).  A key merged in by ``<<:``
    has no line of its own: the mapping that merges it stands for it."""
    walked: set[int] = set()
    stack = [(node, at)]
    while stack:
        node, at = stack.pop()
        lines.setdefault(at, node.start_mark.line + 1)
        if id(node) in walked:
            continue
        walked.add(id(node))
        children = []
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
                line = key_node.start_mark.line + 1
                if key in seen:
                    problems.append(_duplicate(key, seen[key], shown, line, at))
                else:
                    seen[key] = line
                lines[at + (key,)] = line
                children.append((value_node, at + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, at + (i,)) for i, item in enumerate(node.value)]
        stack.extend(reversed(children))


def _line_for(lines: dict, path: tuple) -> int | None:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path)


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _data_path(loc: tuple, data: Any) -> tuple:
    """Drop the parts of a pydantic location that are not in the data (union tags)."""
    out, node = [], data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif part == "from_":
            part, node = "from", (node or {}).get("from") if isinstance(node, dict) else None
        elif isinstance(part, str) and (part in SOURCE_MODELS or "[" in part or part.startswith("function-")):
            continue
        else:
            node = None
        out.append(part)
    return tuple(out)


#: Source types written as the format or the site (the contract's table says
#: "feed (RSS/Atom URL or file)"): the type that reads it.
_FORMAT_TYPES = {
    **dict.fromkeys(("rss", "atom", "rss2", "json-feed", "jsonfeed", "blog"),
                    "RSS, Atom and JSON feeds are read by type: feed"),
    # (the formats README's "Sources" says `feed` reads: 'zotero' got the list of types alone, and
    # none of those names says it reads a Zotero export)
    **dict.fromkeys(("zotero", "bibtex", "bib", "ris", "csv", "csl", "csl-json", "endnote", "mendeley", "jabref",
                     "semantic-scholar", "semanticscholar", "s2", "openreview", "openalex", "crossref",
                     "biorxiv", "medrxiv", "google-scholar", "scholar", "scholar-alert"),
                    "reference manager exports (BibTeX, RIS, CSV, CSL JSON, EndNote XML, Zotero RDF), saved "
                    "answers of Semantic Scholar, OpenReview, OpenAlex, Crossref or bioRxiv, and Scholar alerts "
                    "are read by type: feed, with path: or url:"),
    # (a file's format for its type: `type: json` got the list of types alone; each is one feed reads)
    **dict.fromkeys(("json", "jsonl", "json-lines", "ndjson"),
                    "JSON (a JSON Feed, a saved API answer, a list of records, JSON Lines) is read by type: feed, "
                    "with path: or url:"),
    **dict.fromkeys(("xml", "rdf"),
                    "XML (RSS, RSS 1.0 RDF, Atom, a saved arXiv API answer, EndNote XML, Zotero RDF, PubMed XML) "
                    "is read by type: feed, with path: or url:"),
    **dict.fromkeys(("pubmed", "medline", "nbib"),
                    "PubMed's exports (MEDLINE .nbib, PubMed XML) are read by type: feed, with path: or url:"),
    **dict.fromkeys(("huggingface", "hugging-face", "hf", "hf-papers-json"),
                    "Hugging Face's daily papers are type: hf-daily; a papers page saved as text is "
                    "type: hf-papers-text"),
}


#: A source's settings to show where one was written as a word, an address or a
#: path alone (or under a key named after its type), by the type it reads as.
_SOURCE_EXAMPLES = {
    "arxiv": "{type: arxiv, categories: [cs.LG]}",
    "hf-daily": "{type: hf-daily}",
    "feed": "{type: feed, url: https://...}",
    "hf-papers-text": "{type: hf-papers-text, path: papers/}",
}


def _source_for_url(url: str) -> str:
    """The source entry that reads ``url``: arXiv's pages and feeds are
    `arxiv` by their categories, Hugging Face's papers `hf-daily`, any other
    address a feed."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    if host.endswith("arxiv.org"):
        codes = [_CATEGORIES[w.casefold()] for w in re.split(r"[/+,\s]+", unquote(parts.path))
                 if w.casefold() in _CATEGORIES]
        rss = ", feed: rss" if host.startswith("rss.") or parts.path.rstrip("/").endswith("/new") else ""
        return f"{{type: arxiv{rss}, categories: [{', '.join(codes) or 'cs.LG'}]}}"
    if host.endswith("huggingface.co"):
        return _SOURCE_EXAMPLES["hf-daily"]
    return f"{{type: feed, url: {url}}}"


def _source_for_text(text: str) -> str:
    """The source entry meant by ``text`` written where a source's settings go:
    a type's name, an address, an arXiv category or a saved file's path."""
    word = text.strip()
    folded = word.casefold().replace("_", "-").replace(" ", "-")
    if folded in _SOURCE_EXAMPLES:
        return _SOURCE_EXAMPLES[folded]
    if folded in _FORMAT_TYPES:
        return _SOURCE_EXAMPLES["hf-daily" if "hugging" in _FORMAT_TYPES[folded].split(":")[0].casefold()
                                else "feed"]
    if _HTTP_URL.match(word):
        return _source_for_url(word)
    codes = [c for c in re.split(r"[,;\s]+", word) if c]
    if codes and all("." in c and c.casefold() in _CATEGORIES for c in codes):
        return f"{{type: arxiv, categories: [{', '.join(_CATEGORIES[c.casefold()] for c in codes)}]}}"
    kind = {".json": "hf-daily", ".xml": "feed", ".rss": "feed", ".atom": "feed"}.get(
        os.path.splitext(word)[1].casefold(), "hf-papers-text")
    return f"{{type: {kind}, path: {json.dumps(word, ensure_ascii=False) if ': ' in word else word}}}"


def _source_without_type(value: Any) -> str:
    """What to write for a source given without its `type:`: a key named after
    a type (`- feed: https://...`, `- arxiv: cs.LG`) is that type with its
    value where the type reads it; a url: or path: alone says which type."""
    if not isinstance(value, dict):
        return ""
    for key, given in value.items():
        kind = str(key).casefold().replace("_", "-")
        if kind in _SOURCE_EXAMPLES and isinstance(given, str) and given.strip():
            meant = _source_for_text(given)
            if not meant.startswith(("{type: arxiv, categories", "{type: arxiv, feed")):
                meant = meant if _HTTP_URL.match(given.strip()) else f"{{type: {kind}, path: {given.strip()}}}"
            return f": write {meant}"
    if isinstance(url := value.get("url"), str) and _HTTP_URL.match(url.strip()):
        meant = _source_for_url(url.strip())
        return ": add `type: feed`" if meant.startswith("{type: feed") else f": write {meant}"
    if isinstance(path := value.get("path"), str) and path.strip():
        return f": add `type: {_source_for_text(path).split(',')[0].removeprefix('{type: ')}`"
    return ""


#: delivery: keys as mail providers' help pages name them (Outlook's "Server name",
#: "Encryption method"; Gmail's "Requires SSL"; an app's "Login"): the key they
#: mean.  difflib finds none of them ('server' is not close to 'host').
_DELIVERY_WORDS = {
    **dict.fromkeys(("server", "server_name", "smtp_server", "smtp_host", "hostname", "smtp", "mail_server",
                     "relay", "outgoing_server"), "host"),
    **dict.fromkeys(("encryption", "encryption_method", "tls", "ssl", "starttls", "secure", "use_tls", "use_ssl",
                     "connection_security", "requires_ssl"), "security"),
    **dict.fromkeys(("user", "login", "user_name", "account", "smtp_user", "smtp_username"), "username"),
    **dict.fromkeys(("password", "pass", "passwd", "app_password", "smtp_password", "secret"), "password_env"),
    **dict.fromkeys(("smtp_port", "port_number"), "port"),
    **dict.fromkeys(("folder", "dir", "directory", "outbox", "output", "out_dir", "outbox_dir"), "path"),
}


#: Other words for a topic's and a subscriber's settings (a search tool's, a
#: mailing list's), which difflib does not bring near ('keywords' is far from 'any').
_SECTION_WORDS = {
    "topics": {
        **dict.fromkeys(("keywords", "keyword", "terms", "words", "include", "match", "matches", "or", "any_of",
                         "one_of", "query", "search"), "any"),
        **dict.fromkeys(("exclude", "excludes", "not", "without", "except", "ignore", "blacklist", "blocklist",
                         "none_of", "negative"), "none"),
        **dict.fromkeys(("require", "required", "must", "and", "all_of", "every"), "all"),
        **dict.fromkeys(("description", "describe", "interest", "interests", "prompt", "text", "sentence",
                         "summary", "topic"), "about"),
        **dict.fromkeys(("liked", "likes", "examples", "example", "seeds", "seed", "favorites", "favourites",
                         "papers"), "like"),
        **dict.fromkeys(("threshold", "cutoff", "cut_off", "floor", "min_relevance", "relevance", "score"),
                        "min_score"),
        **dict.fromkeys(("title", "label", "display_name"), "name"),
    },
    "subscribers": {
        **dict.fromkeys(("address", "mail", "e_mail", "to", "recipient"), "email"),
        **dict.fromkeys(("interests", "subscriptions", "follows", "follow", "subjects"), "topics"),
        **dict.fromkeys(("frequency", "when", "send_at", "time", "cron", "every"), "schedule"),
        **dict.fromkeys(("max", "limit", "max_items", "count", "papers", "max_results", "number"), "max_papers"),
        **dict.fromkeys(("tz", "zone", "time_zone"), "timezone"),
    },
}


def _section_word(where: tuple, key: str) -> str | None:
    """What another tool's name for a topic's or a subscriber's setting
    (``keywords:``, ``exclude:``, ``frequency:``) is called here."""
    if len(where) != 2 or where[0] not in _SECTION_WORDS:
        return None
    meant = _SECTION_WORDS[where[0]].get(key.strip().casefold().replace("-", "_").replace(" ", "_"))
    return f"the setting is called {meant}: here" if meant else None


def _delivery_word(key: str) -> str | None:
    """What a provider's name for a delivery setting is called here, with
    its values; a password written into the config says where it goes."""
    meant = _DELIVERY_WORDS.get(key.strip().casefold().replace("-", "_").replace(" ", "_"))
    if meant == "password_env":
        return ("the password never goes in the config: put it in an environment variable and give its NAME, "
                "password_env: SMTP_PASSWORD (README \"Delivery\")")
    if meant == "security":
        return "the setting is called security: here, one of starttls (port 587), ssl (port 465) or none"
    return f"the setting is called {meant}: here" if meant else None


#: Keys of a message written in the section beside theirs: the sender under
#: delivery:, the readers under email: (as a mail client's account settings
#: and a newsletter tool's "To:" place them).
_MESSAGE_KEYS = {
    ("delivery",): (("from", "sender", "from_address", "reply_to", "subject"),
                    "it is a setting of the message, under email:, not of the transport"),
    ("email",): (("to", "recipient", "recipients", "cc", "bcc", "send_to"),
                 "the readers are the subscribers: each `- email: ADDRESS` with its topics: under subscribers:"),
}


def _text_export_url(path: tuple, data: Any) -> str | None:
    """What an hf-papers-text source's ``url:`` is to be: it reads a page
    saved as text; Hugging Face's daily papers by address are hf-daily's."""
    if len(path) != 3 or path[0] != "sources" or path[2] != "url":
        return None
    try:
        source = data["sources"][path[1]]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(source, dict) or source.get("type") != "hf-papers-text":
        return None
    return ("hf-papers-text reads a papers page saved as text (path: the file); Hugging Face's daily papers "
            "by address are `type: hf-daily`, with no url: needed")


def _message_key(where: tuple, key: str) -> str | None:
    """Where a message's sender or readers go when written in the other section."""
    keys, said = _MESSAGE_KEYS.get(where, ((), ""))
    return said if key.strip().casefold().replace("-", "_") in keys else None


def _other_level(where: tuple, key: str) -> str | None:
    """A subscriber's setting written in a topic (``max_papers``, ``schedule``)
    or a topic's in a subscriber (``min_score``, ``none``): named as such; it
    got the list of the other level's keys, which does not hold it."""
    if len(where) != 2 or key in ("name",):
        return None
    if where[0] == "topics" and key in Subscriber.model_fields:
        return ("it is a subscriber's setting, not a topic's: set it in each subscriber that follows the topic "
                "(or once in an `x-` anchor they merge in)")
    if where[0] == "subscribers" and key in Topic.model_fields:
        return ("it is a topic's setting, not a subscriber's: set it under the topic in topics: (every subscriber "
                "of a topic gets it; for one subscriber alone, a topic of its own)")
    return None


def _stray_topics(data: Any) -> list[str]:
    """Top-level keys that are topics left at the left edge under an empty
    ``topics:`` (their settings are a topic's: any:, about:, ...)."""
    if not isinstance(data, dict) or data.get("topics") is not None:
        return []
    return _topics_at_top(data)


def _topics_at_top(data: Any) -> list[str]:
    """Top-level keys whose settings are a topic's (any:, about:, ...): topics
    written at the left edge, outside ``topics:``."""
    if not isinstance(data, dict):
        return []
    return [str(k) for k, v in data.items() if k not in Config.model_fields and not str(k).startswith("x-")
            and isinstance(v, dict) and v and set(v) <= set(Topic.model_fields)]


def _dedented_topics(data: Any) -> list[str]:
    """Topics left at the left edge after others indented under ``topics:``
    (the last one of the section, typed or pasted one indent short): they
    were "unknown key 'molecules'; valid keys: ..." and, in each subscriber
    that follows them, "unknown topic 'molecules'", neither saying that an
    indent was all that was missing."""
    if not isinstance(data, dict) or not isinstance(data.get("topics"), dict) or not data["topics"]:
        return []
    return _topics_at_top(data)


def _anchored_keys(text: str) -> frozenset[str]:
    """The top-level keys whose value an anchor names (``member: &member``)."""
    if "&" not in text:
        return frozenset()
    return frozenset(m[1] for m in re.finditer(r"(?m)^([A-Za-z_][\w-]*)[ ]*:[ ]*&", text))


def _home_of(key: str) -> str | None:
    """Where a section's setting written at the top of the file goes
    (``from:`` beside ``sources:``): it was told "did you mean 'subscribers'?"
    for ``unsubscribe:``, or the list of top-level keys."""
    if key in ("smtp", "outbox"):
        return f"the transport is set under delivery: (transport: {key})"
    sections = (("email", EmailSettings), ("delivery", Delivery), ("web", WebSettings), ("http", HttpSettings))
    homes = [section for section, model in sections if key in {f.alias or n for n, f in model.model_fields.items()}]
    if homes:  # (timeout: delivery's for SMTP, http's for fetching)
        under = f"`{homes[0]}:`" if len(homes) == 1 else "the one meant"
        return f"it is a setting of {' or '.join(h + ':' for h in homes)} (indent it under {under})"
    if key in Subscriber.model_fields:
        return ("it is each subscriber's setting (write it in each, or once in an `x-` anchor they merge in: README "
                "\"Many subscribers\")")
    if key in Topic.model_fields:
        return "it is a topic's setting (indent it under the topic's name in topics:)"
    return None


def _valid_keys(path: tuple, data: Any) -> list[str]:
    model = _model_at(path, data)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


#: What to write for a setting left empty (``email:`` with its example deleted).
_EMPTY_EXAMPLES = {"email": "you@uni.edu", "timezone": "Europe/Berlin", "max_papers": "20", "path": "papers/",
                   "host": "smtp.example.org", "port": "587", "from": '"Paper Digest <digest@uni.edu>"',
                   "about": "Graph neural networks for molecules.", "min_score": "0.5"}


def _empty_value(path: tuple, data: Any) -> str:
    """What to write for a key with nothing after its colon: pydantic said
    "expected a valid string, got null", and a newcomer who had deleted the
    starter's example value did not see that the value was what was missing."""
    key = path[-1] if path and isinstance(path[-1], str) else None
    model = _model_at(path[:-1], data) if key else None
    fields = {f.alias or name: f for name, f in model.model_fields.items()} if model else {}
    optional = key in fields and not fields[key].is_required()
    example = f" ({key}: {_EMPTY_EXAMPLES[key]})" if key in _EMPTY_EXAMPLES else ""
    return (f"has no value (nothing after `{key}:`): write one{example}" if key else "has no value: write one") + (
        ", or remove the line for the default" if optional else "")


def _missing_example(path: tuple, data: Any) -> str:
    """What to write for a subscriber's missing ``topics:`` (the keys defined
    under topics:) or ``email:``: "required key is missing" left a newcomer to
    find the form, and for topics which names go in it."""
    at_top = [str(k) for k in data if k in Topic.model_fields] if isinstance(data, dict) else []
    if path == ("topics",):
        # `about: ...` at the top, for a digest of one interest; or no topic at all
        if at_top:
            return (f": the topic's settings at the top ({', '.join(at_top)}) go under a key of your choosing in "
                    f"it (`topics:`, then `  mine:`, then `    {at_top[0]}: ...`), which subscribers follow, "
                    "topics: [mine]")
        return (": write at least one topic (`topics:`, then `  mine:`, then `    about: ` and the interest in a "
                "sentence, or `    any: [terms]`); `newsletter init` writes a commented example")
    if path == ("sources",):
        return (": write at least one source (`sources:`, then `  - type: arxiv` and `    categories: [cs.LG]`, or "
                "for saved files `  - type: hf-papers-text` and `    path: papers/`); `newsletter init` writes a "
                "commented example")
    if len(path) != 3 or path[0] != "subscribers":
        return ""
    if path[2] == "topics":
        settings, key = _settings_without_topic(data)  # `topics:` then `about: ...`: no topic is called 'about'
        keys = ([k for k in t if k not in settings] or [key]) if isinstance(t := data.get("topics"), dict) else []
        keys = keys or (["mine"] if at_top else [])
        if not keys:
            return ""
        more = ", ..." if len(keys) > 3 else ""
        return (f": write topics: [{', '.join(str(k) for k in keys[:3])}{more}] (the topics it follows, by their "
                "keys under topics:)")
    return f": write {path[2]}: {_EMPTY_EXAMPLES[path[2]]}" if path[2] in _EMPTY_EXAMPLES else ""


def _model_at(path: tuple, data: Any) -> type[BaseModel] | None:
    """The settings model of the mapping at ``path`` (None where there is none)."""
    model: type[BaseModel] | None = None
    if len(path) == 0:
        model = Config
    elif path == ("email",):
        model = EmailSettings
    elif path == ("delivery",):
        model = Delivery
    elif path == ("http",):
        model = HttpSettings
    elif path == ("web",):
        model = WebSettings
    elif len(path) == 2 and path[0] == "topics":
        model = Topic
    elif len(path) == 2 and path[0] == "subscribers":
        model = Subscriber
    elif len(path) == 2 and path[0] == "sources":
        try:
            model = SOURCE_MODELS.get(data["sources"][path[1]].get("type"))
        except (KeyError, IndexError, TypeError, AttributeError):
            model = None
    return model


def _cut_at_comma(path: tuple, data: Any, rows: list[str], lines: dict) -> str | None:
    """What to write for the unknown key at ``path`` when it is the end of the
    value before it, cut at a comma inside ``{...}`` (`{email: ..., name:
    Lovelace, Ada}`: YAML reads `Ada` as a key of its own, with no value), or
    None.  It was "unknown key 'Ada'; valid keys: ..."."""
    parent: Any = data
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return None
    if not isinstance(parent, dict) or parent.get(path[-1], "") is not None:
        return None
    keys = list(parent)
    at = keys.index(path[-1])
    row = _line_for(lines, path) or 0
    if at == 0 or not isinstance(before := parent[keys[at - 1]], str) or not (0 < row <= len(rows)) \
            or "{" not in rows[row - 1]:
        return None
    whole = f"{before}, {path[-1]}"
    return (f"a comma inside {{...}} ends a value: YAML read {keys[at - 1]}: {before!r} and a key {path[-1]!r}; "
            f"put the whole value in quotes, {keys[at - 1]}: {json.dumps(whole, ensure_ascii=False)}")


def _problem_from_pydantic(err: Mapping[str, Any], data: Any, lines: dict, shown: str,
                           anchored: frozenset[str] = frozenset(), rows: list[str] | None = None) -> Problem:
    """One pydantic error as a problem at its line, worded with what to write.
    ``anchored``: the top-level keys whose value an anchor names; ``rows``:
    the file's lines."""
    kind, msg = err["type"], err["msg"]
    path = _data_path(tuple(err["loc"]), data)
    value = err.get("input")
    if kind == "extra_forbidden":
        key = path[-1]
        valid = _valid_keys(path[:-1], data)
        hint = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
        home = _home_of(str(key)) if len(path) == 1 else None
        word = _message_key(path[:-1], str(key)) or _text_export_url(path, data) or (
            _delivery_word(str(key)) if path[:-1] == ("delivery",) else
            _other_level(path[:-1], str(key)) or _section_word(path[:-1], str(key)))
        if len(path) == 1 and str(key) in _stray_topics(data):  # said at topics: (not indented under it)
            word = "a topic not indented under topics: (see there)"
        if len(path) == 1 and str(key) in _dedented_topics(data):
            word = (f"a topic at the left edge, outside topics: (which holds {', '.join(map(str, data['topics']))}): "
                    "indent it as the topics before it (2 spaces), its settings deeper than it")
        if len(path) == 1 and key in anchored:  # `member: &member {...}`: the x- left out
            word = f"keys of your own at the top (a home for anchors) start with x-: write x-{key}"
        if (cut := _cut_at_comma(path, data, rows or [], lines)) is not None:
            word = cut
        message = f"unknown key {key!r}" + (
            f" at the top: {home}" if home else f": {word}" if word else
            f" (did you mean {hint[0]!r}?)" if hint else (f"; valid keys: {', '.join(valid)}" if valid else "")
        )
    elif kind == "missing":
        message = "required key is missing" + _missing_example(path, data)
    elif kind in ("value_error", "assertion_error"):
        message = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    elif kind == "union_tag_invalid":
        path = path + ("type",)
        valid = list(SOURCE_MODELS)
        tag = value.get("type") if isinstance(value, dict) else value
        if tag is None:  # `type:` with nothing after it was "unknown source type None"
            return Problem(f"has no value (nothing after `type:`): write one of {', '.join(valid)}", shown,
                           _line_for(lines, path), _dotted(path))
        hint = difflib.get_close_matches(str(tag), valid, n=1)
        meant = _FORMAT_TYPES.get(str(tag).strip().casefold().replace("_", "-").replace(" ", "-"))
        message = (
            f"unknown source type {tag!r}" + (f" (did you mean {hint[0]!r}?)" if hint else f" ({meant})" if meant else "")
            + f"; valid types: {', '.join(valid)}"
        )
    elif kind == "union_tag_not_found":
        path = path + ("type",)
        message = f"required key is missing{_source_without_type(value) or '; valid types: ' + ', '.join(SOURCE_MODELS)}"
    elif kind == "too_short" and not value:
        # pydantic says "list should have at least 1 item after validation, not 0"
        what = {"sources": "source", "topics": "topic"}.get(str(path[-1]), "entry")
        message = f"is empty; give at least one {what}"
    elif kind == "list_type" and isinstance(value, str) and path == ("sources",) and value.strip(" ,"):
        # `sources: https://...`: bracketed as the next branch says, it was 'expected a mapping' at once
        whole = _source_for_text(value)  # `sources: cs.LG, stat.ML`: one arXiv source of both
        written = whole if whole.startswith("{type: arxiv, categories") else ", ".join(
            _source_for_text(x) for x in value.split(",") if x.strip())
        message = f"expected a list of sources, got the text {value!r}: each source is its settings, [{written}]"
    elif kind == "list_type" and isinstance(value, str) and path == ("subscribers",) and "@" in value:
        # `subscribers: ada@uni.edu`: bracketed as the next branch says, each address was 'expected a mapping'
        keys = list(t) if isinstance(data, dict) and isinstance(t := data.get("topics"), dict) else []
        some = ", ".join(str(k) for k in keys[:3]) or "..."
        written = ", ".join(f"{{email: {x.strip()}, topics: [{some}]}}" for x in value.split(",") if x.strip())
        message = f"expected a list of subscribers, got the text {value!r}: each subscriber is its settings, [{written}]"
    elif kind == "list_type" and isinstance(value, str) and len(path) == 3 and path[::2] == ("subscribers", "topics") \
            and value.strip().casefold() in _EVERY_TOPIC and isinstance(data.get("topics"), dict) \
            and value.strip() not in data["topics"]:
        # `topics: all`: bracketed as the next branch says, it was 'unknown topic 'all''
        message = f"expected a list of topics, got the text {value!r}: {_every_topic(data)}"
    elif kind == "list_type" and isinstance(value, str) and (block := _block_lines(rows or [], _line_for(lines, path))):
        # `any: >-` then a term a line: YAML joins the lines into one text, and bracketed whole, as the next
        # branch says, it was one term of all the words ('diffusion model* score matching'), which validates
        mark, items = block
        written = ", ".join(json.dumps(x, ensure_ascii=False) for x in items)
        message = (f"expected a list, got the text of a block ('{path[-1]}: {mark}' makes its lines one text): "
                   f"write each entry on a line of its own after '- ', or in brackets, [{written}]")
    elif kind == "list_type" and isinstance(value, str):
        # `topics: diff`, `any: SGD, Adam*`: a list as a newcomer writes it; categories as an alert lists
        # them, `categories: cs.LG stat.ML` (it said to write ["cs.LG stat.ML"], itself an error)
        items = [x.strip() for x in value.split(",") if x.strip()]
        codes = [x for x in re.split(_CATEGORIES_APART, value) if x]
        if path and path[-1] == "categories" and all("." in x or x.casefold() in _CATEGORIES for x in codes):
            items = codes  # (not 'Machine Learning (cs.LG)', which is one, named)
        written = ", ".join(x if re.fullmatch(r"[A-Za-z_][\w-]*", x) else json.dumps(x, ensure_ascii=False) for x in items)
        message = f"expected a list, got the text {value!r}: write it in brackets, [{written}]"
    elif kind == "list_type" and isinstance(value, dict) and value and all(v in (None, {}, "") for v in value.values()):
        # `topics:` then `diffusion:` indented under it: keys, as the topics themselves are written
        written = ", ".join(str(k) for k in value)
        message = (f"expected a list, got a mapping (each entry ends in ':'): write it in brackets, [{written}], "
                   "or each entry on a line of its own after '- ', without the ':'")
    elif kind == "list_type" and isinstance(value, dict) and value and path in (("subscribers",), ("sources",)):
        # `subscribers:` then `email: ...` indented under it, without the '- ' that starts each entry
        what = "subscriber" if path == ("subscribers",) else "source"
        key, first = next(iter(value.items()))
        shown_first = f" {first}" if isinstance(first, (str, int, float)) and len(str(first)) < 60 else ""
        message = (f"expected a list, got a mapping: each {what} starts with '- ' (`- {key}:{shown_first}`), "
                   f"its other keys under it, indented as far as {key}:")
        if what == "subscriber" and "@" in str(key) and isinstance(first, dict):
            # `subscribers:` then `ada@uni.edu:` and its settings under it: the address as the key
            message = (f"expected a list, got a mapping keyed by address: each subscriber starts with '- email: ' "
                       f"(`- email: {key}`), its other keys under it, indented as far as email:")
    elif kind in ("dict_type", "model_type", "model_attributes_type") and path == ("topics",) and value is None and (
            strays := _stray_topics(data)):
        # `topics:` then each topic at the left edge: YAML read them as top-level keys
        message = (f"is empty: the topics after it ({', '.join(strays[:3])}) are not indented under it; indent each "
                   "topic and its settings 2 spaces deeper")
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        # pydantic's wording names our classes ("or instance of EmailSettings").
        message = "expected a mapping" + (
            ", got nothing (an empty section?)" if value is None else f", got {_kind_of(value)}"
        )
        if len(path) == 2 and path[0] == "subscribers" and isinstance(value, str) and "@" in value:
            # `- ada@uni.edu`: an address alone, as a mailing list is written
            keys = list(t) if isinstance(data, dict) and isinstance(t := data.get("topics"), dict) else []
            some = ", ".join(str(k) for k in keys[:3]) or "..."
            message += (f": a subscriber is its settings, {{email: {value.strip()}, topics: [{some}]}} (the topics "
                        "it follows are required)")
        if path == ("topics",) and isinstance(value, list):
            message += _topics_as_list(value)
        if len(path) == 2 and path[0] == "topics" and path[1] in Topic.model_fields and not isinstance(value, dict):
            message = _setting_as_topic(str(path[1]), data)
        elif len(path) == 2 and path[0] in ("topics", "subscribers") and isinstance(value, str) and (
                left := _colon_left_out(value)):
            # `optim:` then `about stochastic gradient methods` alone under it: one text, no setting
            message = f"expected a mapping, got {_kind_of(value)}: {left}"
        if len(path) == 2 and path[0] == "sources" and isinstance(value, str) and value.strip():
            # `- https://...`, `- arxiv`, `- papers/*.txt`: a source as one word, an address or a path
            message += f": a source is its settings, its type first: write {_source_for_text(value)}"
        if path == ("email",) and isinstance(value, str) and "@" in value:
            # `email: me@uni.edu`, as "your own email" reads: the section holds the message's settings
            message += (f": email: holds the digests' settings; the sender goes under it, `from: {value.strip()}` "
                        "indented on a line under `email:`, and each reader's address under subscribers:")
        if path == ("delivery",) and isinstance(value, str) and value.strip().casefold() in ("smtp", "outbox"):
            # `delivery: smtp`, as the contract's words "delivery: picks the transport" read
            message += (f": write `transport: {value.strip().casefold()}` indented on a line under `delivery:`"
                        + (", and beside it host:, port:, security:, username:, password_env:"
                           if value.strip().casefold() == "smtp" else ""))
    elif kind == "string_type" and len(path) == 3 and path[::2] == ("subscribers", "email") and isinstance(value, list):
        # `email: [a@uni.edu, b@uni.edu]`: one entry for a group
        message = ("expected one address, got a list: give each address a subscriber entry of its own (their "
                   "shared settings once, in an `x-` anchor: README \"Many subscribers\")")
    elif kind == "string_type" and path and path[-1] == "about" and isinstance(value, list):
        words = ", ".join(str(v) for v in value[:3] if isinstance(v, (str, int, float)))
        message = ("expected the interest as text, got a list: write it as one to a few sentences "
                   f"(about: {words} ...), or put the terms under any: to match them as keywords")
    elif kind == "string_type" and isinstance(value, dict) and len(path) == 4 and path[::2] == ("subscribers", "topics"):
        # a topic written inside the subscriber
        message = ("expected a topic's key, got a topic's settings: write the topic under topics: with a key "
                   "(`rl:`), and the key here, topics: [rl]")
    elif kind == "string_type" and isinstance(value, dict) and len(value) == 1 and len(path) == 4 and \
            path[2] == "like" and str(next(iter(value))).strip().casefold().replace("-", "_") in _LIKE_LABELS and \
            isinstance(next(iter(value.values())), (str, int, float)):
        # `- title: Reflected Diffusion Models`, `- arxiv: 2206.00364`: an entry labelled as a form's field is;
        # put in quotes as a whole (what the next branch says), it named no paper
        (key, val), = value.items()
        # `- arxiv: 2301.01230` arrives as the number 2301.0123, another paper: the id as it was written
        meant = (arxiv_id_from_number(float(val)) or str(val)) if isinstance(val, (int, float)) else str(val)
        as_text = json.dumps(meant, ensure_ascii=False)
        at = _line_for(lines, path)
        row = rows[at - 1] if rows and at and 0 < at <= len(rows) else ""
        siblings = _node_at(data, path[:-1])
        # `like: [title: X]`: the advice in the brackets it was written in, not a `- ` line
        write = (f"like: [{as_text}]" if len(siblings) == 1 else f"like: [..., {as_text}, ...]") if (
            isinstance(siblings, list) and not row.lstrip().startswith("-") and "[" in row) else f"- {as_text}"
        message = (f"expected a paper's arXiv id, link or title, got {f'{key}: {meant}'!r}: write it without "
                   f"'{key}:', {write}")
    elif kind == "string_type" and isinstance(value, dict) and len(value) == 1 and all(
            isinstance(x, (str, int, float)) for x in (*value.keys(), *value.values())):
        # a title with a colon, unquoted: `like: [DPO-Shift: Shifting ...]`
        (key, val), = value.items()
        written = f"{key}: {val}"
        message = (f"expected text, got {written!r} read as a key and its value (YAML takes ': ' so): put it in "
                   f"quotes, {json.dumps(written, ensure_ascii=False)}")
    elif kind == "string_type" and path and path[-1] == "timezone" and isinstance(value, int) and not isinstance(
            value, bool) and (zone := _zone_as_number(value)) is not None:
        message = zone
    elif kind == "string_type" and isinstance(value, (bool, int, float)):
        got = ("true" if value else "false") if isinstance(value, bool) else f"the number {value}"
        if "[key]" in err["loc"]:
            path = path[:-1] + (_written_key(lines, path[:-1], value),)
            whose = "a topic's name" if path[0] == "topics" else "a key"
            message = f"{whose} must be text, got {got} ({_YAML_TEXT})"
        else:
            message = f"expected text, got {got} ({_YAML_TEXT})"
    elif kind in _BOUND_ERRORS and len(path) == 2 and path[-1] in _SECONDS_KEYS and isinstance(
            value, (int, float)) and not isinstance(value, bool) and (seconds := _seconds_out_of_range(path, value)):
        message = seconds
    elif kind in ("float_type", "int_type") and isinstance(value, str) and (
            unit := _number_with_unit(value, str(path[-1]) if path else "")):
        message = f"expected {'an integer' if kind == 'int_type' else 'a number'}, got the text {value!r}: {unit}"
    elif kind in ("float_type", "int_type") and isinstance(value, str) and (quoted := _quoted_number(value, kind)):
        what = "a number" if kind == "float_type" else "an integer"
        number, fix = quoted
        key = f"{path[-1]}: " if path and isinstance(path[-1], str) else ""
        message = f"expected {what}, got the text {value!r}{fix}, {key}{number}"
    elif kind == "string_type" and isinstance(value, list) and path and isinstance(path[-1], int) and len(path) > 1:
        # `topics: [*mine]` with `&mine [a, b]`: the alias of a list in brackets, said at the anchor's line
        listed = ", ".join(str(v) for v in value if not isinstance(v, (list, dict)))
        return Problem(f"a list inside the list: write one list, {path[-2]}: [{listed}] (an anchored list goes in "
                       f"as its alias alone, {path[-2]}: *NAME, not in brackets)", shown, _line_for(lines, path[:-1]),
                       _dotted(path[:-1]))
    elif kind in ("bool_parsing", "bool_type") and value is not None and not isinstance(value, (dict, list)):
        line = _line_for(lines, path)
        message = _not_a_boolean(path, value, rows[line - 1] if rows and line and line <= len(rows) else None)
    else:
        message = msg[0].lower() + msg[1:] if msg else kind
        message = message.replace("input should be", "expected")
        if value is None and kind == "list_type":
            message += ", got nothing (an empty section?)"
        elif value is None and kind.endswith("_type"):
            message = _empty_value(path, data)
        elif value is not None and not isinstance(value, (dict, list)):
            message += f", got {value!r}" + _no_limit_advice(path, value)
            if kind == "literal_error" and isinstance(value, str):
                message += _literal_hint(value, re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected"))))
            elif kind == "literal_error" and isinstance(value, bool):  # security: yes
                message += " (YAML reads an unquoted yes, no, on, off, true or false as true or false: write one of them)"
        elif isinstance(value, (dict, list)) and kind.endswith("_type"):
            message += f", got a {'mapping' if isinstance(value, dict) else 'list'}"
    return Problem(message, shown, _line_for(lines, path), _dotted(path))


def _settings_without_topic(data: Any) -> tuple[list[str], str]:
    """The topic settings written straight under ``topics:`` without a topic's
    key (``topics:`` then ``about: ...``), and the key to put over them: the
    one topic the subscribers name that is not there, else ``mine``.  Each
    setting read as a topic of its own ('topics.about: expected a mapping'),
    and the subscriber's topic was told it was renamed to 'about'."""
    topics = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(topics, dict):
        return [], ""
    settings = [str(k) for k, v in topics.items() if k in Topic.model_fields and not isinstance(v, dict)]
    subscribers = data.get("subscribers") if isinstance(data.get("subscribers"), list) else []
    named = {n for sub in subscribers if isinstance(sub, dict) and isinstance(sub.get("topics"), list)
             for n in sub["topics"] if isinstance(n, str) and n not in topics}
    key = next(iter(named)) if len(named) == 1 else "mine"
    return settings, key


#: What people write for "every topic" in a subscriber's topics:.
_EVERY_TOPIC = ("all", "*", "every", "everything", "all topics", "any")


def _topic_by_name(topics: dict, written: str) -> str | None:
    """The key of the topic whose ``name:`` is ``written`` (case and spaces aside)."""
    folded = " ".join(written.split()).casefold()
    keys = [k for k, t in topics.items() if isinstance(t, dict) and isinstance(t.get("name"), str)
            and " ".join(t["name"].split()).casefold() == folded]
    return str(keys[0]) if len(keys) == 1 else None


def _every_topic(data: dict) -> str:
    """How a subscriber follows every topic: by listing their keys (no word
    stands for all of them)."""
    keys = [str(k) for k in data["topics"]]
    listed = ", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "")
    return f"a subscriber follows every topic by listing their keys, topics: [{listed}]"


def _setting_as_topic(name: str, data: dict) -> str:
    """What to write for the topic setting ``name`` read as a topic: under the
    topic above it when it was indented as one (a slip of indentation), else
    under a topic's key, which the settings were written without."""
    keys = list(data["topics"])
    above = [k for k in keys[:keys.index(name)] if isinstance(data["topics"][k], dict)]
    if above:
        return (f"{name!r} is a topic's setting, indented as a topic: indent it under the topic above, "
                f"`{above[-1]}:`, as deep as its other settings")
    settings, key = _settings_without_topic(data)
    if name != settings[0]:
        return f"{name!r} is a topic's setting too, written here as a topic (see topics.{settings[0]})"
    return (f"{name!r} is a topic's setting, written here as a topic: the settings ({', '.join(settings)}) go "
            f"under the topic's key, indented under topics: (`  {key}:`, then `    {name}: ...`), and subscribers "
            f"follow it by that key, topics: [{key}]")


def _topics_as_list(items: list) -> str:
    """What to write for ``topics:`` written as a list: each topic's key with
    a '- ' before it (``- diffusion:``), or a list of topic settings (``- name:
    RL``), as a list of subscribers is written."""
    keys = [k for x in items if isinstance(x, dict) and x and (k := next(iter(x))) not in Topic.model_fields
            and isinstance(x[k], (dict, type(None)))]
    if keys and len(keys) == len(items):
        return (f": remove the '- ' before each topic's key (`{keys[0]}:` under topics:, its settings "
                "indented under it)")
    names = [str(x["name"]) for x in items if isinstance(x, dict) and isinstance(x.get("name"), str)]
    key = re.sub(r"[^a-z0-9]+", "_", names[0].casefold()).strip("_") if names else ""
    key = key if re.fullmatch(r"[a-z][a-z0-9_]{0,29}", key) else "rl"
    return (": each topic goes under a key of your choosing that subscribers name in their topics: "
            f"(`topics:`, then indented `{key}:`, then its name:, any: or about: indented under that)")


#: Other names for a setting's values (arXiv's API calls the abstract 'summary'):
#: the value meant, and what to add.
_LITERAL_WORDS = {
    "summary": ("abstract", ""), "body": ("abstract", ""), "description": ("abstract", ""),
    "author": ("authors", ""), "category": ("categories", ""), "tags": ("categories", ""),
    "headline": ("title", ""), "titles": ("title", ""), "abstracts": ("abstract", ""),
    **dict.fromkeys(("sendmail", "mail", "email", "postfix", "exim", "local"), (
        "smtp", " a local sendmail, Postfix or Exim takes mail by SMTP: host: localhost, port: 25, security: none")),
    **dict.fromkeys(("file", "files", "eml", "folder", "directory", "disk"), ("outbox", "")),
}


def _literal_hint(value: str, valid: list[str]) -> str:
    """Which of ``valid`` a value written otherwise meant: ``STARTTLS``
    (the values are lower case), ``smpt``, or ``tls`` (which names both ways
    of mail over TLS); '' when none is near."""
    same = [v for v in valid if v.casefold() == value.strip().casefold()]
    if same:
        return f" (write it in lower case: {same[0]})"
    if value.strip().casefold() in ("tls", "ssl/tls", "smtps") and {"ssl", "starttls"} <= set(valid):
        return " (implicit TLS, as on port 465, is ssl; STARTTLS, as on port 587, is starttls)"
    meant = _LITERAL_WORDS.get(value.strip().casefold())
    if meant and meant[0] in valid:
        return f" (did you mean {meant[0]!r}?{meant[1]})"
    near = difflib.get_close_matches(value.strip(), valid, n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


#: Labels a like: entry is written under, as a form's fields are: the value is the entry.
_LIKE_LABELS = frozenset({"title", "id", "arxiv", "arxiv_id", "arxivid", "url", "link", "paper", "doi"})


def _zone_as_number(value: int) -> str | None:
    """``timezone: +1`` (or ``-5``, ``+5:30``) unquoted: YAML reads an offset as
    a number (``+5:30`` in base 60, 330), and the message said to quote it,
    which only led to the next one, that an offset is no zone.  What an offset
    means, said at once; None for a number no offset writes."""
    # H:MM read in base 60 (the offsets in use end in :00, :30 or :45); YAML's base 60 needs a first digit
    # of 1-9, so 0:30 stays text and 15-59 come from no offset (the generic message says those)
    sixty = abs(value) >= 60
    hours, minutes = divmod(abs(value), 60) if sixty else (abs(value), 0)
    if hours > 14 or minutes not in (0, 30, 45):
        return None
    sign = "-" if value < 0 else "+" if value else ""
    written = f"{sign}{hours}" + (f":{minutes:02d}" if sixty else "")
    hint = "UTC all year: write 'UTC'" if value == 0 else _zone_hint(written)
    return f"expected a zone's name, got the number {value} (YAML reads an unquoted {written} as one): {hint}"


#: Why a word or a number written where text goes is not text.
_YAML_TEXT = ("YAML reads an unquoted yes, no, on, off (in any case) as true or false, and digits as a number: "
              "quote it")


def _node_at(data: Any, path: tuple) -> Any:
    """The value at ``path`` in the data read, or None where the data has no such place."""
    for part in path:
        if isinstance(data, dict) and part in data or isinstance(data, list) and isinstance(part, int) and (
                0 <= part < len(data)):
            data = data[part]
        else:
            return None
    return data


def _written_key(lines: dict, parent: tuple, value: Any) -> Any:
    """The key of the mapping at ``parent`` as written (``off``) that YAML read
    as ``value`` (False; pydantic names it 0), else ``value``."""
    yaml = _yaml()
    for path in lines:
        if len(path) == len(parent) + 1 and path[:-1] == parent and isinstance(path[-1], str):
            try:
                read = yaml.safe_load(path[-1])
            except yaml.YAMLError:
                continue
            if type(read) is type(value) and read == value:
                return path[-1]
    return value


#: Settings counted in seconds, and what a unit written after one is in seconds.
_SECONDS_KEYS = ("timeout", "verdict_timeout", "retry_delay", "backoff", "max_wait", "fresh_for")
_SECONDS_IN = {**dict.fromkeys(("ms", "msec"), 0.001), **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
               **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
               **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600)}
_BYTES_IN = {"b": 1, "kb": 1024, "kib": 1024, "k": 1024, "mb": 1024**2, "mib": 1024**2, "m": 1024**2,
             "gb": 1024**3, "gib": 1024**3, "g": 1024**3}


#: pydantic's kinds of a number out of its field's range.
_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number")


def _seconds_out_of_range(path: tuple, value: float) -> str | None:
    """What to write for a setting in seconds given a number out of its range
    (``delivery.timeout: 0``, ``-5``, ``10000``): pydantic's "expected greater
    than 0, got 0" named neither the unit nor the range, and 10000 (meant as
    milliseconds, as many clients count them) said nothing of it.  None when
    ``path`` is no setting of a section of :class:`Config`."""
    section = Config.model_fields.get(str(path[0]))
    model = section.annotation if section is not None else None
    field = model.model_fields.get(str(path[1])) if isinstance(model, type) and issubclass(model, BaseModel) else None
    if field is None:
        return None
    bounds = {name: getattr(m, name) for m in field.metadata for name in ("gt", "ge", "le") if hasattr(m, name)}
    low = f"more than {bounds['gt']:g}" if "gt" in bounds else f"at least {bounds['ge']:g}" if "ge" in bounds else ""
    high = f"at most {bounds['le']:g}" if "le" in bounds else ""
    span = " and ".join(filter(None, (low, high)))
    default = f", {path[-1]}: {field.default:g} by default" if isinstance(field.default, (int, float)) else ""
    said = "an endless time" if value == float("inf") else f"{value:g} seconds" + (
        f" ({waiting(value)})" if value >= 120 else "")
    milli = value / 1000
    meant = (f"; if milliseconds were meant, that is {path[-1]}: {milli:g}" if value >= 1000 and milli <= bounds.get(
        "le", milli) else "")
    return f"{said} cannot be meant: write the number of seconds, {span}{default}{meant}"


def _number_with_unit(text: str, key: str) -> str | None:
    """What to write for a number given with its unit (``timeout: 30s``,
    ``max_bytes: 50MB``, ``max_papers: 20 papers``): the number alone, in the
    setting's own unit.  None when ``text`` is no number and a unit."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", text)
    if m is None:
        return None
    number, unit = float(m[1]), m[2].casefold()
    if key in _SECONDS_KEYS and unit in _SECONDS_IN:
        return f"write the number of seconds alone, {key}: {number * _SECONDS_IN[unit]:g}"
    if key == "max_bytes" and unit in _BYTES_IN:
        return f"write the number of bytes alone, {key}: {int(number * _BYTES_IN[unit])}"
    return f"write the number alone, {key}: {m[1]}"


#: The words YAML reads as true or false when they are not in quotes.
_YAML_BOOLEANS = {**dict.fromkeys(("true", "yes", "on", "y"), "true"), **dict.fromkeys(("false", "no", "off", "n"), "false")}


def _not_a_boolean(path: tuple, value: Any, row: str | None = None) -> str:
    """What to write for a setting that is true or false (``send_empty``,
    ``mailing_list``) given ``value``: `"true"` in quotes was "expected a
    valid boolean, got 'true'", which reads as a contradiction.  ``row``:
    the value's line as written, to tell a quoted word from a bare ``y``,
    which YAML reads as text (and was said to be "in quotes")."""
    key = f"{path[-1]}: " if path and isinstance(path[-1], str) else ""
    if isinstance(value, str) and (word := _YAML_BOOLEANS.get(value.strip().casefold())):
        quoted = row is None or any(f"{q}{value}{q}" in row for q in "'\"")
        if quoted:
            return f"expected true or false, got the text {value!r} (in quotes): write it without the quotes, {key}{word}"
        return f"expected true or false: YAML reads {value!r} as text, not as {word}: write {key}true or {key}false"
    return f"expected true or false, got {value!r}: write {key}true or {key}false"


def _quoted_number(text: str, kind: str) -> tuple[str, str] | None:
    """A number written as text (``"0.5"``, or ``"0,5"`` with a decimal
    comma): the number to write and what to change, or None."""
    written = text.strip()
    pattern = r"[-+]?\d+" if kind == "int_type" else r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
    if kind == "float_type" and re.fullmatch(r"[-+]?\d+[eE][-+]?\d+", written):
        # YAML 1.1 (PyYAML) reads 1e-1 as text, quoted or not: it wants a point
        return re.sub(r"(?<=\d)(?=[eE])", ".0", written, count=1), ": YAML reads an exponent without a point as text; write"
    if re.fullmatch(pattern, written):
        return written, " (in quotes): write it without the quotes"
    if kind == "float_type" and re.fullmatch(r"[-+]?\d+,\d+", written):
        return written.replace(",", "."), ": write it with a decimal point"
    return None


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _category_terms(key: str, topic: dict) -> Iterator[tuple[tuple, str]]:
    """Terms that are arXiv categories (``any: [cs.LG]``, an alert's
    subscription pasted as keywords): they looked for the text 'cs.LG' in
    titles and abstracts and matched nothing.  Unless ``fields:`` holds
    categories, where such a term is as meant, and one arXiv does not have
    (``cs.DLL``, ``cs.ML``: written as a category, in an archive arXiv has)
    is an error saying what was meant or the archive's categories: it
    matched no paper without a word, as a topic's ``categories:`` would have
    but for its own check."""
    in_categories = isinstance(topic.get("fields"), list) and "categories" in topic["fields"]
    for kind in ("any", "all", "none"):
        terms = topic.get(kind)
        for j, term in enumerate(terms if isinstance(terms, list) else []):
            if not isinstance(term, str) or "." not in term:
                continue
            code = _CATEGORIES.get(term.strip().casefold())
            if in_categories and code is None and (shape := _CATEGORY_SHAPE.fullmatch(term.strip())) \
                    and shape[1].casefold() in ARXIV_TAXONOMY:
                try:
                    check_arxiv_category(term)
                except ValueError as exc:
                    yield (("topics", key, kind, j), f"term {exc}: under fields: [categories] it matches no paper")
            elif code and not in_categories:
                yield (("topics", key, kind, j), f"term {term!r} is an arXiv category, which a term looks for in "
                       f"titles and abstracts: write it under the topic's categories: [{code}]")


#: A term written as an arXiv category: an archive, a dot, a subject ("cs.DLL").
_CATEGORY_SHAPE = re.compile(r"([A-Za-z]+(?:-[A-Za-z]+)?)\.[A-Za-z]+(?:-[A-Za-z]+)?")


def _cross_checks(data: dict, lines: dict, shown: str, base: Path) -> list[Problem]:
    """Checks spanning several parts of the config; run on the raw data so they
    are reported together with the schema's problems."""
    problems = []

    def add(path, message):
        problems.append(Problem(message, shown, _line_for(lines, path), _dotted(path)))

    topics = t if isinstance(t := data.get("topics"), dict) else {}
    for key, topic in topics.items():
        if not isinstance(topic, dict):
            continue
        if "min_score" in topic and "about" not in topic and "like" not in topic:
            # a relevance floor where nothing is ranked would silently do nothing
            add(("topics", key, "min_score"), "has no effect without 'about' or 'like': a topic of terms alone takes "
                "every paper its terms match; remove min_score, or describe the interest under about: to rank them")
        if "fields" in topic and not any(topic.get(kind) for kind in ("any", "all", "none")):
            # fields: says where terms are looked for; a ranked topic reads title and abstract whatever it says
            add(("topics", key, "fields"), "has no effect without terms (any:, all: or none:): it says where they "
                "are looked for, and about:/like: rank by title and abstract; remove fields:")
        for path, message in _category_terms(key, topic):
            add(path, message)
    subscribers = s if isinstance(s := data.get("subscribers"), list) else []
    seen: dict[str, int] = {}
    unknown: dict[str, list[tuple[int, int]]] = {}  # a topic name no topic has -> where it is named
    followed: set[str] = set()
    topics_given = isinstance(data.get("topics"), dict)  # (else topics: is the error)
    for i, sub in enumerate(subscribers):
        if not isinstance(sub, dict):
            continue
        email = sub.get("email")
        if isinstance(email, str):
            key = address_key(email)
            if key in seen:
                # a list of hundreds: the first one's line, and its spelling when only the case differs
                # ("Ada@Uni.edu" pasted twice from a spreadsheet), which the reader would not see as one
                first = seen[key]
                at = f", line {row}" if (row := _line_for(lines, ("subscribers", first, "email"))) else ""
                spelt = f" as {subscribers[first]['email']!r}" if subscribers[first]["email"] != email else ""
                add(("subscribers", i, "email"), f"duplicate subscriber {email!r} (first at subscribers[{first}]{at}"
                    f"{spelt}): one address gets one digest; delete one of them")
            else:
                seen[key] = i
        wanted = sub.get("topics")
        if isinstance(wanted, list) and topics_given:
            for j, name in enumerate(wanted):
                if isinstance(name, str) and name not in topics:
                    unknown.setdefault(name, []).append((i, j))
                elif isinstance(name, str):
                    followed.add(name)
    # A topic renamed in `topics:` only: every subscriber still names the old
    # key (hundreds of lines on a mailing list), and the new key is the topic
    # nobody follows.  Each name's first few places, then one line for the rest.
    if unknown:  # (the rest serves only the names no topic has)
        settings, key = _settings_without_topic(data)
        candidates = [k for k in topics if k not in settings]
        orphans = [k for k in candidates if k not in followed]
        for name, places in unknown.items():
            hint = difflib.get_close_matches(name, candidates, n=1)
            said = f" (did you mean {hint[0]!r}?)" if hint else ""
            if not hint and len(orphans) == 1 and len(unknown) == 1:
                said = f" (renamed? {orphans[0]!r} is the topic no subscriber follows)"
            if settings and not hint and name == key:
                said = f" (its settings under topics: are not under `{key}:`, see there)"
            if name.strip().casefold() in _EVERY_TOPIC and name not in topics:
                said = f" ({_every_topic(data)})"
            if name in _dedented_topics(data):
                said = " (it is written at the left edge, outside topics:, see there)"
            if (named := _topic_by_name(topics, name)) is not None:
                # the heading the email shows, written for the key: 'renamed? ...' or nothing
                said = f" (it is the name: of topic {named!r}; a subscriber follows a topic by its key, {named})"
            one_by_one = places if len(places) <= UNKNOWN_TOPIC_LINES + 1 else places[:UNKNOWN_TOPIC_LINES]
            for i, j in one_by_one:
                add(("subscribers", i, "topics", j),
                    f"unknown topic {name!r}{said}; defined topics: {', '.join(topics) or 'none'}")
            if len(one_by_one) < len(places):
                i, j = places[UNKNOWN_TOPIC_LINES]
                add(("subscribers", i, "topics", j),
                    f"unknown topic {name!r} here and in {len(places) - UNKNOWN_TOPIC_LINES - 1:,} more subscribers "
                    f"after this one{said}")

    sources = s if isinstance(s := data.get("sources"), list) else []
    for i, src in enumerate(sources):
        if not isinstance(src, dict) or not isinstance(src.get("path"), str) or not src["path"].strip():
            continue
        if _VARIABLE.search(src["path"]):
            continue  # said by the field's check
        if re.match(r"(?i)https?://", src["path"].strip()):  # it read as "matches no file"
            if src.get("type") == "hf-papers-text":
                add(("sources", i, "path"), f"{src['path']!r} is a web address: hf-papers-text reads the page saved "
                    "as text (give that file), and `type: hf-daily` fetches Hugging Face's daily papers itself")
            else:
                add(("sources", i, "path"), f"{src['path']!r} is a web address: give it as url:")
            continue
        if src.get("type") == "hf-papers-text" and not expand_paths(base, src["path"]):
            if (base / os.path.expanduser(src["path"])).is_dir():
                # a folder's subfolders are not read: say so, with the glob that reads them
                inside = f"{src['path'].rstrip('/')}/**/*.txt"
                add(("sources", i, "path"), f"{src['path']!r} is a folder with no files in it "
                    f"(its subfolders are not read; {inside!r} reads them)")
            else:
                add(("sources", i, "path"), f"{src['path']!r}{_not_a_file(base, src['path'], ' matches no file')}")
        elif src.get("type") in ("arxiv", "hf-daily", "feed") and not (base / os.path.expanduser(src["path"])).is_file():
            matched = expand_paths(base, src["path"]) if glob.has_magic(src["path"]) else []
            if matched:  # it read "no such file" of a glob that matches files (saved feeds)
                add(("sources", i, "path"), f"{src['path']!r} is a glob ({len(matched)} files): {src['type']} reads "
                    "one saved file; give each file a source of its own (globs and folders are for "
                    "hf-papers-text exports)")
            else:
                add(("sources", i, "path"), f"{src['path']!r}{_not_a_file(base, src['path'], ': no such file')}")

    # Files the command writes where an export folder is read: the first send
    # works, and every later one reads them as exports and stops.
    delivery = d if isinstance(d := data.get("delivery"), dict) else {}
    outbox = delivery.get("path", "outbox")
    written: list[tuple[tuple, str, str, str]] = []  # (config path, file written, what it is, what happens)
    if delivery.get("transport", "outbox") == "outbox" and isinstance(outbox, str) and outbox.strip():
        written.append((("delivery", "path") if "path" in delivery else (),
                        f"{outbox.rstrip('/')}/20240101T080000Z-ada@example.org-1.2@example.org.eml",
                        f"the outbox {outbox!r}", "the digests written there would be read as exports; "
                        "give the outbox a folder of its own"))
    state = data.get("state")
    if isinstance(state, str) and state.strip() and "://" not in state:
        written.append((("state",), state, f"the state {state!r}",
                        "it would be read as an export; give the state a place of its own"))
    for where, file, what, happens in written:
        for i, src in enumerate(sources):
            if isinstance(src, dict) and src.get("type") == "hf-papers-text" and isinstance(src.get("path"), str) \
                    and _reads(base, src["path"], file):
                add(where or ("sources", i, "path"),
                    f"{what} is where sources[{i}] reads its exports (path: {src['path']}): from the next send on, "
                    f"{happens}")
                break

    email = e if isinstance(e := data.get("email"), dict) else {}
    unsubscribe = email.get("unsubscribe")
    if isinstance(data.get("web"), dict) and isinstance(unsubscribe, str) and not unsubscribe.startswith("mailto:"):
        add(
            ("email", "unsubscribe"),
            "with 'web:' set, the unsubscribe page is `newsletter serve`'s; "
            "email.unsubscribe may only give the mailto: address listed beside it",
        )

    templates = data.get("templates")
    if isinstance(templates, str) and _VARIABLE.search(templates):
        pass  # said by the field's check
    elif isinstance(templates, str) and (base / os.path.expanduser(templates)).is_file():
        # the template itself named (templates: mytpl/digest.html): it said "no such folder" of a file that is there
        holder = os.path.dirname(templates.rstrip("/")) or "."
        add(("templates",), f"{templates!r} is a file: templates: names the folder holding "
                            f"{', '.join(TEMPLATE_NAMES)} (templates: {holder})")
    elif isinstance(templates, str) and not (base / os.path.expanduser(templates)).is_dir():
        add(("templates",), f"{templates!r}: no such folder")
    elif isinstance(templates, str):
        folder = base / os.path.expanduser(templates)
        names = sorted(f.name for f in folder.iterdir() if f.is_file())
        if not set(names) & set(TEMPLATE_NAMES):
            # None of the names the email is built from: nothing in it would be
            # used, and the digest would silently look like the default one.
            close = []
            for n in names:
                hint = difflib.get_close_matches(n, TEMPLATE_NAMES, n=1)
                close.append(f"{n!r} (did you mean {hint[0]!r}?)" if hint else repr(n))
            found = f"; it holds {', '.join(close)}" if close else " (it is empty)"
            add(("templates",), f"{templates!r} holds none of {', '.join(TEMPLATE_NAMES)}, so the defaults would be used{found}")
    state = data.get("state")
    if isinstance(state, str) and state and "://" not in state and not _VARIABLE.search(state):
        folder = (base / os.path.expanduser(state)).parent
        if state.rstrip().endswith(("/", os.sep)):
            add(("state",), f"{state!r} ends with '/', a folder: the state is one SQLite file; write its name, "
                f"such as {state.rstrip().rstrip('/' + os.sep) + '/' + DEFAULT_STATE_FILE!r}")
        elif folder.exists() and not folder.is_dir():  # it said the folder 'does not exist', of a file that does
            add(("state",), f"{state!r}: {str(folder)!r} is a file, not a folder: the state file cannot go under it")
        elif not folder.is_dir():
            add(("state",), f"{state!r}: its folder {str(folder)!r} does not exist (the state file is created, not its folder)")
    return problems


def _reads(base: Path, pattern: str, file: str) -> bool:
    """Whether an export ``path:`` (a folder or a glob) takes in ``file`` (a
    path the config gives for a file the command writes)."""
    if _VARIABLE.search(pattern) or _VARIABLE.search(file):
        return False  # said at their lines
    target = Path(os.path.abspath(base / os.path.expanduser(file)))
    p = Path(os.path.abspath(base / os.path.expanduser(pattern)))
    if glob.has_magic(str(p)):
        return _glob_takes(p.parts, target.parts)
    return p == target.parent  # a folder path reads every file in it


def _glob_takes(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    """Whether ``glob.glob(pattern, recursive=True)`` would list ``path`` (both
    split into parts), were it there: ``**`` takes any number of folders
    (``papers/**`` every file under papers/; Path.match reads it as one
    folder), and a name starting with a dot only a part that starts with one."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        for taken in range(len(path) + 1):
            if _glob_takes(rest, path[taken:]):
                return True
            if taken < len(path) and path[taken].startswith("."):
                return False
        return False
    if not path or (path[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(path[0], head) and _glob_takes(rest, path[1:])


def export_folder_source(config: Config, folder: Path, names: Iterable[str]) -> int | None:
    """The index of the first ``hf-papers-text`` source that would read one
    of the files ``names`` written into ``folder`` (``preview --out``), else
    None: the next run would read them as exports and stop."""
    for i, src in enumerate(config.sources):
        if src.type == "hf-papers-text" and any(
            _reads(config.base_dir, src.path, os.path.abspath(folder / name)) for name in names
        ):
            return i
    return None


def _not_a_file(base: Path, pattern: str, missing: str) -> str:
    """Why ``pattern`` names no file to read: ``missing``, or what is there instead
    (a FIFO or a device would block or never end, so they are not read)."""
    p = base / os.path.expanduser(pattern)
    if (link := broken_link(p)) is not None:
        return f" is {link}"
    try:
        mode = p.stat().st_mode
    except OSError:
        return missing + _meant_path(base, pattern)
    if stat.S_ISDIR(mode):
        return " is a folder, not a file" + _folder_holds(p, pattern)
    what = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket"
    return f" is {what}, not a regular file (save the export or the feed to a file)"


def _folder_holds(folder: Path, pattern: str) -> str:
    """The files in ``folder`` to give instead, as ``" (it holds ...)"``, or
    ''.  A page a browser saved whole ("Web page, complete": the .html and a
    ``_files`` folder of its pictures and scripts) sits in a folder, and
    ``type: hf-papers-text`` given that folder names ``type: hf-daily`` as
    the reader of the page; that source given the same folder said only
    "is a folder, not a file", with the file it meant beside it."""
    try:
        names = sorted(f.name for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
    except OSError:  # a folder we may not list
        return ""
    if not names:
        return ""
    shown = [os.path.join(pattern, n) if pattern not in (".", "./") else n for n in names[:3]]
    if len(names) == 1:
        return f" (it holds one file: give its path, {shown[0]!r})"
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return f" (it holds {len(names)} files, {', '.join(repr(n) for n in shown)}{more}: give the path of the one to read)"


def _meant_path(base: Path, pattern: str) -> str:
    """What a path that names nothing was meant to be, as ``" (...)"``, when a
    slip explains it: a space at an end, a ``file://`` URL, quotes inside the
    YAML quotes, Windows' backslashes, or a name in another case; else ''.
    Each was only "matches no file", beside the file it meant."""
    if pattern != pattern.strip() and expand_paths(base, pattern.strip()):
        where = "ends" if pattern != pattern.rstrip() else "starts"
        return f" (it {where} with a space: without it, it names a file)"
    if pattern.startswith("file://"):
        path = unquote(urlsplit(pattern).path)
        return f" (a file:// URL: write the path itself, {path!r})" if expand_paths(base, path) else ""
    if len(pattern) > 1 and pattern[0] == pattern[-1] and pattern[0] in "'\"" and expand_paths(base, pattern[1:-1]):
        return " (the quotes are part of it: write it without them)"
    if "\\" in pattern and expand_paths(base, pattern.replace("\\", "/")):
        return " (write / between folders, not \\)"
    if os.name != "nt" and re.match(r"[A-Za-z]:[\\/]", pattern):  # a config written on Windows, run here
        return (f" (a Windows path: this machine has no drive {pattern[:2]}; copy the file here and give its "
                "path on this machine, relative to the config's folder, with / between folders)")
    p = Path(os.path.expanduser(pattern))
    folder = p.parent if p.is_absolute() else base / p.parent
    if not glob.has_magic(pattern) and folder.is_dir():
        try:
            same = sorted(f.name for f in folder.iterdir() if f.name.casefold() == p.name.casefold())
        except OSError:  # a folder we may not list
            same = []
        if same:
            meant = str(p.parent / same[0]) if str(p.parent) != "." else same[0]
            return f" (did you mean {meant!r}? names are case-sensitive)"
    if (not p.is_absolute() and "**" not in pattern and base.resolve() != Path.cwd().resolve()
            and expand_paths(Path.cwd(), pattern)):  # (no ** walk of wherever the command runs)
        return (f" (paths are relative to the config's folder, {os.path.abspath(base)!r}, not the current one: "
                f"write {str(Path.cwd() / p)!r})")
    if (samples := _checkout_samples(pattern, base)) is not None:
        return samples
    missing = _missing_folder(p if p.is_absolute() else base / p)
    if not missing and not p.is_absolute() and base.resolve() != Path.cwd().resolve():
        # run from another folder (`--config ~/digest`): say where it was looked for
        return f" (looked for in the config's folder, {os.path.abspath(base)!r}: paths are relative to it)"
    return missing


#: The sample exports in the checkout this package runs from (an editable install, as README's
#: first steps make); a package installed from a wheel has none.
CHECKOUT_SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "papers"


def _checkout_samples(pattern: str, base: Path) -> str | None:
    """Where the sample exports are, for a path meant to name them: README's
    placeholder copied as it is (``/path/to/the/checkout/samples/papers/*.txt``),
    or the shipped config's ``samples/papers/*.txt`` in a config of one's own
    folder.  Each was "there is no folder '/path'", and a newcomer trying the
    samples offline had to find the checkout by hand.  None when neither, or
    no checkout holds them; None too for an absolute path, or a relative one
    whose samples/papers folder is there under ``base``: the user's own folder
    (empty, or a typo such as ``*.text``) was told to name the checkout's."""
    placeholder = pattern.startswith("/path/to/")
    if not CHECKOUT_SAMPLES.is_dir():
        return None
    if not placeholder:
        m = re.search(r"(?:^|/)samples/papers(?:/|$)", pattern)
        if m is None or Path(os.path.expanduser(pattern)).is_absolute() or (base / pattern[:m.end()]).is_dir():
            return None
    what = "README's placeholder" if placeholder else "the shipped config's path, which is relative to the checkout"
    return f" ({what}: for the checkout's sample exports, write {str(CHECKOUT_SAMPLES / '*.txt')!r})"


def _missing_folder(path: Path) -> str:
    """The first folder of ``path`` (before any wildcard) that does not exist,
    with the one beside it a slip means, as ``" (...)"``; '' when every folder
    is there.  'samples/paper/*.txt' was only "matches no file", beside
    'samples/papers/'."""
    parts = Path(os.path.abspath(path)).parts
    for i in range(1, len(parts) - 1):  # (parts[0] is the root)
        if glob.has_magic(parts[i]):
            return ""
        folder = Path(*parts[: i + 1])
        if folder.is_dir():
            continue
        try:
            beside = sorted(f.name for f in folder.parent.iterdir() if f.is_dir())
        except OSError:
            return ""
        meant = difflib.get_close_matches(parts[i], beside, n=1, cutoff=0.75)
        return f" (there is no folder {str(folder)!r}" + (f"; did you mean {meant[0]!r}?)" if meant else ")")
    return ""


#: Files an operating system leaves in folders by itself (Windows' folder settings
#: and thumbnails, macOS's folder icon, an open Office document's owner file):
#: no one saved them there as exports.
_OS_LITTER = lazy(r"(?i)desktop\.ini|(?:eh)?thumbs\.db|Icon\r|~\$.*")


def _listed(path: Path) -> bool:
    """A file a folder or a glob gives to read: a regular file, or a link to
    none (read, it is an error naming the link: a link to an export on a
    drive not mounted left its papers out without a word); not one an
    operating system leaves in every folder (``desktop.ini``, ``Thumbs.db``:
    read as an export, it stopped every send)."""
    return not _OS_LITTER.fullmatch(path.name) and (path.is_file() or broken_link(path) is not None)


def expand_paths(base: Path, pattern: str) -> list[Path]:
    """A file, every file in a folder, or every file a glob matches, sorted;
    symbolic links that lead nowhere among them (see :func:`broken_link`)."""
    p = Path(os.path.expanduser(pattern))
    if not p.is_absolute():
        p = base / p
    if p.is_dir():
        return sorted(f for f in p.iterdir() if _listed(f) and not f.name.startswith("."))
    if p.is_file():
        return [p]
    if "**" in p.parts:
        return _walk_glob(p)
    if glob.has_magic(str(p)):
        return sorted(Path(f) for f in glob.glob(str(p), recursive=True) if _listed(Path(f)))
    return []


def unread_entries(base: Path, pattern: str) -> list[tuple[Path, str]]:
    """The entries a folder or a one-level glob ``path:`` names that are no
    regular file, each with what it is (" is a FIFO, not a regular file ..."):
    :func:`expand_paths` leaves them out (read, a FIFO with no writer blocks
    and a device never ends), and an export given as a named pipe, or a link
    to a device, was left out of the folder without a word."""
    p = Path(os.path.expanduser(pattern))
    if not p.is_absolute():
        p = base / p
    if p.is_dir():
        entries = sorted(f for f in p.iterdir() if not f.name.startswith("."))
    elif glob.has_magic(str(p)) and "**" not in p.parts:
        entries = sorted(Path(f) for f in glob.glob(str(p)))
    else:
        return []
    unread = []
    for entry in entries:
        try:
            mode = entry.stat().st_mode
        except OSError:
            continue  # a link to nowhere is listed, and named when read
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            unread.append((entry, _not_a_file(base, str(entry), "")))
    return unread


def _walk_glob(pattern: Path) -> list[Path]:
    """The files a ``**`` glob takes, each folder walked once: glob.glob
    follows a link back up the tree (``papers/self -> .``) forty times deep,
    reading each export forty times, and two such links took it 2**40 paths
    (the command never ended).  A folder reached again by another link, and
    a file reached again, are taken once."""
    first = next(i for i, part in enumerate(pattern.parts) if glob.has_magic(part))
    root = Path(*pattern.parts[:first])
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    found: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        try:
            st = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            dirs[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # ** takes no hidden folder, as glob's
        for name in sorted(files):
            path = Path(folder, name)
            if _OS_LITTER.fullmatch(name) or not _glob_takes(pattern.parts, path.parts):
                continue
            try:
                fst = path.stat()
            except OSError:
                if broken_link(path) is not None:
                    found.append(path)  # an error when read, naming the link
                continue
            if stat.S_ISREG(fst.st_mode) and (fst.st_dev, fst.st_ino) not in seen_files:
                seen_files.add((fst.st_dev, fst.st_ino))
                found.append(path)
    return sorted(found)
