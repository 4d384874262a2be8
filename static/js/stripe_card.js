// Card entry with Stripe's Payment Element. Loaded only on pay pages when a real Stripe
// publishable key is configured; without JavaScript the page's <noscript> text explains
// the alternative. The card goes straight to Stripe; our server learns the outcome from
// the verified webhook, and /payments/return only reads the PaymentIntent's status.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) { return; }
  var unavailable = document.getElementById("card-unavailable");
  var errors = document.getElementById("card-errors");
  var button = document.getElementById("card-submit");
  if (typeof window.Stripe !== "function") {
    unavailable.hidden = false;
    return;
  }
  var stripe = window.Stripe(form.dataset.publishableKey, { locale: form.dataset.locale || "auto" });
  var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  elements.create("payment").mount("#payment-element");
  form.hidden = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;  // one confirmation per click: a double submit cannot pay twice
    errors.textContent = "";
    stripe.confirmPayment({ elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
      .then(function (result) {
        // Only reached on an immediate error; success navigates to the return URL.
        if (result.error) { errors.textContent = result.error.message || ""; }
        button.disabled = false;
      });
  });
})();
