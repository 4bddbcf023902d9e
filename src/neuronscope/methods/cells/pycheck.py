"""Whether a text that tokenizes reads as Python: `tokenize` reads English too (even
"aren't"), so `reads_as_python` asks more: `ast.parse` takes the text whole, or (a
fragment of code, cut inside a def, a bracket, a string) most of its lines parse as
statements (`python_lines`), read statement by statement as the tokens give them.
"""

from __future__ import annotations

import ast
import re
import tokenize
import warnings
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate

MIN_PYTHON_SHARE = 0.5
"""The share of non-blank lines that must parse as Python statements (`python_lines`)
for a text that `ast.parse` does not take whole to read as Python. Measured on Python
3.11: windows of 2,000 characters of the pysource test corpus, cut mid-line at both
ends, that tokenize: 0.97-1.00 in 20 (seed 0), 0.73 at least, 0.95 at the 5th
percentile in 300 (seed 1); 10,000 characters: 0.97 at least in 100. English prose:
the Zen of Python 0 of 20 lines, the `email` package's docstrings 0.011 (15 of 1,378),
its module docstrings 0 of 138, `json`'s and `collections`' docstrings 0.11 and 0.16,
Python's LICENSE 0.004. Half is far from both."""


def reads_as_python(text: str, tokens: list[tuple[int, int, int, str]]) -> str | None:
    """None when `text` (with its `tokens`) reads as Python, else why not in words: Python
    when `ast.parse` takes it whole, or (a fragment: cut inside a def, a bracket, a string)
    when at least `MIN_PYTHON_SHARE` of its non-blank lines parse as statements.

    Example:
        >>> text = "Beautiful is better than ugly.\\nSimple is better than complex.\\n"
        >>> from neuronscope.methods.cells.parse import _tokens
        >>> print(reads_as_python(text, _tokens(text)))
        the text does not read as Python (only 0 of 2 lines parse as Python statements)
        >>> text = "    return x\\nelse:\\n    return [y,\\n  z]\\n"  # cut inside an if
        >>> reads_as_python(text, _tokens(text)) is None
        True
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escapes in strings: Python all the same
        if _parses(text):
            return None
    good, lines = python_lines(text, tokens)
    if lines and good >= MIN_PYTHON_SHARE * lines:
        return None
    return (f"the text does not read as Python (only {good:,} of {lines:,} lines parse as "
            "Python statements)")


def python_lines(text: str, tokens: list[tuple[int, int, int, str]]) -> tuple[int, int]:
    """(non-blank lines that parse as Python, non-blank lines) of `text`, read statement
    by statement: the lines of a statement (more than one inside brackets or a multi-line
    string, as its `tokens` say) parse alone (`_parses_alone`) or fail together; a line of
    nothing but a comment is Python. A statement cut inside brackets at the end of the
    text is not counted.

    Example:
        >>> from neuronscope.methods.cells.parse import _tokens
        >>> text = "if x:\\n    f(1,\\n      2)\\n# note\\nIt is not.\\n"
        >>> python_lines(text, _tokens(text))
        (4, 5)
    """
    lines = text.split("\n")
    starts = list(accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
    good = [bool(line.strip()) for line in lines]
    solid = good.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escapes in strings: Python all the same
        for first, last, closed in _statements(tokens):
            a, b = bisect_right(starts, first) - 1, bisect_right(starts, last - 1)
            if not closed:  # cut inside brackets: neither Python nor not
                solid[a:b] = [False] * (b - a)
            if not closed or not _parses_alone(text[first:last]):
                good[a:b] = [False] * (b - a)
    return sum(good), sum(solid)


def _statements(tokens: list[tuple[int, int, int, str]]
                ) -> Iterator[tuple[int, int, bool]]:
    """(start, end, closed) of each statement's tokens (no indentation, comment or
    newline): up to a NEWLINE outside brackets; a closing bracket that closes none in the
    text (a fragment that begins inside brackets) closes nothing. The last statement is
    not `closed` when a bracket is still open at the text's end (cut inside brackets)."""
    start = end = -1
    depth = 0
    for s, e, kind, string in tokens:
        if kind == tokenize.NEWLINE and start >= 0 and depth == 0:
            yield start, end, True
            start = -1
        elif kind not in _QUIET:
            start, end = (s if start < 0 else start), e
            if kind == tokenize.OP and string in _OPENING:
                depth += 1
            elif kind == tokenize.OP and string in _CLOSING:
                depth = max(depth - 1, 0)
    if start >= 0:
        yield start, end, depth == 0


_OPENING, _CLOSING = ("(", "[", "{"), (")", "]", "}")
_QUIET = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT,
          tokenize.ENDMARKER}
_CLAUSE_AFTER = {"else": "if 1: pass\n", "elif": "if 1: pass\n", "except": "try: pass\n",
                 "finally": "try: pass\n", "case": "match x:\n "}


def _parses_alone(statement: str) -> bool:
    """Whether one statement parses: a header (``if x:``) with `` pass`` after it, a
    clause (``else:``, ``except E:``, ``case 1:``) after what it belongs to, a decorator
    before a def."""
    first = re.match(r"\w+", statement)
    word = first.group() if first else ""
    if statement.endswith(":"):
        statement += " pass"
    if statement.startswith("@"):
        statement += "\ndef f(): pass"
    return _parses(_CLAUSE_AFTER.get(word, "") + statement)


def _parses(source: str) -> bool:
    """Whether `ast.parse` takes `source` (nested too deep to parse: no)."""
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True
