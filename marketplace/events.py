"""Domain events: a domain announces what happened; other packages subscribe to it.

The announcing domain imports only this module, never its subscribers. Each subscribing package keeps
its receivers in its own ``subscribers.py`` with a ``connect()`` that ``create_app`` calls.

Receivers run synchronously, inside the announcer's unit of work: they may add and flush, never commit,
and an exception in a receiver rolls the whole request (or CLI command) back, as if the announcer
had raised it. A receiver that needs slow work done should record it for a worker instead.

Every signal's sender is the changed object; the keyword arguments are listed beside it.
"""

from __future__ import annotations

from blinker import NamedSignal, Namespace

_events = Namespace()

#: A cooperative's lot was listed (status ``listed``, flushed). Subscribers: passports (publish its passport).
lot_listed = _events.signal("lot-listed")

#: Many lots of one cooperative were listed at once (a spreadsheet import), instead of one ``lot_listed`` each.
#: Sender: the cooperative (Organisation); ``lots``: the listed Lots, flushed. Subscribers: passports (publish
#: their passports in one batch, in the same transaction: a listed lot always has its passport).
lots_listed = _events.signal("lots-listed")

#: The Union approved a product: a new ProductVersion is published. Subscribers: passports (publish).
product_published = _events.signal("product-published")

#: A cooperative's premium ledger changed (premium due, payment, fund split or correction).
#: Sender: the cooperative's id; ``entries``: the new FundEntry rows. Subscribers: passports (republish the
#: passports of its listed lots and of the published products made from them, which show the ledger).
ledger_entry_recorded = _events.signal("ledger-entry-recorded")

#: Union staff accepted an MSME's practice report. Sender: the MSME's organisation id; ``report``.
#: Subscribers: passports (republish the MSME's products, whose passports show the report).
practice_report_accepted = _events.signal("practice-report-accepted")

#: A certificate's status was changed on the certificate's own page (suspend, reinstate, revoke).
#: Sender: the Certificate; ``old``: the previous CertificateStatus, ``actor``, ``reason``.
#: Subscribers: control (audit trail). Passports and search read the status live and need no event.
certificate_status_changed = _events.signal("certificate-status-changed")

#: A certificate's status was set, by its page or by a control decision (every change). Sender: the Certificate.
#: Subscribers: passports (the passports' status-list bits changed: the provable log records it).
certificate_status_set = _events.signal("certificate-status-set")

#: An organisation's details that passports show changed (its registration number, an MSME's circular service
#: terms). Sender: the Organisation.
#: Subscribers: passports (one coalesced job republishes the passports that name it).
organisation_changed = _events.signal("organisation-changed")

#: Union staff confirmed an allocation: the sale is firm. Sender: the Allocation; ``actor``: the staff member.
#: Subscribers: funds (premium becomes due to each contributing cooperative).
allocation_confirmed = _events.signal("allocation-confirmed")

#: An MSME closed a repair, take-back or resale request. Sender: the Product; ``request``: the ServiceRequest.
#: Subscribers: passports (publish the product's passport, which shows its service history).
service_closed = _events.signal("service-closed")

ALL = (lot_listed, lots_listed, product_published, ledger_entry_recorded, practice_report_accepted,
       certificate_status_changed, certificate_status_set, allocation_confirmed, service_closed)


# Things people are told about (e-mail in their language and a line on /notifications). The sender is the
# object the notice is about; ``args`` holds the rest of the arguments of the function of the same name in
# ``notifications/notify.py``, which ``notifications/subscribers.py`` connects to each signal.


def _notice(name: str) -> NamedSignal:
    return _events.signal(f"notice:{name}")


verify_email = _notice("verify_email")
signup_existing = _notice("signup_existing")
password_reset = _notice("password_reset")
password_changed = _notice("password_changed")
organisation_to_verify = _notice("organisation_to_verify")
organisation_verified = _notice("organisation_verified")
quote_requested = _notice("quote_requested")
quote_answered = _notice("quote_answered")
quote_declined = _notice("quote_declined")
sample_sent = _notice("sample_sent")
order_stage = _notice("order_stage")
product_submitted = _notice("product_submitted")
product_approved = _notice("product_approved")
product_rejected = _notice("product_rejected")
report_reviewed = _notice("report_reviewed")
certificate_status = _notice("certificate_status")
consumer_receipt = _notice("consumer_receipt")
consumer_shipped = _notice("consumer_shipped")  # sender: the ConsumerOrder; args: (the ConsumerShipment,)
consumer_refunded = _notice("consumer_refunded")  # sender: the ConsumerOrder; args: (the refund Payment,)
repair_request = _notice("repair_request")  # sender: the ServiceRequest
balance_received = _notice("balance_received")
# sender: the Order; args: (the deposit Payment,): a deposit paid after the order was paid or its hold ran out
deposit_unmatched = _notice("deposit_unmatched")
invoice_issued = _notice("invoice_issued")

NOTICES = (
    verify_email,
    signup_existing,
    password_reset,
    password_changed,
    organisation_to_verify,
    organisation_verified,
    quote_requested,
    quote_answered,
    quote_declined,
    sample_sent,
    order_stage,
    product_submitted,
    product_approved,
    product_rejected,
    report_reviewed,
    certificate_status,
    consumer_receipt,
    consumer_shipped,
    consumer_refunded,
    repair_request,
    balance_received,
    deposit_unmatched,
    invoice_issued,
)

#: Which stored files (keys in the image store) a domain still refers to, asked by the orphan sweep before it
#: deletes anything. Sender: the session. Each receiver returns a set of keys. Subscribers: control (evidence).
stored_keys_in_use = _events.signal("stored-keys-in-use")
