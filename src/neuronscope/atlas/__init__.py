"""The atlas: a folder with a page of numbers and pictures per unit, built section by
section (`build_atlas`); sections are plug-ins (`register_section`)."""

from .build import build_atlas
from .sections import Section, register_section, section_names, unregister_section

__all__ = ["Section", "build_atlas", "register_section", "section_names",
           "unregister_section"]
