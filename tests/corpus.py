"""The hostile-input corpus generator (testdata/make_corpus.py), loaded once for the
tests that use it (tests/cli/test_corpus.py, tests/cli/test_fuzz.py, tests/cli/test_faults.py)."""

from __future__ import annotations

import importlib.util
import os
import sys

from tests import ROOT


def _load_make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", os.path.join(ROOT, "testdata", "make_corpus.py"))
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules.setdefault("make_corpus", module)
    spec.loader.exec_module(module)
    return module


mc = _load_make_corpus()
