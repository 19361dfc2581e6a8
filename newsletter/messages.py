"""Build the RFC 5322 message with the standard library's ``email`` package.

Every header value is checked for line breaks before it is set, so no text
from a config or a paper can add headers; subjects and display names with
non-ASCII text are RFC 2047-encoded by the ``email`` policy.
"""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from .config import Config, Subscriber, check_header_text


def _address(name: str | None, addr: str) -> Address:
    check_header_text(addr)
    if name:
        check_header_text(name)
    return Address(display_name=name or "", addr_spec=addr)


def sender_domain(config: Config) -> str:
    return parseaddr(config.email.from_)[1].rpartition("@")[2] or "localhost"


def new_message_id(config: Config) -> str:
    return make_msgid(idstring="digest", domain=sender_domain(config))


def build_message(
    config: Config,
    subscriber: Subscriber,
    *,
    subject: str,
    html: str,
    text: str,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """multipart/alternative: text/plain first, text/html last (the preferred part)."""
    from_name, from_addr = parseaddr(config.email.from_)
    msg = EmailMessage()
    msg["From"] = _address(from_name, from_addr)
    msg["To"] = _address(subscriber.name, subscriber.email)
    msg["Subject"] = check_header_text(subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = check_header_text(message_id)
    if config.email.reply_to:
        name, addr = parseaddr(config.email.reply_to)
        msg["Reply-To"] = _address(name, addr)
    unsubscribe = config.email.unsubscribe
    if unsubscribe:
        from urllib.parse import quote_plus

        url = check_header_text(unsubscribe.replace("{email}", quote_plus(subscriber.email)))
        msg["List-Unsubscribe"] = f"<{url}>"
        if url.startswith("https://"):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg
