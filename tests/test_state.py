"""The state record, the deployment history and --prune's proof: pure logic."""

from __future__ import annotations

import json

import pytest

from staticship.plan import RemoteState
from staticship.prune import kept_names, manifest_names, too_young
from staticship.state import HISTORY, UNKNOWN, State, Update, deployment_names, record_deployment


def test_a_record_round_trips_with_typed_fields() -> None:
    state = State({"a.css": ("etag-1", "md5-1")}, {"inputs": "k", "outputs": {"a.css": ["t", 3]}},
                  ["d2", "d1"])
    again = State.loads(state.dumps(), "tag")
    assert again.tokens == {"a.css": ("etag-1", "md5-1")}
    assert again.manifest == {"inputs": "k", "outputs": {"a.css": ["t", 3]}}
    assert again.deployments == ["d2", "d1"] and again.version == "tag" and again.problem is None
    assert again.recorded_output("a.css") == ("t", 3) and again.recorded_output("b") is None


@pytest.mark.parametrize("data, problem", [
    (b"{", "it is not JSON"),
    (b"[]", "it is not of format 1"),
    (b'{"staticship": 2}', "it is not of format 1"),
    (b'{"staticship":1,"tokens":[]}', "its tokens are not a mapping"),
    (b'{"staticship":1,"tokens":{"a":["x"]}}', "its token for 'a' is not a pair of strings"),
    (b'{"staticship":1,"sections":[]}', "its sections are not a mapping"),
    (b'{"staticship":1,"sections":{"manifest":{"inputs":"k","outputs":{"a":["t","3"]}}}}',
     "its manifest section is of the wrong shape"),
    (b'{"staticship":1,"sections":{"deployments":"abc"}}', "its deployments are not a list of ids"),
    (b'{"staticship":1,"sections":{"deployments":[null]}}', "its deployments are not a list of ids"),
    (b'{"staticship":1,"sections":{"uses":[]}}', "its uses are not ids and names"),
    (b'{"staticship":1,"sections":{"uses":{"ids":["a","a"],"names":{}}}}',
     "its uses are not ids and names"),
    (b'{"staticship":1,"sections":{"uses":{"ids":["?"],"names":{}}}}',
     "its uses are not ids and names"),
    (b'{"staticship":1,"sections":{"uses":{"ids":["a"],"names":{"x":2}}}}',
     "its uses of 'x' are not a mask of its ids"),
    (b'{"staticship":1,"sections":{"uses":{"ids":["a"],"names":{"x":0}}}}',
     "its uses of 'x' are not a mask of its ids"),
    (b'{"staticship":1,"sections":{"uses":{"ids":["a"],"names":{"x":true}}}}',
     "its uses of 'x' are not a mask of its ids"),
    (b'{"staticship":1,"sections":{"postprocess":[]}}', "its postprocess section is not a mapping"),
    (b'{"staticship":1,"writes":[]}', "its writes are not a mapping"),
    (b'{"staticship":1,"writes":{"d1":"a.css"}}', "its writes for 'd1' are not a list of names"),
    (b'{"staticship":1,"writes":{"d1":[1]}}', "its writes for 'd1' are not a list of names"),
    (b'{"staticship":1,"writes":{"d1":["a"],"d2":["a"]}}', "its writes name 'a' twice"),
])
def test_a_record_of_the_wrong_shape_is_absent(data: bytes, problem: str) -> None:
    state = State.loads(data, "v")
    assert state.problem == problem
    assert (state.tokens, state.manifest, state.deployments, state.version) == ({}, None, [], "v")
    assert (state.used, state.postprocess) == ({}, None)
    assert state.writes == {}


def test_write_digests_are_stored_grouped_by_digest_and_read_back() -> None:
    state = State(writes={"a.css": "d1", "b.css": "d1", "c.js": "d2"})
    data = state.dumps()
    assert b'"writes":{"d1":["a.css","b.css"],"d2":["c.js"]}' in data
    assert State.loads(data).writes == {"a.css": "d1", "b.css": "d1", "c.js": "d2"}
    assert b"writes" not in State().dumps()  # records without digests stay as they were


def test_an_update_replaces_the_write_digests_or_keeps_them() -> None:
    theirs = State(writes={"a": "d1", "gone": "d1"})
    assert Update({"a"}, writes={"a": "d2"}).apply(theirs).writes == {"a": "d2"}
    assert Update({"a"}).apply(theirs).writes == {"a": "d1", "gone": "d1"}
    assert Update(writes={}).apply(theirs).writes == {}


def test_a_deployment_adds_its_digests_to_those_of_the_names_kept_deployments_use() -> None:
    """A manifest deployment's digests join those of the names earlier kept
    deployments use (a rollback publishes their objects again); the digests
    of names no kept deployment uses go."""
    theirs = State(deployments=["d1"], used={"d1": frozenset({"a.1.css", "b.css"})},
                   writes={"a.1.css": "w1", "b.css": "w1", "forgotten.css": "w1"})
    after = Update(deployment="d2", names={"a.2.css", "b.css"},
                   writes={"a.2.css": "w2", "b.css": "w2"}).apply(theirs)
    assert after.writes == {"a.1.css": "w1", "a.2.css": "w2", "b.css": "w2"}
    assert State.loads(after.dumps()).writes == after.writes


def test_a_missing_record_has_no_problem() -> None:
    assert State.loads(None).problem is None


def test_an_update_applies_to_the_record_current_when_written() -> None:
    theirs = State({"x": ("t", "m"), "a": ("old", "m")}, None, ["b", "z"], version="v2")
    mine = Update({"a"}, {"n": ("t2", "m2")}, {"inputs": "k", "outputs": {}}, "a-run")
    merged = mine.apply(theirs)
    assert merged.tokens == {"x": ("t", "m"), "n": ("t2", "m2")}
    assert merged.deployments == ["a-run", "b", "z"] and merged.version == "v2"
    assert merged.manifest == {"inputs": "k", "outputs": {}}


def test_uses_round_trip_as_one_mask_per_name() -> None:
    used = {"d3": frozenset({"a", "m"}), "d2": frozenset({"a", "b", "m"}), "d1": frozenset({"c"})}
    state = State({}, None, ["d3", "d2", UNKNOWN, "d1"], used=used, postprocess={"format": 1})
    raw = json.loads(state.dumps())["sections"]
    assert raw["uses"] == {"ids": ["d3", "d2", "d1"], "names": {"a": 3, "m": 3, "b": 2, "c": 4}}
    assert raw["postprocess"] == {"format": 1}
    again = State.loads(state.dumps())
    assert again.used == used and again.postprocess == {"format": 1} and again.problem is None


def test_an_update_unites_the_uses_of_both_runs() -> None:
    """Another run recorded ``b`` meanwhile: both deployments keep their
    names, in the history's order; ids the history drops lose theirs."""
    theirs = State({}, {"inputs": "b"}, ["b", "a"], used={"b": frozenset({"x", "y"}),
                                                          "a": frozenset({"x", "z"})},
                   postprocess={"theirs": 1})
    mine = Update(manifest={"inputs": "c"}, deployment="c", names={"x", "w"},
                  postprocess={"mine": 1})
    merged = mine.apply(theirs)
    assert merged.deployments == ["c", "b", "a"] and merged.postprocess == {"mine": 1}
    assert merged.used == {"c": {"x", "w"}, "b": {"x", "y"}, "a": {"x", "z"}}
    again = Update(manifest={"inputs": "b"}, deployment="b", names={"v"}, before="live",
                   before_names={"l"}).apply(merged)
    assert again.deployments == ["b", "live", "c", "a"] and again.postprocess is None
    assert again.used["b"] == {"x", "y", "v"} and again.used["live"] == {"l"}
    long = State({}, None, ["d%d" % i for i in range(HISTORY)],
                 used={"d%d" % i: frozenset({"n%d" % i}) for i in range(HISTORY)})
    cut = Update(deployment="new", names={"n"}).apply(long)
    assert set(cut.used) == {"new", *("d%d" % i for i in range(HISTORY - 2))}
    plain = Update({"x"}).apply(merged)  # no deployment: history, uses, postprocess kept
    assert (plain.deployments, plain.used, plain.postprocess) == (
        merged.deployments, merged.used, merged.postprocess)


def test_history_with_a_gap_and_its_length() -> None:
    assert record_deployment([], "d1", gap=True) == ["d1", UNKNOWN]
    assert record_deployment(["x"], "d1", gap=True, before="live") == ["d1", "live", UNKNOWN, "x"]
    assert record_deployment(["d1", UNKNOWN], "d2", gap=False) == ["d2", "d1", UNKNOWN]
    assert record_deployment(["d2", "d1"], "d1", gap=False) == ["d1", "d2"]
    long = record_deployment(["d%d" % i for i in range(HISTORY)], "new", gap=False)
    assert len(long) == HISTORY and long[0] == "new" and long[-1] == UNKNOWN


def test_deployment_record_names() -> None:
    assert deployment_names(b'{"id":"d","names":["a","b"]}') == (["a", "b"], "")
    assert deployment_names(None) == (None, "it is missing")
    assert deployment_names(b"nope")[0] is None
    assert deployment_names(b'{"names":"ab"}')[0] is None
    assert deployment_names(b'{"names":[1]}')[0] is None
    assert deployment_names(b"[]")[0] is None


def test_kept_names_fail_closed() -> None:
    records = {"d2": ["a", "b"], "d1": ["c"]}
    assert kept_names(["d3", "d2", "d1", "d0"], 3, records.get) == ({"a", "b", "c"}, None)
    assert kept_names(["d3", "d2", UNKNOWN], 2, records.get) == ({"a", "b"}, None)
    assert kept_names(["d3", "d2", UNKNOWN], 3, records.get)[1] == "the deployment history has a gap"
    assert kept_names(["d3", "gone"], 3, records.get)[1] == (
        "the record of deployment gone cannot be read")
    assert kept_names(["d3"], 3, records.get) == (set(), None)


def test_manifest_names() -> None:
    data = b'{"paths": {"a.css": "a.1.css", "b.js": "b.2.js"}, "version": "1.1"}'
    assert manifest_names(data, "m.json") == ["a.1.css", "a.css", "b.2.js", "b.js", "m.json"]
    assert manifest_names(b"{", "m.json") is None
    assert manifest_names(b'{"paths": ["a"]}', "m.json") is None
    assert manifest_names(b'{"paths": {"a": 1}}', "m.json") is None
    assert manifest_names(None, "m.json") is None


def test_too_young() -> None:
    listed = {"old": RemoteState("t", 1, modified=1000.0), "new": RemoteState("t", 1, modified=1950.0),
              "edge": RemoteState("t", 1, modified=1940.0), "undated": RemoteState("t", 1)}
    assert too_young(listed, 60, now=2000.0) == {"new", "undated"}
    assert too_young(listed, 0, now=2000.0) == set()


def test_same_record_is_what_dumps_compares() -> None:
    base = State({"x": ("t", "m")}, {"inputs": "k", "outputs": {"a": ["e", 1]}}, ["d1"],
                 used={"d1": frozenset({"a"})}, postprocess={"format": 1},
                 writes={"a": "w"})
    twin = State.loads(base.dumps(), version="other tag")
    assert twin.same_record(base) and twin.dumps() == base.dumps()
    for changed in (State(base.tokens, base.manifest, ["d1", "d0"], used=base.used,
                          postprocess=base.postprocess, writes=base.writes),
                    Update(writes={"a": "w2"}).apply(base),
                    Update({"x"}).apply(base),
                    Update(deployment="d2", names={"a"}).apply(base)):
        assert not changed.same_record(base) and changed.dumps() != base.dumps()
