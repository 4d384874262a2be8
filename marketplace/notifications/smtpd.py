"""A local SMTP server for development and tests (aiosmtpd): it keeps what the site sends.

``./dev run`` starts ``flask mail smtpd`` on 127.0.0.1:8025 when MAIL_SERVER is not set; each message
is a file under ``instance/mail/new/`` (a Maildir: ``mutt -f instance/mail`` reads it too).
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Inbox:
    """What a server received, in order (tests read it)."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    refuse: bool = False  # answer 451 to every message (a server that is up but refusing)
    unknown: set[str] = field(default_factory=set)  # addresses answered with 550 (no such mailbox)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.envelopes.clear()
            self.unknown.clear()


class Handler:
    def __init__(self, inbox: Inbox, maildir: Path | None = None) -> None:
        self.inbox = inbox
        self.maildir = mailbox.Maildir(maildir, create=True) if maildir else None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address.lower() in self.inbox.unknown:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        if self.inbox.refuse:
            return "451 4.3.0 Try again later"
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.inbox.lock:
            self.inbox.messages.append(message)
            self.inbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.maildir is not None:
            self.maildir.add(raw)
            print(f"mail: {message['To']} — {message['Subject']}", flush=True)  # noqa: T201 (the dev server's log)
        return "250 Message accepted for delivery"


def start(host: str, port: int, maildir: Path | None = None) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(Handler(inbox, maildir), hostname=host, port=port)
    controller.start()
    return controller, inbox


def serve(host: str, port: int, maildir: Path) -> None:
    controller, _ = start(host, port, maildir)
    print(f"SMTP server on {host}:{port}, keeping messages in {maildir}/new", flush=True)  # noqa: T201
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
