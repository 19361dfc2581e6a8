"""Subscription tokens: one subscriber each, unforgeable, not movable, the address not readable."""

from __future__ import annotations

import base64
import hashlib

import pytest
from conftest import BASIC_CONFIG, write_config
from itsdangerous import URLSafeSerializer

from newsletter.config import load_config
from newsletter.errors import ConfigError
from newsletter.tokens import MIN_SECRET_CHARS, BadToken, Links, links, secret_problem

SECRET = "test-secret-0123456789abcdef"
WEB = """
web:
  base_url: https://digest.example.org/news/
  secret_env: DIGEST_TEST_SECRET
"""


def test_a_token_names_one_subscriber_and_reads_back():
    signer = Links("https://digest.example.org", SECRET)
    ada = signer.token("ada@example.org")
    assert signer.email(ada) == "ada@example.org"
    assert signer.token("Ada@Example.ORG ") == ada  # one subscriber, however the config spells it
    assert signer.token("bob@example.org") != ada
    assert signer.email(signer.token("bob@example.org")) == "bob@example.org"
    assert Links("https://digest.example.org", SECRET).token("ada@example.org") == ada  # stable across runs
    assert signer.unsubscribe_url("ada@example.org") == f"https://digest.example.org/unsubscribe/{ada}"
    assert signer.resubscribe_url("ada@example.org") == f"https://digest.example.org/resubscribe/{ada}"


def test_forged_truncated_altered_or_moved_tokens_are_refused():
    signer = Links("https://digest.example.org", SECRET)
    ada = signer.token("ada@example.org")
    raw = _raw(ada)
    other = Links("https://digest.example.org", SECRET + "x").token("ada@example.org")
    flipped = ada[:-1] + ("A" if ada[-1] != "A" else "B")
    bad = [
        "",
        "garbage",
        ada[:-1],  # truncated
        ada[:-4],  # truncated by whole bytes
        ada[:10],
        flipped,  # altered ciphertext
        "x" + ada,
        ada + "A",
        ada + "=",  # base64 padding a token never carries
        _b64(bytes([1]) + raw[1:]),  # another version byte
        _b64(_raw(other)[:5] + raw[5:]),  # our body under another key's id
        _b64(raw + bytes(16)),  # one more pad block
        other,  # made with another key
        _b64(_raw(other)[:1] + raw[1:5] + _raw(other)[5:]),  # another key's token under our key id
        signer._key.seal("not an address"),  # made with our key, but not an address
        signer._key.seal("Ada@Example.org"),  # never made: addresses are sealed lower-cased
        "A" * 600,  # longer than any token: not even decoded
    ]
    for token in bad:
        with pytest.raises(BadToken):
            signer.email(token)
    assert signer.email(ada) == "ada@example.org"


def test_a_new_token_does_not_show_the_address():
    """The token carried the address in readable base64 (signed, not
    hidden): a forwarded digest, a proxy's log or a screenshot of the link
    gave the reader's address away.  Without the key nothing of it can be
    read from the token: not the address, its user or domain, nor its length
    within a pad block; two addresses a letter apart share nothing past the head."""
    signer = Links("https://digest.example.org", SECRET)
    ada, bob = signer.token("ada@example.org"), signer.token("bob@example.org")
    for token, address in ((ada, "ada@example.org"), (bob, "bob@example.org")):
        raw = _raw(token)
        for shift in range(3):  # base64 of the address at any alignment, and its bytes in the decoded token
            shown = base64.urlsafe_b64encode(b"\0" * shift + address.encode()).decode()[4:-4]
            assert shown not in token
        for part in address.encode().split(b"@") + [address.encode()]:
            assert part not in raw and part.decode() not in token
    assert len(ada) == len(bob) == len(signer.token("a@b.example")) == len(signer.token("x" * 20 + "@example.org"))
    ada2 = signer.token("adb@example.org")
    head = len(_b64(bytes(5))) - 1
    assert sum(a == b for a, b in zip(ada[head:], ada2[head:], strict=True)) < len(ada) // 4


#: Links in digests sent before the tokens were encrypted: the address signed
#: with itsdangerous (HMAC-SHA256), made by the code of that time with SECRET
#: and with the first of OLD_KEYS.  Every one of them must keep working.
SIGNED_BEFORE = "ImFkYUBleGFtcGxlLm9yZyI.GGaERXSIykq8LYe-p92WCJmCoxSRQThna0vWYdZIjs8"
SIGNED_BEFORE_OLD_KEY = "ImFkYUBleGFtcGxlLm9yZyI.cXHXZLpf8BUSB-Ovj_C_Rp388sN5pj0OvaztwRWIGUU"


def _signed(key: str, value) -> str:
    """A token as the signed links before were made (itsdangerous, the same salt and digest)."""
    serializer = URLSafeSerializer(key, salt="paper-digest.subscription.v1",
                                   signer_kwargs={"digest_method": hashlib.sha256})
    return serializer.dumps(value)


def test_links_signed_before_the_change_still_name_their_subscriber():
    signer = Links("https://digest.example.org", SECRET)
    assert signer.email(SIGNED_BEFORE) == "ada@example.org"
    assert _signed(SECRET, "bob@example.org").partition(".")[0] not in signer.token("bob@example.org")
    assert signer.email(_signed(SECRET, "bob@example.org")) == "bob@example.org"
    payload, _, signature = SIGNED_BEFORE.partition(".")
    bob_payload = _signed(SECRET, "bob@example.org").partition(".")[0]
    for token in (
        payload,  # no signature
        SIGNED_BEFORE[:-1],
        f"{bob_payload}.{signature}",  # Ada's signature moved onto Bob's address
        _signed(SECRET + "x", "ada@example.org"),  # another key
        _signed(SECRET, ["ada@example.org"]),  # signed by us, but not an address
        _signed(SECRET, "not an address"),
        SIGNED_BEFORE_OLD_KEY,  # an old key this signer was not given
    ):
        with pytest.raises(BadToken):
            signer.email(token)
    assert not [t for i in range(len(SIGNED_BEFORE)) for c in "ABCabc019-_."
                if (t := SIGNED_BEFORE[:i] + c + SIGNED_BEFORE[i + 1:]) != SIGNED_BEFORE and _taken(signer, t)]


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_every_token_changed_by_one_character_is_refused():
    """The last character of a base64 signature carries bits that decoding
    drops: 'Ptg4' and 'Ptg5' read as the same signature, so a token changed
    by one character was taken (the README says it is refused).  Only the
    token we make for the address is taken."""
    signer = Links("https://digest.example.org", SECRET)
    ada = signer.token("ada@example.org")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    taken = [changed for i in range(len(ada)) for c in alphabet
             if (changed := ada[:i] + c + ada[i + 1:]) != ada and _taken(signer, changed)]
    assert taken == []


def _taken(signer: Links, token: str) -> bool:
    try:
        signer.email(token)
    except BadToken:
        return False
    return True


def test_secret_comes_from_the_environment_and_must_be_long_enough(workdir, monkeypatch):
    config = load_config(write_config(workdir, BASIC_CONFIG + WEB))
    monkeypatch.delenv("DIGEST_TEST_SECRET", raising=False)
    problem = secret_problem(config)
    assert str(problem) == (
        f"{workdir / 'config.yaml'}:21: web.secret_env: environment variable DIGEST_TEST_SECRET is not set "
        "(it must hold the key that signs unsubscribe links, the same one `newsletter serve` checks them with; "
        "for a first key: "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )
    with pytest.raises(ConfigError, match="DIGEST_TEST_SECRET is not set"):
        links(config)
    monkeypatch.setenv("DIGEST_TEST_SECRET", "s" * (MIN_SECRET_CHARS - 1))
    assert "needs at least 16" in str(secret_problem(config))
    # a too-short key said only that: how to make one was said for an unset key alone
    assert str(secret_problem(config)).endswith(
        "needs at least 16 (a random one: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    assert "sss" not in str(secret_problem(config))  # the secret itself is never shown
    monkeypatch.setenv("DIGEST_TEST_SECRET", SECRET)
    assert secret_problem(config) is None
    signer = links(config)
    assert signer is not None and signer.base_url == "https://digest.example.org/news"
    assert signer.email(signer.token("bob@example.org")) == "bob@example.org"


def test_a_signing_key_with_a_line_break_is_refused_and_never_shown(workdir, cli):
    """An env file saved with Windows line endings leaves a "\\r" on the key:
    links signed with it fail wherever the key is read without it."""
    write_config(workdir, BASIC_CONFIG + WEB)
    r = cli("validate", env={"DIGEST_TEST_SECRET": SECRET + "\r"})
    assert r.code == 2
    assert r.err.splitlines() == [
        "config.yaml:21: web.secret_env: environment variable DIGEST_TEST_SECRET holds a line break (a carriage "
        "return: an env file saved with Windows line endings?); a signing key cannot hold one (not shown: it is "
        "the secret)"
    ]
    assert SECRET not in r.out + r.err
    r = cli("send", env={"DIGEST_TEST_SECRET": SECRET + "\n"})
    assert r.code == 2 and "holds a line break; a signing key cannot hold one" in r.err
    assert not (workdir / "outbox").exists()  # nothing went out with links that would not verify


def test_without_web_there_are_no_links(workdir):
    config = load_config(write_config(workdir, BASIC_CONFIG))
    assert links(config) is None and secret_problem(config) is None


def test_validate_names_the_unset_variable_with_file_and_line(workdir, cli):
    write_config(workdir, BASIC_CONFIG + WEB)
    r = cli("validate")
    assert r.code == 2
    assert r.err.splitlines() == [
        "config.yaml:21: web.secret_env: environment variable DIGEST_TEST_SECRET is not set "
        "(it must hold the key that signs unsubscribe links, the same one `newsletter serve` checks them with; "
        "for a first key: "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    ]
    # a GitHub Actions secret the repository lacks is an empty variable: "not set" sent them looking for a typo
    r = cli("validate", env={"DIGEST_TEST_SECRET": ""})
    assert r.code == 2 and "web.secret_env: environment variable DIGEST_TEST_SECRET is empty (it must hold" in r.err
    r = cli("validate", env={"DIGEST_TEST_SECRET": SECRET})
    assert r.code == 0, r.err
    assert SECRET not in r.out + r.err


OLD_KEYS = "an-older-key-0123456789 the-key-before-ABCDEFGHIJ"


def test_after_a_change_of_key_the_old_keys_still_check_the_links_they_signed():
    """Changing a leaked key broke the unsubscribe link of every digest
    already sent (the README could only say: keep the key stable).  The keys
    used before open the links they made, of either kind; only the current one makes links."""
    before = [Links("https://d.example.org", key) for key in OLD_KEYS.split()]
    signer = Links("https://d.example.org", SECRET, tuple(OLD_KEYS.split()))
    for old in before:
        assert signer.email(old.token("ada@example.org")) == "ada@example.org"
        assert signer.token("ada@example.org") != old.token("ada@example.org")  # new links: the current key
    assert signer.token("ada@example.org") == Links("https://d.example.org", SECRET).token("ada@example.org")
    assert signer.email(SIGNED_BEFORE_OLD_KEY) == "ada@example.org"  # signed with an old key, before the change
    assert signer.email(_signed(OLD_KEYS.split()[1], "bob@example.org")) == "bob@example.org"
    ada_old = before[0].token("ada@example.org")
    for token in (ada_old[:-1], Links("https://d.example.org", SECRET + "x").token("ada@example.org"),
                  _b64(_raw(signer.token("ada@example.org"))[:5] + _raw(ada_old)[5:])):
        with pytest.raises(BadToken):  # an old token cut, a stranger's key, an old body under the new key's id: refused
            signer.email(token)
    assert not [t for i in range(len(ada_old)) for c in "ABCabc019-_"
                if (t := ada_old[:i] + c + ada_old[i + 1:]) != ada_old and _taken(signer, t)]
    with pytest.raises(BadToken):  # without the old keys, as before
        Links("https://d.example.org", SECRET).email(ada_old)
    with pytest.raises(BadToken):
        Links("https://d.example.org", SECRET).email(SIGNED_BEFORE_OLD_KEY)


def test_old_keys_are_checked_at_their_line_and_never_shown(workdir, cli):
    write_config(workdir, BASIC_CONFIG + WEB + "  old_secret_env: DIGEST_OLD_KEYS\n")
    r = cli("validate", env={"DIGEST_TEST_SECRET": SECRET})
    assert r.code == 2
    assert r.err.splitlines() == [
        "config.yaml:22: web.old_secret_env: environment variable DIGEST_OLD_KEYS is not set (it must hold the keys "
        "that signed the links of digests already sent, separated by spaces; leave old_secret_env out when there are none)"
    ]
    r = cli("validate", env={"DIGEST_TEST_SECRET": SECRET, "DIGEST_OLD_KEYS": "an-older-key-0123456789 short"})
    assert r.code == 2 and r.err.splitlines() == [
        "config.yaml:22: web.old_secret_env: environment variable DIGEST_OLD_KEYS: its key 2 holds fewer than 16 "
        "characters: not a signing key (not shown)"]
    assert "short" not in r.err.replace("key 2 holds", "")
    r = cli("validate", env={"DIGEST_TEST_SECRET": SECRET, "DIGEST_OLD_KEYS": OLD_KEYS})
    assert r.code == 0, r.err
    assert not any(key in r.out + r.err for key in OLD_KEYS.split())
    # send signs with the current key only: it does not need the old ones
    assert cli("send", env={"DIGEST_TEST_SECRET": SECRET}).code == 0
