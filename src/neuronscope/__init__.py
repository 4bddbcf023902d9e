"""neuronscope: neuroscience on artificial neural networks.

Record every unit of a trained PyTorch model, silence units and watch what breaks,
and look at what they do. This module only re-exports the public API.

Example:
    >>> import torch, neuronscope as ns
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    >>> with ns.record(model, ["0"]) as rec:
    ...     _ = model(torch.ones(2, 4))
    >>> rec["0"].shape
    torch.Size([2, 3])
"""

from . import data as datasets
from . import zoo
from .core.ablate import ablate
from .core.datacheck import DataChangedError
from .core.errors import (
    AddressError,
    AmbiguousCallError,
    DatasetNotFoundError,
    LayerNotFoundError,
    ModelLoadError,
    NeuronscopeError,
    ResultFileError,
    UnitOutOfRangeError,
    UnsafeCheckpointError,
)
from .core.fingerprint import data_fingerprint, model_fingerprint
from .core.genomes import FourierGenome, PixelGenome
from .core.hooks import patch, trace
from .core.layers import LayerInfo, layers
from .core.model import load_model
from .core.receptive import ReceptiveField, receptive_field
from .core.recording import Recording, record
from .core.result import Result
from .core.spec import InputSpec, input_spec
from .core.stats import unit_stats
from .core.units import GRAMMAR, Unit
from .methods import featvis
from .methods.ablation import AblationStudy, UnitSweep, ablation_study, unit_sweep
from .methods.cells import CellExplanation, explain_cells
from .methods.deepdream import Dream, deepdream
from .methods.dissect import Dissection, dissect
from .methods.evolve import Evolution, evolve, unit_scorer
from .methods.examples import LayerExamples, TopExamples, top_examples
from .methods.featvis import Visualization, visualize
from .methods.fooling import Fooling, fooling_images
from .methods.invert import Inversion, invert
from .methods.lca import LCA, LCAResult, train_with_lca
from .methods.live import LiveProbe
from .methods.projection import Projection, project
from .methods.selectivity import ClassSelectivity, class_selectivity
from .methods.textprobe import TextProbe, probe_text

__version__ = "0.1.0"

__all__ = [
    "AblationStudy",
    "AddressError",
    "AmbiguousCallError",
    "CellExplanation",
    "ClassSelectivity",
    "DataChangedError",
    "DatasetNotFoundError",
    "Dissection",
    "Dream",
    "Evolution",
    "Fooling",
    "FourierGenome",
    "GRAMMAR",
    "InputSpec",
    "Inversion",
    "LCA",
    "LCAResult",
    "LayerExamples",
    "LayerInfo",
    "LayerNotFoundError",
    "LiveProbe",
    "ModelLoadError",
    "NeuronscopeError",
    "PixelGenome",
    "Projection",
    "ReceptiveField",
    "Recording",
    "Result",
    "ResultFileError",
    "TextProbe",
    "TopExamples",
    "Unit",
    "UnitOutOfRangeError",
    "UnitSweep",
    "UnsafeCheckpointError",
    "Visualization",
    "ablate",
    "ablation_study",
    "class_selectivity",
    "data_fingerprint",
    "datasets",
    "deepdream",
    "dissect",
    "evolve",
    "explain_cells",
    "featvis",
    "fooling_images",
    "input_spec",
    "invert",
    "layers",
    "load_model",
    "model_fingerprint",
    "patch",
    "probe_text",
    "project",
    "receptive_field",
    "record",
    "top_examples",
    "trace",
    "train_with_lca",
    "unit_scorer",
    "unit_stats",
    "unit_sweep",
    "visualize",
    "zoo",
]
