"""What an SMTP refusal is about: the address, or something else.

Only a refusal of the *address* may count towards holding a subscriber's
digest (three runs of it hold the digest for good).  A refusal for the
message's size, its content, a full mailbox, the sender, this client, the
account's sending limit or the receiving server's own trouble is no fault of
the address, and counting it held digests that a later run would have
delivered.

A refusal is classified by its enhanced status code (RFC 3463 ``class.subject.
detail``, as ``550 5.1.1``) through one small table of the codes that mean
one thing whoever sends them.  The servers' wording decides only where the
code is not in it, being ambiguous: ``5.7.1`` (Postfix and Gmail give it for
relaying, spam, the sender, this client and unknown recipients alike), a
detail ``0`` ("other"), a detail a vendor made up (Microsoft's ``5.2.252
SendAsDenied``), ``5.4.5`` (RFC 3463's congestion, Gmail's daily sending
limit), ``5.4.1`` (Microsoft 365's unknown recipient), ``5.5.2`` (Postfix's
HELO refusal), or no enhanced code at all.  Words that say nothing known
leave it to the code's subject (RFC 3463 groups the details by subject:
addressing, mailbox, mail system, ..., content) and then to the basic reply
code (RFC 5321 4.2.3).  One pattern per kind of refusal, tried on every
reply whatever its code, read "550 5.1.1 ... User unknown in relay recipient
table" as a refusal to relay and missed each kind a server worded otherwise.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .patterns import lazy


class About(enum.Enum):
    """What a refusal is about (see the module's docstring)."""

    ADDRESS = "the address"  # the one kind that may hold a digest
    MAILBOX_FULL = "a full mailbox"
    SIZE = "the message's size"
    CONTENT = "the message's content"
    SPAM = "spam"  # (content, said so in words)
    UNAUTHENTICATED = "the sender's authentication"
    RELAY = "relaying"
    SENDER = "the sender"
    CLIENT = "this client"
    LOGIN = "the login"
    LIMIT = "the account's sending limit"
    SERVER = "the receiving server"  # its system, network or protocol
    CLOSING = "the session"  # 421: the server is closing it


A = About  # (short, for the tables)
#: RFC 3463's subject.detail codes whose meaning does not depend on the
#: wording (RFC 3463 section 3, RFC 7372, RFC 7505, RFC 6531, the IANA
#: registry's later ones).  Left out, and so decided by the words: every
#: "other" (X.Y.0), those used otherwise in practice (X.7.1: relaying, spam,
#: the sender, this client, an unknown recipient; Gmail's 5.4.5 sending limit
#: against RFC 3463's congestion; Microsoft 365's 5.4.1 unknown recipient
#: against "no answer from host"; Postfix's 5.5.2 HELO refusal against
#: "syntax error"; Yahoo's 5.7.2 and 5.7.9), and the details vendors made up
#: (5.2.252 SendAsDenied, 5.7.606 banned sending IP).
_BY_STATUS: dict[tuple[int, int], About] = {
    # addressing (X.1): the recipient's, but for the sender's own (X.1.7, X.1.8)
    (1, 1): A.ADDRESS, (1, 2): A.ADDRESS, (1, 3): A.ADDRESS, (1, 4): A.ADDRESS, (1, 6): A.ADDRESS,
    (1, 10): A.ADDRESS,  # the recipient's domain has a null MX (RFC 7505)
    (1, 7): A.SENDER, (1, 8): A.SENDER,
    # mailbox (X.2)
    (2, 1): A.ADDRESS, (2, 2): A.MAILBOX_FULL, (2, 3): A.SIZE, (2, 4): A.ADDRESS,
    # mail system (X.3): the receiving server's, but for the message's size (X.3.4)
    (3, 1): A.SERVER, (3, 2): A.SERVER, (3, 3): A.SERVER, (3, 4): A.SIZE, (3, 5): A.SERVER,
    # network and routing (X.4): the journey's, but for a recipient's domain that cannot be routed (X.4.4)
    (4, 2): A.SERVER, (4, 3): A.SERVER, (4, 4): A.ADDRESS, (4, 6): A.SERVER, (4, 7): A.SERVER,
    # mail delivery protocol (X.5)
    (5, 1): A.SERVER, (5, 3): A.SERVER, (5, 4): A.SERVER, (5, 5): A.SERVER, (5, 6): A.SERVER,
    # message content or media (X.6), but for a non-ASCII address (X.6.7, RFC 6531)
    (6, 1): A.CONTENT, (6, 2): A.CONTENT, (6, 3): A.CONTENT, (6, 4): A.CONTENT, (6, 5): A.CONTENT,
    (6, 6): A.CONTENT, (6, 7): A.ADDRESS, (6, 8): A.CONTENT, (6, 9): A.CONTENT,
    # security or policy (X.7); not X.7.2 and X.7.9 (list expansion, a weak mechanism), which Yahoo gives for
    # refusing a client ("553 5.7.2 [TSS09] All messages from ...") and a message ("554 5.7.9 Message not
    # accepted for policy reasons")
    (7, 8): A.LOGIN,  # authentication credentials invalid
    # encryption needed, encryption required for the mechanism, a password transition needed, trust relationship
    # required (RFC 5248, RFC 4954, RFC 4468): the login's, every message's alike, never the address's
    (7, 10): A.LOGIN, (7, 11): A.LOGIN, (7, 12): A.LOGIN, (7, 14): A.LOGIN,
    (7, 15): A.SERVER,  # priority level too low (RFC 6710): the receiving server's policy of the day
    (7, 13): A.ADDRESS, (7, 17): A.ADDRESS, (7, 18): A.ADDRESS,  # account disabled, mailbox or domain owner changed
    (7, 16): A.SIZE,  # too big for the priority asked
    **{(7, d): A.UNAUTHENTICATED for d in (20, 21, 22, 23, 24, 26)},  # DKIM, SPF, DMARC (RFC 7372)
    (7, 25): A.CLIENT,  # this client's IP address failed reverse DNS (RFC 7372 3.3): no fault of the sender's domain
    (7, 27): A.SENDER,  # the sender address's domain has a null MX (RFC 7505): it cannot take replies, not signing
}
#: The rest of the subjects whose every code says what it is about (RFC 3463
#: section 3.2-3.4, 3.7); an unknown or "other" network, protocol or policy
#: code ("550 5.5.0 Requested action not taken: mailbox unavailable") goes
#: by the basic reply code.
_BY_SUBJECT = {1: A.ADDRESS, 2: A.ADDRESS, 3: A.SERVER, 6: A.CONTENT}
#: Basic reply codes that say it whatever follows them (RFC 5321, RFC 4954, RFC 7504).
_FIXED_REPLIES = {421: A.CLOSING, 530: A.LOGIN, 534: A.LOGIN, 535: A.LOGIN, 538: A.LOGIN}
#: Basic reply codes without an enhanced code, or with an ambiguous one the words did not decide.
#: 552 is "exceeded storage allocation" (RFC 5321 4.2.3): a full mailbox, as X.2.2, never held (filed
#: under the address, three runs held the digest of a subscriber whose mailbox was full); at MAIL FROM,
#: which knows no mailbox, it is the message's size (RFC 1870).
_BY_REPLY = {451: A.SERVER, 452: A.SERVER, 455: A.SERVER, 500: A.SERVER, 501: A.SERVER, 502: A.SERVER,
             503: A.SERVER, 504: A.SERVER, 552: A.MAILBOX_FULL, 555: A.SERVER}

#: The words that decide an ambiguous code, tried in this order.
_WORDED: tuple[tuple[About, re.Pattern[str]], ...] = (
    # Gmail's "550 5.4.5 Daily user sending limit exceeded" or "... quota exceeded", Outlook's
    # "SubmissionQuotaExceededException", Amazon SES's "454 Throttling failure: Daily message quota exceeded"
    (A.LIMIT, lazy(r"\bsending (?:limit|quota)\b|\bsubmission ?quota|"
                         r"\b(?:daily|hourly) (?:user )?(?:message |recipient )?(?:limit|quota)\b", re.IGNORECASE)),
    # Postfix checks the sender at RCPT (smtpd_delay_reject): "553 5.7.1 <...>: Sender address rejected: not
    # owned by user"; Microsoft 365 after the data: "554 5.2.252 SendAsDenied; ... not allowed to send as ..."
    # Exim's sender callout, at RCPT: "550 Sender verify failed"; Microsoft 365's "5.7.511 Access denied, banned sender"
    (A.SENDER, lazy(r"\bSender address rejected\b|\bSendAsDenied\b|\bSender verify failed\b|\bbanned sender\b|"
                          r"\bnot (?:allowed|authori[sz]ed|permitted) to send (?:as|from|on behalf of)\b", re.IGNORECASE)),
    # Postfix's refusal of this client or its HELO name ("Client host [192.0.2.7] blocked using
    # zen.spamhaus.org", "Helo command rejected"); "Recipient address rejected" is the address's
    # Exim's "rejected because 192.0.2.7 is in a black list at zen.spamhaus.org", Microsoft 365's "5.7.606 Access
    # denied, banned sending IP [192.0.2.7]" and "5.7.708 Access denied, traffic not accepted from this IP"
    (A.CLIENT, lazy(r"\b(?:Client host|Helo command) rejected\b|\bClient host \[[^\]]*\] blocked\b|"
                          r"\bis in an? (?:black|block)[- ]?list\b|\bbanned sending IP\b|\bnot accepted from this IP\b",
                          re.IGNORECASE)),
    (A.ADDRESS, lazy(r"\bRecipient address rejected\b", re.IGNORECASE)),
    # Gmail's "452 4.2.2 ... out of storage space", Dovecot's "Quota exceeded (mailbox for user is full)"
    (A.MAILBOX_FULL, lazy(r"\bmailbox (?:is )?full\b|\bover (?:its |the |their )?quota\b|\bout of storage\b|"
                                r"\bquota exceeded\b", re.IGNORECASE)),
    # older servers, without RFC 7372's codes: "550 5.7.1 SPF fail - not authorized"
    (A.UNAUTHENTICATED, lazy(r"\b(?:SPF|DKIM|DMARC)\b")),
    # Gmail's "550 5.7.1 ... likely unsolicited mail"; not "spamhaus" (a blocklist of this client, above)
    # Yahoo's "554 5.7.9 Message not accepted for policy reasons" (its sender's standing or its content)
    (A.SPAM, lazy(r"\bspam\b|\bunsolicited\b|\bcontent filter|\bnot accepted for policy reasons\b",
                        re.IGNORECASE)),
    # Postfix "Relay access denied", Sendmail "Relaying denied", Exchange "Unable to relay"
    (A.RELAY, lazy(r"\brelay(?:ing)?\b", re.IGNORECASE)),
    (A.SIZE, lazy(r"\b(?:message )?size\b|too (?:big|large)", re.IGNORECASE)),
)
#: Words that name the recipient as unknown or its mailbox as unusable, which
#: a refusal after the recipient was accepted (to DATA, or to the message's
#: data) may still say: a server that checks its recipients only once the
#: message is in (a front end passing it on to the mailbox's server, an LMTP
#: back end).  RFC 5321's own 550 text ("Requested action not taken: mailbox
#: unavailable") among them: read as the message's, a dead address behind
#: such a server was retried every run for ever (exit 1 each run), never held.
#: ("Sender address rejected" is the sender's, decided before these.)
_ADDRESS_AFTER_DATA = lazy(r"\b(?:user|recipient|mailbox|address) (?:unknown|not found)\b|"
                           r"\bunknown (?:user|recipient|mailbox)\b|\bno such (?:user|recipient|mailbox)\b|"
                           r"\binvalid (?:recipient|mailbox)\b|\bdoes ?n[o']t exist\b|"
                           r"\bmailbox (?:is )?(?:unavailable|disabled)\b|\bmailbox name not allowed\b|"
                           r"\baddress rejected\b", re.IGNORECASE)
#: RFC 3463's enhanced code right after the reply code (RFC 2034), each line
#: of a multi-line reply repeating it; or, from a server that writes it
#: later in its text, the first one of the reply's own class.
_ENHANCED = lazy(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


@dataclass(frozen=True)
class Refusal:
    """One refusal, classified (see :func:`classify`)."""

    code: int  # the basic reply code, 4yz or 5yz
    status: tuple[int, int, int] | None  # the enhanced code, when the reply has one
    about: About

    @property
    def permanent(self) -> bool:
        return self.code >= 500


def enhanced_status(code: int, text: str) -> tuple[int, int, int] | None:
    """The reply's enhanced status code (RFC 3463): the first of the basic
    code's class, passing over one of another class quoted before it ("550
    ... was 4.4.1, now 5.3.2 ..."), which read as no code at all and left the
    refusal to the basic 550, the address's."""
    for found in _ENHANCED.finditer(text):
        if int(found[1]) == code // 100:
            return int(found[1]), int(found[2]), int(found[3])
    return None


def classify(code: int, text: str, *, accepted: bool = False) -> Refusal:
    """What the refusal ``code`` ``text`` (the reply's text, without the
    code) is about: the basic code where it alone says it, else the table of
    enhanced codes, else the words where the code is ambiguous, else the
    code's subject, else the basic code.

    ``accepted``: the refusal came after the server accepted the recipient
    (``250`` to RCPT TO; it answers DATA or the message's data).  What no
    code or words decide is then the message's (RFC 5321's "554 Transaction
    failed"), not the address's: the server took the address.  Filed under
    the address, a content filter refusing one subscriber's digest with a
    bare ``554`` (one link in it, say) held that subscriber's mail after
    three runs; words naming the recipient unknown or its mailbox
    unavailable (RFC 5321's own 550 text) still make it the address's."""
    status = enhanced_status(code, text)
    if code in _FIXED_REPLIES:
        return Refusal(code, status, _FIXED_REPLIES[code])
    if status is not None and (about := _BY_STATUS.get(status[1:])) is not None:
        return Refusal(code, status, about)
    for about, words in _WORDED:
        if words.search(text):
            return Refusal(code, status, about)
    if status is not None and status[1] in _BY_SUBJECT:
        return Refusal(code, status, _BY_SUBJECT[status[1]])
    if accepted and not _ADDRESS_AFTER_DATA.search(text):
        return Refusal(code, status, _BY_REPLY.get(code, A.CONTENT))
    return Refusal(code, status, _BY_REPLY.get(code, A.ADDRESS))
