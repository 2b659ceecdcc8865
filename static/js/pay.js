// The card form of a payment page (templates/payments/show.html). When the buyer pays, we ask
// our server for a SetupIntent (a POST: viewing the page creates nothing at Stripe), Stripe.js
// sets the card up with it, so the number goes from the browser to Stripe and never to us, and
// we only send the PaymentMethod id it returns to our confirm URL. Whatever happens next, the
// page itself (reloaded) says where the payment stands: only Stripe's word marks it paid.
(function () {
  'use strict';

  const form = document.getElementById('card-form');
  if (!form) {
    return;
  }
  const data = form.dataset;
  const errors = document.getElementById('card-errors');
  const status = document.getElementById('card-status');
  const button = document.getElementById('card-pay');

  function say(errorText, statusText) {
    errors.textContent = errorText || '';
    status.textContent = statusText || '';
  }

  // Blocked, offline or down: the page still shows the payment's state, and says why no form.
  if (typeof Stripe !== 'function') {
    say(data.msgUnavailable);
    return;
  }

  const stripe = Stripe(data.publishableKey);
  const elements = stripe.elements();
  const card = elements.create('card');
  card.mount('#card-element');
  button.disabled = false;

  async function postToUs(url, payload) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': data.csrfToken},
      body: JSON.stringify(payload),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error((body.error && body.error.message) || data.msgFailed);
    }
    return body;
  }

  // A card set up but not yet accepted by us (our server refused or was unreachable) is sent
  // again as it is: a SetupIntent that succeeded cannot be confirmed twice.
  let setUpMethod = null;
  card.on('change', () => {
    setUpMethod = null;
  });

  async function setUpCard() {
    const setup = await postToUs(data.setupUrl, {});
    let result;
    try {
      result = await stripe.confirmCardSetup(setup.setup_client_secret, {payment_method: {card}});
    } catch (err) {
      result = {error: err};
    }
    if (result.error || !result.setupIntent) {
      throw new Error((result.error && result.error.message) || data.msgFailed);
    }
    return result.setupIntent.payment_method;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    say('', data.msgWorking);
    try {
      setUpMethod = setUpMethod || (await setUpCard());
      const answer = await postToUs(data.confirmUrl, {payment_method: setUpMethod});
      if (answer.requires_action) {
        // The bank's 3-D Secure challenge; its outcome reaches us from Stripe, not from here.
        await stripe.confirmCardPayment(answer.client_secret);
      }
    } catch (err) {
      // Nothing was charged by us: the buyer may correct the card and try again on this page.
      say(err.message || data.msgFailed);
      button.disabled = false;
      return;
    }
    window.location.reload();
  });
})();
