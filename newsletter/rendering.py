"""Render stage: one subscriber's matched papers -> subject, inlined HTML, plain text.

Templates are looked up in the config's ``templates:`` folder first, then in
the package defaults (the repository's ``templates/``); a missing template
names every place searched.  Autoescaping is on for HTML, and every piece of
paper text reaches the template either as plain text (escaped there) or as
:class:`markupsafe.Markup` built here from escaped pieces (highlighting).

``preview`` and ``send`` both call :meth:`Composer.compose`, so what you
preview is byte for byte what is sent.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import jinja2
import regex
from markupsafe import Markup, escape

from .config import Config, Subscriber
from .errors import NewsletterError, Problem, TemplateError
from .matching import REGEX_TIMEOUT, PaperMatch
from .messages import MessageWriter, new_message_id, parse_message, unsubscribe_url

log = logging.getLogger(__name__)

HTML_TEMPLATE = "digest.html"
TEXT_TEMPLATE = "digest.txt"


def default_templates_dir() -> Path:
    """The package's own templates: installed beside the package as
    ``default_templates``, or the repository's ``templates/`` in a checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "default_templates"
    return installed if installed.is_dir() else here.parent / "templates"


def template_dirs(config: Config) -> list[Path]:
    dirs = [config.templates_dir] if config.templates_dir else []
    return dirs + [default_templates_dir()]


@dataclass(frozen=True)
class Composed:
    """One finished email, and the parts it was made of (for preview and the state)."""

    data: bytes  # the message exactly as sent over SMTP (RFC 5322, CRLF line ends)
    subject: str
    html: str  # the HTML part exactly as sent (after CSS inlining)
    text: str
    message_id: str
    paper_ids: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @functools.cached_property
    def message(self) -> EmailMessage:
        """``data`` parsed back (made on first use: sending needs only ``data``)."""
        return parse_message(self.data)


@functools.lru_cache(maxsize=8192)
def trim(text: str, limit: int) -> str:
    """Cut at a word boundary before ``limit`` characters; 0 means no limit."""
    text = " ".join(text.split())
    if not limit or len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.")
    return cut + "…"


def highlight(text: str, patterns: Sequence[re.Pattern]) -> Markup:
    """``text`` escaped, with every match of ``patterns`` wrapped in ``<mark>``.

    Escaping happens piece by piece around the marks, so a match can never
    split an entity or let markup from the text through.  A long match (a
    greedy ``/explain.*predictions/``) marks only its first and last words
    (:func:`_marked_spans`), and each pattern marks at most :data:`MAX_MARKS`
    places: highlighting shows the words, never a paragraph."""
    return _highlight(text, tuple(patterns))


#: Marks per term in one text: a common word ("the") must not paint every line.
MAX_MARKS = 3
#: A match longer than this (characters or words) is marked at its ends only.
MAX_MARK_CHARS = 40
MAX_MARK_WORDS = 4
_WORD = re.compile(r"\w[\w'’-]*")


def _marked_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``[(start, end)]`` for a short match; its first and last words for a long one."""
    span = text[start:end]
    if len(span) <= MAX_MARK_CHARS and len(span.split()) <= MAX_MARK_WORDS:
        return [(start, end)]
    words = list(_WORD.finditer(text, start, end))
    if not words:
        return []
    first, last = words[0], words[-1]
    if first is last:
        return [(first.start(), min(first.end(), first.start() + MAX_MARK_CHARS))]
    return [(first.start(), first.end()), (last.start(), last.end())]


@functools.lru_cache(maxsize=8192)
def _highlight(text: str, patterns: tuple[re.Pattern, ...]) -> Markup:
    spans = sorted(
        span
        for p in patterns
        for m in _finditer(p, text)[:MAX_MARKS]
        if m.end() > m.start()
        for span in _marked_spans(text, m.start(), m.end())
    )
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out.append(escape(text[pos:start]))
        out.append(Markup("<mark>") + escape(text[start:end]) + Markup("</mark>"))
        pos = end
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def _finditer(pattern, text: str) -> list:
    """Matches of a term's pattern; a user's /regex/ gets the matcher's time
    limit (no highlight rather than a hung send)."""
    if isinstance(pattern, regex.Pattern):
        try:
            return list(pattern.finditer(text, timeout=REGEX_TIMEOUT))
        except TimeoutError:
            return []
    return list(pattern.finditer(text))


def paper_link(paper) -> str:
    if paper.url:
        return paper.url
    return _search_link(paper.title)


#: A repository named in an arXiv comment or an abstract.
_CODE = re.compile(
    r"(?:https?://)?(?:www\.)?(?P<host>github\.com|gitlab\.com|huggingface\.co)"
    r"/(?P<path>(?:(?:spaces|datasets)/)?[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)",
    re.IGNORECASE,
)
_CODE_HOSTS = {"github.com": "GitHub", "gitlab.com": "GitLab", "huggingface.co": "Hugging Face"}


@functools.lru_cache(maxsize=16384)
def _code_in(text: str) -> tuple[str, str] | None:
    for m in _CODE.finditer(text):
        host = m.group("host").lower()
        path = m.group("path").rstrip(".-_")
        if host == "huggingface.co" and path.split("/")[0] in ("papers", "blog", "docs"):
            continue  # a paper page or an article, not a repository
        return f"https://{host}/{path.removesuffix('.git')}", _CODE_HOSTS[host]
    return None


def code_link(paper) -> tuple[str, str] | None:
    """``(url, host name)`` of the paper's code: the repository Hugging Face
    lists, else the first GitHub, GitLab or Hugging Face repository its arXiv
    comment or its abstract names; None when none is known."""
    if paper.github:
        found = _code_in(paper.github)
        return paper.github, found[1] if found else ""
    for text in (paper.comment, paper.abstract):
        found = _code_in(text) if text else None
        if found:
            return found
    return None


def short_authors(authors: Sequence[str], keep: int = 3, most: int = 4) -> str:
    """``A, B, C, D``, or ``A, B, C, … and 9 more`` past ``most`` names."""
    if len(authors) <= most:
        return ", ".join(authors)
    return ", ".join(authors[:keep]) + f", … and {len(authors) - keep} more"


def anchor_for(paper_id: str) -> str:
    """The card's in-page anchor: readable, stable across digests (cards are
    shared between subscribers), unique per paper id."""
    readable = re.sub(r"[^A-Za-z0-9]+", "-", paper_id).strip("-")[:40]
    digest = hashlib.blake2s(paper_id.encode("utf-8"), digest_size=3).hexdigest()
    return f"paper-{readable}-{digest}" if readable else f"paper-{digest}"


def reason_words(hits) -> list[str]:
    """What made the paper match, as the paper writes it: the matched text
    (``optimization``, ``Schrödinger``), never the rule (``optimi*``,
    ``/.../``).  One per term, from its first hit (the title's when it
    matched there); a long regex match shows as its first and last words, a
    category as ``in cs.LG``; case-insensitive duplicates are dropped."""
    words: dict[str, str] = {}
    seen_terms: set[str] = set()
    for h in hits:
        text = " ".join(h.text.split())
        if not text or h.term in seen_terms:
            continue
        seen_terms.add(h.term)
        if h.field == "categories":
            text = f"in {text}"
        elif len(text) > MAX_MARK_CHARS or len(text.split()) > MAX_MARK_WORDS:
            found = _WORD.findall(text)
            text = f"{found[0]} … {found[-1]}" if len(found) > 1 else text[:MAX_MARK_CHARS] + "…"
        words.setdefault(text.casefold(), text)
    return list(words.values())


@functools.lru_cache(maxsize=16384)
def _search_link(title: str) -> str:
    return f"https://arxiv.org/search/?query={quote_plus(title)}&searchtype=title"


#: Cards kept for reuse across subscribers (cleared when full).
CARD_CACHE = 50_000


@dataclass(frozen=True, slots=True)
class Card:
    """One paper in a digest, as the templates see it (``p.title``, ``p.abstract_html``...).

    An object rather than a dict because Jinja tries attribute access first;
    ``p["title"]`` works too."""

    paper: object
    title: str
    title_html: Markup
    url: str  # the title's link: the abstract page, else a search for the title
    anchor: str  # the card's id, for the contents list
    authors: list
    authors_text: str  # shortened: "A, B, C, … and 9 more"
    date_text: str  # "6 Jun 2024" (published or announced), or ""
    category: str | None  # the primary arXiv category
    abstract: str
    abstract_html: Markup
    reasons: list  # the matched text in words ("optimization", "Schrödinger")
    terms: list  # the config's terms that matched (rule syntax: for match --json, not for readers)
    score: int
    upvotes: int | None
    pdf_url: str | None
    code_url: str | None
    code_host: str | None  # "GitHub", "GitLab", "Hugging Face" ("" for another host)
    topics: list

    def __getitem__(self, name: str):
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def get(self, name: str, default=None):
        return getattr(self, name, default)


class Composer:
    """Builds the exact email for a subscriber; create once, compose many."""

    def __init__(
        self, config: Config, inliner: Callable[[str], str] | None = None, writer: Callable[..., bytes] | None = None
    ) -> None:
        """``inliner`` turns rendered HTML into the HTML sent: default a
        :class:`SplicingInliner` (premailer's result; each repeated part of
        the email inlined once); :func:`inline_css` runs premailer on every
        email (same bytes, much slower).  ``writer`` makes the message bytes:
        default :class:`~newsletter.messages.MessageWriter`;
        :func:`~newsletter.messages.email_package_writer` is the ``email``
        package's (same message, slower)."""
        self.config = config
        self.inliner = inliner or SplicingInliner()
        self.writer = writer or MessageWriter(config)
        self.dirs = template_dirs(config)
        loader = jinja2.FileSystemLoader([str(d) for d in self.dirs])
        self.env = jinja2.Environment(
            loader=loader,
            autoescape=jinja2.select_autoescape(["html", "htm", "xml"], default_for_string=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.html_template = self._load(HTML_TEMPLATE)
        self.text_template = self._load(TEXT_TEMPLATE)
        self.subject_template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(config.email.subject)
        from .matching import Matcher

        self.rules = Matcher(config.topics).rules
        self._cards: dict[tuple, Card] = {}
        self._term_regex = {t.text: t.regex for rule in self.rules.values() for t in rule.any + rule.all}

    def _load(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateError as exc:
            raise self._template_error(exc) from None
        except UnicodeDecodeError as exc:  # e.g. a template saved as Latin-1
            file = next((d / name for d in self.dirs if (d / name).is_file()), None)
            line = file.read_bytes().count(b"\n", 0, exc.start) + 1 if file else None
            raise TemplateError(
                Problem(f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the template as UTF-8", str(file or name), line)
            ) from None

    def _template_error(self, exc: jinja2.TemplateError, tb=None) -> TemplateError:
        """One line naming the template file (and line) and what is wrong."""
        if isinstance(exc, jinja2.TemplateNotFound):
            searched = ", ".join(str(d) for d in self.dirs)
            return TemplateError(Problem(f"template {exc.name!r} not found; searched: {searched}"))
        if isinstance(exc, jinja2.TemplateSyntaxError):
            return TemplateError(Problem(f"template syntax error: {exc.message}", exc.filename or exc.name, exc.lineno))
        # Render-time errors (undefined variables, bad filters): Jinja rewrites the
        # traceback so the template's frames carry its file name and line.
        file = line = None
        for frame in traceback.extract_tb(tb or exc.__traceback__):
            if any(frame.filename.startswith(str(d)) for d in self.dirs):
                file, line = frame.filename, frame.lineno
        message = str(exc.message if getattr(exc, "message", None) else exc).splitlines()[0]
        return TemplateError(Problem(f"template error: {message}", file, line))

    def _hit_patterns(self, m: PaperMatch, field: str) -> tuple[re.Pattern, ...]:
        """The regexes of the terms that matched ``field``: only they can be
        highlighted there, and running only them is what keeps highlighting cheap."""
        regex = self._term_regex
        return tuple(dict.fromkeys(regex[h.term] for h in m.hits if h.field == field and h.term in regex))

    def _card(self, m: PaperMatch, limit: int) -> Card:
        """A paper as the templates see it; the same for every subscriber whose
        topics found it the same way, so it is built once (cached)."""
        key = (m.paper.id, m.topics, m.terms, limit)
        card = self._cards.get(key)
        if card is not None and card.paper is m.paper:
            return card
        paper = m.paper
        abstract = trim(paper.abstract, limit)
        config = self.config
        code = code_link(paper)
        published = paper.published
        card = Card(
            paper=paper,
            title=paper.title,
            title_html=highlight(paper.title, self._hit_patterns(m, "title")),
            url=paper_link(paper),
            anchor=anchor_for(paper.id),
            authors=list(paper.authors),
            authors_text=short_authors(paper.authors),
            date_text=f"{published.day} {published:%b %Y}" if published else "",
            category=paper.primary_category,
            abstract=abstract,
            abstract_html=highlight(abstract, self._hit_patterns(m, "abstract")),
            reasons=reason_words(m.hits),
            terms=list(m.terms),
            score=m.score,
            upvotes=paper.upvotes,
            pdf_url=paper.pdf_url,
            code_url=code[0] if code else None,
            code_host=code[1] if code else None,
            topics=[config.topic_name(t) for t in m.topics],
        )
        if len(self._cards) >= CARD_CACHE:
            self._cards.clear()  # a new batch of papers; memory stays bounded
        self._cards[key] = card
        return card

    # -- the context the templates see ------------------------------------------------

    def context(self, subscriber: Subscriber, matches: Sequence[PaperMatch], now: datetime) -> dict:
        config = self.config
        limit = config.email.abstract_chars
        sections: dict[str, dict] = {}
        for key in subscriber.topics:
            sections[key] = {"key": key, "name": config.topic_name(key), "papers": []}
        for m in matches:
            sections[m.topics[0]]["papers"].append(self._card(m, limit))
        groups = [s for s in sections.values() if s["papers"]]
        for g in groups:
            g["count"] = len(g["papers"])
        topic_names = [g["name"] for g in groups]
        count = len(matches)
        local = now.astimezone(config.zone(subscriber))
        unsubscribe = unsubscribe_url(config, subscriber)
        preheader = (
            f"{count} new paper{'s' * (count != 1)} on {', '.join(topic_names)}"
            + (f": {matches[0].paper.title}" if matches else "")
            if count
            else "No new papers on your topics today"
        )
        return {
            "title": config.email.title,
            "subscriber": subscriber,
            "name": subscriber.name or subscriber.email,
            "count": count,
            "topics": topic_names or [config.topic_name(k) for k in subscriber.topics],
            "sections": groups,
            "subscriber_topics": [config.topic_name(k) for k in subscriber.topics],
            "date": local,
            "date_text": f"{local:%A} {local.day} {local:%B %Y}",
            "preheader": preheader,
            "unsubscribe": unsubscribe,
            "unsubscribe_is_mail": bool(unsubscribe and unsubscribe.startswith("mailto:")),
        }

    # -- rendering ----------------------------------------------------------------------

    def render(self, subscriber: Subscriber, matches: Sequence[PaperMatch], now: datetime) -> tuple[str, str, str]:
        """(subject, inlined HTML, text)."""
        ctx = self.context(subscriber, matches, now)
        try:
            subject = self.subject_template.render(ctx)
        except jinja2.TemplateError as exc:
            raise TemplateError(self.config.problem(("email", "subject"), f"subject template: {exc}")) from None
        try:
            html = self.html_template.render(ctx)
            text = self.text_template.render(ctx)
        except jinja2.TemplateError as exc:
            raise self._template_error(exc) from None
        except (TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError) as exc:
            # A template doing arithmetic or calls on the wrong values.
            raise self._template_error(jinja2.TemplateRuntimeError(str(exc)), exc.__traceback__) from None
        subject = " ".join(subject.split())
        return subject, self.inliner(html), text

    def compose(
        self,
        subscriber: Subscriber,
        matches: Sequence[PaperMatch],
        *,
        now: datetime,
        message_id: str | None = None,
    ) -> Composed:
        subject, html, text = self.render(subscriber, matches, now)
        message_id = message_id or new_message_id(self.config)
        data = self.writer(subscriber, subject=subject, html=html, text=text, message_id=message_id, date=now)
        warnings = []
        size = len(html.encode("utf-8"))
        if size > self.config.email.max_html_kb * 1024:
            warnings.append(
                f"digest for {subscriber.email}: HTML body is {size / 1024:.0f} KB, over "
                f"{self.config.email.max_html_kb} KB (Gmail clips messages at about 102 KB); lower max_papers or abstract_chars"
            )
        return Composed(data, subject, html, text, message_id, tuple(m.paper.id for m in matches), tuple(warnings))


# --------------------------------------------------------------------------- CSS inlining

#: premailer's settings, shared by the naive and the fast path (they must agree).
PREMAILER_OPTIONS = dict(
    allow_network=False,
    strip_important=False,
    cssutils_logging_level=logging.CRITICAL,
    disable_validation=True,
)


def inline_css(html: str) -> str:
    """Move the ``<style>`` rules into ``style=""`` attributes (premailer); media
    queries and other rules that cannot be inlined stay in a ``<style>`` block.

    This is the naive path: premailer parses the CSS and runs every selector
    over the whole email, 15-40 ms an email.  :class:`CssInliner` gives the
    same bytes for a fraction of that.
    """
    import premailer

    return premailer.Premailer(html, **PREMAILER_OPTIONS).transform()


def serialise(root) -> str:
    """premailer's own serialisation call (pretty-printed HTML, UTF-8)."""
    from lxml import etree

    return etree.tostring(root, method="html", pretty_print=True, encoding="utf-8").decode("utf-8")


# Selectors whose result depends on more than the element and its ancestors
# (siblings, position, attributes, state) rule out the fast path.
_UNSAFE_SELECTOR = re.compile(r"[:\[+~]")


class _Sheet:
    """What premailer does for one set of ``<style>`` blocks, learnt once.

    ``results`` maps an element *signature* -- its ancestor chain (tag, id,
    class of each) plus its own ``style`` attribute -- to the attribute
    assignments premailer makes on such an element; ``style_text`` is what
    each ``<style>`` block becomes (the leftover rules, or None: removed).
    """

    __slots__ = ("fast", "style_text", "results", "chains", "chain_ids")

    def __init__(self, fast: bool) -> None:
        self.fast = fast
        self.style_text: list[str | None] | None = None
        # Results are keyed by (chain id, style): a small int hashes far faster
        # than the nested chain tuple it stands for.
        self.results: dict[tuple, tuple[tuple[str, str], ...]] = {}
        self.chains: list[tuple] = [()]  # chain id -> chain tuple
        self.chain_ids: dict[tuple, int] = {}  # (parent chain id, tag, id, class) -> chain id


class CssInliner:
    """premailer's output, byte for byte, at the cost of one lxml parse and
    serialisation per email.

    Inlining depends only on the stylesheet and on each element's tag, id,
    class, existing ``style`` and those of its ancestors, as long as no
    selector looks at siblings, positions or other attributes (``:``,
    ``[``, ``+``, ``~``).  So, per stylesheet, premailer is run once on a
    small *specimen* tree holding one element for each signature not seen
    yet, and what it did to each is recorded; every email is then parsed
    with the same parser premailer uses, the recorded attributes are set,
    and the tree is serialised with premailer's own call.  Stylesheets the
    shortcut cannot model exactly (unsafe selectors, ``media=`` or
    ``data-premailer`` on ``<style>``, no ``<head>``) go through premailer
    whole.  Thread-safe; the learnt results are capped at ``max_entries``.
    """

    def __init__(self, max_entries: int = 20000) -> None:
        import threading

        self._sheets: dict[tuple, _Sheet] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.specimen_runs = 0  # how often premailer ran (for tests and benchmarks)

    def __call__(self, html: str) -> str:
        inlined = self.inline_tree(html)
        return inline_css(html) if inlined is None else serialise(inlined[0])

    def inline_tree(self, html: str):
        """Parse ``html`` and apply premailer's attributes in place.

        Returns ``(root, page, sheet_key)`` -- ``serialise(root)`` is
        premailer's output -- or None when this document must go through
        premailer whole.  Callers may change attributes that no selector
        can see (anything but ``id``, ``class``, ``style``) before serialising.
        """
        from lxml import etree

        stripped = html.strip()
        tree = etree.fromstring(stripped, etree.HTMLParser()).getroottree()
        page = tree.getroot()
        root = tree if stripped.startswith(tree.docinfo.doctype) else page
        styles = page.xpath("descendant-or-self::style")
        if not page.xpath("descendant-or-self::head") or any(
            "media" in s.attrib or "data-premailer" in s.attrib for s in styles
        ):
            return None
        sheet_key = tuple((tuple(s.attrib.items()), s.text) for s in styles)
        sheet = self._sheets.get(sheet_key)
        if sheet is None:
            sheet = self._sheets[sheet_key] = _Sheet(self._can_model(styles))
        if not sheet.fast:
            return None

        # Signatures: (chain id, style); chain ids are interned per stylesheet.
        chains, chain_ids = sheet.chains, sheet.chain_ids
        todo: list[tuple] = []
        stack = [(page, 0)]
        while stack:
            el, parent = stack.pop()
            attrib = el.attrib
            link = (parent, el.tag, attrib.get("id"), attrib.get("class"))
            cid = chain_ids.get(link)
            if cid is None:
                with self._lock:
                    cid = chain_ids.get(link)
                    if cid is None:
                        cid = len(chains)
                        chains.append(chains[parent] + (link[1:],))
                        chain_ids[link] = cid
            todo.append((el, (cid, attrib.get("style"))))
            stack.extend((child, cid) for child in reversed(el) if isinstance(child.tag, str))

        results = sheet.results
        if sheet.style_text is None or any(key not in results for _, key in todo):
            with self._lock:
                if len(results) > self.max_entries:
                    results.clear()
                try:
                    wanted = {(chains[cid], style) for _, (cid, style) in todo if (cid, style) not in results}
                    self._learn(sheet, styles, page, wanted)
                except (ValueError, TypeError, IndexError):  # e.g. a tag name lxml cannot create
                    sheet.fast = False
                    return None

        for el, key in todo:
            for name, value in results[key]:
                el.set(name, value)
        for el, text in zip(styles, sheet.style_text):  # type: ignore[arg-type]
            if text is None:
                el.getparent().remove(el)
            else:
                el.text = text
        return root, page, sheet_key

    @staticmethod
    def _can_model(styles) -> bool:
        import premailer

        parser = premailer.Premailer(**PREMAILER_OPTIONS)
        for index, style in enumerate(styles):
            rules, _ = parser._parse_style_rules(style.text, index)
            if any(_UNSAFE_SELECTOR.search(selector) for _, selector, _ in rules):
                return False
        return True

    def _learn(self, sheet: _Sheet, styles, page, wanted: set) -> None:
        """Run premailer on a specimen tree with one element per wanted signature."""
        import premailer
        from lxml import etree

        def chain_of(el) -> tuple:
            out = []
            while el is not None:
                out.append((el.tag, el.get("id"), el.get("class")))
                el = el.getparent()
            return tuple(reversed(out))

        made: dict[tuple, object] = {}  # chain -> bare specimen element

        def bare(chain: tuple):
            el = made.get(chain)
            if el is None:
                tag, id_, class_ = chain[-1]
                el = etree.Element(tag) if len(chain) == 1 else etree.SubElement(bare(chain[:-1]), tag)
                if id_ is not None:
                    el.set("id", id_)
                if class_ is not None:
                    el.set("class", class_)
                made[chain] = el
            return el

        head = page.xpath("descendant-or-self::head")[0]
        root = bare(chain_of(head)).getroottree().getroot()
        specimen_styles = []
        for style in styles:
            copy = etree.SubElement(bare(chain_of(style)[:-1]), "style", dict(style.attrib))
            copy.text = style.text
            specimen_styles.append(copy)
        targets = []
        for chain, style_attr in sorted(wanted, key=lambda k: (len(k[0]), str(k))):
            if style_attr is None and chain not in made:
                el = bare(chain)
            else:
                el = etree.SubElement(bare(chain[:-1]), chain[-1][0]) if len(chain) > 1 else bare(chain)
                for name, value in (("id", chain[-1][1]), ("class", chain[-1][2]), ("style", style_attr)):
                    if value is not None:
                        el.set(name, value)
            targets.append(((chain, style_attr), el, dict(el.attrib)))
        # Every bare element is a signature with no style of its own: learn those too.
        for chain, el in made.items():
            if (chain, None) not in wanted:
                targets.append(((chain, None), el, dict(el.attrib)))  # type: ignore[attr-defined]
        # Bare elements created after their targets were recorded keep their state: fine,
        # premailer has not run yet, so every "before" is the element as built.
        premailer.Premailer(**PREMAILER_OPTIONS).transform(root)
        self.specimen_runs += 1
        cid_of = {chain: cid for cid, chain in enumerate(sheet.chains)}
        for key, el, before in targets:
            sheet.results[cid_of[key[0]], key[1]] = tuple((k, v) for k, v in el.attrib.items() if before.get(k) != v)
        if sheet.style_text is None:
            sheet.style_text = [None if s.getparent() is None else s.text for s in specimen_styles]


# --------------------------------------------------------------------------- splicing

#: Tags after which a unit cannot be modelled as plain markup: raw text, foreign
#: content, whitespace-sensitive or form-state elements.
_RAW_TAGS = frozenset(
    "script style textarea title xmp plaintext noscript iframe noembed noframes template svg math pre listing "
    "select option".split()
)
_VOID_TAGS = frozenset(
    "area base br col embed hr img input link meta param source track wbr basefont frame isindex keygen".split()
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)(?:[\s/][^<>]*)?>")
_SPACE = re.compile(r"\s*")


def _unit_elements(source: str) -> int | None:
    """How many elements ``source`` (one element, start tag to end tag) holds,
    or None unless every tag is explicit, balanced and harmless, so that the
    HTML parser builds exactly that element wherever it appears."""
    if "<!" in source or "<?" in source:
        return None
    stack: list[str] = []
    count = tags = 0
    for m in _TAG.finditer(source):
        tags += 1
        tag = m.group(2).lower()
        if tag in _RAW_TAGS or (not stack and count):
            return None
        if m.group(1):
            if not stack or stack.pop() != tag:
                return None
        else:
            count += 1
            if tag not in _VOID_TAGS:
                if m.group(0).endswith("/>"):
                    return None
                stack.append(tag)
    if stack or tags != source.count("<"):
        return None
    return count


def _find_layout(html: str) -> tuple[str, str] | None:
    """The element whose leading run of same-tag children covers most of the
    email (the default template: the container table's rows): its exact start
    tag and the children's tag, as written in the template."""
    masked = re.sub(
        r"(?is)<!--.*?-->|<(script|style|title|textarea)\b.*?</\1\s*>", lambda m: " " * len(m.group()), html
    )
    # node: [tag, start, start_tag_end, end, children]
    root: list = ["", 0, 0, len(html), []]
    stack = [root]
    for m in _TAG.finditer(masked):
        tag = m.group(2).lower()
        if m.group(1):
            for k in range(len(stack) - 1, 0, -1):
                if stack[k][0] == tag:
                    while len(stack) > k:
                        stack.pop()[3] = m.end()
                    break
            continue
        node = [tag, m.start(), m.end(), m.end(), []]  # type: ignore[var-annotated]
        stack[-1][4].append(node)
        if tag not in _VOID_TAGS and not m.group(0).endswith("/>"):
            stack.append(node)
    best, best_cover = None, 0
    todo = [root]
    while todo:
        node = todo.pop()
        todo.extend(node[4])
        run, pos = [], node[2]  # type: ignore[var-annotated]
        for child in node[4]:
            if html[pos:child[1]].strip() or (run and child[0] != run[0][0]):
                break
            run.append(child)
            pos = child[3]
        cover = sum(c[3] - c[1] for c in run)
        if node is not root and len(run) >= 2 and cover > best_cover:
            best, best_cover = node, cover
    if best is None:
        return None
    first = best[4][0]
    return html[best[1]:best[2]], html[first[1] + 1:first[1] + 1 + len(first[0])]


class SplicingInliner:
    """premailer's bytes for whole emails, inlining each repeated part once.

    A digest is a *shell* (head, stylesheet, greeting, footer) around a run
    of *units*: the rows of the template's container table -- section
    headings and paper cards, the same for many subscribers.  Each email is
    cut at the units; units seen before are replaced by an empty placeholder
    element of the same tag, so only the small shell is parsed and inlined
    (:class:`CssInliner`), and the placeholders are replaced by the units'
    inlined text learnt earlier.  A placeholder has the unit's tag and
    position, so the HTML parser and the pretty-printer treat its
    surroundings exactly as they treat the unit's.

    Units not known yet stay in the shell as they are, are inlined with it,
    and are learnt from that pass.  A unit is kept only if its markup is
    explicit and balanced (:func:`_unit_elements`) and the parser built it as
    written; a unit that recurs in no other email (the greeting with the
    subscriber's name) is kept only once seen twice.  The first ``checks``
    emails of each stylesheet and container are also inlined whole and
    compared with their splice -- any difference turns splicing off for
    good.  Templates without such a container, or emails where the
    container's start tag is not unique, go through ``inliner`` whole.
    Units are keyed by stylesheet and the container's ancestry, and
    capped at ``max_units`` (then forgotten and learnt again).
    """

    def __init__(self, inliner: CssInliner | None = None, max_units: int = 20000, checks: int = 3) -> None:
        import threading

        self.inliner = inliner or CssInliner()
        self.max_units = max_units
        self.enabled = True
        self.layout: tuple[str, str, re.Pattern, re.Pattern] | None = None
        self.units: dict[tuple, dict[str, str]] = {}
        self.context: tuple | None = None
        self.checks = checks  # emails per context inlined whole and compared with their splice
        self.checks_left = checks
        self._seen: set[int] = set()
        self.stats = {"spliced": 0, "learnt": 0, "whole": 0}  # emails by path (benchmark, tests)
        self._lock = threading.Lock()

    @property
    def specimen_runs(self) -> int:
        return self.inliner.specimen_runs

    def __call__(self, html: str) -> str:
        if self.enabled and self.layout is None:
            found = _find_layout(html)
            if found is None:
                self.enabled = False
            else:
                start, tag = found
                self.layout = (
                    start,
                    tag,
                    re.compile(rf"<{re.escape(tag)}[\s>/]|</{re.escape(tag)}\s*>"),
                    re.compile(rf'<{re.escape(tag.lower())} data-pd-slot="(\d+)"></{re.escape(tag.lower())}>'),
                )
        split = self._split(html) if self.enabled else None
        if split is None:
            self.stats["whole"] += 1
            return self.inliner(html)
        pos, spans = split
        sources = [html[a:b] for a, b in spans]
        known = self.units.get(self.context) if self.context else None
        if known is not None and self.checks_left <= 0:
            expand = {i for i, s in enumerate(sources) if s not in known}
            if len(expand) < len(spans):
                out = self._spliced(html, spans, sources, expect=self.context, expand=expand)
                if out is not None:
                    self.stats["spliced"] += 1
                    return out
        with self._lock:
            return self._learn(html, pos, spans, sources)

    def _split(self, html: str):
        """The container's position and the spans of its leading units, or None."""
        start, tag, tokens, _ = self.layout  # type: ignore[misc]
        pos = html.find(start)
        if pos < 0 or html.find(start, pos + 1) >= 0:
            return None
        opener, spans, q, n = "<" + tag, [], pos + len(start), len(html)
        while True:
            r = _SPACE.match(html, q).end()  # type: ignore[union-attr]
            if not html.startswith(opener, r) or r + len(opener) >= n or html[r + len(opener)] not in " \t\n\r\f>/":
                break
            depth = 0
            for m in tokens.finditer(html, r):
                depth += -1 if m.group().startswith("</") else 1
                if not depth:
                    break
            else:
                return None
            spans.append((r, m.end()))
            q = m.end()
        return (pos, spans) if spans else None

    def _shell(self, html: str, spans, expand=()) -> str:
        tag = self.layout[1]  # type: ignore[index]
        out, pos = [], 0
        for i, (a, b) in enumerate(spans):
            out.append(html[pos:a])
            out.append(html[a:b] if i in expand else f'<{tag} data-pd-slot="{i}"></{tag}>')
            pos = b
        out.append(html[pos:])
        return "".join(out)

    def _spliced(self, html, spans, sources, expect=None, fresh=None, expand=frozenset()) -> str | None:
        """Inline the shell -- known units as placeholders, the units in
        ``expand`` as they are (learnt on the way) -- then put the known
        units' text in; None if the shell is not what the units were learnt in."""
        done = self.inliner.inline_tree(self._shell(html, spans, expand))
        if done is None:
            return None
        root, page, sheet_key = done
        slots = page.xpath("//*[@data-pd-slot]")
        if len(slots) != len(spans) - len(expand) or not slots:
            return None
        box = slots[0].getparent()
        children = list(box)[: len(spans)]
        tag = self.layout[1].lower()  # type: ignore[index]
        if len(children) != len(spans) or any(c.tag != tag for c in children) or any(s.getparent() is not box for s in slots):
            return None
        context = (sheet_key, _chain(box))
        if expect is not None and context != expect:
            return None
        known = fresh if fresh is not None else self.units.get(context)
        if known is None:
            return None
        learnt = self._units_of(sources, children, expand) if expand else {}
        if learnt is None:
            return None
        for i, el in enumerate(slots):
            el.attrib.clear()
            el.set("data-pd-slot", str(i))
        # placeholders are numbered in order among the units not expanded
        placed = [sources[i] for i in range(len(spans)) if i not in expand]
        out, found = self.layout[3].subn(lambda m: known[placed[int(m.group(1))]], serialise(root))  # type: ignore[index]
        if found != len(slots):
            return None
        if learnt:
            self._keep(context, learnt)
        return out

    def _units_of(self, sources, children, which) -> dict[str, str] | None:
        """The inlined text of the units ``which`` (indexes), or None if one of
        them is not a self-contained element (then nothing can be spliced)."""
        from lxml import etree

        out = {}
        for i in which:
            source, el = sources[i], children[i]
            count = _unit_elements(source)
            if count is None or count != sum(1 for _ in el.iter()):
                return None
            text = etree.tostring(el, method="html", pretty_print=True, encoding="utf-8", with_tail=False).decode("utf-8")
            out[source] = text[:-1] if text.endswith("\n") else text
        return out

    def _keep(self, context, learnt: dict[str, str]) -> None:
        """Remember units seen at least twice (a greeting with the
        subscriber's name recurs in no other email: not worth keeping)."""
        known = self.units.setdefault(context, {})
        seen = self._seen
        for source, text in learnt.items():
            h = hash(source)
            if h in seen:
                if len(known) >= self.max_units:
                    known.clear()
                known[source] = text
            else:
                if len(seen) >= 4 * self.max_units:
                    seen.clear()
                seen.add(h)

    def _learn(self, html, pos, spans, sources) -> str:
        """Inline the email whole (the answer), learn its units, check the splice."""
        start = self.layout[0]  # type: ignore[index]
        cut = pos + len(start) - 1  # mark the container (an attribute no selector sees)
        marked = html[:cut] + ' data-pd-box=""' + html[cut:]
        done = self.inliner.inline_tree(marked)
        if done is None:
            self.stats["whole"] += 1
            return self.inliner(html)
        root, page, sheet_key = done
        boxes = page.xpath("//*[@data-pd-box]")
        if len(boxes) != 1:
            self.stats["whole"] += 1
            return self.inliner(html)
        box = boxes[0]
        del box.attrib["data-pd-box"]
        whole = serialise(root)
        self.stats["whole"] += 1
        children = list(box)[: len(spans)]
        tag = self.layout[1].lower()  # type: ignore[index]
        if len(children) != len(spans) or any(c.tag != tag for c in children):
            return whole
        fresh = self._units_of(sources, children, range(len(spans)))
        if fresh is None:
            return whole  # a unit that is not self-contained: this email stays whole
        context = (sheet_key, _chain(box))
        if self._spliced(html, spans, sources, expect=context, fresh=fresh) != whole:
            log.debug("splicing disabled: a spliced email differs from the email inlined whole")
            self.enabled = False
            return whole
        known = self.units.setdefault(context, {})
        if len(known) + len(fresh) > self.max_units:
            known.clear()
        known.update(fresh)
        if context == self.context:
            self.checks_left -= 1
        else:
            self.context, self.checks_left = context, self.checks
        self.stats["learnt"] += 1
        self.stats["whole"] -= 1
        return whole


def _chain(el) -> tuple:
    out = []
    while el is not None:
        out.append((el.tag, el.get("id"), el.get("class")))
        el = el.getparent()
    return tuple(out)


# --------------------------------------------------------------------------- validate


def check_templates(config: Config) -> list[Problem]:
    """For ``newsletter validate``: the templates load, and render a sample
    digest (one paper with markup in its title, and an empty one) without error."""
    from .matching import Hit
    from .models import Paper

    try:
        composer = Composer(config)
        sub = (
            config.subscribers[0]
            if config.subscribers
            else Subscriber(email="preview@example.org", topics=[next(iter(config.topics))])
        )
        paper = Paper(
            title="A <sample> paper & its title",
            abstract="An abstract with <markup> & entities, long enough to be trimmed. " * 20,
            source="validate",
            authors=("A. Author", "B. Author"),
        )
        match = PaperMatch(paper, 2, (sub.topics[0],), ("sample",), (Hit("sample", "title", "sample"),))
        now = datetime(2024, 1, 1, 8, 0, tzinfo=ZoneInfo("UTC"))
        composer.compose(sub, [match], now=now, message_id="<validate@localhost>")
        composer.compose(sub, [], now=now, message_id="<validate@localhost>")
    except NewsletterError as exc:
        return list(exc.problems)
    return []
