// Saving one file of a draft through the draft file API (PUT with If-Match: the revision the page was drawn
// at); a 409 means someone saved in between, and its message names who and when.

/** The session's CSRF token, from the page's <meta name="csrf-token">. */
export function csrfToken(doc = globalThis.document) {
  return doc?.querySelector('meta[name="csrf-token"]')?.getAttribute("content") || "";
}

/** "en" when the page is in English, else "zh". */
export function lang(doc = globalThis.document) {
  return String(doc?.documentElement?.lang || "zh").startsWith("en") ? "en" : "zh";
}

/** PUT ``text`` at ``url`` if the draft is still at ``revision``: ``{ok, stale, status, body}``. */
export async function saveFile(url, text, revision, fetcher = globalThis.fetch, token = csrfToken()) {
  const response = await fetcher(url, {
    method: "PUT",
    headers: { "Content-Type": "text/plain; charset=utf-8", "If-Match": String(revision), "X-CSRF-Token": token },
    body: text,
  });
  const body = await response.json().catch(() => ({ message: `HTTP ${response.status}` }));
  return { ok: response.ok, stale: response.status === 409, status: response.status, body };
}
