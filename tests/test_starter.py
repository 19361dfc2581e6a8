"""``newsletter init``: the starter config it writes validates as written, and
an existing file is never replaced without --force."""

from __future__ import annotations

import shutil

import pytest
import yaml
from conftest import ROOT

from newsletter.config import parse_config
from newsletter.readers import is_remote
from newsletter.starter import starter_config


def test_starter_config_reads_live_sources_and_loads():
    text = starter_config()
    config = parse_config(text, "config.yaml")
    kinds = [s.type for s in config.sources]
    assert kinds == ["arxiv", "hf-daily"] and all(is_remote(s) for s in config.sources)
    assert config.sources[0].categories == ["cs.LG", "cs.CL", "stat.ML"]
    assert config.topics["diffusion"].any  # a topic as keyword rules
    assert config.delivery.transport == "outbox"
    (sub,) = config.subscribers
    assert sub.schedule is not None and str(sub.schedule) == "daily at 08:00"  # the default schedule
    assert str(config.schedule) == "daily at 08:00"
    assert config.topics["molecules"].about.startswith("Graph neural networks for molecules")  # in words
    assert sub.topics == ["diffusion", "molecules"]
    assert "# " in text and yaml.safe_load(text)["email"]["from"]  # commented, plain YAML


def test_init_then_validate_passes_without_fetching(tmp_path, cli):
    r = cli("init")
    assert r.code == 0, r.err
    written = tmp_path / "config.yaml"
    assert written.read_text(encoding="utf-8") == starter_config()
    assert r.out.splitlines()[0] == "wrote config.yaml"
    v = cli("validate")
    assert v.code == 0, v.err
    assert v.out.startswith("config.yaml: OK: 2 sources (0 papers, 2 remote not fetched)")
    # nothing fetched: the config as read and the templates' and the patterns' compiled code only
    assert sorted(p.name for p in (tmp_path / ".cache").iterdir()) == ["config", "patterns", "templates"]
    assert not (tmp_path / "newsletter-state.sqlite3").exists()


def test_init_never_overwrites_without_force(tmp_path, cli):
    mine = tmp_path / "config.yaml"
    mine.write_text("# my own config\n", encoding="utf-8")
    r = cli("init")
    assert r.code == 2
    assert r.err.strip() == "config.yaml: already exists; not overwritten (use --force to replace it)"
    assert r.out == "" and mine.read_text(encoding="utf-8") == "# my own config\n"

    r = cli("init", "--force")
    assert r.code == 0, r.err
    assert mine.read_text(encoding="utf-8") == starter_config()
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temporary file left


def test_init_in_the_checkout_says_where_a_config_of_ones_own_goes(tmp_path, cli):
    """`newsletter init` run in the checkout (README's mkdir and cd left out):
    'use --force to replace it' was the one way offered, and it replaced the
    sample config the quick start sends."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    r = cli("init")
    assert r.code == 2 and r.err.strip() == (
        "config.yaml: already exists; not overwritten (use --force to replace it); here it is the checkout's sample "
        "config: yours goes in a folder of its own, `newsletter init ~/digest`, then `cd ~/digest`")
    assert (tmp_path / "config.yaml").read_bytes() == (ROOT / "config.yaml").read_bytes()


def test_init_path_folder_and_config_option(tmp_path, cli):
    assert cli("init", "deep/er/digest.yaml").code == 0
    assert (tmp_path / "deep/er/digest.yaml").read_text(encoding="utf-8") == starter_config()
    (tmp_path / "site").mkdir()
    r = cli("init", "site")
    assert r.code == 0 and (tmp_path / "site/config.yaml").is_file()
    assert "--config site/config.yaml validate" in r.out
    r = cli("--config", "other.yaml", "init")
    assert r.code == 0 and (tmp_path / "other.yaml").is_file()
    assert cli("--config", "other.yaml", "validate").code == 0


def test_init_where_no_file_can_be_written_is_one_line(tmp_path, cli):
    (tmp_path / "notes.txt").write_text("a file, not a folder\n", encoding="utf-8")
    r = cli("init", "notes.txt/config.yaml")
    assert r.code == 2
    assert r.err.strip() == "notes.txt/config.yaml: cannot write: notes.txt is a file, not a folder"


def test_init_in_a_folder_this_user_cannot_write_names_it_and_says_where_to_go(tmp_path, cli):
    """`newsletter init` run in a folder not the user's (/, a colleague's
    checkout, /srv) said the bare `config.yaml: cannot write: Permission
    denied`.  It names the folder and the way out, README's own folder."""
    import os

    from conftest import unwritable

    shared = tmp_path / "shared"
    shared.mkdir()
    with unwritable(shared):
        said = "Permission denied" if os.geteuid() != 0 else "Operation not permitted"  # chmod, or chattr +i
        r = cli("init", "shared")
    assert r.code == 2 and r.err.splitlines() == [
        f"shared/config.yaml: cannot write: {said} (its folder {str(shared.resolve())!r} is not writable for this user): give "
        "init a folder of your own, `newsletter init ~/digest`"], r.err
    assert list(shared.iterdir()) == []
    # under it, a folder not there yet: the one named is the nearest that is (`shared/digest` was named)
    with unwritable(shared):
        r = cli("init", "shared/digest/config.yaml")
    assert r.code == 2 and r.err.splitlines() == [
        f"shared/digest/config.yaml: cannot write: {said} (its folder {str(shared.resolve())!r} is not writable for "
        "this user): give init a folder of your own, `newsletter init ~/digest`"], r.err
    assert list(shared.iterdir()) == []


def test_first_run_path_init_test_email_send(tmp_path, cli, http_server):
    """The whole way to a first digest: init, test-email, send (sources served from recordings)."""
    from recorded_http import recorded

    http_server.route("/api/query", recorded("arxiv-api.xml"))
    http_server.route("/api/daily_papers", recorded("hf-daily-2024-06-07.json"))
    assert cli("init").code == 0
    config = tmp_path / "config.yaml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("    max_results: 200\n", f"    max_results: 200\n    url: {http_server.url('/api/query')}\n")
    text = text.replace("    days: 2\n", f"    days: 2\n    url: {http_server.url('/api/daily_papers')}\n")
    text = text.replace("schedule: daily at 08:00 ", "# schedule: daily at 08:00 ")  # due at once, for this test
    config.write_text(text, encoding="utf-8")

    r = cli("test-email", "--to", "me@example.net", "--now", "2024-06-07T09:00:00+00:00")
    assert r.code == 0, r.err
    # the starter writes to the outbox: the line says so, not "sent ... to me@example.net"
    assert r.out.startswith("wrote a sample digest (") and "for me@example.net to outbox/" in r.out
    assert "set delivery.transport: smtp to send it" in r.out
    assert not (tmp_path / "newsletter-state.sqlite3").exists()
    r = cli("send", "--now", "2024-06-07T09:00:00+00:00")
    assert r.code == 0, r.err
    assert "sent 1, empty 0, failed 0, not due 0" in r.out
    # the test email's folder is no digest: the first send still says nothing was mailed
    assert "outbox: 1 digest written as an .eml file to outbox" in r.err
    (eml,) = (tmp_path / "outbox").glob("*.eml")  # the digest; the test email is in outbox/test-email/
    assert "you@example.org" in eml.name and b"Score-Based Diffusion Models" in eml.read_bytes()
    assert len(list((tmp_path / "outbox" / "test-email").glob("*.eml"))) == 1


def test_starter_web_block_uncommented_is_valid(tmp_path, monkeypatch):
    from newsletter.config import parse_config
    from newsletter.starter import starter_config
    from newsletter.tokens import links

    text = starter_config().replace("# web:\n#   base_url:", "web:\n  base_url:").replace("#   secret_env:", "  secret_env:")
    config = parse_config(text, tmp_path / "config.yaml")
    monkeypatch.setenv("NEWSLETTER_SECRET", "starter-secret-0123456789")
    assert config.web is not None and links(config).base_url == "https://digest.example.org"


def test_init_into_a_folder_that_does_not_exist_yet(tmp_path, cli):
    """`init digest/` (a trailing slash: a folder) makes the folder and writes
    digest/config.yaml; it wrote a file named `digest`."""
    result = cli("init", "digest/")
    assert result.code == 0, result.err
    assert (tmp_path / "digest").is_dir()
    assert (tmp_path / "digest" / "config.yaml").is_file()
    assert "wrote digest/config.yaml" in result.out
    assert cli("--config", "digest/config.yaml", "validate").code == 0
    again = cli("init", "digest/")
    assert again.code == 2 and "digest/config.yaml: already exists" in again.err


def test_init_of_a_new_name_without_a_suffix_makes_a_folder(tmp_path, cli):
    """`init ~/digest` (README's folder, its mkdir left out) wrote a file named
    digest, and README's next step, `cd ~/digest`, failed."""
    result = cli("init", "mydigest")
    assert result.code == 0, result.err
    assert (tmp_path / "mydigest" / "config.yaml").read_text(encoding="utf-8") == starter_config()
    assert "wrote mydigest/config.yaml" in result.out
    assert cli("init", "mydigest.yml").code == 0 and (tmp_path / "mydigest.yml").is_file()  # a file's name: a file


def test_starter_dkim_block_uncommented_signs(tmp_path, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from newsletter.config import parse_config
    from newsletter.signing import signer
    from newsletter.starter import starter_config

    text = starter_config()
    for line in ("  # dkim:", "  #   domain:", "  #   selector:", "  #   key_env:"):
        text = text.replace(line, line.replace("# ", "", 1))
    config = parse_config(text, tmp_path / "config.yaml")
    key = ed25519.Ed25519PrivateKey.generate()
    monkeypatch.setenv("DKIM_PRIVATE_KEY", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())
    made = signer(config)
    assert made is not None and (made.domain, made.selector) == ("example.org", "digest2026")


def test_starter_state_line_uncommented_is_a_postgresql_state(tmp_path):
    """A deployer reading the starter learnt of PostgreSQL only from the README."""
    from newsletter.config import parse_config
    from newsletter.starter import starter_config

    text = starter_config()
    assert "\n# state: postgresql://" in text
    config = parse_config(text.replace("\n# state: postgresql://", "\nstate: postgresql://"), tmp_path / "config.yaml")
    assert config.state_is_shared and config.state == "postgresql://digest@db.example.org:5432/digest"


def test_starter_min_score_comment_shows_the_default_it_would_set():
    """The starter's commented `min_score: 0.35` read as the default; uncommented it
    took more papers than the topic did without it (the default is 0.5)."""
    from newsletter.ranking import DEFAULT_MIN_SCORE

    text = starter_config()
    (line,) = [line for line in text.splitlines() if line.strip().startswith("# min_score:")]
    uncommented = text.replace(line, line.replace("# min_score", "min_score", 1))
    topic = parse_config(uncommented, "config.yaml").topics["molecules"]
    assert topic.min_score == DEFAULT_MIN_SCORE
    assert parse_config(text, "config.yaml").topics["molecules"].min_score is None


def test_starter_says_how_to_read_saved_files_without_a_network():
    """Offline, the starter's live sources fail; it says what to write instead."""
    text = starter_config()
    sources = text[text.index("\nsources:"):text.index("\ntopics:")]
    assert "No network" in sources and "`path: saved.xml`" in sources and 'README "Offline"' in sources


def test_init_never_replaces_a_link_whose_file_is_not_there_without_force(tmp_path, cli):
    link = tmp_path / "config.yaml"
    link.symlink_to(tmp_path / "dotfiles" / "config.yaml")  # its folder is not mounted now
    r = cli("init")
    assert r.code == 2
    assert r.err.strip() == "config.yaml: already exists; not overwritten (use --force to replace it)"
    assert link.is_symlink() and not (tmp_path / "dotfiles").exists()


@pytest.mark.parametrize(("tz", "written"), [
    ("Europe/Berlin", "Europe/Berlin"),
    (":America/New_York", "America/New_York"),
    ("Etc/UTC", "UTC"),
    ("EST", "UTC"),  # a fixed offset validate would warn of
])
def test_init_writes_this_machines_time_zone(tmp_path, cli, tz, written):
    """The starter said `timezone: UTC` everywhere: a newcomer in Berlin who
    kept it (most do) got the 08:00 digest at 09:00 in winter, 10:00 in summer."""
    r = cli("init", env={"TZ": tz})
    assert r.code == 0, r.err
    text = (tmp_path / "config.yaml").read_text(encoding="utf-8")
    (line,) = [x for x in text.splitlines() if x.startswith("timezone:")]
    assert line.split("#")[0].split() == ["timezone:", written]
    assert line.index("#") == 35 or len(line.split("#")[0]) > 35  # the comments stay in their column
    v = cli("validate", env={"TZ": tz})
    assert v.code == 0 and v.err == "", v.err
    # a machine that names no zone but UTC (a server, a container): its next step says the digest's hour is UTC's
    note = "(and your time zone: it says timezone: UTC, this machine's, so the digest comes at 08:00 UTC)"
    assert (note in r.out) == (written == "UTC"), r.out


def test_init_never_replaces_a_device_or_a_pipe_even_with_force(tmp_path, cli):
    """`init /dev/null --force` as root renamed the starter over the device
    node (every program's /dev/null then a config file); a pipe a script
    reads from went the same way."""
    import os
    import stat

    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "pipe")
    for name in ("pipe", "link.yaml"):
        r = cli("init", name, "--force")
        assert r.code == 2 and r.err.splitlines() == [
            f"{name}: not a file (a device, a pipe or a socket); never replaced: give init a file's or a folder's path"]
    assert stat.S_ISFIFO((tmp_path / "pipe").stat().st_mode) and (tmp_path / "link.yaml").is_symlink()


def test_init_asks_the_machine_for_its_zone_once(tmp_path, monkeypatch, capsys):
    """`init` worked out the starter's zone twice (once for the file, once for
    its next-step line): two looks at $TZ and /etc/localtime that could
    disagree.  Now one answer serves both."""
    import newsletter.config
    from newsletter.cli import cli

    asked: list[str] = []

    def machine_zone():
        asked.append("zone")
        return "Etc/UTC"

    monkeypatch.setattr(newsletter.config, "machine_zone", machine_zone)
    monkeypatch.chdir(tmp_path)
    cli.main(["init"], standalone_mode=False)
    assert asked == ["zone"]
    out = capsys.readouterr().out
    assert "it says timezone: UTC, this machine's" in out
    assert "\ntimezone: UTC " in (tmp_path / "config.yaml").read_text(encoding="utf-8")


def test_starter_weekly_schedule_hint_says_the_sources_list_about_a_day():
    """Uncommented, the starter's `weekly on monday` sent Monday's papers alone:
    its arXiv source (200 newest) and Hugging Face source (2 days) list about a
    day. The hint names what to raise; the raised values and the schedule load."""
    text = starter_config()
    (line,) = [line for line in text.splitlines() if line.strip().startswith("# schedule: weekly")]
    hint = text[text.index(line):text.index("max_papers: 20", text.index(line))]
    assert "list about a day" in hint and "max_results (2000)" in hint and "days (7)" in hint
    weekly = (text.replace(line, line.replace("# schedule", "schedule", 1)).replace("max_results: 200", "max_results: 2000")
              .replace("days: 2", "days: 7"))
    config = parse_config(weekly, "config.yaml")
    assert config.subscribers[0].schedule.weekdays == (0,)
    assert (config.sources[0].max_results, config.sources[1].days) == (2000, 7)
