"""errors.py says it is the one tree: every exception class defined under src/tunasync derives from
TunasyncError, so callers can tell failures apart by type (and catch "anything we raise on purpose").
Only control flow that is not an error is exempt, by name."""

from __future__ import annotations

import importlib
import pkgutil

import tunasync
from tunasync.errors import TunasyncError

# Exceptions used as jumps, never as errors: a template's {{break}}/{{continue}}, a handler's early
# reply, a provider whose termination failed (Go ends the run silently), a crash a test injects.
CONTROL_FLOW = {
    "tunasync.gotemplate.execute._Break",
    "tunasync.gotemplate.execute._Continue",
    "tunasync.manager.http.Reply",
    "tunasync.worker.run._Silent",
    "tunasync.archive.crash.CrashInjected",
}


def _all_modules() -> list[str]:
    names = [tunasync.__name__]
    for info in pkgutil.walk_packages(tunasync.__path__, prefix="tunasync."):
        names.append(info.name)
    return names


def _subclasses(cls: type) -> set[type]:
    out: set[type] = set()
    todo = [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in out:
                out.add(sub)
                todo.append(sub)
    return out


def test_every_exception_class_of_the_project_is_in_the_tree() -> None:
    for name in _all_modules():
        importlib.import_module(name)
    ours = [c for c in _subclasses(BaseException) if c.__module__.split(".")[0] == "tunasync"]
    assert len(ours) > 30  # the walk found the project's classes
    stray = sorted(f"{c.__module__}.{c.__qualname__}" for c in ours
                   if not issubclass(c, TunasyncError) and f"{c.__module__}.{c.__qualname__}" not in CONTROL_FLOW)
    assert stray == [], "exception classes outside the errors.py tree (derive them from TunasyncError)"


def test_control_flow_exemptions_still_exist() -> None:
    """An exemption whose class was removed or renamed must leave the list too."""
    for dotted in CONTROL_FLOW:
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name), dotted
