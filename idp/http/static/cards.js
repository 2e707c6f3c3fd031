/* CPS card sign-in on the login page. No inline script: the CSP is script-src 'self'.
 *
 * The element with data-cards holds:
 *   data-agent-url      the card agent on this computer (http://127.0.0.1:<port>): GET /status, POST /sign
 *   data-challenge-url  POST {} -> {challenge}                      (the IdP, X-CSRF-Token)
 *   data-verify-url     POST {challenge, certificate, signature, alg} -> {redirect} or {error, message}
 *   data-msg-*          texts in the page's language for what the agent reports
 * The PIN typed in [data-card-pin] is sent only to the agent (loopback), never to the IdP, and cleared after use.
 */
(function () {
  "use strict";

  const PIN = /^[0-9]{4,8}$/;

  async function call(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      return {ok: false, unreachable: true, data: {}};
    }
    let data = {};
    try { data = await response.json(); } catch (error) { data = {}; }
    return {ok: response.ok, unreachable: false, data: data};
  }

  function postJSON(url, body, headers) {
    return call(url, {method: "POST", credentials: "same-origin", cache: "no-store",
      headers: Object.assign({"content-type": "application/json"}, headers || {}), body: JSON.stringify(body)});
  }

  function agentCall(root, path, body) {
    const url = root.dataset.agentUrl + path;
    if (body === undefined) return call(url, {method: "GET", credentials: "omit", cache: "no-store"});
    return call(url, {method: "POST", credentials: "omit", cache: "no-store",
      headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
  }

  function agentMessage(root, data) {
    const d = root.dataset;
    switch (data.error) {
      case "no_reader": return d.msgNoReader;
      case "no_card": return d.msgNoCard;
      case "card_removed": return d.msgCardRemoved;
      case "card_blocked": return d.msgBlocked;
      case "wrong_pin":
        if (data.tries_left === 1) return d.msgWrongPinOne;
        return d.msgWrongPin.replace("{tries}", String(data.tries_left));
      case "card_error": return d.msgCardError;
      case "invalid_request": return d.msgPin;
      default: return d.msgFailed;
    }
  }

  function setup(root) {
    const button = root.querySelector("[data-card-start]");
    const pinField = root.querySelector("[data-card-pin]");
    const errorBox = root.querySelector("[data-card-error]");
    const statusBox = root.querySelector("[data-card-status]");
    const csrf = {"x-csrf-token": root.dataset.csrf};

    function showError(text) {
      statusBox.textContent = "";
      errorBox.textContent = text;
      errorBox.hidden = false;
      pinField.setAttribute("aria-invalid", "true");
      errorBox.focus();
    }

    function clearMessages() {
      errorBox.hidden = true;
      errorBox.textContent = "";
      pinField.removeAttribute("aria-invalid");
    }

    async function signIn() {
      clearMessages();
      const pin = pinField.value.trim();
      if (!PIN.test(pin)) {
        showError(root.dataset.msgPin);
        pinField.focus();
        return;
      }
      statusBox.textContent = root.dataset.msgWorking;
      const status = await agentCall(root, "/status");
      if (status.unreachable) return showError(root.dataset.msgNoAgent);
      if (!status.ok) return showError(agentMessage(root, status.data));
      if (!status.data.readers || status.data.readers.length === 0) return showError(root.dataset.msgNoReader);
      if (!status.data.card_present) return showError(root.dataset.msgNoCard);

      const challenge = await postJSON(root.dataset.challengeUrl, {}, csrf);
      if (!challenge.ok) return showError(challenge.data.message || root.dataset.msgFailed);

      const signed = await agentCall(root, "/sign", {challenge: challenge.data.challenge, pin: pin});
      pinField.value = "";
      if (signed.unreachable) return showError(root.dataset.msgNoAgent);
      if (!signed.ok) return showError(agentMessage(root, signed.data));

      const verified = await postJSON(root.dataset.verifyUrl, {challenge: challenge.data.challenge,
        certificate: signed.data.certificate, signature: signed.data.signature, alg: signed.data.alg}, csrf);
      if (!verified.ok || !verified.data.redirect) return showError(verified.data.message || root.dataset.msgFailed);
      window.location.assign(verified.data.redirect);
    }

    let busy = false;
    async function start(event) {
      event.preventDefault();
      if (busy) return;
      busy = true;
      button.disabled = true;
      try {
        await signIn();
      } finally {
        busy = false;
        button.disabled = false;
      }
    }

    button.addEventListener("click", start);
    pinField.addEventListener("keydown", function (event) {
      if (event.key === "Enter") start(event);
    });
  }

  document.querySelectorAll("[data-cards]").forEach(setup);
}());
