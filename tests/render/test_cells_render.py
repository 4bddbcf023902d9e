"""One cell over text (`neuronscope.render.cells`): shading, legend, top snippets."""

from __future__ import annotations

import pytest
import torch

from neuronscope.data.pysource import VOCAB
from neuronscope.methods.cells import explain_cells
from neuronscope.render.cells import cell_html, legend, snippets_html, top_snippets
from neuronscope.zoo.charlm import char_lstm

RED, BLUE = "rgba(220, 40, 40, 1.00)", "rgba(40, 90, 220, 1.00)"


def test_each_character_is_shaded_red_positive_blue_negative() -> None:
    frag = cell_html("a<b\n", [2.0, -2.0, 1.0, 0.0], title="lstm.c:3 <best>")
    assert "lstm.c:3 &lt;best&gt;" in frag  # the title is escaped
    assert frag.count("<span title=") == 4  # one per character, its value in a tooltip
    assert f'title="2.000" style="background:{RED}">a' in frag
    assert f'title="-2.000" style="background:{BLUE}">&lt;' in frag  # text escaped
    assert 'title="1.000" style="background:rgba(220, 40, 40, 0.50)">b' in frag
    assert "legend" in frag and "blue negative, red positive" in frag
    assert "&#8629;<br>" in frag  # a newline is shown and breaks the line
    fixed = cell_html("ab", [1.0, 1.0], vmax=4.0)
    assert "rgba(220, 40, 40, 0.25)" in fixed
    assert "+4" in legend(4.0) and "-4" in legend(4.0)


def test_long_text_is_cut_and_mismatches_refused() -> None:
    frag = cell_html("x" * 50, torch.ones(50), max_chars=10)
    assert frag.count("<span title=") == 10 and "first 10 characters shown" in frag
    with pytest.raises(ValueError, match="3 characters but 2 values"):
        cell_html("abc", [1.0, 2.0])
    assert "<span" in cell_html("z", [0.0])  # all zero: no division by zero


def test_top_snippets_are_the_largest_values_apart_with_context() -> None:
    text = "0123456789abcdefghij"
    values = torch.zeros(20)
    values[[3, 4, 15]] = torch.tensor([5.0, 4.0, 3.0])
    tops = top_snippets(text, values, k=3, context=2)
    assert [p for p, *_ in tops] == [3, 15, 0]  # 4 is within the context of 3
    pos, val, snippet, vals = tops[0]
    assert (pos, val, snippet) == (3, 5.0, "12345") and vals == [0.0, 0.0, 5.0, 4.0, 0.0]
    assert [p for p, *_ in top_snippets(text, -values, k=1, context=2, largest=False)] == [3]
    frag = snippets_html(text, values, k=2, context=2, title="cell 1")
    assert "position 3: 5" in frag and "position 15: 3" in frag and "cell 1" in frag
    low = snippets_html(text, -values, k=1, context=2, largest=False)
    assert "position 3: -5" in low
    with pytest.raises(ValueError, match="k >= 1"):
        top_snippets(text, values, k=0)


def test_a_kept_explanation_draws_a_cell() -> None:
    torch.manual_seed(0)
    model = char_lstm(len(VOCAB), embed=4, hidden=6).eval()
    text = "x = ('a', [1])  # c\n"
    res = explain_cells(model, text, vocab=VOCAB, keep_values=True, progress=False)
    frag = res.html(2)
    assert "lstm.c:2 (best track" in frag and frag.count("<span title=") == len(text)
    plain = explain_cells(model, text, vocab=VOCAB, progress=False)
    with pytest.raises(ValueError, match="keep_values=True"):
        plain.html(2)
