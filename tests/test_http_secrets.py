"""Secrets a source's URL carries (``?token=``, a presigned bucket URL's
signature) and what a hostile page says, in the messages an HTTP fault
gives: never printed, whatever form the server echoes them in (a login
page's ``?continue=`` holding the feed's whole address, percent-encoded
once or twice), and a page's words never reach the terminal as control
characters.  Served by a real HTTP server on 127.0.0.1 (tests/recorded_http.py)."""

from __future__ import annotations

import pytest
from conftest import DATA, write_config
from recorded_http import Reply


def _feed_source(url: str) -> str:
    return f"""
sources:
  - type: feed
    name: blog
    url: {url}
http:
  fresh_for: 0
  retries: 0
topics:
  ml:
    any: ["diffusion"]
"""


_WIFI = b"<!DOCTYPE html><html><head><title>Wifi</title></head><body>Sign in</body></html>"


def test_a_login_pages_redirect_holding_the_feeds_address_does_not_print_its_token(http_server, tmp_path, cli):
    """A captive portal answers the feed's URL with a redirect to its login
    page, the feed's whole address (token and all) percent-encoded in
    ``?continue=``: the 'redirected to' and the page's refresh target are
    masked with the configured URL's secrets, not only their own."""
    http_server.route("/feed.xml", Reply(302, b"", {"Location": "/login?continue=%2Ffeed.xml%3Ftoken%3DSUPERSECRET"}))
    http_server.route("/login", Reply(200, _WIFI, {"Content-Type": "text/html"}))
    write_config(tmp_path, _feed_source(http_server.url("/feed.xml?token=SUPERSECRET")))
    r = cli("papers")
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert "SUPERSECRET" not in r.err and "SUPERSECRET" not in r.out, r.err
    assert r.err.splitlines()[0] == (
        f"{http_server.url('/feed.xml?token=***')}:1: source 'blog': an HTML page, not an RSS or Atom feed (an error "
        f"page or a login wall?); the page's title: 'Wifi'; redirected to "
        f"{http_server.url('/login?continue=%2Ffeed.xml%3Ftoken%3D***')}"), r.err
    # the same address in a refresh's target, served in place
    http_server.route("/feed.xml", Reply(200, b"<html><head><title>Wifi</title><meta http-equiv='refresh' content='0;"
                                              b"url=http://wifi.example/login?orig=%2Ffeed.xml%3Ftoken%3DSUPERSECRET'>"
                                              b"</head></html>", {"Content-Type": "text/html"}))
    r = cli("papers")
    assert r.code == 2 and "SUPERSECRET" not in r.err, r.err
    assert r.err.splitlines()[0] == (
        f"{http_server.url('/feed.xml?token=***')}:1: source 'blog': an HTML page, not an RSS or Atom feed; the page "
        "sends browsers on to http://wifi.example/login?orig=%2Ffeed.xml%3Ftoken%3D*** (an error page or a login "
        "wall?); the page's title: 'Wifi'"), r.err


def test_a_redirect_loop_through_a_login_page_does_not_print_a_token_encoded_twice(http_server, tmp_path, cli):
    """A token written percent-encoded (``AB%2FCDsecret``) comes back encoded
    again in a login page's ``?next=`` (``AB%252FCDsecret``), and decoded in
    a path: each form is masked, in the loop's addresses and in the line's."""
    http_server.route("/feed.xml", Reply(302, b"", {"Location": "/login?next=%2Ffeed.xml%3Ftoken%3DAB%252FCDsecret"}))
    http_server.route("/login", Reply(302, b"", {"Location": "/feed.xml?token=AB%2FCDsecret"}))
    write_config(tmp_path, _feed_source(http_server.url("/feed.xml?token=AB%2FCDsecret")))
    r = cli("papers")
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert "CDsecret" not in r.err, r.err
    feed, login = http_server.url("/feed.xml?token=***"), http_server.url("/login?next=%2Ffeed.xml%3Ftoken%3D***")
    assert r.err.splitlines()[0] == (
        f"{feed}: source 'blog': too many redirects (more than 20): a redirect loop: {feed} -> {login} -> {feed}"), r.err


def test_the_forms_of_a_secret_are_masked_and_a_short_ones_forms_are_not():
    from newsletter.fetching import shown_url, url_secrets

    assert set(url_secrets("https://x.org/f?token=AB%2FCD+s&k=1")) >= {
        "AB%2FCD+s", "AB/CD s", "AB%2FCD%20s", "AB%252FCD%2520s", "AB%252FCD%2Bs"}
    assert shown_url("a/b?q=AB/CD s&r=AB%252FCD%2520s", url_secrets("https://x.org/f?token=AB%2FCD+s")) == (
        "a/b?q=***&r=***")
    # a one-character value: masked as written, as before, its other forms (here '%31') not looked for
    assert url_secrets("https://x.org/f?key=1") == ["1"]


_S3_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired'
              b'</Message><RequestId>8X2K</RequestId></Error>')


def test_a_presigned_bucket_urls_signature_and_credentials_are_not_printed(http_server, tmp_path, cli):
    """A feed shared as a presigned S3 or Google Cloud Storage URL carries its
    signing key's id, its session token and its signature in parameters
    named ``X-Amz-...`` / ``X-Goog-...``: a 403 (the link expired) printed
    them whole.  Any parameter named ...signature, ...token, ...credential
    or ...sig is a secret; the date and expiry still show."""
    s3 = ("/feed.xml?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20261202%2Fus-east-1%2Fs3%2F"
          "aws4_request&X-Amz-Date=20261202T080000Z&X-Amz-Expires=3600&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE"
          "&X-Amz-SignedHeaders=host&X-Amz-Signature=0a1b2c3d4e5f60718293a4b5c6d7e8f9")
    gcs = ("/feed.xml?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=feeds%40proj.iam.gserviceaccount.com%2F"
           "20261202%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20261202T080000Z&X-Goog-Expires=600"
           "&X-Goog-Signature=9f8e7d6c5b4a39281706f5e4d3c2b1a0&upload_sig=Zm9vYmFyYmF6")
    http_server.route("/feed.xml", Reply(403, _S3_DENIED, {"Content-Type": "application/xml"}))
    for path, secrets in ((s3, ("AKIAEXAMPLE", "FwoGZXIvYXdzEXAMPLE", "0a1b2c3d4e5f60718293a4b5c6d7e8f9")),
                          (gcs, ("feeds%40proj", "feeds@proj", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "Zm9vYmFyYmF6"))):
        write_config(tmp_path, _feed_source(http_server.url(path)))
        r = cli("papers")
        assert r.code == 2 and "Traceback" not in r.err, r.err
        assert not [s for s in secrets if s in r.err], r.err
        assert "HTTP 403 Forbidden (the server says 'AccessDenied: Request has expired')" in r.err, r.err
        assert "Date=20261202T080000Z" in r.err and "Signature=***" in r.err and "Credential=***" in r.err, r.err


def test_a_hostile_pages_refresh_target_does_not_reach_the_terminal(http_server, tmp_path, cli):
    """A page's refresh target (and the feed it links) is the page's own
    text: backspaces, a CSI (``\\x9b``), a bell and a right-to-left override
    in it reached the terminal raw (rewriting the line shown), and a target
    of any length was printed whole.  Such a target is not shown: the
    line is the one for a page that sends nowhere."""
    write_config(tmp_path, _feed_source(http_server.url("/feed.xml")))
    hostile = "http://evil.example/a\x08\x08\x08\x9b31m\u202eRED\x07/feed.xml"
    long = "http://evil.example/" + "a" * 300 + "/feed.xml"
    for target in (hostile, "http://evil.example/\u2066feed.xml", long):
        page = (f"<html><head><title>Moved</title><meta http-equiv='refresh' content='0; url={target}'>"
                f"<link rel='alternate' type='application/rss+xml' href='{target}'></head></html>")
        http_server.route("/feed.xml", Reply(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"}))
        r = cli("papers")
        assert r.code == 2 and "Traceback" not in r.err, r.err
        assert not [c for c in r.err if not c.isprintable() and c != "\n"] and "evil.example" not in r.err, r.err
        assert r.err.splitlines()[0] == (f"{http_server.url('/feed.xml')}:1: source 'blog': an HTML page, not an RSS "
                                         "or Atom feed (an error page or a login wall?); the page's title: 'Moved'")
    # a plain target of 300 characters still shows
    plain = "http://evil.example/" + "a" * 271 + "/feed.xml"
    assert len(plain) == 300
    http_server.route("/feed.xml", Reply(200, f"<html><meta http-equiv='refresh' content='0; url={plain}'></html>".encode(),
                                         {"Content-Type": "text/html"}))
    r = cli("papers")
    assert r.code == 2 and f"the page sends browsers on to {plain} (a refresh" in r.err, r.err


_FEED = (DATA / "feed-rss2.xml").read_bytes()
_UNFRAMED_WHOLE = {
    "NUL bytes after the feed": (_FEED + b"\x00\x00", "application/rss+xml"),
    "an end-of-file mark after the feed": (_FEED + b"\n\x1a", "application/rss+xml"),
    "UTF-16LE with no mark, said by the header": (
        _FEED.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"),
        "application/rss+xml; charset=utf-16"),
}


@pytest.mark.parametrize("how", list(_UNFRAMED_WHOLE))
def test_a_whole_feed_with_no_length_is_read_whatever_it_ends_with(http_server, tmp_path, cli, how):
    """An answer with no Content-Length ends where the connection closes, and
    one ending mid-document is asked again as cut off; a whole feed ending in
    NUL bytes or a DOS end-of-file mark, or in UTF-16 (its last byte a NUL),
    was taken as cut off and failed the source.  It is read, asked once."""
    body, content_type = _UNFRAMED_WHOLE[how]
    http_server.route("/feed.xml", Reply(200, body, {"Content-Type": content_type}, length=False))
    write_config(tmp_path, _feed_source(http_server.url("/feed.xml")).replace("retries: 0", "retries: 1\n  backoff: 0"))
    r = cli("papers", "--json")
    assert r.code == 0 and "cut off" not in r.err and "Traceback" not in r.err, r.err
    assert "Score-Based Diffusion Models for Schrödinger Bridge Problems" in r.out, r.out
    assert len(http_server.requests_to("/feed.xml")) == 1


_UNFRAMED_FAULTS = {
    "a PHP notice after the feed": (
        _FEED + b"\nNotice: Undefined index: id in /var/www/feed.php on line 12\n", "application/rss+xml",
        "not a well-formed feed (junk after document element)"),
    "a login page with no closing tags": (
        b"<!DOCTYPE html>\n<html><head><title>Wifi</title>\n<body><p>Sign in to continue", "text/html",
        "an HTML page, not an RSS or Atom feed (an error page or a login wall?); the page's title: 'Wifi'"),
}


@pytest.mark.parametrize("how", list(_UNFRAMED_FAULTS))
def test_a_faulty_answer_with_no_length_is_named_for_its_fault_not_as_cut_off(http_server, tmp_path, cli, how):
    """A feed followed by a PHP notice, or a network's login page that closes
    no tags, sent with no length: each was taken as cut off and asked again
    (the same every time), the fault itself unsaid.  It is said, once."""
    body, content_type, said = _UNFRAMED_FAULTS[how]
    http_server.route("/feed.xml", Reply(200, body, {"Content-Type": content_type}, length=False))
    write_config(tmp_path, _feed_source(http_server.url("/feed.xml")).replace("retries: 0", "retries: 1\n  backoff: 0"))
    r = cli("papers")
    assert r.code == 2 and "cut off" not in r.err and "Traceback" not in r.err, r.err
    assert said in r.err.splitlines()[0], r.err
    assert len(http_server.requests_to("/feed.xml")) == 1


def test_every_cut_of_a_feed_or_a_json_list_is_judged_cut_and_a_whole_one_not():
    """Wherever the connection closed (mid-tag, mid-declaration, mid-character,
    in a JSON literal: 'fa' of false), the half is judged cut off; the whole
    document, and documents with faults of their own, are not."""
    from newsletter.fetching import _stops_short

    for name in ("feed-rss2.xml", "hf-daily-2024-06-06.json"):
        whole = (DATA / name).read_bytes().strip()
        assert not _stops_short(whole)
        assert [n for n in range(1, len(whole)) if whole[:n].strip() and not _stops_short(whole[:n].strip())] == []
    assert _stops_short("<a>é".encode()[:-1]) and _stops_short(b"<a><![CDATA[x")
    for faulty in (b"<a></b>", b"<a/>junk", b'{"a": }', b'[1, 2] 3', b"<a>&bogus;</a>",
                   b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;'):
        assert not _stops_short(faulty), faulty
