"""Session state of the engine: percent complete, counts, the closing summary, version choice."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qbsync.engine.model import Failed, Refreshed, Requeued, Synced, Unknown, Waiting
from qbsync.engine.session import SessionState, choose_version

OUTCOMES = st.one_of(
    st.builds(lambda i: Synced(i, "1-1", "1", {}), st.integers(1, 40)),
    st.builds(lambda i: Synced(i, "1-1", "1", {}, 530, "ignored a field"), st.integers(1, 40)),
    st.builds(lambda i: Failed(i, 3100, "in use"), st.integers(1, 40)),
    st.builds(lambda i: Unknown(i, "lost"), st.integers(1, 40)),
    st.builds(lambda i, r: Requeued(i, "not processed", 3231, retry_now=r), st.integers(1, 40), st.booleans()),
    st.builds(lambda i: Waiting(i, "waiting for Customer C1"), st.integers(1, 40)),
    st.builds(lambda i: Refreshed(i, "9", {}), st.integers(1, 40)),
)


@given(total=st.integers(0, 40), rounds=st.lists(st.lists(OUTCOMES, max_size=8), max_size=12))
def test_percent_never_decreases_and_is_100_only_when_done(total, rounds):
    state = SessionState(total=total)
    seen = []
    for outcomes in rounds:
        state.take(outcomes)
        seen.append(state.progress(more=True))
        # the state survives its JSON round trip between callbacks
        state = SessionState.from_dict(state.to_dict())
    assert seen == sorted(seen)
    assert all(isinstance(p, int) and 0 <= p <= 99 for p in seen)
    assert state.progress(more=False) == 100


def test_percent_counts_settled_changes_against_the_total_known_at_start():
    state = SessionState(total=4)
    state.take([Synced(1, "1-1", "1", {}), Failed(2, 3100, "in use")])
    assert state.progress(more=True) == 50
    state.take([Requeued(3, "not processed", 3231, retry_now=True)])  # may go again: not settled
    assert state.progress(more=True) == 50
    state.take([Synced(3, "1-1", "1", {})])
    assert state.progress(more=True) == 75
    assert state.progress(more=False) == 100


def test_a_change_requeued_twice_by_3231_is_not_sent_again_in_this_session():
    state = SessionState(total=1)
    state.take([Requeued(1, "not processed", 3231, retry_now=True)])
    assert 1 not in state.skip
    state.take([Requeued(1, "not processed", 3231, retry_now=True)])
    assert 1 in state.skip and state.counts == {"requeued": 1}


def test_summary_in_plain_words():
    state = SessionState(total=5)
    assert state.summary() == "Nothing to sync"
    state.take([Synced(i, "1-1", "1", {}) for i in range(1, 38)])
    state.take([Failed(40, 3100, "x"), Failed(41, 3140, "y")])
    assert state.summary() == "Synced 37, 2 errors"
    state.take([Synced(50, "1-1", "1", {}, 530, "w"), Unknown(51, "lost"), Waiting(52, "waiting for Customer C1")])
    assert state.summary() == "Synced 38, 1 with a warning, 2 errors, 1 outcome unknown, 1 waiting"


def test_choose_version_never_exceeds_quickbooks_nor_the_connection_ceiling():
    available = ["13.0", "14.0", "15.0", "16.0"]
    assert choose_version("16.0", "13.0", available) == "13.0"
    assert choose_version("14.0", "16.0", available) == "14.0"
    assert choose_version("15.1", None, available) == "15.0"
    assert choose_version(None, "16.0", available) == "16.0"
    assert choose_version("12.0", "16.0", available) is None


def test_steps_run_in_order_then_done():
    from qbsync.engine.session import APPLY, DETECT, DONE, EXPORT, STEPS, next_step

    # Approved imports first (their records may be what exports refer to), detection last (so
    # qbsync's own saves are in the mirror when QuickBooks reports them back).
    assert STEPS == (APPLY, EXPORT, DETECT)
    assert next_step(APPLY) == EXPORT and next_step(EXPORT) == DETECT
    assert next_step(STEPS[-1]) == DONE and next_step(DONE) == DONE
