"""The test suite: one folder per package (oci, diff, explain, report, buildkit, cli) and
docs/ for the tests that keep the documentation true. Shared helpers live here and are
imported one way only, `from tests import imagegen as g`, `from tests.polling import
wait_for`; the fixtures are registered in tests/conftest.py."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout
