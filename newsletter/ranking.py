"""Rank papers by how well they fit an interest written in words (``about:``)
or shown by example (``like:``).

Two kinds of evidence, fused:

- lexical: BM25 (the ``bm25s`` package) over title and abstract, words
  stemmed, so a rare exact term of the interest ("Schrödinger bridge") counts;
- semantic: cosine similarity in the space of a small static embedding model
  (``wordllama``, whose wheel carries its weights: loaded from the package
  folder with downloads disabled, on CPU, no torch), so a paraphrase
  ("rectified transport" for "flow matching") counts too.

Each signal is turned into a z-score over the day's papers (how unusual this
paper's fit is compared with the others), the z-scores are added with fixed
weights, and a logistic maps the sum to a score in [0, 1].  A topic keeps the
papers whose score reaches its floor (``min_score``, default
:data:`DEFAULT_MIN_SCORE`), so a quiet day gives a short digest.

``like:`` papers act as extra queries: their embeddings are averaged into the
interest's vector (Rocchio), which moves the query towards what the reader
actually read without letting one liked paper dominate.

Paper embeddings are cached in a SQLite file in the config's cache folder,
keyed by a hash of the model name and the text: a paper seen yesterday costs
nothing today.  The same file remembers each ranked paper's title and text, so
``like:`` can name a paper the tool saw on an earlier day.

Heavy imports (numpy, bm25s, the model) happen only when a topic uses
``about``/``like``: the other commands start as fast as before.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import NewsletterError, Problem
from .models import Paper, arxiv_base_id, normalize_title

if TYPE_CHECKING:  # pragma: no cover
    pass

#: The embedding model: package, dimension (wordllama ships 64..1024 truncations of one model).
MODEL_PACKAGE = "wordllama"
MODEL_DIM = 256
#: A topic's floor when it sets no ``min_score``.
DEFAULT_MIN_SCORE = 0.5

# Fusion weights and calibration, tuned on the development split of
# tests/data/relevance (see bench/quality.py); the held-out split is only reported.
W_SEMANTIC = 1.0
W_LEXICAL = 1.0
W_LIKE = 0.5  # how far the liked papers pull the query (Rocchio)
TITLE_REPEAT = 2  # the title counts this many times in BM25's text
CENTER = 4.0  # fused z-score that maps to 0.5
SPREAD = 1.0  # fused z-score units per logistic unit


class RankingError(NewsletterError):
    """The embedding model could not be loaded (a broken or missing install)."""


@dataclass(frozen=True)
class Interest:
    """What ranking needs of one topic: its words, its liked papers, its floor."""

    key: str
    about: str | None = None
    like: tuple[str, ...] = ()
    min_score: float | None = None

    @property
    def floor(self) -> float:
        return DEFAULT_MIN_SCORE if self.min_score is None else self.min_score


@dataclass(frozen=True)
class Relevance:
    """One paper's fit to one interest: a score in [0, 1] and why, in words."""

    score: float
    reason: str


# --------------------------------------------------------------------------- text


_WORD = re.compile(r"\w[\w\-]*\w|\w", re.UNICODE)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?:])\s+")
_PHRASE_SPLIT = re.compile(r"[,;:.()\[\]!?/]+|\s+(?:and|as well as|including|such as|e\.g\.|i\.e\.)\s+", re.I)
_STOP = frozenset(
    """a an the of for in on at to from by with without and or as is are be been being this that these those
    it its their our we i my me you your they them into onto over under between among via using use used
    new novel paper papers method methods approach approaches work works study studies interested interest
    especially particular particularly about also any all how what which who whom whose where when why
    research researcher topic topics like including such than then there here do does done can could may
    might should would will not no only more most less very much many each other both either neither""".split()
)


def paper_text(paper: Paper) -> str:
    return f"{paper.title}. {paper.abstract}"


class _Stemmer:
    """Snowball English stems (PyStemmer), memoised: 'molecules' -> 'molecul'."""

    def __init__(self) -> None:
        import Stemmer

        self._stem = Stemmer.Stemmer("english").stemWord
        self._memo: dict[str, str] = {}

    def __call__(self, word: str) -> str:
        out = self._memo.get(word)
        if out is None:
            out = self._memo[word] = self._stem(word)
        return out

    def tokens(self, text: str) -> list[str]:
        """Stemmed content words of ``text`` (hyphenated words also split)."""
        out = []
        for w in _WORD.findall(text.casefold()):
            parts = [w] + (w.split("-") if "-" in w else [])
            for part in parts:
                if part and part not in _STOP and not part.isdigit():
                    out.append(self(part))
        return out


def phrases(about: str) -> list[str]:
    """The interest cut into short phrases ("message passing", "molecule
    generation"): the words a reason names."""
    out = []
    for sentence in _SENTENCE_SPLIT.split(about):
        for n, chunk in enumerate(_PHRASE_SPLIT.split(sentence)):
            words = chunk.split()
            while words and words[0].casefold() in _STOP:
                words.pop(0)
            while words and words[-1].casefold() in _STOP:
                words.pop()
            if words and len(words) <= 8:
                if n == 0 and words[0][1:].islower():
                    words[0] = words[0].lower()  # "Diffusion" opening a sentence reads as "diffusion"
                out.append(" ".join(words))
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- embeddings


class Embedder:
    """The static embedding model plus a cache of paper vectors.

    ``cache`` is a SQLite file (created on first use); None keeps vectors in
    memory only.  The model loads on the first text not in the cache.
    """

    def __init__(self, cache: Path | None = None, where: Problem | None = None) -> None:
        self.cache = cache
        self.where = where  # the config line blamed when the model cannot load
        self._model = None
        self._db: sqlite3.Connection | None = None
        self.model_id = f"{MODEL_PACKAGE}-{MODEL_DIM}"

    # -- the model ------------------------------------------------------------------

    def model(self):
        if self._model is None:
            self._model = load_model(self.where)
        return self._model

    def encode(self, texts: Sequence[str]):
        """Unit vectors for ``texts`` (no cache)."""
        import numpy as np

        if not texts:
            return np.zeros((0, MODEL_DIM), dtype=np.float32)
        vecs = np.asarray(self.model().embed(list(texts), norm=True, batch_size=256), dtype=np.float32)
        return vecs

    # -- the cache ------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection | None:
        if self._db is None and self.cache is not None:
            try:
                self.cache.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.cache, timeout=30)
                db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS papers (id TEXT PRIMARY KEY, title_key TEXT NOT NULL, "
                    "title TEXT NOT NULL, text TEXT NOT NULL)"
                )
                db.execute("CREATE INDEX IF NOT EXISTS papers_by_title ON papers (title_key)")
                self._db = db
            except sqlite3.Error:
                self.cache = None  # an unwritable cache folder: work without it
        return self._db

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.model_id}\0{text}".encode()).hexdigest()

    def embed(self, texts: Sequence[str]):
        """Unit vectors for ``texts``, from the cache where possible."""
        import numpy as np

        out = np.zeros((len(texts), MODEL_DIM), dtype=np.float32)
        keys = [self._key(t) for t in texts]
        db = self._open()
        found: dict[str, bytes] = {}
        if db is not None:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk))
        missing = [i for i, k in enumerate(keys) if k not in found]
        for i, k in enumerate(keys):
            blob = found.get(k)
            if blob is not None and len(blob) == MODEL_DIM * 4:
                out[i] = np.frombuffer(blob, dtype=np.float32)
            elif blob is not None:
                missing.append(i)
        if missing:
            vecs = self.encode([texts[i] for i in missing])
            out[missing] = vecs
            if db is not None:
                try:
                    with db:
                        db.executemany(
                            "INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)",
                            ((keys[i], vecs[j].tobytes()) for j, i in enumerate(missing)),
                        )
                except sqlite3.Error:
                    pass  # a read-only or full disk: the vectors are simply not kept
        return out

    def remember(self, papers: Iterable[Paper]) -> None:
        """Keep ids, titles and texts, so ``like:`` can name a paper seen on an earlier day."""
        db = self._open()
        if db is None:
            return
        try:
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO papers (id, title_key, title, text) VALUES (?, ?, ?, ?)",
                    ((p.id, p.title_key, p.title, paper_text(p)) for p in papers),
                )
        except sqlite3.Error:
            pass

    def recall(self, ref: str) -> tuple[str, str, str] | None:
        """(id, title, text) of a paper seen before, by arXiv id or title."""
        db = self._open()
        if db is None:
            return None
        row = db.execute("SELECT id, title, text FROM papers WHERE id = ?", (arxiv_base_id(ref),)).fetchone()
        if row is None:
            row = db.execute("SELECT id, title, text FROM papers WHERE title_key = ?", (normalize_title(ref),)).fetchone()
        return row

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def load_model(where: Problem | None = None):
    """The wordllama model from its package folder, never from the network.

    Anything that goes wrong (package missing, weights absent or corrupt)
    becomes one :class:`RankingError` line naming the package.
    """
    try:
        import wordllama
        from wordllama import WordLlama

        return WordLlama.load(dim=MODEL_DIM, cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    except Exception as exc:  # noqa: BLE001 - any failure of a broken install is the same user problem
        detail = " ".join(str(exc).split())[:160] or type(exc).__name__
        message = (
            f"cannot load the embedding model of the {MODEL_PACKAGE!r} package ({detail}); "
            f"'about'/'like' topics need it: reinstall it with pip install --force-reinstall {MODEL_PACKAGE}"
        )
        if where is not None:
            raise RankingError(Problem(message, where.file, where.line, where.path)) from None
        raise RankingError(Problem(message)) from None


# --------------------------------------------------------------------------- ranking


def _zscores(x):
    import numpy as np

    std = float(x.std())
    if not math.isfinite(std) or std < 1e-9:
        return np.zeros_like(x)
    return (x - float(x.mean())) / std


class Ranker:
    """The day's papers, indexed once (BM25 + embeddings), scored per interest.

    ``warn`` receives one line per ``like`` entry that names no known paper;
    ``locate(key, index)`` gives the config's ``FILE:LINE`` for it.
    """

    def __init__(
        self,
        papers: Sequence[Paper],
        embedder: Embedder,
        warn: Callable[[str], None] | None = None,
        locate: Callable[[str, int], str] | None = None,
    ) -> None:
        import bm25s
        import numpy as np

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # its index build talks at DEBUG
        self.papers = list(papers)
        self.embedder = embedder
        self.warn = warn or (lambda message: None)
        self.locate = locate or (lambda key, i: f"topics.{key}.like[{i}]")
        self.stem = _Stemmer()
        self.by_id = {p.id: i for i, p in enumerate(self.papers)}
        self.by_title: dict[str, int] = {}
        for i, p in enumerate(self.papers):
            self.by_title.setdefault(p.title_key, i)
        self.tokens = [self.stem.tokens(" ".join([p.title] * TITLE_REPEAT + [p.abstract])) for p in self.papers]
        self.token_sets = [frozenset(t) for t in self.tokens]
        self.bm25 = bm25s.BM25()
        if self.papers:
            vocab: dict[str, int] = {}
            ids = [[vocab.setdefault(w, len(vocab)) for w in doc] for doc in self.tokens]
            self.bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
        self.vectors = (
            embedder.embed([paper_text(p) for p in self.papers]) if self.papers else np.zeros((0, MODEL_DIM), np.float32)
        )
        embedder.remember(self.papers)

    # -- signals -----------------------------------------------------------------------

    def lexical(self, text: str):
        import numpy as np

        words = [w for w in self.stem.tokens(text) if w in self.bm25.vocab_dict]
        if not words or not self.papers:
            return np.zeros(len(self.papers), dtype=np.float32)
        return self.bm25.get_scores(words)

    def _liked(self, interest: Interest) -> list[tuple[str, str, str]]:
        """(id, title, text) of each liked paper found; a warning for each not found."""
        out = []
        for i, ref in enumerate(interest.like):
            hit = self.by_id.get(arxiv_base_id(ref))
            if hit is None:
                hit = self.by_title.get(normalize_title(ref))
            if hit is not None:
                p = self.papers[hit]
                out.append((p.id, p.title, paper_text(p)))
                continue
            old = self.embedder.recall(ref)
            if old is not None:
                out.append(old)
                continue
            self.warn(
                f"{self.locate(interest.key, i)}: like {ref!r} matches no known paper "
                "(an arXiv id or the title of a paper from the sources); it is ignored"
            )
        return out

    # -- scores ------------------------------------------------------------------------

    def rank(self, interest: Interest, members: Iterable[int] | None = None) -> dict[str, Relevance]:
        """Papers (by id) at or above the interest's floor, with score and reason.

        ``members`` (paper positions) restricts the result to the papers the
        topic's rules let in; statistics still use the whole day, so a score
        means the same with or without rules.
        """
        import numpy as np

        if not self.papers:
            return {}
        liked = self._liked(interest)
        parts = []
        if interest.about:
            parts.append(self.embedder.embed([interest.about])[0])
        liked_vecs = self.embedder.embed([t for _, _, t in liked]) if liked else None
        if liked_vecs is not None:
            centroid = liked_vecs.mean(axis=0)
            parts.append(centroid * (W_LIKE if interest.about else 1.0))
        if not parts:
            return {}
        query = np.sum(parts, axis=0)
        query /= max(float(np.linalg.norm(query)), 1e-9)
        semantic = self.vectors @ query
        fused = W_SEMANTIC * _zscores(semantic)
        if interest.about:
            fused = fused + W_LEXICAL * _zscores(self.lexical(interest.about))
        else:
            fused = fused + W_LEXICAL * _zscores(self.lexical(" ".join(t for _, t, _ in liked)))
        scores = 1.0 / (1.0 + np.exp(-(fused - CENTER) / SPREAD))

        liked_ids = {pid for pid, _, _ in liked}
        floor = interest.floor
        keep = range(len(self.papers)) if members is None else members
        about_phrases = phrases(interest.about) if interest.about else []
        phrase_words = [(ph, frozenset(self.stem.tokens(ph))) for ph in about_phrases]
        out = {}
        for i in keep:
            s = float(scores[i])
            pid = self.papers[i].id
            if s < floor or pid in liked_ids:
                continue
            out[pid] = Relevance(round(s, 4), self._reason(i, phrase_words, liked, liked_vecs))
        return out

    def _reason(self, i: int, phrase_words, liked, liked_vecs) -> str:
        """In words: the interest's phrases the paper shares, or the liked paper it is closest to."""
        words = self.token_sets[i]
        shared = []
        for phrase, stems in phrase_words:
            if stems and len(stems & words) * 2 >= len(stems):
                shared.append((len(stems & words) / len(stems), len(stems), phrase))
        shared.sort(key=lambda t: (-t[0], -t[1]))
        reasons = []
        if shared:
            reasons.append("close to your interest: " + ", ".join(p for _, _, p in shared[:3]))
        if liked:
            sims = liked_vecs @ self.vectors[i]
            best = int(sims.argmax())
            if not shared or float(sims[best]) >= 0.5:
                reasons.append(f"like: {liked[best][1]}")
        if not reasons:
            reasons.append("close in meaning to your interest")
        return "; ".join(reasons)
