"""The embedded-timestamp and random-content heuristics, and the line diff they use."""

from __future__ import annotations

import os
import time
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from repro.explain import heuristics, linediff
from repro.explain.heuristics import examine

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def ts(a: bytes, b: bytes, epoch: int | None = None) -> dict:
    return examine(a, b, NOW, epoch)


def test_iso_timestamps_differing_by_seconds():
    d = ts(b'{"built": "2023-11-14T22:13:20Z", "v": 1}\n',
           b'{"built": "2023-11-14T22:14:05Z", "v": 1}\n')
    assert d["only_timestamps"]
    assert d["timestamps"] == [{
        "a": "2023-11-14T22:13:20Z", "b": "2023-11-14T22:14:05Z",
        "a_time": "2023-11-14T22:13:20+00:00", "b_time": "2023-11-14T22:14:05+00:00",
        "delta_seconds": 45.0}]


def test_date_command_output():
    d = ts(b"Built on Tue Nov 14 22:13:20 UTC 2023 by ci\n",
           b"Built on Tue Nov 14 22:19:59 UTC 2023 by ci\n")
    assert d["timestamps"][0]["a"] == "Tue Nov 14 22:13:20 UTC 2023"


def test_rfc2822_and_c_date_time_macros():
    d = ts(b"Date: Tue, 14 Nov 2023 22:13:20 +0000\n", b"Date: Tue, 14 Nov 2023 23:13:20 +0100\n")
    assert d["timestamps"][0]["delta_seconds"] == 0.0  # the same instant, another zone
    d = ts(b"\0\0v1 Nov 14 2023 22:13:20\0", b"\0\0v1 Nov 14 2023 22:15:01\0")
    assert d["only_timestamps"] and d["timestamps"][0]["b"] == "Nov 14 2023 22:15:01"


def test_unix_seconds_in_a_binary_near_now():
    a = os.urandom(64) + b"T=1700000000;" + bytes(32)
    b = a.replace(b"1700000000", b"1700000107")
    d = ts(a, b)
    assert d["only_timestamps"] and d["timestamps"][0]["delta_seconds"] == 107.0


def test_compact_dates_and_fractions():
    assert ts(b"v=20231114221320\n", b"v=20231114221544\n")["only_timestamps"]
    assert ts(b"t=1700000000.25\n", b"t=1700000001.5\n")["only_timestamps"]
    assert ts(b"t=1700000000123\n", b"t=1700000000999\n")["only_timestamps"]  # ms


def test_bare_digits_far_from_now_and_epoch_are_not_timestamps():
    # a size, a counter: plausible as a Unix time, but nowhere near this build
    assert ts(b"size=1048576000\n", b"size=1048576512\n") == {}


def test_bare_digits_near_source_date_epoch_are_timestamps():
    assert ts(b"size=1048576000\n", b"size=1048576512\n", epoch=1048570000)["timestamps"]


def test_written_dates_far_apart_still_count_when_they_are_the_only_difference():
    # an old published image against a rebuild today
    d = ts(b"# generated 2021-03-04 10:00:00\nx=1\n", b"# generated 2023-11-14 22:00:00\nx=1\n")
    assert d["only_timestamps"]


def test_timestamp_next_to_another_change_is_reported_but_not_only():
    d = ts(b"at 2023-11-14 22:13:20\nid=1\n", b"at 2023-11-14 22:13:40\nid=2\n")
    assert d["timestamps"] and d["only_timestamps"] is False


def test_far_apart_dates_with_other_changes_are_not_timestamps():
    assert ts(b"at 2001-01-01 00:00:00\nid=1\n", b"at 2011-01-01 00:00:00\nid=2\n") == {}


def test_future_and_prehistoric_values_are_not_plausible():
    assert ts(b"t=9999999999\n", b"t=9999999000\n") == {}
    assert ts(b"d=1970-01-01\n", b"d=1970-01-02\n") == {}


def test_version_bump_is_neither_timestamp_nor_random():
    assert ts(b"version=1.2.3\n", b"version=1.2.4\n") == {}
    assert ts(b"name=aaaaaaaaaaaaaaaa\n", b"name=bbbbbbbbbbbbbbbb\n") == {}


def test_uuid_is_random_content():
    d = ts(f"instance={uuid.uuid4()}\n".encode(), f"instance={uuid.uuid4()}\n".encode())
    assert d["random"]["alphabet"] == 16 and d["random"]["spans"] == 1


def test_random_binary_seed_is_random_content():
    assert ts(os.urandom(512), os.urandom(512))["random"]["alphabet"] == 256


def test_random_bytes_that_look_compressed_are_not_random_content():
    assert ts(b"\x28\xb5\x2f\xfd" + os.urandom(64), b"\x28\xb5\x2f\xfd" + os.urandom(64)) == {}


def test_different_sizes_are_not_random_content():
    assert ts(os.urandom(100), os.urandom(101)) == {}


def test_random_is_not_offered_when_not_allowed():
    assert examine(os.urandom(64), os.urandom(64), NOW, None, allow_random=False) == {}


def test_real_clock_output_is_found_near_now():
    now = time.time()
    a = f"stamp {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now))}\n".encode()
    b = f"stamp {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now + 3))}\n".encode()
    assert examine(a, b, now, None)["timestamps"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["a\n", "b\n", "c\n", "dd\n", "\n"]), max_size=40),
       st.lists(st.sampled_from(["a\n", "b\n", "c\n", "ee\n", "\n"]), max_size=40))
def test_line_diff_hunks_turn_a_into_b(a, b):
    out, pos = [], 0
    for i1, i2, j1, j2 in linediff.hunks(a, b, 10_000):
        assert pos <= i1 <= i2
        out += a[pos:i1] + b[j1:j2]
        pos = i2
    assert out + a[pos:] == b


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.binary(max_size=600))
def test_heuristics_never_raise_and_stay_json_ready(a, b):
    d = heuristics.examine(a, b, NOW, 1_600_000_000)
    assert set(d) <= {"timestamps", "only_timestamps", "random"}
