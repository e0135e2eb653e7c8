// Errors as the user reads them: the server's words, or a sentence of our own; never a bare code.

/** A failed REST call or acknowledgement: `code` as in the contract, plus `network` and `timeout`. */
export class ChatError extends Error {
  constructor(code, message, { status = 0, retryAfterMs = null } = {}) {
    super(message || "");
    this.code = code;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }

  /** The error of an ack `{ok: false, error: {code, message, retryAfterMs?}}`. */
  static fromAck(ack) {
    const error = (ack && ack.error) || {};
    return new ChatError(error.code || "internal", error.message, { retryAfterMs: error.retryAfterMs ?? null });
  }
}

const FALLBACK = {
  invalid: "The server could not accept that.",
  unauthorized: "Your session has ended. Please sign in again.",
  forbidden: "You are not allowed to do that.",
  not_found: "That no longer exists.",
  conflict: "That is already taken.",
  too_large: "That is too large.",
  unavailable: "The server is unavailable right now. Try again in a moment.",
  internal: "Something went wrong on the server. Try again.",
};

function seconds(error) {
  const s = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
  return `${s} second${s === 1 ? "" : "s"}`;
}

/**
 * The words to show for `error`. `context` is "send" for messages, "auth" for sign-in and registration
 * (where the server's words about a wrong password are what the user needs).
 */
export function describeError(error, context = "") {
  const code = error && error.code;
  if (code === "rate_limited") {
    return context === "send"
      ? `You are sending too fast; try again in ${seconds(error)}.`
      : `Too many attempts; try again in ${seconds(error)}.`;
  }
  if (code === "network") return "Cannot reach the server. Check your connection and try again.";
  if (code === "timeout") return "The server did not answer in time. Try again.";
  if (code === "unauthorized" && context !== "auth") return FALLBACK.unauthorized;
  if (error && error.message) return sentence(error.message);
  return FALLBACK[code] || "Something went wrong. Try again.";
}

function sentence(text) {
  // The server names the field first ("roomId: …"), for developers; a person reads the rest.
  const words = text.replace(/^[a-z][A-Za-z0-9.]*: (?=\S)/, "");
  const first = words.charAt(0).toUpperCase() + words.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}
