// Activation page: a live strength hint and a "show the password" switch. Progressive enhancement only: the
// rules are always printed by the server, and the server checks the password (length and the common list).
// Same estimate as idp/enrollment/passwords.py strength_hint, without the common list (it stays on the server).
"use strict";

(function () {
  function estimateBits(password) {
    if (!password) { return 0; }
    var pool = 0;
    if (/[a-z]/.test(password)) { pool += 26; }
    if (/[A-Z]/.test(password)) { pool += 26; }
    if (/[0-9]/.test(password)) { pool += 10; }
    if (/[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e ]/.test(password)) { pool += 33; }
    if (/[^\x00-\x7f]/.test(password)) { pool += 100; }
    var runs = 0;
    for (var i = 0; i < password.length; i++) {
      if (i === 0 || password[i] !== password[i - 1]) { runs += 1; }
    }
    return Math.floor(runs * Math.log2(Math.max(pool, 2)));
  }

  function wireStrength(input) {
    var output = document.getElementById(input.getAttribute("data-strength-output"));
    if (!output) { return; }
    var minimum = 12;
    var timer = null;
    input.addEventListener("input", function () {
      // Debounced, so a screen reader announces the result once the person pauses, not at every key.
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var value = input.value.normalize ? input.value.normalize("NFKC") : input.value;
        var length = Array.from(value).length;
        if (!length) {
          output.textContent = "";
        } else if (length < minimum) {
          output.textContent = output.getAttribute("data-short").replace("{count}", String(length));
        } else {
          var bits = estimateBits(value);
          output.textContent = output.getAttribute(bits < 50 ? "data-weak" : bits < 80 ? "data-fair" : "data-strong");
        }
      }, 400);
    });
  }

  function wireShowPassword(box) {
    var input = document.getElementById(box.getAttribute("data-show-password"));
    var toggle = box.querySelector("input[type=checkbox]");
    if (!input || !toggle) { return; }
    box.hidden = false;
    toggle.addEventListener("change", function () { input.type = toggle.checked ? "text" : "password"; });
  }

  document.querySelectorAll("input[data-strength-output]").forEach(wireStrength);
  document.querySelectorAll("[data-show-password]").forEach(wireShowPassword);
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
