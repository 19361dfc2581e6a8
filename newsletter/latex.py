"""LaTeX in paper text -> readable Unicode (``Schr\\"odinger`` -> ``Schrödinger``,
``$\\mathcal{O}(\\sqrt{d}/\\epsilon)$`` -> ``O(√d/ε)``).

arXiv titles, abstracts and author names are written in LaTeX; the digest
shows them as a reader would see them typeset.  The conversion is done by
``pylatexenc`` (:class:`~pylatexenc.latex2text.LatexNodes2Text`), but only on
the parts of a text that are plausibly LaTeX, so plain text with prices
(``$5 and $10``), percentages or a stray backslash passes unchanged:

- math: ``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``, and display math
  written as its environment in the text (``\\begin{equation}...\\end{equation}``).  A ``$`` opens math
  only when followed by a non-space and closes only when preceded by a
  non-space and not followed by a digit (pandoc's rule), so ``$5 and $10``
  is not math.  Everything inside is converted; super- and subscripts become
  Unicode where every character has one (``x²``, ``ℓ₁``), else ``^(...)``.
- text-mode macros that pylatexenc knows (accents ``\\"o``, ``{\\'e}``,
  ``\\&``, ``\\ss``...): converted one by one; an unknown ``\\word`` outside
  math is left as written.
- font styles (``\\emph{...}``, ``\\textbf{...}``, ``{\\em ...}``...) are
  unwrapped first, braces and all, so math inside them converts like any
  other: ``\\emph{A $k$-NN View}`` -> ``A k-NN View``.
- citations (``\\cite``, ``\\citep``, ``\\citet``...) show their keys in
  brackets, ``prior work~\\cite{adam,sgd}`` -> ``prior work [adam, sgd]``: the
  numbered label a typeset paper shows means nothing without its
  bibliography, while a key usually names the work (``kingma2015adam``) and
  the sentence keeps its noun.  Cross-references (``\\ref``, ``\\eqref``,
  ``\\cref``...) show as "??" (``Eq. (??)``), as LaTeX shows one it cannot
  resolve: they point into a paper the reader does not have; ``\\label`` is
  dropped.

What cannot be converted is left readable: math whose conversion fails keeps
its source without the ``$`` delimiters.  pylatexenc reports what its
tolerant parser skipped at INFO level; its loggers are set to WARNING when
the converter is set up, so the CLI's INFO logging does not print a line per
odd snippet.  The result is plain text: callers
still HTML-escape it (a ``<`` in ``$\\eta < 1/L$`` stays a ``<``).
"""

from __future__ import annotations

import functools
import logging
import re
import string
import unicodedata
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .models import normalize_title
from .patterns import compiled, lazy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pylatexenc import latex2text, latexwalker

    from .models import Paper

# --------------------------------------------------------------------------- spans

#: Display math written as its environment in the text, outside any ``$``:
#: ``we solve \\begin{equation} \\min_x f(x) \\end{equation} by``.
_DISPLAY_NAMES = "equation|align|alignat|gather|multline|eqnarray|displaymath|math|flalign"
#: (A ``$`` after ``\\`` is escaped, unless that backslash is one of a line break's ``\\\\``.)
_OPENER = lazy(r"(?:(?<!\\)|(?<=\\\\))(?:\$\$|\$|\\\(|\\\[)|\\begin\{(?:" + _DISPLAY_NAMES + r")\*?\}")
_CLOSER = {
    "$$": re.compile(r"(?<!\\)\$\$"),
    "$": re.compile(r"(?<!\\)\$"),
    "\\(": re.compile(r"\\\)"),
    "\\[": re.compile(r"\\\]"),
}
#: Inside ``$...$``: something only LaTeX writes.
_LATEX_MARK = lazy(r"[\\^_{}]")
#: Five words of prose in a row (outside groups, not macros' names): no formula holds them.
_PROSE = lazy(r"(?<![\\\w])(?:[a-z]{2,}[,;]?\s+){4}[a-z]{2,}(?![\w{])")
#: The word after a "$" that nothing closes.
_UNCLOSED_WORD = lazy(r"[^\s$]+")
#: A relation or operator alone in math, written before a number (``$>$90\%``,
#: ``p$<$0.05``): math although a digit follows, which a price's ``$`` never encloses.
_SYMBOL_MATH = lazy(r"[<>=+\-*/|~]{1,2}")


#: What each of :data:`_OPENER`'s matches starts with (its lookbehinds are zero-width).
_OPENER_STARTS = ("$", "\\(", "\\[", "\\begin{")


def _opener(text: str, pos: int) -> re.Match | None:
    """``_OPENER.search(text, pos)``, started where one of
    :data:`_OPENER_STARTS` is: the pattern (its lookbehinds first) was
    tried at every character of every text with LaTeX in it, and the
    search still sees what stands before that place."""
    found = [at for at in (text.find(start, pos) for start in _OPENER_STARTS) if at >= 0]
    return _OPENER.search(text, min(found)) if found else None


def _math_spans(text: str):
    """``(start, end, source)`` of each math span.  A ``$...$`` span counts when
    its content has LaTeX in it (a backslash, ``^``, ``_``, braces) or, for bare
    content like ``$x$`` or ``$n$-gram``, by pandoc's rule: the opener followed
    by a non-space, the closer preceded by one and not followed by a digit --
    so the prices in ``$5 and $10`` are not math."""
    pos = 0
    while (m := _opener(text, pos)) is not None:
        opener = m.group()
        if opener.startswith("\\begin"):  # the environment is the span's source, for _environments to lay out
            close = re.compile(re.escape("\\end" + opener[6:])).search(text, m.end())
            if close is None:
                pos = m.end()
                continue
            yield m.start(), close.end(), text[m.start():close.end()]
            pos = close.end()
            continue
        close = _CLOSER[opener].search(text, m.end())
        if close is None:
            if opener == "$":
                # a "$" never closed (a feed cut an abstract, or a typo): the word after it is math when it is LaTeX
                word = _UNCLOSED_WORD.match(text, m.end())
                if word and _LATEX_MARK.search(word.group()):
                    yield m.start(), word.end(), word.group()
                return
            pos = m.end()
            continue
        content = text[m.end():close.start()]
        if opener == "$" and _PROSE.search(re.sub(r"\{[^{}]*\}", "", content)):
            # a "$" that opens no math of this length: the sentence runs on to another formula's "$"
            # ("we use $\alpha = 0.1 and then tune ... for $n \ge 10$"); the word after it is math if it is LaTeX
            word = _UNCLOSED_WORD.match(text, m.end())
            if word and _LATEX_MARK.search(word.group()):
                yield m.start(), word.end(), word.group()
                pos = word.end()
            else:
                pos = m.end()
            continue
        if opener == "$" and not _LATEX_MARK.search(content) and (
            not content or content[0].isspace() or content[-1].isspace()
            or (text[close.end():close.end() + 1].isdigit() and not _SYMBOL_MATH.fullmatch(content))
        ):
            pos = close.start()  # this $ may open the next span
            continue
        if content.strip():
            yield m.start(), close.end(), content
        pos = close.end()


#: One text-mode macro with its arguments: ``\emph{x}``, ``\"o``, ``\"{\i}``,
#: ``\&``; optionally wrapped in one brace group (``{\"o}``).
_ARG = r"\{(?:[^{}]|\{[^{}]*\})*\}"
_TEXT_MACRO = lazy(
    r"(?P<open>\{)?"
    r"(?P<macro>\\(?:"
    rf"[\"'`^~=.](?:{_ARG}|\\[a-zA-Z]+|[a-zA-Z])"  # accents: \"o \'{e} \"\i
    rf"|(?P<name>[a-zA-Z]+)\*?(?:{_ARG})*"  # \emph{x}, \ss, \i
    r"|[&%$#_{}@]"  # escaped specials, and \@ (a sentence's end: nothing to show)
    r"|[,;:! \\\\]"  # spacing (\, \; \ ) and a line break (\\)
    r"))"
    r"(?(open)\})"
)

# --------------------------------------------------------------------------- pylatexenc setup

SUPERSCRIPT = str.maketrans(
    "0123456789+-=()abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRTUVW",
    "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂ",
)
SUBSCRIPT = str.maketrans("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")


#: A prefix operator and the space its macro name ended with: ``\\nabla f`` is "∇f", not "∇ f".
_PREFIX_SPACE = lazy(r"([∇∂¬∀∃]) (?=[\w(])")


#: A number times a symbol (``2σ²``, ``3n``), or a small letter times a capital (``nI(θ)``): one word, but
#: "x/2σ²" reads as (x/2)σ², "1/nI(θ)" as (1/n)I(θ) and "√2n" as (√2)n.
_PRODUCT = lazy(r"\d+(?:\.\d+)?[^\W\d_]|[a-zα-ω][A-Z]")


def _grouped(text: str, product: bool = False) -> str:
    """``d``, ``10``, ``p(x)`` or a norm ``‖x − y‖²`` stays bare after √ or around /, anything longer
    gets parentheses; so does a ``product`` (a denominator's or a root's ``2σ²``)."""
    text = _PREFIX_SPACE.sub(r"\1", text.strip())
    if product and _PRODUCT.match(text):
        return f"({text})"
    if re.fullmatch(r"[√∛∜]?[∂∇]?\w+(?:\([^()\s]*\))?|.", text) or (text.startswith("(") and text.endswith(")")):
        return text
    if _NORM_GROUP.fullmatch(text):
        return text
    return f"({text})"


def _arg_text(node, l2t, index: int) -> str:
    args = node.nodeargd.argnlist if node.nodeargd else []
    return l2t.nodelist_to_text([args[index]]) if index < len(args) and args[index] is not None else ""


def _sqrt(node, l2tobj) -> str:
    degree = _arg_text(node, l2tobj, 0).strip()
    radical = {"3": "∛", "4": "∜"}.get(degree, "√")
    prefix = degree.translate(SUPERSCRIPT) if degree and radical == "√" else ""
    return prefix + radical + _grouped(_arg_text(node, l2tobj, 1), product=True)


#: ½ for \frac{1}{2}: one character, so "a\frac{1}{2}" reads "a½", not "a1/2".
_VULGAR = {"1/2": "½", "1/3": "⅓", "2/3": "⅔", "1/4": "¼", "3/4": "¾", "1/5": "⅕", "2/5": "⅖", "3/5": "⅗",
           "4/5": "⅘", "1/6": "⅙", "5/6": "⅚", "1/7": "⅐", "1/8": "⅛", "3/8": "⅜", "5/8": "⅝", "7/8": "⅞",
           "1/9": "⅑", "1/10": "⅒"}
#: A fraction's text between these marks until _fractions_placed sees its neighbours.
_FRAC_OPEN, _FRAC_CLOSE = "\x02", "\x03"
_INNERMOST_FRACTION = lazy("\x02([^\x02\x03]*)\x03")


def _frac(node, l2tobj) -> str:
    if not node.nodeargd or not any(node.nodeargd.argnlist):
        return "\\" + node.macroname  # no arguments ("a \\nicefrac b"): as written, not "()/()"
    numerator, denominator = _arg_text(node, l2tobj, 0).strip(), _arg_text(node, l2tobj, 1).strip()
    plain = f"{numerator}/{denominator}"
    if plain in _VULGAR:
        return _VULGAR[plain]
    return _FRAC_OPEN + _grouped(numerator) + "/" + _grouped(denominator, product=True) + _FRAC_CLOSE


def _fractions_placed(text: str) -> str:
    """A fraction written against a symbol gets parentheses: ``a\\frac{b}{c}`` as
    "a(b/c)", ``\\frac{1}{n}x`` as "(1/n)x" and ``\\frac{1}{n}\\sum`` as "(1/n)∑",
    where "ab/c", "1/nx" and "1/n∑" would read as other fractions.  Innermost first, so a nested one sees its own
    neighbours."""
    placed = 1
    while placed and _FRAC_OPEN in text:  # a stray mark in the source ends it too
        text, placed = _INNERMOST_FRACTION.subn(functools.partial(_fraction_placed, text), text)
    return text


def _fraction_placed(text: str, m: re.Match) -> str:
    before = text[m.start() - 1] if m.start() else " "
    after = text[m.end()] if m.end() < len(text) else " "
    squeezed = before.isalnum() or before in ")]}‖|⟩" or after.isalnum() or after in "([{‖|⟨√∑∏∫∮⋃⋂"
    return f"({m.group(1)})" if squeezed and not m.group(1).startswith("(") else m.group(1)


#: A Greek letter's macro ended by a space inside an upright style, as units are
#: written (``\\mathrm{\\mu m}``): math mode swallows the space ("μm", not "μ m").
_UNIT_PREFIX_SPACE = lazy(r"(?<=[μΩ]) (?=[A-Za-z])")


def _plain(node, l2tobj) -> str:
    """The macro's last argument as text (``\\operatorname*{argmin}``'s first is its star)."""
    args = node.nodeargd.argnlist if node.nodeargd else []
    text = _arg_text(node, l2tobj, len(args) - 1) if args else ""
    if node.macroname in ("mathrm", "text", "textrm", "mathsf") and " " in text:
        text = _UNIT_PREFIX_SPACE.sub("", text)
    return text


def _alphabet(style: str, letterlike: str) -> dict[int, str]:
    """Unicode's mathematical ``style`` letters for A-Z and a-z; the few it had
    already among the letterlike symbols (ℒ, ℋ, ℭ, ℜ...) are those."""
    table = {}
    for letter in string.ascii_letters:
        case = "CAPITAL" if letter.isupper() else "SMALL"
        try:
            table[ord(letter)] = unicodedata.lookup(f"MATHEMATICAL {style} {case} {letter.upper()}")
        except KeyError:
            table[ord(letter)] = unicodedata.lookup(f"{letterlike} {case} {letter.upper()}")
    return table


_SCRIPT_LETTERS = _alphabet("SCRIPT", "SCRIPT")
_FRAKTUR_LETTERS = _alphabet("FRAKTUR", "BLACK-LETTER")
#: The alphabets whose letters are other symbols than the plain letter (a loss ℒ and a set L,
#: a Lie algebra 𝔤 and its group G); bold and upright ones show the plain letter (see _plain).
_LETTERS_OF = {"mathcal": _SCRIPT_LETTERS, "mathscr": _SCRIPT_LETTERS, "mathfrak": _FRAKTUR_LETTERS}


#: Each script or Fraktur letter :func:`_styled_letters` shows, as its plain letter (ℒ -> L, 𝔤 -> g).
_PLAIN_OF = {ord(styled): chr(plain) for table in (_SCRIPT_LETTERS, _FRAKTUR_LETTERS) for plain, styled in table.items()}
#: The two blocks holding every letter of :data:`_PLAIN_OF` (Letterlike Symbols,
#: Mathematical Alphanumeric Symbols): a class of ranges, one comparison a
#: character, where a class listing the astral letters one by one was tried
#: letter by letter on every character (46,000 texts a 5,000-paper `match`: 4 s).
_STYLED_LETTER = lazy("[\u2100-\u214f\U0001d400-\U0001d7ff]")


def _styled_letters(node, l2tobj) -> str:
    """``\\mathcal{L}`` -> ``ℒ``, ``\\mathfrak{g}`` -> ``𝔤``: a letter in its alphabet.  Big-O
    ``\\mathcal{O}`` stays O: it is read as the word "order", and searched for as ``O(n)``.  Letters
    together stay plain: ``\\mathcal{NP}``-hard is the class NP, read, searched for and
    shown as "NP-hard" ("𝒩𝒫-hard" missed a rule's "NP-hard", and is missing from many fonts)."""
    text = _arg_text(node, l2tobj, 0)
    if node.macroname == "mathcal" and text.strip() in ("O", "o"):
        return text
    if sum(char in string.ascii_letters for char in text) > 1:
        return text
    return text.translate(_LETTERS_OF[node.macroname])


def plain_letters(text: str) -> str:
    """``text`` with its script and Fraktur letters as the plain letters: what keyword
    rules and ranking read, so that "ℒ-smooth" or "𝒩=4" is found by "L-smooth" or
    "N=4" as it was before LaTeX's ``\\mathcal`` was shown as a script letter."""
    return text.translate(_PLAIN_OF) if _STYLED_LETTER.search(text) else text


def _binom(node, l2tobj) -> str:
    return f"C({_arg_text(node, l2tobj, 0).strip()}, {_arg_text(node, l2tobj, 1).strip()})"


def _script(up: bool):
    """``5\\textsuperscript{th}`` -> ``5ᵗʰ`` where Unicode has every letter, else ``5^(th)``."""

    def script(node, l2tobj) -> str:
        text = _arg_text(node, l2tobj, 0).strip()
        table = SUPERSCRIPT if up else SUBSCRIPT
        mapped = text.translate(table)
        # an affiliation's marks keep their commas ("¹,²"): in text, not math, no script runs on after them
        if text and all(a != b or a == "," for a, b in zip(text, mapped)) and mapped.strip(","):
            return mapped
        if up and text in ("*", "†", "‡", "§", "¶", "#"):  # an affiliation's or a note's mark
            return text
        return ("^" if up else "_") + (text if len(text) == 1 else f"({text})")

    return script


#: A relation with a mark set over it that Unicode has as one character.
_STACKED = {("?", "="): "≟", ("def", "="): "≝", ("Δ", "="): "≜", ("△", "="): "≜", ("!", "="): "≠"}


def _marked(base: str, mark: str, over: bool) -> str:
    """``base`` with ``mark`` set over (or under) it, as the base's script: ``=ᵈ``, ``minₓ``, ``→^(ab c)``."""
    mapped = mark.translate(SUPERSCRIPT if over else SUBSCRIPT)
    if not mark:
        return base
    if all(a != b for a, b in zip(mark, mapped)):
        return base + mapped
    return f"{base}{'^' if over else '_'}({mark})"


def _spaced(shown: str, base: str) -> str:
    return f" {shown} " if base in _RELATIONS + "=<>" else shown  # a relation keeps its spaces


def _stacked(over: bool):
    """``\\overset{d}{=}`` -> ``=ᵈ``, ``\\underset{x}{\\min}`` -> ``minₓ``: the mark as the
    base's script (pylatexenc ran them together: "d=")."""

    def stacked(node, l2tobj) -> str:
        mark, base = _arg_text(node, l2tobj, 0).strip(), _arg_text(node, l2tobj, 1).strip()
        if over and (mark, base) in _STACKED:
            return f" {_STACKED[mark, base]} "
        return _spaced(_marked(base, mark, over), base)

    return stacked


def _extensible_arrow(arrow: str):
    """``\\xrightarrow[u]{f}`` -> ``→ᶠᵤ``: the labels as the arrow's scripts, as
    :func:`_stacked` shows ``\\overset{f}{\\to}`` (the arrow alone lost the map's name)."""

    def extensible(node, l2tobj) -> str:
        under, over = _arg_text(node, l2tobj, 0).strip(), _arg_text(node, l2tobj, 1).strip()
        return _spaced(_marked(_marked(arrow, over, True), under, False), arrow)

    return extensible


def _href(node, l2tobj) -> str:
    """``\\href{URL}{text}`` as "text (URL)": the link is the point of it
    ("code is \\href{https://github.com/a/b}{here}" read "code is here"), and
    a text part or a copied abstract keeps no link of its own."""
    args = node.nodeargd.argnlist if node.nodeargd else []
    url = args[0].latex_verbatim().strip()[1:-1].strip() if args and args[0] is not None else ""
    url = re.sub(r"\\([%#&_~$])", r"\1", url).removeprefix("mailto:")  # LaTeX escapes them in a URL: \\% is %
    text = _arg_text(node, l2tobj, 1).strip()
    if url in (text, "http://" + text, "https://" + text) or not re.match(r"(?:https?|ftp)://|www\.|[^\s@/]+@[\w.-]+$", url):
        return text or url
    return f"{text} ({url})" if text else url


def _url(node, l2tobj) -> str:
    """``\\url{...}`` as its address, character for character: LaTeX reads the
    argument verbatim, so its ``~`` is the tilde of ``/~user`` (pylatexenc made
    it a space and broke the link) and ``\\%``, ``\\_`` are the characters escaped."""
    args = node.nodeargd.argnlist if node.nodeargd else []
    if not args or args[-1] is None:
        return ""
    written = args[-1].latex_verbatim().strip()
    if written.startswith("{") and written.endswith("}"):
        written = written[1:-1].strip()
    return re.sub(r"\\([%#&_~$])", r"\1", written)


def _combining(mark: str):
    def accent(node, l2tobj) -> str:
        return _arg_text(node, l2tobj, 0) + mark

    return accent


def _accent(mark: str):
    """An accent (``\\bar``, ``\\hat``, ``\\"``...) on each letter of its argument, set over the
    marks the letter has already: pylatexenc added it to every character, marks too, so
    ``\\bar{\\bar{x}}`` read "x̅̅̅" and ``\\hat{\\tilde{x}}`` "x̂̃̂" (the tilde under the hat)."""

    def accent(node, l2tobj) -> str:
        args = node.nodeargd.argnlist if node.nodeargd else []
        if not args or args[0] is None:  # ``$\\Tilde$``, ``C:\\Check\\x``: as written, never a lone mark
            return "\\" + node.macroname
        text = l2tobj.nodelist_to_text([args[0]]).strip()
        letters: list[str] = []
        for char in text:
            if letters and unicodedata.combining(char):
                letters[-1] += char
            else:
                letters.append({"ı": "i", "ȷ": "j"}.get(char, char))
        return unicodedata.normalize("NFC", "".join(letter + mark for letter in letters))

    return accent


#: The upgreek package's letters, ``\\upmu`` and the rest, as their Greek letter.
_UPRIGHT_GREEK = dict(zip(
    ("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi rho sigma tau "
     "upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega").split(),
    "αβγδεεζηθϑικλμνξπρστυφφχψωΓΔΘΛΞΠΣΥΦΨΩ",
    strict=True,
))


@functools.cache
def _converter() -> tuple[latex2text.LatexNodes2Text, latexwalker.LatexContextDb]:
    """pylatexenc, set up on the first text with LaTeX in it (imported then:
    a run whose papers have none does without its 20 ms of import)."""
    from pylatexenc import latex2text, latexwalker
    from pylatexenc.macrospec import MacroSpec

    # Its tolerant parser logs every skipped error at INFO, and a macro without its
    # arguments (``a \\underline b``) at WARNING: noise on the CLI's stderr.
    logging.getLogger("pylatexenc").setLevel(logging.ERROR)
    walker_db = latexwalker.get_default_latex_context_db()
    walker_db.add_context_category(
        "paper-digest",
        prepend=True,
        macros=[MacroSpec(name, "{") for name in (
            "widetilde", "widehat", "widebar", "overline", "mathscr", "mathfrak", "texttt", "textsf", "textsl", "textsc",
            "textup", "textmd", "mbox", "hbox", "mathnormal",
        )]
        + [MacroSpec("url", "{"), MacroSpec("href", "{{"), MacroSpec("operatorname", "*{")]
        + [MacroSpec(name, "{{") for name in ("tfrac", "dfrac", "nicefrac", "sfrac", "binom", "tbinom", "dbinom")]
        + [MacroSpec("textsuperscript", "{"), MacroSpec("textsubscript", "{")]
        + [MacroSpec(name, "[{") for name in ("xrightarrow", "xleftarrow")]
        + [MacroSpec(name, "{") for name in ("mathring", "overrightarrow", "braket", "color", "thanks")]
        + [MacroSpec(name, "{{") for name in ("overset", "stackrel", "underset")]
        + [MacroSpec(name, "{") for name in ("pmod", "pod", "phantom", "hphantom", "vphantom", "tag")]
        + [MacroSpec(name, "{") for name in (*_CAPITAL_ACCENTS, "norm", "abs")]
        + [MacroSpec("ang", "[{")],
    )
    from pylatexenc.latex2text._defaultspecs import unicode_accents_list

    text_db = latex2text.get_default_latex_context_db()
    spec = latex2text.MacroTextSpec
    text_db.add_context_category(
        "paper-digest",
        prepend=True,
        macros=[
            # The letters readers expect (pylatexenc's \epsilon is the lunate ϵ).
            spec("LaTeX", "LaTeX"),
            spec("TeX", "TeX"),
            spec("epsilon", "ε"),
            # upright Greek (upgreek, as units write it: "2\\,\\upmu m"): it was dropped ("2m")
            *(spec("up" + name, letter) for name, letter in _UPRIGHT_GREEK.items()),
            spec("varepsilon", "ε"),
            spec("phi", "φ"),
            spec("|", "‖"),
            spec("lVert", "‖"),
            spec("rVert", "‖"),
            spec("lvert", "|"),
            spec("rvert", "|"),
            spec("sqrt", simplify_repl=_sqrt),
            spec("frac", simplify_repl=_frac),
            spec("dfrac", simplify_repl=_frac),
            spec("tfrac", simplify_repl=_frac),
            spec("nicefrac", simplify_repl=_frac),  # nicefrac's and xfrac's slanted ½: "1/2" was its digits
            spec("sfrac", simplify_repl=_frac),
            *(spec(name, simplify_repl=_accent(mark)) for name, mark in unicode_accents_list),
            # amsmath's accents for capitals (``\\Tilde{O}(n)``): the letter lost its accent ("O(n)")
            *(spec(name, simplify_repl=_accent(dict(unicode_accents_list)[small]))
              for name, small in _CAPITAL_ACCENTS.items()),
            # physics' norm and absolute value, which papers also define for themselves: "‖x‖", not "x"
            spec("norm", simplify_repl=_between("‖")),
            spec("abs", simplify_repl=_between("|")),
            spec("eps", "ε"),  # a paper's own short name for \\epsilon (it was left as written, "\\eps")
            spec("widetilde", simplify_repl=_combining("\u0303")),
            spec("widehat", simplify_repl=_combining("\u0302")),
            spec("overline", simplify_repl=_combining("\u0305")),
            # Script and Fraktur letters are other symbols: ℒ (a loss), 𝔤 (a Lie algebra)
            *(spec(name, simplify_repl=_styled_letters) for name in _LETTERS_OF),
            # Bold, upright... alphabets: the letter reads the same (𝐱 is missing from some fonts).
            *(spec(name, simplify_repl=_plain) for name in (
                "mathbf", "mathrm", "mathit", "mathsf", "mathtt",
                "boldsymbol", "bm", "operatorname", "text", "textrm", "textnormal",
                # in math (outside it _unwrap_styles has taken them off already)
                "texttt", "textsf", "textsl", "textsc", "textup", "textmd", "mbox", "hbox", "mathnormal",
            )),
            spec("href", simplify_repl=_href),
            spec("url", simplify_repl=_url),
            # physics' one-argument form, \braket{a|b}: pylatexenc's takes two ("⟨%s|%s⟩a|b")
            spec("braket", simplify_repl=lambda node, l2tobj: f"⟨{_arg_text(node, l2tobj, 0)}⟩"),
            spec("overset", simplify_repl=_stacked(True)),
            spec("stackrel", simplify_repl=_stacked(True)),
            spec("underset", simplify_repl=_stacked(False)),
            spec("binom", simplify_repl=_binom),
            spec("tbinom", simplify_repl=_binom),
            spec("dbinom", simplify_repl=_binom),
            spec("textsuperscript", simplify_repl=_script(True)),
            spec("textsubscript", simplify_repl=_script(False)),
            # symbols pylatexenc has no text for
            spec("gets", "←"),
            spec("colon", ": "),
            spec("textgreater", ">"),
            spec("textless", "<"),
            spec("ddagger", "‡"),
            spec("S", "§"),
            spec("P", "¶"),
            spec("lq", "‘"),  # plain TeX's quotes: \lq x\rq stayed as written
            spec("rq", "’"),
            spec("pounds", "£"),
            spec("textsterling", "£"),
            spec("euro", "€"),
            spec("yen", "¥"),
            spec("textyen", "¥"),
            # layout that means a space, or nothing, in one paragraph of text
            *(spec(name, " ") for name in ("newline", "linebreak", "par", "smallskip", "medskip", "bigskip", "hfill")),
            spec("noindent", ""),
            # a size, a colour, a note to the authors' names: nothing in one paragraph of text
            *(spec(name, "") for name in (
                "tiny", "scriptsize", "footnotesize", "small", "normalsize", "large", "Large", "LARGE", "huge", "Huge",
                "color", "thanks", "xspace", "limits", "nolimits", "protect",
            )),
            # space kept for what is not shown, and an equation's number: nothing on one line ("\\phantom{x}y" read "xy")
            *(spec(name, "") for name in ("phantom", "hphantom", "vphantom", "tag")),
            spec("leadsto", "⇝"),
            # big operators as such (pylatexenc wrote \bigoplus as the binary ⊕, and "h, ⊕ᵤ" lost its space)
            spec("bigoplus", "⨁"),
            spec("bigotimes", "⨂"),
            spec("bigodot", "⨀"),
            spec("biguplus", "⨄"),
            spec("imath", "ı"),
            spec("jmath", "ȷ"),
            # modular arithmetic (pylatexenc dropped the word: "a ≡ b p", "x 2")
            spec("bmod", " mod "),
            spec("mod", " mod "),
            spec("pmod", simplify_repl=lambda node, l2tobj: f" (mod {_arg_text(node, l2tobj, 0).strip()})"),
            spec("pod", simplify_repl=lambda node, l2tobj: f" ({_arg_text(node, l2tobj, 0).strip()})"),
            spec("copyright", "©"),
            spec("textcopyright", "©"),
            spec("ne", "≠"),
            spec("coloneqq", "≔"),
            spec("eqqcolon", "≕"),
            spec("neg", "¬"),
            spec("lnot", "¬"),
            spec("land", "∧"),
            spec("lor", "∨"),
            spec("implies", "⟹"),
            spec("impliedby", "⟸"),
            spec("iff", "⟺"),
            spec("bot", "⊥"),
            spec("models", "⊨"),
            spec("triangle", "△"),
            spec("Re", "ℜ"),
            spec("Im", "ℑ"),
            spec("checkmark", "✓"),
            # gensymb's symbols, and siunitx's angle: "rotated by 90$\\degree$" read "rotated by 90"
            spec("degree", "°"),
            spec("celsius", "°C"),
            spec("ohm", "Ω"),
            spec("micro", "µ"),
            spec("perthousand", "‰"),
            spec("ang", simplify_repl=_angle),
            spec("xrightarrow", simplify_repl=_extensible_arrow("→")),
            spec("xleftarrow", simplify_repl=_extensible_arrow("←")),
            spec("mathring", simplify_repl=_combining("\u030a")),
            spec("overrightarrow", simplify_repl=_combining("\u20d7")),
            # operator names LaTeX sets upright (pylatexenc drops them), and the
            # ones papers define as such
            *(spec(name, name) for name in (
                "det", "arg", "deg", "dim", "ker", "hom", "Pr", "gcd", "lcm", "sgn", "sign", "tr", "Tr",
                "diag", "rank", "erf", "argmin", "argmax", "Var", "Cov", "poly", "polylog", "softmax",
                "cot", "sec", "csc", "coth", "lg", "KL",
            )),
            # amsmath's limits whose names are two words
            spec("injlim", "inj lim"),
            spec("projlim", "proj lim"),
            spec("varliminf", "lim inf"),
            spec("varlimsup", "lim sup"),
            # more symbols pylatexenc has no text for (an unknown macro now shows as written)
            *(spec(name, symbol) for name, symbol in _SYMBOLS.items()),
            spec("widebar", simplify_repl=_combining("\u0305")),
            # sizes, styles and spacing of a formula: nothing on one line of text
            *(spec(name, "") for name in _MATH_LAYOUT),
        ],
    )
    text_db.set_unknown_macro_spec(spec("", simplify_repl=_unknown_macro))
    return latex2text.LatexNodes2Text(
        latex_context=text_db, math_mode="text", strict_latex_spaces="based-on-source", keep_braced_groups=False
    ), walker_db


#: Math symbols pylatexenc does not know (it showed nothing for them).
_SYMBOLS = {
    "vcentcolon": ":", "coloneq": "≔", "Finv": "Ⅎ", "Game": "⅁", "Box": "□", "Diamond": "◇", "bigstar": "★",
    "varpropto": "∝", "shortmid": "∣", "Join": "⨝", "bigsqcup": "⨆", "lhd": "◁", "rhd": "▷", "unlhd": "⊴",
    "unrhd": "⊵", "lll": "⋘", "ggg": "⋙", "owns": "∋", "restriction": "↾", "dashrightarrow": "⇢", "ddag": "‡",
    "cdotp": "·", "centerdot": "·", "ldotp": ".", "llbracket": "⟦", "rrbracket": "⟧",
    "vDash": "⊨", "nequiv": "≢", "thicksim": "∼", "thickapprox": "≈", "mapsfrom": "↤", "Bbbk": "𝕜",
    "textbar": "|", "varsubsetneq": "⊊", "eqsim": "≂", "oiint": "∯", "iiiint": "⨌", "idotsint": "∫⋯∫",
    "clubsuit": "♣",
}
#: amsmath's accents for capital letters, and the accent each is.
_CAPITAL_ACCENTS = {name.capitalize(): name for name in (
    "tilde", "hat", "bar", "vec", "dot", "ddot", "check", "acute", "grave", "breve")}
#: Macros of a formula's layout (sizes of delimiters, styles, struts, spacing,
#: numbering): the text shows nothing for them.
_MATH_LAYOUT = (
    "displaystyle", "textstyle", "scriptstyle", "scriptscriptstyle", "nonumber", "notag", "mathop", "mathrel",
    "mathbin", "mathord", "mathopen", "mathclose", "mathpunct", "mathinner", "mathstrut", "strut", "relax",
    "allowbreak", "nobreak", "rm", "cal", "bf", "it", "sf", "tt", "mit", "displaylimits", "left", "right",
    "middle", "boldmath", "unboldmath", "centering", "hline", "cr", "kern", "mkern", "mskip", "hskip",
    *(size + end for size in ("big", "Big", "bigg", "Bigg") for end in ("", "l", "r", "m")),
)


def _unknown_macro(node, l2tobj) -> str:
    """A macro neither pylatexenc nor this module knows.  Before a group it is
    a style (``\\mathbold{W}``, ``\\pmb{x}``): the group shows (any other's group
    has shown braces by now: :func:`_unknown_macros_kept`);
    otherwise it is shown as written (``$\\mymethod$``, ``$a \\foo b$``):
    pylatexenc showed nothing, and the formula lost a word or a symbol."""
    source = node.parsing_state.s
    rest = source[node.pos + node.len:].lstrip()
    if not node.macroname.isalpha() or rest.startswith("{") and not rest.startswith("{}"):
        return ""  # or a control symbol TeX typesets as nothing: "i.e.\\@", "\\/"
    return "\\" + node.macroname + (" " if rest[:1].isalnum() else "")


def _between(bar: str):
    """``\\norm{x}`` as "‖x‖" (``bar`` on both sides); without its argument, or with
    an empty one (``\\norm{}``, ``\\abs{ }``), as written: never an empty "‖‖"."""

    def between(node, l2tobj) -> str:
        text = _arg_text(node, l2tobj, 0).strip()
        return f"{bar}{text}{bar}" if text else "\\" + node.macroname

    return between


def _angle(node, l2tobj) -> str:
    """siunitx's ``\\ang{90}`` as "90°", and ``\\ang{1;2;3}`` (degrees; minutes; seconds) as "1°2′3″"."""
    parts = [p.strip() for p in _arg_text(node, l2tobj, 1).split(";")]
    return "".join(p + mark for p, mark in zip(parts, "°′″", strict=False) if p)


@functools.cache
def _failures() -> tuple[type[Exception], ...]:
    """What pylatexenc raises on LaTeX it cannot read (RecursionError: braces
    nested thousands deep, as a hostile feed may send)."""
    from pylatexenc.latexwalker import LatexWalkerError

    return (LatexWalkerError, IndexError, KeyError, ValueError, AttributeError, TypeError, RecursionError)


@functools.lru_cache(maxsize=65536)
def _to_text(latex: str) -> str:
    """pylatexenc's text for one LaTeX snippet (cached: ``$\\epsilon$`` recurs in many abstracts)."""
    from pylatexenc.latexwalker import LatexWalker

    l2t, walker_db = _converter()
    walker = LatexWalker(latex, latex_context=walker_db, tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes()
    text = l2t.nodelist_to_text(nodes)
    if "%" in text and ("%s" in text or "%(" in text) and "%" not in latex.replace("\\%", ""):
        # a macro without its arguments (``a \\nicefrac b``) keeps pylatexenc's template: not shown
        raise ValueError(f"a macro's arguments are missing in {latex!r}")
    return _fractions_placed(text)


# --------------------------------------------------------------------------- math


def _braced(text: str, start: int) -> int | None:
    """End (exclusive) of the brace group opening at ``start``, or None if unbalanced."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif text[i] == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _arguments(text: str, at: int, count: int) -> tuple[list[str], int] | None:
    """A macro's ``count`` braced arguments from ``at`` on (TeX skips the white
    space before each), and where the last ends; None when one is missing or
    never closed (a text cut short): the macro is then left as written."""
    args = []
    for _ in range(count):
        while at < len(text) and text[at].isspace():
            at += 1
        close = _braced(text, at) if text.startswith("{", at) else None
        if close is None:
            return None
        args.append(text[at + 1:close - 1])
        at = close
    return args, at


_SCRIPT_ATOM = lazy(r"\s*(\\[a-zA-Z]+|\\.|[^\s{}\\])")


def _scripts(math: str, lost: bool = False) -> str:
    """``x^2`` -> ``x²``, ``\\ell_1`` -> ``ℓ₁``, ``n^{3/2}`` -> ``n^(3/2)``:
    super- and subscripts converted before the rest (pylatexenc keeps the
    ``^`` and drops the braces, which makes ``n^{3/2}`` read as ``n^3/2``)."""
    out, pos = [], 0
    while True:
        i = min((j for j in (math.find("^", pos), math.find("_", pos)) if j >= 0), default=-1)
        if i < 0:
            out.append(math[pos:])
            return "".join(out)
        if i > 0 and math[i - 1] == "\\":  # \_ or \^ is a character
            out.append(math[pos:i + 1])
            pos = i + 1
            continue
        out.append(math[pos:i])
        if re.search(r"\\[a-zA-Z]+$", out[-1]):
            out.append("{}")  # so the script is not read as part of the macro's name (\sum{}ᵢ)
        k = i + 1
        while k < len(math) and math[k] == " ":
            k += 1
        if k < len(math) and math[k] == "{":
            end = _braced(math, k)
            if end is None:
                out.append(math[i:])
                return "".join(out)
            inner = math[k + 1:end - 1]
        else:
            m = _SCRIPT_ATOM.match(math, k)
            if not m:
                out.append(math[i:])
                return "".join(out)
            end, inner = m.end(), m.group(1)
        text = " ".join(_to_text(_scripts(inner, lost)).split())
        table = SUPERSCRIPT if math[i] == "^" else SUBSCRIPT
        mapped = text.translate(table)
        if text and all(ch != mapped_ch for ch, mapped_ch in zip(text, mapped) if not ch.isspace()) and " " not in text:
            out.append(mapped)
        elif text in ("'", "′", "″", "*", "⋆", "∗", "†", "‡", "⊤", "⊺", "⊥", "∘", "○") and math[i] == "^":
            out.append({"⊤": "ᵀ", "⊺": "ᵀ", "'": "′", "∘": "°", "○": "°"}.get(text, text))
        else:
            # one character bare, unless a letter follows it: "k_BT_c" read as k with the script BT
            # (not in an export's lost math, whose "ε_DP" lost the braces of ε_{DP})
            glued = len(text) == 1 and not lost and (
                math[end:end + 1].isalnum() or math[end:end + 1] == "\\" and math[end + 1:end + 2].isalpha())
            out.append(math[i] + (text if len(text) == 1 and not glued else f"({text})"))
        pos = end


#: Operator names that read as words: ``\sqrt{d}\log n`` must not become "√dlog n".
_OPERATOR_NAMES = "log|ln|exp|sin|cos|tan|max|min|sup|inf|lim|det|arg|dim|ker|Pr|deg"
_OPERATOR = lazy(rf"(?<=[\w}})])\\({_OPERATOR_NAMES})(?![a-zA-Z])")

#: ... and after them before a macro or group: ``\log\frac{1}{\epsilon}`` is "log 1/ε",
#: ``\sin\theta`` "sin θ", never "log1/ε" or "sinθ"; ``\log\left(`` and ``\max\{`` stay tight.
_OPERATOR_AFTER = lazy(
    rf"(\\(?:{_OPERATOR_NAMES}))(?=\s*(?:\{{|\\(?!left|right|[bB]igg?[lr]?(?![a-zA-Z]))[a-zA-Z]))"
)

#: ... and in text, its argument's braces go: ``O(n\log{n})`` is "O(n log n)".
_OPERATOR_GROUP = lazy(rf"(\\(?:{_OPERATOR_NAMES}))\{{([^{{}}]*)\}}")


#: A space between two macros (``\le \epsilon``, ``p \| \pi``), or after a group or a comma before a
#: macro (``\mathbf{W} \in``, ``(h, \bigoplus``), which pylatexenc would drop.
_MACRO_SPACE = lazy(r"(\\[a-zA-Z]+|\\\||\\?\}|,)\s+(?=\\[a-zA-Z])")


#: The innermost multi-line environment of display math (one without another inside it).
_ENVIRONMENT = lazy(
    r"\\begin\{(?P<env>cases|dcases|rcases|aligned|alignedat|align\*?|alignat\*?|split|gathered|gather\*?"
    r"|eqnarray\*?|multline\*?|flalign\*?|[pbBvV]?matrix|smallmatrix|array)\}(?:\{[\dlcr| ]+\})?"
    r"(?P<body>(?:(?!\\begin\{).)*?)\\end\{(?P=env)\}",
    re.DOTALL,
)
_ROW_BREAK = lazy(r"\\\\(?:\[[^\]]*\])?")
_CELL_BREAK = lazy(r"(?<!\\)&")
#: What lays rows out and means nothing on one line.
_ROW_LAYOUT = lazy(r"\\(?:hline|nonumber|notag|displaystyle|label\{[^{}]*\})(?![a-zA-Z])")
#: A row that goes on from the one before: ``f(x) &= g(x) \\ &\le h(x)``.
_CONTINUED_ROW = lazy(r"\s*(?:[=<>]|\\(?:le|ge|leq|geq|lesssim|gtrsim|approx|sim|equiv|ne|neq|to|in)(?![a-zA-Z]))")


#: A matrix environment's delimiters, by its first letter (``matrix`` and ``array`` have none of their own).
_MATRIX_DELIMITERS = {"p": ("(", ")"), "b": ("[", "]"), "B": (r"\{", r"\}"), "v": ("|", "|"), "V": (r"\|", r"\|")}


def _environments(source: str) -> str:
    """Multi-line math on one line, as LaTeX still to convert: ``cases`` as
    ``{a, if x > 0; b, otherwise}``, a matrix as ``[a, b; c, d]``, aligned equations as ``a = b = c``
    (a row that starts with a relation goes on from the one before) or
    ``a = b, c = d``.  pylatexenc ran the rows and cells together ("f(x)=
    1 x>0 0 otherwise")."""

    def one_line(m: re.Match) -> str:
        rows = [_ROW_LAYOUT.sub(" ", row).strip() for row in _ROW_BREAK.split(m["body"])]
        rows = [row for row in rows if row]
        if m["env"].endswith("cases"):
            cells = [[c.strip().rstrip(",.;").strip() for c in _CELL_BREAK.split(row)] for row in rows]
            return r"\{" + "; ".join(", ".join(c for c in row if c) for row in cells) + r"\}"
        if m["env"].endswith("matrix") or m["env"] == "array":  # "[a, b; c, d]", its delimiters its own
            opened, closed = _MATRIX_DELIMITERS.get(m["env"][0], ("", ""))
            body = "; ".join(", ".join(c.strip() for c in _CELL_BREAK.split(row)) for row in rows)
            return f"{opened}{body}{closed}"
        out = ""
        for row in rows:
            row = " ".join(_CELL_BREAK.sub(" ", row).split()).rstrip(",.;")
            out += (" " if _CONTINUED_ROW.match(row) else ", ") + row if out else row
        return out

    while "\\begin{" in source:
        source, changed = _ENVIRONMENT.subn(one_line, source)
        if not changed:
            break
    return source


#: Placement of a big operator's limits (nothing on one line), and the space after an
#: opening norm bar (``\\lVert x\\rVert`` read "‖ x‖").
_LIMITS = lazy(r"\\(?:no)?limits(?![a-zA-Z])")
_OPEN_BAR_SPACE = lazy(r"(\\l[vV]ert)\s+")
#: A delimiter that shows nothing, sized to match its partner: ``\\left.``, ``\\bigr.``.
_NULL_DELIMITER = lazy(r"\\(?:left|right|middle|[bB]igg?[lrm]?)\s*\.")


#: A big operator's limits stacked in rows: ``\\sum_{\\substack{i<n\\\\j<m}}``.
_SUBSTACK = lazy(r"\\substack\{([^{}]*)\}")


def _math(source: str, lost: bool = False) -> str:
    source = _environments(source) if "\\begin{" in source else source
    if "\\substack" in source:  # its rows on one line, as a list: "∑_(i<n, j<m)", not "∑_(i<n j<m)"
        source = _SUBSTACK.sub(lambda m: ", ".join(r.strip() for r in _ROW_BREAK.split(m[1])), source)
    if "\\l" in source or "\\no" in source:
        source = _OPEN_BAR_SPACE.sub(r"\1{}", _LIMITS.sub("", source))
    if "." in source and "\\" in source:  # the null delimiter: "\\left. f \\right|_{x=0}" is "f |ₓ₌₀", never ". f"
        source = _NULL_DELIMITER.sub("", source)
    if "'" in source:  # in math an apostrophe is a prime: "k(x, x′)", "f″" (pylatexenc made '' a closing quote)
        source = _PRIME.sub(lambda m: "″" if m[1] else "′", source)
    if "\\" in source:  # a paper's own blackboard letters: \P(X > t) is ℙ(X > t), not "(X > t)" or "¶(X > t)"
        source = _BLACKBOARD_MACRO.sub(r"\1\\mathbb{\2}", source)
        if "\\c" in source:  # ... and script ones: \cL is ℒ, \cO(n) is O(n), not "\cL" as written
            source = _SCRIPT_MACRO.sub(r"\1\\mathcal{\2}", source)
        if "\\math" in source:  # bbm's and dsfont's blackboard letters; the indicator 𝟙 (it read as a plain 1)
            source = _INDICATOR.sub("𝟙", _BLACKBOARD_FONT.sub(r"\\mathbb", source))
    if "brace" in source:
        source = _braces_unlabelled(source)
    if "\\choose" in source or "\\over" in source:
        source = _infix_fractions(source)
    if "{" in source and "\\" in source:
        source = _unknown_macros_kept(source)
    prepared = _MACRO_SPACE.sub(r"\1\\ ", _OPERATOR_AFTER.sub(r"\1\\ ", _OPERATOR.sub(r"\\ \\\1", _escape_comments(source))))
    try:
        text = _to_text(_scripts(prepared, lost))
    except _failures():
        text = source  # left readable: the source without its $ delimiters
    # NFC: an accent on a letter as the one character fonts draw best ("Õ", not "O" + U+0303)
    text = _INNER_SPACE.sub("", " ".join(text.split()))
    if text[:2] in ("± ", "∓ "):  # a sign before its number ("±0.1"), not a sum's operator
        text = text[0] + text[2:]
    return unicodedata.normalize("NFC", _operator_spacing(_norm_bars_tight(text) if "‖ " in text or " ‖" in text else text))


#: A macro before a group, in math: ``\\myloss{x}``, ``\\mathbold{W}``.
_MACRO_GROUP = lazy(r"(?<!\\)((?:\\\\)*)\\([a-zA-Z]+)\s*(?=\{)")
#: Names of unknown macros that style their group (``\\mathbold{W}``, ``\\pmb{x}``, physics'
#: ``\\vb{v}``, papers' ``\\vect{x}``, ``\\mat{A}``): the group shows, as a bold or upright letter
#: is shown as the plain one.
_STYLE_NAME = lazy(r"(?:math|text|bold)[a-zA-Z]*|bm[a-z]*|bf[a-z]*|pmb|bs|bsym|mbf|bbold|vb|vbf|vect|mat|matr")


@functools.lru_cache(maxsize=4096)
def _unknown_not_style(name: str) -> bool:
    """Whether ``\\name`` is a macro the converter does not know and no style (cached: ``\\frac`` recurs)."""
    db = _converter()[0].latex_context
    return (name not in ("begin", "end") and _STYLE_NAME.fullmatch(name) is None
            and db.get_macro_spec(name) is db.unknown_macro_spec)


def _unknown_macros_kept(source: str) -> str:
    """An unknown macro's group in braces that show (``\\myloss\\{x\\}``), so
    ``$\\myloss{x}$`` reads "\\myloss{x}" as written: taken as a style, it read "x",
    the macro's name, and what the formula says, lost.  A style's group
    (:data:`_STYLE_NAME`) and an empty one (``\\ours{}``) are left to the converter."""
    out, pos = [], 0
    for m in _MACRO_GROUP.finditer(source):
        if m.start() < pos or not _unknown_not_style(m[2]):
            continue
        end = _braced(source, m.end())
        if end is None or not source[m.end() + 1:end - 1].strip():
            continue
        out += [source[pos:m.end()], "\\{", _unknown_macros_kept(source[m.end() + 1:end - 1]), "\\}"]
        pos = end
        while source.startswith("{", pos) and (end := _braced(source, pos)) is not None:  # its next arguments
            out += ["\\{", _unknown_macros_kept(source[pos + 1:end - 1]), "\\}"]
            pos = end
    if not pos:
        return source
    out.append(source[pos:])
    return "".join(out)


#: The blackboard fonts of the bbm and dsfont packages (``\\mathbbm{1}``, ``\\mathds{R}``): pylatexenc knows only ``\\mathbb``.
_BLACKBOARD_FONT = lazy(r"\\(?:mathbbm|mathds|mathbbold)(?![a-zA-Z])")
#: The indicator function, a blackboard one (pylatexenc has no blackboard digits).
_INDICATOR = lazy(r"\\mathbb\s*(?:\{\s*1\s*\}|1(?!\d))")

#: Letters papers define as blackboard bold for themselves (``\\newcommand{\\E}{\\mathbb{E}}``), used in math.
#: (Not after an escaped backslash, a line break: ``a \\\\P b`` is a break before "P b".)
_BLACKBOARD_MACRO = lazy(r"(?<!\\)((?:\\\\)*)\\([PERNZQC])(?![a-zA-Z])")
#: ... and as script ones (``\\newcommand{\\cL}{\\mathcal{L}}``), \\cA to \\cZ.
_SCRIPT_MACRO = lazy(r"(?<!\\)((?:\\\\)*)\\c([A-Z])(?![a-zA-Z])")


#: A brace set under or over a part of a formula, with its label as the brace's script.
_LABELLED_BRACE = lazy(r"\\(?:under|over)brace\s*(?=\{)")


#: A brace's label that is words, not a symbol.
_WORDY_LABEL = lazy(r"\\text|\\mathrm|\s|[A-Za-z]{3}")


def _braces_unlabelled(source: str) -> str:
    """``\\underbrace{X}_{\\text{data fit}}`` as ``X``: on one line a label in words has
    nowhere to go, and as X's script it read "‖f‖²ˢᵐᵒᵒᵗʰⁿᵉˢˢ"."""
    out, pos = [], 0
    for m in _LABELLED_BRACE.finditer(source):
        if m.start() < pos:
            continue
        end = _braced(source, m.end())
        if end is None:
            break
        out += [source[pos:m.start()], source[m.end():end]]
        pos = end
        script = re.match(r"\s*[_^]\s*", source[pos:])
        if script:
            label = pos + script.end()
            close = _braced(source, label) if source.startswith("{", label) else None
            if close is not None and _WORDY_LABEL.search(source, label, close):
                pos = close  # a short label (a symbol: "a+bₙ") stays the script it reads as
    out.append(source[pos:])
    return "".join(out)


#: Plain TeX's infix fractions, in a group or a whole formula: ``{n \\choose k}``, ``{a \\over b}``.
_INFIX = lazy(r"\\(choose|over)(?![a-zA-Z])")


def _infix_fractions(source: str) -> str:
    """``{n \\choose k}`` as ``\\binom{n}{k}`` and ``{a \\over b}`` as ``\\frac{a}{b}``
    (pylatexenc dropped the word: "n k"), innermost group first."""
    out, pos, i = [], 0, 0
    while i < len(source):
        if source[i] == "{" and (i == 0 or source[i - 1] != "\\"):
            end = _braced(source, i)
            if end is None:
                break
            out += [source[pos:i], "{" + _infix_fractions(source[i + 1:end - 1]) + "}"]
            pos = i = end
            continue
        i += 1
    out.append(source[pos:])
    joined = "".join(out)
    return _infix_fraction(joined) or joined


def _infix_fraction(group: str) -> str | None:
    """The group as ``\\binom``/``\\frac`` when it holds ``\\choose``/``\\over`` outside
    its own groups (and not inside a set's ``\\{ \\}``), else None."""
    m = next((m for m in _INFIX.finditer(group) if _depth(group, m.start()) == 0), None)
    if m is None or group.count("\\{", 0, m.start()) != group.count("\\}", 0, m.start()):
        return None
    name = "binom" if m[1] == "choose" else "frac"
    return f"\\{name}{{{group[:m.start()].strip()}}}{{{group[m.end():].strip()}}}"


def _depth(text: str, at: int) -> int:
    """How many groups (unescaped braces) are open at ``at``."""
    depth = 0
    for i in range(at):
        if text[i] in "{}" and (i == 0 or text[i - 1] != "\\"):
            depth += 1 if text[i] == "{" else -1
    return depth


#: An apostrophe after a symbol in math (``x'``, ``f''``): the prime typesetting shows.
_PRIME = lazy(r"(?<=[\w)\]}′])'(')?")


def _minus_signs(math: str) -> str:
    """A hyphen in converted ``$...$`` math as the minus sign typesetting shows
    (``x_t - \\eta g`` "xₜ − ηg", ``(1-1/e)``), unless it joins two words
    (``\\text{pre-trained}``), a name in capitals (``\\epsilon\\text{-DP}``) or a
    name and its number (``\\texttt{Llama-2}``, ``\\text{GPT-4o}``).  Not in an export's lost math, whose words
    run on into prose ('ell_infty-norm').  A formula that begins with one
    negates what follows (``-\\log\\sigma(x)`` "−log σ(x)"): no word precedes it."""
    if "-" not in math:
        return math
    if math.startswith("-") and math[1:2].isalpha():
        math = "−" + math[1:]
    return _MINUS.sub("−", math)


_MINUS = lazy(
    r"(?<![A-Za-z]{2})-(?![A-Za-z]{2})(?!$)|(?<=[A-Za-z]{2})-(?=[^A-Za-z\s])(?!\d+[A-Za-z]{0,2}\b)"
    r"|(?<=[^A-Za-z\s])-(?=[A-Za-z]{2})(?![A-Z]+\b)"
)


#: A relation or an operator with a space on one side only: the space a macro
#: name ends with (``M\\in \\mathbb{R}^{m\\times n}`` read "M∈ ℝ^(m× n)").
_RELATIONS = "∈∉⊆⊂⊇⊃≤≥≠≈≜≡∼≃≅∝→←↔⇒⇐⇔↦≪≫⊥≲≳≍≺≻∩∪∖"
#: (Not ``∼`` before a number, "about": ``$\\sim$10x``.)
#: (Nor one with its own script: ``x \\stackrel{iid}{\\sim} p`` is "x ∼ⁱⁱᵈ p".)
_SCRIPT_CHARS = "".join(chr(c) for c in (*SUPERSCRIPT.values(), *SUBSCRIPT.values()))
#: A norm or an absolute value with its scripts, ``‖x − y‖²``: one quantity, its bars its parentheses.
_NORM_GROUP = lazy(rf"‖[^‖]+‖[{_SCRIPT_CHARS}]*|\|[^|]+\|[{_SCRIPT_CHARS}]*")
_RELATION_ONE_SIDE = lazy(
    rf"(?<=[^\s(\[])([{_RELATIONS}]) (?=\S)|(?<=\S) ([{_RELATIONS}])(?=[^\s)\],.;:^_{_SCRIPT_CHARS}])(?!(?<=∼)\d)"
)
#: (Not a star before a relation: ``x^\\star \\in X`` is the point x⋆, "x⋆ ∈ X", not a product "x⋆∈ X".)
_OPERATOR_ONE_SIDE = lazy(
    rf"(?<=[^\s(\[])([×·⊗⊕∘⋆∗⊙]) (?=[^\s{_RELATIONS}=<>])|(?<=\S) ([×·⊗⊕∘⋆∗⊙])(?=[^\s)\],.;:])")


def _operator_spacing(text: str) -> str:
    """Spaces on both sides of a relation (``M ∈ ℝ``), none around a product
    (``m×n``), as typesetting shows them, when the source gave one side only;
    none after a prefix operator (``∇f``, ``¬p``)."""
    if not any(c in text for c in _RELATIONS + "×·⊗⊕∘⋆∗⊙∇∂¬∀∃"):
        return text
    text = _PREFIX_SPACE.sub(r"\1", text)
    text = _RELATION_ONE_SIDE.sub(lambda m: f" {m[1] or m[2]} ", text)
    text = _OPERATOR_ONE_SIDE.sub(lambda m: m[1] or m[2], text)
    return _outside_scripts(text, lambda part: _RELATION_TIGHT.sub(r" \1 ", part)) if _RELATION_TIGHT.search(text) else text


#: A relation written tight (``U\\in\\mathbb{R}^n``: nothing in the source could space it).
#: (Not one with its own script: ``\\stackrel{\\text{i.i.d.}}{\\sim}`` is "∼^(i.i.d.)", not "∼ ^(i.i.d.)".)
_RELATION_TIGHT = lazy(rf"(?<=[^\s(\[{{⟨|‖])([{_RELATIONS}])(?=[^\s)\]}},.;:⟩|‖^_{_SCRIPT_CHARS}])")
_SCRIPT_GROUP = lazy(r"[_^]\(")


def _outside_scripts(text: str, change) -> str:
    """``text`` with ``change`` made outside the scripts written out in
    parentheses (``𝔼_(x∼p)``): a script is set tight, with no space around
    its relations."""
    out, pos = [], 0
    while (m := _SCRIPT_GROUP.search(text, pos)) is not None:
        depth, end = 0, len(text)
        for i in range(m.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                end = i + 1
                break
        out += [change(text[pos:m.start()]), text[m.start():end]]
        pos = end
    out.append(change(text[pos:]))
    return "".join(out)


#: Spaces inside brackets that the source had and typesetting ignores: "( 1/2 )".
_INNER_SPACE = lazy(r"(?<=[(\[⟨⟦⌊⌈])\s+|\s+(?=[)\]⟩⟧⌋⌉])")
#: A norm's bars with what they enclose: each pair, in order.
_NORM = lazy(r"‖([^‖]*)‖")


def _norm_bars_tight(text: str) -> str:
    """No space just inside a norm's bars (``\\| y - f(x) \\|^2`` read "‖ y − f(x) ‖²"),
    when the bars pair up (an odd count, as in ``KL(p\\|q)``, is left as it is)."""
    if text.count("‖") % 2:
        return text
    return _NORM.sub(lambda m: f"‖{m[1].strip()}‖", text)


def _escape_comments(latex: str) -> str:
    """A bare ``%`` would make pylatexenc drop the rest as a comment."""
    return re.sub(r"(?<!\\)%", r"\\%", latex)


# --------------------------------------------------------------------------- text


#: Abbreviation macros papers define for themselves (``\\ie`` for "i.e.\\@\\xspace"),
#: left in abstracts as written: "(\\ie the minimum MSE denoiser)".
_ABBREVIATIONS = {"ie": "i.e.", "eg": "e.g.", "etal": "et al.", "wrt": "w.r.t.", "cf": "cf.", "vs": "vs.",
                  "etc": "etc.", "aka": "a.k.a.", "iid": "i.i.d.", "resp": "resp.", "Eg": "E.g.", "Ie": "I.e."}


#: Macros pylatexenc shows as a placeholder ("<cit.>", "(<ref>)", "< g r a p h i c s >" on
#: lines of its own) where :func:`_citations` could not read them (a citation never closed,
#: a text cut short): left as written, as LaTeX a reader knows, never a placeholder.
_PLACEHOLDERS = frozenset((
    "cite", "citep", "citet", "ref", "eqref", "autoref", "cref", "Cref", "pageref", "includegraphics",
))


#: Macros that take an argument only since papers' own definitions were read
#: (amsmath's ``\\Tilde{O}``, ``\\norm{x}``), and argument-less shorthands read
#: since then (``\\eps``, ``\\KL``): written otherwise, they are a Windows path's
#: folders (``C:\\Check\\Results``, ``C:\\eps\\file``), kept as written.
_ARGUMENT_TAKING = frozenset((*_CAPITAL_ACCENTS, "norm", "abs"))
_SHORTHANDS = frozenset(("eps", "cot", "sec", "csc", "coth", "lg", "KL", "injlim", "projlim", "varliminf", "varlimsup"))
#: A backslash and a letter: the next folder of a path.
_PATH_GOES_ON = lazy(r"\\[a-zA-Z]")


def _text_macro(m: re.Match) -> str:
    name = m.group("name")
    if name in _ABBREVIATIONS and m.group(0) == "\\" + name:
        return _ABBREVIATIONS[name]
    if name is not None:
        if name in _PLACEHOLDERS:
            return m.group(0)
        bare = m.group("macro") == "\\" + name
        if bare and (name in _ARGUMENT_TAKING
                     or name in _SHORTHANDS and _PATH_GOES_ON.match(m.string, m.end())):
            return m.group(0)
        db = _converter()[0].latex_context
        if db.get_macro_spec(name) is db.unknown_macro_spec:
            return m.group(0)  # not LaTeX we know: leave it as written
    try:
        text = _to_text(_escape_comments(m.group("macro")))
    except _failures():
        return m.group(0)
    return " " if text.isspace() else text



#: Font switches, which style the rest of their group: ``{\\em x}``, ``{\\bfseries x}``.
_SWITCHES = ("em|it|bf|sl|sc|tt|rm|sf|tiny|scriptsize|footnotesize|small|normalsize|large|Large|LARGE|huge|Huge"
             "|itshape|bfseries|slshape|scshape|upshape|mdseries|ttfamily|sffamily|rmfamily|normalfont")
#: Font styles whose typeset text is their argument, unwrapped before math is found;
#: a switch outside a group of its own (``\\bf Keywords:``) styles what follows, and shows nothing.
_STYLE = lazy(
    r"\\(?:emph|text(?:bf|it|sl|sc|tt|sf|rm|up|md|normal)|underline|uline|uwave|sout|st|mbox)\s*(?=\{)"
    rf"|(?<!\\)\{{\\(?:{_SWITCHES})(?![a-zA-Z])\s*"
    rf"|(?P<switch>\\(?:{_SWITCHES})(?![a-zA-Z])\s*)"
)


def _unwrap_styles(text: str) -> str:
    """``\\emph{A $k$-NN}`` and ``{\\em A $k$-NN}`` -> ``A $k$-NN`` outside math (a
    style macro inside math, ``$\\text{if } x$``, is left to the math conversion);
    a switch on its own is dropped (``\\bf Keywords:`` was left as written)."""
    if "\\" not in text:
        return text
    spans = [(start, end) for start, end, _ in _math_spans(text)]
    out, pos = [], 0
    for m in _STYLE.finditer(text):
        if m.start() < pos or any(start <= m.start() < end for start, end in spans):
            continue
        if m["switch"]:
            out.append(text[pos:m.start()])
            pos = m.end()
            continue
        brace = m.end() if m.group().startswith("\\") else m.start()
        end = _braced(text, brace)
        if end is None:
            continue
        inner = text[brace + 1:end - 1] if brace == m.end() else text[m.end():end - 1]
        out += [text[pos:m.start()], _unwrap_styles(inner)]
        pos = end
    out.append(text[pos:])
    return "".join(out)


#: A citation, with its optional arguments: ``~\\citep[see][Thm. 2]{a,b}``.
_CITE = lazy(
    r"(?P<tie>~)?\\(?P<name>[cC]ite(?:[pt]|alp|alt|author|year|yearpar|num)?|[pP]arencite|[tT]extcite|[aA]utocite"
    r"|footcite|fullcite|nocite)\*?"
    r"(?:\s*\[[^\]]*\])*\s*\{(?P<keys>[^{}]*)\}"
)
#: A cross-reference or label, with the space or tie before it.
_REF = lazy(r"(?P<tie>[ \t]*~|\s+)?(?P<paren>\()?\\(?P<kind>ref|eqref|autoref|cref|Cref|pageref|vref|label)"
                  r"\*?\{[^{}]*\}(?(paren)\))")


def _citations(text: str) -> str:
    """Citations as ``[key, key]``; labels dropped; a reference as "??", as LaTeX
    shows one it cannot resolve (its number is not in the abstract), so "Section
    ??, Eq. (??)" keeps its sentence where a dropped one left "in Section, we"."""
    if "\\" not in text:
        return text
    # Each pattern only where the words it needs are: _REF and _FOOTNOTE may
    # start with spaces, so they were tried at every character (0.1 ms a text).
    if "\\footnote" in text:
        text = _footnotes(text)
    if "cite" in text or "Cite" in text:  # (every command _CITE knows holds one)
        text = _CITE.sub(_citation, text)
    if "ref" in text or "\\label" in text:  # (every kind _REF knows but label holds "ref")
        text = _REF.sub(_reference, text)
    if "\\includegraphics" in text:
        text = _FIGURE.sub(_no_figure, text)
    return text


#: A figure's image with its options, and the spaces around it: ``Overview: \includegraphics[width=3cm]{fig.png}``.
_FIGURE = lazy(r"(?P<before>\s*~?)\\includegraphics\*?(?:\s*\[[^\]]*\])*\s*\{[^{}]*\}(?P<after>\s*)")


def _no_figure(m: re.Match) -> str:
    """Nothing where a figure was: its image is not in the abstract, and its file
    name and options ("\\includegraphics[width=3cm]{fig.png}") are no text a
    reader can use (pylatexenc set "< g r a p h i c s >" on lines of their own);
    one space where it stood between words, none at either end of the text."""
    inside = m.start() > 0 and m.end() < len(m.string)
    return " " if inside and m["before"] and m["after"] else ""


_FOOTNOTE = lazy(r"\s*\\footnote(?![a-zA-Z])\s*")


def _footnotes(text: str) -> str:
    """A footnote's text in parentheses where its mark was: "X (Code at
    https://...) for Y"; an abstract has no foot to put it at, and as it
    was, "X[Code at ...]" read as a citation glued to the word.  A
    ``\\footnote`` without its text (cut short) is dropped: pylatexenc
    raised on it, and the paper's source was lost with a traceback."""
    out, pos = [], 0
    for m in _FOOTNOTE.finditer(text):
        if m.start() < pos:
            continue
        found = _arguments(text, m.end(), 1)
        if found is None:
            out += [text[pos:m.start()], " " if m.end() < len(text) else ""]
            pos = m.end()
            continue
        note = found[0][0].strip()
        out += [text[pos:m.start()], f" ({note})" if note else ""]
        pos = found[1]
    out.append(text[pos:])
    return "".join(out)


def _reference(m: re.Match) -> str:
    if m.group("kind") == "label":
        return ""
    shown = "(??)" if m.group("paren") or m.group("kind") == "eqref" else "??"
    return (" " if m.group("tie") else "") + shown


def _citation(m: re.Match) -> str:
    if m["name"] == "nocite":  # a bibliography entry, nothing in the text
        return ""
    keys = ", ".join(k.strip() for k in m.group("keys").split(",") if k.strip())
    return (" " if m.group("tie") else "") + f"[{keys}]" if keys else ""


#: LaTeX quotes (``double'', `single') and an em dash between words (axioms---Sensitivity):
#: written by authors even where the rest of the LaTeX is gone (the Hugging Face text
#: exports drop backslashes and $), so they are converted whether or not other LaTeX is there.
_DOUBLE_QUOTES = lazy(r"``([^`\n]{1,300}?)(?:''|\")")  # some close with a plain "
_SINGLE_QUOTES = lazy(r"(?<![\w`])`([^`'\n]{1,100}?)'(?!\w)")
_EM_DASH = lazy(r"(?<=[\w”’)\]}])---(?=[\w“‘(\[\\])")
#: A thousands separator braced for its spacing in math, ``100{,}000``, with or without its ``$``.
_BRACED_COMMA = lazy(r"(?<=\d)\{,\}(?=\d)")


def _typography(text: str) -> str:
    if "`" in text:
        text = _DOUBLE_QUOTES.sub(r"“\1”", text)
        text = _SINGLE_QUOTES.sub(r"‘\1’", text)
    if "---" in text:
        text = _EM_DASH.sub("—", text)
    if "{,}" in text:
        text = _BRACED_COMMA.sub(",", text)
    return text


#: A citation whose ``\\cite{...}`` an export dropped, its key left after the tie: ``Sanghavi~jns13``.
_LOST_CITATION = lazy(r"(?<=[A-Za-z])~([a-z]+\d{2,4}[a-z]*)(?![\w~])")
#: Keys of a citation whose ``\\cite{...}`` and tie an export both dropped, as
#: Google Scholar's BibTeX names them (author, year, first word of the title):
#: ``M-matrices lauritzen2019maximum,slawski2015estimation and``.
_BARE_CITATION = lazy(
    r"(?<![\w/.@\[-])([a-z]{2,}(?:19|20)\d\d[a-z]{3,}(?:, ?[a-z]{2,}(?:19|20)\d\d[a-z]{3,})*)(?![\w/@\]-])")
#: A dash between ties, ``ones~--~by``.
_TIED_DASH = lazy(r"~(---?)~")


def _lost_ties(text: str) -> str:
    """Ties (``models~(DMs)``, ``intervals.~Here``) as the spaces they are,
    in text an export took the rest of the LaTeX from; a citation's key
    left after one in brackets ("Sanghavi [jns13]"), as :func:`_citation`
    shows a citation; a URL's ``/~user`` and "(~1000x)" stay.  Shown only
    (:func:`lost_math_shown`): at reading, the changed text moved a ranking score."""
    text = _TIED_DASH.sub(lambda m: " — " if m[1] == "---" else " – ", text)
    text = _LOST_CITATION.sub(r" [\1]", text)
    return _TIE.sub(" ", text)


#: Greek letters a lost script marks as math: ``pi_0``, ``A_mu`` (not ``eta_`` of a ``beta_`` word).
_SCRIPTED_GREEK = "alpha|beta|gamma|delta|epsilon|theta|kappa|lambda|mu|nu|xi|pi|rho|sigma|tau|phi|psi|omega"

#: A macro's name that no word of prose holds, after which a short name glued to it ends:
#: 'etanabla', 'xinmathcal'.
_LONG_MACRO = r"(?:math(?:bb|cal|bf|rm|frak)|varepsilon|epsilon|nabla|infty|partial|frac\{|sqrt\{)"
#: Pieces one of which a text holds where :data:`_LONG_MACRO` matches.
_LONG_MACRO_NAMES = ("math", "epsilon", "nabla", "infty", "partial", "frac{", "sqrt{")
#: In text without a backslash or a dollar sign: what only math that lost them
#: has (a Hugging Face text export drops both: '$\\ell_2$' arrives as 'ell_2').
#: Not '^(': :func:`to_unicode` writes it for a script with no Unicode form.  Each
#: kind with the pieces one of which it cannot match without (see :func:`_has_lost_mark`).
_LOST_MARKS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("^",), r"\^(?![(\s])"),
    (("_{",), r"_\{"),
    (("ell_",), r"(?<![A-Za-z])ell_"),
    (("var",), r"var(?:epsilon|phi|theta|rho|sigma)"),
    (("infty",), r"infty"),
    (("math",), r"math(?:cal|bb|bf|rm)\{?"),
    (("triangleq",), r"triangleq"),
    (("subseteq",), r"subseteq"),
    (("supseteq",), r"supseteq"),
    (("widetilde",), r"widetilde"),
    (("widehat",), r"widehat"),
    (("times",), r"(?<=[\]}\ue001])times"),
    (("nabla",), r"(?<![A-Za-z])nabla(?![a-z])"),
    (("eq",), r"(?<=[A-Za-z0-9])(?:geq|leq|neq)(?![a-z])"),
    (("eq",), r"(?<![A-Za-z])(?:geq|leq|neq)(?![A-Za-z])"),
    (("dots",), r"(?<=,)[lc]?dots(?=[,}\ue001])"),
    (("left",), r"(?:sigma|alpha|beta|gamma|delta|lambda|theta|phi|psi|omega|exp|log|sum|max|min)left[(\[]"),
    (("left(",), r"(?<![A-Za-z])[A-Z]left\("),
    # a Greek letter with a script, or as one (pi_0, A_mu), a big operator's limits (sum_j),
    # a bold symbol
    (("_",), rf"(?<![\w])(?:{_SCRIPTED_GREEK})_(?=[A-Za-z0-9](?!\w)|\{{)"),
    (("_",), rf"(?<![\w])[A-Za-z]_(?:{_SCRIPTED_GREEK})(?!\w)"),
    (("_",), rf"(?<![\w])(?:sum|prod|int)_(?=[A-Za-z0-9](?!\w)|\{{|(?i:{_SCRIPTED_GREEK})(?!\w))"),
    (("boldsymbol{",), r"boldsymbol\{"),
    # a macro with its argument: no word of prose is followed by a brace
    (("{",), r"(?<![A-Za-z])(?:sqrt|frac|tilde|hat|bar|vec|dot|ddot|overline)\{(?:[^{}\n]|\{[^{}\n]*\})*\}"),
    # names glued to a macro no prose word holds: ']leepsilon', 'etanabla', 'logfrac{'
    (_LONG_MACRO_NAMES, rf"(?<=[}})\]])(?:le|ge|leq|geq|in|sim|to)(?={_LONG_MACRO})"),
    (_LONG_MACRO_NAMES, rf"(?<![A-Za-z])(?:eta|mu|nu|xi|pi|rho|tau|phi|psi|chi|log|exp|ln)(?={_LONG_MACRO})"),
    (("{",), r"(?<!\w)\{[A-Za-z][_^][A-Za-z0-9]\}"),  # a symbol braced with its script: 'a small {l_1} ball'
)


@functools.cache
def _lost_mark_patterns() -> tuple[tuple[tuple[str, ...], re.Pattern], ...]:
    return tuple((needs, compiled(alternative)) for needs, alternative in _LOST_MARKS)  # (kept between runs)


#: Any piece one of :data:`_LOST_MARKS` needs: a plain word of prose holds none.
_LOST_MARK_PIECE = lazy("|".join(re.escape(piece) for piece in sorted({n for needs, _ in _LOST_MARKS for n in needs})))


def _has_lost_mark(text: str) -> bool:
    """Whether ``text`` holds a mark of :data:`_LOST_MARKS`.  Each kind is
    looked for alone, and only in a text holding a piece it cannot match
    without: one regex of them all tried each of them at every character
    (0.5 ms an abstract; a tenth of a send worker's instructions went to
    the first cards it built).  A text holding none of the pieces (most
    words, which :func:`_lost_math` asks about one by one) is told so by
    one search, not by some sixty substring checks in 27 generators: half
    of what showing the 9,784 plain texts of 5,000 papers took."""
    if _LOST_MARK_PIECE.search(text) is None:
        return False
    return any(any(n in text for n in needs) and rx.search(text) is not None for needs, rx in _lost_mark_patterns())


#: The macros such math had, found again: long names anywhere (``cvarepsilon``
#: is c times epsilon), short ones only at the start of a word, ``ell`` only
#: before a script (``cell_2`` is a table's cell).
_LOST_MACRO = lazy(
    "(?:" + "|".join(sorted((
        "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "theta", "vartheta", "iota", "kappa",
        "lambda", "varrho", "sigma", "varsigma", "upsilon", "varphi", "omega", "Gamma", "Delta", "Theta", "Lambda",
        "Sigma", "Upsilon", "Omega", "infty", "nabla", "cdots", "cdot", "ldots", "times", "leq", "geq", "neq",
        "propto", "rightarrow", "leftarrow", "Rightarrow", "Leftarrow", "leftrightarrow", "left", "right", "sqrt",
        "mathcal", "mathbb", "mathbf", "mathrm", "triangleq", "subseteq", "supseteq", "widetilde", "widehat",
        "boldsymbol", "dots",
    ), key=len, reverse=True))
    # words of prose that start with a name: 'approximate', 'partially'; \frac without its braces
    + ")|(?:approx|partial)(?:(?![a-z])|(?=" + _LONG_MACRO + "))|frac(?=\\{)"
    + "|(?<![A-Za-z])(?:tilde|hat|bar|vec|dot|ddot|overline|text|mathsf|mathtt|mathit|underbrace|overbrace|mathop)(?=\\{)"
    # a big operator's limits placed: 'maxlimits_{x}'
    + "|(?<=max|min|sup|inf|lim|sum|int)(?:no)?limits(?=[_^])"
    # a bracket's size: Obig(...big)
    + "|(?<=[A-Za-z0-9(}])[Bb]igg?[lr]?(?=[()\\[\\]|])"
    + "|(?<![A-Za-z])(?:phi|psi|chi|rho|tau|eta|mu|nu|xi|pi|Phi|Psi|Pi|Xi|sim)(?:(?![a-z])|(?=" + _LONG_MACRO + "))"
    + "|(?<![A-Za-z])ell(?=[_^(])"
    # a relation glued between two symbols: 'mathbf{W}inmathbb{R}', 'xsimmathcal{D}', ']leepsilon'
    + "|(?<=[})\\]A-Za-z0-9])(?:in|to|sim|le|ge|leq|geq|mid|approx)(?=" + _LONG_MACRO + ")"
    + "|(?<![A-Za-z])(?:sum|prod|int)(?=_|(?:no)?limits_)|(?<=_)(?:mu|nu|xi|pi|rho|tau|phi|psi)(?![a-z])"
)
#: A transpose, ``^\\top`` without its backslash (or a star, ``^\\star``).
_LOST_TOP_SHOWN = {"top": "ᵀ", "intercal": "ᵀ", "star": "⋆", "ast": "*", "dagger": "†", "prime": "′", "circ": "°"}
_LOST_TOP = lazy(r"\^\{?(top|intercal|star|ast|dagger|prime|circ)\}?(?![a-z](?<!m(?=ath)))")


def _lost_math(text: str, keep: tuple[str, ...] = ()) -> str:
    """Math that lost its backslashes and dollar signs, as Unicode: each
    word with a mark of it (:data:`_LOST_MARKS`) gets its macros back and is
    converted as math; other words, and sentence punctuation after a word,
    are left as written ('the epsilon-greedy policy' is prose).  A word
    holding one of ``keep`` (what a reader's terms found), and a Greek name
    in one, stays as written, as in :func:`_greek_names_shown`: a term
    "lambda" found "TD (lambda)", the card showed "(λ)" once the text had a
    script elsewhere, and neither its mark nor its reason's word was there."""

    def word(m: re.Match) -> str:
        written = m.group()
        if not _has_lost_mark(written) or _kept(m, kept):
            return written
        core = written.rstrip(".,;:")
        tail = written[len(core):]
        core = core.replace("\'\'", "″")  # a double prime, not a closing quote
        core = _LOST_TOP.sub(lambda t: _LOST_TOP_SHOWN[t[1]], core)

        def macro(n: re.Match) -> str:  # braces end the name before a letter: '\\varepsilon{}ll'
            return "\\" + n.group() + ("{}" if core[n.end():n.end() + 1].isalpha() else "")

        core = re.sub(r"\{[^{}]*\}|\ue000[^\ue000\ue001]*\ue001", lambda g: _LOST_IN.sub(r"\\in", g.group()), core)
        shown = _math(_LOST_MACRO.sub(macro, core), lost=True)
        return shown + tail if shown.strip() else written

    text = _set_braces_marked(_LOST_OLD_FONT.sub(r"math\1{\2}", _lost_relations(text)))
    text = _LOST_BETWEEN_NUMBERS.sub(_greek, _LOST_WIDE.sub(r"\1{\2}", text))
    kept = _kept_spans(text, keep)
    text = _LOST_WORD.sub(word, text)
    kept = _kept_spans(text, keep)
    shown = _LOST_GREEK.sub(lambda m: m.group() if _kept(m, kept) else _greek(m), text)
    shown = shown.replace(_SET_OPEN, "{").replace(_SET_CLOSE, "}")
    return _operator_spacing(_LOST_INDEX.sub(lambda m: m[1] + m[2].translate(SUBSCRIPT), shown))


#: A set's braces (``\{0,1\}`` in the source) between these marks while the rest
#: of lost math is converted, which drops a group's braces.
_SET_OPEN, _SET_CLOSE = "\ue000", "\ue001"
#: An operator written before a set: ``min{a,b}`` (a group's brace follows a script,
#: a macro's name or the group before it: ``frac{a}{b}``).
_OPERATOR_BEFORE = lazy(r"(?<![A-Za-z])(?:arg)?(?:min|max|sup|inf)\Z")


#: A group of one symbol with its script, ``{l_1}``: a group kept for the script, no set
#: (unless a script follows it: ``{x_i}_{i=1}^n``).
_SCRIPTED_SYMBOL = lazy(r"[A-Za-z][_^][A-Za-z0-9]")


def _set_braces_marked(text: str) -> str:
    """The braces of sets in lost math (``{0,1}^n``, ``{x_i}_{i=1}^n``: the export
    dropped ``\\{``'s backslash) marked, so they are shown where the math
    conversion drops a group's braces ("0,1ⁿ" read as a number)."""
    if "{" not in text:
        return text
    out, pos = [], 0
    while (i := text.find("{", pos)) >= 0:
        end = _braced(text, i)
        if end is None:
            break
        before = text[max(0, i - 6):i]
        is_set = _OPERATOR_BEFORE.search(before) is not None or (
            not re.search(r"[\^_}\w]\Z", before)
            and (_SCRIPTED_SYMBOL.fullmatch(text, i + 1, end - 1) is None or text.startswith(("_", "^"), end))
        )
        inner = _set_braces_marked(text[i + 1:end - 1])
        out += [text[pos:i], _SET_OPEN if is_set else "{", inner, _SET_CLOSE if is_set else "}"]
        pos = end
    out.append(text[pos:])
    return "".join(out)


#: What a set reads as after a lost ``\\in``: ``R^d``, ``mathbb{R}``, ``mathcal X`` (a capital
#: letter alone, or with a script or a brace, never the first letter of a word).
_LOST_SET = r"(?:math(?:bb|cal|bf|rm|frak)\{?[A-Za-z]\}?|[A-Z](?=[\^_{}\s,.;:)]|$))"
#: A relation whose backslash went, glued to the symbol before it: ``Uin R^{m times k}``
#: (``U\\in``), ``xsim p``, ``sll d`` (``s\\ll``), ``nge(K^2)`` and ``SNRgeOmega`` (``\\ge``).
#: The symbol is one letter (or a capitals' acronym before ``ge``/``le``); letters
#: that make a word with the name are not taken (``all``, ``ill``, ``age``, ``bin``...
#: are taken only where no word of prose goes on like that: ``Min R^``).
_LOST_GLUED_RELATION = lazy(
    rf"(?<![A-Za-z\\])(?P<in>[A-Za-z](?:_\{{[^{{}}\s]*\}}|_[A-Za-z0-9])?)(?:in | in )(?={_LOST_SET})"
    rf"|(?<![A-Za-z\\])(?P<greek>{_SCRIPTED_GREEK})in(?=[{{(\[]|{_LOST_SET}| (?:[{{(\[]|{_LOST_SET}))"
    r"|(?<![A-Za-z\\])(?P<sim>[A-Za-z])sim(?=\s|\d|[A-Z{(])|(?<![A-Za-z\\])sim(?=\d)"
    r"|(?<![A-Za-z\\])(?P<ll>[b-df-hj-np-tv-zB-DF-HJ-NP-TV-Z])(?P<llname>ll|gg) (?=[A-Za-z0-9](?![A-Za-z]))"
    r"|(?<![A-Za-z\\])(?P<ge>[b-df-hj-np-tv-z]|[A-Z]{2,5})(?P<gename>ge|le)"
    rf"(?=(?:left)?[(\[]|-?\d|(?:{_SCRIPTED_GREEK}|Omega|Theta|Gamma|Delta|Sigma|Lambda|Phi|Psi)(?:left|(?![a-z])))"
)
_RELATION_SHOWN = {"ll": "≪", "gg": "≫", "ge": "≥", "le": "≤"}
#: ``nabla f``: the gradient's operand follows it after the space a macro name ended with.
_LOST_NABLA = lazy(r"(?<![A-Za-z\\])nabla ?(?=[A-Za-z(])")
#: ``operatorname*{argmin}``: the name is what shows.
_LOST_OPERATORNAME = lazy(r"(?<![A-Za-z\\])operatorname\*?\{([A-Za-z]+)\}")
#: ``Tsharpmu``: a push-forward, ``T\\sharp\\mu``.
_LOST_SHARP = lazy(r"(?<=[A-Za-z])sharp(mu|nu|rho|pi|gamma)(?![a-z])")


def _lost_relations(text: str) -> str:
    """Relations and operators an export glued to their neighbours by
    dropping the backslash (``Uin R^{m times k}`` read as a word "Uin"),
    put back as the symbols, with a relation's spaces."""

    def relation(m: re.Match) -> str:
        if m["in"]:
            return f"{m['in']} ∈ "
        if m["greek"]:
            return _math("\\" + m["greek"]) + (" ∈" if m.string.startswith(" ", m.end()) else " ∈ ")
        if m["sim"] is not None:
            return f"{m['sim']} ∼ "
        if m["ll"]:
            return f"{m['ll']} {_RELATION_SHOWN[m['llname']]} "
        if m["ge"]:
            return f"{m['ge']} {_RELATION_SHOWN[m['gename']]} "
        return "∼"  # sim before a number: sim1000 points

    text = _LOST_GLUED_RELATION.sub(relation, text)
    text = _LOST_OPERATORNAME.sub(r"\1", _LOST_NABLA.sub("nabla{}", text))
    return _LOST_SHARP.sub(lambda m: "♯" + _math("\\" + m[1]), text)


#: A word of lost math: a braced group is one with its spaces (``R^{m times k}``, ``min_{x in R^d}``).
_LOST_WORD = lazy(r"(?:\{[^{}\n]{0,80}\}|\ue000[^\ue000\ue001\n]{0,80}\ue001|\S)+")
#: ``widetilde O(...)``: the accent was on the letter after it.
_LOST_WIDE = lazy(r"(?<![A-Za-z])(wide(?:tilde|hat)|math(?:cal|bb|bf|rm)) ([A-Za-z])(?![A-Za-z])")
#: ``z_i`` beside ``z_{i-1}``: a one-letter index of a one-letter symbol, in
#: text that has lost math (alone, 'x_i in the tables' may be an identifier).
_LOST_INDEX = lazy(r"(?<![\w\\])([A-Za-z])_([0-9aehijklmnoprstuvx])(?![\w^{])")
#: ``{bf A}_n``: an old font switch (``{\\bf A}``) without its backslash.
_LOST_OLD_FONT = lazy(r"\{(bf|rm|cal|bb) ([A-Za-z0-9]+)\}")
#: ``4.88 cdot 10^{-8}``, ``0.29 pm 0.01``: an operator between numbers.
_LOST_BETWEEN_NUMBERS = lazy(r"(?<=\d )(pm|cdot|times)(?= \d)")
#: ``in`` inside a braced group of lost math is ``\in``: ``{x in R^d}``.
_LOST_IN = lazy(r"(?<=[\s{\ue000])in(?=\s)")
_GREEK_NAMES = ("alpha|beta|gamma|delta|epsilon|zeta|theta|kappa|lambda|sigma|omega|xi|phi|psi|rho|tau"
                "|Gamma|Delta|Theta|Lambda|Sigma|Omega|Phi|Psi|Xi")
#: A Greek letter on its own in lost math: in parentheses or a list
#: (``(delta,epsilon)-Goldstein``, ``F(x; xi)``), or a capital one before a
#: symbol (``Delta L^3``, ``Delta = f(x_0)``); 'the delta method' stays prose.
_LOST_GREEK = lazy(
    rf"(?<![A-Za-z\\])(?:(?<=[(\[,;] )|(?<=[(\[,;]))(?:{_GREEK_NAMES})(?=[)\],;])"
    rf"|(?<![A-Za-z\\])(?:{_GREEK_NAMES})(?=,(?:{_GREEK_NAMES})\))"
    rf"|(?<![A-Za-z\\])(?:Gamma|Delta|Theta|Lambda|Sigma|Omega|Phi|Psi|Xi)(?= (?:[A-Za-z](?![A-Za-z])|=))"
    # a Greek letter set equal to something after a symbol with a script: 'A_mu alpha=C'
    rf"|(?<=[\w)] )(?:{_GREEK_NAMES})(?==[\w(])"
)


def _greek(m: re.Match) -> str:
    return _math("\\" + m.group())


#: What :data:`_LOST_MARKS` need, as plain substrings: most texts have none, and
#: looking for them costs a tenth of the regex's search.
_LOST_PIECES = ("^", "_{", "{", "ell_", "varepsilon", "varphi", "vartheta", "varrho", "varsigma", "infty", "math",
                "triangleq", "subseteq", "supseteq", "widetilde", "widehat", "times", "eq", "dots", "left", "_", "nabla")
#: Any of :data:`_LOST_PIECES`, in one search (a generator over them was a tenth of a card's text's cost).
_LOST_PIECE = lazy("|".join(map(re.escape, _LOST_PIECES)))


#: ``$\\sim$1000`` or ``$\\approx$ 95\\%`` that lost their backslashes and dollars (not
#: 'the sim 2 run').
_LOST_ABOUT = lazy(r"(?<![A-Za-z\\])(?:(sim)(?=\d)|approx(?= ?\d))")


#: Greek letters an export wrote as their names (``$\\epsilon$-stationary`` -> ``epsilon-stationary``).
_SYMBOL_GREEK = ("alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|kappa|lambda|mu|rho|sigma|tau|phi|chi"
                 "|omega")
#: Such a name that is a symbol whatever else the text holds: glued by a hyphen to
#: a word (``epsilon-stationary``, ``delta-smooth``, ``alpha-th``, ``beta-VAE``: as
#: papers typeset them, ``ε-greedy`` too), a function's name or argument
#: (``omega(d)``, ``phi(x)``, ``TD(lambda)``, ``h(lambda)``; not "alpha (" or
#: "Gemini (beta)", a release's name), a pair in parentheses (``(delta,epsilon)-DP``),
#: or after another such symbol and its hyphen (``alpha-beta``).  "the delta method" and "a beta prior" stay prose.
_LOST_GREEK_SYMBOL = lazy(
    rf"(?<![\w\\^{{])(?:{_SYMBOL_GREEK})(?=-[A-Za-z0-9])"
    rf"|(?<![\w\\^{{])(?:{_SYMBOL_GREEK.removeprefix('alpha|beta|')})(?=\()"
    rf"|(?<=\w\()(?:{_SYMBOL_GREEK.removeprefix('alpha|beta|')})(?=\))"
    rf"|(?<=\()(?:{_SYMBOL_GREEK})(?=, ?(?:{_SYMBOL_GREEK})\))"
)
#: A run of text holding an address or a link, where its characters are part of the name.
LINK_LIKE = lazy(r"://|www\.|@|\w\.[a-z]{2,}/")
#: After a Greek name, what makes it prose or a name rather than a symbol: a
#: release's word (``alpha-version``, ``beta-testing``) or a number (``phi-3``, a model).
_NOT_A_SYMBOL_AFTER = lazy(r"-(?:\d|(?i:versions?|releases?|test(?:s|ing|ers?)?)(?![A-Za-z]))")


def _symbol_greek(m: re.Match, kept: Sequence[tuple[int, int]] = ()) -> str:
    """The Greek name ``m`` found as its letter, unless the run it is in is
    a link or an address (``github.com/foo/alpha-zero``, ``beta-team@x.org``:
    its characters are the address), it is a release or a model's name
    (``alpha-version``, ``phi-3``), ``non-alpha-numeric``, or it is in a
    span of ``kept`` (see :func:`_greek_names_shown`)."""
    text, start, end = m.string, m.start(), m.end()
    if _kept(m, kept):
        return m.group()
    if (in_link(text, start, end) or _NOT_A_SYMBOL_AFTER.match(text, end)
            or text[max(0, start - 4):start].lower() == "non-"):
        return m.group()
    return _greek(m)


def in_link(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is in (or takes in) a link or an address:
    a whitespace-delimited run :data:`LINK_LIKE` finds, whose characters
    are the address and must stay as they are."""
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return LINK_LIKE.search(text, start, end) is not None


_AFTER_GREEK_SYMBOL = lazy(rf"(?:(?<=[α-ωϵϑφ]-)|(?<=\([α-ωϵϑφ],)|(?<=\([α-ωϵϑφ], ))(?:{_SYMBOL_GREEK})(?![A-Za-z])")
#: A link written twice as its text and its target, ``\\href{URL}{URL}`` without the backslash.
_LOST_HREF = lazy(r"(https?://[^\s{}]+)\{\1\}")
#: A brace no brace closes, opening a sentence (``freedom of this field. {Firstly, we``).
_STRAY_BRACE = lazy(r"(?:(?<=^)|(?<=[.;:] ))\{(?=[A-Z][a-z]+[ ,])")


def _stray_braces(text: str) -> str:
    """``text`` without the :data:`_STRAY_BRACE` openings that nothing closes."""
    return _STRAY_BRACE.sub(lambda m: "" if _braced(text, m.start()) is None else "{", text)


def _greek_names_shown(text: str, keep: tuple[str, ...]) -> str:
    """``text`` with the Greek names :data:`_LOST_GREEK_SYMBOL` finds as
    letters, except inside the words of ``keep``: a reader's term written
    with the name (``beta-VAE``) must still find, and mark, it in the text shown."""
    for pattern, may_hold in ((_LOST_GREEK_SYMBOL, _beside_a_greek_name), (_AFTER_GREEK_SYMBOL, _greek_letter_in)):
        # Each only where it may find one: both were tried at every character
        # of most texts (0.1 ms an abstract); what they need is found at once.
        if may_hold(text):
            kept = _kept_spans(text, keep)
            text = pattern.sub(functools.partial(_symbol_greek, kept=kept), text)
    return text


_SYMBOL_GREEK_NAMES = tuple(_SYMBOL_GREEK.split("|"))


def _beside_a_greek_name(text: str) -> bool:
    """Whether ``text`` has a Greek letter's name right before a ``-`` or a
    ``(``, or right after a ``(``: where every alternative of
    :data:`_LOST_GREEK_SYMBOL` finds one."""
    for mark in "-(":
        at = text.find(mark)
        while at >= 0:
            if text.endswith(_SYMBOL_GREEK_NAMES, 0, at) or (mark == "(" and text.startswith(_SYMBOL_GREEK_NAMES, at + 1)):
                return True
            at = text.find(mark, at + 1)
    return False


#: A Greek letter that :data:`_AFTER_GREEK_SYMBOL` needs before the name it finds.
_GREEK_LETTER = lazy("[α-ωϵϑφ]")


def _greek_letter_in(text: str) -> bool:
    return not text.isascii() and _GREEK_LETTER.search(text) is not None


def _kept_spans(text: str, keep: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where the words of ``keep`` stand in ``text``."""
    return [(at, at + len(k)) for k in keep if k for at in _occurrences(text, k)]


def _kept(m: re.Match, kept: Sequence[tuple[int, int]]) -> bool:
    """Whether the match ``m`` overlaps one of the ``kept`` spans."""
    return any(s < m.end() and m.start() < e for s, e in kept)


def _occurrences(text: str, word: str) -> list[int]:
    """Where ``word`` starts in ``text``."""
    found, at = [], text.find(word)
    while at >= 0:
        found.append(at)
        at = text.find(word, at + 1)
    return found


#: A Greek letter's name anywhere in a word, or a name only :data:`_LOST_GREEK` shows as
#: its letter (``xi``, ``Delta``) as a word of its own (see :func:`greek_named`).
_GREEK_NAME_IN = lazy(rf"(?:{_SYMBOL_GREEK})|(?<![A-Za-z])(?:{_GREEK_NAMES})(?![a-z])")


def greek_named(words: tuple[str, ...]) -> tuple[str, ...]:
    """Those of ``words`` holding a Greek letter's name: the only ones
    :func:`lost_math_shown`'s ``keep`` needs.  Mostly none, so its cache
    keeps one entry a text, not one for every set of terms that found it
    (a send's first cards took twice the time)."""
    return tuple(w for w in words if _GREEK_NAME_IN.search(w)) if words else ()


@functools.lru_cache(maxsize=65536)
def lost_math_shown(text: str, keep: tuple[str, ...] = ()) -> str:
    """``text`` as an email shows it: math that lost its backslashes and
    dollar signs (a Hugging Face text export: ``ell_2``, ``varepsilon^2``)
    as Unicode, the rest as written.  Only for display: matching and ranking
    read the text as the source gave it (their figures were measured on it).
    ``keep``: what a reader's terms found in ``text``; a Greek name in it
    stays as written (``beta-VAE``, not ``β-VAE``), so the card can mark it."""
    if "\\" in text or "$" in text:
        return text
    if "~" in text:
        text = _lost_ties(text)
    if "20" in text or "19" in text:
        text = _BARE_CITATION.sub(lambda m: "[" + ", ".join(k.strip() for k in m[1].split(",")) + "]", text)
    if "--" in text:  # an export keeps LaTeX's dashes: 'pages 539--542', 'Filtering -- Data Curation'
        text = _dashes(text)
    if "sim" in text or "approx" in text:  # 'sim 1000 points', 'approx 95%': about a number
        text = _LOST_ABOUT.sub(lambda m: "∼" if m[1] == "sim" else "≈", text)
    if "{" in text or "times" in text:
        text = _lost_braces(text)
    if "{" in text:
        text = _stray_braces(_LOST_HREF.sub(r"\1", text))
    if "(" in text or "-" in text:
        text = _greek_names_shown(text, keep)
    if _LOST_PIECE.search(text) is None or not _has_lost_mark(text):
        return text
    return _lost_math(text, keep)


#: A group of prose words (``\emph{error indicator}`` without its macro): shown without braces.
_LOST_PROSE_GROUP = lazy(r"(?<![\w^_}])\{([A-Za-z][a-z]+(?:[ -][A-Za-z]+)+)\}")
#: An operator braced for its spacing (``N{+}D``, ``D{=}1``, ``64{times}64``).
_LOST_BRACED_OPERATOR = lazy(r"\{(\+|-|=|<|>|times|to|cdot|leq|geq)\}")
_OPERATOR_SHOWN = {"times": "×", "to": "→", "cdot": "·", "leq": "≤", "geq": "≥"}
#: ``512times512``: a product of numbers without its backslash.
_LOST_NUMBER_TIMES = lazy(r"(?<![\w.])(\d+)times(\d+)(?!\w)")


#: A multi-line environment whose backslashes went (``\\\\`` between rows too, leaving a wider space).
_LOST_ENVIRONMENT = lazy(
    r"(?<![A-Za-z\\])begin\{(cases|aligned|align\*?|split|gathered|array|matrix|pmatrix|bmatrix)\}(?:\{[lcr| ]+\})?"
    r"(.{1,400}?)end\{\1\}"
)
#: A relation's name in such an environment, where it stands alone between spaces (``&leq h(x)``).
_LOST_ENV_RELATION = lazy(r"(?<![A-Za-z])(?:leq?|geq?|neq?|approx|sim|equiv|propto)(?![A-Za-z])")


def _lost_environment(m: re.Match) -> str:
    """``begin{cases} 1 & x>0  0 & otherwise end{cases}`` as ``{1, x>0; 0, otherwise}``,
    as :func:`_environments` shows the LaTeX; rows are told apart by the wider
    space the lost ``\\\\`` left (where there is none, the cells run on)."""
    body = _LOST_ENV_RELATION.sub(lambda r: _math("\\" + r[0]), m[2])
    env, rows = m[1], [row for row in re.split(r"\s{2,}", body.strip()) if row.strip()]
    cells = [[" ".join(c.split()) for c in row.split("&") if c.strip()] for row in rows]
    if env == "cases":
        return "{" + "; ".join(", ".join(row) for row in cells) + "}"
    if env.endswith("matrix") or env == "array":
        opened, closed = ("(", ")") if env == "pmatrix" else ("[", "]")
        return opened + "; ".join(", ".join(row) for row in cells) + closed
    out = ""
    for row in (" ".join(row) for row in cells):
        out += (" " if re.match(rf"[=<>{_RELATIONS}]", row) else ", ") + row if out else row
    return out


def _lost_braces(text: str) -> str:
    """Braces an export kept where it dropped the LaTeX around them: an
    old font switch (``{cal O}(1/k)``), an emphasised phrase, an operator
    braced for its spacing.  Each reads as typeset, with or without other
    lost math in the text."""
    if "begin{" in text:
        text = _LOST_ENVIRONMENT.sub(_lost_environment, text)
    text = _LOST_OLD_FONT.sub(lambda m: _math(f"\\math{m[1]}{{{m[2]}}}"), text)
    text = _LOST_PROSE_GROUP.sub(r"\1", text)
    text = _LOST_BRACED_OPERATOR.sub(lambda m: _OPERATOR_SHOWN.get(m[1], m[1]), text)
    return _LOST_NUMBER_TIMES.sub(r"\1×\2", text)


@functools.lru_cache(maxsize=65536)
def to_unicode(text: str) -> str:
    """``text`` with its LaTeX shown as Unicode; text without LaTeX comes back as is,
    in composed form (NFC): an accent as a separate mark ("o" + U+0308, as some
    exports and macOS copies have it) is not the "ö" a topic's term is written
    with, and such a paper matched no rule naming the word."""
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = _typography(text)
    if "\\" not in text and "$" not in text:
        return text
    try:
        result = _converted(text)
    except RecursionError:  # groups nested thousands deep (a hostile feed): shown as written
        return text
    return result if result.strip() else text


#: A macro a paper defines in its abstract (it was written for the paper's preamble):
#: ``\\newcommand{\\ours}{FooNet}``, ``\\newcommand{\\norm}[1]{\\|#1\\|}``, ``\\def\\ours{FooNet}``,
#: ``\\DeclareMathOperator{\\Tr}{Tr}``.
_DEFINITION = lazy(
    r"\\(?:(?:re|provide)?newcommand\*?|def|(?P<op>DeclareMathOperator)\*?)\s*"
    r"(?:\{\s*\\(?P<braced>[a-zA-Z]+)\s*\}|\\(?P<bare>[a-zA-Z]+))\s*(?:\[(?P<args>[1-9])\])?\s*"
    r"(?P<body>\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\})\s?"
)


def _definitions(text: str) -> str:
    """The paper's own macros used as defined, their definitions taken out:
    "\\newcommand{\\ours}{FooNet} We propose \\ours." reads "We propose FooNet.",
    and ``\\norm{x}`` with ``\\newcommand{\\norm}[1]{\\|#1\\|}`` reads "‖x‖"."""
    for m in reversed(list(_DEFINITION.finditer(text))):
        name, body, count = m["braced"] or m["bare"], m["body"][1:-1], int(m["args"] or 0)
        if m["op"]:
            body = rf"\operatorname{{{body}}}"
        text = text[:m.start()] + _expanded(text[m.end():], name, body, count)
    return text


def _expanded(text: str, name: str, body: str, count: int) -> str:
    """``text`` with each use of ``\\name`` (taking ``count`` braced arguments) replaced by ``body``."""
    out, pos = [], 0
    use = re.compile(rf"\\{name}(?![a-zA-Z])")
    while (m := use.search(text, pos)) is not None:
        found = _arguments(text, m.end(), count)
        if found is None:  # a use without its arguments: left as written
            out.append(text[pos:m.end()])
            pos = m.end()
            continue
        args, end = found
        shown = re.sub(r"#([1-9])", functools.partial(_argument, args), body)
        if not count and text.startswith("{}", end):
            end += 2
        glued = re.search(r"\\[a-zA-Z]+$", shown) is not None and text[end:end + 1].isalpha()
        out += [text[pos:m.start()], "{" + shown + "}" if "$" not in shown and _in_math(text, m.start()) else shown,
                "{}" if glued else ""]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _argument(args: list[str], m: re.Match) -> str:
    """A ``#n`` of a macro's body: its nth argument (a ``#n`` beyond them stays)."""
    return args[int(m[1]) - 1] if int(m[1]) <= len(args) else m[0]


def _in_math(text: str, at: int) -> bool:
    """Whether ``at`` is inside a math span of ``text`` (a macro's body is a group there)."""
    return any(start <= at < end for start, end, _ in _math_spans(text))


#: A list in an abstract: ``\begin{enumerate}\item ... \end{enumerate}``.
_LIST = lazy(r"\s*\\begin\{(itemize|enumerate|description)\}(.*?)\\end\{\1\}\s*", re.DOTALL)
_ITEM = lazy(r"\\item(?![a-zA-Z])\s*(?:\[([^\]]*)\])?")


def _lists(text: str) -> str:
    """A list in the run of the paragraph, as authors write one inline:
    "(1) first (2) second" for ``enumerate`` (or the item's own label),
    "• first • second" for ``itemize``, a ``description`` item's label before
    its text.  As it was, the environment's name stayed and each item began
    a line of its own."""

    def inline(m: re.Match) -> str:
        parts = _ITEM.split(m[2])  # the text before the first item, then (label, text) pairs
        items = []
        for n, (label, item) in enumerate(zip(parts[1::2], parts[2::2]), start=1):
            if m[1] == "description":
                mark = f"{label}:" if label else "•"
            else:
                mark = label or (f"({n})" if m[1] == "enumerate" else "•")
            items.append(f"{mark} {' '.join(item.split())}")
        return " " + " ".join(items) + " "

    return _LIST.sub(inline, text).strip()


#: ``\\verb|x_y|`` (any delimiter), shown as its text when that holds no other LaTeX.
_VERB = lazy(r"\\verb\*?([^\sa-zA-Z*])([^$\\\n]*?)\1")


#: An environment of prose in an abstract (not math, not a list): ``\\begin{theorem}[Name] ... \\end{theorem}``.
_PROSE_ENVIRONMENT = lazy(
    r"\\begin\{(?P<env>abstract|center|quote|quotation|flushleft|flushright|small|footnotesize|scriptsize"
    r"|theorem|lemma|proposition|corollary|definition|remark|example|conjecture|claim|assumption|proof)\}"
    r"(?:\[(?P<name>[^\]]*)\])?(?P<body>.*?)\\end\{(?P=env)\}",
    re.DOTALL,
)
#: Those a typeset paper heads with their kind ("Theorem.", "Proof.").
_HEADED = frozenset(("theorem", "lemma", "proposition", "corollary", "definition", "remark", "example", "conjecture",
                     "claim", "assumption", "proof"))


def _prose_environment(m: re.Match) -> str:
    """Its text, headed as typeset where the kind is shown ("Theorem (Name). ..."):
    the environment's name and braces stayed as written ("\\begin{theorem} ...")."""
    body = " ".join(m["body"].split())
    if m["env"] not in _HEADED:
        return body
    name = f" ({m['name'].strip()})" if m["name"] and m["name"].strip() else ""
    return f"{m['env'].capitalize()}{name}. {body}"


#: A space of a given size (``\\kern2pt``, ``\\mkern-3mu``, ``\\hskip 1em plus 2pt``): the
#: macro shows nothing, and its dimension, left behind, showed as text ("a−3mu b").
_SIZED_SPACE = lazy(
    r"\\(?:kern|mkern|hskip|mskip|vskip)(?![a-zA-Z])\s*(?:[+-]\s*)?(?:\d+(?:\.\d*)?|\.\d+)\s*(?:pt|mu|em|ex|mm|cm|in|bp|"
    r"pc|dd|cc|sp|px)(?:\s*(?:plus|minus)\s*(?:[+-]\s*)?(?:(?:\d+(?:\.\d*)?|\.\d+)\s*)?(?:pt|mu|em|ex|mm|cm|in|bp|pc|dd|cc|"
    r"sp|px|fil{1,3}))*(?P<space>\s*)"
)


def _sized_space(m: re.Match) -> str:
    """Nothing for a sized space, the spaces after it kept (a word's space),
    but not at the start of a formula (``$ x$`` is read as no math)."""
    return "" if m.string[m.start() - 1:m.start()] == "$" else m["space"]


def _converted(text: str) -> str:
    if "kern" in text or "skip" in text:
        text = _SIZED_SPACE.sub(_sized_space, text)
    if "\\verb" in text:
        text = _VERB.sub(r"\2", text)
    if "\\texorpdfstring" in text:
        text = _pdf_strings(text)
    if _SIUNITX_HINT.search(text):
        text = _quantities(text)
    if "\\def" in text or "command" in text or "\\Declare" in text:
        text = _definitions(text)
    if "\\begin{" in text:
        text = _PROSE_ENVIRONMENT.sub(_prose_environment, _lists(text)).strip()
    text = _unwrap_styles(_citations(text))
    out, pos = [], 0
    for start, end, source in _math_spans(text):
        out.append(_text(_ties_at_math(text[pos:start], pos > 0, True)))
        out.append(_minus_signs(_math(source)))
        pos = end
    out.append(_text(_ties_at_math(text[pos:], pos > 0, False)))
    return _SPACES.sub(" ", "".join(out))  # a line break or \\quad next to a space: one space


def _ties_at_math(segment: str, after: bool, before: bool) -> str:
    """A tie between math and a word (``$\\approx 9.8$~meV``, ``with~$n$``) as
    the space it is: :data:`_TIE` sees one side only of a text cut at the math."""
    if after and segment.startswith("~") and segment[1:2].isalnum():
        segment = " " + segment[1:]
    if before and segment.endswith("~") and segment[-2:-1].isalnum():
        segment = segment[:-1] + " "
    return segment


_SPACES = lazy(r"(?<=\S)[ \t]{2,}(?=\S)")

#: siunitx's quantities, numbers and units: ``\\SI{5}{\\milli\\second}``, ``\\num{1e6}``, ``\\si{\\percent}``.
_SIUNITX = lazy(r"\\(?P<kind>SI|qty|num|si|unit|SIrange|qtyrange|numrange)\s*(?:\[[^\]]*\]\s*)?(?=\{)")
_SIUNITX_HINT = lazy(r"\\(?:SI|qty|num|si|unit)")
_ARGUMENTS = {"SI": 2, "qty": 2, "num": 1, "si": 1, "unit": 1, "SIrange": 3, "qtyrange": 3, "numrange": 2}
#: What a unit macro prints (the prefixes run into the unit after them: ``\\milli\\second`` is "ms").
_UNITS = {
    **dict.fromkeys(("meter", "metre"), "m"), "second": "s", "gram": "g", "kilogram": "kg", "ampere": "A",
    "kelvin": "K", "mole": "mol", "candela": "cd", "hertz": "Hz", "newton": "N", "pascal": "Pa", "joule": "J",
    "watt": "W", "volt": "V", "ohm": "Ω", "tesla": "T", "electronvolt": "eV", "percent": "%", "degree": "°",
    **dict.fromkeys(("celsius", "degreeCelsius"), "°C"), **dict.fromkeys(("liter", "litre"), "L"), "byte": "B",
    "bit": "bit", "hour": "h", "minute": "min", "day": "d", "decibel": "dB", "angstrom": "Å", "farad": "F",
    "coulomb": "C", "henry": "H", "weber": "Wb", "siemens": "S", "radian": "rad", "steradian": "sr",
    "becquerel": "Bq", "gray": "Gy", "sievert": "Sv", "tonne": "t", "dalton": "Da", "bar": "bar", "barn": "b",
    "arcminute": "′", "arcsecond": "″", "femto": "f", "pico": "p", "nano": "n", "micro": "µ", "milli": "m",
    "centi": "c", "deci": "d", "kilo": "k", "mega": "M", "giga": "G", "tera": "T", "peta": "P",
    "per": "/", "squared": "²", "cubed": "³",
}
_UNIT_MACRO = lazy(r"\\(?:(?P<power>square|cubic)\s*\\)?(?P<name>[a-zA-Z]+)\s*|(?P<dot>(?<=\w)[.~](?=\w))")
#: An exponent in a number as siunitx writes it, ``1e6``, ``2.5E-3``.
_EXPONENT = lazy(r"^(?P<mantissa>[+-]?[\d.,]+)?\s*[eE]\s*(?P<power>[+-]?\d+)$")


def _quantities(text: str) -> str:
    """siunitx's ``\\SI{5}{\\milli\\second}`` as "5 ms", ``\\num{1e6}`` as "1 × 10⁶",
    ``\\si{\\percent}`` as "%" (in math as text, so its spaces stay): the macros
    were left as written outside math, and inside it the unit was lost ("5")."""
    out, pos = [], 0
    for m in _SIUNITX.finditer(text):
        if m.start() < pos:
            continue
        found = _arguments(text, m.end(), _ARGUMENTS[m["kind"]])
        if found is not None:
            shown = _quantity(m["kind"], [group.strip() for group in found[0]])
            out += [text[pos:m.start()], f"\\text{{{shown}}}" if _in_math(text, m.start()) else shown]
            pos = found[1]
    out.append(text[pos:])
    return "".join(out)


def _quantity(kind: str, groups: list[str]) -> str:
    if kind in ("si", "unit"):
        return _unit(groups[0])
    if kind == "num":
        return _number(groups[0])
    if kind == "numrange":
        return f"{_number(groups[0])}–{_number(groups[1])}"
    numbers = [_number(g) for g in groups[:-1]]
    unit = _unit(groups[-1])
    gap = "" if unit[:1] in ("%", "°", "′", "″") and unit not in ("°C",) else " "
    return "–".join(numbers) + gap + unit


def _number(source: str) -> str:
    m = _EXPONENT.match(source.replace(" ", ""))
    if m is None:
        return source.replace("-", "−") if source.startswith("-") else source
    power = m["power"].lstrip("+").translate(_SUPERSCRIPT_DIGITS)
    return f"{m['mantissa']} × 10{power}" if m["mantissa"] else f"10{power}"


_SUPERSCRIPT_DIGITS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _unit(source: str) -> str:
    """A unit's macros as their symbols (``\\kilo\\meter\\per\\second``: "km/s");
    written out (``m.s^{-1}``, ``GHz``), as written, a product's dot a "·"."""
    def one(m: re.Match) -> str:
        if m["dot"]:
            return "·"
        return _UNITS.get(m["name"], m["name"]) + {"square": "²", "cubic": "³"}.get(m["power"] or "", "")

    unit = _UNIT_MACRO.sub(one, source) if "\\" in source or "." in source or "~" in source else source
    if "^" in unit:
        unit = to_unicode(f"${unit}$")
    return unit.replace(" ", "")


_PDF_STRING = lazy(r"\\texorpdfstring\s*(?=\{)")


def _pdf_strings(text: str) -> str:
    """``\\texorpdfstring{$\\alpha$}{alpha}`` (a title's math with its plain
    form for the PDF's bookmarks) as its first, typeset argument: the title
    read "{α}{alpha}-Divergence"."""
    out, pos = [], 0
    for m in _PDF_STRING.finditer(text):
        if m.start() < pos:
            continue
        found = _arguments(text, m.end(), 2)
        if found is not None:
            out += [text[pos:m.start()], found[0][0]]
            pos = found[1]
    out.append(text[pos:])
    return "".join(out)


#: A LaTeX en dash between words (``Erd\H{o}s--R\'enyi``, ``1990--2000``), in text that has LaTeX
#: (an em dash, ``---``, is one in any text: see :func:`_typography`, which ran first).
_EN_DASH = lazy(r"(?<=[\w})\]])--(?=[\w(\[]|\\[a-zA-Z\"'`^~=.]|\{\\)")
#: A dash set off by spaces in text that has LaTeX (``results --- and more``, ``a -- b``).
_SPACED_DASH = lazy(r"(?:(?<=\S)|^) (---?) (?=\S)")


#: A tie (``Fig.~3``, ``95.3\%~(+2.1\%)``) between two words: a space; not the ``~`` of a URL (``/~user``).
_TIE = lazy(r"(?<=[\w.,;:%)\]}])~(?=[\w(\[\\$])")
#: A letter macro ended by a space, which TeX swallows: ``Polyak-\L ojasiewicz`` is "Łojasiewicz".
_LETTER_MACRO_SPACE = lazy(
    r"(\\(?:L|l|O|o|ss|ae|AE|oe|OE|aa|AA|i|j))[ \t]+(?=[a-z])"
    r"|(\\(?:text(?:quote(?:dbl)?(?:left|right)|quotedbl(?:left|right))|lq))[ \t]+(?=\w)"  # \textquoteright s: "it’s"
    # a dash or a backslash written as a macro: "trade\\textendash off" is "trade–off", not "trade– off"
    r"|(\\text(?:endash|emdash|backslash))[ \t]+(?=\w)"
    # a unit's prefix or symbol written as a macro: "5\\textmu m" is "5µm", "\\textasciitilde 5" is "~5"
    r"|(\\(?:text(?:mu|asciitilde|degree|ohm)|upmu|micro|degree|ohm))[ \t]+(?=\w)"
)


#: A letter accent's macro ended by a space, its letter after it: ``Fran\\c cais``, ``Pe\\v sic``
#: or ``\\c {c}`` (TeX swallows the space and takes the letter as the argument: "Français",
#: "Pešic"; as it was, the macro stayed as written).
#: Only the accents names are written with; ``\\d``, ``\\b``, ``\\r`` and ``\\t`` are also a
#: regex's or a string's escapes ("\\d matches a digit"), left as written.
_ACCENT_SPACE = lazy(r"(?<!\\)((?:\\\\)*\\[cvuHk])[ \t]+(?:([a-zA-Z])|(?=\{))")


def _dashes(text: str) -> str:
    """LaTeX's dashes as typeset: ``1990--2000`` "1990–2000", ``a -- b`` "a – b", ``a --- b`` "a — b"."""
    return _SPACED_DASH.sub(lambda m: " — " if m[1] == "---" else " – ", _EN_DASH.sub("–", text))


#: A group of words (``{BERT}``, ``very {nested} claim`` of an unwrapped ``\\emph``) or
#: an empty one, not a macro's argument nor a script's: LaTeX prints its text.  Not one glued to
#: a word or a group, an old font switch, or one of numbers or symbols: those are
#: an export's lost math (``sqrt{p}{n}``, ``{cal N}``, the set ``{0, 1}``), which
#: :func:`lost_math_shown` reads.
_BARE_GROUP = lazy(r"(?<![\\^_\]}\w])\{(?!(?:cal|bf|rm|bb|it|em|sc|tt|sf|sl) )((?:[^\W\d_](?:[^\W\d_]|[ '’-])*)?)\}")
#: What a macro's argument follows: the macro's name (``\\foo{x}``, ``\\"{o}``).
_MACRO_BEFORE = lazy(r"\\(?:[a-zA-Z]+\*?|[^a-zA-Z])\s*\Z")
#: How deep :func:`_bare_groups` looks (a hostile feed's braces nest thousands deep).
BARE_GROUP_DEPTH = 8


def _bare_groups(segment: str) -> str:
    """``segment`` without the braces of its plain groups, innermost first,
    as typeset: in an abstract with LaTeX, "A {BERT} model" and
    ``\\emph{very {nested} claim}`` were shown with their braces.  A macro's
    argument (one it does not know stays as written) keeps its braces.
    Groups nested deeper than :data:`BARE_GROUP_DEPTH` keep their outer ones."""
    for _ in range(BARE_GROUP_DEPTH):
        out, pos = [], 0
        for m in _BARE_GROUP.finditer(segment):
            if _MACRO_BEFORE.search(segment, max(0, m.start() - 40), m.start()):
                continue
            out += [segment[pos:m.start()], m[1]]
            pos = m.end()
        if not pos:
            break
        segment = "".join(out) + segment[pos:]
    return segment


#: A line break's extra space, ``\\\\[2pt]``: a length, nothing shown.
_BREAK_LENGTH = lazy(r"(?<!\\)((?:\\\\)+)\*?\[\s*[-+]?[\d.]+\s*(?:pt|em|ex|mm|cm|in|bp|pc|sp|mu|\\[a-zA-Z]+)\s*\]")


def _text(segment: str) -> str:
    if "\\\\[" in segment:  # "First line\\[2pt] second" showed "[2pt]"
        segment = _BREAK_LENGTH.sub(r"\1", segment)
    segment = _dashes(segment)
    if "~" in segment:
        segment = _TIE.sub(" ", segment)
    if "{" in segment:
        segment = _bare_groups(segment)
    if "\\" not in segment:
        return segment
    # an operator name outside $...$ (``O(n\\log n)``, ``\\log{n}``) spaced as in math
    segment = _OPERATOR_GROUP.sub(r"\1\\ \2", _OPERATOR.sub(r"\\ \\\1", segment))
    segment = _OPERATOR_AFTER.sub(r"\1\\ ", segment)
    segment = _ACCENT_SPACE.sub(lambda m: f"{m[1]}{{{m[2]}}}" if m[2] else m[1], segment)
    return _TEXT_MACRO.sub(_text_macro, _LETTER_MACRO_SPACE.sub(lambda m: (m[1] or m[2] or m[3] or m[4]) + "{}", segment))


#: Names papers give the macro for their own method, model or system (``\\method``, ``\\ours``).
_SELF_NAMES = frozenset((
    "method", "ours", "model", "name", "sys", "system", "approach", "algo", "alg", "algname", "ourmethod",
    "ourmodel", "methodname", "modelname", "tool", "framework", "proposed", "our", "short", "ourapproach",
))
#: A macro left in an abstract, not converted (no definition came with it).
_LEFT_MACRO = lazy(r"\\([a-zA-Z]+)(?![a-zA-Z])(?:\{\})?")
#: "Name: what it does", a title that names the paper's method.
_TITLE_NAME = lazy(r"([^\s:][^:]{0,38}?):\s+\S")


def own_name_shown(text: str, title: str) -> str:
    """``text`` with the macro a paper uses for its own method's name
    (``\\method``, or one spelt like the name: ``\\dposhift``) shown as that
    name where the title gives it ("DPO-Shift: Shifting ..."): arXiv keeps
    such macros as written, since the definition stayed in the paper's
    preamble, and "we introduce \\method to shift" reads as broken LaTeX.
    Only for display (matching reads the text as the source gave it)."""
    if "\\" not in text or (named := _TITLE_NAME.match(title)) is None:
        return text
    name = named[1].strip()
    if len(name.split()) > 4:
        return text
    letters = re.sub(r"[^a-z0-9]", "", name.casefold())
    left = {m[1] for m in _LEFT_MACRO.finditer(text)}
    own = [macro for macro in left if macro in _SELF_NAMES or macro.casefold() == letters]
    if len(own) != 1:
        return text  # two such macros (a method and a dataset): which is the title's is not known
    return re.sub(rf"\\{own[0]}(?![a-zA-Z])(?:\{{\}})?", lambda _: name, text)


#: In a formula, what the previous version (245afb6, before 2 December 2026) converted otherwise:
#: it dropped amsmath's capital accents, ``\\norm``/``\\abs`` and any macro it did not know before a
#: group, keeping the group (``$\\Tilde{O}(n)$`` read "O(n)", ``$\\myloss{x}$`` "x"), and left the
#: shorthands as written ("\\eps", "\\KL", "\\cL").
_MATH_SPAN = lazy(r"\$[^$]+\$")
_MATH_MACRO = lazy(r"(?<!\\)((?:\\\\)*)\\([a-zA-Z]+)(\s*(?=\{))?")
_PREVIOUSLY_DROPPED = frozenset((*_CAPITAL_ACCENTS, "norm", "abs"))


def _macro_as_converted_before(m: re.Match) -> str:
    """One macro of a formula as the previous version converted it (see :data:`_MATH_MACRO`)."""
    name = m[2]
    if m[3] is not None and (name in _PREVIOUSLY_DROPPED or _unknown_not_style(name)):
        return m[1]
    if name in _SHORTHANDS or re.fullmatch(r"c[A-Z]", name):
        return m[1] + name
    return m[0]


def _title_as_converted_before(title: str) -> str | None:
    """The title as the previous version (245afb6) converted it, or None when
    that read it as this code does.  A paper without an arXiv id was recorded sent
    under that conversion's key; the key of the title as written alone does
    not cover a title where both kinds changed (``$\\eps$`` and ``$\\Tilde{O}$``):
    such a paper went out again after the upgrade."""
    if "$" not in title or "\\" not in title:
        return None
    before = _MATH_SPAN.sub(lambda m: _MATH_MACRO.sub(_macro_as_converted_before, m[0]), title)
    return before if before != title else None


def paper_to_unicode(paper: Paper) -> Paper:
    """The paper with LaTeX in its title, abstract, authors and comment as Unicode
    (the same object when there is none, which is most papers).

    A converted title also keeps the key of the title as the source wrote it
    (:attr:`Paper.known_as`): a paper without an arXiv id is known by its
    title's key, and each change to the conversion (``\\eps`` left as written
    once, "ε" now) would give it a new one, so it went out again after an
    upgrade.  The key of the text as written depends on no conversion."""
    changes: dict[str, Any] = {}
    for name in ("title", "abstract"):
        value = getattr(paper, name)
        new = to_unicode(value)
        if new != value:
            changes[name] = new
    if "title" in changes:
        shown = normalize_title(changes["title"])
        earlier = (paper.title_key, *([normalize_title(to_unicode(before))]
                                      if (before := _title_as_converted_before(paper.title)) else []))
        if added := tuple(k for k in dict.fromkeys(earlier) if k != shown and k not in paper.known_as):
            changes["known_as"] = (*paper.known_as, *added)
    authors = tuple(to_unicode(a) for a in paper.authors)
    if authors != paper.authors:
        changes["authors"] = authors
    comment = getattr(paper, "comment", None)
    if comment:
        new = to_unicode(comment)
        if new != comment:
            changes["comment"] = new
    return replace(paper, **changes) if changes else paper
