"""Loading a text model with the input shape an atlas records (as `neuronscope serve`
does): the check that it runs uses token ids, not float zeros."""

from __future__ import annotations

import argparse

import neuronscope as ns
from neuronscope.commands.common import load


def test_a_text_model_with_its_atlas_input_shape_loads() -> None:
    args = argparse.Namespace(model="minilm", weights=None, input_shape="32")
    model = load(args)
    assert ns.input_spec(model).shape == (32,) and ns.input_spec(model).kind == "text"
