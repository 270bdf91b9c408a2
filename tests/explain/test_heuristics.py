"""The embedded-timestamp and random-content heuristics, and the line diff they use."""

from __future__ import annotations

import base64
import os
import secrets
import time
import uuid

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from repro.explain import heuristics, linediff
from repro.explain.heuristics import Clock, examine

BUILT = 1_700_000_000.0  # 2023-11-14T22:13:20Z: when the builds ran (an anchor)


def ts(a: bytes, b: bytes, epoch: int | None = None, anchors: tuple = (BUILT,)) -> dict:
    return examine(a, b, Clock(anchors=anchors, epochs=(epoch,) if epoch else ()))


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


def test_unix_seconds_in_a_binary_near_the_build():
    a = os.urandom(64) + b"T=1700000000;" + bytes(32)
    b = a.replace(b"1700000000", b"1700000107")
    d = ts(a, b)
    assert d["only_timestamps"] and d["timestamps"][0]["delta_seconds"] == 107.0


def test_compact_dates_and_fractions():
    assert ts(b"v=20231114221320\n", b"v=20231114221544\n")["only_timestamps"]
    assert ts(b"t=1700000000.25\n", b"t=1700000001.5\n")["only_timestamps"]
    assert ts(b"t=1700000000123\n", b"t=1700000000999\n")["only_timestamps"]  # ms


def test_bare_digits_far_apart_are_not_timestamps():
    # a counter or a size jumps further than two reads of a clock a build apart
    assert ts(b"size=1048576000\n", b"size=1049576512\n", anchors=()) == {}
    assert ts(b"n=1795883274\n", b"n=1796883276\n", anchors=()) == {}


def test_bare_digits_close_to_each_other_and_far_from_any_epoch_are_timestamps():
    # the case: `date +%s` four days ago, compared with no clock at all
    d = ts(b"1795883274\n", b"1795883276\n", anchors=(), epoch=1700000000)
    assert d["only_timestamps"] and d["timestamps"][0]["delta_seconds"] == 2.0


def test_bare_digits_near_the_epoch_need_an_anchor():
    # 1700000003 against 1700000001 with SOURCE_DATE_EPOCH 1700000000: the gap is not
    # small against the distance from the epoch (a counter on top of it, maybe)
    assert ts(b"v=1700000003\n", b"v=1700000001\n", epoch=1700000000, anchors=()) == {}
    assert ts(b"v=1700000003\n", b"v=1700000001\n", epoch=1700000000, anchors=(1700000000.0,))["timestamps"]


def test_the_answer_does_not_depend_on_the_day_it_is_asked():
    # nothing in the heuristics reads a clock: the same bytes, the same answer
    a, b = b"stamp=1795883274 at 2026-11-28T16:27:54Z\n", b"stamp=1795883276 at 2026-11-28T16:27:56Z\n"
    assert examine(a, b) == examine(a, b, Clock()) and examine(a, b)["only_timestamps"]


def test_written_dates_far_apart_still_count_when_they_are_the_only_difference():
    # an old published image against a rebuild today
    d = ts(b"# generated 2021-03-04 10:00:00\nx=1\n", b"# generated 2023-11-14 22:00:00\nx=1\n")
    assert d["only_timestamps"]


def test_timestamp_next_to_another_change_is_reported_but_not_only():
    d = ts(b"at 2023-11-14 22:13:20\nid=1\n", b"at 2023-11-14 22:13:40\nid=2\n", anchors=())
    assert d["timestamps"] and d["only_timestamps"] is False


def test_time_of_day_alone_is_a_clock_read_twice():
    # C's __TIME__ next to an equal __DATE__: only the time of day differs
    d = ts(b"\0Dec  2 2026\0" + b"13:30:30\0", b"\0Dec  2 2026\0" + b"13:31:02\0", anchors=())
    assert d["only_timestamps"] and d["timestamps"][0]["delta_seconds"] == 32.0


def test_far_apart_dates_with_other_changes_are_not_timestamps():
    assert ts(b"at 2001-01-01 00:00:00\nid=1\n", b"at 2011-01-01 00:00:00\nid=2\n") == {}


def test_future_and_prehistoric_values_are_not_plausible():
    assert ts(b"t=9999999999\n", b"t=9999999000\n") == {}
    assert ts(b"d=1970-01-01\n", b"d=1970-01-02\n") == {}


def test_version_bump_is_neither_timestamp_nor_random():
    assert ts(b"version=1.2.3\n", b"version=1.2.4\n") == {}
    assert ts(b"name=aaaaaaaaaaaaaaaa\n", b"name=bbbbbbbbbbbbbbbb\n") == {}


def test_uuid_is_random_content():
    # two fixed draws of uuid4 (random ones fail now and then by chance: that rate is what
    # test_small_random_values_are_random_content_almost_always bounds)
    d = ts(b"instance=3f2b8c1e-9d4a-4e7b-b6a2-5c0d91e7f348\n", b"instance=a71e05d9-2c63-4f18-8b3e-e94f6a20c7b1\n")
    assert d["random"]["alphabet"] == 16 and d["random"]["spans"] == 1


def test_random_bytes_with_one_equal_by_chance_are_still_random():
    # the case: 8 random bytes of which one happened to be equal
    a = bytes.fromhex("8f3a71c2d90e5b64")
    b = bytes.fromhex("12c671aa07f3e918")
    d = ts(a, b)["random"]
    assert d["differing_bytes"] == 7 and d["equal_by_chance"] == 1


@pytest.mark.parametrize("make", [
    lambda: os.urandom(4), lambda: os.urandom(16), lambda: secrets.token_hex(4).encode() + b"\n",
    lambda: base64.b64encode(os.urandom(12)) + b"\n", lambda: f"{uuid.uuid4()}\n".encode(),
], ids=["4-bytes", "16-bytes", "hex-8", "base64", "uuid"])
def test_small_random_values_are_random_content_almost_always(make):
    # the binomial model tolerates chance: out of 300 draws, at most a few are missed
    missed = sum(1 for _ in range(300) if "random" not in ts(make(), make()))
    assert missed <= 9


@pytest.mark.parametrize(("a", "b"), [
    (b"version=1.2.3\n", b"version=1.2.4\n"), (b"count=1234567890\n", b"count=1234999999\n"),
    (b"size: 1024\n", b"size: 2048\n"), (b"hello world\n", b"HELLO WORLD\n"),
    (b"pid=12345\n", b"pid=12399\n"), (b"user=alice\n", b"user=carol\n"), (b"abcd", b"abce"),
])
def test_structured_changes_are_not_random(a, b):
    assert "random" not in ts(a, b)


def test_reordered_lines_are_found():
    assert ts(b"b\na\nc\n", b"c\nb\na\n") == {"reordered": {"lines": 3, "moved": 3}}
    assert "reordered" not in ts(b"b\na\nc\n", b"c\nb\nd\n")


def test_random_binary_seed_is_random_content():
    assert ts(os.urandom(512), os.urandom(512))["random"]["alphabet"] == 256


def test_random_bytes_that_look_compressed_are_not_random_content():
    assert ts(b"\x28\xb5\x2f\xfd" + os.urandom(64), b"\x28\xb5\x2f\xfd" + os.urandom(64)) == {}


def test_different_sizes_are_not_random_content():
    assert ts(os.urandom(100), os.urandom(101)) == {}


def test_random_is_not_offered_when_not_allowed():
    assert examine(os.urandom(64), os.urandom(64), Clock(), allow_random=False) == {}


def test_real_clock_output_is_found():
    now = time.time()
    a = f"stamp {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now))}\n".encode()
    b = f"stamp {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now + 3))}\n".encode()
    assert examine(a, b)["timestamps"]


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
    d = heuristics.examine(a, b, Clock(anchors=(BUILT,), epochs=(1_600_000_000,)))
    assert set(d) <= {"timestamps", "only_timestamps", "random", "reordered"}


def test_dates_as_file_names_logs_and_us_dates_have_them():
    for a, b in [(b"backup-2026-12-02_15-30-18.tar\n", b"backup-2026-12-02_15-30-25.tar\n"),
                 (b'- - [02/Dec/2026:15:30:18 +0000] "GET /"\n', b'- - [02/Dec/2026:15:31:18 +0000] "GET /"\n'),
                 (b"at 12/02/2026 15:30:18\n", b"at 12/02/2026 15:30:28\n")]:
        assert ts(a, b, anchors=())["only_timestamps"], a


def test_a_large_random_file_is_judged_on_a_sample():
    d = ts(os.urandom(1 << 20), os.urandom(1 << 20))["random"]
    assert d["sampled"] == heuristics.SAMPLE and d["alphabet"] == 256
    structured = bytes(range(256)) * 4096
    assert "random" not in ts(structured, structured[::-1])  # every byte XORs to 255
    assert "random" not in ts(b"\0" * (1 << 20), b"\1" * (1 << 20))


# perf's `many-layers` pair (benchmarks/imageshapes.py): a build stamp written over a few
# words of one build's text; the other build has no date there at all
WORDS_A = (b"aelbzta npazxyaon sb jcznnhsx\n    njocbrb rood lfto jpyfz osk qalrzwg awrrf ibgmzlc "
           b"sgfrtka mwwb oodf\n    cwny kdryg ouhszwebfc vqexw prfbywdpft jkceugah\n    { oharrdtbqa\n")
WORDS_B = WORDS_A.replace(b"sgfrtka mwwb oodf\n    cwny", b"built 2024-05-02T10:11:12Z")


def test_a_date_time_written_on_one_side_only_is_a_timestamp():
    assert len(WORDS_A) == len(WORDS_B)  # written over, as imageshapes' patch does
    for a, b, side in ((WORDS_A, WORDS_B, "b"), (WORDS_B, WORDS_A, "a")):
        d = examine(a, b)
        assert d["timestamps"] == [{side: "2024-05-02T10:11:12Z", f"{side}_time": "2024-05-02T10:11:12+00:00",
                                    "only_in": side}]
        assert d["only_timestamps"] is False and "random" not in d
    # appended by one build only
    assert examine(b"x\n", b"x\nbuilt Thu May  2 10:11:12 UTC 2024\n")["timestamps"][0]["only_in"] == "b"


@pytest.mark.parametrize(("a", "b"), [
    (b"changes\n", b"changes\n2024-05-02: fixed the frobnicator\n"),  # a calendar date, no clock read
    (b"changes\n", b"changes\n2024-05-02T10:11:12Z a new paragraph of release notes that is long\n"),
    (b"x = 1\n", b"x = 2024-05-02T10:11:12Z\ny = 3\nz = 4\n" + b"w" * 80 + b"\n"),  # much more than a stamp
    (b"at 2023-11-14T22:13:20Z\n", b"at 2023-11-14T22:13:20Z, 2024-05-02T10:11:12Z\n" + b"q" * 90),
    (b"at x 2023-11-14T22:13:20Z\n", b"at y 2023-11-14T22:13:20Z\n"),  # the date is equal, the word is not
])
def test_a_one_sided_date_needs_a_clock_read_and_nothing_else_beside_it(a, b):
    assert "timestamps" not in examine(a, b)
