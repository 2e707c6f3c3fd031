/* Passkeys and security keys (WebAuthn) on Mandat's pages. No inline script: the CSP is script-src 'self'.
 *
 * Elements with data-passkeys="sign_in" | "step_up" | "register" drive a ceremony:
 *   data-options-url  POST {mode, username?} or {} -> {ceremony, options, uv_required?}
 *   data-verify-url   POST {ceremony, credential, name?, next?} -> {redirect} or {error, message}
 *   data-csrf         the page's CSRF token, sent in X-CSRF-Token
 *   data-msg-*        texts in the page's language for what only the browser knows
 * A sign_in element with data-username-field also offers passkeys in that field's autofill (conditional UI).
 */
(function () {
  "use strict";

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 1) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    const raw = atob(base64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function descriptors(list) {
    return (list || []).map(function (item) { return Object.assign({}, item, {id: fromBase64url(item.id)}); });
  }

  // WebAuthn Level 3 JSON helpers where the browser has them; the same conversion by hand otherwise.
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    return Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      user: Object.assign({}, json.user, {id: fromBase64url(json.user.id)}),
      excludeCredentials: descriptors(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    return Object.assign({}, json, {challenge: fromBase64url(json.challenge),
      allowCredentials: descriptors(json.allowCredentials)});
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const response = {clientDataJSON: toBase64url(credential.response.clientDataJSON)};
    if (credential.response.attestationObject) {
      response.attestationObject = toBase64url(credential.response.attestationObject);
      if (credential.response.getTransports) response.transports = credential.response.getTransports();
    } else {
      response.authenticatorData = toBase64url(credential.response.authenticatorData);
      response.signature = toBase64url(credential.response.signature);
      if (credential.response.userHandle) response.userHandle = toBase64url(credential.response.userHandle);
    }
    return {id: credential.id, rawId: toBase64url(credential.rawId), type: credential.type, response: response,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults()};
  }

  async function post(url, csrf, body) {
    let response;
    try {
      response = await fetch(url, {method: "POST", credentials: "same-origin",
        headers: {"content-type": "application/json", "x-csrf-token": csrf}, body: JSON.stringify(body)});
    } catch (error) {
      return {ok: false, data: {}};
    }
    let data = {};
    try { data = await response.json(); } catch (error) { data = {}; }
    return {ok: response.ok, data: data};
  }

  function texts(root) {
    const d = root.dataset;
    return {cancelled: d.msgCancelled, timeout: d.msgTimeout, notAllowed: d.msgNotAllowed,
      unsupported: d.msgUnsupported, uv: d.msgUv, already: d.msgAlready, name: d.msgName, failed: d.msgFailed};
  }

  // The browser reports a cancel, a timeout and a refused user verification all as NotAllowedError (on purpose:
  // pages must not learn which keys exist). Elapsed time tells a timeout apart; a ceremony that required user
  // verification gets the text that names it, since that is the likely cause when the person did not cancel.
  function browserMessage(msg, error, started, timeoutMs, uvRequired) {
    switch (error && error.name) {
      case "AbortError": return null;
      case "NotAllowedError":
        if (timeoutMs && Date.now() - started >= timeoutMs * 0.95) return msg.timeout;
        return uvRequired ? msg.uv : msg.cancelled;
      case "InvalidStateError": return msg.already;
      default: return msg.notAllowed;
    }
  }

  function showError(box, message) {
    box.textContent = message;
    box.hidden = false;
    box.focus();
  }

  function supported() {
    return typeof window.PublicKeyCredential === "function" && navigator.credentials;
  }

  function setupSignIn(root) {
    const msg = texts(root);
    const box = root.querySelector("[data-passkey-error]");
    const button = root.querySelector("[data-passkey-start]");
    const usernameField = root.dataset.usernameField ? document.getElementById(root.dataset.usernameField) : null;
    let pending = null;  // the conditional (autofill) request, aborted when the button is used

    async function run(mediation) {
      const body = {mode: root.dataset.passkeys};
      if (usernameField && mediation !== "conditional") body.username = usernameField.value.trim();
      const begun = await post(root.dataset.optionsUrl, root.dataset.csrf, body);
      if (!begun.ok) {
        if (mediation !== "conditional") showError(box, begun.data.message || msg.failed);
        return;
      }
      const args = {publicKey: requestOptions(begun.data.options)};
      let controller = null;
      if (mediation === "conditional") {
        controller = new AbortController();
        args.mediation = "conditional";
        args.signal = controller.signal;
      }
      const started = Date.now();
      let credential;
      const request = navigator.credentials.get(args);
      if (controller) pending = {controller: controller, done: request.catch(function () { return null; })};
      try {
        credential = await request;
      } catch (error) {
        const message = browserMessage(msg, error, started, begun.data.options.timeout, begun.data.uv_required);
        if (message && mediation !== "conditional") showError(box, message);
        return;
      } finally {
        if (controller && pending && pending.controller === controller) pending = null;
      }
      const finished = await post(root.dataset.verifyUrl, root.dataset.csrf, {
        ceremony: begun.data.ceremony, credential: credentialJSON(credential), next: root.dataset.next || ""});
      if (finished.ok && finished.data.redirect) {
        window.location.assign(finished.data.redirect);
        return;
      }
      showError(box, finished.data.message || msg.failed);
    }

    button.addEventListener("click", async function () {
      if (!supported()) { showError(box, msg.unsupported); return; }
      box.hidden = true;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      try {
        if (pending) {
          const waiting = pending;
          pending = null;
          waiting.controller.abort();
          await waiting.done;
        }
        await run("modal");
      } finally {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    });

    if (usernameField && root.dataset.passkeys === "sign_in" && supported()
        && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) run("conditional");
      }, function () { return null; });
    }
  }

  function setupRegister(form) {
    const msg = texts(form);
    const box = form.querySelector("[data-passkey-error]");
    const nameField = form.elements.namedItem("name");
    const button = form.querySelector("button[type=submit]");

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      box.hidden = true;
      nameField.removeAttribute("aria-invalid");
      if (!supported()) { showError(box, msg.unsupported); return; }
      const name = nameField.value.trim();
      if (!name || name.length > 64) {
        nameField.setAttribute("aria-invalid", "true");
        nameField.setAttribute("aria-describedby", box.id + " key-name-hint");
        showError(box, msg.name);
        return;
      }
      button.disabled = true;
      try {
        const begun = await post(form.dataset.optionsUrl, form.dataset.csrf, {});
        if (!begun.ok) { showError(box, begun.data.message || msg.failed); return; }
        const started = Date.now();
        let credential;
        try {
          credential = await navigator.credentials.create({publicKey: creationOptions(begun.data.options)});
        } catch (error) {
          showError(box, browserMessage(msg, error, started, begun.data.options.timeout, false) || msg.cancelled);
          return;
        }
        const finished = await post(form.dataset.verifyUrl, form.dataset.csrf, {
          ceremony: begun.data.ceremony, credential: credentialJSON(credential), name: name});
        if (finished.ok && finished.data.redirect) {
          window.location.assign(finished.data.redirect);
          return;
        }
        showError(box, finished.data.message || msg.failed);
      } finally {
        button.disabled = false;
      }
    });
  }

  function start() {
    document.querySelectorAll("[data-passkeys]").forEach(function (element) {
      if (element.dataset.passkeys === "register") setupRegister(element);
      else setupSignIn(element);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}());
