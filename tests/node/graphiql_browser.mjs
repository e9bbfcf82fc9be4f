// GraphiQL in a real browser (Debian's headless Chromium driven by playwright-core), offline:
// every request to anything but 127.0.0.1 / localhost / [::1] is blocked, and a blocked
// request, a failed asset, a console error or a page error fails the run.
//
// Steps: open <base>/graphql, type the token into the page's "API token" field, run a
// campaigns query from the query editor (waits for rows), run an `integrationEvents`
// subscription, start a sync with a plain `syncNow` POST from this script, wait until the
// response pane shows an event of that sync, then check that an Authorization header in the
// Headers tab wins over a wrong token in the bar (a query over HTTP, a subscription's
// connection_init). A full-page screenshot once the sync's event shows (or on failure).
//
// Usage (run `npm ci --prefix tests/node` once):
//   node tests/node/graphiql_browser.mjs --base http://127.0.0.1:8080 --token <admin token> \
//        --integration <integration id> --screenshot /tmp/graphiql.png
// Each option may come from the environment instead:
//   --base          GATEWAY_URL      gateway base URL (loopback only)
//   --token         TOKEN            an admin API token
//   --integration   INTEGRATION_ID   integration to subscribe to and sync
//   --screenshot    SCREENSHOT       PNG path (default graphiql.png)
//   --min-rows      MIN_ROWS         campaigns rows the query must show (default 1)
//   --want          WANT_KINDS       comma-separated event kinds that count as "progress of the
//                                    sync" (default run_progress,run_finished,run_held;
//                                    `any` accepts any event, e.g. request_done)
//   --timeout-ms    TIMEOUT_MS       how long to wait for the sync's event (default 60000)
//   CHROMIUM_PATH                    browser binary (default /usr/bin/chromium)
// Output: one JSON line ({"rows": n, "events": [kinds shown], ...}) and exit 0; on failure a
// message naming what went wrong on stderr and exit 1.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    token: { type: 'string' },
    integration: { type: 'string' },
    screenshot: { type: 'string' },
    'min-rows': { type: 'string' },
    want: { type: 'string' },
    'timeout-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (args.help) {
  // The header comment above is the usage.
  const header = readFileSync(new URL(import.meta.url), 'utf8').split('\nimport ')[0];
  console.log(header.replace(/^\/\/ ?/gm, ''));
  process.exit(0);
}

function option(name, envName, fallback) {
  const v = args[name] ?? process.env[envName] ?? fallback;
  if (v === undefined || v === '') {
    console.error(`missing --${name} (or ${envName}); see the top of ${import.meta.url}`);
    process.exit(2);
  }
  return v;
}

const BASE = option('base', 'GATEWAY_URL').replace(/\/+$/, '');
const TOKEN = option('token', 'TOKEN');
const INTEGRATION_ID = option('integration', 'INTEGRATION_ID');
const SCREENSHOT = option('screenshot', 'SCREENSHOT', 'graphiql.png');
const MIN_ROWS = Number(option('min-rows', 'MIN_ROWS', '1'));
const WANT = option('want', 'WANT_KINDS', 'run_progress,run_finished,run_held')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const TIMEOUT_MS = Number(option('timeout-ms', 'TIMEOUT_MS', '60000'));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const CAMPAIGNS = '{ campaigns(first: 5) { nodes { externalId title } } }';
const SUBSCRIPTION = `subscription Events {
  integrationEvents(integrationId: ${JSON.stringify(INTEGRATION_ID)}) {
    sequence
    kind
    runId
    payload
  }
}`;

/** 127.0.0.0/8, localhost, [::1]: the only hosts the browser may reach. */
function isLoopback(url) {
  let host;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}
if (!isLoopback(BASE)) {
  console.error(`--base must be a loopback URL (127.0.0.1, localhost or [::1]), got ${BASE}`);
  process.exit(2);
}

const redact = (s) => (TOKEN.length >= 8 ? String(s).split(TOKEN).join('<token>') : String(s));

const blocked = [];
const consoleErrors = [];
const pageErrors = [];
const failedResponses = [];
const sockets = [];
const graphqlPosts = [];
let step = 'launching Chromium';

/** The sync's run id once the agent picked the request up (polled over HTTP). */
async function gql(query, variables = {}) {
  const res = await fetch(`${BASE}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 200 || body.errors) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body).slice(0, 500)}`);
  return body.data;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, ms, probe) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox', // root in CI
    // Belt and braces under page.route: no name but loopback resolves at all.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
  ],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
let code = 0;
const result = {};

try {
  step = 'setting up request blocking';
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (isLoopback(url)) return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
  await context.routeWebSocket(
    (url) => !isLoopback(url.toString()),
    (ws) => {
      blocked.push(ws.url());
      ws.close({ code: 1008, reason: 'blocked: not loopback' });
    },
  );
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(redact(`${m.text()} (${m.location().url}:${m.location().lineNumber})`));
  });
  page.on('pageerror', (e) => pageErrors.push(redact(e.stack || e.message)));
  page.on('response', (r) => {
    if (r.status() >= 400) failedResponses.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on('requestfailed', (r) => {
    if (isLoopback(r.url())) failedResponses.push(`failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/graphql') {
      graphqlPosts.push({ authorization: r.headers().authorization ?? null, query: JSON.parse(r.postData() || '{}').query ?? '' });
    }
  });
  page.on('websocket', (ws) => {
    const s = { url: ws.url(), sent: [], received: [], closed: false };
    sockets.push(s);
    ws.on('framesent', (f) => s.sent.push(String(f.payload)));
    ws.on('framereceived', (f) => s.received.push(String(f.payload)));
    ws.on('close', () => (s.closed = true));
  });

  step = `opening ${BASE}/graphql`;
  const resp = await page.goto(`${BASE}/graphql`, { waitUntil: 'load' });
  if (!resp || resp.status() !== 200) throw new Error(`GET /graphql answered ${resp?.status()}`);
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: 20000 });
  await page.waitForSelector('.graphiql-response .CodeMirror', { timeout: 20000 });

  // Every value the response pane shows, bursts included (the pane shows only the latest).
  await page.evaluate(() => {
    const cm = document.querySelector('.graphiql-response .CodeMirror').CodeMirror;
    window.__obShown = [];
    cm.on('change', () => window.__obShown.push(cm.getValue()));
  });
  const shown = () => page.evaluate(() => window.__obShown.slice());
  // GraphiQL parses the editor's text (operation type and name, which decide HTTP or
  // WebSocket) a moment after each change: let it before running.
  const setQuery = async (q) => {
    await page.evaluate((q) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q), q);
    await sleep(500);
  };
  const parse = (text) => {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  };

  step = 'typing the token into the "API token" field';
  await page.fill('#ob-token', TOKEN);
  await page.press('#ob-token', 'Enter');
  const stored = await page.evaluate(() => [sessionStorage.getItem('offerbridge.token'), localStorage.getItem('offerbridge.token')]);
  if (stored[0] !== TOKEN) throw new Error('the token was not kept in sessionStorage under offerbridge.token');
  if (stored[1] !== null) throw new Error('the token must not be kept in localStorage (shared with later pages on this origin)');

  step = 'running the campaigns query';
  await setQuery(CAMPAIGNS);
  let mark = (await shown()).length;
  await page.click('.graphiql-execute-button');
  const answer = await waitFor('the campaigns answer in the response pane', 20000, async () => {
    const all = await shown();
    for (const text of all.slice(mark)) {
      const v = parse(text);
      if (v && (v.errors || v.data)) return v;
    }
    return null;
  });
  if (answer.errors) throw new Error(`the campaigns query answered errors: ${redact(JSON.stringify(answer.errors))}`);
  result.rows = answer.data.campaigns.nodes.length;
  if (result.rows < MIN_ROWS) throw new Error(`the response pane shows ${result.rows} campaign rows, wanted at least ${MIN_ROWS}`);
  const sent = graphqlPosts.filter((r) => r.query.includes('campaigns(first: 5)'));
  result.httpAuthorization = sent.length && sent.every((r) => r.authorization === `Bearer ${TOKEN}`) ? 'Bearer <token>' : redact(JSON.stringify(sent));
  if (result.httpAuthorization !== 'Bearer <token>') throw new Error(`the query went without the bar's token: ${result.httpAuthorization}`);

  step = 'running the integrationEvents subscription';
  await setQuery(SUBSCRIPTION);
  mark = (await shown()).length;
  const socketsBefore = sockets.length;
  await page.click('.graphiql-execute-button');
  const ws = await waitFor('the subscription WebSocket to be acknowledged', 20000, async () => {
    const s = sockets.slice(socketsBefore).find((s) => s.received.some((m) => parse(m)?.type === 'connection_ack'));
    if (s && s.sent.some((m) => parse(m)?.type === 'subscribe')) return s;
    const refused = sockets.slice(socketsBefore).find((s) => s.closed);
    if (refused) throw new Error(`the WebSocket closed before connection_ack; received ${redact(JSON.stringify(refused.received))}`);
    return null;
  });
  const init = ws.sent.map(parse).find((m) => m?.type === 'connection_init');
  result.wsUrl = ws.url;
  result.wsInitAuthorization = init?.payload?.Authorization === `Bearer ${TOKEN}` ? 'Bearer <token>' : redact(JSON.stringify(init?.payload));
  if (result.wsInitAuthorization !== 'Bearer <token>') throw new Error(`connection_init payload lacks the bar's token: ${result.wsInitAuthorization}`);

  step = 'starting a sync with syncNow';
  const sync = (await gql('mutation($id: ID!) { syncNow(integrationId: $id) { id runId } }', { id: INTEGRATION_ID })).syncNow;
  result.syncRequest = sync.id;
  let runId = sync.runId ?? null;

  step = `waiting for an event of that sync (${WANT.join(', ')}) in the response pane`;
  const events = [];
  const seen = new Set();
  const event = await waitFor(`an event of sync request ${sync.id}`, TIMEOUT_MS, async () => {
    if (!runId) {
      runId = (await gql('query($id: ID!) { syncRequest(id: $id) { runId } }', { id: sync.id }).catch(() => null))?.syncRequest?.runId ?? null;
    }
    for (const text of (await shown()).slice(mark)) {
      const v = parse(text);
      if (v?.errors) throw new Error(`the subscription answered errors: ${redact(JSON.stringify(v.errors))}`);
      const e = v?.data?.integrationEvents;
      if (!e || seen.has(e.sequence)) continue;
      seen.add(e.sequence);
      events.push(e);
    }
    const ours = (e) => (WANT.includes('any') ? true : WANT.includes(e.kind) && (runId === null || e.runId === runId));
    return events.find(ours) ?? null;
  });
  result.events = events.map((e) => (e.runId ? `${e.kind} (run ${e.runId})` : e.kind));
  result.runId = runId;
  result.matched = { kind: event.kind, sequence: event.sequence, runId: event.runId };
  await sleep(500); // let the pane settle before the picture
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  step = 'stopping the subscription';
  await page.click('.graphiql-execute-button');

  step = 'checking that the Headers tab wins over the bar';
  await page.fill('#ob-token', 'not-a-valid-token');
  await page.press('#ob-token', 'Enter');
  await page.click('.graphiql-editor-tools button[data-name="headers"]');
  await page.waitForSelector('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
  await page.evaluate((h) => {
    const el = [...document.querySelectorAll('.graphiql-editor-tool .graphiql-editor')].find((e) => !e.classList.contains('hidden'));
    el.querySelector('.CodeMirror').CodeMirror.setValue(h);
  }, JSON.stringify({ authorization: `Bearer ${TOKEN}` }));
  await setQuery(CAMPAIGNS);
  mark = (await shown()).length;
  await page.click('.graphiql-execute-button');
  const again = await waitFor('the campaigns answer with the Headers tab token', 20000, async () => {
    for (const text of (await shown()).slice(mark)) {
      const v = parse(text);
      if (v && (v.errors || v.data)) return v;
    }
    return null;
  });
  if (again.errors) throw new Error(`with a wrong bar token and the right Headers-tab token: ${redact(JSON.stringify(again.errors))}`);
  await setQuery(SUBSCRIPTION);
  const before = sockets.length;
  await page.click('.graphiql-execute-button');
  const ws2 = await waitFor('the Headers-tab WebSocket to be acknowledged', 20000, async () => {
    const s = sockets.slice(before).find((s) => s.received.some((m) => parse(m)?.type === 'connection_ack'));
    if (s) return s;
    const refused = sockets.slice(before).find((s) => s.closed);
    if (refused) throw new Error(`the WebSocket closed before connection_ack; received ${redact(JSON.stringify(refused.received))}`);
    return null;
  });
  const init2 = ws2.sent.map(parse).find((m) => m?.type === 'connection_init');
  if (init2?.payload?.Authorization !== `Bearer ${TOKEN}`) {
    throw new Error(`connection_init does not carry the Headers-tab token: ${redact(JSON.stringify(init2?.payload))}`);
  }
  await page.click('.graphiql-execute-button');
  result.headersTabWins = { http: true, webSocket: true };

  step = 'checking for blocked requests and errors';
  const problems = [
    ...blocked.map((u) => `blocked request to ${u}`),
    ...failedResponses.map((r) => `failed response: ${r}`),
    ...consoleErrors.map((e) => `console error: ${e}`),
    ...pageErrors.map((e) => `page error: ${e}`),
  ];
  if (problems.length) throw new Error(problems.join('\n'));
  result.blocked = 0;
  result.webSockets = sockets.length;
  console.log(JSON.stringify(result));
} catch (e) {
  code = 1;
  console.error(`GraphiQL browser test failed while ${step}: ${redact(e.message)}`);
  const extra = [
    ...blocked.map((u) => `  blocked request: ${u}`),
    ...failedResponses.map((r) => `  failed response: ${r}`),
    ...consoleErrors.map((m) => `  console error: ${m}`),
    ...pageErrors.map((m) => `  page error: ${m}`),
  ];
  if (extra.length) console.error(extra.join('\n'));
  await page.screenshot({ path: SCREENSHOT, fullPage: true }).catch((err) => console.error(`screenshot failed: ${err.message}`));
  console.error(`screenshot: ${SCREENSHOT}; observed so far: ${redact(JSON.stringify(result))}`);
} finally {
  await browser.close().catch(() => {});
}
process.exit(code);
