"""A user's folder of WAV files as an audio model's dataset (``neuronscope.data.load(
"folder:PATH", model=sound_model)``, and ``--data folder:PATH`` on the command line)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from neuronscope.core.audio import fit_clip, settings, spectrogram
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec
from neuronscope.core.wav import WavError, read_wav
from neuronscope.data.base import check_index, check_split
from neuronscope.data.class_folders import class_files, files_under, split_files

logger = logging.getLogger(__name__)



class SoundFolderError(NeuronscopeError, ValueError):
    """A folder that holds no sounds this reader takes, or a file it cannot read."""


def wav_files(folder: Path, recursive: bool) -> list[Path]:
    """The ``.wav`` files in `folder` (and its subfolders when `recursive`), sorted; hidden
    files and folders left out."""
    return files_under(folder, recursive, (".wav",))


class SoundFolder(Dataset):
    """WAV files as the inputs of an audio model of InputSpec `spec`: one class per
    subfolder (files directly in the folder are then ignored), or a flat folder of one
    class. Subfolders named by the model's classes are labelled with its class indices
    (``classes`` is then the model's list); others by their sorted names. Each file is
    read as PCM or float WAV (`neuronscope.core.wav`), mixed to mono, cut at its own rate
    to its loudest window of the model's clip length (zero-padded when shorter), resampled
    to the model's rate and made into the spectrogram the spec describes
    (`neuronscope.core.audio.spectrogram`), in the spec's value range, copied to each of
    its channels and normalized as the spec says. A waveform model (InputSpec shape
    ``(C, N)``, ``extra["sample_rate"]``) gets the clip itself, N samples, its [-1, 1]
    mapped to the spec's value range. `waveform(i)` is the clip the model
    hears, which the atlas plays. Splits: "all" (default), or "train" / "test" (every 5th
    file of a class is a test item). Files are read on first access and kept.

    Example:
        >>> ds = SoundFolder("my_sounds/", spec)  # doctest: +SKIP
        >>> x, label = ds[0]; x.shape == spec.shape, ds.classes[label]  # doctest: +SKIP
        (True, 'birds')
    """

    def __init__(self, path: str | Path, spec: InputSpec, split: str = "all") -> None:
        check_split(split)
        self.root = Path(path).expanduser()
        if not self.root.is_dir():
            raise SoundFolderError(f"sound folder {str(self.root)!r} is not a folder")
        self.raw = len(spec.shape) == 2  # a waveform model [C, N]: the clip is the input
        self.settings = _waveform_settings(spec) if self.raw else _settings(spec)
        self.model_spec = spec
        per_class = class_files(self.root, wav_files, "sounds")
        if not per_class:
            raise SoundFolderError(f"no .wav files in {str(self.root)!r} (in class subfolders "
                                   "or directly in the folder)")
        names = [name for name, _ in per_class]
        model_classes = list(spec.class_names or [])
        if set(names) <= set(model_classes):  # named by the model's classes: its indices
            self.classes, numbers = model_classes, [model_classes.index(n) for n in names]
        else:  # classes of their own, in sorted order
            self.classes, numbers = names, list(range(len(names)))
            _warn_mixed(names, model_classes, self.root)
        self.files, labels = split_files(per_class, numbers, split)
        self.split, self.labels = split, torch.tensor(labels, dtype=torch.int64)
        self.spec = dataclasses.replace(spec, class_names=list(self.classes),
                                        extra={**spec.extra, "dataset": f"folder:{self.root}"})
        self._clips: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.files)

    def item_name(self, i: int) -> str:
        """Item `i`'s file, relative to the folder (what the atlas names its player by)."""
        return self.files[check_index(i, len(self))].relative_to(self.root).as_posix()

    def waveform(self, i: int) -> torch.Tensor:
        """The clip of item `i` the model hears: float32 [n_samples] at its sample rate."""
        i = check_index(i, len(self))
        if i not in self._clips:
            try:
                samples, info = read_wav(self.files[i].read_bytes())
            except (WavError, OSError) as exc:
                raise SoundFolderError(f"sound {str(self.files[i])!r} cannot be read: {exc}. "
                                       "Remove or fix it") from exc
            if "declared_seconds" in info:
                logger.warning("sound %s is cut short: its header promises %.2f s, it holds "
                               "%.2f s; the model hears what is there", self.files[i],
                               info["declared_seconds"], info["seconds"])
            s = self.settings
            rate = int(s["sample_rate"])
            clip, _ = fit_clip(samples, info["rate"], rate, int(s["n_samples"] or rate),
                               "loudest")
            self._clips[i] = clip.astype(np.float32)  # kept for every later read: half size
        return torch.from_numpy(self._clips[i]).clone()  # the kept clip stays as read

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        i = check_index(i, len(self))
        if self.raw:  # samples in [-1, 1], as [1, N] in [0, 1]
            unit = ((self.waveform(i) + 1) / 2)[None]
        else:
            unit = spectrogram(self.waveform(i), self.settings)  # [1, F, T] in [0, 1]
        lo, hi = self.model_spec.value_range
        x = (lo + (hi - lo) * unit).expand(self.model_spec.shape[0], *unit.shape[1:])
        x = x.contiguous()
        if tuple(x.shape) != tuple(self.model_spec.shape):
            raise SoundFolderError(f"the model's audio settings make spectrograms of shape "
                                   f"{tuple(x.shape)}, but it takes "
                                   f"{tuple(self.model_spec.shape)}")
        return self.model_spec.to_model(x.unsqueeze(0))[0], int(self.labels[i])

    def __repr__(self) -> str:
        return (f"SoundFolder({str(self.root)!r}, split={self.split!r}, {len(self)} sounds, "
                f"{len(self.classes)} classes)")


def _settings(spec: InputSpec) -> dict[str, Any]:
    """A spectrogram model's audio settings (`neuronscope.core.audio.settings`)."""
    try:
        return settings(spec)
    except ValueError as exc:
        raise SoundFolderError(f"the model's input cannot be made from a sound: {exc}"
                               ) from exc


def _waveform_settings(spec: InputSpec) -> dict[str, Any]:
    """A waveform model's rate and clip length (its InputSpec's shape (C, N)); a warning
    when its value range is the default (0, 1), which samples in [-1, 1] are mapped to."""
    rate = (spec.extra or {}).get("sample_rate")
    if not rate:
        raise SoundFolderError("the model takes waveforms (InputSpec shape (C, N)) but its "
                               "InputSpec gives no extra['sample_rate'] to resample sounds to")
    if tuple(spec.value_range) == (0.0, 1.0):
        logger.warning("the model's InputSpec gives the default value range (0, 1): each "
                       "sound's samples in [-1, 1] are mapped to it; give value_range=(-1, 1) "
                       "if the model takes samples as they are")
    return {"sample_rate": int(rate), "n_samples": int(spec.shape[-1])}


def _warn_mixed(names: list[str], model_classes: list[str], root: Path) -> None:
    """Warn when some subfolders are named by the model's classes and others are not: the
    labels are then the folders' sorted order, not the model's class indices."""
    known = [n for n in names if n in model_classes]
    if not known:
        return
    other = [n for n in names if n not in model_classes]
    moved = [f"{n!r} is {names.index(n)} here, {model_classes.index(n)} for the model"
             for n in known if names.index(n) != model_classes.index(n)]
    logger.warning(
        "%s: %d subfolder(s) are the model's classes but %s %s not, so every subfolder is "
        "labelled by its sorted place%s; accuracy and lesions against the model's predictions "
        "need the model's class names only (move or rename the others)", root, len(known),
        ", ".join(repr(n) for n in other), "is" if len(other) == 1 else "are",
        f" ({'; '.join(moved[:3])}{'; ...' if len(moved) > 3 else ''})" if moved else "")


def sound_folder(name: str, spec: InputSpec, split: str | None = None, **kwargs: Any
                 ) -> SoundFolder:
    """``folder:PATH`` read for an audio model of `spec` (`SoundFolder`)."""
    if kwargs:
        raise TypeError(f"a sound folder takes no options {sorted(kwargs)}")
    return SoundFolder(name.split(":", 1)[1], spec, split or "all")
