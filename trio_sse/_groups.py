"""Exception groups from our own nurseries, unwrapped: a user gets the one exception
that happened, never a group (trio-websocket #188 lists that mistake)."""

from __future__ import annotations

import sys

import trio

if sys.version_info < (3, 11):  # trio depends on the backport there
    from exceptiongroup import BaseExceptionGroup

__all__ = ["unwrap"]


def unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The single exception inside nested groups, or the group itself if there are more.

    Cancelled leaves do not count (cancellation is level-triggered: the next checkpoint
    raises it again), so an outer cancel scope that hit both the block and the reader
    task does not turn the block's exception, or the Cancelled itself, into a group.
    """
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        else:
            leaves.append(exc)

    collect(group)
    others = [leaf for leaf in leaves if not isinstance(leaf, trio.Cancelled)]
    if len(others) == 1:
        return others[0]
    if not others:
        return leaves[0]
    return group
