// Both WebSocket subprotocols on /graphql/ws authenticate through the connection_init
// payload: `graphql-transport-ws` through the graphql-ws client, the legacy `graphql-ws`
// (subscriptions-transport-ws) protocol spoken by hand. Without a valid token the connection
// is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import { TOKEN, WS_URL, env, within } from './lib.mjs';

const INTEGRATION_ID = env('INTEGRATION_ID');
const EVENTS = `subscription($id: ID!) {
  integrationEvents(integrationId: $id, afterSequence: 0) { sequence kind runId } }`;
const ADVERTISERS = '{ advertisers { id name } }';

function transportClient(connectionParams) {
  return createClient({ url: WS_URL, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
}

/** Runs one operation to its first result (or error) with the graphql-ws client. */
function first(client, query, variables = {}) {
  return within(
    10000,
    `a result for ${query.split('{')[0].trim() || 'query'}`,
    new Promise((resolve, reject) => {
      let unsubscribe = () => {};
      unsubscribe = client.subscribe(
        { query, variables },
        {
          next: (r) => {
            unsubscribe();
            resolve(r);
          },
          error: reject,
          complete: () => {},
        },
      );
    }),
  );
}

/** A raw socket speaking the legacy protocol: a queue of parsed messages and the close. */
function legacySocket() {
  const ws = new WebSocket(WS_URL, 'graphql-ws');
  const inbox = [];
  let wake = () => {};
  let closed = null;
  ws.on('message', (m) => {
    const msg = JSON.parse(m.toString());
    if (msg.type !== 'ka') inbox.push(msg);
    wake();
  });
  ws.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    wake();
  });
  ws.on('error', () => wake());
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    ws,
    opened,
    send: (msg) => ws.send(JSON.stringify(msg)),
    /** The next message (keep-alives skipped), or null once the socket is closed. */
    next: (what) =>
      within(
        10000,
        what,
        (async () => {
          for (;;) {
            if (inbox.length) return inbox.shift();
            if (closed) return null;
            await new Promise((resolve) => {
              wake = resolve;
            });
          }
        })(),
      ),
    closed: () =>
      within(
        10000,
        'the socket to close',
        (async () => {
          while (!closed) {
            await new Promise((resolve) => {
              wake = resolve;
            });
          }
          return closed;
        })(),
      ),
  };
}

test('graphql-transport-ws: token in connection_init, then queries and subscriptions', async () => {
  const client = transportClient({ Authorization: `Bearer ${TOKEN}` });
  try {
    const q = await first(client, ADVERTISERS);
    assert.equal(q.errors, undefined, JSON.stringify(q.errors));
    assert.ok(q.data.advertisers.length >= 1);
    const s = await first(client, EVENTS, { id: INTEGRATION_ID });
    assert.equal(s.errors, undefined, JSON.stringify(s.errors));
    assert.equal(s.data.integrationEvents.kind, 'run_started');
  } finally {
    await client.dispose();
  }
  // The bare-token form of the payload works too.
  const bare = transportClient({ token: TOKEN });
  try {
    const q = await first(bare, ADVERTISERS);
    assert.equal(q.errors, undefined, JSON.stringify(q.errors));
  } finally {
    await bare.dispose();
  }
});

for (const [name, params] of [
  ['no token', {}],
  ['an unknown token', { Authorization: 'Bearer obt_not-a-real-token' }],
]) {
  test(`graphql-transport-ws: ${name} in connection_init closes the connection`, async () => {
    let closedWith = null;
    const client = createClient({
      url: WS_URL,
      webSocketImpl: WebSocket,
      connectionParams: params,
      retryAttempts: 0,
      on: { closed: (e) => (closedWith = e) },
    });
    try {
      await assert.rejects(first(client, ADVERTISERS), (e) => {
        // graphql-ws reports the close event the server sent.
        assert.ok(typeof e?.code === 'number', `expected a close event, got ${e}`);
        assert.notEqual(e.code, 1000, 'a refused connection must not close normally');
        assert.match(e.reason, /token/i);
        console.log(`graphql-transport-ws, ${name}: closed with ${e.code} "${e.reason}"`);
        return true;
      });
      assert.ok(closedWith, 'the server closed the socket');
    } finally {
      await client.dispose();
    }
  });
}

test('legacy graphql-ws: token in connection_init, then start/data/stop and start/data/complete', async () => {
  const s = legacySocket();
  await s.opened;
  assert.equal(s.ws.protocol, 'graphql-ws');
  s.send({ type: 'connection_init', payload: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal((await s.next('connection_ack'))?.type, 'connection_ack');

  s.send({ id: 'sub', type: 'start', payload: { query: EVENTS, variables: { id: INTEGRATION_ID } } });
  const data = await s.next('subscription data');
  assert.equal(data?.type, 'data', JSON.stringify(data));
  assert.equal(data.id, 'sub');
  assert.equal(data.payload.errors, undefined, JSON.stringify(data.payload));
  assert.equal(data.payload.data.integrationEvents.kind, 'run_started');
  s.send({ id: 'sub', type: 'stop' });
  // Drain the rest of the replay until the server confirms the stop.
  for (;;) {
    const m = await s.next('complete after stop');
    assert.ok(m, 'socket closed before complete');
    if (m.type === 'complete' && m.id === 'sub') break;
    assert.equal(m.type, 'data', JSON.stringify(m));
  }

  s.send({ id: 'q', type: 'start', payload: { query: ADVERTISERS } });
  const q = await s.next('query data');
  assert.equal(q?.type, 'data', JSON.stringify(q));
  assert.equal(q.payload.errors, undefined, JSON.stringify(q.payload));
  assert.ok(q.payload.data.advertisers.length >= 1);
  assert.deepEqual(await s.next('query complete'), { type: 'complete', id: 'q' });

  s.send({ type: 'connection_terminate' });
  await s.closed();
});

for (const [name, payload] of [
  ['no token', {}],
  ['an unknown token', { Authorization: 'Bearer obt_not-a-real-token' }],
]) {
  test(`legacy graphql-ws: ${name} in connection_init is a connection_error, then the socket closes`, async () => {
    const s = legacySocket();
    await s.opened;
    s.send({ type: 'connection_init', payload });
    const m = await s.next('connection_error');
    assert.equal(m?.type, 'connection_error', JSON.stringify(m));
    assert.match(m.payload.message, /token/i);
    // Nothing may run on a refused connection.
    s.send({ id: '1', type: 'start', payload: { query: ADVERTISERS } });
    const after = await s.next('the close');
    assert.equal(after, null, `the server answered on a refused connection: ${JSON.stringify(after)}`);
    await s.closed();
  });
}
