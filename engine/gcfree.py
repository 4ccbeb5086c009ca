"""Long-lived, cycle-free state kept out of the cyclic garbage collector's walks.

The ingest path caches a few objects per visitor for as long as it may need them (sessions and
page visits for 30 minutes and more, GeoIP answers per address): hundreds of thousands of objects
on a busy server. CPython's collector walks every tracked object of a generation when it collects
it, so each young collection walked up to 20,000 of them (10-20 ms on the event loop: every
request in flight waited) and a full collection walked all of them (132-146 ms with 86k of them,
loadtest/results/run2/ingest/session5/diagnosis/gc_survivors.txt; more as the caches fill).
Reference counting alone frees them when the caches drop them.

`untrack(obj)` removes one object from the collector's lists (CPython's `PyObject_GC_UnTrack`).
It is only for objects that cannot be part of a reference cycle: instances whose fields hold
atomic values (numbers, strings, datetimes, tuples of those) or other such objects that never
refer back. `GcFree` is the mixin for dataclasses made of such fields: every instance is
untracked as it is created. Elsewhere (another Python implementation, no ctypes) it does nothing,
which only costs collection time.
"""

from __future__ import annotations

import sys

try:
    if sys.implementation.name != "cpython":
        raise ImportError("not CPython")
    import ctypes

    _untrack = ctypes.pythonapi.PyObject_GC_UnTrack
    _untrack.argtypes = (ctypes.py_object,)
    _untrack.restype = None
except (ImportError, AttributeError):  # pragma: no cover - other interpreters
    _untrack = None


def untrack(obj: object) -> object:
    """Stop the cyclic collector from walking `obj` (see the module's rule); returns `obj`."""
    if _untrack is not None:
        _untrack(obj)
    return obj


class GcFree:
    """Mixin for cycle-free dataclasses: each instance is untracked once built."""

    __slots__ = ()

    def __post_init__(self) -> None:
        untrack(self)
