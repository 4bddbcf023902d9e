"""Generators: a tiny recipe trains, is cached and reloads identically; the interface."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from neuronscope.core.errors import ModelLoadError, NeuronscopeError
from neuronscope.zoo.generator import ConvVAE, generator

TINY = dict(n_train=32, n_test=8, epochs=1, width=4, code_size=8, batch_size=16, progress=False)


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(tmp_path))
    return tmp_path


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_tiny_generator_trains_is_cached_and_reloads_identically(cache: Path) -> None:
    rng = torch.get_rng_state()
    gen = generator("shapes", **TINY)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's RNG is left alone
    m = gen.zoo_metrics
    assert not m["cached"] and m["n_train"] == 32 and m["n_test"] == 8
    assert m["test_reconstruction_error"] > 0
    files = sorted(p.name for p in (cache / "zoo").iterdir())
    assert [f.rsplit("-", 1)[0] for f in files] == ["shapes-generator"] * 2
    assert {Path(f).suffix for f in files} == {".json", ".safetensors"}

    again = generator("shapes", **TINY)
    assert again.zoo_metrics["cached"] and _same(gen, again)
    retrained = generator("shapes", retrain=True, **TINY)  # deterministic for the seed
    assert not retrained.zoo_metrics["cached"] and _same(gen, retrained)
    other = generator("shapes", **{**TINY, "seed": 1})  # another recipe: another entry
    assert not _same(gen, other) and len(list((cache / "zoo").iterdir())) == 4


def test_the_interface_shapes_and_ranges(cache: Path) -> None:
    gen = generator("shapes", **TINY)
    assert gen.code_size == 8 and gen.shape == (3, 64, 64) and not gen.training
    codes = gen.sample_codes(5, torch.Generator().manual_seed(3))
    assert codes.shape == (5, 8)
    assert torch.equal(codes, gen.sample_codes(5, torch.Generator().manual_seed(3)))
    images = gen.decode(codes)
    assert images.shape == (5, 3, 64, 64)
    assert images.min() >= 0 and images.max() <= 1
    assert gen.encode(images).shape == (5, 8)
    err = gen.reconstruction_error(images)
    expected = (gen.decode(gen.encode(images)) - images).pow(2).flatten(1).mean(1)
    assert err.shape == (5,) and torch.allclose(err, expected) and (err >= 0).all()
    assert not any(p.requires_grad for p in gen.parameters())


def test_bad_input_says_what_would_be_right(cache: Path) -> None:
    gen = ConvVAE(code_size=8, width=4, shape=(3, 32, 32))
    with pytest.raises(NeuronscopeError, match=r"codes must be \[n, 8\]"):
        gen.decode(torch.zeros(2, 9))
    with pytest.raises(NeuronscopeError, match=r"images must be \[n, 3, 32, 32\]"):
        gen.encode(torch.zeros(2, 3, 64, 64))
    with pytest.raises(ModelLoadError, match="Did you mean 'shapes'"):
        generator("shape", progress=False)
    with pytest.raises(TypeError, match="valid"):
        generator("shapes", depth=3, progress=False)
    with pytest.raises(ValueError, match="multiples of 16"):
        ConvVAE(shape=(3, 20, 20))
