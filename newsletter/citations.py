"""Reference managers' exports given to a ``feed`` source: BibTeX (``.bib``),
RIS (``.ris``) and PubMed's MEDLINE (``.nbib``), read as the papers they list.

A researcher's library leaves Zotero, Mendeley, JabRef, Google Scholar and
arXiv's "Export BibTeX citation" in the first two far more often than as
CSV or CSL JSON, and PubMed's searches in the third; given as a feed they were "not an RSS or Atom feed: the
answer is text".  Each entry becomes a plain record (title, abstract,
authors, arXiv id, link, DOI, day) read by :func:`feeds.parse_records`, so a
record without a title is skipped with a warning, one without an abstract is
read by its title and said so, and an entry naming an arXiv preprint joins
the same paper from the other sources.  A document cut off or broken (an
entry whose braces never close, a RIS record without its ``ER`` line) is an
error at its line, never a silent partial list.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from .errors import InputError, Problem, line_of, parsed_xml
from .models import first_last
from .patterns import XML_PROLOG_DOCTYPE

if TYPE_CHECKING:
    from pylatexenc.latex2text import LatexNodes2Text

Warn = Callable[[str], None]

# bibtexparser's warnings of a broken entry (three lines naming no file) went to stderr: the entry is
# reported as one located error instead
_BIBTEX_LOG = logging.getLogger("bibtexparser")
_BIBTEX_LOG.propagate = False
_BIBTEX_LOG.addHandler(logging.NullHandler())

#: What a RIS file starts with: its first record's type line, "TY  - JOUR".
_RIS_START = re.compile(r"\A\s*TY  -(?: |$)", re.MULTILINE)
#: A RIS line: its tag, two spaces, a hyphen and (but for ER) a space before the value.
_RIS_LINE = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*)|\s*)$")
#: What PubMed's MEDLINE export ("Send to: Citation manager", .nbib; "Format: PubMed" saved) starts with.
_MEDLINE_START = re.compile(r"\A\s*PMID- ?\d")
#: A MEDLINE line: its tag padded to four characters, "- ", its value; a line carrying one on starts with spaces.
_MEDLINE_LINE = re.compile(r"^([A-Z][A-Z0-9 ]{3})- ?(.*)$")
#: A MEDLINE record's tags by what they hold: the full names (FAU) before the initials (AU).
_MEDLINE_TAGS = {"TI": "title", "AB": "abstract", "FAU": "authors", "AU": "initials", "DP": "published",
                 "DEP": "electronic", "LID": "ids", "AID": "ids", "PMID": "pmid"}
#: A MEDLINE day: "2024 Jun 5", "2024 Jun", "2024", "2024 Spring", "20240605" (DEP).
_MEDLINE_DAY = re.compile(r"^(\d{4})(?:(\d{2})(\d{2})|\s+([A-Za-z]{3})[a-z]*(?:\s+(\d{1,2}))?)?")

#: What a BibTeX file holds: an entry's start ("@article{key,"), perhaps after comments and a JabRef header.
_BIBTEX_ENTRY = re.compile(r"^\s*@\s*([A-Za-z]+)\s*[{(]", re.MULTILINE)
#: A file whose first line but blank ones and "%" comments is an "@word{": BibTeX, however many
#: @string, @comment and @preamble blocks come before its first entry.
_BIBTEX_FIRST = re.compile(r"(?:[ \t]*(?:%[^\n]*)?\r?\n)*[ \t]*@[ \t]*[A-Za-z]+[ \t]*[{(]")
#: The entry kinds that are no paper: BibTeX's own commands.
_BIBTEX_COMMANDS = frozenset({"comment", "preamble", "string"})
#: How far into a file a BibTeX entry is looked for (JabRef and Mendeley write a header first), and
#: how many lines that header may have.
_LOOK = 4096
_HEADER_LINES = 8

#: A RIS record's tags by what they hold (Zotero, Mendeley, EndNote, Google Scholar write these).
_RIS_TAGS = {
    "TI": "title", "T1": "title", "CT": "title", "BT": "title",
    "AB": "abstract", "N2": "abstract",
    "AU": "authors", "A1": "authors",
    "UR": "url", "L1": "attachment", "DO": "doi",
    "DA": "published", "Y1": "published", "PY": "year",
    "N1": "extra", "M3": "extra", "AN": "extra", "ID": "extra", "JO": "extra", "T2": "extra",
}

#: The symbols Zotero's BibTeX writes as text macros that pylatexenc does not know (it dropped them:
#: "$T{\textless}10$" came out "T10").
_TEXT_SYMBOLS = re.compile(r"\{?\\text(less|greater|bar|underscore|quotedbl|braceleft|braceright)\b\s*\}?")
_SYMBOL = {"less": "<", "greater": ">", "bar": "|", "underscore": "_", "quotedbl": '"', "braceleft": "\\{",
           "braceright": "\\}"}

#: A "%" that is not escaped: text in a braced BibTeX value, a comment to LaTeX.
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")
#: What pylatexenc changes in a text (with its white space collapsed): a macro, group, math or
#: comment, and its specials ("~", "&", "--", "``", "''", "?`", "!`"); a text without them is as it is.
_LATEX_MARKS = re.compile(r"[\\{}$%&~`]|''|--")
#: TeX's specials escaped in a url or DOI ("\&", "\_", "\%"): their characters.
_TEX_SPECIAL = re.compile(r"\\([&%_#$~])")

#: BibTeX's month names ("month = jun"), as numbers.
_MONTHS = {m: n for n, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}


def citation_kind(text: str) -> str | None:
    """"RIS", "MEDLINE" or "BibTeX" when ``text`` is such an export, else None."""
    if _RIS_START.match(text.lstrip("\ufeff")):
        return "RIS"
    if _MEDLINE_START.match(text.lstrip("\ufeff")):
        return "MEDLINE"
    head = text.lstrip("\ufeff")[:_LOOK]
    if _BIBTEX_FIRST.match(head):
        return "BibTeX"
    first = next((m for m in _BIBTEX_ENTRY.finditer(head) if m.group(1).casefold() not in _BIBTEX_COMMANDS), None)
    # before the first entry, a header's few lines at most (JabRef's "% Encoding: UTF-8", Mendeley's
    # "Automatically generated by Mendeley Desktop."): a text that only quotes an entry is none
    if first is not None and head.lstrip()[:1] not in ("<", "{", "[") and sum(
            1 for line in head[:first.start()].splitlines() if line.strip()) <= _HEADER_LINES:
        return "BibTeX"
    return None


def _ris_day(value: str) -> str:
    """A RIS date, "2024/06/04/" or "2024///" (with a note after its last slash
    at times) or ISO's "2024-06-04" (Zotero's DA), as ISO's partial date:
    "2024-06-04", "2024"."""
    parts = re.split(r"[/-]", value)[:3]
    digits = [p.strip() for p in parts if p.strip().isdigit()]
    return "-".join(digits[:1] + [p.zfill(2) for p in digits[1:]])


def parse_ris(text: str, name: str, source: str, warn: Warn) -> tuple[list[dict], list[int]]:
    """The records of a RIS export and the line each starts at.  A line that
    is no tag carries its field on (a wrapped abstract; skipped with a field
    not read); a record without its
    closing ``ER`` (cut off), or a tag before the first ``TY``, is an error at
    its line."""
    records: list[dict] = []
    lines: list[int] = []
    current: dict[str, list[str]] | None = None
    last: str | None = None
    start = 0
    for number, line in enumerate(text.lstrip("\ufeff").split("\n"), 1):
        m = _RIS_LINE.match(line.rstrip())
        if m is None:
            if current is not None:
                # (a line carrying on a tag not read, a wrapped keyword or affiliation, is skipped with it)
                if last is not None and line.strip():
                    current[last][-1] += " " + line.strip()
            elif line.strip():
                raise InputError(Problem(f"source {source!r}: a RIS export, but this line is outside any record "
                                         "(no 'TY  - ' line before it)", name, number))
            continue
        tag, value = m.group(1), (m.group(2) or "").strip()
        if tag == "TY":
            if current is not None:
                break  # (reported below: the record before had no end)
            current, last, start = {}, None, number
        elif current is None:
            raise InputError(Problem(f"source {source!r}: a RIS export, but this {tag!r} line is outside any record "
                                     "(no 'TY  - ' line before it)", name, number))
        elif tag == "ER":
            records.append(_ris_record(current))
            lines.append(start)
            current = None
        elif (what := _RIS_TAGS.get(tag)) is not None:
            current.setdefault(what, []).append(value)
            last = what
        else:
            last = None
    if current is not None:
        raise InputError(Problem(f"source {source!r}: this RIS record has no end (no 'ER  - ' line after it): the "
                                 "export is cut off? Export it again", name, start))
    return records, lines


def _ris_record(fields: dict[str, list[str]]) -> dict:
    """A RIS record's fields as a plain record (see :data:`feeds._RECORD_KEYS`).
    Its notes are its ``extra``, searched for an arXiv id after its link and
    DOI: a note may name another paper ("extends arXiv:2301.00001")."""
    record: dict = {key: " ".join(values) for key, values in fields.items() if key in ("title", "abstract")}
    record["authors"] = [first_last(a) for a in fields.get("authors", []) if a]
    record["extra"] = " ".join(fields.get("extra", []))
    # an attachment (L1) is the link only where there is no UR and it is on the web: Zotero writes the PDF's
    # file:///C:/Users/... there
    web = [a for a in fields.get("attachment", []) if a.startswith(("http://", "https://"))]
    for key, values in (("url", fields.get("url") or web), ("doi", fields.get("doi"))):
        if values:
            record[key] = values[0]
    day = next((d for d in map(_ris_day, fields.get("published", []) + fields.get("year", [])) if d), "")
    record["published"] = day
    return record


def parse_medline(text: str, name: str, source: str, warn: Warn) -> tuple[list[dict], list[int]]:
    """The records of PubMed's MEDLINE export and the line each starts at
    (a blank line between records): title and abstract
    (their lines carried on by indented ones), authors by their full names,
    day (the electronic one where the print one is a season), DOI, and the
    PubMed page as its link."""
    records: list[dict] = []
    lines: list[int] = []
    fields: dict[str, list[str]] = {}
    last: str | None = None
    start = 0
    for number, line in enumerate([*text.lstrip("\ufeff").split("\n"), ""], 1):
        m = _MEDLINE_LINE.match(line.rstrip())
        if not line.strip():
            if start:
                records.append(_medline_record(fields))
                lines.append(start)
            fields, last, start = {}, None, 0
        elif line.startswith(" ") and start:
            # (a line carrying on a tag not read is skipped with it: PubMed wraps the AD affiliations of almost
            # every record)
            if last is not None:
                fields[last][-1] += " " + line.strip()
        elif m is None:
            raise InputError(Problem(f"source {source!r}: a MEDLINE (PubMed) export, but this line is no 'TAG - "
                                     "value' line", name, number))
        else:
            tag = m.group(1).strip()
            start = start or number
            last = _MEDLINE_TAGS.get(tag)
            if last is not None:
                fields.setdefault(last, []).append(m.group(2).strip())
    return records, lines


def _medline_record(fields: dict[str, list[str]]) -> dict:
    """A MEDLINE record's fields as a plain record (see :data:`feeds._RECORD_KEYS`)."""
    record: dict = {key: " ".join(fields[key]) for key in ("title", "abstract") if key in fields}
    record["authors"] = [first_last(a) for a in fields.get("authors") or fields.get("initials", [])]
    doi = next((i.removesuffix("[doi]").strip() for i in fields.get("ids", []) if i.endswith("[doi]")), "")
    if doi:
        record["doi"] = doi
    if pmid := "".join(fields.get("pmid", [])[:1]):
        record["url"] = f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
    days = [_medline_day(d) for d in fields.get("published", []) + fields.get("electronic", [])]
    record["published"] = max(days, key=len, default="")  # (the one that says most: "2024 Spring" is a year)
    return record


def _medline_day(value: str) -> str:
    """A MEDLINE day as ISO's partial date: "2024 Jun 5" -> "2024-06-05"."""
    m = _MEDLINE_DAY.match(value.strip())
    if m is None:
        return ""
    year, mm, dd, month, day = m.groups()
    if mm:
        return f"{year}-{mm}-{dd}"
    number = _MONTHS.get((month or "").casefold())
    if number is None:
        return year
    return f"{year}-{number:02d}" + (f"-{int(day):02d}" if day else "")


#: BibTeX's own macros: the months' names.
_BIBTEX_MONTHS = {m.casefold(): f for m, f in zip(
    "jan feb mar apr may jun jul aug sep oct nov dec".split(),
    "January February March April May June July August September October November December".split(), strict=True)}


def _joined(value: str, macros: dict[str, str]) -> str | None:
    """A field's value written as parts joined by ``#`` (``"Faster " # {Sampling}``,
    ``neurips # " 37"``) as the one text BibTeX makes of it, braced; None for
    a value of one part, and for one that is not such a join.  A macro
    defined nowhere is a KeyError (bibtexparser kept the whole line,
    ``"Faster " # "Diffusion " # Sampling``, as the title)."""
    parts = _bibtex_parts(value)
    if parts is None or len(parts) < 2:
        return None
    joined: list[str] = []
    for kind, text in parts:
        if kind == "word":
            part = text if text.isdigit() else macros.get(text.casefold(), _BIBTEX_MONTHS.get(text.casefold()))
            if part is None:
                raise KeyError(text)
            joined.append(part)
        else:
            joined.append(text)
    return "{" + "".join(joined) + "}"


def _bibtex_parts(value: str) -> list[tuple[str, str]] | None:
    """The parts of a BibTeX value joined by ``#``, each ``("braced" |
    "quoted" | "word", text)``: ``{braced}`` (braces inside it at any depth),
    ``"quoted"`` (a ``"`` inside braces is no end), a number or an ``@string``
    macro's name; None for a value that is no such join.  Walked by hand, in
    one pass: a pattern knew braces three deep and no deeper, and a title
    with four (``{Deep {Nested {Braces {\"O}f}}} # " Levels"``) was kept
    as written, ``#`` and quotes in it."""
    parts: list[tuple[str, str]] = []
    at, end = 0, len(value)
    while True:
        while at < end and value[at].isspace():
            at += 1
        if at == end:
            return None
        opener = value[at]
        if opener in '{"':
            depth, i = 0, at + (opener == '"')
            while i < end:
                c = value[i]
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth < 0:
                        return None
                    if depth == 0 and opener == "{":
                        break
                elif c == '"' and depth == 0 and opener == '"':
                    break
                i += 1
            if i == end:
                return None
            parts.append(("braced" if opener == "{" else "quoted", value[at + 1:i]))
            at = i + 1
        else:
            i = at
            while i < end and not value[i].isspace() and value[i] not in '#"{}':
                i += 1
            if i == at:
                return None
            parts.append(("word", value[at:i]))
            at = i
        while at < end and value[at].isspace():
            at += 1
        if at == end:
            return parts
        if value[at] != "#":
            return None
        at += 1


def _Concatenation(name: str, source: str) -> Any:  # noqa: N802 (a class made when bibtexparser is imported)
    """bibtexparser's step that joins a field's parts (``#``), before its own
    steps resolve a lone macro and drop a value's braces: it joins none."""
    from bibtexparser.middlewares.middleware import BlockMiddleware
    from bibtexparser.model import Entry

    class Concatenation(BlockMiddleware):
        def __init__(self) -> None:
            super().__init__(allow_inplace_modification=True)
            self.macros: dict[str, str] = {}

        def transform(self, library: Any) -> Any:
            # each in the file's order, a macro joined from those before it (``@string{full = conf # " 2024"}``)
            # or naming one (``@string{alias = full}``) as their text: it was kept as written, ``#`` and all
            self.macros = {}
            for key, string in library.strings_dict.items():
                value = str(string.value).strip()
                try:
                    joined = _joined(value, self.macros)
                except KeyError as missing:
                    raise InputError(Problem(f"source {source!r}: this @string {key!r} joins the @string "
                                             f"{missing.args[0]!r}, defined nowhere before it", name,
                                             (string.start_line or 0) + 1)) from None
                named = self.macros.get(value.casefold()) if _bibtex_parts(value) == [("word", value)] else None
                self.macros[key.casefold()] = _unwrapped(joined) if joined is not None else \
                    named if named is not None else _unwrapped(value)
            return super().transform(library)

        def transform_entry(self, entry: Entry, *args: Any) -> Entry:
            for field in entry.fields:
                if isinstance(field.value, str) and "#" in field.value:
                    try:
                        joined = _joined(field.value, self.macros)
                    except KeyError as missing:
                        raise InputError(Problem(f"source {source!r}: this BibTeX field {field.key!r} joins the "
                                                 f"@string {missing.args[0]!r}, defined nowhere in the file", name,
                                                 (field.start_line or entry.start_line or 0) + 1)) from None
                    if joined is not None:
                        field.value = joined
            return entry

    return Concatenation()


def _unwrapped(value: Any) -> str:
    """An ``@string`` macro's text, without the braces or quotes around it."""
    text = str(value).strip()
    return text[1:-1] if len(text) > 1 and (text[0], text[-1]) in (("{", "}"), ('"', '"')) else text


def parse_bibtex(text: str, name: str, source: str, warn: Warn) -> tuple[list[dict], list[int]]:
    """The entries of a BibTeX export (bibtexparser reads it: braces,
    quotes, ``@string`` macros, LaTeX accents as their letters, math left as
    TeX) as plain records, and the line each starts at.  An entry that does
    not parse (a brace left open: the rest of the file would be its last
    field), gives a field twice or defines an ``@string`` again, is an
    error at its line; an entry key given twice (two papers filed under one
    name) is said, and both are read."""
    import bibtexparser
    from bibtexparser import middlewares
    from bibtexparser.middlewares.parsestack import default_parse_stack
    from bibtexparser.model import DuplicateBlockKeyBlock, DuplicateFieldKeyBlock, Entry

    def stack() -> list:
        # (no LatexDecodingMiddleware: it decoded every field, and in a url "%2F", "~" and "%20" are no LaTeX)
        return [middlewares.SeparateCoAuthors(), middlewares.SplitNameParts(), middlewares.MergeNameParts(style="first")]

    text = _TEXT_SYMBOLS.sub(lambda m: _SYMBOL[m.group(1)], text.lstrip("\ufeff"))
    library = bibtexparser.parse_string(text, parse_stack=[_Concatenation(name, source), *default_parse_stack(),
                                                           *stack()])
    repeats: list[Entry] = []
    for block in library.failed_blocks:
        line = (block.start_line or 0) + 1
        if isinstance(block, DuplicateBlockKeyBlock) and isinstance(entry := block.ignore_error_block, Entry):
            warn(f"{name}:{line}: source {source!r}: the BibTeX key {block.key!r} is given twice (lines "
                 f"{(block.previous_block.start_line or 0) + 1} and {line}): both entries read")
            entry.key += f"\0{line}"  # (its own key, to go through bibtexparser's steps as the others did)
            repeats.append(entry)
        elif isinstance(block, DuplicateBlockKeyBlock):  # an @string macro defined twice: the entries' words differ
            raise InputError(Problem(f"source {source!r}: this @string {block.key!r} is defined a second time (first "
                                     f"at line {(block.previous_block.start_line or 0) + 1}): which one is meant? Keep "
                                     "one", name, line))
        elif isinstance(block, DuplicateFieldKeyBlock):
            said = ", ".join(repr(k) for k in sorted(block.duplicate_keys))
            given = block.ignore_error_block.fields if isinstance(block.ignore_error_block, Entry) else []
            at = [f.start_line for f in given if f.key in block.duplicate_keys and f.start_line is not None]
            raise InputError(Problem(f"source {source!r}: this BibTeX entry gives its field {said} a second time "
                                     f"(the entry starts at line {line}): which one is meant? Keep one", name,
                                     at[1] + 1 if len(at) > 1 else line))
        else:
            raise InputError(Problem(f"source {source!r}: this BibTeX entry does not parse (a brace or a quote left "
                                     "open, or a comma missing?)", name, line))
    entries = library.entries
    if repeats:
        again = bibtexparser.Library([*library.strings, *repeats])
        for middleware in [_Concatenation(name, source), *default_parse_stack(allow_inplace_modification=True),
                           *stack()]:
            again = middleware.transform(again)
        entries = sorted([*entries, *again.entries], key=lambda e: e.start_line or 0)
    records: list[dict] = []
    lines: list[int] = []
    for entry in entries:
        fields = {key.casefold(): field.value for key, field in entry.fields_dict.items()}
        values = {key: " ".join(value.split()) for key, value in fields.items() if isinstance(value, str)}
        for key in ("url", "doi", "eprint"):  # read as written, but for the escapes of TeX's specials ("\&", "\_")
            if key in values:
                values[key] = _TEX_SPECIAL.sub(r"\1", values[key])
        authors = fields.get("author")
        record: dict = {"title": _latex_text(values.get("title")), "abstract": _latex_text(values.get("abstract")),
                        "url": values.get("url"), "doi": values.get("doi"),
                        "authors": [_latex_text(" ".join(a.split())) for a in authors
                                    if isinstance(a, str) and a.strip() != "others"]  # (BibTeX's "and others": et al.)
                        if isinstance(authors, list) else _latex_text(values.get("author"))}
        eprint = values.get("eprint", "")
        if eprint and values.get("archiveprefix", "").casefold() in ("", "arxiv"):
            record["arxiv_id"] = eprint.removeprefix("arXiv:")
        else:  # Google Scholar's "journal = {arXiv preprint arXiv:2406.03001}": searched after the url and DOI, as
            # a note may name another paper ("extends arXiv:2301.00001")
            record["extra"] = " ".join(values.get(k, "") for k in ("journal", "note", "howpublished", "number"))
        record["published"] = _bibtex_day(*(values.get(k, "") for k in ("date", "year", "month", "day")))
        if primary := values.get("primaryclass"):
            record["categories"] = [primary]
        records.append(record)
        lines.append((entry.start_line or 0) + 1)
    return records, lines


@functools.cache
def _latex_decoder() -> LatexNodes2Text:
    """pylatexenc's converter as bibtexparser's LatexDecodingMiddleware set it
    up: accents as their letters, braces dropped, math left as TeX."""
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="verbatim", keep_braced_groups=False)


def _latex_text(value: str | None) -> str | None:
    """A BibTeX title, abstract or name as text.  A "%" not escaped is text in
    a braced BibTeX value but a comment to LaTeX ("by 5% over the baseline"
    was cut to "by 5"): it is escaped first."""
    if value is None or not _LATEX_MARKS.search(value):
        return value  # (plain text comes out as it went in: most titles and names, nine tenths of the time)
    return _latex_decoder().latex_to_text(_UNESCAPED_PERCENT.sub(r"\\%", value))


def _bibtex_day(date: str, year: str, month: str, day: str) -> str:
    """An entry's day as ISO's partial date: its ``date`` (BibLaTeX), else its
    year with its month ("jun", "6", "June") and day where given.  BibLaTeX's
    date may be a range, ``2024-06-05/2024-06-08`` (a conference's days), or
    open at its end (``2024-06/``): its start is the paper's day (the range
    as a whole was read as no date).  A range open at its start (``../2024``)
    names no start: the year fields are read, as with no date."""
    start = date.split("/", 1)[0].strip()
    if start and start != "..":
        return start
    if not year.isdigit():
        return ""
    number = int(month) if month.isdigit() else _MONTHS.get(month[:3].casefold())
    if not number or not 1 <= number <= 12:
        return year
    return f"{year}-{number:02d}" + (f"-{int(day):02d}" if day.isdigit() else "")


def parse_citations(data: bytes, name: str, source: str, warn: Warn) -> list | None:
    """The papers of a BibTeX or RIS export (see the module's docstring), in
    UTF-8 (a BOM too), UTF-16 or Windows-1252 as the tools save them; None
    when ``data`` is neither."""
    from .feeds import parse_records
    from .readers import decode_text

    head = data[:_LOOK]
    wide = head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head
    if not wide and citation_kind(head.removeprefix(b"\xef\xbb\xbf").decode("latin-1")) is None:
        return None  # (decoded only when it looks like one: a feed of megabytes is read once)
    try:
        text = decode_text(data, name)
    except InputError:
        if wide:
            return None
        raise
    kind = citation_kind(text)
    if kind is None:
        return None
    read = {"RIS": parse_ris, "MEDLINE": parse_medline, "BibTeX": parse_bibtex}[kind]
    records, lines = read(text, name, source, warn)
    if not records:
        warn(f"{name}:1: source {source!r}: the {kind} export holds no entries; nothing read from it")
        return []
    return parse_records(records, name, source, warn, lines, "entry")


# --------------------------------------------------------------------------- EndNote XML, Zotero RDF

#: EndNote's XML export ("File → Export → XML", and Zotero's "EndNote XML"):
#: ``<xml><records><record>`` after the XML declaration.
_ENDNOTE_START = re.compile(rb"\A(?:\xef\xbb\xbf)?" + XML_PROLOG_DOCTYPE +
                            rb"<xml>\s*<records>", re.DOTALL)
#: Zotero's RDF export ("Export Collection… → Zotero RDF"): RDF declaring Zotero's namespace,
#: or holding its ``z:itemType``.  The biblio namespace alone is no sign: an RSS 1.0 feed
#: (arXiv's is RDF too) may declare it, and was read as an export of no papers.
_RDF_ROOT = re.compile(rb"<rdf:RDF\b[^>]*>")
#: An RSS 1.0 feed's namespace declared (exactly: Zotero declares its link module, ``.../rss/1.0/modules/link/``).
_RSS_1_0 = re.compile(rb"""=\s*["']http://purl\.org/rss/1\.0/["']""")
#: Where each EndNote record starts, for the papers' lines.
_ENDNOTE_RECORD = re.compile(rb"<record>")

_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_DC_NS = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"
_BIB = "{http://purl.org/net/biblio#}"
_FOAF = "{http://xmlns.com/foaf/0.1/}"
_Z = "{http://www.zotero.org/namespaces/export#}"
#: Zotero RDF's resources that are no paper: a file, a note, a journal, a person, a collection.
_RDF_NOT_PAPERS = frozenset({"Attachment", "Memo", "Journal", "Periodical", "Series", "Person", "Organization",
                             "Collection", "Seq", "Bag", "Alt", "URI", "DOI", "ISSN", "ISBN"})


def reference_xml_kind(data: bytes) -> str | None:
    """"EndNote XML" or "Zotero RDF" when ``data`` is one; None otherwise."""
    head = data[:4096]
    if _ENDNOTE_START.match(head):
        return "EndNote XML"
    if (root := _RDF_ROOT.search(head)) and not _RSS_1_0.search(root[0]) and (
            b"zotero.org/namespaces/export#" in root[0] or b"<z:itemType" in head):
        return "Zotero RDF"
    return None


def parse_reference_xml(data: bytes, name: str, source: str, warn: Warn) -> list | None:
    """The papers of an EndNote XML or a Zotero RDF export (None for
    neither): each record's title, abstract, authors ("Doe, Jane" as both
    write them), day, link, DOI and the arXiv id they name.  Given as a feed
    they were read by feedparser as a feed of no entries, or 'not an RSS or
    Atom feed'.  A file declaring entities (no export does: expanding them
    is how a small file fills the memory) is not read; XML that does not
    parse (cut off) is an error at its line."""
    from .feeds import parse_records

    kind = reference_xml_kind(data)
    if kind is None:
        return None
    if b"<!ENTITY" in data:
        raise InputError(Problem(f"source {source!r}: {kind} declaring entities, which no export does: not read",
                                 name, line_of(data, data.find(b"<!ENTITY"))))
    root = parsed_xml(data, name, source, kind)
    if kind == "EndNote XML":
        records = [_endnote_record(r) for r in root.iter("record")]
        lines = [line_of(data, m.start()) for m in _ENDNOTE_RECORD.finditer(data)]
        lines = lines if len(lines) == len(records) else []
    else:
        records = [_zotero_rdf_record(r) for r in root if r.tag.rpartition("}")[2] not in _RDF_NOT_PAPERS
                   and r.find(f"{_DC_NS}title") is not None]
        lines = []
        if not records:
            return None  # RDF of some other kind: the feed parser reads it (or says what it is not)
    if not records:
        warn(f"{name}:1: source {source!r}: the {kind} export holds no records; nothing read from it")
        return []
    return parse_records(records, name, source, warn, lines or None, "record")


def _xml_text(element) -> str:
    """An element's text, whatever styling it is wrapped in (EndNote's
    ``<style face="normal" ...>``, several runs of it), its white space collapsed."""
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _endnote_record(record) -> dict:
    """An EndNote XML record as a plain record (see :func:`parse_reference_xml`)."""
    def text(path: str) -> str:
        return _xml_text(record.find(path))

    urls = [_xml_text(u) for u in record.iterfind("urls/related-urls/url")]
    day = text("dates/pub-dates/date")
    year = text("dates/year")
    return {
        "title": text("titles/title"), "abstract": text("abstract"),
        "authors": [first_last(_xml_text(a)) for a in record.iterfind("contributors/authors/author")],
        "url": urls[0] if urls else None, "doi": text("electronic-resource-num") or None,
        "published": _endnote_day(year, day), "year": year or None,
        # an arXiv preprint's id: its report number, accession or notes ("arXiv:2406.03001 [cs]")
        "extra": " ".join(filter(None, (text("isbn"), text("accession-num"), text("notes"), text("number"),
                                        text("titles/secondary-title"), " ".join(urls)))),
    }


def _endnote_day(year: str, day: str) -> str:
    """An EndNote record's day from its year and its ``pub-dates`` ("Jun 5",
    "June 5, 2024", "2024-06-05", "06/05/2024"): ISO's partial date, the year
    alone where the day says no month."""
    if re.fullmatch(r"\d{4}-\d{2}(?:-\d{2})?", day):
        return day
    if slashed := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", day.strip()):  # EndNote's (American) month/day/year
        year = year if year.isdigit() else slashed[3]
        number, of_month = int(slashed[1]), slashed[2]
    else:
        m = re.match(r"([A-Za-z]{3})[a-z]*\.?\s*(\d{1,2})?", day)
        number, of_month = (_MONTHS.get(m.group(1).casefold()) or 0, m.group(2)) if m else (0, None)
    if not year.isdigit():
        return ""
    if not 1 <= number <= 12:
        return year
    if of_month:
        try:  # ("Feb 30" is no day: the year alone, not an ISO date that is none)
            return date(int(year), number, int(of_month)).isoformat()
        except ValueError:
            return year
    return f"{year}-{number:02d}"


def _zotero_rdf_record(item) -> dict:
    """A Zotero RDF item as a plain record (see :func:`parse_reference_xml`)."""
    people = []
    for person in item.iterfind(f"{_BIB}authors/{_RDF}Seq/{_RDF}li/{_FOAF}Person"):
        given, surname = _xml_text(person.find(f"{_FOAF}givenName")), _xml_text(person.find(f"{_FOAF}surname"))
        people.append(" ".join(p for p in (given, surname) if p))
    links = [_xml_text(u) for u in item.iterfind(f"{_DC_NS}identifier/{_DCTERMS}URI/{_RDF}value")]
    ids = [_xml_text(i) for i in item.iterfind(f"{_DC_NS}identifier") if (i.text or "").strip()]
    doi = next((i.removeprefix("DOI ").strip() for i in ids if i.startswith("DOI ")), None)
    return {
        "title": _xml_text(item.find(f"{_DC_NS}title")), "abstract": _xml_text(item.find(f"{_DCTERMS}abstract")),
        "authors": people, "url": links[0] if links else None, "doi": doi,
        "published": _xml_text(item.find(f"{_DC_NS}date")) or None,
        # an arXiv preprint's id: its archive id ("arXiv:2406.03001"), its Extra, its series or number
        "extra": " ".join(filter(None, [_xml_text(item.find(f"{_Z}archiveID")), _xml_text(item.find(f"{_DC_NS}description")),
                                        *ids, *links])),
    }


# --------------------------------------------------------------------------- DBLP

#: What DBLP's XML starts with: a search answer (``/search/publ/api?format=xml``),
#: a record's or a person's page saved as XML (``dblp.org/rec/KEY.xml``, ``dblp.org/pid/ID.xml``).
#: A ``<!DOCTYPE>`` is let through so dblp.xml (the whole database) is told, and refused by name.
_DBLP_XML = re.compile(rb"\A(?:\xef\xbb\xbf)?" + XML_PROLOG_DOCTYPE +
                       rb"<(?:result>.{0,2000}?<hits\b|dblp\b|dblpperson\b)",
                       re.DOTALL)
#: DBLP's publication elements in its record XML: not ``www`` (a person's home page, "Home Page")
#: nor ``proceedings`` (a volume, whose papers are its ``inproceedings``), taken as papers before.
_DBLP_KINDS = frozenset({"article", "inproceedings", "book", "incollection", "phdthesis", "mastersthesis", "data"})
#: The number DBLP puts after a name shared by several people ("Ana Müller 0001").
_DBLP_HOMONYM = re.compile(r"\s+\d{4}$")


def is_dblp_xml(data: bytes) -> bool:
    """Whether ``data`` is DBLP's XML (see :data:`_DBLP_XML`)."""
    return _DBLP_XML.match(data[:4096]) is not None


def dblp_records(document: object) -> list[dict] | None:
    """The records of DBLP's search answer as JSON (``/search/publ/api?
    q=...&format=json``: ``result.hits.hit[].info``), None for other JSON.
    DBLP lists no abstracts: its papers are read by their titles (said once
    by :func:`feeds.parse_records`), their arXiv id from the link or DOI."""
    result = document.get("result") if isinstance(document, dict) else None
    hits = result.get("hits") if isinstance(result, dict) else None
    if not isinstance(hits, dict) or "@total" not in hits:
        return None
    found = hits.get("hit", [])
    found = [found] if isinstance(found, dict) else found if isinstance(found, list) else []
    records = []
    for hit in found:
        info = hit.get("info") if isinstance(hit, dict) else None
        if not isinstance(info, dict):
            continue
        people = (info.get("authors") or {}).get("author", []) if isinstance(info.get("authors"), dict) else []
        people = [people] if isinstance(people, dict) else people if isinstance(people, list) else []
        links = info.get("ee")
        links = links if isinstance(links, list) else [links]
        records.append(_dblp_record(
            info.get("title"), [p.get("text") if isinstance(p, dict) else p for p in people],
            [link for link in links if isinstance(link, str)], info.get("doi"), info.get("year"), info.get("url")))
    return records


def _dblp_record(title: object, authors: list, links: list[str], doi: object, year: object, page: object) -> dict:
    """A DBLP publication as a plain record: its title without the period
    DBLP ends every title with, its authors without the numbers that tell
    namesakes apart, its first electronic edition as the link (else its DBLP
    page), its DOI, its year."""
    text = " ".join(title.split()) if isinstance(title, str) else ""
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    return {"title": text, "abstract": "",
            "authors": [_DBLP_HOMONYM.sub("", " ".join(a.split())) for a in authors if isinstance(a, str) and a.strip()],
            "url": links[0] if links else page if isinstance(page, str) else None,
            "doi": doi if isinstance(doi, str) else None, "year": year if isinstance(year, str) else None,
            "extra": " ".join(links)}


def parse_dblp_xml(data: bytes, name: str, source: str, warn: Warn) -> list | None:
    """The papers of DBLP's XML (see :data:`_DBLP_XML`), None for other
    XML: read by their titles, as :func:`dblp_records`.  They were 'not an
    RSS or Atom feed'."""
    from .feeds import parse_records

    if not is_dblp_xml(data):
        return None
    if b"<!ENTITY" in data or b"<!DOCTYPE" in data[:4096]:
        # (dblp.xml, the whole database, names its DTD's entities: neither read nor a file to mail from)
        raise InputError(Problem(f"source {source!r}: DBLP's XML with a DTD (the whole dblp.xml?): not read; save a "
                                 "search's answer (format=xml or json) or a person's or record's .xml page", name,
                                 line_of(data, max(data.find(b"<!DOCTYPE"), 0))))
    root = parsed_xml(data, name, source, "DBLP's answer")
    if root.tag == "result":
        publications = [info for info in root.iterfind("hits/hit/info")]
    else:
        publications = [e for e in root.iter() if e.tag in _DBLP_KINDS and e.find("title") is not None]
    records = [_dblp_record(_xml_text(p.find("title")), [_xml_text(a) for a in p.iterfind("authors/author")]
                            + [_xml_text(a) for a in p.findall("author")], [_xml_text(e) for e in p.findall("ee")],
                            _xml_text(p.find("doi")) or None, _xml_text(p.find("year")) or None,
                            _xml_text(p.find("url")) or None) for p in publications]
    if not records:
        warn(f"{name}:1: source {source!r}: DBLP's XML holds no publications; nothing read from it")
        return []
    return parse_records(records, name, source, warn, None, "record")


# --------------------------------------------------------------------------- PubMed's XML

#: PubMed's XML (E-utilities' ``efetch.fcgi?db=pubmed&rettype=xml``, and "Send to: File → XML"):
#: ``<PubmedArticleSet>`` after the declaration and the DOCTYPE naming its DTD.
_PUBMED_XML = re.compile(rb"\A(?:\xef\xbb\xbf)?" + XML_PROLOG_DOCTYPE + rb"<PubmedArticleSet[\s>]", re.DOTALL)


def is_pubmed_xml(data: bytes) -> bool:
    """Whether ``data`` is PubMed's XML (see :data:`_PUBMED_XML`)."""
    return _PUBMED_XML.match(data[:4096]) is not None


def _pubmed_day(date) -> str:
    """A PubMed date element's day as ISO's partial date: ``<Year>2024</Year>
    <Month>06</Month>`` or ``<Month>Jun</Month>``, or a ``<MedlineDate>`` as
    MEDLINE writes it ("2024 Spring": its year)."""
    if date is None:
        return ""
    if (medline := date.find("MedlineDate")) is not None:
        return _medline_day(_xml_text(medline))
    year, month, day = (_xml_text(date.find(tag)) for tag in ("Year", "Month", "Day"))
    if month.isdigit():
        return f"{year}-{int(month):02d}" + (f"-{int(day):02d}" if day.isdigit() else "")
    return _medline_day(" ".join(p for p in (year, month, day) if p))


def _pubmed_record(article) -> dict:
    """A ``<PubmedArticle>`` as a plain record (see :data:`feeds._RECORD_KEYS`): a
    structured abstract's parts each after its label ("Background: ..."), as
    PubMed's page shows them."""
    citation = article.find("MedlineCitation")
    paper = citation.find("Article") if citation is not None else None
    if paper is None:
        return {}
    parts = []
    for text in paper.iterfind("Abstract/AbstractText"):
        label = (text.get("Label") or "").strip()
        label = label.capitalize() if label.isupper() else label
        parts.append(f"{label}: {_xml_text(text)}" if label else _xml_text(text))
    authors = [_xml_text(a.find("CollectiveName")) or " ".join(p for p in (
        _xml_text(a.find("ForeName")) or _xml_text(a.find("Initials")), _xml_text(a.find("LastName")),
        _xml_text(a.find("Suffix"))) if p) for a in paper.iterfind("AuthorList/Author") if a.get("ValidYN") != "N"]
    ids = {i.get("IdType"): _xml_text(i) for i in article.iterfind("PubmedData/ArticleIdList/ArticleId")}
    doi = ids.get("doi") or next((_xml_text(e) for e in paper.iterfind("ELocationID") if e.get("EIdType") == "doi"), "")
    pmid = _xml_text(citation.find("PMID")) or ids.get("pubmed", "")
    days = [_pubmed_day(paper.find("ArticleDate")), _pubmed_day(paper.find("Journal/JournalIssue/PubDate"))]
    record: dict = {"title": _xml_text(paper.find("ArticleTitle")) or _xml_text(paper.find("VernacularTitle")),
                    "abstract": " ".join(parts), "authors": [a for a in authors if a],
                    "published": max(days, key=len)}  # (the one that says most, as MEDLINE's)
    if doi:
        record["doi"] = doi
    if pmid:
        record["url"] = f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
    return record


def parse_pubmed_xml(data: bytes, name: str, source: str, warn: Warn) -> list | None:
    """The papers of PubMed's XML, None for other XML: each article's title,
    abstract, authors, day, DOI and PubMed page, as its MEDLINE export gives
    them.  It was 'not an RSS or Atom feed'."""
    from .feeds import parse_records

    if not is_pubmed_xml(data):
        return None
    if b"<!ENTITY" in data:
        raise InputError(Problem(f"source {source!r}: PubMed's XML declaring entities, which PubMed's never does: "
                                 "not read", name, line_of(data, data.find(b"<!ENTITY"))))
    root = parsed_xml(data, name, source, "PubMed's XML")
    articles = root.findall("PubmedArticle")
    books = len(root.findall("PubmedBookArticle"))
    if books:
        warn(f"{name}:1: source {source!r}: {books} of PubMed's book chapters (PubmedBookArticle) left out: no "
             "papers")
    if not articles:
        warn(f"{name}:1: source {source!r}: PubMed's XML holds no articles; nothing read from it")
        return []
    starts = [m.start() for m in re.finditer(rb"<PubmedArticle[\s>]", data)]
    at = [line_of(data, s) for s in starts] if len(starts) == len(articles) else None
    return parse_records([_pubmed_record(a) for a in articles], name, source, warn, at, "article")
