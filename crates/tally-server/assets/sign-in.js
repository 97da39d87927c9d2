// The sign-in page: an e-mail first; a domain with single sign-on goes to its identity
// provider, anything else (or "use a password instead", the Owners' and Admins'
// break-glass path when SSO is required) asks for the password, then a second factor.
"use strict";

const $ = (id) => document.getElementById(id);
let challenge = null;

function show(step) {
  for (const id of ["email-step", "password-step", "code-step"]) {
    $(id).hidden = id !== step;
  }
  const input = $(step).querySelector("input");
  if (input) input.focus();
}

function say(text) {
  $("message").textContent = text || "";
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    credentials: "same-origin",
  });
  let payload = {};
  try {
    payload = await response.json();
  } catch (_) {
    payload = { error: `the server answered ${response.status}` };
  }
  if (!response.ok) throw new Error(payload.error || `the server answered ${response.status}`);
  return payload.results;
}

function next(result) {
  if (result.status === "signed_in") {
    window.location.assign("/");
  } else if (result.status === "second_factor_required") {
    challenge = result.challenge;
    $("code-label").textContent =
      result.method === "sms" ? "The code we sent by SMS" : "The code from your authenticator app";
    show("code-step");
  } else {
    say("Your organization requires a second factor: set one up with your administrator's instructions.");
  }
}

$("email-step").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("");
  const email = $("email").value.trim();
  try {
    const found = await call("GET", `/api/app/sso/discover?email=${encodeURIComponent(email)}`);
    if (found.sso) {
      say("Taking you to your organization's single sign-on…");
      window.location.assign(found.start_url);
    } else {
      show("password-step");
    }
  } catch (error) {
    say(error.message);
  }
});

$("use-password").addEventListener("click", (event) => {
  event.preventDefault();
  say("");
  show("password-step");
});

$("password-step").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("");
  try {
    next(await call("POST", "/api/app/sessions", { email: $("email").value.trim(), password: $("password").value }));
  } catch (error) {
    say(error.message);
  }
});

$("code-step").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("");
  try {
    next(await call("POST", "/api/app/sessions/second-factor", { challenge, code: $("code").value.trim() }));
  } catch (error) {
    say(error.message);
  }
});
