"""Reasons travel as data (kind, phrases, liked title, matched words) and are
put into words in one place: a liked paper's title holding "; close ..."
was split by the pattern that took the reason text apart again."""

import pytest

from newsletter.config import Subscriber, Topic
from newsletter.matching import Matcher, PaperMatch
from newsletter.models import Paper
from newsletter.ranking import phrases
from newsletter.reasons import CLOSE_IN_MEANING, CLOSE_IN_MEANING_HERE, noun_phrases, ranked, rules, said
from newsletter.rendering import also_in, reason_text

NAMES = {"theory": "Learning theory", "gen": "Generative modelling", "bandits": "Bandits"}.__getitem__
PAPER = Paper("Optimal regret", "Bandits with regret bounds.", "s")


def test_a_liked_title_that_reads_like_a_reason_is_named_whole():
    """Text "like: Regret Bounds; close to Optimal" was cut at "; close": the
    email read "similar to a paper you liked, “Regret Bounds”" and a stray
    "close to Optimal" as if it were phrases of the interest."""
    title = "Regret Bounds; close to Optimal, like: Thompson Sampling"
    one = PaperMatch(PAPER, 0.9, ("bandits",), (), (), topic_reasons=(ranked(liked=title),))
    assert reason_text(one, NAMES) == f"similar to a paper you liked, \u201c{title}\u201d"
    assert one.reason == reason_text(one, NAMES)  # match says it as the email does, not "like: <title>"
    two = PaperMatch(PAPER, 0.9, ("theory", "bandits"), (), (),
                     topic_reasons=(ranked(["sample complexity"]), ranked(liked=title)))
    assert reason_text(two, NAMES) == ("close to your interest in Learning theory (sample complexity); "
                                       f"similar to a paper you liked for Bandits, \u201c{title}\u201d")
    assert two.to_json()["reasons"][1] == {"topic": "bandits", "kind": "ranked", "phrases": [],
                                           "liked": title, "words": []}


def test_match_words_each_kind_of_reason():
    assert said((ranked(),)) == CLOSE_IN_MEANING
    assert said((ranked(["score matching", "SDEs"], "Reflected Diffusion Models"),)) == (
        "close to your interest: score matching, SDEs; similar to a paper you liked, \u201cReflected Diffusion Models\u201d")
    # a ranked topic's reason is the paper's; the rules' words only when no ranked topic took it
    assert said((rules(["convex"]), ranked(["step sizes"]))) == "close to your interest: step sizes"
    assert said((rules(["Convex", "SGD"]), rules(["convex", "Adam"]))) == "matched: Convex, SGD, Adam"
    assert said((rules([]),)) == ""


def test_match_json_gives_each_topics_reason_as_data():
    matcher = Matcher({"o": Topic(any=["convex", "optimi*"]), "c": Topic(any=["SGD"])})
    papers = [Paper("Convex optimization with SGD", "We study convex problems.", "test")]
    got = matcher.index(papers).select(Subscriber(email="a@example.org", topics=["o", "c"]))
    entry = got[0].to_json()
    assert entry["reason"] == "matched: convex, optimization, SGD"
    assert entry["reasons"] == [
        {"topic": "o", "kind": "rules", "phrases": [], "liked": None, "words": ["convex", "optimization"]},
        {"topic": "c", "kind": "rules", "phrases": [], "liked": None, "words": ["SGD"]},
    ]


def test_the_email_says_a_ranked_reason_as_a_sentence():
    """"Why: Close to your interest: score matching, SDEs" read as a label
    nested in a label; match keeps its form (scripts read it)."""
    both = PaperMatch(PAPER, 0.9, ("gen",), (), (), topic_reasons=(ranked(["score matching", "SDEs"], "T"),))
    assert reason_text(both, NAMES) == ("close to your interest in score matching and SDEs; "
                                        "similar to a paper you liked, \u201cT\u201d")
    assert both.reason == "close to your interest: score matching, SDEs; similar to a paper you liked, \u201cT\u201d"
    alone = PaperMatch(PAPER, 0.9, ("gen",), (), (), topic_reasons=(ranked(),))
    assert reason_text(alone, NAMES, here=True) == CLOSE_IN_MEANING_HERE  # the heading above says which
    assert reason_text(alone, NAMES) == f"{CLOSE_IN_MEANING} in {NAMES('gen')}"  # a flat list: no heading


def test_a_card_under_a_keyword_topic_names_a_ranked_topic_with_its_phrases_after_also_in():
    """Under the heading "Bandits" (keyword rules), the card read "Why: Close
    to your interest: diffusion models · bandit · also in Generative
    modelling": the ranked topic's reason shown as the keyword topic's own."""
    m = PaperMatch(PAPER, 2, ("bandits", "gen"), ("bandit*",), (),
                   topic_reasons=(rules(["bandits"]), ranked(["diffusion models"])))
    assert reason_text(m, NAMES) == ""
    assert also_in(m, NAMES, lambda t: []) == ("Generative modelling (diffusion models)",)
    liked = PaperMatch(PAPER, 2, ("bandits", "gen", "theory"), ("bandit*",), (),
                       topic_reasons=(rules(["bandits"]), ranked(liked="T"), ranked()))
    assert also_in(liked, NAMES, lambda t: []) == (
        "Generative modelling (similar to \u201cT\u201d)", "Learning theory")
    # under a ranked topic, the other ranked topics are named in its reason, not again
    own = PaperMatch(PAPER, 0.9, ("theory", "gen", "bandits"), (), (),
                     topic_reasons=(ranked(["regret"]), ranked(["diffusion models"]), rules(["bandits"])))
    assert reason_text(own, NAMES) == ("close to your interests in Learning theory (regret) and "
                                       "Generative modelling (diffusion models)")
    assert also_in(own, NAMES, lambda t: ["multi-armed"]) == ("Bandits (multi-armed)",)


def test_also_in_leaves_out_the_words_that_are_the_topics_own_name():
    """"also in Diffusion models (diffusion models, score-based)" said the name twice."""
    names = {"gen": "Generative modelling", "diff": "Diffusion models"}.__getitem__
    m = PaperMatch(PAPER, 0.9, ("gen", "diff"), (), (), topic_reasons=(ranked(["flow matching"]), rules([])))
    found = {"diff": ["diffusion model", "score-based"]}.__getitem__
    assert also_in(m, names, found) == ("Diffusion models (score-based)",)
    assert also_in(m, names, {"diff": ["Diffusion Models"]}.__getitem__) == ("Diffusion models",)


def test_a_reason_close_in_meaning_only_points_at_its_topics_heading():
    """"Why: Close in meaning to your interest" under a card stopped short
    of saying which, and "... your interest in Generative modelling" under the
    heading "Generative modelling" said it again on each card: the card's own
    topic is "this topic"; two topics are named, as a card names no heading
    but its own.  Said not under its heading (``all_papers``, a flat list,
    in a template of one's own), it names the topic as before."""
    from newsletter.reasons import for_reader, ranked

    names = {"gen": "Generative modelling", "opt": "Optimisation"}.__getitem__
    assert for_reader((ranked(),), names, ("gen",), here=True) == "close in meaning to this topic"
    assert for_reader((ranked(),), names, ("gen",)) == "close in meaning to your interest in Generative modelling"
    assert for_reader((ranked(), ranked()), names, ("gen", "opt")) == \
        "close in meaning to your interests in Generative modelling and Optimisation"
    assert for_reader((ranked(["score matching"]),), names, ("gen",)) == "close to your interest in score matching"
    assert for_reader((ranked(),), None, ()) == "close in meaning to your interest"  # match's wording, no names


@pytest.mark.parametrize(
    ("about", "named"),
    [
        # blind2's inverse_problems: "solve" was an item of the reason
        ("Priors (diffusion priors included) used to solve them. Forward simulation.",
         ["priors", "diffusion priors included", "forward simulation"]),
        ("Sparse linear systems and the Krylov methods used to solve them", ["sparse linear systems", "Krylov methods"]),
        ("I follow how to train large models and how to evaluate them", ["large models"]),
        ("Krylov methods used to solve linear systems", ["krylov methods", "linear systems"]),  # the object stays
        ("I want to learn about graph neural networks, message passing", ["graph neural networks", "message passing"]),
        ("Models able to reason, in order to plan robot motion", ["models", "robot motion"]),
        # after a method's noun, "to" opens a noun as often as a verb: the phrase stays whole
        ("Applying deep learning methods to graphs and molecules", ["applying deep learning methods to graphs", "molecules"]),
        ("Ways to speed up transformers, learning rate schedules", ["ways to speed up transformers", "learning rate schedules"]),
        ("Methods to solve the inverse problem of tomography", ["solve the inverse problem of tomography"]),
        ("Ways to estimate it (to denoise images)", ["ways to estimate", "denoise images"]),
        # a verb is taken out of the phrase it is in only: "robotics benchmarks" keeps "robotics"
        ("Reinforcement learning (to robotics), robotics benchmarks",
         ["reinforcement learning", "robotics", "robotics benchmarks"]),
        ("How to train agents, train schedules", ["agents", "train schedules"]),
        # a "to" before a noun is no infinitive: the phrases stay whole
        ("Robustness to distribution shift; adaptation to new domains. Distribution shift detection.",
         ["robustness to distribution shift", "adaptation to new domains", "distribution shift detection"]),
        # how the request is put, not what it asks for (blind5's diffusion_theory, engineering_applications,
        # fixed_point_methods; blind3's quantum_physics): a card read "close to your interest: diffusion
        # models work", "mathematically", "engineer", "or parallelize"
        ("Why do diffusion models work? I study them mathematically.", ["diffusion models"]),
        ("I am an engineer, and I follow turbines and engines.", ["turbines", "engines"]),
        ("I'm a physicist, so I want quantum simulation.", ["quantum simulation"]),
        ("Fixed-point iterations and how to accelerate or parallelize them.", ["fixed-point iterations"]),
    ],
)
def test_a_reason_names_the_sentences_nouns_not_its_verbs(about, named):
    assert noun_phrases(about, phrases(about)) == named
