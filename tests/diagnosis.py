"""The diagnosis corpus tools (testdata/diagnosis/corpus.py, frozen.py), loaded once for
the tests that use them (tests/explain/test_frozen.py, tests/explain/test_corpus.py)."""

from __future__ import annotations

import importlib.util
import os
import sys

from tests import ROOT

DIAGNOSIS = os.path.join(ROOT, "testdata", "diagnosis")


def _load(name: str, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, os.path.join(DIAGNOSIS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules.setdefault(module_name, module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


corpus = _load("corpus", "diagnosis_corpus")
frozen = _load("frozen", "diagnosis_frozen")
