"""The built message, parsed back with the standard library as a mail client would."""

from __future__ import annotations

import html as html_lib
import re
import shutil
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from conftest import BASIC_CONFIG, DATA, unwrapped, write_config
from smtp_server import smtp_server  # noqa: F401

from newsletter import pipeline
from newsletter.config import Subscriber, load_config
from newsletter.errors import ConfigError, TemplateError
from newsletter.messages import build_message
from newsletter.rendering import Composer

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

CONFIG = BASIC_CONFIG.replace("    name: Ada Lovelace\n", "    name: Ada Lövelace\n") + """
email:
  from: "Päper Digest <digest@example.org>"
  subject: "{{ count }} new: {{ sections[0].papers[0].title if count else 'nothing' }}"
  unsubscribe: "https://example.org/unsubscribe?u={email}"
"""


@pytest.fixture
def config(tmp_path):
    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "hostile-papers.txt", tmp_path / "papers" / "hostile.txt")
    write_config(tmp_path, CONFIG)
    return load_config(tmp_path / "config.yaml")


def parsed(composed):
    return message_from_bytes(composed.message.as_bytes(), policy=default)


def test_round_trip_headers_and_parts(config):
    digests = list(pipeline.match(config, pipeline.papers(config)))
    composer = Composer(config)
    for sub, matches in digests:
        composed = composer.compose(sub, matches, now=NOW)
        msg = parsed(composed)
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert msg["From"].addresses[0].display_name == "Päper Digest"
        assert msg["From"].addresses[0].addr_spec == "digest@example.org"
        to = msg["To"].addresses[0]
        assert to.addr_spec == sub.email and to.display_name == (sub.name or "")
        assert str(msg["Subject"]) == composed.subject
        assert msg["Date"].datetime == NOW
        assert msg["Message-ID"] == composed.message_id
        assert msg["List-Unsubscribe"] == f"<https://example.org/unsubscribe?u={sub.email.replace('@', '%40')}>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert html == composed.html and text == composed.text
        shown = html_lib.unescape(re.sub(r"<[^>]+>", "", html))  # what a reader sees
        assert matches
        for m in matches:
            assert m.paper.title in unwrapped(text) and m.paper.title in shown


def test_unicode_subject_is_rfc2047_encoded_and_survives(config):
    sub = config.subscriber("bob@example.org")
    (_, matches), = pipeline.match(config, pipeline.papers(config), sub.email)
    composed = Composer(config).compose(sub, matches, now=NOW)
    raw = composed.message.as_bytes()
    header = raw.split(b"\n\n", 1)[0]
    assert b"=?utf-8?" in header.lower() and "μLO".encode() not in header  # encoded on the wire
    assert "μLO" in composed.subject or "Schrödinger" in composed.subject
    assert str(parsed(composed)["Subject"]) == composed.subject
    assert all(ord(c) < 128 for c in header.decode("ascii"))


def test_mailto_unsubscribe_has_no_post_header(config):
    cfg = config.model_copy(update={"email": config.email.model_copy(update={"unsubscribe": "mailto:u@example.org?subject=unsubscribe"})})
    composed = Composer(cfg).compose(cfg.subscriber("ada@example.org"), [], now=NOW)
    msg = parsed(composed)
    assert msg["List-Unsubscribe"] == "<mailto:u@example.org?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] is None


def test_header_injection_is_rejected_at_build_time(config):
    evil = Subscriber.model_construct(email="ada@example.org", name="Ada\r\nBcc: all@example.org", topics=["diffusion"])
    with pytest.raises(ConfigError, match="line break"):
        build_message(config, evil, subject="s", html="<p>x</p>", text="x", message_id="<a@b>", date=NOW)
    ada = config.subscriber("ada@example.org")
    with pytest.raises(TemplateError, match="header injection"):
        build_message(config, ada, subject="hi\nBcc: x@example.org", html="", text="", message_id="<a@b>", date=NOW)


def test_subject_template_cannot_inject(config):
    cfg = config.model_copy(update={"email": config.email.model_copy(update={"subject": "{{ name }}\r\nBcc: x@example.org"})})
    composed = Composer(cfg).compose(cfg.subscriber("ada@example.org"), [], now=NOW)
    assert "\n" not in composed.subject and parsed(composed)["Bcc"] is None


def test_name_with_newline_rejected_at_config_load(tmp_path, cli):
    write_config(tmp_path, BASIC_CONFIG.replace("name: Ada Lovelace", 'name: "Ada\\nBcc: x@example.org"'))
    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "hostile-papers.txt", tmp_path / "papers" / "h.txt")
    r = cli("preview")
    assert r.code == 2 and "subscribers[0].name" in r.err and "line break" in r.err


# -- the direct writer: the same message as the email package's --------------------------

def meaning(data: bytes) -> tuple:
    """Every header decoded, and each part's type, charset, encoding and text."""
    msg = message_from_bytes(data, policy=default)
    headers = [(k, str(v)) for k, v in msg.items() if k != "Content-Type"]
    parts = [(p.get_content_type(), p.get_content_charset(), p["Content-Transfer-Encoding"], p.get_content())
             for p in msg.iter_parts()]
    return msg.get_content_type(), headers, parts


@pytest.mark.parametrize("name", [
    "Ada Lovelace", "Ada Lövelace", None, "A. Turing", 'Ada "the Countess" Lovelace', "Lovelace, Ada",
    "Ada " * 30, "Ωμέγα 𝔘nicode",
])
@pytest.mark.parametrize("subject", [
    "3 new papers: Diffusion models", "μLO & Schrödinger bridges", "x" * 120,
    "Words " * 30, "=?utf-8?q?not_an_encoded_word?=", "",
])
def test_writer_gives_the_email_package_message(config, name, subject):
    from newsletter.messages import MessageWriter, email_package_writer

    sub = Subscriber(email="ada@example.org", name=name, topics=["diffusion"])
    args = dict(subject=subject, html="<p>h\u00e9llo =</p>  \n" + "y" * 200 + "\n\n", text="Plain  \r\ntext é\n" + "z " * 100,
                message_id="<1.2@example.org>", date=NOW)
    fast, slow = MessageWriter(config)(sub, **args), email_package_writer(config)(sub, **args)
    assert meaning(fast) == meaning(slow)
    assert b"\r\n" in fast and b"\n" not in fast.replace(b"\r\n", b"")  # CRLF only, ready for SMTP
    assert all(len(line) <= 998 for line in fast.split(b"\r\n")) and max(fast) < 128
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in fast


def test_writer_reply_to_mailto_and_long_unsubscribe(config):
    from newsletter.messages import MessageWriter, email_package_writer

    for unsub in ("mailto:u@example.org?subject=unsubscribe", "https://example.org/" + "u" * 150 + "?e={email}"):
        cfg = config.model_copy(update={"email": config.email.model_copy(update={"unsubscribe": unsub, "reply_to": "Hélp <help@example.org>"})})
        sub = cfg.subscriber("ada@example.org")
        args = dict(subject="s", html="<p>x</p>", text="x", message_id="<a@b>", date=NOW)
        fast, slow = MessageWriter(cfg)(sub, **args), email_package_writer(cfg)(sub, **args)
        assert meaning(fast) == meaning(slow)
        assert (b"List-Unsubscribe-Post" in fast) == unsub.startswith("https")


def test_writer_quoted_printable_decodes_to_the_body_and_never_starts_a_line_with_a_dot():
    # No encoded line starts with a dot, so SMTP needs no dot-stuffing pass over
    # the message (Envelope.dot_safe): a "." line, or a soft line break just
    # before a dot, is written =2E, still at most 76 characters a line.
    import binascii

    from newsletter.messages import MessageWriter

    writer = MessageWriter.__new__(MessageWriter)
    writer._lines, writer.max_lines = {}, 3
    bodies = [
        "", "\n", "a  \n b\t\n", "=" * 200 + "\n", "é" * 100 + "  ", ("line " * 40 + "\n") * 3,
        "x.\n.\nFrom me\n", "." * 300 + "\n", ("a" * 75 + ".b") * 3 + "\n", ("é" * 24 + "." + "x" * 60) * 2,
    ]
    for body in bodies * 2:  # the second round comes from the line cache (which overflows and restarts)
        encoded = writer.quoted_printable(body)
        assert binascii.a2b_qp(encoded.replace(b"\r\n", b"\n")) == body.encode()
        lines = encoded.split(b"\r\n")
        assert not any(line.startswith(b".") for line in lines), body
        assert max(map(len, lines)) <= 76
        if "." not in body:
            assert encoded == binascii.b2a_qp(body.encode(), istext=True).replace(b"\n", b"\r\n")


def test_soft_breaks_moved_off_a_dot_fall_where_they_fell_escape_by_escape():
    """The lines re-wrapped around a dot are cut a line at a time now (a loop
    over each character took 18 times as long): every message keeps
    the bytes it had, each line as long as it can be without cutting an
    escape, which this reference builds one escape or character at a time."""
    import binascii
    import random

    from newsletter.messages import _rewrap_without_leading_dots

    def escape_by_escape(encoded: bytes) -> bytes:
        lines: list[bytes] = []
        current: list[bytes] = []
        width = 0
        for atom in re.findall(rb"=[0-9A-F]{2}|.", encoded.replace(b"=\n", b""), re.S):
            if width + len(atom) > 75:
                lines.append(b"".join(current) + b"=")
                current, width = [], 0
            if not current and atom == b".":
                atom = b"=2E"
            current.append(atom)
            width += len(atom)
        lines.append(b"".join(current))
        return b"\n".join(lines)

    rng = random.Random(11)
    checked = 0
    for _ in range(20000):
        line = "".join(rng.choice("ab .=\t é€.\x01..") for _ in range(rng.choice((1, 74, 75, 76, 77, 151, 152, 400))))
        encoded = binascii.b2a_qp(line.encode(), istext=True)
        if encoded.startswith(b".") or b"\n." in encoded:
            checked += 1
            assert _rewrap_without_leading_dots(encoded) == escape_by_escape(encoded), line
    assert checked > 5000


def test_composed_messages_need_no_dot_stuffing(tmp_path):
    # Templates that put "." and ".." alone on a line, in both parts.
    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "hostile-papers.txt", tmp_path / "papers" / "hostile.txt")
    (tmp_path / "tpl").mkdir()
    root = Path(__file__).resolve().parent.parent / "templates"
    for name in ("digest.html", "digest.txt"):
        text = (root / name).read_text(encoding="utf-8")
        (tmp_path / "tpl" / name).write_text(".\n..\n" + text + "\n.\n", encoding="utf-8")
    write_config(tmp_path, CONFIG + "templates: tpl\n")
    config = load_config(tmp_path / "config.yaml")
    sub = config.subscriber("ada@example.org")
    (_, matches), = pipeline.match(config, pipeline.papers(config), sub.email)
    composer = Composer(config)
    for share in (True, False):  # the shared-body path and the whole-render path
        composer.share_bodies = share
        composed = composer.compose(sub, matches, now=NOW)
        assert composed.text.startswith(".\n..\n") and "\n.\n" in composed.html
        assert composed.dot_safe
        assert b"\n." not in composed.data and not composed.data.startswith(b".")
        assert parsed(composed).get_body(("plain",)).get_content() == composed.text


def test_a_dot_line_arrives_whole_over_smtp(tmp_path, cli, smtp_server):
    # End to end: the server gets the text exactly, "." lines included.
    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "hostile-papers.txt", tmp_path / "papers" / "hostile.txt")
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "digest.txt").write_text(".\n{{ count }} papers\n.\n..\n", encoding="utf-8")
    write_config(
        tmp_path,
        CONFIG + f"templates: tpl\ndelivery:\n  transport: smtp\n  host: 127.0.0.1\n  port: {smtp_server.port}\n"
        "  security: none\n",
    )
    r = cli("send", "--now", NOW.isoformat())
    assert r.code == 0, r.err
    texts = [m.message.get_body(("plain",)).get_content().replace("\r\n", "\n") for m in smtp_server.mailbox.messages]
    assert sorted(texts) == [".\n2 papers\n.\n..\n", ".\n3 papers\n.\n..\n"]


def test_composed_data_is_what_the_message_says(config):
    sub = config.subscriber("ada@example.org")
    (_, matches), = pipeline.match(config, pipeline.papers(config), sub.email)
    composed = Composer(config).compose(sub, matches, now=NOW)
    assert composed.message.as_bytes() == composed.data.replace(b"\r\n", b"\n")
    assert composed.message.get_body(("html",)).get_content() == composed.html


def test_writer_rejects_injection(config):
    from newsletter.messages import MessageWriter

    writer = MessageWriter(config)
    evil = Subscriber.model_construct(email="ada@example.org", name="Ada\r\nBcc: all@example.org", topics=["diffusion"])
    with pytest.raises(ConfigError, match="line break"):
        writer(evil, subject="s", html="", text="", message_id="<a@b>", date=NOW)
    with pytest.raises(TemplateError, match="header injection"):
        writer(config.subscriber("ada@example.org"), subject="hi\nBcc: x@example.org", html="", text="", message_id="<a@b>", date=NOW)
    with pytest.raises(ConfigError, match="line break"):
        writer(config.subscriber("ada@example.org"), subject="s", html="", text="", message_id="<a@b>\nBcc: x", date=NOW)


@pytest.mark.parametrize("unsub, expected", [
    ("https://example.org/" + "u" * 900 + "?e={email}", "https://example.org/" + "u" * 900 + "?e=ada%40example.org"),
    ("https://example.org/désabonner?e={email}", "https://example.org/d%C3%A9sabonner?e=ada%40example.org"),
    ("mailto:dígest@example.org?subject=unsubscribe", "mailto:d%C3%ADgest@example.org?subject=unsubscribe"),
])
def test_list_unsubscribe_is_the_url_on_the_wire_never_encoded_words(config, unsub, expected):
    # RFC 2369: mail clients read the URL between the angle brackets as it is;
    # an RFC 2047 encoded word (what the email package makes of a non-ASCII or
    # over-long value) is not decoded there, so unsubscribing would break.
    from newsletter.messages import MessageWriter, email_package_writer

    cfg = config.model_copy(update={"email": config.email.model_copy(update={"unsubscribe": unsub})})
    sub = cfg.subscriber("ada@example.org")
    args = dict(subject="s", html="<p>x</p>", text="x", message_id="<a@b>", date=NOW)
    for write in (MessageWriter(cfg), email_package_writer(cfg)):
        data = write(sub, **args)
        assert f"\r\nList-Unsubscribe: <{expected}>\r\n".encode() in data
        assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_list_unsubscribe_too_long_for_a_header_line_is_a_config_error(config):
    from newsletter.messages import MessageWriter, email_package_writer

    cfg = config.model_copy(update={"email": config.email.model_copy(update={"unsubscribe": "https://example.org/" + "u" * 1000})})
    sub = cfg.subscriber("ada@example.org")
    for write in (MessageWriter(cfg), email_package_writer(cfg)):
        with pytest.raises(ConfigError, match="email.unsubscribe: .*too long"):
            write(sub, subject="s", html="", text="", message_id="<a@b>", date=NOW)


WEB = """
web:
  base_url: https://digest.example.org/news
  secret_env: DIGEST_MSG_SECRET
"""


@pytest.fixture
def web_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_MSG_SECRET", "message-test-secret-0123456789")
    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "hostile-papers.txt", tmp_path / "papers" / "hostile.txt")
    write_config(tmp_path, CONFIG.replace('  unsubscribe: "https://example.org/unsubscribe?u={email}"\n', "") + WEB)
    return load_config(tmp_path / "config.yaml")


def test_with_web_every_message_is_one_click_with_a_signed_link_and_a_mailto(web_config):
    from newsletter.messages import MessageWriter, email_package_writer
    from newsletter.tokens import links

    args = dict(subject="s", html="<p>x</p>", text="x", message_id="<a@b>", date=NOW)
    signer = links(web_config)
    for email in ("ada@example.org", "bob@example.org"):
        sub = web_config.subscriber(email)
        page = f"https://digest.example.org/news/unsubscribe/{signer.token(email)}"
        for write in (MessageWriter(web_config), email_package_writer(web_config)):
            data = write(sub, **args)
            assert f"\r\nList-Unsubscribe: <{page}>, <mailto:digest@example.org?subject=unsubscribe>\r\n".encode() in data
            assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in data
            assert signer.email(page.rpartition("/")[2]) == email  # the link names this subscriber, no other
        assert meaning(MessageWriter(web_config)(sub, **args)) == meaning(email_package_writer(web_config)(sub, **args))


def test_with_web_the_footer_links_to_the_same_page(web_config):
    from newsletter.tokens import links

    sub = web_config.subscriber("ada@example.org")
    (_, matches), = pipeline.match(web_config, pipeline.papers(web_config), sub.email, left={})
    composed = Composer(web_config).compose(sub, matches, now=NOW)
    page = links(web_config).unsubscribe_url(sub.email)
    assert f'href="{page}"' in composed.html
    assert f"Unsubscribe: {page}" in composed.text
    assert f"<{page}>" in composed.message["List-Unsubscribe"]


def test_with_web_a_configured_mailto_is_the_second_entry_and_long_lines_fold_between_entries(web_config):
    from newsletter.messages import MessageWriter, email_package_writer

    mailto = "mailto:unsubscribe@example.org?subject=" + "x" * 900
    cfg = web_config.model_copy(update={"email": web_config.email.model_copy(update={"unsubscribe": mailto})})
    sub = cfg.subscriber("ada@example.org")
    args = dict(subject="s", html="<p>x</p>", text="x", message_id="<a@b>", date=NOW)
    fast, slow = MessageWriter(cfg)(sub, **args), email_package_writer(cfg)(sub, **args)
    assert meaning(fast) == meaning(slow)
    assert f",\r\n <{mailto}>\r\n".encode() in fast  # folded between the two URLs, never inside one
    assert all(len(line) <= 998 for line in fast.split(b"\r\n"))
    header = str(message_from_bytes(fast, policy=default)["List-Unsubscribe"])
    assert header.startswith("<https://digest.example.org/news/unsubscribe/") and header.endswith(f"<{mailto}>")


def test_web_with_an_https_unsubscribe_is_a_located_config_error(tmp_path, monkeypatch):
    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "hostile-papers.txt", tmp_path / "papers" / "hostile.txt")
    path = write_config(tmp_path, CONFIG + WEB)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [str(p).replace(str(path), "config.yaml") for p in info.value.problems] == [
        "config.yaml:22: email.unsubscribe: with 'web:' set, the unsubscribe page is `newsletter serve`'s; "
        "email.unsubscribe may only give the mailto: address listed beside it"
    ]


@pytest.mark.parametrize("subject", [
    "12 new papers: Diffusion, Language models — Jürgen Müller",
    "— Jürgen",
    "Résumé: " + "très long sujet avec des espaces " * 6,
])
def test_a_non_ascii_subject_keeps_every_space(config, subject):
    # The email package's folding drops the space between an encoded word and
    # the next ("— Jürgen" -> "—Jürgen"): the writer encodes the whole subject.
    from email.header import decode_header, make_header

    from newsletter.messages import MessageWriter, parse_message

    sub = config.subscriber("ada@example.org")
    data = MessageWriter(config)(sub, subject=subject, html="<p>x</p>", text="x", message_id="<a@b>", date=NOW)
    assert str(parse_message(data)["Subject"]) == subject
    header = data.split(b"\r\n\r\n")[0].decode("ascii")
    folded = re.search(r"^Subject: ([^\r\n]*(?:\r\n [^\r\n]*)*)", header, re.M)
    assert folded is not None
    assert str(make_header(decode_header(folded.group(1).replace("\r\n ", " ")))) == subject
    assert all(len(line) <= 78 for line in header.split("\r\n"))


def test_without_an_unsubscribe_setting_the_from_address_takes_the_requests(workdir, cli):
    """Neither `email.unsubscribe` nor `web:` (as `newsletter init` writes it):
    the digest still says how to unsubscribe, in its headers and both parts,
    by mail to the From address (as the `web:` set-up's mailto: does)."""
    write_config(workdir, BASIC_CONFIG + 'email:\n  from: "Lab Digest <news@lab.example.org>"\n')
    assert cli("send").code == 0
    eml = sorted((workdir / "outbox").glob("*ada@example.org*.eml"))[0]
    msg = message_from_bytes(eml.read_bytes(), policy=default)
    assert msg["List-Unsubscribe"] == "<mailto:news@lab.example.org?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] is None  # a mailto: is not one-click
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Unsubscribe: mailto:news@lab.example.org?subject=unsubscribe" in text
    assert 'href="mailto:news@lab.example.org?subject=unsubscribe"' in html


def test_a_message_from_a_shared_body_s_pieces_is_the_message_from_its_bytes(config):
    """Composer hands MessageWriter.assemble a shared body's pieces unjoined
    (the message is then the one copy made of them): byte for byte the
    message the joined body gives."""
    import random

    from newsletter.messages import EncodedBody, MessageWriter

    tokens = ("Pdtok1E", "Pdtok1N", "Pdtok1U")
    text = "Hello Pdtok1N,\n\n.a line starting with a dot\n" + "ünïcode and a long line " * 20 + "\nbye Pdtok1E\n"
    html = "<p>Hi Pdtok1N</p>\n<p>" + "x" * 200 + "</p>\n<a href='Pdtok1U'>leave</a>"
    values = {tokens[0]: "ada@example.org", tokens[1]: "Ada Lövelace", tokens[2]: "https://example.org/u?x=1"}
    sub = config.subscriber("ada@example.org")
    writer = MessageWriter(config)
    made = []
    for joined in (True, False):
        bodies = [EncodedBody(part, tokens) for part in (text, html)]
        text_qp, html_qp = (b.fill(values) if joined else b.filled(values) for b in bodies)
        assert b"".join(bodies[0].filled(values)) == bodies[0].fill(values)
        random.seed(7)  # the MIME boundary
        made.append(writer.assemble(sub, subject="s", message_id="<m@example.org>", date=NOW,
                                    text_qp=text_qp, html_qp=html_qp))
    assert made[0] == made[1]
    empty = EncodedBody("", tokens)
    assert b"".join(empty.filled(values)) == empty.fill(values) == b"\r\n"


def test_a_shared_body_s_lines_come_from_the_writer_s_cache(config):
    """In a big send every digest is a body of its own, and its lines (the
    cards many subscribers get, the template's own) recur from digest to
    digest: the composer encodes them through the writer's line cache, the
    same bytes as encoding each line anew, bounded as that cache is."""
    from newsletter.messages import EncodedBody, MessageWriter

    tokens = ("Pdtok1E", "Pdtok1N", "Pdtok1U")
    values = {tokens[0]: "ada@example.org", tokens[1]: "Ada", tokens[2]: "https://example.org/u"}
    body = "Hi Pdtok1N\n" + ("a card line, é and =\n" + "." + "x" * 80 + "\n") * 3 + "bye Pdtok1E\n"
    writer = MessageWriter(config)
    cached = EncodedBody(body, tokens, writer.encoded_line)
    assert cached.fill(values) == EncodedBody(body, tokens).fill(values)
    assert set(writer._lines) == {"a card line, é and =", "." + "x" * 80, ""}
    writer._lines, writer.max_lines = {}, 2  # the third line finds it full: cleared, then filled again
    assert EncodedBody(body, tokens, writer.encoded_line).fill(values) == cached.fill(values)
    assert len(writer._lines) <= 2
    # the composer hands the cache to the bodies it shares
    sub = config.subscriber("ada@example.org")
    (_, matches), = pipeline.match(config, pipeline.papers(config), sub.email)
    composer = Composer(config)
    composed = composer.compose(sub, matches, now=NOW)
    assert composer.writer._lines and all("Pdtok" not in line for line in composer.writer._lines)
    assert parsed(composed).get_body(("plain",)).get_content() == composed.text


@pytest.mark.parametrize(("title", "shown"), [
    (None, "Päper Digest <paper-digest.example.org>"),  # the sender's name, RFC 2047-encoded on the wire
    ("ML digest", "ML digest <ml-digest.example.org>"),
    ("Digest, \"weekly\"", "<digest-weekly.example.org>"),  # no phrase that would need quoting
])
def test_every_digest_names_its_list_for_mail_clients_filters(config, title, shown):
    """RFC 2919's List-Id: Gmail's "filter messages like these", Thunderbird and
    Apple Mail file a list's messages by it; a digest had none, and was told
    from its sender's other mail by the From address alone."""
    from newsletter.messages import MessageWriter, email_package_writer

    if title is not None:
        config = config.model_copy(update={"email": config.email.model_copy(update={"title": title})})
    sub = config.subscriber("ada@example.org")
    args = dict(subject="s", html="<p>x</p>", text="x", message_id="<a@b>", date=NOW)
    fast, slow = MessageWriter(config)(sub, **args), email_package_writer(config)(sub, **args)
    assert meaning(fast) == meaning(slow)
    assert str(message_from_bytes(fast, policy=default)["List-Id"]) == shown
    assert fast.split(b"\r\n\r\n")[0].isascii()


def test_a_mailing_list_subscriber_gets_no_list_unsubscribe_and_no_link(web_config):
    """A list's digest carried the list address's one-click link: one member's
    click, or a mail client posting List-Unsubscribe, stopped it for the whole
    list.  With ``mailing_list: true`` its digests have neither header nor link
    (both writers, the shared body too); the personal subscriber keeps both."""
    from newsletter.messages import MessageWriter, email_package_writer

    listed = web_config.subscriber("bob@example.org").model_copy(update={"mailing_list": True})
    cfg = web_config.model_copy(update={"subscribers": [web_config.subscriber("ada@example.org"), listed]})
    args = dict(subject="s", html="<p>x</p>", text="x", message_id="<a@b>", date=NOW)
    for write in (MessageWriter(cfg), email_package_writer(cfg)):
        data = write(listed, **args)
        assert b"List-Unsubscribe" not in data and b"List-Id: " in data
        assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in write(cfg.subscribers[0], **args)
    assert meaning(MessageWriter(cfg)(listed, **args)) == meaning(email_package_writer(cfg)(listed, **args))
    papers = pipeline.papers(cfg)
    composer = Composer(cfg)
    for sub in cfg.subscribers:
        (_, matches), = pipeline.match(cfg, papers, sub.email, left={})
        composed = composer.compose(sub, matches, now=NOW)
        is_list = sub is listed
        assert (composed.message["List-Unsubscribe"] is None) is is_list
        assert ("/unsubscribe/" in composed.html) is not is_list and ("Unsubscribe: " in composed.text) is not is_list
        said = "It goes to a mailing list: to stop receiving it, leave the list."
        assert (said in composed.html) is is_list and (said in composed.text) is is_list
