"""Model loading that would end the process, a torchvision that does not import, and
weights of another dtype."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from neuronscope.core.errors import ModelLoadError, NeuronscopeError
from neuronscope.core.model import load_model, load_weights


def test_a_factory_calling_sys_exit_is_a_model_load_error(tmp_path: Path) -> None:
    path = tmp_path / "quits.py"
    path.write_text("import sys\ndef build():\n    sys.exit(3)\n")
    with pytest.raises(ModelLoadError, match=r"build\(\) called sys.exit\(3\)") as err:
        load_model(f"{path}:build")
    assert isinstance(err.value, NeuronscopeError)


def test_a_model_file_calling_sys_exit_on_import_is_a_model_load_error(tmp_path: Path) -> None:
    path = tmp_path / "quits_early.py"
    path.write_text("import sys\nsys.exit('no GPU')\n")
    with pytest.raises(ModelLoadError, match=r"called sys.exit\('no GPU'\)"):
        load_model(f"{path}:build")


def _fake_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    (tmp_path / "torchvision").mkdir()
    (tmp_path / "torchvision" / "__init__.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)


def test_a_torchvision_that_does_not_import_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_torchvision(tmp_path, monkeypatch, "raise RuntimeError('operator torchvision::nms "
                      "does not exist')\n")
    with pytest.raises(ModelLoadError, match=r"torchvision does not import \(RuntimeError: "
                       r"operator torchvision::nms does not exist\); .* another torch") as err:
        load_model("torchvision:resnet18")
    assert torch.__version__ in str(err.value)


def test_a_torchvision_missing_a_dependency_is_not_called_uninstalled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_torchvision(tmp_path, monkeypatch, "import no_such_module_for_neuronscope\n")
    with pytest.raises(ModelLoadError, match="does not import.*no_such_module_for_neuronscope"):
        load_model("torchvision:resnet18")


def test_weights_of_another_dtype_are_cast_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = nn.Linear(3, 2)
    path = tmp_path / "w.safetensors"
    save_file({k: v.double() for k, v in model.state_dict().items()}, str(path))
    with caplog.at_level(logging.WARNING, logger="neuronscope.core.weights"):
        load_weights(model, path)
    assert model.weight.dtype == torch.float32
    text = caplog.text
    assert "float64 tensors where the model has float32" in text and "weight, bias" in text
    caplog.clear()
    save_file(model.state_dict(), str(path))
    with caplog.at_level(logging.WARNING, logger="neuronscope.core.weights"):
        load_weights(model, path)
    assert caplog.text == ""
