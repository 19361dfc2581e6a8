"""Secrets a source's URL carries (``?token=``, a presigned bucket URL's
signature) and what a hostile page says, in the messages an HTTP fault
gives: never printed, whatever form the server echoes them in (a login
page's ``?continue=`` holding the feed's whole address, percent-encoded
once or twice), and a page's words never reach the terminal as control
characters.  Served by a real HTTP server on 127.0.0.1 (tests/recorded_http.py)."""

from __future__ import annotations

from conftest import write_config
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
