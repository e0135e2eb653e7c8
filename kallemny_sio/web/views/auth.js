// The signed-out view: form#auth-form with sign-in (submit) and registration.

import { byId } from "./dom.js";

/** Wire the form: `onSubmit(kind, username, password)` with kind "login" or "register"; it returns a promise. */
export function setUpAuth(onSubmit) {
  const form = byId("auth-form");
  const buttons = [byId("login-button"), byId("register-button")];
  const submit = async (kind) => {
    const username = byId("username").value.trim();
    const password = byId("password").value;
    if (!username || !password) {
      showAuthError("Enter a username and a password.");
      return;
    }
    showAuthError("");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await onSubmit(kind, username, password);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit("login");
  });
  byId("register-button").addEventListener("click", () => submit("register"));
}

export function showAuthError(text) {
  byId("auth-error").textContent = text;
}

/** Show the sign-in form (with an optional message) or the chat. */
export function showSignedIn(signedIn) {
  byId("auth-view").hidden = signedIn;
  byId("chat-view").hidden = !signedIn;
  if (!signedIn) {
    byId("password").value = "";
    byId("username").focus();
  }
}
