"""Every kind of message the site sends: its subject, its lines and whether a person may switch it off.

Strings are msgids with ``%(name)s`` placeholders, translated when the message is rendered in the
recipient's language. Essential messages (account security, money) cannot be switched off.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString


@dataclass(frozen=True)
class Kind:
    name: str
    subject: LazyString
    lines: tuple[LazyString, ...]
    action: LazyString | None = None
    essential: bool = False
    group: str | None = None  # non-essential kinds: the preference (GROUPS) that switches them off


def _kind(name: str, subject: LazyString, *lines: LazyString, action: LazyString | None = None,
          essential: bool = False, group: str | None = None) -> Kind:
    assert essential != (group is not None), name  # each kind is essential or has a preference
    return Kind(name, subject, tuple(lines), action, essential, group)


KINDS: dict[str, Kind] = {k.name: k for k in (
    # Accounts (essential)
    _kind("verify_email", _l("Confirm your e-mail address"),
          _l("Please confirm that this address is yours by following the link below."),
          _l("The link works for three days. If you did not create an account, ignore this e-mail."),
          action=_l("Confirm my address"), essential=True),
    _kind("signup_existing", _l("Someone tried to create an account with your address"),
          _l("An account already exists for this address, so no new one was made."),
          _l("If it was you, sign in, or reset your password if you forgot it."),
          action=_l("Reset my password"), essential=True),
    _kind("password_reset", _l("Reset your password"),
          _l("Someone asked to reset the password of your account."),
          _l("The link works once, for one hour. If it was not you, ignore this e-mail."),
          action=_l("Choose a new password"), essential=True),
    _kind("password_changed", _l("Your password was changed"),
          _l("The password of your account was changed and your other sessions were signed out."),
          _l("If you did not do this, reset your password now and tell the Union."),
          action=_l("Reset my password"), essential=True),
    _kind("organisation_verified", _l("%(organisation)s is verified"),
          _l("The Union has verified %(organisation)s. You can now order samples and accept quotes."),
          action=_l("Open my dashboard"), essential=True),
    _kind("organisation_to_verify", _l("%(organisation)s is waiting for verification"),
          _l("%(organisation)s signed up. Check its VAT or registration number and verify it."),
          action=_l("Open the verification queue"), group="staff_verifications"),
    # Quotes, reservations, orders and samples (brand buyers; staff)
    _kind("quote_requested", _l("New quote request %(ref)s"),
          _l("%(organisation)s asked for a quote (%(ref)s)."),
          action=_l("Answer the request"), group="staff_quotes"),
    _kind("quote_answered", _l("Your quote request %(ref)s was answered"),
          _l("The Union answered your quote request %(ref)s: %(price)s."),
          _l("The offer is valid until %(until)s."),
          action=_l("See the quote"), group="quotes"),
    _kind("quote_declined", _l("Your quote request %(ref)s was declined"),
          _l("The Union declined your quote request %(ref)s."), _l("Reason: %(reason)s"),
          action=_l("See my quotes"), group="quotes"),
    _kind("quote_expiring", _l("Your quote %(ref)s expires soon"),
          _l("The offer for %(ref)s expires on %(until)s. Accept it before then to reserve the fibre."),
          action=_l("See the quote"), group="reminders"),
    _kind("reservation_expiring", _l("The reservation for order %(ref)s expires soon"),
          _l("The fibre reserved for order %(ref)s is held until %(until)s. Pay the deposit to keep it."),
          action=_l("Pay the deposit"), group="reminders"),
    _kind("order_stage", _l("Order %(ref)s: %(stage)s"),
          _l("Your order %(ref)s moved to the stage: %(stage)s."),
          action=_l("Follow the order"), group="orders"),
    _kind("deposit_received", _l("Deposit received for order %(ref)s"),
          _l("We received your deposit of %(amount)s for order %(ref)s. Thank you."),
          action=_l("Follow the order"), essential=True),
    _kind("balance_received", _l("Balance received for order %(ref)s"),
          _l("We received %(amount)s towards the balance of order %(ref)s. The order page shows what is left to "
             "pay, if anything."),
          action=_l("Follow the order"), essential=True),
    _kind("deposit_unmatched", _l("Deposit for order %(ref)s needs a refund or a new reservation"),
          _l("A deposit of %(amount)s for order %(ref)s was paid after the order's deposit had already arrived or its "
             "reservation had run out, so no fibre is held for it."),
          _l("Refund this payment from the order page, or reserve the fibre again with the buyer."),
          action=_l("Open the order"), essential=True),
    _kind("invoice_issued", _l("Invoice for order %(ref)s"),
          _l("An invoice of %(amount)s was issued for order %(ref)s."),
          action=_l("See the order"), essential=True),
    _kind("sample_sent", _l("Your sample of lot %(lot)s is on its way"),
          _l("The Union sent the sample of lot %(lot)s you asked for by courier."),
          action=_l("See my requests"), group="samples"),
    # Products and the Code of Practice (MSMEs; staff)
    _kind("product_submitted", _l("Product submitted for review: %(product)s"),
          _l("%(organisation)s submitted %(product)s for approval."),
          action=_l("Review the product"), group="staff_products"),
    _kind("product_approved", _l("%(product)s is approved and published"),
          _l("The Union approved %(product)s; its passport is published."),
          action=_l("See the product"), group="products"),
    _kind("product_rejected", _l("%(product)s was not approved"),
          _l("The Union did not approve %(product)s."), _l("Reason: %(reason)s"),
          action=_l("Edit the product"), group="products"),
    _kind("report_reviewed", _l("Your Code of Practice report was reviewed: %(outcome)s"),
          _l("The Union reviewed your Code of Practice report for %(period)s: %(outcome)s."),
          _l("Note: %(note)s"),
          action=_l("See my reports"), group="reports"),
    _kind("repair_request", _l("A repair or take-back request for %(product)s"),
          _l("A customer asked for a repair or take-back of %(product)s."), _l("Message: %(message)s"),
          action=_l("See the product"), group="repairs"),
    # Certificates (holders, MSMEs relying on them, buyers with open orders)
    _kind("certificate_status", _l("Certificate %(number)s: %(status)s"),
          _l("The status of certificate %(number)s (%(holder)s) is now: %(status)s."), _l("Reason: %(reason)s"),
          _l("Products and lots that rely on it may no longer be offered with its claim."),
          action=_l("Open my dashboard"), essential=True),
    _kind("certificate_expiring", _l("Certificate %(number)s expires on %(until)s"),
          _l("Certificate %(number)s (%(holder)s) expires on %(until)s. Plan its renewal."),
          action=_l("Open my dashboard"), group="certificates"),
    # Consumers (by address: no account)
    _kind("consumer_receipt", _l("Your order %(ref)s: receipt"),
          _l("Thank you for your purchase. We received %(amount)s for order %(ref)s."),
          _l("We will write again when it ships."),
          action=_l("See your order"), essential=True),
    _kind("consumer_shipped", _l("Your order %(ref)s has shipped"),
          _l("Your order %(ref)s is on its way."),
          _l("Parcel from %(maker)s, sent with %(carrier)s, tracking number %(tracking)s."),
          action=_l("See your order"), essential=True),
    _kind("consumer_refunded", _l("Your order %(ref)s: %(refund)s refunded"),
          _l("We have refunded %(refund)s of order %(ref)s to your card."),
          _l("Refunded: %(items)s."),
          _l("Parcel from %(maker)s: %(parcel)s. Your bank may take up to ten days to show the refund."),
          action=_l("See your order"), essential=True),
)}

# The preferences a person may switch off, each covering one or more non-essential kinds.
GROUPS: dict[str, LazyString] = {
    "staff_verifications": _l("Organisations waiting for verification (Union staff)"),
    "staff_quotes": _l("New quote requests (Union staff)"),
    "quotes": _l("Quotes answered or declined"),
    "reminders": _l("Reminders before a quote or reservation expires"),
    "orders": _l("Order progress"),
    "samples": _l("Samples sent"),
    "staff_products": _l("Products submitted for review (Union staff)"),
    "products": _l("Product reviews"),
    "reports": _l("Code of Practice reports reviewed"),
    "repairs": _l("Repair and take-back requests"),
    "certificates": _l("Certificates about to expire"),
}
