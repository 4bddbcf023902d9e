"""Lesion studies: `ablation_study` (study.py) and `unit_sweep`, built on `Sweep`
(sweep.py), which evaluates many variants of one layer per batch."""

from .study import AblationStudy, UnitSweep, ablation_study, unit_sweep

__all__ = ["AblationStudy", "UnitSweep", "ablation_study", "unit_sweep"]
