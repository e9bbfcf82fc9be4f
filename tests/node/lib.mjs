// Shared by the client scripts: configuration from the environment (set by
// tests/e2e/clients.rs) and a plain GraphQL-over-HTTP helper for setup steps.

/** The value of an environment variable the Rust side must set. */
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this script through \`cargo test --test e2e clients::\``);
  return v;
}

export const GATEWAY_URL = env('GATEWAY_URL');
export const TOKEN = env('TOKEN');
export const HTTP_URL = `${GATEWAY_URL}/graphql`;
export const WS_URL = `${GATEWAY_URL.replace(/^http/, 'ws')}/graphql/ws`;

/** POSTs a GraphQL request with the admin token; throws on transport or GraphQL errors. */
export async function gql(query, variables = {}) {
  const res = await fetch(HTTP_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (res.status !== 200 || body.errors) {
    throw new Error(`${query.trim().split('\n')[0]} -> HTTP ${res.status}: ${JSON.stringify(body)}`);
  }
  return body.data;
}

/** Resolves `promise`, or rejects naming `what` after `ms`. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Fails when a JSON scalar carries serde_json's internal arbitrary-precision number form
 * (`{"$serde_json::private::Number": "120"}`) instead of a JSON number: clients read those
 * fields as plain JSON.
 */
export function assertPlainJson(value, where) {
  const text = JSON.stringify(value);
  if (text.includes('$serde_json::private::Number')) {
    throw new Error(
      `${where}: numbers in JSON scalars must be JSON numbers, got serde_json's private form: ${text.slice(0, 300)}`,
    );
  }
}
