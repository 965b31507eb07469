"""Majority vote (self-consistency): constructed cases and properties."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from t5spec.evaluate.voting import majority_vote, vote_counts


def test_constructed_cases():
    assert majority_vote(["72", "70", "72", None, "70", "72"]) == "72"
    assert majority_vote([None, "5", None, None]) == "5"  # None never votes
    assert majority_vote([None, None]) is None and majority_vote([]) is None
    assert majority_vote(["8", "9", "9", "8"]) == "8"  # tie: first to appear
    assert majority_vote(["9", "8", "8", "9"]) == "9"
    # exact answers: 2, 2.0 and 4/2 are one answer
    votes = [Fraction(2), Fraction("2.0"), Fraction(3), Fraction(4, 2), Fraction(3)]
    assert majority_vote(votes) == 2
    assert vote_counts(votes) == {Fraction(2): 3, Fraction(3): 2}


answers = st.lists(st.one_of(st.none(), st.integers(0, 4)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(answers)
def test_winner_has_the_most_votes_and_ties_go_to_the_first(xs):
    winner = majority_vote(xs)
    given_ = [x for x in xs if x is not None]
    if not given_:
        assert winner is None
        return
    counts = {a: given_.count(a) for a in given_}
    assert counts[winner] == max(counts.values())
    tied = [a for a in given_ if counts[a] == counts[winner]]
    assert winner == tied[0]


@settings(max_examples=100, deadline=None)
@given(answers, st.integers(0, 12), st.integers(1, 3))
def test_none_answers_never_change_the_result(xs, at, n):
    assert majority_vote(xs[:at] + [None] * n + xs[at:]) == majority_vote(xs)
