// The token of this tab: kept in sessionStorage, or handed over by a host app as /#token=<jwt>.

const TOKEN_KEY = "kallemny.token";

/** A token given in the address's fragment (/#token=…), removed from the address bar; or null. */
export function takeTokenFromFragment() {
  const match = /(?:^#|&)token=([^&]*)/.exec(window.location.hash);
  if (!match) return null;
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  try {
    return decodeURIComponent(match[1]) || null;
  } catch {
    return null;
  }
}

export function loadToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: the tab works until it is reloaded
  }
}

export function saveToken(token) {
  try {
    window.sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* storage disabled */
  }
}

export function clearToken() {
  try {
    window.sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled */
  }
}
