"""``newsletter serve``: the app driven over HTTP (Starlette's test client, and a
real uvicorn on 127.0.0.1 started by the real command), with a real SQLite state."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import warnings
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

with warnings.catch_warnings():  # newer Starlette suggests httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from conftest import ROOT, query, run_newsletter, sessions_left, write_config

from newsletter.config import load_config
from newsletter.errors import ConfigError
from newsletter.state import State
from newsletter.tokens import links
from newsletter.web import MAX_BODY, create_app

SECRET = "web-test-secret-0123456789"
T0 = datetime(2024, 5, 6, 10, 30, tzinfo=UTC)
HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nbyAK and the research community\n\nSep 4\n\n"

CONFIG = """
sources:
  - type: hf-papers-text
    path: papers/
topics:
  diffusion:
    name: Diffusion models
    any: ["diffusion model*"]
subscribers:
  - email: ada@example.org
    name: Ada Lovelace
    topics: [diffusion]
  - email: bob@example.org
    topics: [diffusion]
email:
  from: "Paper Digest <digest@example.org>"
web:
  base_url: https://digest.example.org/news
  secret_env: DIGEST_WEB_SECRET
"""


def add_papers(folder: Path, name: str, titles: list[str]) -> None:
    papers = folder / "papers"
    papers.mkdir(exist_ok=True)
    body = "".join(f"{t}\n\nWe study {t.lower()} and report results.\n\n" for t in titles)
    (papers / name).write_text(HEADER + body, encoding="utf-8")


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_WEB_SECRET", SECRET)
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    return load_config(write_config(tmp_path, CONFIG))


@pytest.fixture
def client(config):
    with TestClient(create_app(config, now=lambda: T0), base_url="https://digest.example.org") as c:
        yield c


def path_for(config, address: str, kind: str = "unsubscribe") -> str:
    signer = links(config)
    url = signer.unsubscribe_url(address) if kind == "unsubscribe" else signer.resubscribe_url(address)
    return urlsplit(url).path


def unsubscribed(config) -> dict:
    with State.open(config.state_path, readonly=True) as state:
        return state.unsubscribed()


ONE_CLICK_MULTIPART = (
    "--FormBoundaryjWmhtjORrn\r\n"
    'Content-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
    "One-Click\r\n"
    "--FormBoundaryjWmhtjORrn--\r\n"
)


def test_get_shows_a_button_that_posts_the_one_click_form_and_changes_nothing(config, client):
    path = path_for(config, "ada@example.org")
    for _ in range(3):  # link scanners fetch a link again and again
        r = client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert '<form method="post" action="">' in r.text
        assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in r.text
        assert "a***@example.org" in r.text and "ada@" not in r.text
        assert client.head(path).status_code in (200, 405)
    assert not config.state_path.exists()  # a GET does not even open the state
    # The button's form, posted as a browser would, unsubscribes.
    r = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert unsubscribed(config) == {"ada@example.org": T0}


def test_a_link_with_a_slash_after_its_token_is_answered_in_place_not_redirected(config, client):
    """Starlette answered a 307 to the slashless URL, built from this
    server's own host and without the prefix a proxy strips: the page was
    lost behind such a proxy, and a POST is not followed through one."""
    path = path_for(config, "ada@example.org") + "/"
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 200 and '<form method="post" action="">' in r.text
    assert not config.state_path.exists()
    r = client.post(path, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    assert r.status_code == 200
    assert unsubscribed(config) == {"ada@example.org": T0}
    # the page's re-subscribe button posts where that endpoint is, and back
    action = re.search(r'<form method="post" action="([^"]*)"', r.text).group(1)
    again = urljoin(f"https://digest.example.org{path}", action)
    assert urlsplit(again).path == path_for(config, "ada@example.org", "resubscribe") + "/"
    r = client.post(again, data={"resubscribe": "yes"}, follow_redirects=False)
    assert r.status_code == 200 and unsubscribed(config) == {}
    back = urljoin(again, re.search(r'<form method="post" action="([^"]*)"', r.text).group(1))
    assert urlsplit(back).path == path
    assert client.get("/healthz/", follow_redirects=False).status_code == 200
    assert client.get("/nothing/", follow_redirects=False).status_code == 404


def test_one_click_post_as_mail_providers_send_it(config, client):
    # RFC 8058, section 8: multipart/form-data with the one field.
    r = client.post(
        path_for(config, "ada@example.org"),
        content=ONE_CLICK_MULTIPART,
        headers={"Content-Type": "multipart/form-data; boundary=FormBoundaryjWmhtjORrn"},
    )
    assert r.status_code == 200
    assert unsubscribed(config) == {"ada@example.org": T0}
    # Again (providers retry): still 2xx, still one record, the first time kept.
    assert client.post(path_for(config, "ada@example.org"), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert unsubscribed(config) == {"ada@example.org": T0}


def test_a_post_asking_something_else_changes_nothing(config, client):
    path = path_for(config, "ada@example.org")
    for data in ({"List-Unsubscribe": "Yes"}, {"unsubscribe": "One-Click"}, {"resubscribe": "yes"}):
        r = client.post(path, data=data)
        assert r.status_code == 400, data
    r = client.post(path, content=b"subject=unsubscribe", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400
    r = client.post(path, content=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 400
    r = client.post(path, content=b"List-Unsubscribe=One-Click&" + b"x" * MAX_BODY,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert unsubscribed(config) == {}


#: One-click POSTs as clients send them beside RFC 8058's form: the field as
#: text/plain or with no Content-Type, a line break after it, its value in
#: other case, or no body at all (a Thunderbird add-on's).  Each got 400 and
#: the reader who clicked "Unsubscribe" stayed subscribed.
CLIENTS_ONE_CLICK = [
    ({"Content-Type": "text/plain"}, b"List-Unsubscribe=One-Click"),
    ({}, b"List-Unsubscribe=One-Click"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"List-Unsubscribe=One-Click\r\n"),
    ({"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}, b"List-Unsubscribe=one-click"),
    ({}, b""),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b""),
]


def test_one_click_posts_as_other_clients_send_them_unsubscribe_on_the_real_server(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_WEB_SECRET", SECRET)
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    config = load_config(write_config(tmp_path, CONFIG))
    signer = links(config)
    addresses = [f"reader{n}@example.org" for n in range(len(CLIENTS_ONE_CLICK))]
    with serving(tmp_path) as (base, _), httpx.Client(follow_redirects=False) as http:
        for address, (headers, body) in zip(addresses, CLIENTS_ONE_CLICK, strict=True):
            path = urlsplit(signer.unsubscribe_url(address)).path
            r = http.post(base + path, content=body, headers=headers)
            assert r.status_code == 200 and "Unsubscribed" in r.text, (headers, body, r.status_code)
    got = query(tmp_path / "newsletter-state.sqlite3", "SELECT email FROM unsubscribed ORDER BY email")
    assert got == [(a,) for a in sorted(addresses)]


def test_a_malformed_form_leaves_no_line_in_the_log(config, client, caplog):
    # The multipart parser logged each broken body as a warning ("Expected
    # boundary character ..."): anyone could add lines to the operator's log.
    path = path_for(config, "ada@example.org")
    with caplog.at_level(logging.DEBUG):
        for body in (b"garbage", b"--x\r\nbroken", b"--xyz\r\nContent-Disposition: form-data\r\n\r\nv\r\n--xyz--\r\n"):
            r = client.post(path, content=body, headers={"Content-Type": "multipart/form-data; boundary=xyz"})
            assert r.status_code == 400
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and not r.name.startswith("httpx")]  # (not the client)
    assert logged == []
    assert unsubscribed(config) == {}


def test_forged_truncated_or_altered_tokens_get_4xx_and_change_nothing(config, client):
    path = path_for(config, "ada@example.org")
    prefix, _, token = path.rpartition("/")
    signed = _signed(SECRET, "ada@example.org")  # a link of a digest sent before tokens were encrypted
    bob_payload = _signed(SECRET, "bob@example.org").partition(".")[0]
    forged = [
        token[:-1],
        token[:-5],
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        "x" + token,
        signed[:-1],
        signed.partition(".")[0],
        bob_payload + "." + signed.partition(".")[2],  # Ada's signature on Bob's address
        "eve",
    ]
    for bad in forged:
        for method in ("get", "post"):
            r = getattr(client, method)(f"{prefix}/{bad}", **({"data": {"List-Unsubscribe": "One-Click"}} if method == "post" else {}))
            assert 400 <= r.status_code < 500, (bad, method)
            assert "ada@example.org" not in r.text and "bob@example.org" not in r.text
        r = client.post(f"{prefix.replace('unsubscribe', 'resubscribe')}/{bad}", data={"resubscribe": "yes"})
        assert 400 <= r.status_code < 500
    assert unsubscribed(config) == {}
    assert not config.state_path.exists()


def _signed(key: str, address: str) -> str:
    """A token as links were made before they were encrypted: the address in
    readable base64, signed (itsdangerous, HMAC-SHA256, the same salt)."""
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(key, salt="paper-digest.subscription.v1",
                             signer_kwargs={"digest_method": hashlib.sha256}).dumps(address)


def test_unsubscribe_then_resubscribe_from_the_page(config, client):
    path = path_for(config, "ada@example.org")
    token = path.rpartition("/")[2]
    r = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and "Unsubscribed" in r.text
    action = re.search(r'<form method="post" action="([^"]*)">', r.text).group(1)
    assert action == f"../resubscribe/{token}"  # relative: works behind a proxy at any path
    again = str(httpx.URL(f"https://digest.example.org{path}").join(action))
    assert urlsplit(again).path == path_for(config, "ada@example.org", "resubscribe")
    # The re-subscribe page itself, fetched, changes nothing.
    assert client.get(again).status_code == 200
    assert unsubscribed(config) == {"ada@example.org": T0}
    r = client.post(again, data={"resubscribe": "yes"})
    assert r.status_code == 200 and "Subscribed again" in r.text
    assert unsubscribed(config) == {}
    assert f'action="../unsubscribe/{token}"' in r.text  # and the way out again


def test_nothing_lists_subscribers_or_tells_who_is_subscribed(config, client):
    for path in ("/", "/news", "/news/", "/news/unsubscribe", "/news/unsubscribe/", "/news/subscribers"):
        assert client.get(path).status_code == 404
    # A valid token for an address the config does not have gets the very
    # same pages as a subscriber's: the page never says who is subscribed.
    ada, eve = path_for(config, "ada@example.org"), path_for(config, "eve@example.org")
    for method, data in (("get", None), ("post", {"List-Unsubscribe": "One-Click"})):
        a = getattr(client, method)(ada, **({"data": data} if data else {}))
        e = getattr(client, method)(eve, **({"data": data} if data else {}))
        assert (a.status_code, a.text.replace("a***@example.org", "X").replace(ada.rpartition("/")[2], "T")) == (
            e.status_code, e.text.replace("e***@example.org", "X").replace(eve.rpartition("/")[2], "T"))
    # Already unsubscribed or not: the same page again.
    assert client.post(ada, data={"List-Unsubscribe": "One-Click"}).text == a.text


def test_a_link_made_with_a_key_a_send_used_warns_the_operator_once(config, client, caplog):
    """`send` from cron with one NEWSLETTER_SECRET and `serve` under systemd
    with another (each unit's env file made its own key): every link got
    "This link does not work" and nothing told the operator.  A refused link
    made with a key a send recorded in the state and serve lacks now warns,
    once an hour at most, without the token or an address."""
    from newsletter.tokens import Links

    other = Links("https://digest.example.org/news", "another-key-0123456789")
    ada = urlsplit(other.unsubscribe_url("ada@example.org")).path
    prefix = ada.rpartition("/")[0]
    with State.open(config.state_path) as state:  # as `send` with that key records it
        state.see_subscribers(["ada@example.org"], T0)
        state.record_link_key(other.key_id, T0)
    stranger = f"{prefix}/{_signed('another-key-0123456789', 'eve@example.net')}"
    with caplog.at_level(logging.WARNING, logger="newsletter.web"):
        assert client.post(stranger, data={"List-Unsubscribe": "One-Click"}).status_code == 400
        own = path_for(config, "ada@example.org")
        for cut in (own[:-3], own[:-4], own[:-22], own[:-43]):
            assert client.post(cut, data={"List-Unsubscribe": "One-Click"}).status_code == 400
        assert client.post(f"{prefix}/{'A' * 71}", data={"List-Unsubscribe": "One-Click"}).status_code == 400
        assert caplog.messages == []  # a link cut short (a line wrap), or junk, is no sign of another key
        for _ in range(3):
            assert client.post(ada, data={"List-Unsubscribe": "One-Click"}).status_code == 400
    assert unsubscribed(config) == {}
    assert caplog.messages == [
        f"warning: {config.file}:18: web.secret_env: refused a link made with another key than "
        "DIGEST_WEB_SECRET's: if `send` or `run` run with another DIGEST_WEB_SECRET than `serve`, no emailed "
        "unsubscribe link works; give every process the same key (after a change of key, name the one before in "
        "web.old_secret_env: the digests it signed carry its links)"
    ]
    assert "ada@" not in caplog.text and ada.rpartition("/")[2] not in caplog.text


def test_made_up_links_cannot_set_off_the_other_key_warning(config, caplog):
    """Anyone could write a token of our shape with any key id (or a signed
    link from before naming a subscriber with a made-up signature) and set
    the warning off, once an hour, in the operator's log.  A key id only
    counts when a send recorded it: made-up ones, a real other key's that
    no send used, and old signed links warn of nothing."""
    import base64
    import secrets

    from newsletter.tokens import Links

    other = Links("https://digest.example.org/news", "another-key-0123456789")
    with State.open(config.state_path) as state:  # a send with this process's own key
        state.record_link_key(links(config).key_id, T0)
    prefix = path_for(config, "ada@example.org").rpartition("/")[0]

    def made_up() -> str:
        raw = bytes([2]) + secrets.token_bytes(4) + secrets.token_bytes(16 + 32)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    tokens = [made_up() for _ in range(5)] + [
        urlsplit(other.unsubscribe_url("ada@example.org")).path.rpartition("/")[2],
        _signed("another-key-0123456789", "ada@example.org"),
    ]
    with caplog.at_level(logging.WARNING, logger="newsletter.web"), TestClient(
            create_app(config, now=lambda: T0), base_url="https://digest.example.org") as fresh:
        for token in tokens:
            assert fresh.post(f"{prefix}/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 400
    assert caplog.messages == []
    assert unsubscribed(config) == {}


def test_every_response_forbids_caching_framing_and_referrers(config, client):
    for r in (client.get(path_for(config, "ada@example.org")), client.get("/news/unsubscribe/forged"), client.get("/")):
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert client.get("/news/healthz").text == "ok\n"


def test_one_click_lands_in_either_state_backend_and_the_next_send_skips(tmp_path, monkeypatch, state_target):
    from newsletter import pipeline
    from newsletter.state import open_state

    monkeypatch.setenv("DIGEST_WEB_SECRET", SECRET)
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    config = load_config(write_config(tmp_path, CONFIG + f"state: {state_target}\n"))
    with TestClient(create_app(config, now=lambda: T0), base_url="https://digest.example.org") as client:
        assert client.get(path_for(config, "ada@example.org")).status_code == 200
        with open_state(state_target, readonly=True) as state:
            assert state.unsubscribed() == {}
        assert client.post(path_for(config, "ada@example.org"), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with open_state(state_target, readonly=True) as state:
        assert state.unsubscribed(["ada@example.org"]) == {"ada@example.org": T0}
    report = pipeline.send(config, now=T0)
    assert {r.email: r.status for r in report.results} == {"ada@example.org": "unsubscribed", "bob@example.org": "sent"}
    assert report.unsubscribed == 1 and report.to_json()["unsubscribed"] == 1


def test_one_click_posts_against_postgresql_share_a_few_kept_connections(tmp_path, monkeypatch, pg_server, pg_url):
    """Each one-click POST opened the state as a worker: a login (two, with
    the pooler check), a worker lock, a row in `workers` that stretched the
    round of the sends running, and a heartbeat thread, per request.  The
    state is now opened once and kept: a burst of POSTs, some at once, shares
    its session and a small pool (connections counted by a proxy in front of
    the server), and none is a worker of the round."""
    from pg_server import PASSWORD
    from tcp_proxy import TcpProxy

    from newsletter.state import open_state
    from newsletter.state.postgres import RECORDER_POOL_MAX

    monkeypatch.setenv("DIGEST_WEB_SECRET", SECRET)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # (the .pgpass line names the server's own port)
    proxy = TcpProxy(pg_server.port)
    try:
        url = proxy.url(pg_url, pg_server.port)
        add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
        config = load_config(write_config(tmp_path, CONFIG + f"state: {url}\n"))
        one_click = {"List-Unsubscribe": "One-Click"}
        posts = [("ada@example.org", "unsubscribe"), ("bob@example.org", "unsubscribe"),
                 ("ada@example.org", "resubscribe"), ("ada@example.org", "unsubscribe")]
        with TestClient(create_app(config, now=lambda: T0), base_url="https://digest.example.org") as client:
            for address, kind in posts:
                data = one_click if kind == "unsubscribe" else {"resubscribe": "yes"}
                assert client.post(path_for(config, address, kind), data=data).status_code == 200
            assert query(pg_url, "SELECT worker FROM workers") == []
            burst = [path_for(config, f"user{i:02}@example.org") for i in range(24)]
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(lambda path: client.post(path, data=one_click).status_code, burst))
            assert codes == [200] * len(burst)
        # the session, the pooler check's one probe (once per process and URL: this
        # proxy's URL is new) and the pool at its fullest, however many POSTs
        assert len(proxy.clients) <= 2 + RECORDER_POOL_MAX, len(proxy.clients)
    finally:
        proxy.stop()
    with open_state(pg_url, readonly=True) as state:
        assert state.unsubscribed() == {"ada@example.org": T0, "bob@example.org": T0} | {
            f"user{i:02}@example.org": T0 for i in range(24)}
    assert sessions_left(pg_url) == 0  # all closed as serve stopped


def test_the_kept_postgresql_state_answers_the_first_post_after_a_restart(tmp_path, monkeypatch, pg_server, pg_url):
    """The state serve keeps holds connections a PostgreSQL restart ends: the
    first one-click POST after it met a dead connection and was answered 503.
    The change is made again on a new connection of the pool: 200, recorded."""
    monkeypatch.setenv("DIGEST_WEB_SECRET", SECRET)
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    config = load_config(write_config(tmp_path, CONFIG + f"state: {pg_url}\n"))
    one_click = {"List-Unsubscribe": "One-Click"}
    with TestClient(create_app(config, now=lambda: T0), base_url="https://digest.example.org") as client:
        assert client.post(path_for(config, "ada@example.org"), data=one_click).status_code == 200
        pg_server.restart()
        answer = client.post(path_for(config, "bob@example.org"), data=one_click)
        assert answer.status_code == 200, answer.text
    assert sorted(r[0] for r in query(pg_url, "SELECT email FROM unsubscribed")) == ["ada@example.org", "bob@example.org"]


def test_posts_while_postgresql_is_unreachable_try_to_open_the_state_at_once(tmp_path, monkeypatch, pg_server, pg_url):
    """The kept state is opened at the first change: with the server silent
    (a proxy that forwards nothing), requests that took turns to try the open
    waited out one another's connect timeout (the last of 4 for 4 of them).
    They try side by side: all 4 connection attempts are under way before the
    first is given up, and each is answered 503 with Retry-After."""
    from pg_server import PASSWORD
    from tcp_proxy import TcpProxy

    monkeypatch.setenv("DIGEST_WEB_SECRET", SECRET)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # (the .pgpass line names the server's own port)
    proxy = TcpProxy(pg_server.port)
    proxy.partition()
    try:
        url = proxy.url(pg_url, pg_server.port) + "?connect_timeout=5"
        add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
        config = load_config(write_config(tmp_path, CONFIG + f"state: {url}\n"))
        one_click = {"List-Unsubscribe": "One-Click"}
        with TestClient(create_app(config, now=lambda: T0), base_url="https://digest.example.org") as client:
            paths = [path_for(config, f"user{i}@example.org") for i in range(4)]
            with ThreadPoolExecutor(4) as pool:
                answers = [pool.submit(client.post, path, data=one_click) for path in paths]
                while len(proxy.clients) < 4 and not any(a.done() for a in answers):
                    wait(answers, timeout=0.01, return_when=FIRST_COMPLETED)
                trying_at_once = len(proxy.clients)
                codes = [(a.result().status_code, a.result().headers.get("retry-after")) for a in answers]
        assert trying_at_once == 4
        assert codes == [(503, codes[0][1])] * 4 and int(codes[0][1]) > 0
    finally:
        proxy.stop()


def test_a_state_switched_in_the_config_takes_the_next_unsubscribe(tmp_path, monkeypatch, pg_url, caplog):
    """After `state migrate` and `state:` set to the database, a `serve` started
    before went on writing unsubscribes to the SQLite file nothing read any more."""
    from newsletter.state import open_state

    monkeypatch.setenv("DIGEST_WEB_SECRET", SECRET)
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    config = load_config(write_config(tmp_path, CONFIG))
    one_click = {"List-Unsubscribe": "One-Click"}
    with TestClient(create_app(config, now=lambda: T0), base_url="https://digest.example.org") as client:
        assert client.post(path_for(config, "ada@example.org"), data=one_click).status_code == 200
        write_config(tmp_path, CONFIG + f"state: {pg_url}\n")  # the switch, serve still running
        with caplog.at_level(logging.WARNING, logger="newsletter.web"):
            assert client.post(path_for(config, "bob@example.org"), data=one_click).status_code == 200
        assert any("now names the state postgresql://" in m for m in caplog.messages), caplog.messages
        write_config(tmp_path, CONFIG + "state: [broken\n")  # a slip while editing: the database stays in use
        with caplog.at_level(logging.ERROR, logger="newsletter.web"):
            assert client.post(path_for(config, "ada@example.org", "resubscribe"),
                               data={"resubscribe": "yes"}).status_code == 200
        assert any("changed but does not load" in m for m in caplog.messages), caplog.messages
    assert unsubscribed(config) == {"ada@example.org": T0}  # the file: only what came before the switch
    with open_state(pg_url, readonly=True) as state:
        assert state.unsubscribed() == {"bob@example.org": T0}


def test_serve_needs_web_and_its_secret(tmp_path, monkeypatch):
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    no_web = load_config(write_config(tmp_path, CONFIG.split("web:")[0], name="plain.yaml"))
    with pytest.raises(ConfigError, match="needs a 'web:' section"):
        create_app(no_web)
    monkeypatch.delenv("DIGEST_WEB_SECRET", raising=False)
    with pytest.raises(ConfigError, match="web.secret_env: environment variable DIGEST_WEB_SECRET is not set"):
        create_app(load_config(write_config(tmp_path, CONFIG)))


# --------------------------------------------------------------------------- end to end


def eml(folder: Path, address: str) -> list[email.message.EmailMessage]:
    files = sorted((folder / "outbox").glob(f"*{address}*.eml"))
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]


def link_in(message) -> str:
    header = str(message["List-Unsubscribe"])
    url = re.match(r"<(https://[^>]+)>, <mailto:[^>]+>$", header).group(1)
    return url


@contextmanager
def serving(folder: Path, **more_env: str):
    """The real ``newsletter serve --port 0`` (uvicorn) in ``folder``; yields its URL and the process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC", "DIGEST_WEB_SECRET": SECRET, **more_env}
    env.pop("NEWSLETTER_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "serve", "--port", "0"],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()  # printed once the socket listens
        match = re.search(r"on (http://127\.0\.0\.1:\d+) ", line)
        assert match, (line, proc.poll())
        yield match.group(1), proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_cleanly_on_sigterm_and_ctrl_c(tmp_path, sig):
    """A service manager's stop, or Ctrl-C, even the moment the server says
    where it listens: exit 0 (uvicorn re-raised SIGTERM after its shutdown,
    and the command died of it, exit 143)."""
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG)
    with serving(tmp_path) as (_, proc):
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    assert "Traceback" not in proc.stderr.read()


def test_emailed_link_get_then_post_against_the_real_server_and_send(tmp_path, cli):
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG)
    env = {"DIGEST_WEB_SECRET": SECRET}
    with serving(tmp_path) as server:
        check_the_whole_way(tmp_path, cli, env, server)


def test_the_pages_show_the_address_masked_to_whoever_holds_a_forwarded_link(tmp_path, cli):
    """A digest forwarded to a colleague or a list carries its unsubscribe
    link, and every page it led to showed the full address: now only its
    first character and domain, enough for the owner to know it as theirs;
    the operator's log still names it."""
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG.replace("ada@example.org", "ada.lovelace+digest@uni.example.org"))
    env = {"DIGEST_WEB_SECRET": SECRET}
    assert cli("send", "--now", "2024-05-06T09:00:00+00:00", env=env).code == 0
    (message,) = eml(tmp_path, "ada.lovelace+digest@uni.example.org")
    with serving(tmp_path) as (base, proc), httpx.Client() as http:
        unsubscribe = base + urlsplit(link_in(message)).path
        resubscribe = unsubscribe.replace("/unsubscribe/", "/resubscribe/")
        pages = [
            http.get(unsubscribe),
            http.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}),
            http.get(resubscribe),
            http.post(resubscribe, data={"resubscribe": "yes"}),
        ]
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    headings = [re.search(r"<h1>(.*)</h1>", page.text).group(1) for page in pages]
    assert headings == ["Unsubscribe?", "Unsubscribed", "Re-subscribe?", "Subscribed again"]
    for page in pages:
        assert page.status_code == 200
        assert "a***@uni.example.org" in page.text, page.text
        assert "lovelace" not in page.text and "ada." not in page.text
    assert "unsubscribed: ada.lovelace+digest@uni.example.org (web)" in err


def test_a_proxy_that_strips_base_urls_path_reaches_the_same_endpoint(tmp_path, cli):
    """base_url https://digest.example.org/news behind nginx's `location /news/
    { proxy_pass http://127.0.0.1:8058/; }` (a URI part: the prefix is cut):
    every one-click POST got 404 and nobody could unsubscribe, and a health
    check of 127.0.0.1:8058/healthz got 404 too.  Both paths work now."""
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG)
    env = {"DIGEST_WEB_SECRET": SECRET}
    assert cli("send", "--now", "2024-05-06T09:00:00+00:00", env=env).code == 0
    (ada_msg,) = eml(tmp_path, "ada@example.org")
    path = urlsplit(link_in(ada_msg)).path
    assert path.startswith("/news/unsubscribe/")
    with serving(tmp_path) as (base, proc), httpx.Client() as http:
        assert http.get(base + "/healthz").text == "ok\n"
        assert http.get(base + "/news/healthz").text == "ok\n"
        stripped = base + path.removeprefix("/news")
        page = http.get(stripped)
        assert page.status_code == 200 and '<form method="post" action="">' in page.text
        done = http.post(stripped, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and 'action="../resubscribe/' in done.text
        assert http.post(stripped[:-2], data={"List-Unsubscribe": "One-Click"}).status_code == 400
    assert query(tmp_path / "newsletter-state.sqlite3", "SELECT email FROM unsubscribed") == [("ada@example.org",)]


def test_send_and_serve_with_different_keys_is_told_in_serves_log(tmp_path, cli):
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG)
    r = cli("send", "--now", "2024-05-06T09:00:00+00:00", env={"DIGEST_WEB_SECRET": "cron-made-its-own-key-42"})
    assert r.code == 0, r.err
    link = link_in(eml(tmp_path, "ada@example.org")[0])
    with serving(tmp_path) as (base, proc), httpx.Client() as http:
        assert http.post(base + urlsplit(link).path, data={"List-Unsubscribe": "One-Click"}).status_code == 400
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "web.secret_env: refused a link made with another key than DIGEST_WEB_SECRET's" in err
    assert query(tmp_path / "newsletter-state.sqlite3", "SELECT count(*) FROM unsubscribed") == [(0,)]


def check_the_whole_way(tmp_path, cli, env, server):
    r = cli("send", "--now", "2024-05-06T09:00:00+00:00", env=env)
    assert r.code == 0, r.err
    (ada_msg,) = eml(tmp_path, "ada@example.org")
    assert ada_msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = link_in(ada_msg)
    assert link.startswith("https://digest.example.org/news/unsubscribe/")
    assert _signed(SECRET, "ada@example.org").partition(".")[0][2:-2] not in link  # the address cannot be read from it
    assert link in ada_msg.get_body(("html",)).get_content()  # the footer links to the same page
    assert link in ada_msg.get_body(("plain",)).get_content()
    base, proc = server
    local = base + urlsplit(link).path  # what the reverse proxy would pass on

    # GET (a link scanner, a preview) and then send: Ada still gets her digest.
    with httpx.Client() as http:
        page = http.get(local)
        assert page.status_code == 200 and 'name="List-Unsubscribe" value="One-Click"' in page.text
        forged = http.post(local[:-2], data={"List-Unsubscribe": "One-Click"})
        assert forged.status_code == 400
    add_papers(tmp_path, "day2.txt", ["Diffusion Models for Task 2"])
    r = cli("send", "--now", "2024-05-06T10:00:00+00:00", env=env)
    assert r.out.strip().splitlines()[-1] == "sent 2, empty 0, failed 0, not due 0", r.out + r.err
    assert len(eml(tmp_path, "ada@example.org")) == 2

    # One POST, as the mail provider sends it: the next send skips Ada.
    with httpx.Client() as http:
        done = http.post(local, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    add_papers(tmp_path, "day3.txt", ["Diffusion Models for Task 3"])
    r = cli("send", "--now", "2024-05-06T11:00:00+00:00", env=env)
    assert r.code == 0, r.err
    assert "unsubscribed ada@example.org" in r.out
    assert r.out.strip().splitlines()[-1] == "sent 1, empty 0, failed 0, not due 0, unsubscribed 1"
    assert len(eml(tmp_path, "ada@example.org")) == 2 and len(eml(tmp_path, "bob@example.org")) == 3

    # Every command honours it, and none of the read-only ones writes the state.
    state = tmp_path / "newsletter-state.sqlite3"
    before = state.read_bytes()
    sched = cli("schedule", "--json", "--now", "2024-05-06T12:00:00+00:00", env=env)
    rows = {row["email"]: row for row in json.loads(sched.out)["subscribers"]}
    assert rows["ada@example.org"]["unsubscribed"] and rows["ada@example.org"]["next_send"] is None
    assert rows["bob@example.org"]["unsubscribed"] is None
    match = json.loads(cli("match", "--json", env=env).out)
    by = {s["email"]: s for s in match["subscribers"]}
    assert by["ada@example.org"]["papers"] == [] and by["ada@example.org"]["unsubscribed"]
    preview = cli("preview", "--json", "--out", "pv", env=env)
    assert preview.code == 0, preview.err
    entries = {e["email"]: e for e in json.loads(preview.out)["subscribers"]}
    assert entries["ada@example.org"]["would_send"] is False and entries["ada@example.org"]["unsubscribed"]
    assert not (tmp_path / "pv" / "ada@example.org.eml").exists()
    assert state.read_bytes() == before

    # The operator lets her back in; the next send reaches her again.
    r = cli("resubscribe", "ada@example.org", env=env)
    assert r.code == 0 and "subscribed again" in r.out
    r = cli("send", "--now", "2024-05-06T13:00:00+00:00", env=env)
    assert "sent        ada@example.org" in r.out, r.out + r.err
    assert len(eml(tmp_path, "ada@example.org")) == 3

    # Secrets never reach the logs; tokens neither (no access log).
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert SECRET not in err and link.rpartition("/")[2] not in err
    assert "unsubscribed: ada@example.org (web)" in err
    with sqlite3.connect(state) as con:
        assert con.execute("SELECT count(*) FROM unsubscribed").fetchone()[0] == 0


def test_after_a_change_of_key_the_links_of_digests_sent_before_still_unsubscribe(tmp_path, cli):
    """A leaked key changed: every digest already in readers' inboxes carried
    links signed with the old one, and serve refused them all (400).  Named
    in web.old_secret_env, the old key checks them; new digests carry links
    signed with the new key."""
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG + "  old_secret_env: DIGEST_OLD_SECRETS\n")
    leaked = "the-leaked-key-0123456789"
    assert cli("send", "--now", "2024-05-06T09:00:00+00:00", env={"DIGEST_WEB_SECRET": leaked}).code == 0
    before = {m["To"].addresses[0].addr_spec: link_in(m) for a in ("ada", "bob") for m in eml(tmp_path, f"{a}@example.org")}
    add_papers(tmp_path, "day2.txt", ["Diffusion Models for Task 2"])
    assert cli("send", "--now", "2024-05-07T09:00:00+00:00", env={"DIGEST_WEB_SECRET": SECRET}).code == 0
    after = link_in(eml(tmp_path, "bob@example.org")[-1])
    assert after != before["bob@example.org"]
    with serving(tmp_path, DIGEST_OLD_SECRETS=leaked) as (base, proc), httpx.Client() as http:
        assert http.post(base + urlsplit(before["ada@example.org"]).path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        assert http.post(base + urlsplit(after).path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert leaked not in err and SECRET not in err
    got = query(tmp_path / "newsletter-state.sqlite3", "SELECT email FROM unsubscribed ORDER BY email")
    assert got == [("ada@example.org",), ("bob@example.org",)]
    # without the old key serve refuses to start: each of those links would be refused
    env = {"DIGEST_WEB_SECRET": SECRET}
    r = cli("serve", "--port", "0", env=env)
    assert r.code == 2 and "web.old_secret_env: environment variable DIGEST_OLD_SECRETS is not set" in r.err


def test_links_of_digests_sent_before_tokens_were_encrypted_still_work_on_the_real_server(tmp_path, monkeypatch):
    """The links already in inboxes carry the address signed, not encrypted:
    after the change they still unsubscribe (one-click POST) and re-subscribe,
    also those signed with a key since replaced (web.old_secret_env), while a
    new link shows no address and works the same way."""
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG + "  old_secret_env: DIGEST_OLD_SECRETS\n")
    leaked = "the-leaked-key-0123456789"
    one_click = {"List-Unsubscribe": "One-Click"}
    config_path = tmp_path / "config.yaml"
    with serving(tmp_path, DIGEST_OLD_SECRETS=leaked) as (base, proc), httpx.Client() as http:
        old_ada = f"{base}/news/unsubscribe/{_signed(SECRET, 'ada@example.org')}"
        page = http.get(old_ada)
        assert page.status_code == 200 and "a***@example.org" in page.text
        done = http.post(old_ada, data=one_click)
        assert done.status_code == 200 and "Unsubscribed" in done.text
        again = urljoin(old_ada, re.search(r'<form method="post" action="([^"]*)">', done.text).group(1))
        assert http.post(again, data={"resubscribe": "yes"}).status_code == 200
        assert http.post(old_ada, data=one_click).status_code == 200
        old_bob = f"{base}/news/unsubscribe/{_signed(leaked, 'bob@example.org')}"
        assert http.post(old_bob, content=b"List-Unsubscribe=One-Click",
                         headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 200
        assert http.post(f"{base}/news/unsubscribe/{_signed('a-stranger-key-0123456789', 'bob@example.org')}",
                         data=one_click).status_code == 400
        monkeypatch.setenv("DIGEST_WEB_SECRET", SECRET)
        new = links(load_config(config_path))
        fresh = base + urlsplit(new.unsubscribe_url("eve@example.org")).path
        assert "eve" not in fresh.rpartition("/")[2]
        assert http.post(fresh, data=one_click).status_code == 200
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert leaked not in err and SECRET not in err
    got = query(tmp_path / "newsletter-state.sqlite3", "SELECT email FROM unsubscribed ORDER BY email")
    assert got == [("ada@example.org",), ("bob@example.org",), ("eve@example.org",)]


def test_serve_without_the_secret_is_a_located_error(tmp_path, cli):
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG)
    r = cli("serve", "--port", "0")
    assert r.code == 2
    assert r.err.startswith("config.yaml:18: web.secret_env: environment variable DIGEST_WEB_SECRET is not set")
    assert "Traceback" not in r.err


def test_serve_listens_by_default_where_no_mail_catcher_does(cli):
    """serve's default was 8025, where `python -m aiosmtpd` (and Mailpit's and
    MailHog's pages) listen by default: trying an unsubscribe link beside one
    met "address already in use"."""
    from aiosmtpd.main import DEFAULT_PORT

    r = cli("serve", "--help")
    assert r.code == 0 and "[default: 8058;" in r.out, r.out
    assert DEFAULT_PORT == 8025


def test_serve_on_a_busy_port_says_how_to_pick_another(tmp_path, cli, monkeypatch):
    """Another program on the port: the clash says what to do."""
    import socket

    monkeypatch.setenv("DIGEST_WEB_SECRET", SECRET)
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = cli("serve", "--port", str(port))
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.strip().splitlines() == [
        f"cannot listen on 127.0.0.1:{port}: Address already in use (another program listens there: "
        "choose another port with --port N, or --port 0 for any free one)"
    ]


def test_operator_unsubscribe_and_resubscribe_commands(tmp_path, cli):
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG.split("web:")[0])  # works without web: too (mailto requests by hand)
    r = cli("unsubscribe", "Bob@Example.org", "--now", "2024-05-06T08:00:00+00:00")
    assert r.code == 0 and "unsubscribed" in r.out
    assert "already unsubscribed" in cli("unsubscribe", "bob@example.org").out
    assert "not a subscriber" not in r.err
    r = cli("unsubscribe", "bob@exmaple.org")  # a typo: recorded, but the operator is told
    assert r.code == 0 and r.err.strip() == "warning: config.yaml: bob@exmaple.org is not a subscriber in the config (a typo?)"
    r = cli("preview", "--now", "2024-05-06T09:00:00+00:00")  # an empty preview says why, and the way back
    assert "bob@example.org: unsubscribed, nothing would be sent (`newsletter resubscribe bob@example.org` undoes it)" \
        in r.out.splitlines(), r.out
    r = cli("send", "--now", "2024-05-06T09:00:00+00:00")
    assert r.out.strip().splitlines()[-1] == "sent 1, empty 0, failed 0, not due 0, unsubscribed 1"
    assert "was not unsubscribed" in cli("resubscribe", "ada@example.org").out
    assert cli("resubscribe", "bob@example.org").out.strip() == "bob@example.org: subscribed again"
    r = cli("resubscribe", "not-an-address")
    assert r.code == 2 and "'not-an-address' is not a valid address" in r.err
    r = cli("unsubscribe", "carol@example.org\n")  # a final line break was taken (and recorded)
    assert r.code == 2 and "'carol@example.org\\n' is not a valid address" in r.err, r.err
    assert query(tmp_path / "newsletter-state.sqlite3", "SELECT count(*) FROM unsubscribed WHERE email LIKE 'carol%'") == [(0,)]


def test_a_one_click_post_while_the_state_is_locked_asks_the_mailer_to_retry(config, client, monkeypatch):
    # A mail provider retries a 503 only when told when; without Retry-After
    # some give up, and the unsubscribe is lost.
    import newsletter.state.sqlite as sqlite_state

    form = {"content": b"List-Unsubscribe=One-Click", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    assert client.post(path_for(config, "ada@example.org"), **form).status_code == 200  # the state exists
    monkeypatch.setattr(sqlite_state, "BUSY_TIMEOUT_MS", 100)
    other = sqlite3.connect(config.state_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        r = client.post(path_for(config, "bob@example.org"), **form)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert r.status_code == 503
    assert r.headers["retry-after"].isdigit()
    assert "bob@example.org" not in unsubscribed(config)
    assert client.post(path_for(config, "bob@example.org"), **form).status_code == 200  # the retry lands
    assert "bob@example.org" in unsubscribed(config)



def test_a_service_managers_reload_sighup_keeps_serve_up(tmp_path, monkeypatch):
    """`systemctl reload` sends SIGHUP: it killed `serve` (Python's default),
    and every one-click POST failed until a restart."""
    monkeypatch.setenv("DIGEST_WEB_SECRET", SECRET)
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    config = load_config(write_config(tmp_path, CONFIG))
    with serving(tmp_path) as (base, proc):
        proc.send_signal(signal.SIGHUP)
        with httpx.Client() as http:
            done = http.post(base + path_for(config, "ada@example.org"), data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert "ada@example.org" in unsubscribed(config)
    assert "Traceback" not in proc.stderr.read()


@pytest.mark.parametrize("path", ["/nothing", "/unsubscribe/", "/unsubscribe/../x", "/unsubscribe/a/b"])
def test_an_address_that_is_no_page_gets_a_page_in_the_sites_look_saying_where_the_link_is(client, path):
    """It was Starlette's bare plain-text 'Not Found'."""
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "No such page" in r.text and "latest digest" in r.text


def test_sigterm_while_a_one_click_waits_for_another_processs_lock_stops_serve_at_once(config, tmp_path):
    """A one-click POST waiting for the state file another process holds (an
    sqlite3 shell, a backup) held a service manager's stop for the state's
    busy timeout (30 s: uvicorn waits for requests in flight).  The wait
    ends at the stop: the mailer is told to try again (503, Retry-After)."""
    import threading
    import time

    from conftest import stderr_until

    with State.open(config.state_path) as state:  # the state exists (a rollback journal at rest)
        state.see_subscribers(["ada@example.org"], datetime(2024, 5, 6, tzinfo=UTC))
    holder = sqlite3.connect(config.state_path, isolation_level=None)
    answers: list[httpx.Response] = []
    try:
        holder.execute("BEGIN IMMEDIATE")
        with serving(tmp_path) as (url, proc):
            post = threading.Thread(target=lambda: answers.append(httpx.post(
                url + path_for(config, "ada@example.org"), data={"List-Unsubscribe": "One-Click"}, timeout=60)))
            post.start()
            stderr_until(proc, "is locked by another process (database is locked); waiting up to 30 s")
            stopped = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
            post.join(60)
            assert time.monotonic() - stopped < 20  # not SQLite's 30 s
    finally:
        holder.close()
    assert [a.status_code for a in answers] == [503] and answers[0].headers["retry-after"].isdigit()
    assert "ada@example.org" not in unsubscribed(config)


def test_serve_without_web_says_what_to_add(tmp_path):
    """`newsletter serve` on the starter (its web: block commented out) named
    the section and its keys, not what to write in them nor where it is explained."""
    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG.split("web:")[0])
    r = run_newsletter("serve", "--port", "0", cwd=tmp_path)
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.splitlines() == [
        "config.yaml: `newsletter serve` needs a 'web:' section with base_url and secret_env: add `web:` with "
        "`base_url: https://...` (where readers reach serve) and `secret_env: NEWSLETTER_SECRET` indented under it "
        "(README \"Unsubscribe links\")"], r.err


def test_real_serve_on_a_hot_standby_answers_503_logs_one_line_and_records_the_retry_after_failover(
    tmp_path, cli, pg_server, pg_url
):
    """`state:` names a streaming replica (a hot standby: the URL of a
    read-only endpoint, or a failover not yet done).  The real `newsletter
    serve` process answers an RFC 8058 one-click POST 503 with Retry-After,
    never 200 for what it could not record, logs one line naming the address,
    the state's URL (no password) and what to do, and no traceback; the mail
    provider's retry, once the standby is promoted (the failover), is
    recorded there: the unsubscribe is not lost."""
    from pg_server import PASSWORD, Standby

    add_papers(tmp_path, "day1.txt", ["Diffusion Models for Task 1"])
    write_config(tmp_path, CONFIG + f"state: {pg_url}\n")
    env = {"DIGEST_WEB_SECRET": SECRET}
    assert cli("send", "--now", "2024-05-06T09:00:00+00:00", env=env).code == 0  # the primary holds the state
    (message,) = eml(tmp_path, "ada@example.org")
    standby = Standby(pg_server)
    try:
        url = standby.url(pg_url)
        write_config(tmp_path, CONFIG + f"state: {url}\n")
        with serving(tmp_path) as (base, proc), httpx.Client() as http:
            post = base + urlsplit(link_in(message)).path
            refused = http.post(post, data={"List-Unsubscribe": "One-Click"})
            assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0, refused.text
            assert "could not be recorded" in refused.text and "Unsubscribed" not in refused.text
            standby.promote()  # the failover: the same URL takes writes now
            done = http.post(post, data={"List-Unsubscribe": "One-Click"})
            assert done.status_code == 200 and "<h1>Unsubscribed</h1>" in done.text, done.text
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Traceback" not in err and PASSWORD not in err, err
        [said] = [line for line in err.splitlines() if "could not" in line]
        assert said == (
            f"could not unsubscribe ada@example.org: {url}: PostgreSQL: cannot execute INSERT in a read-only "
            "transaction: the server takes no writes here (a read replica or hot standby, or "
            "default_transaction_read_only set for the user or database): point state: at the primary"), said
        assert "unsubscribed: ada@example.org (web)" in err, err
        assert query(url, "SELECT email FROM unsubscribed") == [("ada@example.org",)]
    finally:
        standby.stop()
    assert query(pg_url, "SELECT email FROM unsubscribed") == []  # (the old primary never took it)
