"""``newsletter preview``: files on disk equal what Composer produced; --serve reloads."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import BASIC_CONFIG, DATA, ROOT, killed_writing, unwrapped, write_config

from newsletter.config import load_config
from newsletter.previewing import RELOAD_SCRIPT, preview, slug
from newsletter.rendering import Composer

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def setup(tmp_path, extra=""):
    (tmp_path / "papers").mkdir()
    for f in DATA.glob("hf-papers-*.txt"):
        shutil.copy(f, tmp_path / "papers" / f.name)
    shutil.copy(DATA / "hostile-papers.txt", tmp_path / "papers" / "hostile.txt")
    return write_config(tmp_path, BASIC_CONFIG + extra)


class Recording(Composer):
    def __init__(self, config):
        super().__init__(config)
        self.made = []

    def compose(self, *args, **kwargs):
        composed = super().compose(*args, **kwargs)
        self.made.append(composed)
        return composed


def test_a_preview_clears_what_a_killed_preview_was_writing(tmp_path):
    """`kill -9` of a preview (or of `preview --serve` re-rendering) while it
    wrote a page left its temporary file (`.NAME.XXXX.tmp`) in the folder for
    ever.  A preview removes its own an hour old; a fresh one may be another
    preview's, and a file not of the preview's is left alone."""
    config = load_config(setup(tmp_path))
    out = tmp_path / "preview"
    out.mkdir()
    stale = [killed_writing(out / "index.html"), killed_writing(out / "ada@example.org.eml")]
    fresh = killed_writing(out / "bob@example.org.html")
    other = killed_writing(out / "notes.md")
    for path in (*stale, other):
        os.utime(path, (1_700_000_000, 1_700_000_000))  # 2023: long before this test
    preview(config, now=NOW)
    assert not any(path.exists() for path in stale) and fresh.exists() and other.exists()
    assert (out / "index.html").read_bytes() != b"half of it"


def test_preview_writes_exactly_what_compose_made(tmp_path):
    config = load_config(setup(tmp_path))
    composer = Recording(config)
    report = preview(config, now=NOW, composer=composer)
    out = tmp_path / "preview"
    assert report.out == out and len(composer.made) == 2
    for composed, sub in zip(composer.made, config.subscribers):
        name = slug(sub.email)
        assert (out / f"{name}.html").read_text(encoding="utf-8") == composed.html
        assert (out / f"{name}.txt").read_text(encoding="utf-8") == composed.text
        assert (out / f"{name}.eml").read_bytes() == composed.data
        assert RELOAD_SCRIPT not in composed.html
    index = (out / "index.html").read_text(encoding="utf-8")
    for e in report.entries:
        assert f'href="{e.slug}.html"' in index and f'href="{e.slug}.eml"' in index
        assert f">{e.papers}<" in index and f"{e.html_bytes / 1024:.1f} KB" in index
    assert "&lt;script&gt;" in index or "<script>" not in index
    assert not config.state_path.exists()  # preview never writes the state


def test_preview_exclude_and_only(tmp_path):
    config = load_config(setup(tmp_path))
    first = preview(config, now=NOW, only="bob@example.org")
    assert [e.email for e in first.entries] == ["bob@example.org"] and first.entries[0].papers == 5
    again = Recording(config)
    ids = set()
    preview(config, now=NOW, only="bob@example.org", composer=again,
            exclude=lambda sub: frozenset(ids))
    ids.update(again.made[0].paper_ids)
    third = Recording(config)
    preview(config, now=NOW, only="bob@example.org", composer=third, exclude=lambda sub: frozenset(ids))
    assert not set(third.made[0].paper_ids) & ids and third.made[0].paper_ids


def test_preview_command_and_size_warning(tmp_path, cli):
    setup(tmp_path, extra="email:\n  max_html_kb: 5\n")
    r = cli("preview", "--out", "pv")
    assert r.code == 0, r.err
    assert (tmp_path / "pv" / "index.html").is_file() and (tmp_path / "pv" / "ada@example.org.eml").is_file()
    assert "warning: digest for ada@example.org: HTML body is" in r.err and "over 5 KB" in r.err
    assert "wrote 2 previews" in r.out
    assert not (tmp_path / "newsletter-state.sqlite3").exists()


@pytest.mark.parametrize("source, out", [
    ("papers/", "papers"), ("papers/*.txt", "papers"), ("papers/**/*.txt", "papers/preview"), ("'**/*.txt'", None),
])
def test_a_preview_into_the_folder_the_exports_are_read_from_is_refused(tmp_path, cli, source, out):
    """The preview worked, and the next send read its .html/.txt/.eml files as
    exports and stopped (exit 2), as an outbox there would; `**` included."""
    setup(tmp_path)
    write_config(tmp_path, BASIC_CONFIG.replace("    path: papers/\n", f"    path: {source}\n"))
    before = sorted(p.name for p in (tmp_path / "papers").iterdir())
    r = cli("preview", *(("--out", out) if out else ()))
    shown = out or "preview"
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.splitlines() == [
        f"config.yaml:3: sources[0].path: {source.strip(chr(39))!r} reads the folder preview would write to "
        f"({shown!r}): from the next run on, its .html, .txt and .eml files would be read as exports; "
        "write the preview elsewhere (--out DIR)"
    ], r.err
    assert sorted(p.name for p in (tmp_path / "papers").iterdir()) == before
    assert not (tmp_path / "preview").exists()


def test_a_preview_beside_exports_read_as_txt_only_is_fine(tmp_path, cli):
    setup(tmp_path)
    write_config(tmp_path, BASIC_CONFIG.replace("    path: papers/\n", "    path: papers/*.txt\n"))
    assert cli("preview", "--out", "papers/pv").code == 0  # a subfolder: *.txt does not reach it
    assert cli("send").code == 0


@pytest.mark.parametrize(("args", "said"), [
    (("--port", "9000"), "Error: --port is the port of --serve, and without it nothing is served: add --serve"),
    (("--serve", "--json"), "Error: --json prints what one preview wrote; --serve keeps writing and prints no JSON: "
                            "give one of them"),
])
def test_an_option_of_the_other_preview_mode_is_refused(tmp_path, cli, args, said):
    """`preview --port 9000` wrote files and served nothing; `--serve --json`
    served and gave the script waiting for JSON none: each was ignored."""
    setup(tmp_path)
    r = cli("preview", *args)
    assert r.code == 2 and r.err.splitlines()[-1] == said, r.err
    assert not (tmp_path / "preview").exists()


def test_preview_serve_on_a_busy_port_says_which_in_one_line(tmp_path, cli):
    import socket

    setup(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = cli("preview", "--serve", "--port", str(port))
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.strip().splitlines()[-1] == (
        f"cannot listen on 127.0.0.1:{port}: Address already in use (another program listens there: "
        "choose another port with --port N, or --port 0 for any free one)"
    )


def _reader(stream, q):
    for line in stream:
        q.put(line)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read().decode("utf-8")


def _until(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)  # polling interval while waiting on another process, not a fixed wait
    raise AssertionError(f"timed out waiting for {what}")


def _start_serving(folder):
    """``newsletter preview --serve`` on any free port in ``folder``: the
    process and a queue of its stdout lines."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
    env.pop("NEWSLETTER_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "preview", "--serve", "--port", "0"],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out_q: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, out_q), daemon=True).start()
    return proc, out_q


def _stop_serving(proc, sig) -> int:
    """Send ``sig`` to a ``preview --serve`` process; its exit code (killed,
    and the test failed, if it is still running after 15 s)."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_serve_reloads_on_template_change(tmp_path):
    tpl = tmp_path / "templates"
    tpl.mkdir()
    shutil.copy(ROOT / "templates" / "digest.txt", tpl / "digest.txt")
    setup(tmp_path, extra="templates: templates\n")
    proc, out_q = _start_serving(tmp_path)
    err_q: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stderr, err_q), daemon=True).start()
    errors: list[str] = []

    def drain_err():
        while not err_q.empty():
            errors.append(err_q.get())
        return errors

    try:
        line = out_q.get(timeout=30)
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        index = _get(url)
        assert "ada@example.org.html" in index and RELOAD_SCRIPT in index
        page = _get(url + "ada@example.org.html")
        assert RELOAD_SCRIPT in page  # injected when served...
        on_disk = (tmp_path / "preview" / "ada@example.org.html").read_text(encoding="utf-8")
        assert RELOAD_SCRIPT not in on_disk  # ...never in the file that equals what is sent
        assert "Hello Ada Lovelace" in page and "MARKER-1" not in page
        version = _get(url + "__version")

        (tpl / "digest.html").write_text(
            (ROOT / "templates" / "digest.html").read_text().replace("Hello {{ name }}", "MARKER-1 {{ name }}")
        )
        _until(lambda: _get(url + "__version") != version, what="/__version to change")
        assert "MARKER-1 Ada Lovelace" in _get(url + "ada@example.org.html")
        version = _get(url + "__version")

        # A broken template: one-line error, the last good output stays served,
        # with the error on top of every page (the open page reloads to show it).
        (tpl / "digest.html").write_text("<html>{% if %}</html>")
        _until(lambda: any("preview not updated" in e for e in drain_err()), what="the error line")
        bad = [e for e in errors if "preview not updated" in e][0]
        assert "templates/digest.html:1: template syntax error" in bad
        assert _get(url + "__version") != version
        for shown in (_get(url + "ada@example.org.html"), _get(url)):
            assert 'id="preview-error"' in shown and "templates/digest.html:1: template syntax error" in shown
        assert "MARKER-1" in _get(url + "ada@example.org.html")
        broken = _get(url + "__version")

        # Fixed: rebuilt, and the error is gone from the page.
        (tpl / "digest.html").write_text(
            (ROOT / "templates" / "digest.html").read_text().replace("Hello {{ name }}", "MARKER-2 {{ name }}")
        )
        _until(lambda: _get(url + "__version") not in (version, broken), what="the rebuild after the fix")
        page = _get(url + "ada@example.org.html")
        assert "MARKER-2 Ada Lovelace" in page and 'id="preview-error"' not in page
    finally:
        code = _stop_serving(proc, signal.SIGINT)
    drain_err()
    assert code == 0
    assert not any("Traceback" in e for e in errors), "".join(errors)


def test_preview_leaves_out_papers_already_sent(workdir, cli):
    """After a send, the preview shows the next digest: none of the papers just sent."""
    from conftest import BASIC_CONFIG, write_config

    write_config(workdir, BASIC_CONFIG)
    assert cli("preview", "--subscriber", "bob@example.org").code == 0
    first = (workdir / "preview" / "bob@example.org.txt").read_text(encoding="utf-8")
    r = cli("send", "--subscriber", "bob@example.org")
    assert r.code == 0, r.err
    state_before = (workdir / "newsletter-state.sqlite3").read_bytes()
    assert cli("preview", "--subscriber", "bob@example.org").code == 0
    second = (workdir / "preview" / "bob@example.org.txt").read_text(encoding="utf-8")
    sent_titles = list(dict.fromkeys(re.findall(r"^\[\d+\] (.+)$", first, re.M)))  # contents and cards
    assert len(sent_titles) == 5
    assert not any(f"] {t}\n" in second for t in sent_titles)
    assert (workdir / "newsletter-state.sqlite3").read_bytes() == state_before  # preview never writes the state


def test_preview_json_lists_the_files_written(workdir, cli):
    import json

    from conftest import BASIC_CONFIG, write_config

    write_config(workdir, BASIC_CONFIG)
    r = cli("preview", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert [s["email"] for s in data["subscribers"]] == ["ada@example.org", "bob@example.org"]
    for entry in data["subscribers"]:
        for path in entry["files"].values():
            assert (workdir / path).is_file()
        assert entry["papers"] > 0 and entry["eml_bytes"] > entry["html_bytes"] > 0


def test_preview_eml_is_the_wire_bytes_send_would_send(tmp_path):
    # Re-serialising the parsed message refolds long headers: a List-Unsubscribe
    # URL over a line's width came out as RFC 2047 encoded words, unusable to
    # a mail client, although the message sent has it verbatim.
    url = "https://example.org/unsubscribe/" + "a" * 120 + "?e={email}"
    config = load_config(setup(tmp_path, f'email:\n  unsubscribe: "{url}"\n'))
    composer = Recording(config)
    preview(config, now=NOW, composer=composer)
    for composed, sub in zip(composer.made, config.subscribers):
        eml = (tmp_path / "preview" / f"{slug(sub.email)}.eml").read_bytes()
        assert eml == composed.data
        expected = url.replace("{email}", sub.email.replace("@", "%40"))
        assert f"\r\nList-Unsubscribe: <{expected}>\r\n".encode() in eml


def test_preview_writes_no_email_where_send_would_send_none(workdir, cli):
    """No new papers and no send_empty: send sends nothing, so preview shows nothing
    but says so; with send_empty the short note is previewed."""
    import json

    from conftest import BASIC_CONFIG, write_config

    config = BASIC_CONFIG.replace('any: ["diffusion model*", "score-based"]', 'any: ["no such term anywhere"]')
    write_config(workdir, config)
    r = cli("preview", "--subscriber", "ada@example.org", "--json")
    assert r.code == 0, r.err
    [entry] = json.loads(r.out)["subscribers"]
    assert entry["would_send"] is False and entry["files"] == {}
    assert not (workdir / "preview" / "ada@example.org.eml").exists()
    assert "nothing would be sent" in (workdir / "preview" / "index.html").read_text(encoding="utf-8")
    write_config(workdir, config + "send_empty: true\n")
    [entry] = json.loads(cli("preview", "--subscriber", "ada@example.org", "--json").out)["subscribers"]
    assert entry["would_send"] is True and entry["papers"] == 0
    assert "no new papers" in (workdir / "preview" / "ada@example.org.txt").read_text(encoding="utf-8")


def test_serve_stops_cleanly_on_sigterm(tmp_path):
    """SIGTERM (a service manager's stop) ends ``preview --serve`` as Ctrl-C
    does: between polls, exit 0, 'stopped' (it used to die of the signal)."""
    setup(tmp_path)
    proc, out_q = _start_serving(tmp_path)
    try:
        assert "Serving" in out_q.get(timeout=30)
    finally:
        code = _stop_serving(proc, signal.SIGTERM)
    assert code == 0
    assert "stopped" in proc.stderr.read()


def test_a_preview_folder_on_a_full_disk_names_the_file_that_did_not_fit(tmp_path):
    """A write that fails for want of room names no file of its own: the
    message said only "File too large" / "No space left on device"."""
    import resource

    setup(tmp_path)

    def small_files() -> None:  # the child's files may not grow past 4 KB: as a full disk, for it alone
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
    proc = subprocess.run(
        [sys.executable, "-m", "newsletter", "preview", "--out", "pv"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, preexec_fn=small_files,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert re.fullmatch(r"pv/[\w.@-]+\.html: File too large\n", proc.stderr), proc.stderr
    assert not [p for p in (tmp_path / "pv").iterdir() if p.name.endswith(".tmp")]  # nothing half-written left


def test_open_without_a_browser_says_where_the_index_is(tmp_path, cli):
    """On a server (no display, no browser), --open said nothing and opened nothing."""
    setup(tmp_path)
    no_browser = {"DISPLAY": "", "WAYLAND_DISPLAY": "", "BROWSER": "", "PATH": str(Path(sys.executable).parent)}
    r = cli("preview", "--open", env=no_browser)
    assert r.code == 0, r.err
    index = tmp_path / "preview" / "index.html"
    assert index.exists()
    assert r.err.strip().splitlines()[-1] == f"no web browser found to open it: open {index.as_uri()} yourself"


def test_preview_says_when_a_subscriber_not_due_gets_the_digest_shown(tmp_path, cli):
    """The starter's subscriber is on a daily schedule: preview showed its
    digest while `send` said "not due"; the line says when it goes out."""
    setup(tmp_path, "schedule: daily at 08:00\ntimezone: Europe/Berlin\n")
    at = "2024-06-07T05:00:00+00:00"  # 07:00 in Berlin: today's slot is an hour away
    r = cli("preview", "--subscriber", "ada@example.org", "--json", "--now", at)
    assert r.code == 0, r.err
    [entry] = json.loads(r.out)["subscribers"]
    assert entry["would_send"] is True and entry["next_send"] == "2024-06-07T08:00:00+02:00"
    r = cli("preview", "--subscriber", "ada@example.org", "--now", at)
    assert r.code == 0, r.err
    line = r.out.splitlines()[0]
    assert line.startswith("ada@example.org.html") and line.endswith("  (not due now: goes out 2024-06-07 08:00 CEST)")
    index = (tmp_path / "preview" / "index.html").read_text(encoding="utf-8")  # the page said nothing of it
    assert "<small>not due now: goes out 2024-06-07 08:00 CEST</small>" in index


def test_preview_lines_line_up_in_columns(tmp_path, cli):
    """Addresses of different lengths pushed the paper counts and sizes out of line."""
    setup(tmp_path, "  - email: cy.longer.name@example.org\n    topics: [optim]\n")
    r = cli("preview")
    assert r.code == 0, r.err
    rows = [line for line in r.out.splitlines() if ".html " in line]
    assert len(rows) == 3 and len({len(row.split(".html")[0]) for row in rows}) == 2  # two address lengths
    assert len({row.index(" papers") for row in rows}) == 1, rows
    assert len({row.index(" KB") for row in rows}) == 1, rows
    # one paper is "1 paper" ("1 papers" it was), in the same columns
    setup_one = tmp_path / "one"
    setup_one.mkdir()
    setup(setup_one, "  - email: cy@example.org\n    topics: [optim]\n    max_papers: 1\n")
    r = cli("preview", "--config", str(setup_one))
    rows = [line for line in r.out.splitlines() if ".html " in line]
    one = [row for row in rows if row.startswith("cy@")]
    assert one and "   1 paper   " in one[0] and " 1 papers" not in r.out, r.out
    assert len({row.index(" KB") for row in rows}) == 1, rows


def test_addresses_that_differ_only_in_unsafe_characters_get_their_own_files(tmp_path, cli):
    # a/b@ and a_b@ are two mailboxes, both written as a_b@... : the second
    # preview overwrote the first, and the index linked both to one digest.
    # The longest valid address made a name over the file system's 255 bytes.
    setup(tmp_path)
    long_address = f"{'a' * 64}@{'.'.join(['b' * 60] * 3)}.example.org"
    config = (tmp_path / "config.yaml").read_text(encoding="utf-8")
    config = config.replace("ada@example.org", "a/b@example.org").replace("bob@example.org", "a_b@example.org")
    config = config.replace("subscribers:\n", f"subscribers:\n  - email: {long_address}\n    topics: [diffusion]\n")
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    r = cli("preview", "--json")
    assert r.code == 0, r.err
    entries = json.loads(r.out)["subscribers"]
    assert [e["email"] for e in entries] == [long_address, "a/b@example.org", "a_b@example.org"]
    emls = [Path(e["files"]["eml"]) for e in entries]
    assert len(set(emls)) == 3 and all(len(p.name.encode()) <= 200 for p in emls)
    for entry, eml in zip(entries, emls):
        assert re.search(f"^To: (.* <)?{re.escape(entry['email'])}>?$", (tmp_path / eml).read_text(encoding="utf-8"), re.M)
    index = (tmp_path / "preview" / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{eml.name}"' in index for eml in emls)
    assert slug("ada@example.org") == "ada@example.org"  # a name that needs no change keeps it


def test_a_preview_into_the_outbox_is_refused(tmp_path, cli):
    """Its ada@example.org.eml sat among the digests sent, as if sent."""
    setup(tmp_path, extra="delivery:\n  path: out\n")
    for out in ("out", "./out/"):
        r = cli("preview", "--out", out)
        assert r.code == 2 and "Traceback" not in r.err
        assert r.err.splitlines() == [
            "config.yaml:19: delivery.path: preview --out 'out' is the outbox: its .eml files would sit among "
            "the digests sent, as if sent; write the preview elsewhere (--out DIR)"
        ], r.err
    assert not (tmp_path / "out").exists()
    assert cli("preview", "--out", "out/preview").code == 0  # a folder of its own inside it is fine


def test_a_preview_out_that_is_no_folder_says_so(tmp_path, cli):
    """--out naming a device or a pipe (/dev/null, to throw the files away)
    said '/dev/null: File exists', of a name given as a folder's."""
    import os

    setup(tmp_path)
    os.mkfifo(tmp_path / "pipe")
    for out in ("pipe", "/dev/null"):
        r = cli("preview", "--out", out)
        assert r.code == 2 and r.err.splitlines() == [
            f"{out}: not a folder (something else of that name is there), where a folder is wanted"], r.err


def test_a_preview_beside_a_config_in_a_folder_it_cannot_write_says_where_and_what_to_do(tmp_path, cli):
    """A config in a folder this user cannot write (a colleague's, a
    read-only checkout): `match` and `schedule` work there, and `preview`
    ended with the bare `preview: Permission denied`, naming neither the
    folder (beside the config, not the current one) nor `--out`."""
    from conftest import unwritable

    setup(tmp_path)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-preview"
    with unwritable(tmp_path):
        said = "Permission denied" if os.geteuid() != 0 else "Operation not permitted"  # chmod, or chattr +i
        r = cli("preview")
        assert r.code == 2 and r.err.splitlines() == [
            f"{tmp_path / 'preview'}: cannot write the preview there: {said}; give it another folder with --out DIR"
        ], r.err
        assert "Traceback" not in r.err and not (tmp_path / "preview").exists()
        r = cli("preview", "--out", str(elsewhere))  # as it says
        assert r.code == 0 and (elsewhere / "index.html").is_file(), r.err
    shutil.rmtree(elsewhere)


def test_a_sources_warning_reads_as_one_in_preview_too(tmp_path, cli):
    """`papers` said `warning: ... skipped`; `preview` printed the same line
    without `warning:`, as if it were an error."""
    shutil.copy(DATA / "hf-daily-2024-06-07.json", tmp_path / "hf.json")
    write_config(tmp_path, "sources:\n  - {type: hf-daily, path: hf.json}\n"
                           "topics: {t: {any: [\"/./\"]}}\nsubscribers:\n  - {email: ada@example.org, topics: [t]}\n")
    r = cli("preview")
    assert r.code == 0, r.err
    assert [line for line in r.err.splitlines() if "has no title" in line] == [
        "warning: hf.json:47: source 'hf-daily': item 3 (2406.09999) has no title; skipped"], r.err


def test_the_files_of_a_subscriber_taken_out_of_the_config_go(workdir, cli):
    """Bob left the config, and his preview stayed beside Ada's, as fresh as hers
    and no longer in the index: a digest that would never be sent looked current.
    A preview of one subscriber removes nobody's, and the user's own files stay."""
    write_config(workdir, BASIC_CONFIG)
    assert cli("preview").code == 0
    out = workdir / "preview"
    (out / "notes.html").write_text("mine", encoding="utf-8")
    (out / "team@lab.txt.bak").write_text("mine too", encoding="utf-8")
    write_config(workdir, BASIC_CONFIG.replace("  - email: bob@example.org", "  - email: cy@example.org"))
    r = cli("preview", "--subscriber", "cy@example.org")
    assert r.code == 0, r.err
    assert (out / "bob@example.org.eml").is_file() and "removed" not in r.out
    r = cli("preview", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["removed"] == [f"preview/bob@example.org.{kind}" for kind in ("eml", "html", "txt")]
    assert sorted(p.name for p in out.iterdir()) == [
        "ada@example.org.eml", "ada@example.org.html", "ada@example.org.txt", "cy@example.org.eml",
        "cy@example.org.html", "cy@example.org.txt", "index.html", "notes.html", "team@lab.txt.bak",
    ]
    write_config(workdir, BASIC_CONFIG.replace("  - email: bob@example.org", "  - email: dee@example.org"))
    r = cli("preview")
    assert r.code == 0, r.err
    assert "removed 3 files of addresses no longer in the config" in r.out + r.err


def test_a_digest_owed_after_a_failed_send_is_previewed_and_matched_as_send_will_send_it(tmp_path, cli):
    """A digest whose delivery failed is owed: the next send sends it again
    with its Message-ID and its papers first.  The preview showed a fresh
    digest instead, with a new paper that ranks higher in its place."""
    import email
    import email.policy

    from conftest import query
    from smtp_server import free_port

    from newsletter.models import normalize_title

    delivery = f"""delivery:
  transport: smtp
  host: 127.0.0.1
  port: {free_port()}
  security: none
  retries: 0
"""
    setup(tmp_path, delivery)
    r = cli("send", "--subscriber", "bob@example.org")
    assert r.code == 1, r.out + r.err
    state = str(tmp_path / "newsletter-state.sqlite3")
    (did, message_id), = query(state, "SELECT id, message_id FROM digests WHERE status = 'pending'")
    owed = [pid for (pid,) in query(state, "SELECT paper_id FROM digest_papers WHERE digest_id = ? ORDER BY position",
                                    (did,))]
    assert len(owed) == 5
    # a new paper that every topic of bob's finds, more terms than any other: first in a fresh digest
    fresh = "Stochastic Gradient Optimization of Score-Based Diffusion Models with SGD"
    (tmp_path / "papers" / "newer.txt").write_text(
        "Daily Papers\n\n" + fresh + "\n\nWe optimize score-based diffusion models with SGD and stochastic gradient "
        "methods.\n\n", encoding="utf-8")
    assert cli("preview", "--subscriber", "bob@example.org").code == 0
    eml = email.message_from_bytes((tmp_path / "preview" / "bob@example.org.eml").read_bytes(),
                                   policy=email.policy.default)
    assert eml["Message-ID"] == message_id
    text = unwrapped((tmp_path / "preview" / "bob@example.org.txt").read_text(encoding="utf-8"))
    shown = [normalize_title(t) for t in re.findall(r"^\[\d+\] (.+)$", text, re.M)]  # contents, then cards
    assert [t for t in dict.fromkeys(shown) if t in owed] == owed, shown
    assert fresh not in text
    # match lists the same next digest
    r = cli("match", "--json", "--subscriber", "bob@example.org")
    assert r.code == 0, r.err
    assert [p["id"] for p in json.loads(r.out)["subscribers"][0]["papers"]] == owed


def test_a_preview_with_nothing_to_send_counts_no_preview_written(workdir, cli):
    """`wrote 1 preview to preview` over a folder holding only index.html (the
    one subscriber had nothing new): the newcomer looked for the lost file."""
    from conftest import BASIC_CONFIG, write_config

    write_config(workdir, BASIC_CONFIG.replace('any: ["diffusion model*", "score-based"]', 'any: ["no such term"]'))
    r = cli("preview", "--subscriber", "ada@example.org")
    assert r.code == 0, r.err
    assert r.out.splitlines()[-1] == "wrote 0 previews to preview: preview/index.html", r.out
    assert [p.name for p in (workdir / "preview").iterdir()] == ["index.html"]
    r = cli("preview")
    assert r.out.splitlines()[-1] == "wrote 1 preview to preview: preview/index.html", r.out  # bob's
