"""Compare two images into a flat list of Findings (see engine.py)."""

from repro.diff.engine import DiffOptions, DiffResult, LayerPair, PlatformResult, content_lookup, diff_images
from repro.diff.finding import Finding
from repro.diff.policy import Policy

__all__ = ["DiffOptions", "DiffResult", "Finding", "LayerPair", "PlatformResult", "Policy", "content_lookup",
           "diff_images"]
