"""Quote to allocated order in Chromium: the buyer pays the deposit through localstripe, whose
signed webhook reaches the live server; staff then allocate and confirm."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.helpers import page_width

pytestmark = pytest.mark.browser

LOT = "USCC-2025-BKH-002"


def _sign_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(url + "/signin")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def _reload_until(page: Page, text: str, tries: int = 40) -> None:
    """Reload until the page shows ``text`` (the webhook arrives asynchronously)."""
    for _ in range(tries):
        if text in page.locator("main").inner_text():
            return
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator("main")).to_contain_text(text)


def _fits(page: Page, width: int) -> None:
    """Nothing on the page makes the screen scroll sideways (once its stylesheet applies)."""
    page.wait_for_load_state()
    wide = page.evaluate("""(width) => {
        const clipped = (e) => { for (let a = e.parentElement; a; a = a.parentElement) {
            if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX)) return true; } return false; };
        return [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > width + 1 && !clipped(e))
            .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ':'
                             + Math.round(e.getBoundingClientRect().width)); }""", width)
    assert page_width(page) <= width, (page.url, wide)


@pytest.mark.parametrize("width", [390, 1280])
def test_quote_to_delivered_and_paid_in_the_browser(live_server: LiveServer, page: Page, chromium,  # type: ignore[no-untyped-def]
                                                    width: int) -> None:
    """Quote → staff answer → buyer review → accept → deposit → allocation → shipping → final invoice →
    balance paid → delivered, with the kg and amounts the buyer sees at each step."""
    url = live_server.url
    # localstripe's webhook goes to the site's public origin, never to the request's Host: here, this server.
    live_server.app.config["PUBLIC_BASE_URL"] = url
    page.set_viewport_size({"width": width, "height": 900})
    _sign_in(page, url, "buyer@demo.example", "demo-buyer-2026")

    # The buyer asks for a quote on a lot.
    page.goto(f"{url}/lots/{LOT}")
    page.get_by_role("link", name="Request a quote on this lot").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Request a quote on lot {LOT}")
    page.get_by_label("Quantity (kg)").fill("200")
    page.get_by_label("Named place").fill("Milan Malpensa")
    page.get_by_role("button", name="Send the quote request").click()
    expect(page.locator(".flashes")).to_contain_text("Your quote request has been sent")
    row = page.locator("tr", has_text=f"Lot {LOT}")
    expect(row).to_contain_text("Requested")

    # Union staff answer it.
    staff_context = chromium.new_context(locale="en-GB", viewport={"width": width, "height": 900})
    staff = staff_context.new_page()
    _sign_in(staff, url, "staff@demo.example", "demo-staff-2026")
    staff.goto(url + "/union/quotes")
    staff.locator("tr", has_text=LOT).get_by_role("link").click()
    staff.get_by_label("Price per kg").fill("90.00")
    staff.get_by_label("Sustainability premium per kg").fill("6.00")
    staff.get_by_label("Deposit (%)").fill("30")
    staff.get_by_role("button", name="Send the quote").click()
    expect(staff.locator(".flashes")).to_contain_text("Quote sent to Maison Lune")

    # The buyer reviews the quote: 200 kg × €96.00 = €19,200.00, deposit €5,760.00, balance €13,440.00.
    page.reload()
    page.locator("tr", has_text=f"Lot {LOT}").get_by_role("link", name=re.compile("Review quote")).click()
    summary = page.locator("main")
    for figure in ("€90.00", "€6.00", "€19,200.00", "€5,760.00", "€13,440.00", "Milan Malpensa",
                   "Ulaanbaatar"):
        expect(summary).to_contain_text(figure)
    expect(page.get_by_role("row", name=re.compile(LOT))).to_contain_text("200.0")  # the lot's kg, not "a share"
    _fits(page, width)
    page.get_by_role("button", name=re.compile("Accept and reserve")).click()  # not ticked: nothing happens
    expect(page.locator(".error-summary")).to_contain_text("Tick the box to confirm")
    page.get_by_label(re.compile("I have reviewed the lots")).check()
    page.get_by_role("button", name=re.compile("Accept and reserve")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Order ORD-")
    expect(page.locator("main")).to_contain_text("Stage: Accepted")
    expect(page.locator("main")).to_contain_text("Your stock is reserved until")
    reference = page.get_by_role("heading", level=1).inner_text().removeprefix("Order ")

    # The deposit, paid with Stripe's test card on localstripe.
    page.get_by_role("button", name="Pay the deposit").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pay the deposit")
    page.get_by_role("button", name="Pay €5,760.00 with the test card").click()
    expect(page.locator(".flashes")).to_contain_text("Payment sent")
    _reload_until(page, "Stage: Deposit paid")
    expect(page.locator("#order-money")).to_contain_text("€13,440.00")  # outstanding

    # Staff review the allocation table and confirm it.
    staff.goto(f"{url}/union/orders/{reference}")
    table = staff.get_by_role("table", name=re.compile("How the engine split the order"))
    expect(table).to_contain_text("Jinst Golden Fleece")
    staff.get_by_role("button", name="Confirm the allocation").click()
    expect(staff.locator(".flashes")).to_contain_text("Allocation confirmed")
    expect(staff.get_by_role("table", name=re.compile("Jinst Golden Fleece.*members"))).to_contain_text(LOT)
    # On the demo's greasy order, a dehaired lot is excluded for its fibre state, not for the greasy price.
    staff.goto(f"{url}/union/orders/ORD-DEMO-2025-001")
    excluded = staff.get_by_role("row", name=re.compile("USCC-2026-BKH-020")).first
    expect(excluded).to_contain_text("Not of this order's fibre state (Greasy (combed)).")
    expect(excluded).not_to_contain_text("below the fair-price floor")
    _fits(staff, width)
    # The sale makes the premium due to the cooperative: 200 kg × €6.00.
    staff.goto(url + "/union/funds")
    due = staff.locator("tr", has_text=reference)
    expect(due).to_contain_text("Premium due")
    expect(due).to_contain_text("€1,200.00")

    # Collected, dehaired and tested; shipping details; the final invoice; shipped.
    staff.goto(f"{url}/union/orders/{reference}")
    for _ in range(2):
        staff.get_by_role("button", name="Move to the next stage").click()
        expect(staff.locator(".flashes")).to_contain_text(f"Order {reference}")
    staff.get_by_label("Carrier").fill("DHL Express")
    staff.get_by_label("Tracking or AWB number").fill("AWB 176-12345675")
    staff.get_by_label("Shipped on").fill("2026-11-20")
    staff.get_by_label("Expected delivery").fill("2026-11-24")
    staff.get_by_role("button", name="Save the shipping details").click()
    expect(staff.locator(".flashes")).to_contain_text("Shipping details saved")
    staff.get_by_role("button", name="Issue the final invoice").click()
    expect(staff.locator(".flashes")).to_contain_text("Final invoice INV-")
    expect(staff.locator(".flashes")).to_contain_text("€13,440.00")
    staff.get_by_role("button", name="Move to the next stage").click()
    expect(staff.locator(".flashes")).to_contain_text("Shipped")
    _fits(staff, width)

    # The buyer sees the shipment and the invoices, and pays the balance by card.
    page.reload()
    expect(page.locator("main")).to_contain_text("Stage: Shipped")
    expect(page.locator("main")).to_contain_text("AWB 176-12345675")
    expect(page.locator("main")).to_contain_text("The balance of €13,440.00 is due")
    expect(page.get_by_role("link", name="Packing list (PDF)")).to_be_visible()
    page.get_by_role("button", name="Pay the balance by card").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pay the balance")
    page.get_by_role("button", name="Pay €13,440.00 with the test card").click()
    expect(page.locator(".flashes")).to_contain_text("Payment sent")
    _reload_until(page, "Nothing: paid in full")
    expect(page.locator("#order-money")).to_contain_text("€19,200.00")

    # Staff mark it delivered; the order is closed with its kg.
    staff.goto(f"{url}/union/orders")
    staff.get_by_label("Reference or buyer").fill(reference)
    staff.get_by_role("button", name="Show").click()
    staff.locator("tr", has_text=reference).get_by_role("link", name=reference).click()
    staff.get_by_role("button", name="Move to the next stage").click()
    expect(staff.locator(".flashes")).to_contain_text("Delivered")
    staff.goto(f"{url}/union/orders?stage=delivered")
    expect(staff.locator("tr", has_text=reference)).to_contain_text("€19,200.00")
    _fits(staff, width)
    staff_context.close()

    page.reload()
    expect(page.locator("main")).to_contain_text("Stage: Delivered · 200 kg")
    expect(page.locator("main")).to_contain_text("Delivered kg")
    expect(page.get_by_role("table", name=re.compile("Supplied by 1 cooperative"))).to_contain_text(
        "Jinst Golden Fleece")
    expect(page.locator(".stages li", has_text="Quote requested")).to_contain_text("Camille Moreau")
    expect(page.locator(".stages li", has_text="Allocated")).to_contain_text("Tömörbaatar Gantulga")
    expect(page.locator(".stages li", has_text="Allocated")).to_contain_text("Ulaanbaatar")
    _fits(page, width)


def test_one_quote_on_compared_lots_in_the_browser(live_server: LiveServer, page: Page) -> None:
    url = live_server.url
    _sign_in(page, url, "buyer@demo.example", "demo-buyer-2026")
    first, second = "USCC-2025-UVO-007", "USCC-2025-GAL-013"  # two greasy lots under valid certificates
    page.goto(f"{url}/lots/compare?code={first}&code={second}")
    page.get_by_role("button", name="Request one quote on these lots").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request a quote on several lots")
    page.get_by_label(f"Kg from lot {first}").fill("0")
    page.get_by_label(f"Kg from lot {second}").fill("150")
    page.get_by_role("button", name="Send the quote request").click()
    expect(page.locator(".error-summary")).to_contain_text("more than 0 kg")
    expect(page.get_by_label(f"Kg from lot {first}")).to_have_attribute("aria-invalid", "true")
    page.get_by_label(f"Kg from lot {first}").fill("120")
    page.get_by_role("button", name="Send the quote request").click()
    expect(page.locator(".flashes")).to_contain_text("Your quote request has been sent")
    row = page.locator("tr", has_text=first)
    expect(row).to_contain_text(second)
    expect(row).to_contain_text("Requested")


SUSPENDED = "USCC-2026-UVO-033"  # under SC-2024-UVO-002: suspended, and expired since 2026-04-30


@pytest.mark.parametrize("width", [390, 1280])
def test_certificate_status_and_refusals_as_the_buyer_sees_them(live_server: LiveServer, page: Page, chromium,  # type: ignore[no-untyped-def]
                                                                 width: int) -> None:
    url = live_server.url
    page.set_viewport_size({"width": width, "height": 900})
    _sign_in(page, url, "buyer@demo.example", "demo-buyer-2026")

    # The lot browser hides the lot under a suspended certificate, and shows it with its status on request.
    page.goto(f"{url}/lots?q={SUSPENDED}")
    expect(page.locator("main")).to_contain_text("0 lots")
    page.goto(f"{url}/lots?q={SUSPENDED}&include_invalid=1")
    row = page.locator("tr", has_text=SUSPENDED)
    expect(row).to_contain_text("Suspended")
    expect(page.get_by_label("Also show lots whose certificate is suspended, revoked or expired")).to_be_checked()
    page.goto(f"{url}/lots?q=USCC-2026-BKH-020")
    expect(page.locator("tr", has_text="USCC-2026-BKH-020")).to_contain_text("Valid")

    # Its page says why it cannot be bought, offers no quote, and links to its passport.
    page.goto(f"{url}/lots/{SUSPENDED}")
    expect(page.locator(".buyer-actions")).to_contain_text("It cannot be sampled, quoted or ordered.")
    expect(page.get_by_role("link", name="Request a quote on this lot")).to_have_count(0)
    page.get_by_role("link", name="Digital product passport of this lot").click()
    expect(page).to_have_url(re.compile(r"/passports/[0-9a-f]+$"))

    # A specification leaving the fibre state open is refused while its lots mix states.
    page.goto(f"{url}/quotes/new")
    # Only tiers a lot can have are offered (not the enterprises' code of practice's).
    expect(page.get_by_label("Certification tier").locator("option")).to_have_text(
        ["Any tier", "Entry", "Advanced"])
    page.get_by_label("Quantity (kg)").fill("400")
    page.get_by_label("Named place").fill("Paris")
    page.get_by_label("Colour").select_option("white")
    page.get_by_label("Maximum mean fibre diameter (µm)").fill("16.0")
    page.get_by_role("button", name="Send the quote request").click()
    expect(page.locator(".error-summary")).to_contain_text("different fibre states")
    page.get_by_label("Fibre state").select_option("dehaired")
    page.get_by_label("Price basis").select_option("clean")
    page.get_by_role("button", name="Send the quote request").click()
    expect(page.locator(".flashes")).to_contain_text("Your quote request has been sent")
    expect(page.locator("tr", has_text="Dehaired").first).to_contain_text("Requested")

    # Staff cannot quote under the fair-price floor: the refusal names it.
    staff_context = chromium.new_context(locale="en-GB", viewport={"width": width, "height": 900})
    staff = staff_context.new_page()
    _sign_in(staff, url, "staff@demo.example", "demo-staff-2026")
    staff.goto(url + "/union/quotes")
    staff.locator("tr", has_text="Dehaired").first.get_by_role("link").click()
    staff.get_by_label("Price per kg").fill("10.00")
    staff.get_by_label("Sustainability premium per kg").fill("6.00")
    staff.get_by_label("Valid until").fill("2099-12-31")
    staff.get_by_role("button", name="Send the quote").click()
    expect(staff.locator(".error-summary")).to_contain_text("below the fair-price floor of €")
    expect(staff.locator(".error-summary")).to_contain_text("Nothing was sent to the buyer")
    staff_context.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_counter_offer_and_consent_to_a_change_in_the_browser(live_server: LiveServer, page: Page, chromium,  # type: ignore[no-untyped-def]
                                                              width: int) -> None:
    """The buyer counters a quote; staff answer the counter-offer; the buyer reviews and accepts; a change
    staff propose to the shares waits for the buyer, who accepts it."""
    url = live_server.url
    page.set_viewport_size({"width": width, "height": 900})
    _sign_in(page, url, "buyer@demo.example", "demo-buyer-2026")
    page.goto(f"{url}/quotes/new")
    page.get_by_label("Quantity (kg)").fill("400")
    page.get_by_label("Named place").fill("Lyon Saint-Exupéry")
    page.get_by_label("Colour").select_option("white")
    page.get_by_label("Maximum mean fibre diameter (µm)").fill("16.0")
    page.get_by_label("Fibre state").select_option("dehaired")
    page.get_by_label("Price basis").select_option("clean")
    page.get_by_role("button", name="Send the quote request").click()
    expect(page.locator(".flashes")).to_contain_text("Your quote request has been sent")

    staff_context = chromium.new_context(locale="en-GB", viewport={"width": width, "height": 900})
    staff = staff_context.new_page()
    _sign_in(staff, url, "staff@demo.example", "demo-staff-2026")

    def answer(row: str, price: str) -> None:
        staff.goto(url + "/union/quotes")
        staff.locator("tr", has_text=row).filter(has_text="Requested").first.get_by_role("link").click()
        staff.get_by_label("Price per kg").fill(price)
        staff.get_by_label("Sustainability premium per kg").fill("6.00")
        staff.get_by_label("Valid until").fill("2099-12-31")
        staff.get_by_role("button", name="Send the quote").click()
        expect(staff.locator(".flashes")).to_contain_text("Quote sent to Maison Lune")

    answer("Lyon Saint-Exupéry", "180.00")
    # The buyer counters: a negative quantity is refused on the page, then 300 kg at €170.00.
    page.goto(url + "/quotes")
    page.get_by_role("link", name=re.compile("Review quote")).first.click()
    page.get_by_label("Quantity you want (kg)").fill("-5")
    page.get_by_role("button", name="Send the counter-offer").click()
    expect(page.locator(".error-summary")).to_contain_text("more than 0 kg")
    page.get_by_label("Quantity you want (kg)").fill("300")
    page.get_by_label("Price per kg you propose (optional)").fill("170.00")
    page.get_by_role("button", name="Send the counter-offer").click()
    expect(page.locator(".flashes")).to_contain_text("Your counter-offer has been sent")
    _fits(page, width)

    staff.goto(url + "/union/quotes")
    staff.locator("tr", has_text="Counter-offer").first.get_by_role("link").click()
    expect(staff.locator("main")).to_contain_text("the buyer proposes €170.00 per kg")
    answer("Counter-offer", "175.00")

    # The buyer reviews and accepts the answer: 300 kg × €181.00 = €54,300.00.
    page.goto(url + "/quotes")
    page.get_by_role("link", name=re.compile("Review quote")).first.click()
    expect(page.locator("main")).to_contain_text("€54,300.00")
    page.get_by_label(re.compile("I have reviewed the lots")).check()
    page.get_by_role("button", name=re.compile("Accept and reserve")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Order ORD-")
    reference = page.get_by_role("heading", level=1).inner_text().removeprefix("Order ")

    # Staff propose a change to the shares: nothing moves until the buyer accepts it.
    staff.goto(f"{url}/union/orders/{reference}")
    staff.get_by_label("Reason for the adjustment").fill("Balance the season across cooperatives")
    staff.get_by_role("button", name="Propose the adjusted shares to the buyer").click()
    expect(staff.locator(".flashes")).to_contain_text("Change proposed to the buyer")
    expect(staff.locator("main")).to_contain_text("waits for the buyer's answer")
    _fits(staff, width)
    staff_context.close()
    page.reload()
    expect(page.get_by_role("heading", name="The Union proposes a change to your order")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Balance the season across cooperatives")
    _fits(page, width)
    page.get_by_role("button", name="Accept the change").click()
    expect(page.locator(".flashes")).to_contain_text("Change accepted")
    expect(page.get_by_role("heading", name="The Union proposes a change to your order")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("Stage: Accepted · 300 kg")
