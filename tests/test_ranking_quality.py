"""Ranking quality on the labelled development split (tests/data/relevance):
a regression that makes the ranker guess fails here.  The full table is
bench/quality.py."""

from __future__ import annotations

import statistics
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import quality  # noqa: E402


def test_about_alone_and_like_rank_far_above_chance_on_dev(tmp_path):
    results = quality.evaluate(
        "dev", ["prototype", "about", "about + like", "careful rules", "careful + about"], cache=tmp_path
    )
    mean = {s: statistics.mean(r[0] for r in rows.values()) for s, rows in results.items()}
    f1 = {s: statistics.mean(r[3] for r in rows.values()) for s, rows in results.items()}
    # chance (a random order of the 241 dev papers) is about 0.1 nDCG@10
    # floors: the dev figures of bench/quality.py minus a small margin
    assert mean["about"] >= 0.865, mean  # 0.883 / 0.671 (0.673 before the lean floor, 0.663 before the hub floor; 0.858 / 0.658 before the phrase bonus)
    assert f1["about"] >= 0.64, f1
    assert mean["about + like"] >= 0.865, mean  # 0.884 / 0.671
    assert f1["about + like"] >= 0.64, f1
    assert mean["about"] > mean["prototype"] + 0.05  # the 20-line baseline
    assert mean["careful + about"] >= mean["careful rules"] + 0.003  # dev: 0.908 vs 0.903
    for interest, row in results["careful + about"].items():
        # about never hurts the rules: exact on dev (1e-9 is the float sums of one order)
        assert row[0] >= results["careful rules"][interest][0] - 1e-9, interest
    for interest, row in results["about"].items():
        assert row[0] >= 0.5, (interest, row)  # no interest is lost entirely


#: The two ``heldout`` interests where careful rules + ``about`` is under the
#: careful rules alone, and by how much at most (measured 0.00113 and 0.00212):
#: in both the rules tie two papers (as many terms, none in the title) and the
#: alphabetical order happens to put the graded one first, where the sentence
#: is confidently wrong (``neural_pde``: "Constrained Optimization via Exact
#: Augmented Lagrangian ..." 0.71 against the grade-1 "A Unified Model for
#: Compressed Sensing MRI ..." 0.08).  No fusion that lets the sentence order
#: the rules' ties keeps them (bench/RANKING.md, twenty-eighth and
#: twenty-ninth rounds).
HELDOUT_HAIRS = {"neural_pde": 0.0012, "model_compression": 0.0022}


def test_careful_rules_with_about_never_lose_to_the_rules_on_heldout(tmp_path):
    """The rank fusion's guarantee, checked on the split nothing was tuned on
    (bench/quality.py: 0.959 vs 0.941): exact on every interest but the two
    known hairs, which must not grow (:data:`HELDOUT_HAIRS`)."""
    results = quality.evaluate("heldout", ["careful rules", "careful + about"], cache=tmp_path)
    rules, both = results["careful rules"], results["careful + about"]
    assert statistics.mean(r[0] for r in both.values()) >= statistics.mean(r[0] for r in rules.values()) + 0.008
    assert set(HELDOUT_HAIRS) <= set(both)
    for interest, row in both.items():
        assert row[0] >= rules[interest][0] - HELDOUT_HAIRS.get(interest, 1e-9), interest


def test_a_day_without_the_interests_papers_gives_no_longer_a_digest_than_now(tmp_path):
    """Issue 11's known weak spot, measured (bench/quality.py ``quiet_days``):
    every score is relative to the day, so a large day with nothing on the
    interest still fills a digest with its closest papers.  On ``dev`` the
    days without each interest's relevant papers take 13.75 papers on average
    (the real days 17.1; two interests take more without them); a change that
    lets more of them through fails here (bench/RANKING.md, twenty-first round)."""
    counts = quality.quiet_days("dev", cache=tmp_path)
    real = [r for r, _ in counts.values()]
    quiet = [q for _, q in counts.values()]
    assert len(counts) == 8
    assert statistics.mean(real) == pytest.approx(17.1, abs=1.0), counts  # the evaluate() digests' lengths
    assert statistics.mean(quiet) <= 14.5, counts
    assert sum(quiet) < sum(real), counts


def test_the_digest_check_reads_the_digest_evaluate_scores(tmp_path):
    """bench/quality.py --digests (``digests``) scores every paper of the day
    (``min_score: 0``) and replicates the digest at the default floor: its F1
    must be evaluate's (dev 0.671), or its failure analysis (twenty-third
    round) reads another digest than the one reported."""
    checks = quality.digests("dev", cache=tmp_path)
    rows = quality.evaluate("dev", ["about"], cache=tmp_path / "evaluate")["about"]
    assert set(checks) == set(rows)
    for key, check in checks.items():
        assert check.f1 == pytest.approx(rows[key][3], abs=1e-9), key
        assert check.best_f1 >= check.f1 - 1e-9, key  # the best cut of the same order
        assert sum(check.bands) == check.relevant, key
        assert all(place > check.taken for place in check.missed_ranks), key
        assert check.relevant - len(check.missed_ranks) == round(check.recall * check.relevant), key
    assert statistics.mean(c.f1 for c in checks.values()) == pytest.approx(0.671, abs=0.01)
    assert statistics.mean(c.best_f1 for c in checks.values()) > 0.74  # 0.754: the order, not only the floor
    table = quality.digest_table(checks, "dev")
    assert "optimization_methods: 21 / 53" in table, table  # the broad interest: two fifths of its papers taken
    # which way the floor errs (twenty-sixth round): each digest is longer than
    # its best cut, shorter, or at it, and the F1 lost each way adds up
    longer = [c for c in checks.values() if c.taken > c.best_cut]
    shorter = [c for c in checks.values() if c.taken < c.best_cut]
    # dev: 4 longer (fast_diffusion_sampling, explaining_predictions, privacy_unlearning,
    # distribution_shift), 2 shorter (the broad neural_pde, optimization_methods)
    assert (len(longer), len(shorter)) == (4, 2), checks
    assert (f"the floor against the best cut: {len(longer)} digests longer (F1 lost "
            f"{sum(c.best_f1 - c.f1 for c in longer):.2f}), {len(shorter)} shorter "
            f"({sum(c.best_f1 - c.f1 for c in shorter):.2f}), {8 - len(longer) - len(shorter)} at it") in table, table


@pytest.mark.parametrize(("name", "count", "likes"), [("blind", 8, (2, 2)), ("blind2", 6, (1, 2)), ("blind3", 6, (2, 2)),
                                                        ("blind4", 6, (2, 2)), ("blind5", 6, (2, 2)),
                                                        ("blind6", 6, (2, 2))])
def test_blind_sets_are_complete(name, count, likes):
    """Each blind set (tests/data/relevance-blind, -blind2, ..., -blind6) grades every paper
    for every interest, written in one to three sentences, and its liked
    papers are dev papers it graded 2 (blind2's ``self_supervised`` has one:
    its only grade-2 dev paper)."""
    interests, grades, splits = quality.load_labels(quality.SETS[name])
    papers = {p.id: p for p in quality.load_papers()}
    assert len(interests) == count
    from newsletter.models import normalize_title

    by_title = {p.title_key: pid for pid, p in papers.items()}
    for key, interest in interests.items():
        assert set(grades[key]) == set(papers), key
        assert 1 <= len(interest["about"].split(". ")) <= 3, key  # one to three sentences
        assert sum(g == 2 for g in grades[key].values()) >= 4, key
        assert likes[0] <= len(interest["like"]) <= likes[1], key
        for title in interest["like"]:
            pid = by_title[normalize_title(title)]
            assert grades[key][pid] == 2 and splits[pid] == "dev", (key, title)


def test_about_on_the_fourth_set(tmp_path):
    """Six interests (bench/quality.py --set blind4) labelled in the twenty-sixth
    round by a helper that never ran the ranker, scored once blind after that
    round (bench/RANKING.md, "The fourth blind set"): ``about`` alone was no
    better than the issue's prototype here (0.678 against 0.672 nDCG@10, F1
    0.380 against 0.401).  A tuning set since the twenty-seventh round, whose
    choices are made leave-one-set-out over the six sets, so its figures are
    pinned as the other tuned sets' are: careful rules + ``about`` never below
    the careful rules on any interest (mean 0.842 -> 0.863), two liked papers
    adding to the sentence (0.678 -> 0.707), and the sentence's own nDCG@10 and
    F1 as measured (0.678 / 0.380), so a change tuned on the other five cannot
    buy their gains with blind4's order or digests."""
    results = quality.evaluate("all", ["careful rules", "about", "careful + about", "about + like"],
                               cache=tmp_path, folder=quality.SETS["blind4"])
    mean = {s: statistics.mean(r[0] for r in rows.values()) for s, rows in results.items()}
    f1 = {s: statistics.mean(r[3] for r in rows.values()) for s, rows in results.items()}
    for interest, (rules, *_) in results["careful rules"].items():
        assert results["careful + about"][interest][0] >= rules - 1e-9, interest
    assert mean["careful + about"] >= mean["careful rules"] + 0.01, mean  # 0.863 vs 0.842
    assert mean["about + like"] >= mean["about"] + 0.01, mean  # 0.707 vs 0.678
    assert mean["about"] >= 0.665, mean  # 0.678
    assert f1["about"] >= 0.37, f1  # 0.380; 0.349 without the hub and lean floors (twenty-seventh round)


#: The blind5 interest where careful rules + ``about`` is under the careful
#: rules alone, and by how much at most (measured 0.01139: 0.82467 against
#: 0.83606).  The rules tie "AutoDistil ..." (grade 0) and "Accelerating
#: Feedforward Computation ..." (grade 1), two terms each, none in the title,
#: and the sentence breaks the tie confidently and wrongly (0.983 against
#: 0.336), as in the two heldout hairs; the same kind of tie on the same
#: interest it breaks rightly ("σ-GPTs", 0.992, grade 2, past a grade-1
#: paper at 0.296).  No fusion measured keeps all four careful sets exact
#: within the loss bounds (bench/RANKING.md, twenty-ninth round).
BLIND5_HAIRS = {"sequence_models": 0.0115}


def _scored_once(name: str, tmp_path) -> tuple[dict, dict[str, float], dict[str, float]]:
    """A blind set's every setting (bench/quality.py --set NAME): the results,
    and each setting's mean nDCG@10 and mean F1."""
    results = quality.evaluate("all", ["quick rules", "careful rules", "prototype", "about", "careful + about",
                                       "about + like"], cache=tmp_path, folder=quality.SETS[name])
    means = quality.summary(results)
    return results, {s: m[0] for s, m in means.items()}, {s: m[1] for s, m in means.items()}


def _never_below_the_rules_but(results: dict, hairs: dict[str, float]) -> None:
    """Careful rules + ``about`` at or above the careful rules on every
    interest, but by at most its pinned hair on the known ones."""
    rules, both = results["careful rules"], results["careful + about"]
    assert set(hairs) <= set(both)
    for interest, row in both.items():
        assert row[0] >= rules[interest][0] - hairs.get(interest, 1e-9), interest


def test_about_on_the_fifth_set(tmp_path):
    """Six interests (bench/quality.py --set blind5) labelled after the
    twenty-seventh round by a helper that never ran the ranker, scored once
    (bench/RANKING.md, "The fifth blind set"): ``about`` alone 0.669 / F1
    0.467, ahead of the issue's prototype (0.554 / 0.410) and the 2-minute
    rules (0.619 / 0.447); careful rules + ``about`` 0.847 against the
    careful rules' 0.774; two liked papers 0.681.  A tuning and validation
    set since the twenty-ninth round, so its figures are pinned as the other
    tuned sets' are, and careful rules + ``about`` is held per interest:
    exact on five, the one known hair (:data:`BLIND5_HAIRS`) not to grow."""
    results, mean, f1 = _scored_once("blind5", tmp_path)
    assert mean["about"] >= mean["prototype"] + 0.08, mean  # 0.669 vs 0.554
    assert mean["about"] >= mean["quick rules"] + 0.03, mean  # 0.669 vs 0.619
    assert f1["about"] >= f1["prototype"] + 0.03, f1  # 0.467 vs 0.410
    assert mean["careful + about"] >= mean["careful rules"] + 0.05, mean  # 0.847 vs 0.774
    _never_below_the_rules_but(results, BLIND5_HAIRS)
    assert mean["about + like"] >= mean["about"], mean  # 0.681 vs 0.669
    assert mean["about"] >= 0.655 and f1["about"] >= 0.45, (mean, f1)


#: The blind6 interest where careful rules + ``about`` is under the careful
#: rules alone, and by how much at most (measured 0.0636: 0.8701 against
#: 0.9337).  The rules give two finite-difference papers (grade 0) two terms
#: each, tied with three grade-2 papers; the sentence names "finite-difference
#: estimators" and lifts both into the top ten (bench/RANKING.md, "The sixth
#: blind set").
BLIND6_HAIRS = {"gradient_free": 0.064}


def test_about_on_the_sixth_set(tmp_path):
    """Six interests (bench/quality.py --set blind6) labelled after the
    twenty-ninth round by a helper that never ran the ranker, scored once
    (bench/RANKING.md, "The sixth blind set"): ``about`` alone 0.625 / F1
    0.458, level with the issue's prototype (0.610 / 0.457) and the 2-minute
    rules (0.619 / 0.469); careful rules + ``about`` 0.819 against the careful
    rules' 0.788, under them on one interest (:data:`BLIND6_HAIRS`); two liked
    papers 0.626.  Pinned as measured, so a later change cannot buy other
    sets' gains with this set's order or digests unseen."""
    results, mean, f1 = _scored_once("blind6", tmp_path)
    assert mean["about"] >= mean["prototype"] + 0.01, mean  # 0.625 vs 0.610
    assert mean["careful + about"] >= mean["careful rules"] + 0.025, mean  # 0.819 vs 0.788
    _never_below_the_rules_but(results, BLIND6_HAIRS)
    assert mean["about + like"] >= mean["about"] - 0.005, mean  # 0.626 vs 0.625
    assert mean["about"] >= 0.615 and f1["about"] >= 0.45, (mean, f1)  # 0.625 / 0.458


def test_about_on_the_second_blind_set(tmp_path):
    """Six more interests (bench/quality.py --set blind2), labelled after the
    ranker's last tuning: the sentence ranks above the issue's 20-line
    baseline and adds to the 2-minute rules, though it is weaker here than on
    the other sets (measured 0.807; 0.780 before a phrase opening the abstract
    ordered the digest, 0.741 before the title's phrases counted again, 0.709
    before the phrase bonus; against the prototype's 0.614 and the quick rules'
    0.743; quick + about 0.783; ``about`` F1 0.610, 0.583 before a pick leaning
    on the sentence's words needed clearer evidence)."""
    results = quality.evaluate("all", ["quick rules", "prototype", "about", "quick + about"], cache=tmp_path,
                               folder=quality.SETS["blind2"])
    mean = {s: statistics.mean(r[0] for r in rows.values()) for s, rows in results.items()}
    f1 = {s: statistics.mean(r[3] for r in rows.values()) for s, rows in results.items()}
    assert mean["about"] >= 0.785, mean
    assert f1["about"] >= 0.595, f1
    assert mean["about"] > mean["prototype"] + 0.05, mean
    assert mean["quick + about"] > mean["quick rules"] + 0.02, mean


def test_about_on_the_third_blind_set(tmp_path):
    """Six more interests (bench/quality.py --set blind3), labelled blind after
    the thirteenth round; the hardest set (quantum physics and network
    expressivity are barely separable by words here): the sentence still ranks
    above the issue's 20-line baseline and the 2-minute rules (measured at
    first: ``about`` 0.686 / F1 0.440, prototype 0.602, quick rules 0.585,
    quick + about 0.659; ``about`` 0.693 / 0.440 once the title's phrases
    counted again, 0.687 / 0.440 once a phrase opening the abstract ordered
    the digest, 0.687 / 0.445 once a hub paper writing no phrase needed clearer
    evidence to pass the floor, 0.687 / 0.434 once a paper writing no phrase
    leaning on the sentence's words did too).  A tuning set since the
    twenty-sixth round (bench/RANKING.md), so its ``about`` F1 is pinned as
    the other tuned figures are: a change tuned on the five sets must not buy
    the others' gains with blind3's digests."""
    results = quality.evaluate("all", ["quick rules", "prototype", "about"], cache=tmp_path,
                               folder=quality.SETS["blind3"])
    mean = {s: statistics.mean(r[0] for r in rows.values()) for s, rows in results.items()}
    f1 = {s: statistics.mean(r[3] for r in rows.values()) for s, rows in results.items()}
    assert mean["about"] >= 0.66, mean
    assert f1["about"] >= 0.42, f1  # 0.434
    assert mean["about"] > mean["prototype"] + 0.05, mean
    assert mean["about"] > mean["quick rules"] + 0.05, mean
    assert f1["about"] > f1["prototype"] + 0.02, f1


def test_about_on_the_blind_set(tmp_path):
    """On eight interests nothing was tuned on (bench/quality.py --set blind,
    all 336 papers as one day): the sentence ranks above the issue's 20-line
    baseline and adds to the 2-minute rules; floors are the measured figures
    (``about`` 0.861 / F1 0.658, prototype 0.772, quick rules + ``about`` 0.861,
    quick rules 0.814) minus a small margin."""
    results = quality.evaluate("all", ["quick rules", "prototype", "about", "quick + about"], cache=tmp_path,
                               folder=quality.SETS["blind"])
    mean = {s: statistics.mean(r[0] for r in rows.values()) for s, rows in results.items()}
    f1 = {s: statistics.mean(r[3] for r in rows.values()) for s, rows in results.items()}
    assert mean["about"] >= 0.845, mean
    # above the prototype's 0.611 since the phrase bonus (0.582 before); 0.628 before
    # a pick leaning on the sentence's words needed clearer evidence (twenty-fourth round)
    assert f1["about"] >= 0.645, f1
    assert mean["about"] > mean["prototype"] + 0.05, mean
    assert mean["quick + about"] > mean["quick rules"] + 0.03, mean


def test_liked_papers_never_lower_an_interest(tmp_path):
    """``like`` must help, not hurt: on every interest of the four sets (36 in
    all), the sentence plus two liked papers orders the papers not liked at
    least as well as the sentence alone (bench/quality.py: the worst is -0.004,
    `heldout` `neural_pde`; -0.048 on blind2 before a lift had to clear the
    calibrations' wobble), and the means do not fall."""
    runs = [("dev", "tuned"), ("heldout", "tuned"), ("all", "blind"), ("all", "blind2"), ("all", "blind3")]
    gains = []
    for split, name in runs:
        results = quality.evaluate(split, ["about", "about + like"], cache=tmp_path, folder=quality.SETS[name])
        alone, liked = results["about"], results["about + like"]
        for interest, row in liked.items():
            assert row[0] >= alone[interest][0] - 0.005, (name, split, interest, row[0], alone[interest][0])
        gains.append(statistics.mean(r[0] for r in liked.values()) - statistics.mean(r[0] for r in alone.values()))
    # heldout: 0.828 -> 0.939; blind3: 0.687 -> 0.686
    assert min(gains) >= -0.001 and max(gains) >= 0.05, gains


def test_one_liked_paper_seldom_lowers_an_interest(tmp_path):
    """A reader often gives one liked paper: each interest of the five sets
    with only its first, or only its last, liked paper (72 cases) against the
    sentence alone (bench/RANKING.md, seventeenth round: 3 cases more than
    0.005 lower, the worst blind3 `data_centric` -0.055, mean +0.018; before
    one title was a BM25 query and its lift cleared 0.3 of the wobble: 8
    cases, the worst blind `uncertainty_quantification` -0.086, mean +0.014).
    Twenty-fifth round: one liked paper's lift clears 0.3 of the wobble again,
    as two papers' does (its own margin of 0.6 moved no figure of the four
    other sets): 4 cases, the fourth blind3 `expressivity_architectures`
    (first) -0.0053 where it was -0.0042; the worst `data_centric` -0.051;
    mean +0.017."""
    runs = [("dev", "tuned"), ("heldout", "tuned"), ("all", "blind"), ("all", "blind2"), ("all", "blind3")]
    changes = []
    for split, name in runs:
        results = quality.one_liked(split, cache=tmp_path, folder=quality.SETS[name])
        for (interest, choice), (alone, liked) in results.items():
            if choice != "both":
                changes.append((liked[0] - alone[0], name, interest, choice))
    assert len(changes) == 72
    losses = sorted(c for c in changes if c[0] < -0.005)
    assert len(losses) <= 4, losses
    assert losses[0][0] >= -0.06, losses
    assert statistics.mean(c[0] for c in changes) >= 0.015, statistics.mean(c[0] for c in changes)
