"""The sound synthesis of the tones dataset: one clip of a class from a random generator.

`synthesize(rng, label)` makes a 1 s waveform at 8 kHz of class ``CLASSES[label]`` and its
metadata: notes of a timbre (`TIMBRES`: harmonic amplitudes) with an envelope, optional
vibrato, chords built of several notes, drum hits (`DRUMS`) and background noise. Every
random draw comes from the generator it is given, in a fixed order, so a clip depends on
its seed alone: `neuronscope.data.tones` seeds one generator per clip. Changing the order
or number of draws here changes every clip of the dataset.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SAMPLE_RATE = 8000
N_SAMPLES = 8000  # 1 s

CLASSES = ["sine", "harmonic", "vibrato", "chord", "percussion", "silence"]
# harmonic amplitudes of each timbre (harmonic k+1 at index k); cut below 3.8 kHz per note
TIMBRES: dict[str, list[float]] = {
    "sine": [1.0],
    "square": [1.0 / k if k % 2 else 0.0 for k in range(1, 10)],
    "saw": [1.0 / k for k in range(1, 10)],
    "organ": [1.0, 0.7, 0.0, 0.5, 0.0, 0.3, 0.0, 0.2],
    "reed": [0.4, 1.0, 0.8, 0.3, 0.5, 0.2, 0.15, 0.1, 0.05],
}
HARMONIC_TIMBRES = ["square", "saw", "organ", "reed"]
DRUMS = ["kick", "snare", "hat", "burst"]
DRUMS_UNDER_NOTES = 0.2  # share of tonal clips with a quieter drum hit or two under them
_NYQUIST_MARGIN = 3800.0


def _envelope(rng: np.random.Generator, t: np.ndarray, onset: float, duration: float,
              plucked: bool) -> np.ndarray:
    attack = rng.uniform(0.005, 0.04) if not plucked else 0.003
    release = rng.uniform(0.02, 0.12)
    rel_t = t - onset
    env = np.clip(rel_t / attack, 0.0, 1.0)
    if plucked:
        env = env * np.exp(-np.maximum(rel_t, 0.0) / rng.uniform(0.15, 0.45))
    env = env * np.clip((onset + duration - t) / release, 0.0, 1.0)
    return env


def _note(rng: np.random.Generator, t: np.ndarray, midi: float, timbre: str,
          vibrato: tuple[float, float] | None) -> np.ndarray:
    """One note (peak about 1) of `timbre` at fractional MIDI pitch `midi`; `vibrato` is
    (rate Hz, depth in semitones) or None."""
    f0 = 440.0 * 2.0 ** ((midi - 69.0) / 12.0)
    if vibrato is None:
        freq = np.full_like(t, f0)
        f_top = f0
    else:
        rate, depth = vibrato
        freq = f0 * 2.0 ** (depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
                            / 12.0)
        f_top = f0 * 2.0 ** (depth / 12.0)
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi)
    out = np.zeros_like(t)
    for k, amp in enumerate(TIMBRES[timbre], start=1):
        if amp and k * f_top < _NYQUIST_MARGIN:
            out += amp * np.sin(k * phase)
    peak = np.abs(out).max()
    return out / peak if peak > 0 else out


def _drum(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    """One drum hit (peak 1) of `n` samples."""
    t = np.arange(n) / SAMPLE_RATE
    if kind == "kick":
        freq = 45.0 + rng.uniform(80, 140) * np.exp(-t / 0.03)
        hit = np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE)
        hit *= np.exp(-t / rng.uniform(0.08, 0.2))
    elif kind == "snare":
        noise = np.diff(rng.standard_normal(n + 1))
        tone = 0.5 * np.sin(2 * np.pi * rng.uniform(160, 220) * t)
        hit = (noise / 2 + tone) * np.exp(-t / rng.uniform(0.05, 0.12))
    elif kind == "hat":
        noise = np.diff(rng.standard_normal(n + 2), n=2)
        hit = noise * np.exp(-t / rng.uniform(0.01, 0.04))
    else:  # a burst of white noise
        hit = rng.standard_normal(n) * np.exp(-t / rng.uniform(0.02, 0.08))
    return hit / np.abs(hit).max()


def _add_drums(rng: np.random.Generator, wave: np.ndarray, count: int,
               level_db: tuple[float, float]) -> list[dict[str, Any]]:
    hits = []
    for _ in range(count):
        kind = DRUMS[int(rng.integers(len(DRUMS)))]
        start = int(rng.uniform(0.0, 0.85) * SAMPLE_RATE)
        level = rng.uniform(*level_db)
        n = min(int(0.4 * SAMPLE_RATE), N_SAMPLES - start)
        wave[start:start + n] += 10 ** (level / 20) * _drum(rng, kind, n)
        hits.append({"drum": kind, "time": start / SAMPLE_RATE, "level_db": float(level)})
    return hits


def synthesize(rng: np.random.Generator, label: int) -> tuple[np.ndarray, dict[str, Any]]:
    """One clip of class ``CLASSES[label]``: (waveform float64 [N_SAMPLES] in [-1, 1],
    metadata). Metadata keys: label, class, timbre ("none" without notes), midi (of the
    note, or the chord's root; None without notes), pitch (its frequency in Hz, 0.0
    without notes), n_notes, vibrato (bool), vibrato_rate (Hz), vibrato_depth
    (semitones), envelope ("sustained", "plucked" or "none"), onset and duration (s),
    level_db (the notes' peak level; None without notes), percussive (bool: any drum
    hit), drums (the kinds hit), hits (time, kind, level of each), noise_db (level of the
    background noise).
    """
    cls = CLASSES[label]
    t = np.arange(N_SAMPLES) / SAMPLE_RATE
    wave = np.zeros(N_SAMPLES)
    meta: dict[str, Any] = {"label": label, "class": cls, "timbre": "none", "midi": None,
                            "pitch": 0.0, "n_notes": 0, "vibrato": False,
                            "vibrato_rate": 0.0, "vibrato_depth": 0.0, "envelope": "none",
                            "onset": 0.0, "duration": 0.0, "level_db": None}
    hits: list[dict[str, Any]] = []
    if cls in ("sine", "harmonic", "vibrato", "chord"):
        timbre = {"sine": "sine", "harmonic": None}.get(cls)
        if timbre is None:
            pool = HARMONIC_TIMBRES if cls == "harmonic" else list(TIMBRES)
            timbre = pool[int(rng.integers(len(pool)))]
        onset = rng.uniform(0.0, 0.25)
        duration = rng.uniform(0.45, 1.0 - onset)
        plucked = bool(rng.random() < 0.35)
        root = rng.uniform(55.0, 84.0) if cls != "chord" else rng.uniform(52.0, 72.0)
        if cls == "chord":
            shapes = [[0, 4, 7], [0, 3, 7], [0, 7], [0, 4, 7, 12], [0, 3, 7, 10], [0, 5, 9]]
            intervals = shapes[int(rng.integers(len(shapes)))]
        else:
            intervals = [0]
        vib = None
        if cls == "vibrato":
            vib = (rng.uniform(4.5, 7.5), rng.uniform(0.4, 1.0))
            meta.update(vibrato=True, vibrato_rate=vib[0], vibrato_depth=vib[1])
        level = rng.uniform(-20.0, -6.0)
        notes = sum(_note(rng, t, root + i, timbre, vib) for i in intervals)
        notes = notes / np.abs(notes).max()
        wave += 10 ** (level / 20) * notes * _envelope(rng, t, onset, duration, plucked)
        meta.update(timbre=timbre, midi=float(root), n_notes=len(intervals),
                    pitch=float(440.0 * 2.0 ** ((root - 69.0) / 12.0)),
                    envelope="plucked" if plucked else "sustained", onset=float(onset),
                    duration=float(duration), level_db=float(level))
        if rng.random() < DRUMS_UNDER_NOTES:
            hits = _add_drums(rng, wave, int(rng.integers(1, 3)), (-26.0, -12.0))
    elif cls == "percussion":
        hits = _add_drums(rng, wave, int(rng.integers(1, 5)), (-18.0, -4.0))
    noise_db = rng.uniform(-70.0, -40.0) if cls == "silence" else rng.uniform(-75.0, -50.0)
    wave += 10 ** (noise_db / 20) * rng.standard_normal(N_SAMPLES)
    peak = np.abs(wave).max()
    if peak > 0.99:
        wave *= 0.99 / peak
    meta.update(percussive=bool(hits), drums=sorted({h["drum"] for h in hits}), hits=hits,
                noise_db=float(noise_db))
    return wave, meta


__all__ = ["CLASSES", "DRUMS", "DRUMS_UNDER_NOTES", "HARMONIC_TIMBRES", "N_SAMPLES",
           "SAMPLE_RATE", "TIMBRES", "synthesize"]
