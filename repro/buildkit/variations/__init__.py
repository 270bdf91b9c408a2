"""Variations: what repro changes between the control build and the later builds of a
check, in the spirit of reprotest (see repro.buildkit.variations.context)."""

from repro.buildkit.variations.context import Vary, perturbed_context, shift_mtimes

__all__ = ["Vary", "perturbed_context", "shift_mtimes"]
