"""bench/fleet.py's choice of the extra size between the last passing and first failing K."""

from bench.fleet import _between


def steps(*pairs):
    return [{"k": k, "ok": ok} for k, ok in pairs]


def test_one_size_halfway_between_the_last_pass_and_the_first_failure():
    assert _between(steps((200, True), (400, True), (800, False), (1000, False))) == 600
    assert _between(steps((400, True), (800, False), (600, True))) == 700  # narrows again


def test_no_extra_size_when_there_is_nothing_to_narrow():
    assert _between(steps((400, True), (450, False))) is None  # already close
    assert _between(steps((10, False), (25, False))) is None  # nothing passed
    assert _between(steps((10, True), (25, True))) is None  # nothing failed
