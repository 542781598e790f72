"""Reload diff by name over merged leaves (docs/compat.md §4.13)."""

from tunasync.worker.config import MirrorConfig, diff_mirrors


def m(name: str, **kw) -> MirrorConfig:
    return MirrorConfig(name=name, upstream=f"rsync://h/{name}/", **kw)


def apply(old, changes):
    by = {x.name: x for x in old}
    for c in changes:
        if c.op == "delete":
            del by[c.name]
        else:
            by[c.name] = c.new
    return sorted(by.values(), key=lambda x: x.name)


def test_identical_lists_give_nothing():
    assert diff_mirrors([m("a"), m("b")], [m("b"), m("a")]) == []


def test_all_adds_and_all_deletes():
    assert [(c.op, c.name) for c in diff_mirrors([], [m("b"), m("a")])] == [("add", "a"), ("add", "b")]
    assert [(c.op, c.name) for c in diff_mirrors([m("a"), m("b")], [])] == [("delete", "a"), ("delete", "b")]


def test_mixed_changes_in_name_order_and_applying_them_gives_the_new_list():
    old = [m("a"), m("b"), m("c", interval=5), m("e")]
    new = [m("c", interval=6), m("d"), m("a"), m("e", env={"X": "1"})]
    changes = diff_mirrors(old, new)
    assert [(c.op, c.name) for c in changes] == [("delete", "b"), ("modify", "c"), ("add", "d"), ("modify", "e")]
    assert changes[1].old.interval == 5 and changes[1].new.interval == 6
    assert apply(old, changes) == sorted(new, key=lambda x: x.name)


def test_position_in_the_file_is_not_a_change():
    a1 = m("a").located("one.conf", "mirrors[0]")
    a2 = m("a").located("two.conf", "mirrors[7]")
    assert diff_mirrors([a1], [a2]) == []
