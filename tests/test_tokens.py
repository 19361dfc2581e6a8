"""Signed subscription tokens: one subscriber each, unforgeable, not movable."""

from __future__ import annotations

import pytest
from conftest import BASIC_CONFIG, write_config

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
    ada, bob = signer.token("ada@example.org"), signer.token("bob@example.org")
    payload, _, signature = ada.partition(".")
    other = Links("https://digest.example.org", SECRET + "x").token("ada@example.org")
    flipped = ada[:-1] + ("A" if ada[-1] != "A" else "B")
    bad = [
        "",
        "garbage",
        ada[:-1],  # truncated
        ada[:10],
        flipped,  # altered signature
        "x" + ada,  # altered payload
        payload,  # no signature
        f"{bob.partition('.')[0]}.{signature}",  # Ada's signature moved onto Bob's address
        other,  # signed with another key
        signer._serializer.dumps(["ada@example.org"]),  # signed by us, but not an address
        signer._serializer.dumps("not an address"),
    ]
    for token in bad:
        with pytest.raises(BadToken):
            signer.email(token)


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
    used before check the links they signed; only the current one signs."""
    before = [Links("https://d.example.org", key) for key in OLD_KEYS.split()]
    signer = Links("https://d.example.org", SECRET, tuple(OLD_KEYS.split()))
    for old in before:
        assert signer.email(old.token("ada@example.org")) == "ada@example.org"
        assert signer.token("ada@example.org") != old.token("ada@example.org")  # new links: the current key
    ada_old = before[0].token("ada@example.org")
    payload, _, signature = ada_old.partition(".")
    bob_payload = before[0].token("bob@example.org").partition(".")[0]
    for token in (f"{bob_payload}.{signature}", ada_old[:-1], Links("https://d.example.org", SECRET + "x").token("ada@example.org")):
        with pytest.raises(BadToken):  # an old signature moved, cut, or a stranger's key: still refused
            signer.email(token)
    assert not [t for i in range(len(ada_old)) for c in "ABCabc019-_"
                if (t := ada_old[:i] + c + ada_old[i + 1:]) != ada_old and _taken(signer, t)]
    with pytest.raises(BadToken):  # without the old keys, as before
        Links("https://d.example.org", SECRET).email(ada_old)


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
