"""Notifications listen to the domains' notices (``events.NOTICES``): each signal is answered by the
function of the same name in ``notify.py``, which writes the e-mail and the in-app notice in the
announcer's transaction (sent later by the job worker, ``flask worker``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from blinker import NamedSignal

from marketplace import events
from marketplace.db import utcnow
from marketplace.jobs import services as jobs
from marketplace.notifications import notify, services


def _receiver(signal: NamedSignal) -> Any:
    tell = getattr(notify, signal.name.removeprefix("notice:"))

    def receive(sender: Any, args: tuple[Any, ...] = (), **_extra: Any) -> None:
        tell(sender, *args)

    return receive


_RECEIVERS = {signal: _receiver(signal) for signal in events.NOTICES}


def deliver_outbox() -> None:
    """(The job ``mail.deliver``.) Send the due messages of the mail outbox; while some wait for a retry
    (SMTP down, backoff), come back when the first is due. Each message records its own attempts."""
    while services.deliver(limit=200):
        pass
    due = services.next_due()
    if due is not None:  # never sooner than a second from now: no busy loop
        raise jobs.RetryLater(max(due, utcnow() + dt.timedelta(seconds=1)))


def send_reminders() -> None:
    """(The scheduled job ``mail.reminders``.) Quotes, reservations and certificates about to expire."""
    notify.reminders()


def connect() -> None:
    for signal, receiver in _RECEIVERS.items():
        signal.connect(receiver)  # module-level receivers: weak references stay alive
    jobs.register(services.DELIVER_JOB, deliver_outbox)
    jobs.register("mail.reminders", send_reminders)
    jobs.schedule("mail.reminders", "mail.reminders", dt.timedelta(hours=1))
    # A safety net: messages whose job was dead-lettered are still sent once the cause is fixed.
    jobs.schedule(services.DELIVER_JOB, services.DELIVER_JOB, dt.timedelta(minutes=10))
