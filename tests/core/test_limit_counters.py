"""The in-memory rate counter against the algorithm it inlines (:func:`gcra`), step by step."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kallemny_sio.config import Rate
from kallemny_sio.core.limits import MemoryLimiter, gcra

rates = st.builds(Rate, st.integers(1, 4) | st.integers(1, 50), st.sampled_from([0.5, 1.0, 10.0, 60.0, 900.0]))
# time moves by nothing, a little, or past a whole window (an idle key)
steps = st.lists(st.tuples(st.integers(0, 2), st.sampled_from([0, 0, 1, 50, 400, 1_000, 20_000, 1_000_000])),
                 min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(rate=rates, steps=steps)
def test_take_now_is_gcra(rate: Rate, steps: list[tuple[int, int]]) -> None:
    limiter, tats, now = MemoryLimiter(), {}, 1_700_000_000_000
    for key_index, advance in steps:
        now += advance
        key = f"k{key_index}"
        tat, wait = gcra(tats.get(key, 0), rate, now)
        if not wait:
            tats[key] = tat
        assert limiter.take_now(key, rate, now) == wait


def test_a_burst_then_one_per_interval() -> None:
    limiter, rate, now = MemoryLimiter(), Rate(3, 3.0), 1_000_000
    assert [limiter.take_now("k", rate, now) for _ in range(4)] == [0, 0, 0, 1000]
    assert limiter.take_now("k", rate, now + 999) == 1
    assert limiter.take_now("k", rate, now + 1000) == 0
