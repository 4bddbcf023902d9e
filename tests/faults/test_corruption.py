"""Finding 3 of the trust issue: result files and checkpoints never trust themselves.
Random bytes of a saved result or a checkpoint are corrupted: the load is refused with a
ResultFileError, or (a byte whose change means nothing, such as JSON padding) gives the
very same content back; never a silently different result. A header that claims sizes
its tensors do not have is refused before anything is allocated."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

import neuronscope as ns
from neuronscope.atlas.build import build_atlas

from .models import small_cnn


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(48, 3, 8, 8, generator=g), torch.arange(48) % 2)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("saved")
    result = ns.top_examples(small_cnn(), _data(), k=3, batch_size=8, progress=False)
    ckpt = folder / "half.ckpt"
    ns.top_examples(small_cnn(), _data(), k=3, batch_size=8, progress=False, checkpoint=ckpt)
    vis = ns.visualize(small_cnn(), "0:1", size=8, steps=2, progress=False)
    return {"result": result.save(folder / "r.safetensors").read_bytes(),
            "checkpoint": ckpt.read_bytes(),
            "visualization": vis.save(folder / "v.safetensors").read_bytes()}


def _content(cls: type, path: Path) -> tuple:
    tensors, meta = cls.load(path)._encode()
    return (str(meta), {k: t.nan_to_num(7.5).tolist() for k, t in tensors.items()})


KIND = {"result": ns.TopExamples, "checkpoint": ns.TopExamples,
        "visualization": ns.Visualization}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(KIND)), where=st.floats(0, 1, exclude_max=True),
       count=st.integers(1, 8), xor=st.integers(1, 255))
def test_corrupted_bytes_are_refused_never_silently_different(
        saved: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory, kind: str,
        where: float, count: int, xor: int) -> None:
    folder = tmp_path_factory.mktemp("c")
    good, bad = folder / "good.safetensors", folder / "bad.safetensors"
    good.write_bytes(saved[kind])
    raw = bytearray(saved[kind])
    start = int(where * (len(raw) - count))
    for i in range(start, start + count):
        raw[i] ^= xor
    bad.write_bytes(bytes(raw))
    cls = KIND[kind]
    try:
        loaded = _content(cls, bad)
    except ns.ResultFileError:
        return
    assert loaded == _content(cls, good)


def test_eight_bytes_in_every_tensor_of_a_checkpoint_are_caught(saved: dict[str, bytes],
                                                                 tmp_path: Path) -> None:
    raw = saved["checkpoint"]
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    tried = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        lo, hi = entry["data_offsets"]
        if hi - lo < 8:
            continue
        bad = bytearray(raw)
        at = 8 + header_len + lo + (hi - lo) // 2 - 4
        bad[at:at + 8] = bytes(255 - b for b in bad[at:at + 8])
        (tmp_path / "bad.ckpt").write_bytes(bytes(bad))
        with pytest.raises(ns.ResultFileError, match="damaged"):
            ns.TopExamples.load(tmp_path / "bad.ckpt")
        tried += 1
    assert tried >= 20


def _with_meta(raw: bytes, edit) -> bytes:  # noqa: ANN001 - a function of the header dict
    """The file with its neuronscope header edited (and its checksum left as it was)."""
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = json.loads(header["__metadata__"]["neuronscope"])
    edit(meta)
    header["__metadata__"]["neuronscope"] = json.dumps(meta)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + raw[8 + n:]


def test_an_edited_header_is_refused(saved: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / "edited.ckpt"

    def done(meta: dict) -> None:
        meta["info"]["batches_done"] = 3

    path.write_bytes(_with_meta(saved["checkpoint"], done))
    with pytest.raises(ns.ResultFileError, match="damaged"):
        ns.TopExamples.load(path)


@pytest.mark.parametrize("units", [20_000, 10**12])
def test_a_header_claiming_huge_sizes_allocates_nothing(saved: dict[str, bytes],
                                                        tmp_path: Path, units: int) -> None:
    def claim(meta: dict) -> None:
        for layer in meta["layers"]:
            layer["state"]["n_units"], layer["state"]["k"] = units, 2000

    path = tmp_path / "huge.safetensors"
    path.write_bytes(_with_meta(saved["result"], claim))
    with pytest.raises(ns.ResultFileError, match="damaged"):  # the checksum sees the edit
        ns.TopExamples.load(path)
    with pytest.raises(ns.ResultFileError, match="does not match its tensors"):
        _load_unchecked(path)  # and a forged checksum would not help: sizes are checked


def _load_unchecked(path: Path) -> ns.TopExamples:
    """Decode a file as if its checksum matched (a header forged along with its checksum)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["neuronscope"])
        tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    return ns.TopExamples._decode(tensors, meta)


def test_a_truncated_checkpoint_in_an_atlas_is_mined_again(tmp_path: Path) -> None:
    out = tmp_path / "atlas"
    from neuronscope.atlas.store import AtlasStore

    store = AtlasStore(out)
    atlas = build_atlas(small_cnn(), _data(), str(out), sections=("examples",), progress=False)
    arrays = next((out / "arrays").glob("examples-*.safetensors"))
    key_file = store.work_file("examples", arrays.stem.split("-", 1)[1])
    # a fresh atlas whose examples were interrupted, leaving a truncated checkpoint
    out2 = tmp_path / "atlas2"
    (out2 / "work").mkdir(parents=True)
    (out2 / key_file).write_bytes(arrays.read_bytes()[:300])
    again = build_atlas(small_cnn(), _data(), str(out2), sections=("examples",), progress=False)
    assert again.manifest["layers"]["0"]["examples"] == atlas.manifest["layers"]["0"][
        "examples"]
