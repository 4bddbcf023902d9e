"""The built-in feature tracks, registered in `TRACKS` when this module is imported
(`tracks.py` imports it): Python's strings, docstrings, comments, brackets, blocks and
keywords read from its tokens, and the character tracks (column, line start,
indentation, bracket and quote counting) for any text. The order of the definitions
here is the order of `track_names`.
"""

from __future__ import annotations

import keyword
import tokenize

import numpy as np

from .parse import Parsed, string_spans
from .registry import register_track

OPEN, CLOSE = "([{", ")]}"


def _spans(n: int, spans: list[tuple[int, int]]) -> np.ndarray:
    """1 on every [start, end) span, else 0 (by a difference array)."""
    d = np.zeros(n + 1, np.int64)
    for s, e in spans:
        if e > s:
            d[s] += 1
            d[e] -= 1
    return (np.cumsum(d[:n]) > 0).astype(np.float32)


@register_track("in_string", "inside a string literal: from its opening quote (read) to "
                "its closing quote (read: outside again)", modes=["python"])
def _in_string(p: Parsed) -> np.ndarray:
    return _spans(len(p.chars), [(s, e - 1) for s, e, _ in string_spans(p.tokens or [])])


@register_track("in_docstring", "inside a string literal that is a statement of its own "
                "(a docstring)", modes=["python"])
def _in_docstring(p: Parsed) -> np.ndarray:
    spans = [(s, e - 1) for s, e, alone in string_spans(p.tokens or []) if alone]
    return _spans(len(p.chars), spans)


@register_track("in_code_string", "inside a string literal that is not a docstring (a "
                "string in code, like the quotes of C that Karpathy et al.'s cell tracked)",
                modes=["python"])
def _in_code_string(p: Parsed) -> np.ndarray:
    spans = [(s, e - 1) for s, e, alone in string_spans(p.tokens or []) if not alone]
    return _spans(len(p.chars), spans)


@register_track("in_comment", "inside a comment: from '#' to the end of its line",
                modes=["python"])
def _in_comment(p: Parsed) -> np.ndarray:
    spans = [(s, e) for s, e, kind, _ in p.tokens or [] if kind == tokenize.COMMENT]
    return _spans(len(p.chars), spans)


@register_track("in_prose", "inside a string literal or a comment: mostly text for "
                "people (also f-string fields, bytes and patterns); a cell on in both tracks "
                "this better than either: a prose cell, not a string or comment cell",
                modes=["python"])
def _in_prose(p: Parsed) -> np.ndarray:
    return np.maximum(_in_string(p), _in_comment(p))


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
