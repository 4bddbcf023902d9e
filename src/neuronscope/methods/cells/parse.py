"""Reading a text once for the feature tracks: `parse` gives a `Parsed` text (per
character its code point, its line's start and the line's first non-blank column) and,
for Python, its tokens from Python's own `tokenize` with absolute character offsets.
`tokenize` reads English too (even "aren't"), so a text that tokenizes must also read as
Python (`pycheck.reads_as_python`). `string_spans` finds every string
literal among the tokens (f-strings whole) and whether it is a statement of its own (a
docstring). The tracks (`builtin_tracks.py`) read nothing but a `Parsed`.
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass

import numpy as np

from .pycheck import reads_as_python


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
    """(`Parsed` text, None), or with ``python`` a text that does not tokenize or does
    not read as Python (`reads_as_python`: English, or a fragment begun inside a string,
    which reads inside out): (character-only `Parsed`, why).

    Example:
        >>> parse("x = f(1)\\n", python=True)[1] is None
        True
        >>> print(parse("Now is better than never.\\n", python=True)[1])
        the text does not read as Python (only 0 of 1 lines parse as Python statements)
    """
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
    why = reads_as_python(text, parsed.tokens)
    if why is not None:  # English, or a fragment begun inside a string (read inside out)
        parsed.tokens = None
    return parsed, why


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


def string_spans(tokens: list[tuple[int, int, int, str]]) -> list[tuple[int, int, bool]]:
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
