"""The planner is a pure function; these tests need no storage."""

from __future__ import annotations

from staticship.plan import LocalState, Reason, RemoteState, decide, make_plan


def local(*tokens: str, size: int = 10) -> LocalState:
    return LocalState(frozenset(tokens), size)


def test_absent_is_new() -> None:
    assert decide(local("a"), None) is Reason.NEW


def test_matching_token_is_unchanged() -> None:
    assert decide(local("a", "b-2"), RemoteState("b-2", 10)) is Reason.UNCHANGED


def test_other_token_is_changed() -> None:
    assert decide(local("a"), RemoteState("z", 10)) is Reason.CHANGED


def test_unknown_token_is_never_unchanged() -> None:
    assert decide(local("a"), RemoteState(None, 10)) is Reason.CHANGED


def test_size_mismatch_is_changed_even_with_token() -> None:
    assert decide(local("a", size=10), RemoteState("a", 11)) is Reason.CHANGED


def test_plan_orders_last_after_the_rest() -> None:
    plan = make_plan(
        {"manifest.json": local("m"), "a.css": local("a"), "b.css": local("b")},
        {"b.css": RemoteState("b", 10)},
        last=frozenset({"manifest.json"}),
    )
    assert [d.name for d in plan.decisions] == ["a.css", "b.css", "manifest.json"]
    assert plan.unchanged == ["b.css"]
    assert [d.name for d in plan.uploads] == ["a.css", "manifest.json"]


def test_remote_only_names_are_not_planned() -> None:
    plan = make_plan({"a": local("a")}, {"old": RemoteState("x", 1)})
    assert [d.name for d in plan.decisions] == ["a"]


def test_equal_bytes_with_other_write_parameters_is_headers() -> None:
    remote = RemoteState("m1", 3)
    same = LocalState(frozenset({"m1"}), 3, writes="w2", written="w2")
    other = LocalState(frozenset({"m1"}), 3, writes="w2", written="w1")
    unknown = LocalState(frozenset({"m1"}), 3, writes="w2", written=None)
    untracked = LocalState(frozenset({"m1"}), 3)  # the backend keeps no digests
    assert decide(same, remote) is Reason.UNCHANGED
    assert decide(other, remote) is Reason.HEADERS
    assert decide(unknown, remote) is Reason.HEADERS
    assert decide(untracked, remote) is Reason.UNCHANGED


def test_content_decides_before_headers() -> None:
    other = LocalState(frozenset({"m2"}), 3, writes="w2", written="w1")
    assert decide(other, None) is Reason.NEW
    assert decide(other, RemoteState("m1", 3)) is Reason.CHANGED
    assert decide(other, RemoteState("m2", 4)) is Reason.CHANGED


def test_headers_are_planned_as_writes() -> None:
    plan = make_plan({"a": LocalState(frozenset({"m"}), 1, writes="w2", written="w1")},
                     {"a": RemoteState("m", 1)})
    assert plan.by(Reason.HEADERS) == ["a"] and [d.name for d in plan.uploads] == ["a"]
    assert plan.unchanged == []
