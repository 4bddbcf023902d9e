"""Concept data for network dissection named by one string (what ``--concepts`` takes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset, Subset

from neuronscope.core.data import batch_input, batch_labels
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec, input_spec
from neuronscope.data.concept_files import ConceptDataError

COLORS_PREFIX = "colors:"
FORMS = (
    "'shapes' (the shapes test split with its masks, at the model's input size); "
    "'colors:NAME' (pixel colours of any dataset, e.g. colors:photos or colors:folder:PATH); "
    "a Broden folder (with index.csv); "
    "a concept folder (with images/ and masks/ or labels.csv)"
)


def concept_data(source: str, model_or_spec: Any = None) -> Dataset:
    """The concept data that `source` names, in the space of `model_or_spec` (a model or an
    InputSpec: its input size and normalization) when given.

    `source` is "shapes" (`~neuronscope.data.shapes.Shapes` test split with masks);
    "colors:NAME" (`~neuronscope.data.colors.PixelColors` of dataset NAME, any name that
    `neuronscope.data.load` takes, e.g. "colors:photos" or "colors:folder:PATH": every
    image of photos and folders, the test split of other data); a folder
    holding index.csv (`~neuronscope.data.broden.Broden`); or a folder holding images/ and
    masks/ or labels.csv (`~neuronscope.data.concept_folder.ConceptFolder`).

    Example:
        >>> from neuronscope.core.spec import InputSpec
        >>> ds = concept_data("colors:photos", InputSpec(shape=(3, 32, 32)))
        >>> ds.concepts[8], ds[0]["masks"].shape
        ('color:red', torch.Size([11, 32, 32]))
        >>> concept_data("shapes").concepts[0]
        'shape:circle'
    """
    from neuronscope import data

    if not isinstance(source, str) or not source:
        raise ConceptDataError(f"concept data are named by a string, got {source!r}; give {FORMS}")
    spec = (
        model_or_spec
        if isinstance(model_or_spec, InputSpec)
        else (input_spec(model_or_spec) if model_or_spec is not None else None)
    )
    if source == "shapes":  # drawn at the model's input size (the scenes are square)
        shape = tuple(spec.shape) if spec is not None else (3, 64, 64)
        if len(shape) != 3 or shape[0] != 3 or shape[1] != shape[2]:
            raise ConceptDataError(f"shapes scenes are square RGB images; this model takes "
                                   f"inputs of {shape}: give concept data of its own")
        return data.load("shapes", "test", model=model_or_spec, masks=True, size=shape[1])
    if source.startswith(COLORS_PREFIX):
        name = source[len(COLORS_PREFIX) :]
        if not name:
            raise ConceptDataError(
                f"{source!r} names no dataset: give colors:NAME, e.g. "
                "colors:photos or colors:folder:PATH"
            )
        whole = name == "photos" or name.startswith(data.FOLDER_PREFIX)  # every image;
        split = "all" if whole else "test"  # built-in data with splits: the test split
        return data.PixelColors(data.load(name, split, model=model_or_spec))
    path = Path(source).expanduser()
    if not path.is_dir():
        raise ConceptDataError(f"unknown concept data {source!r} (no such folder); give {FORMS}")
    from neuronscope.data.fit import fit_options

    options = fit_options("concepts", spec)
    if (path / "index.csv").is_file():
        return data.Broden(path, **options)
    if (path / "images").is_dir() and (
        (path / "masks").is_dir() or (path / "labels.csv").is_file()
    ):
        return data.ConceptFolder(path, **options)
    raise ConceptDataError(
        f"folder {source!r} is neither a Broden folder (no index.csv) nor a "
        f"concept folder (no images/ with masks/ or labels.csv); give {FORMS}"
    )


class OwnMasks(Dataset):
    """Data that name their concepts and draw an item's masks on request
    (``concept_masks(i)``, as `~neuronscope.data.shapes.Shapes` loaded without masks), as
    concept data: items ``{"image", "masks", "label"}`` (the label when the item has one)."""

    def __init__(self, data: Any) -> None:
        self.data, self.concepts = data, list(data.concepts)
        self.spec, self.classes = getattr(data, "spec", None), getattr(data, "classes", None)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.data[i]
        out = {"image": batch_input(item), "masks": self.data.concept_masks(i)}
        try:
            out["label"] = batch_labels(item)
        except NeuronscopeError:
            pass
        return out


class First(Subset):
    """The first `n` items of concept data, with its concepts, spec and classes."""

    def __init__(self, data: Any, n: int) -> None:
        super().__init__(data, range(min(n, len(data))))
        self.concepts = data.concepts
        self.spec, self.classes = getattr(data, "spec", None), getattr(data, "classes", None)
