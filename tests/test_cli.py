"""End-to-end runs of the real ``newsletter`` command for validate / papers / match."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from conftest import BASIC_CONFIG, DATA, ROOT, command_env, query, run_newsletter, write_config

from newsletter.ranking import LikeWarning
from newsletter.sending import TOLD_ONCE, ToldOnce


def test_validate_ok(workdir, cli):
    write_config(workdir, BASIC_CONFIG)
    r = cli("validate")
    assert r.code == 0, r.err
    assert "OK" in r.out and "2 subscribers" in r.out and "papers)" in r.out


def test_validate_warns_of_a_local_source_holding_no_papers(tmp_path, cli):
    """A daily-papers file saved from an empty day (or the wrong file) read
    as "OK: 1 source (0 papers)": a warning names it; a source whose parser
    said why already (an export of its header alone) is not named twice."""
    (tmp_path / "day.json").write_text("[]\n", encoding="utf-8")
    write_config(tmp_path, """
sources:
  - type: hf-daily
    path: day.json
topics:
  t: {any: [diffusion]}
subscribers:
  - {email: ada@example.org, topics: [t]}
""")
    r = cli("validate")
    assert r.code == 0, r.err
    assert r.err.strip().splitlines() == ["warning: day.json: source 'hf-daily': holds no papers; no digest gets any from it"]


def test_validate_warns_of_an_interval_that_does_not_divide_a_day(workdir, cli):
    """`every 5 hours` sends 5 hours after the last digest, at other times
    each day, where `every 6 hours` keeps 00:00, 06:00, ...: said once per
    schedule written (the top-level one, a subscriber's own), not per
    subscriber inheriting it; an interval dividing the day says nothing."""
    write_config(workdir, """
sources:
  - type: hf-papers-text
    path: papers/
schedule: every 5 hours
topics:
  t: {any: [diffusion]}
subscribers:
  - {email: ada@example.org, topics: [t]}
  - {email: bob@example.org, topics: [t], schedule: every 7 minutes}
  - {email: cy@example.org, topics: [t], schedule: every 90 minutes}
  - {email: dee@example.org, topics: [t]}
  - {email: eve@example.org, topics: [t], schedule: every 48 hours}
""")
    r = cli("validate")
    assert r.code == 0, r.err
    # whole days keep the last digest's time of day: it said "at other times each day; every 12 or 24 hours"
    assert ("warning: config.yaml:12: subscribers[4].schedule: 'every 48 hours' counts 2 days from the last digest, "
            "so its time of day moves with each send's delay and with daylight saving time; for a time that holds, "
            "'daily at HH:MM' or 'weekly on <weekday>, <weekday> at HH:MM'") in r.err.splitlines(), r.err
    assert [line for line in r.err.splitlines() if "divide" in line] == [
        "warning: config.yaml:4: schedule: 'every 5 hours' does not divide a day: its digests go 5 hours apart from "
        "the last one, at other times each day; every 4 or 6 hours keeps the same times every day",
        "warning: config.yaml:9: subscribers[1].schedule: 'every 7 minutes' does not divide a day: its digests go 7 "
        "minutes apart from the last one, at other times each day; every 6 or 8 minutes keeps the same times every day",
    ]


def test_validate_reports_every_problem_and_exits_2(workdir, cli):
    write_config(workdir, BASIC_CONFIG.replace("ada@example.org", "ada@").replace("[diffusion]", "[difusion]"))
    r = cli("validate")
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert lines == [
        "config.yaml:12: subscribers[0].email: 'ada@' is not a valid address",
        "config.yaml:14: subscribers[0].topics[0]: unknown topic 'difusion' (did you mean 'diffusion'?); "
        "defined topics: diffusion, optim",
    ]
    assert "Traceback" not in r.err


def test_bad_source_file_fails_validate_with_file_and_line(workdir, cli):
    write_config(workdir, BASIC_CONFIG)
    (workdir / "papers" / "zz-broken.txt").write_text("new\n\nSubscribe\n\nA title alone\n")
    r = cli("validate")
    assert r.code == 2
    assert r.err.strip() == "papers/zz-broken.txt:5: title 'A title alone' has no abstract"
    assert cli("papers").code == 2


def test_papers_json_shape(workdir, cli):
    write_config(workdir, BASIC_CONFIG)
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    papers = json.loads(r.out)
    assert len(papers) == len({p["id"] for p in papers}) > 300
    first = papers[0]
    for key in ("id", "title", "abstract", "authors", "url", "source", "published"):
        assert key in first
    assert first["authors"] == [] and first["url"] is None and first["published"] is None
    assert any("Schrödinger" in p["title"] for p in papers)


def test_match_json_shape_and_subscriber_filter(workdir, cli):
    write_config(workdir, BASIC_CONFIG)
    r = cli("match", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert [s["email"] for s in data["subscribers"]] == ["ada@example.org", "bob@example.org"]
    bob = data["subscribers"][1]
    assert len(bob["papers"]) == 5
    scores = [p["score"] for p in bob["papers"]]
    assert scores == sorted(scores, reverse=True)
    for p in bob["papers"]:
        assert set(p) >= {"id", "title", "score", "topics", "terms"}
        assert p["topics"] and p["terms"]
    only = json.loads(cli("match", "--subscriber", "ADA@example.org", "--json").out)
    assert [s["email"] for s in only["subscribers"]] == ["ada@example.org"]
    # copied from a mail client with the name: the address it names
    named = json.loads(cli("match", "--subscriber", "Ada Lovelace <ada@example.org>", "--json").out)
    assert [s["email"] for s in named["subscribers"]] == ["ada@example.org"]
    r = cli("match", "--subscriber", "nobody@example.org")
    assert r.code == 2 and "no subscriber 'nobody@example.org'" in r.err


def test_validate_fetch_logs_in_to_a_postgresql_state(workdir, cli, pg_url, tmp_path):
    """`validate --fetch` in cron's environment (no PGPASSWORD, no .pgpass)
    said OK, and every `send` then stopped at the database.  Offline,
    `validate` still does not connect."""
    write_config(workdir, BASIC_CONFIG + f"state: {pg_url}\n")
    no_password = {"PGPASSFILE": str(tmp_path / "none"), "PGPASSWORD": ""}
    r = cli("validate", "--fetch", env=no_password)
    assert r.code == 2
    assert r.err.strip() == (
        f"config.yaml:18: state: {pg_url}: PostgreSQL wants a password for user 'digest_admin' and none is set "
        f"(set PGPASSWORD or add it to {tmp_path / 'none'})"
    )
    assert cli("validate", env=no_password).code == 0
    r = cli("validate", "--fetch")
    assert r.code == 0, r.err
    assert query(pg_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'digests'") == [(0,)]  # created nothing


def test_an_unknown_subscriber_on_a_big_list_is_one_short_line(workdir, cli):
    """A mailing list of thousands: a mistyped --subscriber named every
    address in one line of 80 KB; now their count and the one meant."""
    people = "".join(f"  - email: member{i:04d}@lists.example.org\n    topics: [diffusion]\n" for i in range(2000))
    write_config(workdir, BASIC_CONFIG.split("subscribers:")[0] + "subscribers:\n" + people)
    for command in (["schedule"], ["match"], ["preview"], ["send", "--dry-run"]):
        r = cli(*command, "--subscriber", "member0010@list.example.org")
        assert (r.code, r.err.strip()) == (2, "config.yaml: no subscriber 'member0010@list.example.org' in the config "
                                              "(2,000 subscribers; did you mean 'member0010@lists.example.org'?)"), command
    r = cli("schedule", "--subscriber", "someone.else@elsewhere.net")
    assert r.err.strip() == ("config.yaml: no subscriber 'someone.else@elsewhere.net' in the config "
                             "(2,000 subscribers; `newsletter schedule` lists them)")


def test_match_text_shows_why(workdir, cli):
    write_config(workdir, BASIC_CONFIG)
    r = cli("match", "--subscriber", "ada@example.org")
    assert r.code == 0
    assert r.out.startswith("Ada Lovelace <ada@example.org>: 20 papers")
    assert "diffusion model* (title)" in r.out


def test_match_says_of_how_many_papers_a_digest_cut_at_max_papers_holds_the_best(workdir, cli):
    """Two readers of one topic, max_papers 3 and 8: each list read '3 papers' as
    if that were all the topic took today, and nothing said max_papers cut it."""
    text = BASIC_CONFIG.split("subscribers:")[0] + (
        "subscribers:\n  - email: ada@example.org\n    topics: [diffusion]\n    max_papers: 3\n"
        "  - email: bob@example.org\n    topics: [diffusion]\n    max_papers: 8\n"
        "  - email: cy@example.org\n    topics: [diffusion]\n    max_papers: 1000\n")
    write_config(workdir, text)
    r = cli("match", "--json")
    taken = {s["email"]: (len(s["papers"]), s["taken"]) for s in json.loads(r.out)["subscribers"]}
    whole = taken["cy@example.org"][0]
    assert whole > 8 and taken == {"ada@example.org": (3, whole), "bob@example.org": (8, whole),
                                   "cy@example.org": (whole, whole)}
    heads = [line for line in cli("match").out.splitlines() if "@example.org" in line]
    assert heads == [f"ada@example.org: 3 papers (the best of the {whole} its topics take now: max_papers: 3; the other "
                     f"{whole - 3} can go in later digests)",
                     f"bob@example.org: 8 papers (the best of the {whole} its topics take now: max_papers: 8; the other "
                     f"{whole - 8} can go in later digests)",
                     f"cy@example.org: {whole} papers"]
    assert cli("send").code == 0  # the next digest counts only the papers not sent yet
    heads = [line for line in cli("match").out.splitlines() if "@example.org" in line]
    assert heads[:2] == [f"ada@example.org: 3 papers (the best of the {whole - 3} its topics take now that were in no "
                         f"earlier digest: max_papers: 3; the other {whole - 6} can go in later digests)",
                         f"bob@example.org: 8 papers (the best of the {whole - 8} its topics take now that were in no "
                         f"earlier digest: max_papers: 8; the other {whole - 16} can go in later digests)"]


def test_a_config_path_with_an_unexpanded_tilde_is_under_the_home_folder(workdir, cli):
    """`--config=~/digest`, systemd's Environment=, a crontab's variable or a quoted
    NEWSLETTER_CONFIG="~/digest" reach the command with the '~' as written: it
    was 'config file not found', and `init '~/digest'` made a folder named '~' in
    the current one while its next steps named `--config ~/digest/...`, which a
    shell expands to another file."""
    home = workdir / "home"
    (home / "digest").mkdir(parents=True)
    shutil.copytree(workdir / "papers", home / "digest" / "papers")
    write_config(home / "digest", BASIC_CONFIG)
    for args, env in ((["--config=~/digest", "validate"], {}), (["validate"], {"NEWSLETTER_CONFIG": "~/digest"}),
                      (["validate", "--config", "~/digest/config.yaml"], {})):
        r = cli(*args, env={"HOME": str(home), **env})
        assert r.code == 0 and r.out.startswith(f"{home / 'digest' / 'config.yaml'}: OK: "), (args, r.err)
    r = cli("init", "~/second", env={"HOME": str(home)})
    assert r.code == 0 and (home / "second" / "config.yaml").is_file() and not (workdir / "~").exists()
    assert f"--config {home / 'second' / 'config.yaml'} validate" in r.err + r.out
    r = cli("--config=~/digest", "preview", "--out=~/preview", env={"HOME": str(home)})
    assert r.code == 0 and (home / "preview" / "index.html").is_file() and not (workdir / "~").exists(), r.err
    # a folder really named '~' here is still that folder
    (workdir / "~").mkdir()
    write_config(workdir / "~", BASIC_CONFIG)
    shutil.copytree(workdir / "papers", workdir / "~" / "papers")
    r = cli("--config", "~", "validate", env={"HOME": str(home)})
    assert r.code == 0 and r.out.startswith("~/config.yaml: OK: "), r.err


def test_match_text_shows_the_rule_terms_of_a_ranked_topic_too(workdir, cli):
    """A topic with rules and `about`: `match` gives the reason in words and
    the terms its rules matched (the terms were left out: no way to tune the
    rules without --json)."""
    write_config(workdir, BASIC_CONFIG.replace(
        '    any: ["SGD", "stochastic gradient", "optimi*"]\n',
        '    any: ["SGD", "stochastic gradient", "optimi*"]\n    about: Stochastic gradient descent and its step sizes.\n',
    ))
    r = cli("match", "--subscriber", "bob@example.org")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    papers = [(lines[i], lines[i + 1]) for i in range(1, len(lines) - 1, 2)]
    assert papers and all(title.split()[0].count(".") == 1 for title, _ in papers)  # relevance scores: 0.97
    optim = [why for _, why in papers if why.strip().startswith("[Optimisation]")]
    assert optim
    for why in optim:
        assert " · " in why and ("(title)" in why or "(abstract)" in why), why


def test_config_from_environment(workdir, cli):
    write_config(workdir, BASIC_CONFIG, name="other.yaml")
    assert cli("validate").code == 2  # no ./config.yaml
    r = cli("validate", env={"NEWSLETTER_CONFIG": "other.yaml"})
    assert r.code == 0, r.err


def test_config_after_the_command_name(workdir, cli):
    """`newsletter COMMAND --config PATH` works as `newsletter --config PATH COMMAND`
    does, and wins over $NEWSLETTER_CONFIG and the group's --config."""
    write_config(workdir, BASIC_CONFIG, name="other.yaml")
    r = cli("validate", "--config", "other.yaml")
    assert r.code == 0, r.err
    assert r.out.startswith("other.yaml: OK")
    r = cli("--config", "missing.yaml", "papers", "--json", "--config", "other.yaml", env={"NEWSLETTER_CONFIG": "gone.yaml"})
    assert r.code == 0, r.err
    assert json.loads(r.out)
    r = cli("schedule", "--config", "missing.yaml")
    assert r.code == 2 and "missing.yaml" in r.err
    assert "--config PATH" in cli("state", "migrate", "--help").out


def test_c_is_short_for_config(workdir, cli):
    """`-c PATH`, as most tools spell the config option, was 'No such option'
    before the command's name and after it."""
    write_config(workdir, BASIC_CONFIG, name="other.yaml")
    for args in (("-c", "other.yaml", "validate"), ("validate", "-c", "other.yaml")):
        r = cli(*args)
        assert r.code == 0, r.err
        assert r.out.startswith("other.yaml: OK")


def test_newsletter_alone_says_where_a_first_run_starts(cli):
    """`newsletter` with no command listed the commands in alphabetical order,
    `history` first: nothing said that `init` is where one starts."""
    r = cli()
    assert r.code == 2
    said = " ".join((r.out + r.err).split())
    assert "First time: `newsletter init` writes a commented starter config.yaml in this folder; then " \
           "`newsletter validate`, `newsletter test-email --to YOU@...` and `newsletter send`" in said, said


@pytest.mark.parametrize("word, said", [
    ("help", "No such command 'help'. `newsletter --help` lists the commands, `newsletter COMMAND --help` explains one."),
    ("start", "No such command 'start'. Did you mean 'run' (sends on the schedule until stopped)?"),
    ("check", "No such command 'check'. Did you mean 'validate'?"),
    ("setup", "No such command 'setup'. Did you mean 'init' (writes a starter config.yaml)?"),
    ("sned", "No such command 'sned'. Did you mean 'send'?"),
    # click listed its guesses alphabetically, the farther first: "(Did you mean one of: 'resubscribe', 'unsubscribe'?)"
    ("unsubscibe", "No such command 'unsubscibe'. Did you mean 'unsubscribe' (or 'resubscribe')?"),
])
def test_a_command_named_by_another_word_says_which_is_meant(cli, word, said):
    """`newsletter help` was only "No such command", and `start` was offered
    'state' (click guesses by spelling)."""
    r = cli(word)
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.splitlines()[-1] == f"Error: {said}", r.err


@pytest.mark.parametrize("args, said", [
    # click guessed by spelling: '--to' was offered '--json' and '--now', '--email' '--help'
    (("send", "--to", "ada@example.org"),
     "No such option '--to'. Did you mean '--subscriber EMAIL' (only that subscriber's digest)? `newsletter "
     "test-email --to ADDRESS` sends one digest to an address now"),
    (("preview", "--email", "ada@example.org"),
     "No such option '--email'. Did you mean '--subscriber EMAIL' (only that subscriber's digest)?"),
    (("send", "--test"),
     "No such option '--test'. Did you mean '--dry-run' (who would get how many papers, nothing sent)? "
     "`newsletter test-email --to ADDRESS` sends one digest now"),
    # an address alone after the command was 'unexpected extra argument' and no more
    (("match", "ada@example.org"),
     "Got unexpected extra argument (ada@example.org): an address goes after --subscriber, `newsletter match "
     "--subscriber ada@example.org`"),
    (("test-email", "ada@example.org"),
     "Got unexpected extra argument (ada@example.org): an address goes after --to, `newsletter test-email --to "
     "ada@example.org`"),
])
def test_an_address_or_option_written_as_other_tools_do_says_what_to_write(workdir, cli, args, said):
    write_config(workdir, BASIC_CONFIG)
    r = cli(*args)
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.splitlines()[-1] == f"Error: {said}", r.err


@pytest.mark.parametrize("args, said", [
    (("validate", "config.yaml"),
     "Got unexpected extra argument (config.yaml): the config goes after --config, "
     "`newsletter --config config.yaml validate`"),
    (("unsubscribe", "ada@example.org", "digest"),
     "Got unexpected extra argument (digest): the config goes after --config, "
     "`newsletter --config digest unsubscribe ada@example.org`"),
    (("state", "migrate", "--to", "postgresql://db/digest", "digest/config.yaml"),
     "Got unexpected extra argument (digest/config.yaml): the config goes after --config, "
     "`newsletter --config digest/config.yaml state migrate --to postgresql://db/digest`"),
    (("digest", "send", "--dry-run"),
     "No such command 'digest': the config goes after --config, `newsletter --config digest send --dry-run`"),
    (("lab.yml",), "No such command 'lab.yml': the config goes after --config, `newsletter --config lab.yml COMMAND`"),
    # a name with a space, quoted in the shell: named whole, not its last word
    (("validate", "my config.yaml"),
     "Got unexpected extra argument (my config.yaml): the config goes after --config, "
     "`newsletter --config 'my config.yaml' validate`"),
    (("unsubscribe", "ada@example.org", "my digest/config.yaml"),
     "Got unexpected extra argument (my digest/config.yaml): the config goes after --config, "
     "`newsletter --config 'my digest/config.yaml' unsubscribe ada@example.org`"),
])
def test_a_config_given_without_its_option_says_where_it_goes(workdir, cli, args, said):
    """A newcomer passes the config as other tools take their file,
    `newsletter validate config.yaml` or `newsletter ~/digest send`: click said
    only 'Got unexpected extra argument (config.yaml)' or 'No such command'."""
    write_config(workdir, BASIC_CONFIG)
    (workdir / "digest").mkdir()
    write_config(workdir / "digest", BASIC_CONFIG)
    r = cli(*args)
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.splitlines()[-1] == f"Error: {said}", r.err


def test_an_extra_word_that_names_no_config_is_told_as_click_tells_it(workdir, cli):
    """Only a YAML name or a folder holding a config.yaml is taken for the config."""
    write_config(workdir, BASIC_CONFIG)
    (workdir / "notes").mkdir()
    for word in ("notes", "papers"):
        r = cli("validate", word)
        assert r.code == 2
        assert r.err.splitlines()[-1] == f"Error: Got unexpected extra argument ({word})", r.err


@pytest.mark.parametrize("args", [
    ("init", "#", "writes", "a", "commented", "./config.yaml"),
    ("init", "#"),
    ("validate", "#", "add", "--fetch", "to", "try", "the", "sources", "too"),
    ("send", "#", "or:", "newsletter", "run"),
])
def test_a_readme_comment_passed_on_by_zsh_says_so_and_makes_nothing(workdir, cli, args):
    """zsh, macOS's shell, passes a pasted README line's `# comment` on as words
    (interactive_comments is off by default): `init` made a folder '#' with a
    config in it, the others said only 'Got unexpected extra arguments'."""
    before = sorted(p.name for p in workdir.iterdir())
    r = cli(*args)
    assert r.code == 2 and "Traceback" not in r.err
    comment = " ".join(args[args.index("#"):])
    assert r.err.splitlines()[-1] == (
        f"Error: Got a comment as arguments ({comment!r}): your shell (zsh, as on macOS) passed it on instead of "
        "ignoring it; run the command without the '# ...' part, or `setopt interactive_comments` first (in "
        "~/.zshrc to keep it)"), r.err
    assert sorted(p.name for p in workdir.iterdir()) == before


def test_send_help_lists_the_now_the_readme_documents(cli):
    """README gives `send --now` for backfills; --help hid it."""
    out = " ".join(cli("send", "--help").out.split())
    assert "--now TIME Pretend it is this time (ISO 8601 with its offset, 2024-05-06T08:00:00+00:00)" in out, out
    assert "at most 5 minutes ahead of the clock unless with --dry-run" in out


def test_validate_names_a_broken_source_file_with_the_config_problems(workdir, cli):
    """One run names every problem: a broken export is not held back until
    the config's own problems are fixed."""
    (workdir / "papers" / "zz-cut.txt").write_text(
        "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
        "byAK and the research community\n\nSep 4\n\nA Title Without Abstract\n",
        encoding="utf-8",
    )
    write_config(workdir, BASIC_CONFIG.replace("max_papers: 5", "max_papers: many"))
    r = cli("validate", "--json")
    assert r.code == 2
    assert json.loads(r.out)["problems"] == [
        "config.yaml:17: subscribers[1].max_papers: expected a valid integer, got 'many'",
        "papers/zz-cut.txt:13: title 'A Title Without Abstract' has no abstract",
    ]
    assert "Traceback" not in r.err
    # a problem in the sources themselves: those are reported alone, as before
    write_config(workdir, BASIC_CONFIG.replace("path: papers/", "path: nowhere/").replace("max_papers: 5", "max_papers: many"))
    r = cli("validate")
    assert r.code == 2
    assert r.err.splitlines() == [
        "config.yaml:3: sources[0].path: 'nowhere/' matches no file",
        "config.yaml:17: subscribers[1].max_papers: expected a valid integer, got 'many'",
    ]


def test_shipped_config_runs_out_of_the_box(tmp_path, cli):
    for name in ("config.yaml",):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    assert cli("validate").code == 0
    data = json.loads(cli("match", "--json").out)
    assert all(s["papers"] for s in data["subscribers"])


def test_readme_match_examples_are_what_the_shipped_config_prints(tmp_path, cli):
    """README's `match` examples had drifted from the real output (and, run after the
    quick start's `send`, showed other papers): each `$ newsletter match ...` block is
    what that command prints on the shipped config, up to the block's `...`."""
    import shlex

    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    blocks = re.findall(r"```\n(\$ newsletter match .*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    for block in blocks:
        command, *shown = block.rstrip("\n").split("\n")
        if shown and shown[-1].strip() == "...":
            shown.pop()
        r = cli(*shlex.split(command.removeprefix("$ newsletter ")))
        assert r.code == 0, (command, r.err)
        assert r.out.splitlines()[: len(shown)] == shown, command


def test_match_says_how_to_read_a_list_mixing_both_kinds_of_score(workdir, cli):
    """A subscriber of a keyword topic and a topic in words saw `8` under `0.90`
    and over `0.82`, and took the list for out of order; one line says how to
    read it, only where a list mixes them."""
    about = '  words:\n    name: Generative models\n    about: "Diffusion and score-based generative models."\n'
    mixed = BASIC_CONFIG.replace("subscribers:\n", about + "subscribers:\n").replace(
        "topics: [optim, diffusion]", "topics: [optim, words]").replace("max_papers: 5", "max_papers: 60")
    write_config(workdir, mixed)
    r = cli("match", "--subscriber", "bob@example.org")
    assert r.code == 0, r.err
    scores = [line.split()[0] for line in r.out.splitlines() if re.match(r"^ +\d", line)]
    assert any("." in s for s in scores) and any("." not in s for s in scores), r.out  # both kinds shown
    assert ("Scores: 0.00-1.00 is relevance to a topic in words (about/like); a whole number n is a keyword "
            "topic's (its matched terms), placed as n/(n+1) (8 as 0.89).") in r.out.splitlines()
    # relevance is relative to the day: 0.91 read as "91% relevant", of a paper on another subject
    relative = ("Relevance (0.00-1.00, what min_score cuts) says how far a paper stands out from today's typical "
                "paper, not how much of your sentence it covers: on a day with little on a topic, its closest "
                "papers still score high.")
    assert relative in r.out.splitlines()
    r = cli("match", "--subscriber", "ada@example.org")  # keyword scores alone: nothing to explain
    assert r.code == 0 and "Scores:" not in r.out and "Relevance (" not in r.out
    write_config(workdir, mixed.replace("topics: [optim, words]", "topics: [words]"))
    r = cli("match", "--subscriber", "bob@example.org")  # relevance alone: no mixing, still relative
    assert r.code == 0 and "Scores:" not in r.out and relative in r.out.splitlines(), r.out


def test_match_names_a_topic_whose_papers_all_miss_the_digest_for_its_other_topics(workdir, cli):
    """A keyword topic beside a topic in words: its papers rank as n/(n+1)
    (0.50 for one term), under the sentence's (0.9 and more), so with
    max_papers filled by the sentence's papers the keyword topic sent
    nothing at all, day after day, and `match` listed the digest without a
    word of it."""
    about = ('  words:\n    name: Generative models\n    about: "Diffusion and score-based generative models."\n'
             '  sgd:\n    name: SGD\n    any: ["SGD"]\n')
    crowded = BASIC_CONFIG.replace("subscribers:\n", about + "subscribers:\n").replace(
        "topics: [optim, diffusion]", "topics: [words, sgd]")
    write_config(workdir, crowded)
    r = cli("match", "--subscriber", "bob@example.org")
    assert r.code == 0, r.err
    digest = r.out.split("Just under")[0]
    assert "[SGD]" not in digest and digest.count("[Generative models]") == 5, r.out
    (line,) = [x for x in r.err.splitlines() if "'sgd'" in x]
    found = re.fullmatch(
        r"warning: config\.yaml:\d+: subscribers\[1\]\.topics: 'sgd' takes (\d+) papers now, none of them is in "
        r"bob@example\.org's digest: its 5 places \(max_papers\) go to its other topics' papers, which rank higher "
        r"\(the best of 'sgd' at (0\.\d\d), the digest's last at (0\.\d\d): a keyword topic's score n counts as "
        r"n/\(n\+1\), 0\.50 for one term, against the relevance of a topic in words\); raise max_papers, or give 'sgd' "
        r"an about: sentence so its papers rank by relevance too", line)
    assert found and float(found[2]) < float(found[3]), line
    assert "'sgd'" not in cli("match", "--subscriber", "ada@example.org").err  # not one of Ada's topics
    r = cli("match", "--subscriber", "bob@example.org", "--json")  # a script gets the advice as well
    assert r.code == 0 and json.loads(r.out)["warnings"] == [x.removeprefix("warning: ") for x in r.err.splitlines()]
    assert line.removeprefix("warning: ") in json.loads(r.out)["warnings"]
    # validate and preview (where a user who never runs match looks) say it once; send does not
    for command in (("validate",), ("validate", "--json"), ("preview",), ("preview", "--subscriber", "bob@example.org")):
        r = cli(*command)
        assert r.code == 0 and r.err.splitlines().count(line) == 1, (command, r.err)
    assert line.removeprefix("warning: ") in json.loads(cli("preview", "--json").out)["warnings"]
    assert "'sgd'" not in cli("preview", "--subscriber", "ada@example.org").err
    r = cli("send", "--dry-run")
    assert r.code == 0 and "'sgd'" not in r.err, r.err

    # with room for them, its papers come and nothing is said
    write_config(workdir, crowded.replace("max_papers: 5", "max_papers: 200"))
    for command in (("match", "--subscriber", "bob@example.org"), ("validate",), ("preview",)):
        r = cli(*command)
        assert r.code == 0 and "'sgd'" not in r.err, (command, r.err)
    assert "[SGD]" in cli("match", "--subscriber", "bob@example.org").out


def test_validate_json(workdir, cli):
    write_config(workdir, BASIC_CONFIG)
    r = cli("validate", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["ok"] is True and data["subscribers"] == 2 and data["topics"] == 2 and data["papers"] > 300


def test_catastrophic_regex_is_a_located_error_not_a_hang(workdir, cli):
    (workdir / "papers" / "zz-trap.txt").write_text(
        "new\n\nSubscribe\n\nDaily Papers\n\nA Trap For Regexes\n\n" + "a" * 40 + "!\n", encoding="utf-8"
    )
    write_config(workdir, BASIC_CONFIG.replace('any: ["SGD", "stochastic gradient", "optimi*"]', 'any: ["SGD", "/(a|aa)+$/"]'))
    r = cli("match")
    assert r.code == 2
    assert r.err.startswith("config.yaml:10: topics.optim.any[1]: regular expression '/(a|aa)+$/' took over 0.5 s")
    assert "A Trap For Regexes" in r.err and "Traceback" not in r.err


# -- send's output: a progress bar on a terminal, one line per digest elsewhere -----------

MANY = 60  # over cli.LONG_SEND


def many_subscribers(workdir) -> None:
    subs = "".join(f"  - email: r{i:02d}@example.org\n    topics: [diffusion]\n" for i in range(MANY))
    write_config(workdir, BASIC_CONFIG.split("subscribers:")[0] + "subscribers:\n" + subs)


def test_long_send_to_a_pipe_prints_one_line_per_digest_as_before(workdir, cli):
    many_subscribers(workdir)
    r = cli("send", "--now", "2024-05-01T08:00:00+00:00")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == MANY + 1 and lines[-1] == f"sent {MANY}, empty 0, failed 0, not due 0"
    assert all(line.startswith("sent        r") for line in lines[:-1])
    assert sorted(line.split()[1] for line in lines[:-1]) == [f"r{i:02d}@example.org:" for i in range(MANY)]
    assert "%|" not in r.out + r.err and "\r" not in r.out + r.err  # no bar


class _Writes:
    """A pipe as ``say`` sees it: each ``write`` call kept apart."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def test_send_writes_its_lines_to_a_pipe_a_group_at_a_time(monkeypatch):
    """With PYTHONUNBUFFERED set (container images set it) each digest's line
    was a write of its own, 2,000 writes waking the reader in a big send.
    Lines go out 64 at a time, or once the first has waited 50 ms; the rest
    at the end; none lost, none reordered."""
    from newsletter import cli as cli_module
    from newsletter.sending import DigestResult

    pipe, clock = _Writes(), [100.0]
    monkeypatch.setattr(sys, "stdout", pipe)
    monkeypatch.setattr(cli_module.time, "monotonic", lambda: clock[0])
    progress = cli_module._SendProgress(130)
    for i in range(130):  # a burst: within the same instant
        progress(DigestResult(f"r{i:03d}@example.org", "sent", 3, f"<m{i}@x>"))
    assert [w.count("\n") for w in pipe.writes] == [64, 64]
    progress.close()
    assert [w.count("\n") for w in pipe.writes] == [64, 64, 2]
    lines = "".join(pipe.writes).splitlines()
    assert [line.split()[1] for line in lines] == [f"r{i:03d}@example.org:" for i in range(130)]
    # slow deliveries: a line waits at most until the next one comes 50 ms after the first of its group
    pipe.writes.clear()
    progress = cli_module._SendProgress(4)
    for i in range(4):
        progress(DigestResult(f"s{i}@example.org", "sent", 1, f"<s{i}@x>"))
        clock[0] += 0.06
    assert [[line.split()[1] for line in w.splitlines()] for w in pipe.writes] == [
        ["s0@example.org:", "s1@example.org:"], ["s2@example.org:", "s3@example.org:"]]


def test_a_long_send_from_cron_says_who_is_not_due_in_one_line(workdir, cli):
    """cron every 10 minutes on a list of 2,500 on a schedule: each run wrote
    2,500 "not due" lines to its log (36 MB a day).  Past 10, one line."""
    subs = "".join(f"  - email: r{i:02d}@example.org\n    topics: [diffusion]\n" for i in range(MANY))
    subs += "  - email: early@example.org\n    topics: [diffusion]\n    schedule: daily at 06:00\n"
    write_config(workdir, "schedule: daily at 08:00\n" + BASIC_CONFIG.split("subscribers:")[0] + "subscribers:\n" + subs)
    r = cli("send", "--now", "2024-05-01T09:00:00+00:00")  # new subscribers wait for their first slot
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        f"not due     {MANY + 1} subscribers; the soonest: early@example.org: next digest at 2024-05-02 06:00 UTC "
        "(`newsletter schedule` lists each)",
        f"sent 0, empty 0, failed 0, not due {MANY + 1}",
    ]
    # a short send still names each one
    r = cli("send", "--now", "2024-05-01T09:10:00+00:00", "--subscriber", "r01@example.org")
    assert r.out.splitlines()[0] == "not due     r01@example.org: next digest at 2024-05-02 08:00 UTC"
    # and --json keeps every subscriber
    rows = json.loads(cli("send", "--now", "2024-05-01T09:20:00+00:00", "--json").out)
    assert sum(1 for row in rows["digests"] if row["status"] == "not due") == MANY + 1
    # those who left: named one by one up to 10, then one line
    for i in range(11):
        assert cli("unsubscribe", f"r{i:02d}@example.org").code == 0
    r = cli("send", "--now", "2024-05-01T09:30:00+00:00")
    assert r.out.splitlines()[1:] == [
        "unsubscribed 11 subscribers (`newsletter schedule` says since when)",
        "no digest is due now: the sources were not read (`newsletter schedule` says when each is due)",
        f"sent 0, empty 0, failed 0, not due {MANY - 10}, unsubscribed 11",
    ]
    assert cli("resubscribe", "r00@example.org").code == 0
    r = cli("send", "--now", "2024-05-01T09:40:00+00:00")
    assert r.out.splitlines()[1:-2] == [f"unsubscribed r{i:02d}@example.org" for i in range(1, 11)]
    # the slot comes: each digest sent is a line; the next day, nothing new for anyone: one line
    r = cli("send", "--now", "2024-05-02T08:30:00+00:00")
    assert sum(line.startswith("sent        ") for line in r.out.splitlines()) == MANY - 10 + 1
    for day in range(3, 10):  # 20 papers a day until each has had every paper
        r = cli("send", "--now", f"2024-05-{day:02d}T08:30:00+00:00")
        if "sent 0," in r.out:
            break
    assert r.out.splitlines() == [
        f"empty       {MANY - 10 + 1} subscribers (nothing new for them: no email)",
        "unsubscribed r01@example.org", *(f"unsubscribed r{i:02d}@example.org" for i in range(2, 11)),
        f"sent 0, empty {MANY - 10 + 1}, failed 0, not due 0, unsubscribed 10",
    ]


def test_a_lab_sized_send_from_cron_folds_who_is_not_due_too(workdir, cli):
    """A lab of 30 on a cron line every 10 minutes wrote 30 "not due" lines a
    run (4,000 a day): folding waited for 50 subscribers.  Output that is no
    terminal folds past 10 whatever the list's size."""
    subs = "".join(f"  - email: r{i:02d}@example.org\n    topics: [diffusion]\n" for i in range(30))
    write_config(workdir, "schedule: daily at 08:00\n" + BASIC_CONFIG.split("subscribers:")[0] + "subscribers:\n" + subs)
    r = cli("send", "--now", "2024-05-01T09:00:00+00:00")
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        "not due     30 subscribers; the soonest: r00@example.org: next digest at 2024-05-02 08:00 UTC "
        "(`newsletter schedule` lists each)",
        "sent 0, empty 0, failed 0, not due 30",
    ]


def test_schedule_ends_with_the_list_at_a_glance(workdir, cli):
    """2,500 lines of `schedule` and no way to see how many are due, gone or
    held: a last line says it, and when the next digest goes out."""
    subs = "".join(f"  - email: r{i:02d}@example.org\n    topics: [diffusion]\n" for i in range(3))
    subs += "  - email: cron@example.org\n    topics: [diffusion]\n    schedule: every 6 hours\n"
    write_config(workdir, "schedule: daily at 08:00\n" + BASIC_CONFIG.split("subscribers:")[0] + "subscribers:\n" + subs)
    assert cli("send", "--now", "2024-05-01T05:00:00+00:00").code == 0  # first seen: each waits for its slot
    assert cli("unsubscribe", "r02@example.org").code == 0
    r = cli("schedule", "--now", "2024-05-01T07:00:00+00:00")
    assert r.out.splitlines()[-1] == "4 subscribers: 1 due now, 1 unsubscribed; next digest 2024-05-01 08:00 UTC"
    r = cli("schedule", "--now", "2024-05-01T07:00:00+00:00", "--subscriber", "r00@example.org")
    assert len(r.out.splitlines()) == 1  # one subscriber: its line alone


def test_long_send_on_a_terminal_shows_a_progress_bar(workdir):
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    many_subscribers(workdir)
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0x0
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC", "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "newsletter", "send", "--now", "2024-05-01T08:00:00+00:00"],
                            cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=child, stderr=child)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.wait(timeout=120) == 0
    text = out.decode("utf-8", "replace")
    counts = [int(n) for n in re.findall(rf"(\d+)/{MANY} \[", text)]  # tqdm's bar: "| 12/60 [00:01<..."
    assert counts[0] == 0 and counts[-1] == MANY and "digest/s" in text  # from empty to full, left on screen
    assert f"sent {MANY}, empty 0, failed 0, not due 0" in text
    assert "sent        r" not in text  # no line per digest on a terminal


# --------------------------------------------------------------------------- first-run checks (issue 12)

WITH_DEAD_TOPIC = BASIC_CONFIG.replace(
    "subscribers:",
    """  quantum:
    name: Quantum error correction
    any: ["surface code*", "logical qubit*"]
subscribers:""",
).replace("    topics: [optim, diffusion]", "    topics: [optim, diffusion, quantum]")


def test_match_and_validate_name_topics_that_match_no_paper(workdir, cli):
    write_config(workdir, WITH_DEAD_TOPIC)
    r = cli("match", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["unmatched_topics"] == ["quantum"]
    warning = "warning: config.yaml:11: topics.quantum: matches none of the"
    (line,) = [x for x in r.err.splitlines() if x.startswith(warning)]
    assert line.endswith("papers in the current sources")
    assert warning not in cli("match", "--subscriber", "ada@example.org").err  # not one of Ada's topics

    v = cli("validate")
    assert v.code == 0, v.err  # a warning, not an error
    assert v.err.startswith(warning) and len(v.err.strip().splitlines()) == 1
    data = json.loads(cli("validate", "--json").out)
    assert data["unmatched_topics"] == ["quantum"]
    # the warnings themselves too: a script saw "ok": true and nothing of them
    assert data["warnings"] == [v.err.strip().removeprefix("warning: ")]
    write_config(workdir, BASIC_CONFIG)
    assert json.loads(cli("validate", "--json").out)["warnings"] == []
    assert cli("validate").err == "" and cli("match").err == ""


def test_a_ranked_topic_whose_floor_is_over_every_paper_says_which_min_score_takes_the_best(workdir, cli):
    """`min_score: 0.999` while tuning: validate said only "matches none of the
    N papers", read as a topic with nothing on it today."""
    write_config(workdir, BASIC_CONFIG.replace('    any: ["diffusion model*", "score-based"]\n', (
        "    about: Diffusion models and score-based generative modelling, and faster sampling.\n"
        "    min_score: 0.9999\n")))
    for command in ("validate", "match"):
        r = cli(command)
        assert r.code == 0, r.err
        (line,) = [x for x in r.err.splitlines() if "topics.diffusion:" in x]
        found = re.fullmatch(
            r"warning: config\.yaml:5: topics\.diffusion: matches none of the \d+ papers in the current sources "
            r"\(its min_score 0\.9999 is over them all: the best, '[^']+', has relevance (0\.\d{3}); "
            r"`min_score: (0\.\d\d)` would take it\)", line)
        assert found and found[1].startswith(found[2]), line  # cut, not rounded: the value shown takes it
    write_config(workdir, (workdir / "config.yaml").read_text().replace("min_score: 0.9999", f"min_score: {found[2]}"))
    r = cli("match", "--subscriber", "ada@example.org")
    assert r.code == 0 and "topics.diffusion" not in r.err and "Ada Lovelace <ada@example.org>: 0 papers" not in r.out


def test_a_topic_of_liked_papers_none_of_them_known_says_it_has_nothing_to_rank_by(workdir, cli):
    """`like:` alone, each entry a typo or a paper of no source: validate
    said "matches none of the 336 papers", as of a quiet day on a subject,
    every day."""
    write_config(workdir, BASIC_CONFIG.replace('    any: ["diffusion model*", "score-based"]\n',
                                               '    like: ["Reflected Diffusion Modelz", "A Paper Nobody Wrote"]\n'))
    for command in ("validate", "match"):
        r = cli(command)
        assert r.code == 0, r.err
        (line,) = [x for x in r.err.splitlines() if "topics.diffusion:" in x]
        assert line.startswith("warning: config.yaml:5: topics.diffusion: matches none of the "), line
        assert line.endswith("papers in the current sources (none of its like: papers is known, so it has nothing "
                             "to rank by: name papers of the sources by arXiv id or title, or describe the interest "
                             "in an about: sentence)"), line
        assert "topics.diffusion.like[0]: 'Reflected Diffusion Modelz' matches no known paper" in r.err
    write_config(workdir, (workdir / "config.yaml").read_text().replace("Modelz", "Models"))
    r = cli("validate")
    assert r.code == 0 and "topics.diffusion:" not in r.err and "nothing to rank by" not in r.err, r.err


def test_send_says_a_like_entry_naming_no_known_paper_once_while_it_stands(workdir, cli):
    """Said at every send, cron mailed its admin the same warning every day
    for as long as the entry stood.  send says it once (and that it does),
    also when cron names the config by its full path; validate, match and a
    dry run say it every time; mended and broken again, it is said again."""
    liked = '    about: Diffusion models and score-based generative modelling.\n    like: ["A Paper Nobody Wrote"]\n'
    write_config(workdir, BASIC_CONFIG.replace('    any: ["diffusion model*", "score-based"]\n', liked))
    told = "topics.diffusion.like[0]: 'A Paper Nobody Wrote' matches no known paper"
    first = cli("send")
    assert first.code == 0 and told in first.err, first.err
    assert "it is ignored (said once: later sends are quiet of it while it stands; `newsletter validate` says " \
           "it again)" in first.err
    again = cli("send", "--config", str(workdir / "config.yaml"))
    assert again.code == 0 and told not in again.err, again.err
    for command in (("validate",), ("match",), ("send", "--dry-run")):
        assert told in cli(*command).err, command
    write_config(workdir, (workdir / "config.yaml").read_text().replace("A Paper Nobody Wrote", "Reflected Diffusion Models"))
    assert "matches no known paper" not in cli("send").err
    write_config(workdir, (workdir / "config.yaml").read_text().replace("Reflected Diffusion Models", "A Paper Nobody Wrote"))
    assert told in cli("send").err
    # a cache folder that cannot be made (here under a file; a read-only file system alike): said every time,
    # so it does not claim to be said once
    (workdir / "notes.txt").write_text("not a folder")
    write_config(workdir, (workdir / "config.yaml").read_text() + "cache: notes.txt/cache\n")
    unkept = cli("send").err
    assert told in unkept and "cannot keep the embedding cache" in unkept and "said once" not in unkept, unkept


def test_send_says_a_like_warning_once_though_its_hint_changes_with_the_days_papers(workdir, cli):
    """The warning's hint counts the day's papers ("and all 60 come without
    one") and suggests a title among them ("did you mean ...?"): remembered
    by its whole text, it was said again whenever the sources changed, with
    live sources nearly every day.  What stands is remembered: the topic,
    the entry's text, the kind of problem."""
    liked = ('    about: Diffusion models and score-based generative modelling.\n'
             '    like: ["2401.99999", "Robust Weight Perturbation for Adversarial Trainingz"]\n')
    write_config(workdir, BASIC_CONFIG.replace('    any: ["diffusion model*", "score-based"]\n', liked))
    first = cli("send")
    assert first.code == 0, first.err
    (by_id,) = [line for line in first.err.splitlines() if "topics.diffusion.like[0]: '2401.99999'" in line]
    (by_title,) = [line for line in first.err.splitlines() if "topics.diffusion.like[1]:" in line]
    assert "did you mean 'Robust Weight Perturbation for Adversarial Training'?" in by_title, by_title
    # the next day's papers: fewer of them, and the suggested title revised
    (workdir / "papers" / "hf-papers-overlap.txt").unlink()
    compact = workdir / "papers" / "hf-papers-compact.txt"
    compact.write_text(compact.read_text().replace("Robust Weight Perturbation for Adversarial Training\n",
                                                   "Robust Weight Perturbations for Adversarial Training\n"))
    shown = cli("match")
    assert by_id.removesuffix(TOLD_ONCE) not in shown.err, shown.err  # (its text changed)
    assert by_title.removesuffix(TOLD_ONCE) not in shown.err, shown.err
    assert "did you mean 'Robust Weight Perturbations for Adversarial Training'?" in shown.err, shown.err
    again = cli("send")
    assert again.code == 0 and "like[0]" not in again.err and "like[1]" not in again.err, again.err


def test_send_for_some_subscribers_leaves_the_others_like_warnings_told(workdir, cli):
    """`send --subscriber X` remembered only the warnings of X's topics, so
    the next full send said every other topic's again."""
    liked = '    about: Diffusion models and score-based generative modelling.\n    like: ["A Paper Nobody Wrote"]\n'
    config = BASIC_CONFIG.replace('    any: ["diffusion model*", "score-based"]\n', liked)
    write_config(workdir, config + "  - {email: cy@example.org, topics: [optim]}\n")
    told = "topics.diffusion.like[0]: 'A Paper Nobody Wrote' matches no known paper"
    first = cli("send")
    assert first.code == 0 and told in first.err, first.err
    some = cli("send", "--subscriber", "cy@example.org")
    assert some.code == 0 and told not in some.err, some.err
    again = cli("send")
    assert again.code == 0 and told not in again.err, again.err
    # still said again once mended and broken again, by a send that ranks its topic
    write_config(workdir, (workdir / "config.yaml").read_text().replace("A Paper Nobody Wrote", "Reflected Diffusion Models"))
    assert "matches no known paper" not in cli("send").err
    write_config(workdir, (workdir / "config.yaml").read_text().replace("Reflected Diffusion Models", "A Paper Nobody Wrote"))
    assert told in cli("send").err


def test_a_like_entry_written_above_another_leaves_the_others_warning_told(workdir, cli):
    """Remembered by its place in the list (``like[0]``), a warning was
    said again by the next send once an entry was written above it: every
    entry below one added spoke again.  It is remembered by the entry as
    written; only the new entry's warning is said."""
    liked = '    about: Diffusion models and score-based generative modelling.\n    like: ["A Paper Nobody Wrote"]\n'
    write_config(workdir, BASIC_CONFIG.replace('    any: ["diffusion model*", "score-based"]\n', liked))
    first = cli("send")
    assert first.code == 0 and "topics.diffusion.like[0]: 'A Paper Nobody Wrote' matches no known paper" in first.err
    write_config(workdir, (workdir / "config.yaml").read_text().replace(
        '["A Paper Nobody Wrote"]', '["Another Paper Nobody Wrote", "A Paper Nobody Wrote"]'))
    assert "topics.diffusion.like[1]: 'A Paper Nobody Wrote' matches no known paper" in cli("match").err  # it stands
    again = cli("send")
    assert again.code == 0, again.err
    assert [line for line in again.err.splitlines() if "matches no known paper" in line] == [
        "warning: config.yaml:8: topics.diffusion.like[0]: 'Another Paper Nobody Wrote' matches no known paper "
        "(an arXiv id or the title of a paper from the sources); it is ignored" + TOLD_ONCE], again.err


def test_a_like_warning_reworded_by_the_ranker_stays_told(tmp_path):
    """What send remembers of a ``like:`` warning is the data the ranker
    hands over (topic, entry, kind), not its words: read back out of them
    with a pattern of the words, a rewording of the ranker's message made
    every warning speak again at the next send (and forever, if the pattern
    no longer matched).  Another kind of problem with the same entry is
    news, said."""
    said: list[str] = []
    told = ToldOnce(tmp_path / "cache" / "told.json", tmp_path / "config.yaml", said.append)
    told(LikeWarning("t", "2401.99999", "unknown", "config.yaml:5: topics.t.like[0]: '2401.99999' matches no known "
                                                   "paper (an older paper?); it is ignored"))
    told.save()
    assert said == ["config.yaml:5: topics.t.like[0]: '2401.99999' matches no known paper (an older paper?); it is "
                    "ignored" + TOLD_ONCE]
    said.clear()
    told = ToldOnce(tmp_path / "cache" / "told.json", tmp_path / "config.yaml", said.append)
    told(LikeWarning("t", "2401.99999", "unknown", "config.yaml:7: no paper anyone knows goes by '2401.99999' "
                                                   "(topic t); skipped"))
    told(LikeWarning("t", "2401.99999", "ambiguous", "config.yaml:7: '2401.99999' names several papers; skipped"))
    told.save()
    assert said == ["config.yaml:7: '2401.99999' names several papers; skipped" + TOLD_ONCE]


def test_like_warnings_told_by_the_version_before_are_said_once_more_then_kept(tmp_path):
    """The version before remembered each warning by its words
    (``topics.t.like[0]: 'x' matches no known paper``), in the same file.
    Such a file is read, not a traceback; its warnings are said once more
    and remembered the new way, not said at every send from then on."""
    config = tmp_path / "config.yaml"
    path = tmp_path / "cache" / "like-warnings-told.json"
    path.parent.mkdir()
    path.write_text(json.dumps({str(config.resolve()): [
        "topics.t.like[0]: 'A Paper Nobody Wrote' matches no known paper",
        "topics.u.like[2]: 'GAN' is the short name of more than one known paper"]}, indent=1), encoding="utf-8")
    warning = LikeWarning("t", "A Paper Nobody Wrote", "unknown",
                          "config.yaml:5: topics.t.like[0]: 'A Paper Nobody Wrote' matches no known paper (an arXiv "
                          "id or the title of a paper from the sources); it is ignored")
    for times in (1, 0, 0):
        said: list[str] = []
        told = ToldOnce(path, config, said.append)
        told(warning)
        told.save()
        assert said == [warning.message + TOLD_ONCE] * times
    assert json.loads(path.read_text(encoding="utf-8")) == {
        str(config.resolve()): [["t", "A Paper Nobody Wrote", "unknown"]]}


@pytest.mark.parametrize("how", ["name too long", "unsearchable"])
def test_like_warnings_under_a_cache_folder_that_cannot_be_looked_at_are_said_every_time(tmp_path, how):
    """Python 3.11's ``Path.exists`` raises for what it cannot look at (a
    parent folder without search permission, a name too long for the file
    system): ToldOnce's check whether it can keep what it told was a
    traceback of every send.  The warnings are said every time instead, not
    claiming "said once"."""
    folder = tmp_path / ("x" * 300 if how == "name too long" else "locked")
    if how == "unsearchable":
        if os.geteuid() == 0:
            pytest.skip("permissions do not stop root")
        folder.mkdir()
        folder.chmod(0)
    said: list[str] = []
    try:
        told = ToldOnce(folder / "cache" / "told.json", tmp_path / "config.yaml", said.append)
        for _ in range(2):
            told(LikeWarning("t", "x", "unknown", "config.yaml:5: topics.t.like[0]: 'x' matches no known paper "
                                                  "(an arXiv id or ...); it is ignored"))
        told.save()
    finally:
        if how == "unsearchable":
            folder.chmod(0o755)
    assert said == ["config.yaml:5: topics.t.like[0]: 'x' matches no known paper (an arXiv id or ...); it is ignored"] * 2


def test_an_authors_name_in_a_topic_that_does_not_search_authors_says_to_add_the_field(tmp_path, cli):
    """From arXiv's alerts, "papers by these authors" went under any: as
    names; fields: is title and abstract unless set, so none of their
    papers came, and validate said only that the topic matched nothing."""
    (tmp_path / "arxiv.xml").write_bytes((DATA / "arxiv-api.xml").read_bytes())
    config = """
sources:
  - {type: arxiv, path: arxiv.xml}
topics:
  people:
    name: People I follow
    any: ["Tanaka", "Ana Müller", "diffusion"]
subscribers:
  - {email: me@uni.edu, topics: [people]}
"""
    write_config(tmp_path, config)
    for command in ("validate", "match"):
        r = cli(command)
        assert r.code == 0, r.err
        told = [line for line in r.err.splitlines() if "author's name" in line]
        assert told == [
            "warning: config.yaml:6: topics.people.any[0]: 'Tanaka' is in no paper's title or abstract, but it is "
            "an author's name in 2 of the 5 papers: a topic searches its fields: (title, abstract); add `fields: "
            "[title, abstract, authors]`, or give the names a topic of their own with `fields: [authors]`",
            "warning: config.yaml:6: topics.people.any[1]: 'Ana Müller' is in no paper's title or abstract, but it "
            "is an author's name in 1 of the 5 papers: a topic searches its fields: (title, abstract); add `fields: "
            "[title, abstract, authors]`, or give the names a topic of their own with `fields: [authors]`",
        ], r.err
    write_config(tmp_path, config.replace('"diffusion"]', '"diffusion"]\n    fields: [title, abstract, authors]'))
    r = cli("validate")
    assert r.code == 0 and r.err == "", r.err
    # names as an alert or a reference list writes them: initials, no accents; each matched none of their papers
    write_config(tmp_path, config.replace('any: ["Tanaka", "Ana Müller", "diffusion"]',
                                          'any: ["K. Tanaka", "Muller", "Nobody"]\n    fields: [authors]'))
    r = cli("validate")
    assert r.code == 0
    assert [line for line in r.err.splitlines() if "no author's name" in line] == [
        "warning: config.yaml:6: topics.people.any[0]: 'K. Tanaka' is no author's name as the current papers write "
        "it: they write 'Kenji Tanaka'; a term matches whole words as written, so write the name so, or the surname "
        "alone, 'Tanaka'",
        "warning: config.yaml:6: topics.people.any[1]: 'Muller' is no author's name as the current papers write it: "
        "they write 'Ana Müller'; a term matches whole words as written, so write the name so, or the surname "
        "alone, 'Müller'",
    ], r.err


def test_a_word_that_is_also_a_surname_is_not_told_to_be_an_authors_name(tmp_path, cli):
    """'song', 'long' and 'Bayes' in a topic of concepts were told "it is an
    author's name ... add fields: [..., authors]" whenever an author was Song,
    Long or Bayes.  Told now only of a term written as a name (each word
    capitalised) that is an author's whole name or surname; and a single word
    (a surname alone, but also Bayes, Gauss, Newton) only in a topic that
    also names an author whole (a topic of people): our call, as a single
    capitalised word cannot be told apart from a term named after someone."""
    feed = (DATA / "arxiv-api.xml").read_text(encoding="utf-8")
    feed = feed.replace("Mei Lin", "Mei Song").replace("Priya Raman", "Thomas Bayes").replace("Arjun Mehta", "Yi Long")
    (tmp_path / "arxiv.xml").write_text(feed, encoding="utf-8")
    config = """
sources:
  - {type: arxiv, path: arxiv.xml}
topics:
  ideas:
    any: ["song", "long", "Bayes", "Gauss", "Long", "thomas bayes", "Song Mei", "diffusion"]
  people:
    any: ["Bayes", "Thomas Bayes", "Kenji", "Yi Long"]
subscribers:
  - {email: me@uni.edu, topics: [ideas, people]}
"""
    write_config(tmp_path, config)
    r = cli("validate")
    assert r.code == 0, r.err
    told = [line.split(": '")[0] for line in r.err.splitlines() if "author's name" in line]
    assert told == ["warning: config.yaml:7: topics.people.any[0]", "warning: config.yaml:7: topics.people.any[1]",
                    "warning: config.yaml:7: topics.people.any[3]"], r.err

def test_a_whole_name_spelled_right_gets_no_spelling_of_another_author(tmp_path, cli):
    """'Jun Wang', spelled right but not among today's authors, was told
    "they write 'Jie Wang' ... or the surname alone, 'Wang'": another person.
    A spelling is suggested only for initials ('K. Tanaka', or surname first:
    'Tanaka K'), a name whose accents alone differ ('Tomas Garcia-Lopez',
    'Muller') or one written surname first ('Tanaka Kenji')."""
    feed = (DATA / "arxiv-api.xml").read_text(encoding="utf-8").replace("Mei Lin", "Jie Wang")
    (tmp_path / "arxiv.xml").write_text(feed, encoding="utf-8")
    write_config(tmp_path, """
sources:
  - {type: arxiv, path: arxiv.xml}
topics:
  people:
    any: ["Jun Wang", "Wen Zhang", "Tomas Garcia-Lopez", "K. Tanaka", "Muller", "Tanaka K", "Tanaka Kenji",
          "Wang Jun", "Muller A"]
    fields: [authors]
subscribers:
  - {email: me@uni.edu, topics: [people]}
""")
    r = cli("validate")
    assert r.code == 0, r.err
    told = [line.split(" is no author's name as the current papers write it: they write ")
            for line in r.err.splitlines() if "no author's name" in line]
    assert [(where.rsplit(": ", 1)[1], said.split(";")[0]) for where, said in told] == [
        ("'Tomas Garcia-Lopez'", "'Tomás García-López'"), ("'K. Tanaka'", "'Kenji Tanaka'"),
        ("'Muller'", "'Ana Müller'"),
        # surname first, as PubMed and Scopus ('Tanaka K') or East Asian order write it: they matched nothing,
        # nothing said; 'Wang Jun' is still not Jie Wang
        ("'Tanaka K'", "'Kenji Tanaka'"), ("'Tanaka Kenji'", "'Kenji Tanaka'"), ("'Muller A'", "'Ana Müller'")], r.err

def test_a_name_is_not_found_across_two_authors_or_two_papers(tmp_path, cli):
    """Authors were joined by a line break, which a phrase's ``[\\s-]+`` crosses:
    a topic of ``fields: [authors]`` with "Müller Kenji" matched the paper by
    Ana Müller and Kenji Tanaka; and the checks of names joined all papers'
    texts by a blank line, so "Ana Müller" was "in a paper's title" when one
    title ended "Ana" and the next began "Müller"."""
    from newsletter.config import load_config
    from newsletter.models import Paper
    from newsletter.pipeline import author_advice

    (tmp_path / "arxiv.xml").write_bytes((DATA / "arxiv-api.xml").read_bytes())
    write_config(tmp_path, """
sources:
  - {type: arxiv, path: arxiv.xml}
topics:
  across:
    any: ["Müller Kenji", "O'Brien Wei"]
    fields: [authors]
  people:
    any: ["Kenji Tanaka"]
    fields: [authors]
subscribers:
  - {email: me@uni.edu, topics: [across]}
  - {email: you@uni.edu, topics: [people]}
""")
    r = cli("match", "--json")
    assert r.code == 0, r.err
    me, you = json.loads(r.out)["subscribers"]
    assert me["papers"] == [] and len(you["papers"]) == 2, r.out
    papers = [Paper(title="Notes for Ana", abstract="One.", source="s", arxiv_id="2401.00001", authors=("Jie Wang",)),
              Paper(title="Müller cells of the retina", abstract="Two.", source="s", arxiv_id="2401.00002",
                    authors=("Ana Müller", "Kenji Tanaka"))]
    write_config(tmp_path, """
sources:
  - {type: arxiv, path: arxiv.xml}
topics:
  people:
    any: ["Ana Müller"]
subscribers:
  - {email: me@uni.edu, topics: [people]}
""")
    told = author_advice(load_config(tmp_path / "config.yaml"), papers)
    assert [p.message.split(" is in")[0] for p in told] == ["'Ana Müller'"]

def test_author_advice_searches_no_authors_for_a_term_with_a_word_no_author_has(tmp_path, monkeypatch):
    """Every term of every topic was searched (a regex) in all papers' authors
    joined: 4.4 s CPU on 5,000 papers and 860 terms, on every match, validate
    and preview.  A term with a word no author's name has is now passed over
    on a set look-up; only the terms whose words all are names' words are searched."""
    import dataclasses

    from newsletter import matching
    from newsletter.config import load_config
    from newsletter.models import Paper
    from newsletter.pipeline import author_advice

    (tmp_path / "arxiv.xml").write_bytes((DATA / "arxiv-api.xml").read_bytes())
    terms = [f"diffusion step{i}" for i in range(50)] + ["Ana Müller", "Tanaka"]
    write_config(tmp_path, "sources:\n  - {type: arxiv, path: arxiv.xml}\ntopics:\n  t:\n    any: "
                 + json.dumps(terms, ensure_ascii=False) + "\nsubscribers:\n  - {email: me@uni.edu, topics: [t]}\n")
    papers = [Paper(title=f"On diffusion {i}", abstract="A study.", source="s", arxiv_id=f"2401.0000{i}",
                    authors=("Ana Müller", "Kenji Tanaka", "Wei Zhang")) for i in range(3)]
    searched: list[str] = []

    class Counted:
        def __init__(self, pattern, text):
            self.pattern, self.text = pattern, text

        def search(self, text):
            if text.count("Kenji Tanaka") == 3:  # all papers' authors joined
                searched.append(self.text)
            return self.pattern.search(text)

    real = matching.compile_term
    monkeypatch.setattr(matching, "compile_term",
                        lambda text: dataclasses.replace(term := real(text), regex=Counted(term.regex, text)))
    told = author_advice(load_config(tmp_path / "config.yaml"), papers)
    assert searched == ["Ana Müller", "Tanaka"]
    assert [p.message.split(" is in")[0] for p in told] == ["'Ana Müller'", "'Tanaka'"]


def test_a_topic_asking_for_data_the_sources_do_not_give_says_so(workdir, cli):
    """Saved Hugging Face pages have no arXiv categories and no authors: a
    topic filtering on them is empty every day, not on a quiet one."""
    write_config(workdir, BASIC_CONFIG.replace("subscribers:", """  by_cat:
    name: By category
    any: ["diffusion model*"]
    categories: [cs.LG]
  by_author:
    name: By author
    any: ["Ada Lovelace"]
    fields: [authors]
subscribers:""").replace("    topics: [diffusion]", "    topics: [diffusion, by_cat, by_author]"))
    r = cli("validate")
    assert r.code == 0, r.err
    assert r.err.splitlines() == [
        "warning: config.yaml:11: topics.by_cat: matches none of the 338 papers in the current sources (none of them "
        "has categories, which Hugging Face's papers (saved pages or hf-daily) and most feeds do not give; add an "
        "arXiv source or drop `categories`)",
        "warning: config.yaml:15: topics.by_author: matches none of the 338 papers in the current sources (none of them "
        "has authors, which saved Hugging Face pages do not give; add an arXiv source or search "
        "`fields: [title, abstract]` too)",
    ]
    r = cli("match")
    assert "add an arXiv source or drop `categories`" in r.err


def test_match_after_a_send_says_the_papers_went_out_before(workdir, cli):
    """Right after a send, `match` said "0 papers", read as rules that match
    nothing: it says how many went out before and that --all shows them."""
    write_config(workdir, BASIC_CONFIG.replace('any: ["diffusion model*", "score-based"]', 'any: ["AutoDiffusion"]'))
    assert cli("send", "--subscriber", "ada@example.org").code == 0
    r = cli("match", "--subscriber", "ada@example.org")
    assert r.out.splitlines()[0] == ("Ada Lovelace <ada@example.org>: 0 papers (the 1 paper its topics take now went "
                                     "out before; `match --all` shows them)"), r.out
    data = json.loads(cli("match", "--json").out)
    assert [(s["email"], s["sent_before"]) for s in data["subscribers"]] == [
        ("ada@example.org", 1), ("bob@example.org", 0)]  # bob's digest is not empty: nothing to say
    assert cli("match", "--all", "--subscriber", "ada@example.org").out.startswith(
        "Ada Lovelace <ada@example.org>: 1 paper\n")


def test_a_whole_word_term_missing_its_plural_is_named_with_the_prefix_to_write(workdir, cli):
    """Terms are whole words: the contract's own ``any: ["diffusion model"]``
    missed every paper that writes only "diffusion models", a short digest
    with nothing said.  validate and match count those papers at the term's
    line; a prefix, or both forms listed, is not told."""
    write_config(workdir, BASIC_CONFIG.replace('any: ["diffusion model*", "score-based"]',
                                               'any: ["diffusion model", "score-based"]\n    none: ["medical images"]'))
    r = cli("validate")
    assert r.code == 0, r.err  # advice, not an error
    line, none = r.err.splitlines()
    assert re.fullmatch(
        r"warning: config\.yaml:7: topics\.diffusion\.any\[0\]: 'diffusion model' matches whole words, not "
        r"'diffusion models', which (\d+) of the 338 papers write and no other any: term matches; write "
        r"'diffusion model\*' \(a prefix\), or add 'diffusion models'", line), line
    assert int(re.search(r"which (\d+)", line)[1]) > 5
    assert none == ("warning: config.yaml:8: topics.diffusion.none[0]: 'medical images' matches whole words, not "
                    "'medical image', which 1 of the 338 papers writes and no other none: term matches; write "
                    "'medical image*' (a prefix), or add 'medical image'")
    assert line in cli("match").err.splitlines()
    assert "topics.diffusion" not in cli("match", "--subscriber", "bob@example.org", "--paper", "x").err

    for fixed in ('"diffusion model*"', '"diffusion model", "diffusion models"'):
        write_config(workdir, BASIC_CONFIG.replace('"diffusion model*"', fixed))
        assert cli("validate").err == ""


def test_pin_where_no_paper_has_authors_is_named_once(workdir, cli):
    """Saved Hugging Face pages give no authors: a subscriber's pin: could
    never apply and the digest was the same as without it, nothing said."""
    pinned = BASIC_CONFIG.replace("    topics: [diffusion]\n", "    topics: [diffusion]\n    pin: [Yang Song]\n").replace(
        "    max_papers: 5\n", "    max_papers: 5\n    pin: [Ada Lovelace]\n")
    write_config(workdir, pinned)
    r = cli("validate")
    assert r.code == 0, r.err
    assert r.err.splitlines() == [
        "warning: config.yaml:15: subscribers[0].pin: pins authors, but none of the 338 papers in the current sources "
        "has authors (saved Hugging Face pages give none), so no paper is pinned (nor for 1 more subscriber with "
        "pin:); add an arxiv or hf-daily source"]
    assert cli("match", "--subscriber", "bob@example.org").err.startswith(
        "warning: config.yaml:19: subscribers[1].pin: pins authors, but none of the 338 papers")

    (workdir / "arxiv.xml").write_bytes((DATA / "arxiv-api.xml").read_bytes())  # papers with authors
    write_config(workdir, pinned.replace("sources:\n", "sources:\n  - type: arxiv\n    path: arxiv.xml\n"))
    assert "pin" not in cli("validate").err + cli("match").err


def test_a_pin_written_otherwise_than_the_sources_write_the_name_is_named(workdir, cli):
    """A pin matches a name exactly: 'Tanaka, Kenji', 'K. Tanaka' or 'Tanaka K'
    pinned nothing while the papers wrote 'Kenji Tanaka', and nothing said so."""
    (workdir / "arxiv.xml").write_bytes((DATA / "arxiv-api.xml").read_bytes())
    pinned = BASIC_CONFIG.replace("sources:\n", "sources:\n  - type: arxiv\n    path: arxiv.xml\n").replace(
        "    topics: [diffusion]\n", "    topics: [diffusion]\n    pin: [Tanaka, Kenji, W. Zhang, Kenji Tanaka, "
        "'Lovelace, Ada', Someone Else, Tanaka K, Zhang Wei]\n".replace("Tanaka, Kenji", "'Tanaka, Kenji'"))
    write_config(workdir, pinned)
    r = cli("validate")
    assert r.code == 0, r.err
    assert r.err.splitlines() == [
        "warning: config.yaml:17: subscribers[0].pin[0]: 'Tanaka, Kenji' pins no paper: the current papers write "
        "'Kenji Tanaka'; a pin matches a name as the sources write it",
        "warning: config.yaml:17: subscribers[0].pin[1]: 'W. Zhang' pins no paper: the current papers write "
        "'Wei Zhang'; a pin matches a name as the sources write it",
        "warning: config.yaml:17: subscribers[0].pin[3]: 'Lovelace, Ada' pins no paper: it is written surname "
        "first; the sources write names first name first: Ada Lovelace",
        # surname first without a comma, as PubMed writes it or in East Asian order: it said nothing
        "warning: config.yaml:17: subscribers[0].pin[5]: 'Tanaka K' pins no paper: the current papers write "
        "'Kenji Tanaka'; a pin matches a name as the sources write it",
        "warning: config.yaml:17: subscribers[0].pin[6]: 'Zhang Wei' pins no paper: the current papers write "
        "'Wei Zhang'; a pin matches a name as the sources write it",
    ], r.err  # Kenji Tanaka as written, and a name no paper has, are no slip
    assert "pins no paper" in cli("match").err


def test_a_config_without_subscribers_says_nothing_is_ever_sent(workdir, cli):
    """validate said OK and send 'sent 0', exit 0, for a config whose
    subscribers were left out: a digest that never comes, nothing said."""
    without = BASIC_CONFIG.split("subscribers:")[0]
    write_config(workdir, without)
    said = "no subscribers, so nothing is ever sent: add one (email: and topics:) under subscribers:"
    r = cli("validate")
    assert r.code == 0 and r.err.splitlines() == [f"warning: config.yaml: subscribers: {said}"], r.err
    write_config(workdir, without + "subscribers: []\n")
    r = cli("send")
    assert r.code == 0 and r.err.splitlines() == [f"warning: config.yaml:11: subscribers: {said}"], r.err
    assert r.out.strip() == "sent 0, empty 0, failed 0, not due 0"
    write_config(workdir, BASIC_CONFIG)
    assert "subscribers" not in cli("validate").err


def test_validate_qualifies_unmatched_topics_when_remote_sources_were_not_read(workdir, cli, http_server):
    write_config(workdir, WITH_DEAD_TOPIC.replace(
        "sources:\n", f"sources:\n  - type: feed\n    url: {http_server.url('/feed.xml')}\n"
    ))
    r = cli("validate")
    assert r.code == 0, r.err
    assert r.err.strip().endswith("(1 remote source not fetched; --fetch reads them)")
    assert http_server.requests == []


def test_match_all_shows_the_next_digests_as_if_nothing_had_been_sent(workdir, cli):
    write_config(workdir, BASIC_CONFIG)
    before = json.loads(cli("match", "--json").out)["subscribers"]
    assert cli("send").code == 0
    after = json.loads(cli("match", "--json").out)["subscribers"]
    assert [p["id"] for p in after[0]["papers"]] != [p["id"] for p in before[0]["papers"]]  # Ada's next digest moved on
    again = json.loads(cli("match", "--all", "--json").out)["subscribers"]
    assert again == before
    text = cli("match", "--all", "--subscriber", "ada@example.org")
    assert text.code == 0 and text.out.startswith("Ada Lovelace <ada@example.org>: 20 papers")


def test_validate_fails_on_an_unset_password_variable(workdir, cli):
    config = write_config(
        workdir,
        BASIC_CONFIG
        + "delivery:\n  transport: smtp\n  host: 127.0.0.1\n  username: digest\n  password_env: DIGEST_PASSWORD_NOT_SET\n",
    )
    r = cli("validate")
    assert r.code == 2
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "password_env" in text)
    assert r.err.strip() == (
        f"config.yaml:{line}: delivery.password_env: environment variable DIGEST_PASSWORD_NOT_SET is not set "
        "(it must hold the SMTP password for digest)"
    )
    ok = cli("validate", env={"DIGEST_PASSWORD_NOT_SET": "hunter2"})
    assert ok.code == 0, ok.err
    assert "hunter2" not in ok.out + ok.err


def test_validate_fetch_reports_each_remote_source(workdir, cli, http_server):
    from recorded_http import Reply, recorded

    http_server.route("/api/query", recorded("arxiv-api.xml"))
    http_server.route("/feed.xml", Reply(404, b"gone"))
    write_config(workdir, BASIC_CONFIG.replace("sources:\n", f"""sources:
  - type: arxiv
    name: arXiv ML
    categories: [cs.LG]
    url: {http_server.url('/api/query')}
  - type: feed
    name: blog
    url: {http_server.url('/feed.xml')}
""") + "http: {retries: 0}\n")
    r = cli("validate", "--fetch")
    assert r.code == 2
    assert r.out.splitlines() == [
        f"sources[0] 'arXiv ML' ({http_server.url('/api/query')}): 5 papers",
        f"sources[1] 'blog' ({http_server.url('/feed.xml')}): FAILED (the reason is below)",
    ]
    assert r.err.strip() == f"{http_server.url('/feed.xml')}: source 'blog': HTTP 404 Not Found"

    http_server.route("/feed.xml", recorded("feed-rss2.xml"))
    r = cli("validate", "--fetch")
    assert r.code == 0, r.err
    assert r.out.splitlines()[1] == f"sources[1] 'blog' ({http_server.url('/feed.xml')}): 3 papers"
    assert "OK: 3 sources (" in r.out and "not fetched" not in r.out
    data = json.loads(cli("validate", "--fetch", "--json").out)
    assert [(s["name"], s["papers"], s["error"]) for s in data["fetched"]] == [("arXiv ML", 5, None), ("blog", 3, None)]


def _entry_point(tmp_path, *argv: str, before: str = "") -> subprocess.CompletedProcess:
    """The executable's entry point (``newsletter.__main__:main``, which runs
    ``newsletter.cli.entry_point`` with the collector paused), as the console
    script and ``python -m newsletter`` call it, with ``before`` run first."""
    code = f"import sys\n{before}\nsys.argv = {['newsletter', *argv]!r}\nfrom newsletter.__main__ import main\nmain()\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_entry_point_runs_exit_handlers_and_keeps_the_exit_code(tmp_path):
    # It skips the interpreter's teardown, not what was registered to run at exit.
    marker = tmp_path / "exit-handler-ran"
    before = f"import atexit\natexit.register(lambda: open({str(marker)!r}, 'w').write('yes'))"
    r = _entry_point(tmp_path, "--config", "missing.yaml", "validate", before=before)
    assert r.returncode == 2
    assert "missing.yaml" in r.stderr and "Traceback" not in r.stderr
    assert marker.read_text() == "yes"


def test_the_executable_collects_garbage_again_once_the_config_is_read(workdir):
    """The executable's start runs with the collector off (newsletter.__main__);
    by the end of a command that read the config it is on again, with what
    the start made frozen."""
    write_config(workdir, BASIC_CONFIG)
    seen = workdir / "gc-seen"
    before = ("import atexit, gc\n"
              f"atexit.register(lambda: open({str(seen)!r}, 'w').write(f'{{gc.isenabled()}} {{gc.get_freeze_count()}}'))")
    r = _entry_point(workdir, "validate", before=before)
    assert r.returncode == 0, r.stderr
    enabled, frozen = seen.read_text().split()
    assert enabled == "True" and int(frozen) > 10_000


def test_the_executable_builds_its_models_without_looking_for_pydantic_plugins(workdir):
    """pydantic reads every installed distribution's entry points for its
    plugins at the first model (4 ms of the start): the executable imports
    its models with them off, and leaves the environment as it found it."""
    write_config(workdir, BASIC_CONFIG)
    seen = workdir / "plugins-seen"
    before = ("import atexit, os, sys\n"
              "os.environ.pop('PYDANTIC_DISABLE_PLUGINS', None)\n"
              "def seen():\n"
              "    loader = sys.modules.get('pydantic.plugin._loader')\n"
              f"    open({str(seen)!r}, 'w').write(f\"{{loader._plugins}} {{os.environ.get('PYDANTIC_DISABLE_PLUGINS')}}\")\n"
              "atexit.register(seen)")
    r = _entry_point(workdir, "validate", before=before)
    assert r.returncode == 0, r.stderr
    assert seen.read_text() == "None None"  # never scanned (a scan leaves {}); the variable gone again
    before = before.replace("os.environ.pop('PYDANTIC_DISABLE_PLUGINS', None)", "os.environ['PYDANTIC_DISABLE_PLUGINS'] = 'x'")
    r = _entry_point(workdir, "validate", before=before)
    assert r.returncode == 0, r.stderr
    assert seen.read_text() == "{} x"  # the user's setting is theirs: plugins looked for, the variable kept


def test_entry_point_flushes_everything_written_to_a_pipe(workdir):
    # Far more than a pipe's buffer, written without a flush per line.
    write_config(workdir, BASIC_CONFIG)
    r = _entry_point(workdir, "papers", "--json")
    assert r.returncode == 0, r.stderr
    papers = json.loads(r.stdout)
    assert len(r.stdout) > 65536 and len(papers) > 50


def test_under_a_profiler_the_executable_exits_the_normal_way(tmp_path):
    # cProfile writes its report after the program returns: a quick exit would lose it.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
    out = tmp_path / "profile.out"
    r = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "newsletter", "--help"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Usage" in r.stdout
    assert out.stat().st_size > 0


def _run_to(workdir, stdout, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
    return subprocess.run([sys.executable, "-m", "newsletter", *args], cwd=workdir, env=env, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=300)


def _sent(workdir) -> int:
    import sqlite3

    with sqlite3.connect(workdir / "newsletter-state.sqlite3") as db:
        return db.execute("SELECT count(*) FROM digests WHERE status = 'sent'").fetchone()[0]


BIG = 250  # over sending.SHARD_MIN: the send's workers are forked


def test_a_send_goes_on_to_the_end_when_its_reader_goes_away(workdir):
    # `newsletter send | head -3`: the pipe's reader is gone; the digests are what matters.
    subs = "".join(f"  - email: r{i:03d}@example.org\n    topics: [diffusion]\n" for i in range(BIG))
    write_config(workdir, BASIC_CONFIG.split("subscribers:")[0] + "subscribers:\n" + subs)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r = _run_to(workdir, write_end, "send", "--now", "2024-05-01T08:00:00+00:00")
    finally:
        os.close(write_end)
    assert r.returncode == 0, r.stderr
    assert "stdout: Broken pipe; the rest of the output is dropped" in r.stderr and "Traceback" not in r.stderr
    assert len(list((workdir / "outbox").rglob("*.eml"))) == BIG and _sent(workdir) == BIG


@pytest.mark.parametrize("closed", [1, 2])
def test_a_send_started_with_its_output_closed_delivers_and_exits_0(workdir, closed):
    """`newsletter send >&-` (a supervisor that closes the standard streams):
    Python leaves sys.stdout None, and the first line written after the
    deliveries ended in a traceback and exit 1, read as failed deliveries."""
    many_subscribers(workdir)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
    r = subprocess.run([sys.executable, "-m", "newsletter", "send", "--now", "2024-05-01T08:00:00+00:00"],
                       cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
                       preexec_fn=lambda: os.close(closed))
    assert r.returncode == 0, r.stderr
    if closed == 1:
        assert r.stderr.splitlines()[0] == "stdout: closed when the command started; the rest of the output is dropped"
    assert "Traceback" not in r.stderr and _sent(workdir) == MANY


def test_a_send_to_a_full_disk_goes_on_and_says_so(workdir):
    many_subscribers(workdir)
    with open("/dev/full", "w") as full:
        r = _run_to(workdir, full, "send", "--now", "2024-05-01T08:00:00+00:00")
    assert r.returncode == 0, r.stderr
    assert "No space left on device; the rest of the output is dropped" in r.stderr and "Traceback" not in r.stderr
    assert _sent(workdir) == MANY


def test_a_listing_whose_reader_goes_away_ends_quietly(workdir):
    # `newsletter papers | head -1`: exit 0, as if the reader had read on; no traceback.
    write_config(workdir, BASIC_CONFIG)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r = _run_to(workdir, write_end, "papers")
    finally:
        os.close(write_end)
    assert r.returncode == 0 and r.stderr == ""


def test_validate_json_says_what_failed_on_stdout_too(workdir, cli):
    write_config(workdir, BASIC_CONFIG.replace("any: [\"SGD\"", "any: [\"/(unclosed/\", \"SGD\""))
    r = cli("validate", "--json")
    assert r.code == 2
    data = json.loads(r.out)
    assert data["ok"] is False and data["problems"] and all(p in r.err for p in data["problems"])
    assert data["problems"][0].startswith("config.yaml:")


def test_every_json_command_says_a_config_error_on_stdout_too(workdir, cli):
    """`send --json` (and `match`, `papers`, ... `--json`) printed nothing on
    stdout for a broken config: a script parsing it got an error of its own
    and no word of what failed.  Each gives what `validate --json` gives, an
    `"ok": false` document with the located lines and the exit code, and
    stderr says the same lines as ever."""
    write_config(workdir, BASIC_CONFIG.replace("max_papers: 5", "max_papers: many"))
    for command in ("send", "match", "papers", "schedule", "history", "preview", "validate"):
        r = cli(command, "--json")
        assert r.code == 2, (command, r.err)
        data = json.loads(r.out)
        assert data["ok"] is False and data["exit"] == 2 and data["config"] == "config.yaml", (command, r.out)
        assert data["problems"] == ["config.yaml:17: subscribers[1].max_papers: expected a valid integer, got 'many'"]
        assert r.err.splitlines() == data["problems"] and "Traceback" not in r.err, (command, r.err)
    # without --json, stdout stays empty
    r = cli("send")
    assert r.code == 2 and r.out == "" and r.err.startswith("config.yaml:17: ")


def test_every_source_failing_is_a_json_document_too(workdir, cli):
    """Every source failed is bad input too (exit 2): `papers --json` said it
    on stderr alone, and a script read an empty stdout."""
    write_config(workdir, BASIC_CONFIG.replace("path: papers/", "path: papers/\n    required: false"))
    for f in (workdir / "papers").iterdir():
        f.write_bytes(b"\x00\x01binary")
    r = cli("papers", "--json")
    assert r.code == 2, r.err
    data = json.loads(r.out)
    assert data["ok"] is False and data["exit"] == 2
    assert data["problems"][-1].startswith("every source failed (1 of 1)"), data
    assert r.err.splitlines() == data["problems"]


def test_a_usage_error_of_a_json_command_is_a_json_document_too(workdir, cli):
    """`send --json --now <a time ahead of the clock>` (and any usage error of
    a --json command: a --now that is no time, an option misspelt) printed
    nothing on stdout: a script parsing it got an error of its own.  Each is
    the `"ok": false` document a config error gives, with click's line, exit 2,
    wherever --json stands among the words; stderr says it as ever, and
    nothing was sent or recorded."""
    write_config(workdir, BASIC_CONFIG)
    ahead = "Invalid value for '--now': 2999-01-01T00:00:00+00:00 is ahead of this machine's clock"
    for args, said in ((("send", "--json", "--now", "2999-01-01T00:00:00+00:00"), ahead),
                       (("send", "--now", "garbage", "--json"), "Invalid value for '--now': 'garbage' is not an ISO"),
                       (("match", "--json", "--subscriber"), "Option '--subscriber' requires an argument"),
                       (("papers", "--jsno", "--json"), "No such option '--jsno'")):
        r = cli(*args)
        assert r.code == 2 and "Traceback" not in r.err, (args, r.err)
        data = json.loads(r.out)
        assert data["ok"] is False and data["exit"] == 2 and data["config"] == "config.yaml", (args, r.out)
        (problem,) = data["problems"]
        assert problem.startswith(said) and f"Error: {problem}" in r.err, (args, problem, r.err)
    assert not list(workdir.rglob("*.eml"))  # (the outbox: nothing sent)
    r = cli("send", "--now", "garbage")  # without --json, stdout stays empty
    assert r.code == 2 and r.out == "" and "Invalid value for '--now'" in r.err


SMTP_LOCAL = "delivery:\n  transport: smtp\n  host: 127.0.0.1\n  port: 1025\n  security: none\n"


@pytest.mark.parametrize(
    "email_block, warned",
    [
        ("", "warning: config.yaml: email.from: not set: mail goes out from 'Paper Digest <digest@example.org>', "
             "a placeholder address (example.org is reserved for examples) that mail servers refuse or file as spam; "
             "set email.from to your own address"),
        ("email:\n  from: \"Me <me@lab.example>\"\n",
         "warning: config.yaml:19: email.from: 'Me <me@lab.example>' is a placeholder address (lab.example is reserved "
         "for examples) that mail servers refuse or file as spam; set email.from to your own address"),
        ("email:\n  from: \"Me <me@uni.edu>\"\n", None),
    ],
)
def test_validate_warns_of_a_placeholder_sender_on_smtp(workdir, cli, email_block, warned):
    """A newcomer who leaves out `from:` (or keeps the example's) sends real mail
    from example.org: said by validate, before a server refuses it."""
    write_config(workdir, BASIC_CONFIG + email_block + SMTP_LOCAL)
    r = cli("validate")
    assert r.code == 0, r.err
    warnings = [line for line in r.err.splitlines() if "email.from" in line]
    assert warnings == ([warned] if warned else []), r.err


def test_validate_warns_of_placeholder_subscribers_on_smtp(workdir, cli):
    """The starter's you@example.org kept when switching to smtp: validate
    warned of the From, not of where every digest was going (a bounce)."""
    sender = "email:\n  from: \"Me <me@uni.edu>\"\n"
    many = "".join(f"  - {{email: m{n}@example.com, topics: [optim]}}\n" for n in range(5))
    write_config(workdir, BASIC_CONFIG + many + sender + SMTP_LOCAL)
    r = cli("validate")
    assert r.code == 0, r.err
    assert [line for line in r.err.splitlines() if "subscribers[" in line] == [
        "warning: config.yaml:12: subscribers[0].email: 'ada@example.org' is a placeholder address (example.org is "
        "reserved for examples): no mail reaches it; put the subscriber's own address",
        "warning: config.yaml:15: subscribers[1].email: 'bob@example.org' is a placeholder address (example.org is "
        "reserved for examples): no mail reaches it; put the subscriber's own address",
        "warning: config.yaml:18: subscribers[2].email: 'm0@example.com' is a placeholder address (example.com is "
        "reserved for examples): no mail reaches it; put the subscriber's own address",
        "warning: config.yaml:19: subscribers[3].email: 'm1@example.com' and 3 more after it are placeholder "
        "addresses too",
    ], r.err
    write_config(workdir, BASIC_CONFIG.replace("@example.org", "@uni.edu") + sender + SMTP_LOCAL)
    assert "subscribers[" not in cli("validate").err
    write_config(workdir, BASIC_CONFIG + sender)  # the outbox: nothing is mailed
    assert "subscribers[" not in cli("validate").err


def test_validate_warns_of_the_starters_placeholder_base_url_on_smtp(workdir, cli, monkeypatch):
    """The starter's `web:` block uncommented as it is: every email's unsubscribe
    link pointed at digest.example.org, and validate said OK."""
    monkeypatch.setenv("DIGEST_TEST_SECRET", "a-signing-key-of-32-characters-00")
    sender = "email:\n  from: \"Me <me@uni.edu>\"\n"
    web = "web:\n  base_url: {}\n  secret_env: DIGEST_TEST_SECRET\n"
    write_config(workdir, BASIC_CONFIG + sender + SMTP_LOCAL + web.format("https://digest.example.org"))
    r = cli("validate")
    assert r.code == 0, r.err
    assert [line for line in r.err.splitlines() if "base_url" in line] == [
        "warning: config.yaml:26: web.base_url: 'https://digest.example.org' is a placeholder (digest.example.org is "
        "reserved for examples): the unsubscribe link in every email would lead nowhere; set it to the HTTPS "
        "address where `newsletter serve` is reachable"]
    write_config(workdir, BASIC_CONFIG + sender + SMTP_LOCAL + web.format("https://digest.uni.edu/news"))
    assert "base_url" not in cli("validate").err
    # the address `newsletter serve` listens on, or a LAN name: validate said OK
    for url, host in (("https://localhost:8025", "localhost"), ("https://127.0.0.1:8025/digest", "127.0.0.1"),
                      ("https://10.0.0.7/digest", "10.0.0.7"), ("https://digest.lab.internal", "digest.lab.internal"),
                      ("https://digest", "digest")):
        write_config(workdir, BASIC_CONFIG + sender + SMTP_LOCAL + web.format(url))
        r = cli("validate")
        assert r.code == 0, r.err
        assert [line for line in r.err.splitlines() if "base_url" in line] == [
            f"warning: config.yaml:26: web.base_url: {url!r} names {host}, which only this machine or its network "
            "reaches: the unsubscribe links of readers elsewhere, and the one-click requests mail providers send from "
            "their own servers, cannot reach it; set it to the public HTTPS address of the web server that passes "
            "requests on to `newsletter serve`"], r.err


def test_validate_warns_of_a_password_without_a_username(workdir, cli, monkeypatch):
    """`password_env` without `username`: no login is made, the password is
    never used, and a relay that wants a login refuses every message."""
    monkeypatch.setenv("DIGEST_TEST_PW", "s3cret-pw")
    write_config(workdir, BASIC_CONFIG + "email:\n  from: \"Me <me@uni.edu>\"\n" + SMTP_LOCAL
                 + "  password_env: DIGEST_TEST_PW\n")
    r = cli("validate")
    assert r.code == 0, r.err
    assert ("warning: config.yaml:25: delivery.password_env: is set but delivery.username is not: no login is made "
            "and the password is never used; set username: to the account's login") in r.err.splitlines(), r.err
    assert "s3cret-pw" not in r.err
    write_config(workdir, BASIC_CONFIG + "email:\n  from: \"Me <me@uni.edu>\"\n" + SMTP_LOCAL
                 + "  username: me\n  password_env: DIGEST_TEST_PW\n")
    assert "username" not in cli("validate").err


def test_validate_warns_of_a_login_sent_unencrypted(workdir, cli, monkeypatch):
    """`security: none` with a username and password to a server on the internet:
    a server that offers AUTH on a plain connection took the password readable
    on the way, and nothing said so (a relay on this machine is not warned of)."""
    monkeypatch.setenv("DIGEST_TEST_PW", "s3cret-pw")
    remote = SMTP_LOCAL.replace("127.0.0.1", "mail.uni.edu")
    write_config(workdir, BASIC_CONFIG + "email:\n  from: \"Me <me@uni.edu>\"\n" + remote
                 + "  username: me\n  password_env: DIGEST_TEST_PW\n")
    r = cli("validate")
    said = ("warning: config.yaml:24: delivery.security: none with a login: the password for 'me' goes to mail.uni.edu "
            "unencrypted, readable by anyone on the way; set security: starttls (port 587) or ssl (port 465), unless "
            "the server is on a network you trust")
    assert r.code == 0 and said in r.err.splitlines() and "s3cret-pw" not in r.err, r.err
    write_config(workdir, BASIC_CONFIG + "email:\n  from: \"Me <me@uni.edu>\"\n" + SMTP_LOCAL
                 + "  username: me\n  password_env: DIGEST_TEST_PW\n")
    assert "unencrypted" not in cli("validate").err


def test_validate_warns_of_a_time_of_day_read_in_utc_on_a_machine_in_another_zone(workdir, cli):
    """'daily at 08:00' with no timezone: written in Berlin went out at 09:00
    (10:00 in summer) there, and nothing said the hour was UTC's."""
    write_config(workdir, BASIC_CONFIG.replace("    max_papers: 5\n", "    max_papers: 5\n    schedule: weekly on monday at 07:30\n"))
    r = cli("validate", env={"TZ": "Europe/Berlin"})
    assert r.code == 0, r.err
    assert ("warning: config.yaml:18: subscribers[1].schedule: 'weekly on monday at 07:30' is read in UTC, as no "
            "timezone: is written, but this machine's clock is Europe/Berlin's: set timezone: Europe/Berlin at the "
            "top for 07:30 on that clock (timezone: UTC keeps UTC's)") in r.err.splitlines(), r.err
    assert "read in UTC" not in cli("validate", env={"TZ": "UTC"}).err  # a server's clock: UTC meant
    write_config(workdir, "timezone: UTC\n" + BASIC_CONFIG.replace("    max_papers: 5\n",
                                                                     "    max_papers: 5\n    schedule: daily at 07:30\n"))
    assert "read in UTC" not in cli("validate", env={"TZ": "Europe/Berlin"}).err  # written: meant


def test_validate_warns_of_a_topic_no_subscriber_follows(workdir, cli):
    """A topic written and never added to a subscriber's topics sends nothing, silently."""
    write_config(workdir, BASIC_CONFIG.replace("    topics: [optim, diffusion]\n", "    topics: [diffusion]\n"))
    r = cli("validate")
    assert r.code == 0, r.err
    assert "warning: config.yaml:8: topics.optim: no subscriber follows it (add it to a subscriber's topics: list)" \
        in r.err.splitlines(), r.err


def test_importing_the_package_loads_nothing_until_a_name_is_used():
    """``newsletter`` exports its names lazily: the command turns the garbage
    collector off before pydantic and the config's models load
    (``newsletter.__main__``), which an eager ``__init__`` would have loaded first."""
    code = (
        "import sys, newsletter\n"
        "assert 'pydantic' not in sys.modules and 'newsletter.config' not in sys.modules\n"
        "from newsletter import NewsletterError, load_config, pipeline\n"
        "assert newsletter.Config.__module__ == 'newsletter.config' and callable(load_config)\n"
        "try:\n    newsletter.no_such_name\nexcept AttributeError as exc:\n    print(exc)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "module 'newsletter' has no attribute 'no_such_name'"


def test_a_send_from_exports_never_loads_the_remote_formats_parsers(workdir):
    """``newsletter.feeds`` (html.parser and some forty regexes, a twentieth of
    the command's imports) is for feeds and APIs, ``newsletter.listings``
    (html.parser again, arXiv's listings and daily e-mail: 60 M instructions,
    about 6 ms) for an export that holds one: a send of saved exports read
    them at every start.  A feed source still loads them."""
    write_config(workdir, BASIC_CONFIG)
    code = (
        "import sys\nsys.argv = ['newsletter', 'send', '--dry-run', '--now', '2024-05-01T08:00:00+00:00']\n"
        "from newsletter import cli\n"
        "try:\n    cli.main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "print('feeds loaded' if 'newsletter.feeds' in sys.modules else 'feeds not loaded', file=sys.stderr)\n"
        "print('listings loaded' if 'newsletter.listings' in sys.modules else 'listings not loaded', file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=command_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "would send" in r.stdout and r.stderr.splitlines()[-2:] == ["feeds not loaded", "listings not loaded"], \
        r.stderr
    (workdir / "lab.xml").write_text(
        '<rss version="2.0"><channel><title>Lab</title><item><title>Denoising diffusion, again</title>'
        "<description>A diffusion model for images.</description><link>https://lab.example/1</link></item>"
        "</channel></rss>", encoding="utf-8")
    write_config(workdir, BASIC_CONFIG.replace("sources:\n", "sources:\n  - type: feed\n    path: lab.xml\n", 1))
    r = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=command_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[-2:] == ["feeds loaded", "listings loaded"] and "would send" in r.stdout, r.stderr


def test_a_command_whose_config_is_kept_as_read_never_imports_yaml(workdir):
    """PyYAML is for reading a config's text: a command that takes the config
    from its kept read (see config._KeptRead) does without it (its import was
    some 4 ms of the start); an edited config is read, with it."""
    config = write_config(workdir, BASIC_CONFIG)
    code = (
        "import sys\nsys.argv = ['newsletter', 'send', '--dry-run', '--now', '2024-05-01T08:00:00+00:00']\n"
        "from newsletter import cli\n"
        "try:\n    cli.main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "print('yaml loaded' if 'yaml' in sys.modules else 'yaml not loaded', file=sys.stderr)\n"
    )
    said = []
    for text in (BASIC_CONFIG, BASIC_CONFIG, BASIC_CONFIG.replace("max_papers: 5", "max_papers: 4")):
        config.write_text(text.lstrip("\n"), encoding="utf-8")
        r = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=command_env(), capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0 and "would send" in r.stdout, r.stderr
        said.append(r.stderr.splitlines()[-1])
    assert said == ["yaml loaded", "yaml not loaded", "yaml loaded"]


def test_the_command_collects_garbage_again_once_its_config_is_read(workdir, monkeypatch):
    """The command's start runs with the collector off; reading the config
    freezes what exists and turns it on again (a long `run` must collect)."""
    import gc

    from newsletter import cli as cli_module

    config = write_config(workdir, BASIC_CONFIG)
    monkeypatch.setattr(cli_module, "_collector_paused", True)
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        state = cli_module._State(str(config))
        assert state.config.subscribers and gc.isenabled()
        assert gc.get_freeze_count() > frozen
        gc.disable()
        assert state.config is state.config and not gc.isenabled()  # once only
    finally:
        gc.enable()
        gc.unfreeze()


@pytest.mark.parametrize("command", [("send",), ("send", "--dry-run"), ("match",), ("preview",), ("schedule",)])
def test_an_empty_subscriber_option_is_an_error_not_every_subscriber(workdir, cli, command):
    """`send --subscriber "$EMAIL"` with the variable unset sent every subscriber's digest."""
    write_config(workdir, BASIC_CONFIG)
    r = cli(*command, "--subscriber", "")
    assert r.code == 2 and "Traceback" not in r.err
    assert "Invalid value for '--subscriber': empty: give a subscriber's address (an unset variable?); leave the " \
           "option out to mean every subscriber" in r.err
    assert not (workdir / "outbox").exists() and not (workdir / "preview").exists()


def test_text_output_shows_lost_math_as_the_email_does_and_json_keeps_the_text_as_read(workdir, cli):
    """A text export lost the backslash of \\ell_2: `papers` and `match --paper`
    print "ℓ₂" as the email does; `--json` keeps what the source said."""
    write_config(workdir, BASIC_CONFIG)
    text = cli("papers")
    assert text.code == 0 and "Certified ℓ₂ Attribution Robustness" in text.out and "ell_2" not in text.out
    data = json.loads(cli("papers", "--json").out)
    assert any(p["title"].startswith("Certified ell_2 Attribution") for p in data)
    found = cli("match", "--paper", "Certified ell_2 Attribution Robustness via Uniformly Smoothed Attributions")
    assert found.code == 0 and found.out.startswith("Certified ℓ₂ Attribution Robustness"), found.out + found.err


def test_smtp_settings_without_transport_smtp_are_named_before_anything_goes_to_the_outbox(workdir, cli):
    """host, port and a login written under delivery: without `transport: smtp`:
    validate said OK and send said 'sent', every digest went to ./outbox."""
    write_config(workdir, BASIC_CONFIG + "delivery:\n  host: smtp.example.net\n  port: 587\n")
    advice = ("warning: config.yaml:19: delivery.host: SMTP settings (host, port) but the transport is 'outbox' "
              "(the default): nothing is mailed, each digest is written to outbox/; add transport: smtp to mail them")
    r = cli("validate")
    assert r.code == 0 and advice in r.err.splitlines(), r.err
    r = cli("send")
    assert r.code == 0 and r.err.splitlines()[0] == advice, r.err
    assert list((workdir / "outbox").glob("*.eml"))

    write_config(workdir, BASIC_CONFIG + "delivery:\n  transport: smtp\n  host: 127.0.0.1\n  path: mail/\n")
    r = cli("validate")
    assert "warning: config.yaml:21: delivery.path: is the outbox transport's folder; with transport: smtp nothing " \
           "is written there (remove it, or set transport: outbox)" in r.err.splitlines(), r.err


def test_a_port_whose_tls_is_not_security_s_is_warned_of_before_a_send_hangs_on_it(workdir, cli):
    """`port: 465` from a provider's page, the default starttls kept: validate
    said OK and every send waited the whole timeout for a greeting that an
    implicit-TLS server never sends first.  587 with ssl, the other way round."""
    smtp = "delivery:\n  transport: smtp\n  host: 127.0.0.1\n  port: PORT\n  timeout: 0.5\n  retries: 0\n"
    write_config(workdir, BASIC_CONFIG + smtp.replace("PORT", "465"))
    said = ("warning: config.yaml:21: delivery.port: 465 is the port of implicit TLS, whose server waits for a TLS "
            "handshake first, but security is 'starttls' (the default): set security: ssl (or port: 587 for starttls)")
    r = cli("validate")
    assert r.code == 0 and said in r.err.splitlines(), r.err
    assert said in cli("send", "--dry-run").err.splitlines()
    r = cli("test-email", "--to", "me@example.net")
    assert r.code != 0 and r.err.splitlines()[0] == said, r.err  # said before the connection fails
    write_config(workdir, BASIC_CONFIG + smtp.replace("PORT", "587") + "  security: ssl\n")
    assert ("warning: config.yaml:24: delivery.security: ssl (implicit TLS) on port 587, whose servers speak plain "
            "SMTP and offer STARTTLS: set security: starttls (or port: 465 for ssl)") in cli("validate").err.splitlines()
    for fine in ("  port: 465\n  security: ssl\n", "  port: 2525\n  security: none\n"):
        write_config(workdir, BASIC_CONFIG + "delivery:\n  transport: smtp\n  host: 127.0.0.1\n" + fine)
        assert "delivery" not in cli("validate").err


def test_config_given_as_a_folder_means_its_config_yaml(workdir, cli):
    """`--config lab/` was 'not a regular file (a folder)'; `init lab/` writes lab/config.yaml."""
    lab = workdir / "lab"
    lab.mkdir()
    write_config(lab, BASIC_CONFIG.replace("path: papers/", "path: ../papers/"))
    for args in (("--config", "lab", "validate"), ("validate", "--config", "lab/")):
        r = cli(*args)
        assert r.code == 0 and r.out.startswith("lab/config.yaml: OK:"), (args, r.out, r.err)
    (workdir / "none").mkdir()
    r = cli("--config", "none", "validate")
    assert r.code == 2 and r.err.startswith("none/config.yaml: config file not found"), r.err


def test_an_export_folder_whose_subfolders_hold_files_says_they_are_not_read(workdir, cli):
    """A folder per month under papers/: only papers/'s own files were read, the rest without a word."""
    month = workdir / "papers" / "2024-09"
    month.mkdir()
    (month / "old.txt").write_text("x", encoding="utf-8")
    (workdir / "papers" / ".git").mkdir()  # hidden folders are no one's exports
    (workdir / "papers" / ".git" / "HEAD").write_text("ref", encoding="utf-8")
    write_config(workdir, BASIC_CONFIG)
    r = cli("validate")
    assert r.code == 0, r.err
    assert r.err.splitlines() == ["warning: config.yaml:3: sources[0].path: the files in its subfolders (2024-09/) "
                                  "are not read; 'papers/**/*.txt' reads them too"]


def test_readme_systemd_units_have_no_comment_after_a_value_and_can_be_enabled():
    """systemd reads no comment after a value: README's `EnvironmentFile=/etc/paper-digest.env  # mode 600`
    named a file that does not exist, and the unit failed to start; the web unit had no [Install], so
    `systemctl enable` left it off at boot."""
    units = re.findall(r"```ini\n(# /etc/systemd/system/\S+\.service\n.*?)```",
                       (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert len(units) == 2
    for unit in units:
        settings = [line for line in unit.splitlines() if re.match(r"[A-Za-z]+=", line)]
        assert settings and not [line for line in settings if "#" in line], unit
        assert "[Install]\nWantedBy=multi-user.target" in unit, unit


def test_a_relative_config_not_found_names_the_folder_it_was_looked_for_in(tmp_path):
    """Cron starts a job in the home folder, systemd in /: `newsletter send`
    said only 'config.yaml: config file not found', and the config was in the
    folder the user's shell had been in.  The line names the folder it looked
    in and says to give the full path; an absolute path needs no such word."""
    r = run_newsletter("send", cwd=tmp_path)
    assert r.code == 2 and r.out == "", r.out
    assert r.err.strip() == (f"config.yaml: config file not found (relative to the current folder, {tmp_path}; "
                             "`newsletter init` writes a starter one; or use --config or $NEWSLETTER_CONFIG: a full "
                             "path, as cron and systemd start a command in another folder)"), r.err
    full = tmp_path / "digest" / "config.yaml"
    r = run_newsletter("--config", str(full), "send", cwd=tmp_path)
    assert r.code == 2 and r.err.strip() == (f"{full}: config file not found (`newsletter init` writes a starter "
                                             "one; or use --config or $NEWSLETTER_CONFIG)"), r.err


def test_a_config_saved_as_yml_is_named_when_yaml_is_not_found(workdir, cli):
    """The default is config.yaml; a file saved as config.yml got only 'config file not found'."""
    write_config(workdir, BASIC_CONFIG, name="config.yml")
    r = cli("validate")
    assert r.code == 2 and r.err.strip() == ("config.yaml: config file not found (config.yml is there: "
                                             "--config config.yml)"), r.err
    assert cli("--config", "config.yml", "validate").code == 0


def test_a_folder_whose_config_has_a_name_of_its_own_names_it(workdir, cli):
    """`--config ~/digest` (or `newsletter send` in it) where the config is
    saved as lab.yaml got "config file not found" and the init hint; a YAML
    file that holds no subscribers (a CI or compose file) is not offered."""
    (workdir / "digest").mkdir()
    write_config(workdir / "digest", BASIC_CONFIG.replace("path: papers/", "path: ../papers/"), name="lab.yaml")
    write_config(workdir / "digest", "services: {web: {image: nginx}}\n", name="compose.yml")
    r = cli("--config", "digest", "validate")
    assert r.code == 2 and r.err.strip() == (
        f"digest/config.yaml: config file not found (no config.yaml in {workdir / 'digest'}, but lab.yaml there "
        "holds subscribers: --config digest/lab.yaml)"), r.err
    assert cli("--config", "digest/lab.yaml", "validate").code == 0
    (workdir / "digest" / "lab.yaml").unlink()
    r = cli("--config", "digest", "validate")
    assert r.code == 2 and "lab.yaml" not in r.err and "compose.yml" not in r.err and "init" in r.err, r.err


def test_run_help_says_every_subscriber_needs_a_schedule(cli):
    """run refuses subscribers without a schedule; its --help did not say so."""
    out = " ".join(cli("run", "--help").out.split())
    assert "Every subscriber needs a schedule (its own or the top-level schedule:)" in out, out


def test_what_to_ask_the_server_beside_a_saved_copy_is_named_unused(workdir, cli):
    """categories: [math.AP] beside path: filtered nothing (the file is read
    whole), and a reader expecting math.AP papers got every paper in it."""
    (workdir / "arxiv.xml").write_bytes((DATA / "arxiv-api.xml").read_bytes())
    write_config(workdir, BASIC_CONFIG.replace(
        "sources:\n", "sources:\n  - {type: arxiv, path: arxiv.xml, categories: [math.AP], max_results: 5}\n"
        "  - {type: arxiv, path: arxiv.xml, announce_type: [new]}\n"))
    r = cli("validate")
    assert r.code == 0, r.err
    assert [line for line in r.err.splitlines() if "path:" in line] == [
        "warning: config.yaml:2: sources[0].categories: categories: and max_results: are not used with path: (they "
        "say what to ask the server; the saved file is read whole) (a topic's categories: keeps the papers of some "
        "categories)"], r.err  # announce_type filters a saved announcement feed too


@pytest.mark.parametrize("args, sig", [
    (("unsubscribe", "ada@example.org"), "SIGINT"),
    (("resubscribe", "ada@example.org"), "SIGTERM"),
    (("match",), "SIGTERM"),
    (("schedule",), "SIGINT"),
    (("history",), "SIGTERM"),
    (("state", "migrate", "--to", "postgresql://digest@127.0.0.1:1/digest"), "SIGINT"),
])
def test_a_one_shot_command_waiting_for_a_held_state_stops_at_ctrl_c_or_sigterm(workdir, args, sig):
    """Another process holding the SQLite file (an sqlite3 shell, a backup):
    SQLite's busy handler waits in C, where Python's signal handlers do not
    run, so Ctrl-C and SIGTERM waited out its 30 s and the command then
    failed as 'locked' (exit 2).  It stops at once, with one line, exit
    128 + the signal, having changed nothing."""
    import signal
    import sqlite3
    import time

    from conftest import start_newsletter, stderr_until

    from newsletter.state import open_state

    write_config(workdir, BASIC_CONFIG)
    path = workdir / "newsletter-state.sqlite3"
    open_state(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    proc = start_newsletter(*args, cwd=workdir)
    try:
        said = stderr_until(proc, "the state is locked by another process (database is locked); waiting up to 30 s")
        started = time.monotonic()
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        holder.close()
        proc.kill()
    assert took < 20, took  # not the rest of the 30 s (a bound against that wait, not a loaded machine's exit)
    assert proc.returncode == 128 + getattr(signal, sig), (out, said + err)
    assert "Traceback" not in err and out == ""
    assert err.strip().splitlines() == ["interrupted" if sig == "SIGINT" else "interrupted (SIGTERM)"], err
    assert query(path, "SELECT count(*) FROM unsubscribed") == [(0,)]


def test_state_migrate_waiting_for_a_send_stops_at_sigterm(workdir):
    """`state migrate` waits for a send under way (up to ten minutes): a
    SIGTERM meanwhile ends it at once, one line, exit 143."""
    from conftest import start_newsletter, terminated_once_said

    from newsletter.state import open_state, send_lock

    write_config(workdir, BASIC_CONFIG)
    path = workdir / "newsletter-state.sqlite3"
    open_state(path).close()
    with send_lock(path):
        proc = start_newsletter("state", "migrate", "--to", "postgresql://digest@127.0.0.1:1/digest", cwd=workdir)
        out, err = terminated_once_said(proc, "is running on this state; waiting for it")
    assert proc.returncode == 143 and out == "", (out, err)
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted (SIGTERM)", err


def test_test_email_without_to_says_what_to_give_with_the_configs_address(workdir, cli):
    """`newsletter test-email`, as README's list names the command, said only
    "Missing option '--to'"."""
    write_config(workdir, BASIC_CONFIG)
    r = cli("test-email")
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.splitlines()[-1] == ("Error: Missing option '--to': the address the test digest goes to, your own "
                                      "(--to ada@example.org)"), r.err
    assert not (workdir / "outbox").exists()


def test_a_subscriber_given_by_its_name_is_told_its_address(workdir, cli):
    """`--subscriber "Ada Lovelace"` (the name the config shows under name:)
    said only "no subscriber 'Ada Lovelace'" and the list of addresses."""
    write_config(workdir, BASIC_CONFIG)
    r = cli("match", "--subscriber", "ada lovelace")
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.splitlines() == ["config.yaml: no subscriber 'ada lovelace' in the config: the subscriber is named "
                                  "by address, ada@example.org (whose name: is Ada Lovelace)"], r.err


@pytest.mark.parametrize("args, given", [
    (("unsubscribe", "Ada"), "Ada"),
    (("resubscribe", "Lovelace"), "Lovelace"),
    (("history", "--subscriber", "ada lovelace"), "ada lovelace"),
])
def test_a_name_where_unsubscribe_or_history_take_an_address_is_told_the_address(workdir, cli, args, given):
    """`newsletter unsubscribe Ada` (as `match --subscriber Ada` is told the
    address) said only "'Ada' is not a valid address"; nothing is recorded."""
    write_config(workdir, BASIC_CONFIG)
    r = cli(*args)
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.splitlines()[-1] == (f"Error: Invalid value for EMAIL: {given!r} is a name: the subscriber is named "
                                      "by address, ada@example.org (whose name: is Ada Lovelace)"), r.err
    shown = cli("schedule", "--json")
    assert shown.code == 0 and json.loads(shown.out)["subscribers"][0]["unsubscribed"] is None


def test_a_word_no_subscriber_is_named_is_still_no_address(workdir, cli):
    """A word of no name, or of several subscribers' names, is told as before."""
    write_config(workdir, BASIC_CONFIG.replace("    topics: [optim, diffusion]",
                                               "    name: Ada Byron\n    topics: [optim, diffusion]"))
    for word in ("Bob", "Ada"):
        r = cli("unsubscribe", word)
        assert r.code == 2
        assert r.err.splitlines()[-1] == f"Error: Invalid value for EMAIL: {word!r} is not a valid address", r.err


def test_readme_env_file_and_cron_line_as_written(tmp_path):
    """README's cron line sources the env file systemd reads: unquoted, a Gmail
    app password with spaces ran `efgh` as a command and left SMTP_PASSWORD
    unset, and a `$` in the signing key cut it short (every unsubscribe link
    refused). Its values are single-quoted, which both read alike. The cron
    line logs each run's time and mails (prints) the log's end only when a
    send fails; its output went to the log alone, so cron mailed nothing."""
    from datetime import datetime

    from smtp_server import free_port

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    env_text = re.search(r"```sh\n(# /etc/paper-digest\.env.*?)```", readme, re.S)[1]
    written = dict(re.findall(r"^([A-Z_]+)='([^']*)'$", env_text, re.M))
    assert set(written) == {"SMTP_PASSWORD", "NEWSLETTER_SECRET"}, env_text
    assert " " in written["SMTP_PASSWORD"] and "$" in written["NEWSLETTER_SECRET"]  # the cases that broke
    (tmp_path / "paper-digest.env").write_text(env_text, encoding="utf-8")
    shown = subprocess.run(["sh", "-c", 'set -a && . ./paper-digest.env && set +a && printf "%s\\n%s\\n" '
                            '"$SMTP_PASSWORD" "$NEWSLETTER_SECRET"'], cwd=tmp_path, capture_output=True, text=True)
    assert (shown.returncode, shown.stderr) == (0, "")
    assert shown.stdout.splitlines() == [written["SMTP_PASSWORD"], written["NEWSLETTER_SECRET"]]

    cron = re.search(r"```cron\n\*/10 \* \* \* \*  (.*?)\n```", readme)[1]
    command = (cron.replace("/srv/paper-digest", str(tmp_path)).replace("/etc/paper-digest.env", f"{tmp_path}/paper-digest.env")
               .replace(".venv/bin/newsletter", f"{sys.executable} -m newsletter"))
    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "hf-papers-blank-lines.txt", tmp_path / "papers")
    write_config(tmp_path, BASIC_CONFIG.replace("    max_papers: 5\n", "    max_papers: 1\n"))
    ok = subprocess.run(["sh", "-c", command], cwd="/", capture_output=True, text=True, env=command_env())
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")  # nothing printed: cron mails nothing
    log = (tmp_path / "send.log").read_text(encoding="utf-8").splitlines()
    assert datetime.fromisoformat(log[0]).tzinfo is not None and log[-1].startswith("outbox: "), log
    assert "sent 2, empty 0, failed 0, not due 0" in log
    smtp = f"delivery:\n  transport: smtp\n  host: 127.0.0.1\n  port: {free_port()}\n  security: none\n"
    write_config(tmp_path, BASIC_CONFIG + smtp)  # nobody listens there: each delivery fails
    failed = subprocess.run(["sh", "-c", command], cwd="/", capture_output=True, text=True, env=command_env())
    assert re.fullmatch(r"sent 0, empty \d, failed [12], not due 0", failed.stdout.splitlines()[-1]), failed.stdout
    stamps = re.findall(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", failed.stdout, re.M)
    assert len(stamps) == 2, failed.stdout  # the tail mailed holds both runs' times


def test_send_and_run_help_say_what_a_cron_or_systemd_user_needs(tmp_path):
    """`send --help` said only "Exit 1 when a delivery failed": nothing of exit 2,
    of a send waiting for another, or where the SMTP password comes from;
    `run --help` nothing of its log or of the one run a state allows."""
    send = run_newsletter("send", "--help", cwd=tmp_path)
    assert send.code == 0
    text = " ".join(send.out.split())
    for said in ("Exit 0: sent, or nothing due.", "Exit 1: a delivery failed; it stays pending, and the next send tries it.",
                 "Exit 2: a bad config, or no source could be read; nothing sent.",
                 "Or some source failed and the digests went out from the others (unless it says required: false).",
                 "waits for it (10 minutes at most)",
                 # both variables, and why cron lacks them: its run named one, then failed on the other
                 "come from the variables delivery.password_env and web.secret_env name, which cron's nearly empty "
                 "environment lacks: set them in the cron line"):
        assert said in text, send.out
    run = " ".join(run_newsletter("run", "--help", cwd=tmp_path).out.split())
    assert "It logs to stderr (journalctl under systemd). One run per state: a second exits 2." in run
    assert ("or at start when a variable the config names (delivery.password_env, web.secret_env, "
            "email.dkim.key_env) is not set" in run), run
    serve = " ".join(run_newsletter("serve", "--help", cwd=tmp_path).out.split())
    assert "checked with the key in the variable web.secret_env names: the one `send` and `run` sign them with" in serve


def test_a_gmail_password_unset_or_refused_says_gmail_takes_an_app_password(workdir, cli, monkeypatch):
    """Gmail refuses the account's own password over SMTP; the message said
    only "the SMTP password", or "many providers want an app password"."""
    from newsletter.delivery import _login_hint

    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    smtp = ("delivery:\n  transport: smtp\n  host: smtp.gmail.com\n  port: 587\n  security: starttls\n"
            "  username: lab@gmail.com\n  password_env: SMTP_PASSWORD\n")
    write_config(workdir, BASIC_CONFIG + smtp)
    r = cli("validate")
    assert r.code == 2
    assert r.err.splitlines()[-1].endswith(
        "environment variable SMTP_PASSWORD is not set (it must hold the SMTP password for lab@gmail.com; Gmail "
        "takes an app password (myaccount.google.com/apppasswords, with 2-Step Verification on), not the account's "
        "own)"), r.err
    write_config(workdir, BASIC_CONFIG + smtp.replace("smtp.gmail.com", "smtp.fastmail.com"))
    assert "Gmail" not in cli("validate").err
    assert _login_hint("SMTP_PASSWORD", "abcdefghijklmnop", "smtp.gmail.com").endswith(
        "; Gmail takes an app password (myaccount.google.com/apppasswords, with 2-Step Verification on), not the "
        "account's own")
    assert _login_hint("SMTP_PASSWORD", "x", "smtp.fastmail.com").endswith("many providers want an app password")


def test_match_says_a_digest_not_due_yet_and_when_it_goes_out(workdir, cli):
    """After `send` said `not due ada@...: next digest at 08:00`, `match` listed
    Ada's papers with no word of it, read as a digest that should have gone
    out; preview said `(not due now: goes out ...)`, match now does too."""
    write_config(workdir, BASIC_CONFIG.replace(
        "    topics: [diffusion]\n", "    topics: [diffusion]\n    schedule: daily at 08:00\n    timezone: UTC\n"))
    r = cli("match", "--now", "2026-12-01T22:30:00+00:00")
    assert r.code == 0, r.err
    heads = [line for line in r.out.splitlines() if not line.startswith(" ")]
    assert heads[0].startswith("Ada Lovelace <ada@example.org>: ") and heads[0].endswith(
        "later digests)  (not due now: goes out 2026-12-02 08:00 UTC)"), heads
    assert heads[1].startswith("bob@example.org: ") and "not due" not in heads[1], heads  # due at every send
    r = cli("match", "--json", "--now", "2026-12-01T22:30:00+00:00")
    subs = {s["email"]: s for s in json.loads(r.out)["subscribers"]}
    assert (subs["ada@example.org"]["due"], subs["ada@example.org"]["next_send"]) == (False, "2026-12-02T08:00:00+00:00")
    assert (subs["bob@example.org"]["due"], subs["bob@example.org"]["next_send"]) == (True, None)


def test_version_names_the_state_schemas_and_the_checkouts_commit(cli):
    """`--version` said 0.1.0 before and after every upgrade (the version is
    never bumped): an upgrade by `git pull` and a state 'written by a newer
    Paper Digest' had no number to go by."""
    from newsletter.state import SCHEMA_VERSION
    from newsletter.state.postgres import SCHEMA_VERSION as PG_SCHEMA_VERSION

    r = cli("--version")
    assert r.code == 0, r.err
    assert re.fullmatch(rf"newsletter, version [0-9.]+(, commit [0-9a-f]{{7,}} of \d{{4}}-\d\d-\d\d( and local "
                        rf"changes)?)?; state schema: SQLite {SCHEMA_VERSION}, PostgreSQL {PG_SCHEMA_VERSION}\n",
                        r.out), r.out
    assert (", commit " in r.out) == (ROOT / ".git").exists()  # a checkout says which commit


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_checkout_commit_is_the_commit_with_its_date_and_local_changes(tmp_path):
    from newsletter.cli import checkout_commit

    assert checkout_commit(tmp_path) is None  # no checkout (an installed wheel)
    env = {**os.environ, "GIT_AUTHOR_DATE": "2026-11-23T10:00:00+00:00", "GIT_COMMITTER_DATE": "2026-11-23T10:00:00+00:00",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    (tmp_path / "a.txt").write_text("one\n")
    for args in (["init", "-q"], ["add", "a.txt"], ["commit", "-q", "-m", "first"]):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, env=env)
    short = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "--short", "HEAD"], check=True, env=env,
                           capture_output=True, text=True).stdout.strip()
    assert checkout_commit(tmp_path) == f"{short} of 2026-11-23"
    (tmp_path / "a.txt").write_text("two\n")
    assert checkout_commit(tmp_path) == f"{short} of 2026-11-23 and local changes"


def test_a_path_with_a_space_is_shown_quoted_and_said_when_split(tmp_path, cli):
    """A folder named as macOS users name them ('Lab Digest'): init's next
    steps showed `--config /.../Lab Digest/config.yaml` unquoted, which read as
    '/.../Lab' once copied, and that split path said only "No such command
    'Digest'" or "unexpected extra argument"."""
    folder = tmp_path / "Lab Digest"
    r = cli("init", str(folder))
    assert r.code == 0, r.err
    quoted = shlex.quote(str(folder / "config.yaml"))
    assert quoted.startswith("'") and f"`newsletter --config {quoted} validate`" in r.out, r.out
    assert shlex.split(f"newsletter --config {quoted} validate")[2] == str(folder / "config.yaml")
    said = (f": '{folder}' has a space in its name, which the shell takes for two words: put the path in quotes, "
            f"'{folder}'")
    split = str(folder).split(" ")
    r = cli("--config", *split, "validate")  # as the shell passes `--config ~/Lab Digest validate`
    assert r.code == 2 and r.err.splitlines()[-1] == f"Error: No such command 'Digest'{said}", r.err
    r = cli("validate", "--config", *split)
    assert r.code == 2 and r.err.splitlines()[-1] == f"Error: Got unexpected extra argument (Digest){said}", r.err
    # a config saved as config.yml there: the hint's --config is quoted as well
    (folder / "config.yaml").rename(folder / "config.yml")
    r = cli("--config", str(folder / "config.yaml"), "validate")
    assert r.code == 2 and r.err.strip().endswith(f"--config {shlex.quote(str(folder / 'config.yml'))})"), r.err
