import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from neuronscope.core.errors import AddressError, LayerNotFoundError, NeuronscopeError
from neuronscope.core.units import GRAMMAR, Unit, find_module, suggest

name = st.from_regex(r"[A-Za-z0-9_\-]{1,8}", fullmatch=True)
path = st.lists(name, min_size=1, max_size=4).map(".".join)
keys = st.lists(name, max_size=3).map(lambda ks: "".join(f"[{k}]" for k in ks))
index = st.integers(min_value=0, max_value=10_000)


@st.composite
def units(draw: st.DrawFn) -> Unit:
    layer = draw(path) + draw(keys)
    channel = draw(st.none() | index)
    pos = None
    if channel is not None:
        pos = draw(st.none() | st.lists(index, min_size=1, max_size=3).map(tuple))
    return Unit(layer, channel, pos)


@given(units())
def test_every_unit_round_trips_through_str(unit: Unit) -> None:
    assert Unit.parse(str(unit)) == unit


@given(units())
def test_printed_address_is_canonical(unit: Unit) -> None:
    text = str(unit)
    assert str(Unit.parse(text)) == text


def test_parse_examples() -> None:
    assert Unit.parse("conv3") == Unit("conv3")
    assert Unit.parse("conv3:17") == Unit("conv3", 17)
    assert Unit.parse("conv3:17@4,5") == Unit("conv3", 17, (4, 5))
    u = Unit.parse("layer2.1.conv2[0][h]:3@7")
    assert (u.module_path, u.keys, u.channel, u.pos) == ("layer2.1.conv2", ("0", "h"), 3, (7,))
    assert Unit.parse("  features.3:0 ") == Unit("features.3", 0)


@pytest.mark.parametrize(
    "bad, why",
    [
        ("", "empty"),
        ("conv3@4,5", "needs a channel"),
        ("conv3:a", "non-negative integer"),
        ("conv3:-1", "non-negative integer"),
        ("conv3:1:2", "only one ':'"),
        ("conv 3", "spaces"),
        ("conv3:1@4,", "separated by commas"),
        ("conv3[]", "unexpected"),
    ],
)
def test_malformed_address_shows_the_grammar(bad: str, why: str) -> None:
    with pytest.raises(AddressError) as err:
        Unit.parse(bad)
    assert why in str(err.value)
    assert GRAMMAR in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, NeuronscopeError)


def test_position_without_channel_is_refused() -> None:
    with pytest.raises(AddressError, match="needs a channel"):
        Unit("conv3", None, (1, 2))


def test_unknown_layer_names_closest() -> None:
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))
    model.add_module("conv3", nn.Conv2d(2, 2, 3))
    with pytest.raises(LayerNotFoundError) as err:
        find_module(model, "conv4")
    assert "Closest: conv3" in str(err.value)
    assert isinstance(err.value, KeyError)
    with pytest.raises(LayerNotFoundError, match="features.0"):
        find_module(model, "features.00")


def test_suggest_prefers_suffix_matches() -> None:
    names = ["layer1.0.conv1", "layer2.1.conv2", "fc"]
    assert suggest("conv2", names)[0] == "layer2.1.conv2"
