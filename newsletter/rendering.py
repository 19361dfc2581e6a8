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

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Sequence
from urllib.parse import quote_plus

import jinja2
from markupsafe import Markup, escape

from .config import Config, Subscriber, check_header_text
from .errors import TemplateError, Problem
from .matching import PaperMatch
from .messages import build_message, new_message_id

log = logging.getLogger(__name__)

HTML_TEMPLATE = "digest.html"
TEXT_TEMPLATE = "digest.txt"
TEMPLATE_NAMES = (HTML_TEMPLATE, TEXT_TEMPLATE, "style.css")


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

    message: EmailMessage
    subject: str
    html: str  # the HTML part exactly as sent (after CSS inlining)
    text: str
    message_id: str
    paper_ids: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def trim(text: str, limit: int) -> str:
    """Cut at a word boundary before ``limit`` characters; 0 means no limit."""
    text = " ".join(text.split())
    if not limit or len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.")
    return cut + "…"


def highlight(text: str, patterns: Sequence[re.Pattern]) -> Markup:
    """``text`` escaped, with every match of ``patterns`` wrapped in ``<mark>``."""
    spans = sorted((m.start(), m.end()) for p in patterns for m in p.finditer(text) if m.end() > m.start())
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


def paper_link(paper) -> str:
    if paper.url:
        return paper.url
    return f"https://arxiv.org/search/?query={quote_plus(paper.title)}&searchtype=title"


class Composer:
    """Builds the exact email for a subscriber; create once, compose many."""

    def __init__(self, config: Config) -> None:
        self.config = config
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

    def _load(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound:
            searched = ", ".join(str(d) for d in self.dirs)
            raise TemplateError(Problem(f"template {name!r} not found; searched: {searched}")) from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(Problem(f"template syntax error: {exc.message}", exc.filename or name, exc.lineno)) from None

    # -- the context the templates see ------------------------------------------------

    def context(self, subscriber: Subscriber, matches: Sequence[PaperMatch], now: datetime) -> dict:
        config = self.config
        limit = config.email.abstract_chars
        sections: dict[str, dict] = {}
        for key in subscriber.topics:
            sections[key] = {"key": key, "name": config.topic_name(key), "papers": []}
        for m in matches:
            patterns = [t.regex for k in m.topics for t in self.rules[k].any + self.rules[k].all]
            abstract = trim(m.paper.abstract, limit)
            sections[m.topics[0]]["papers"].append(
                {
                    "paper": m.paper,
                    "title": m.paper.title,
                    "title_html": highlight(m.paper.title, patterns),
                    "url": paper_link(m.paper),
                    "authors": list(m.paper.authors),
                    "abstract": abstract,
                    "abstract_html": highlight(abstract, patterns),
                    "terms": list(m.terms),
                    "score": m.score,
                    "upvotes": m.paper.upvotes,
                    "pdf_url": m.paper.pdf_url,
                    "topics": [config.topic_name(t) for t in m.topics],
                }
            )
        groups = [s for s in sections.values() if s["papers"]]
        for g in groups:
            g["count"] = len(g["papers"])
        topic_names = [g["name"] for g in groups]
        count = len(matches)
        local = now.astimezone(config.zone(subscriber))
        unsubscribe = config.email.unsubscribe
        if unsubscribe:
            unsubscribe = unsubscribe.replace("{email}", quote_plus(subscriber.email))
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
            "topics": topic_names,
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
            html = self.html_template.render(ctx)
            text = self.text_template.render(ctx)
        except jinja2.TemplateError as exc:
            raise TemplateError(Problem(f"template error: {exc}")) from None
        subject = " ".join(subject.split())
        check_header_text(subject)
        return subject, inline_css(html), text

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
        message = build_message(self.config, subscriber, subject=subject, html=html, text=text, message_id=message_id, date=now)
        warnings = []
        size = len(html.encode("utf-8"))
        if size > self.config.email.max_html_kb * 1024:
            warnings.append(
                f"digest for {subscriber.email}: HTML body is {size / 1024:.0f} KB, over "
                f"{self.config.email.max_html_kb} KB (Gmail clips messages at about 102 KB); lower max_papers or abstract_chars"
            )
        return Composed(message, subject, html, text, message_id, tuple(m.paper.id for m in matches), tuple(warnings))


def inline_css(html: str) -> str:
    """Move the ``<style>`` rules into ``style=""`` attributes (premailer); media
    queries and other rules that cannot be inlined stay in a ``<style>`` block."""
    import premailer

    return premailer.Premailer(
        html,
        allow_network=False,
        strip_important=False,
        cssutils_logging_level=logging.CRITICAL,
        disable_validation=True,
    ).transform()
