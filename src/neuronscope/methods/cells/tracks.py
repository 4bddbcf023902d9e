"""Feature tracks over text: one number per character, the state of a feature after
that character has been read. The registry `TRACKS` (`register_track`); `compute_tracks`.

The modes: ``"python"`` reads the text with Python's own `tokenize` (exact strings,
comments, docstrings, brackets, blocks, keywords) besides the character tracks;
``"chars"`` counts characters only, for any text.
"""

from __future__ import annotations

import io
import keyword
import logging
import tokenize
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from neuronscope.core.errors import NeuronscopeError

log = logging.getLogger(__name__)

MODES = ("python", "chars")
OPEN, CLOSE = "([{", ")]}"


class CellTextError(NeuronscopeError, ValueError):
    """Text that `explain_cells` cannot use: empty, too long, with characters outside
    the model's vocabulary, or not Python where Python tracks were asked for."""


# --- the text, read once ------------------------------------------------------------


@dataclass
class Parsed:
    """The text with what tracks need: per character its line's start and the first
    non-blank column; `tokens` (absolute start, end, type, string) when tokenized."""

    text: str
    chars: np.ndarray  # [n] uint32 code points
    line_start: np.ndarray  # [n] index of the newline that begins each character's line
    first_solid: np.ndarray  # [n] index of the first non-blank character of its line
    tokens: list[tuple[int, int, int, str]] | None = None


def parse(text: str, python: bool) -> tuple[Parsed, str | None]:
    """(`Parsed` text, None), or with ``python`` a text that does not tokenize:
    (character-only `Parsed`, why)."""
    chars = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = len(chars)
    idx = np.arange(n)
    is_nl = chars == ord("\n")
    # a newline begins the line after it (the state after it: nothing of that line read);
    # the text's first line begins at a virtual newline at -1
    start = np.maximum.accumulate(np.where(is_nl, idx, -1)) if n else idx
    solid = ~np.isin(chars, [ord(" "), ord("\t"), ord("\n")])

    def next_at(mask: np.ndarray) -> np.ndarray:  # [n + 1]: first i >= j with mask, else n
        out = np.full(n + 1, n)
        out[:n] = np.where(mask, idx, n)
        return np.minimum.accumulate(out[::-1])[::-1]

    # the first non-blank character of each line, or the line's end for a blank line
    first = np.minimum(next_at(solid)[start + 1], next_at(is_nl)[start + 1])
    parsed = Parsed(text, chars, start, first)
    if not python:
        return parsed, None
    try:
        parsed.tokens = _tokens(text)
    except (tokenize.TokenError, SyntaxError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        where = exc.args[1] if isinstance(exc, tokenize.TokenError) and len(exc.args) > 1 \
            else getattr(exc, "lineno", None)
        return parsed, f"the text does not tokenize as Python ({msg}, at {where})"
    return parsed, None


def _tokens(text: str) -> list[tuple[int, int, int, str]]:
    """Python tokens as (start, end, type, string) with absolute character offsets."""
    offsets = [0]
    for line in io.StringIO(text):
        offsets.append(offsets[-1] + len(line))
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.ENDMARKER:
            break
        s = offsets[tok.start[0] - 1] + tok.start[1]
        e = offsets[tok.end[0] - 1] + tok.end[1]
        out.append((s, e, tok.type, tok.string))
    return out

# --- the track registry --------------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """One feature of the text: `fn(parsed)` -> [n] values; `modes` it belongs to."""

    name: str
    description: str
    modes: tuple[str, ...]
    fn: Callable[[Parsed], np.ndarray]

    @property
    def needs_python(self) -> bool:
        return "chars" not in self.modes


TRACKS: dict[str, Track] = {}


def register_track(name: str, description: str, modes: Sequence[str] = MODES
                   ) -> Callable[[Callable[[Parsed], np.ndarray]], Callable]:
    """Decorator: add a track function to `TRACKS` under `name`.

    Example:
        >>> @register_track("is_digit", "the character is a digit", modes=["chars"])
        ... def _digit(p):
        ...     return (p.chars >= ord("0")) & (p.chars <= ord("9"))
        >>> "is_digit" in TRACKS
        True
        >>> del TRACKS["is_digit"]
    """
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"modes must be some of {MODES}, got {list(modes)}")

    def add(fn: Callable[[Parsed], np.ndarray]) -> Callable[[Parsed], np.ndarray]:
        TRACKS[name] = Track(name, description, tuple(modes), fn)
        return fn

    return add


def _spans(n: int, spans: list[tuple[int, int]]) -> np.ndarray:
    """1 on every [start, end) span, else 0 (by a difference array)."""
    d = np.zeros(n + 1, np.int64)
    for s, e in spans:
        if e > s:
            d[s] += 1
            d[e] -= 1
    return (np.cumsum(d[:n]) > 0).astype(np.float32)


def _string_spans(tokens: list[tuple[int, int, int, str]]) -> list[tuple[int, int, bool]]:
    """(first quote, end, is the whole statement) of every string literal; on Python
    3.12+ an f-string (FSTRING_START ... FSTRING_END) is one literal."""
    fstart = getattr(tokenize, "FSTRING_START", -1)
    fend = getattr(tokenize, "FSTRING_END", -1)
    quiet = {tokenize.NL, tokenize.COMMENT}
    out, stack = [], []
    prev = tokenize.NEWLINE  # the last significant token type before the string
    for i, (s, e, kind, string) in enumerate(tokens):
        if kind == fstart:
            stack.append((s + len(string) - len(string.lstrip("rRbBfFuU")), prev))
        elif kind == fend and stack:
            first, before = stack.pop()
            if not stack:
                out.append((first, e, _alone(tokens, i, before, quiet)))
        elif kind == tokenize.STRING and not stack:
            first = s + len(string) - len(string.lstrip("rRbBfFuU"))
            out.append((first, e, _alone(tokens, i, prev, quiet)))
        if kind not in quiet and not stack:
            prev = kind
    return out


def _alone(tokens: list[tuple[int, int, int, str]], i: int, before: int, quiet: set[int]
           ) -> bool:
    """Whether the string ending at token `i` is a statement of its own (a docstring)."""
    starts = before in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
    after = next((tokens[j][2] for j in range(i + 1, len(tokens))
                  if tokens[j][2] not in quiet), tokenize.NEWLINE)
    return starts and after in (tokenize.NEWLINE, tokenize.ENDMARKER)


@register_track("in_string", "inside a string literal: from its opening quote (read) to "
                "its closing quote (read: outside again)", modes=["python"])
def _in_string(p: Parsed) -> np.ndarray:
    return _spans(len(p.chars), [(s, e - 1) for s, e, _ in _string_spans(p.tokens or [])])


@register_track("in_docstring", "inside a string literal that is a statement of its own "
                "(a docstring)", modes=["python"])
def _in_docstring(p: Parsed) -> np.ndarray:
    spans = [(s, e - 1) for s, e, alone in _string_spans(p.tokens or []) if alone]
    return _spans(len(p.chars), spans)


@register_track("in_comment", "inside a comment: from '#' to the end of its line",
                modes=["python"])
def _in_comment(p: Parsed) -> np.ndarray:
    spans = [(s, e) for s, e, kind, _ in p.tokens or [] if kind == tokenize.COMMENT]
    return _spans(len(p.chars), spans)


@register_track("bracket_depth", "open brackets ( [ { after this character: Python's "
                "brackets (not in strings or comments), or by counting every bracket")
def _bracket_depth(p: Parsed) -> np.ndarray:
    d = np.zeros(len(p.chars), np.float32)
    if p.tokens is not None:
        for s, _, kind, string in p.tokens:
            if kind == tokenize.OP and string in ("(", "[", "{"):
                d[s] += 1
            elif kind == tokenize.OP and string in (")", "]", "}"):
                d[s] -= 1
    else:
        d[np.isin(p.chars, [ord(c) for c in OPEN])] = 1
        d[np.isin(p.chars, [ord(c) for c in CLOSE])] = -1
    return np.cumsum(d)


@register_track("block_depth", "indentation level of the statement (Python's INDENT / "
                "DEDENT), from its indentation on", modes=["python"])
def _block_depth(p: Parsed) -> np.ndarray:
    d = np.zeros(len(p.chars) + 1, np.float32)
    for s, e, kind, _ in p.tokens or []:
        if kind == tokenize.INDENT:
            d[max(s, e - 1)] += 1  # known once the deeper indentation has been read
        elif kind == tokenize.DEDENT:
            d[s] -= 1  # known at the first character of the shallower statement
    return np.cumsum(d[:-1])


@register_track("after_keyword", "from the last letter of a keyword (def, return, if, ...) "
                "to the next token", modes=["python"])
def _after_keyword(p: Parsed) -> np.ndarray:
    toks, spans = p.tokens or [], []
    for i, (_, e, kind, string) in enumerate(toks):
        if kind == tokenize.NAME and keyword.iskeyword(string):
            nxt = toks[i + 1][0] if i + 1 < len(toks) else len(p.chars)
            spans.append((e - 1, max(e, nxt)))
    return _spans(len(p.chars), spans)


@register_track("column", "characters of the line read so far (0 at the newline)")
def _column(p: Parsed) -> np.ndarray:
    return (np.arange(len(p.chars)) - p.line_start).astype(np.float32)


@register_track("line_start", "nothing but the newline and indentation of the line read")
def _line_start(p: Parsed) -> np.ndarray:
    return (np.arange(len(p.chars)) < p.first_solid).astype(np.float32)


@register_track("indent", "width of the line's indentation read so far (characters)")
def _indent(p: Parsed) -> np.ndarray:
    idx = np.arange(len(p.chars))
    return (np.minimum(idx, p.first_solid - 1) - p.line_start).clip(min=0).astype(np.float32)


@register_track("quote_parity", "inside '...' or \"...\" by counting quotes on the line "
                "(a backslash escapes; no triple quotes, no comments)", modes=["chars"])
def _quote_parity(p: Parsed) -> np.ndarray:
    out = np.zeros(len(p.chars), np.float32)
    quote, escaped = "", False
    for i, ch in enumerate(p.text):
        if ch == "\n":
            quote, escaped = "", False
        elif quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
                continue
        elif ch in "'\"":
            quote = ch
        out[i] = 1.0 if quote else 0.0
    return out


def track_names(mode: str = "python") -> list[str]:
    """The registered tracks of a mode, in registry order.

    Example:
        >>> track_names("chars")
        ['bracket_depth', 'column', 'line_start', 'indent', 'quote_parity']
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return [name for name, t in TRACKS.items() if mode in t.modes]


def compute_tracks(text: str, tracks: str | Sequence[str] = "python"
                   ) -> tuple[dict[str, np.ndarray], str, list[str]]:
    """({track: [n] float32 values}, the mode used, notes) for `text`.

    `tracks`: a mode (``"python"``, ``"chars"``) or a list of track names. A mode of
    ``"python"`` on text that does not tokenize falls back to ``"chars"`` (noted); listed
    names that need Python on such text raise a `CellTextError`.

    Example:
        >>> values, mode, notes = compute_tracks("f(x)  # hi\\n")
        >>> mode, values["in_comment"].tolist()[:7], values["bracket_depth"].tolist()[:4]
        ('python', [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0])
    """
    notes: list[str] = []
    if isinstance(tracks, str):
        if tracks not in MODES:
            raise ValueError(f"tracks must be one of {MODES} or a list of track names, "
                             f"got {tracks!r}")
        mode, names = tracks, track_names(tracks)
    else:
        names = list(tracks)
        unknown = [n for n in names if n not in TRACKS]
        if unknown or not names:
            raise ValueError(f"unknown track(s) {unknown or names}; registered: "
                             f"{', '.join(TRACKS)}")
        mode = "python" if any("python" in TRACKS[n].modes and TRACKS[n].needs_python
                               for n in names) else "chars"
    parsed, why = parse(text, mode == "python")
    if why is not None:
        if not isinstance(tracks, str):
            need = [n for n in names if TRACKS[n].needs_python]
            raise CellTextError(f"{why}: the tracks {need} need Python; use character tracks "
                                f"({', '.join(track_names('chars'))}) or tracks='chars'")
        mode, names = "chars", track_names("chars")
        notes.append(f"{why}; character tracks used instead: {', '.join(names)}")
        log.warning(notes[-1])
    return {n: np.asarray(TRACKS[n].fn(parsed), np.float32) for n in names}, mode, notes
