"""DKIM signing (newsletter/signing.py): every signature is checked by dkimpy,
an implementation other than ours, against the public key as DNS would give it
(the one thing faked: there is no DNS here)."""

from __future__ import annotations

import base64

import dkim
import pytest
from conftest import DATA, write_config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from smtp_server import smtp_server  # noqa: F401
from test_send import NOW, digests, setup, smtp

from newsletter import load_config
from newsletter.errors import ConfigError
from newsletter.signing import Signer, signer

KEY_ENV = "DIGEST_DKIM_KEY"


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def record(key) -> bytes:
    """The TXT record at SELECTOR._domainkey.DOMAIN."""
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def verified(message: bytes, key, name: bytes = b"digest2026._domainkey.example.org.") -> bool:
    def dns(asked: bytes, timeout: float = 5) -> bytes | None:
        return record(key) if asked == name else None

    return dkim.verify(message, dnsfunc=dns)


DKIM_ENV = f"""
email:
  from: "Paper Digest <digest@example.org>"
  unsubscribe: "mailto:digest@example.org?subject=unsubscribe"
  dkim:
    domain: example.org
    selector: digest2026
    key_env: {KEY_ENV}
web:
  base_url: https://digest.example.org
  secret_env: DIGEST_WEB_SECRET
"""
SECRET = {"DIGEST_WEB_SECRET": "s" * 40}


def with_dkim(folder, delivery: str = "  transport: outbox\n  path: outbox", dkim_block: str = DKIM_ENV):
    path = setup(folder, delivery)
    text = path.read_text().replace('email:\n  from: "Paper Digest <digest@example.org>"\n', "")
    path.write_text(text + dkim_block)
    return path


def test_send_signs_every_digest_over_smtp_and_the_signature_covers_one_click_unsubscribe(
    tmp_path, cli, smtp_server, rsa_key
):
    with_dkim(tmp_path, smtp(smtp_server.port))
    r = cli("send", "--now", NOW, env={KEY_ENV: pem(rsa_key), **SECRET})
    assert r.code == 0, r.err
    box = smtp_server.mailbox
    assert len(box.messages) == 2
    for received in box.messages:
        assert received.content.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;")
        assert verified(received.content, rsa_key)
        h = dkim.util.parse_tag_value(received.content.split(b"\r\nFrom:")[0].split(b":", 1)[1].replace(b"\r\n", b""))[b"h"]
        signed = [n.strip() for n in h.split(b":")]
        assert {b"list-unsubscribe", b"list-unsubscribe-post", b"from", b"subject", b"to"} <= set(signed)
        assert signed.count(b"list-unsubscribe") == 2  # listed once more than it occurs: none can be added
        assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert {status for _, status, *_ in digests(tmp_path)} == {"sent"}


def test_a_changed_or_added_header_or_body_breaks_the_signature(tmp_path, cli, rsa_key):
    with_dkim(tmp_path)
    assert cli("send", "--now", NOW, env={KEY_ENV: pem(rsa_key), **SECRET}).code == 0
    data = sorted((tmp_path / "outbox").glob("*.eml"))[0].read_bytes()
    assert verified(data, rsa_key)
    head, _, body = data.partition(b"\r\n\r\n")
    assert not verified(data.replace(b"Subject: ", b"Subject: Re: ", 1), rsa_key)
    assert not verified(head + b"\r\nList-Unsubscribe: <https://evil.example/>\r\n\r\n" + body, rsa_key)
    assert not verified(head + b"\r\n\r\n" + body.replace(b"=", b"=3D", 1), rsa_key)
    # what relays may do, relaxed canonicalisation lets through: re-folded headers, trailing blanks
    assert verified(head.replace(b"Subject: ", b"Subject:   ", 1) + b"\r\n\r\n" + body + b"\r\n\r\n", rsa_key)
    assert not verified(data, rsa_key, name=b"other._domainkey.example.org.")


def test_an_ed25519_key_signs_too_and_preview_shows_the_signed_message(tmp_path, cli):
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "dkim.pem").write_text(pem(key))
    with_dkim(tmp_path, dkim_block=DKIM_ENV.replace(f"key_env: {KEY_ENV}", "key_file: dkim.pem"))
    r = cli("preview", "--out", "preview", "--now", NOW, env=SECRET)
    assert r.code == 0, r.err
    emls = sorted((tmp_path / "preview").rglob("*.eml"))
    assert emls
    for eml in emls:
        data = eml.read_bytes()
        assert b"a=ed25519-sha256" in data.split(b"\r\nFrom:")[0]
        assert verified(data, key)


def test_validate_warns_of_a_key_file_other_users_can_read(tmp_path, cli, rsa_key):
    """`openssl genrsa -out dkim.pem` under the usual umask writes 0644: any
    user of the machine could sign mail as the domain, and nothing said so."""
    key_file = tmp_path / "dkim.pem"
    key_file.write_text(pem(rsa_key))
    key_file.chmod(0o644)
    path = with_dkim(tmp_path, dkim_block=DKIM_ENV.replace(f"key_env: {KEY_ENV}", "key_file: dkim.pem"))
    r = cli("validate", env=SECRET)
    assert r.code == 0, r.err
    line = _line_of(path, "key_file:")
    assert f"warning: config.yaml:{line}: email.dkim.key_file: 'dkim.pem' can be read by other users of this " \
           "machine (mode 644): anyone with the private key can sign mail as example.org; chmod 600 dkim.pem" \
           in r.err.splitlines()
    key_file.chmod(0o600)
    r = cli("validate", env=SECRET)
    assert r.code == 0 and "can be read by other users" not in r.err


def test_signer_reads_a_key_written_on_one_line_with_backslash_n(tmp_path, monkeypatch, rsa_key):
    """Env files and CI secrets often hold a PEM on one line, its line breaks as \\n."""
    path = with_dkim(tmp_path)
    monkeypatch.setenv(KEY_ENV, pem(rsa_key).replace("\n", "\\n"))
    monkeypatch.setenv("DIGEST_WEB_SECRET", "s" * 40)
    made = signer(load_config(path))
    assert isinstance(made, Signer) and made.algorithm == "rsa-sha256"
    assert verified(made(b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"), rsa_key)


def _line_of(path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(
    ("env", "key_file", "where", "message"),
    [
        ({}, None, "key_env", f"environment variable {KEY_ENV} is not set"),
        ({KEY_ENV: "not a key at all"}, None, "key_env", "does not hold a PEM private key"),
        (None, "missing.pem", "key_file", "missing.pem': no such file"),
        (None, "public.pem", "key_file", "holds a public key; signing needs the private key"),
        (None, "small.pem", "key_file", "an RSA key of 512 bits; DKIM needs at least 1024"),
        (None, "ec.pem", "key_file", "DKIM signs with RSA or Ed25519"),
        (None, "locked.pem", "key_file", "holds an encrypted key"),
    ],
)
def test_a_key_that_cannot_sign_is_one_line_at_its_place_and_nothing_is_sent(
    tmp_path, cli, rsa_key, env, key_file, where, message
):
    # (made with `openssl genrsa 512`: cryptography refuses to make one that small)
    (tmp_path / "small.pem").write_bytes((DATA / "dkim-rsa-512.pem").read_bytes())
    (tmp_path / "ec.pem").write_text(pem(ec.generate_private_key(ec.SECP256R1())))
    (tmp_path / "public.pem").write_bytes(
        rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "locked.pem").write_bytes(rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    ))
    block = DKIM_ENV if key_file is None else DKIM_ENV.replace(f"key_env: {KEY_ENV}", f"key_file: {key_file}")
    path = with_dkim(tmp_path, dkim_block=block)
    line = _line_of(path, f"{where}:")
    for command in (("validate",), ("send", "--now", NOW)):
        r = cli(*command, env={**SECRET, **(env or {})})
        assert r.code == 2, (command, r.err)
        assert f"config.yaml:{line}: email.dkim.{where}: " in r.err and message in r.err
        assert "Traceback" not in r.err and "not a key at all" not in r.err
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())


def test_a_signing_domain_other_than_the_senders_is_refused_at_its_line(tmp_path, cli, rsa_key):
    path = with_dkim(tmp_path, dkim_block=DKIM_ENV.replace("domain: example.org", "domain: mailer.example.net"))
    r = cli("validate", env={KEY_ENV: pem(rsa_key), **SECRET})
    assert r.code == 2
    assert f"config.yaml:{_line_of(path, 'domain: mailer')}: email.dkim.domain: 'mailer.example.net' is not the sender's domain" in r.err
    # a domain of the sender's organisation is aligned (DMARC relaxed alignment)
    with_dkim(tmp_path, dkim_block=DKIM_ENV.replace("domain: example.org", "domain: mail.example.org"))
    r = cli("validate", env={KEY_ENV: pem(rsa_key), **SECRET})
    assert r.code == 0, r.err
    # and validate says where the public key goes
    assert "DKIM-signed (public key at digest2026._domainkey.mail.example.org)" in r.out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("selector: digest2026", "selector: 'bad selector' is not a selector"),
        ("domain: example.org", "domain: 'localhost' is not a domain name"),
        (f"key_env: {KEY_ENV}", "give the private key as key_env"),
    ],
)
def test_dkim_settings_are_checked_where_they_are_written(tmp_path, change, message):
    replacement = {
        "selector: digest2026": "selector: bad selector",
        "domain: example.org": "domain: localhost",
        f"key_env: {KEY_ENV}": f"key_env: {KEY_ENV}\n    key_file: dkim.pem",
    }[change]
    path = write_config(tmp_path, with_dkim(tmp_path, dkim_block=DKIM_ENV.replace(change, replacement)).read_text())
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    assert "config.yaml:" in str(err.value) and "email.dkim" in str(err.value)


def test_a_mailing_lists_digest_leaves_list_unsubscribe_to_the_list_manager(tmp_path, cli, rsa_key):
    """A list manager adds its own List-Unsubscribe to what it passes on: oversigned, as it is in
    a personal digest (where none may be added), it broke the list digest's signature."""
    path = with_dkim(tmp_path)
    path.write_text(path.read_text().replace("    topics: [optim, diffusion]\n",
                                             "    topics: [optim, diffusion]\n    mailing_list: true\n"))
    assert cli("send", "--now", NOW, env={KEY_ENV: pem(rsa_key), **SECRET}).code == 0
    by_to = {}
    for eml in (tmp_path / "outbox").glob("*.eml"):
        data = eml.read_bytes()
        by_to[b"bob@example.org" in data.split(b"\r\n\r\n")[0]] = data
    listed, personal = by_to[True], by_to[False]
    assert b"\r\nList-Unsubscribe:" not in listed.split(b"\r\n\r\n")[0]
    for data, still in ((listed, True), (personal, False)):
        assert verified(data, rsa_key)
        head, _, body = data.partition(b"\r\n\r\n")
        added = head + b"\r\nList-Unsubscribe: <mailto:leave@lists.example.org>\r\nList-Unsubscribe-Post: " \
            b"List-Unsubscribe=One-Click\r\n\r\n" + body
        assert verified(added, rsa_key) is still
        # the rest is oversigned as before: a second Subject breaks either
        assert not verified(head + b"\r\nSubject: other\r\n\r\n" + body, rsa_key)
