"""End-to-end runs of the real ``newsletter`` command for validate / papers / match."""

from __future__ import annotations

import json
import shutil

from conftest import BASIC_CONFIG, ROOT, write_config


def test_validate_ok(workdir, cli):
    write_config(workdir, BASIC_CONFIG)
    r = cli("validate")
    assert r.code == 0, r.err
    assert "OK" in r.out and "2 subscribers" in r.out and "papers)" in r.out


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
    r = cli("match", "--subscriber", "nobody@example.org")
    assert r.code == 2 and "no subscriber 'nobody@example.org'" in r.err


def test_match_text_shows_why(workdir, cli):
    write_config(workdir, BASIC_CONFIG)
    r = cli("match", "--subscriber", "ada@example.org")
    assert r.code == 0
    assert r.out.startswith("Ada Lovelace <ada@example.org>: 20 papers")
    assert "diffusion model* (title)" in r.out


def test_config_from_environment(workdir, cli):
    write_config(workdir, BASIC_CONFIG, name="other.yaml")
    assert cli("validate").code == 2  # no ./config.yaml
    r = cli("validate", env={"NEWSLETTER_CONFIG": "other.yaml"})
    assert r.code == 0, r.err


def test_shipped_config_runs_out_of_the_box(tmp_path, cli):
    for name in ("config.yaml",):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    assert cli("validate").code == 0
    data = json.loads(cli("match", "--json").out)
    assert all(s["papers"] for s in data["subscribers"])


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
