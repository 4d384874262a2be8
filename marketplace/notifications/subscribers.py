"""Notifications listen to the domains' notices (``events.NOTICES``): each signal is answered by the
function of the same name in ``notify.py``, which writes the e-mail and the in-app notice in the
announcer's transaction (sent later by ``flask mail worker``)."""

from __future__ import annotations

from typing import Any

from blinker import NamedSignal

from marketplace import events
from marketplace.notifications import notify


def _receiver(signal: NamedSignal) -> Any:
    tell = getattr(notify, signal.name.removeprefix("notice:"))

    def receive(sender: Any, args: tuple[Any, ...] = (), **_extra: Any) -> None:
        tell(sender, *args)

    return receive


_RECEIVERS = {signal: _receiver(signal) for signal in events.NOTICES}


def connect() -> None:
    for signal, receiver in _RECEIVERS.items():
        signal.connect(receiver)  # module-level receivers: weak references stay alive
