"""Compare two images into a flat list of Findings (engine.py), and hand the content of
the files that differ to whoever explains or extracts them (content.py)."""

from repro.diff.content import ContentKey, Contents, fetch_contents
from repro.diff.engine import DiffOptions, DiffResult, InputImage, LayerPair, PlatformResult, diff_images
from repro.diff.finding import Finding
from repro.diff.policy import Policy

__all__ = ["ContentKey", "Contents", "DiffOptions", "DiffResult", "Finding", "InputImage", "LayerPair",
           "PlatformResult", "Policy", "diff_images", "fetch_contents"]
