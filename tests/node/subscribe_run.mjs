// graphql-ws (the `graphql-transport-ws` protocol) follows sync runs that a separate agent
// process imports from the fake advertiser: started -> progress (>= 1) -> finished, in order,
// delivered live across processes through the events table.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import { TOKEN, WS_URL, assertPlainJson, env, gql, within } from './lib.mjs';

const INTEGRATION_ID = env('INTEGRATION_ID');
const OFFERS = Number(env('EXPECTED_OFFERS'));

const EVENT_FIELDS = 'sequence kind integrationId runId payload createdAt';
const INTEGRATION_EVENTS = `subscription($id: ID!, $after: Int) {
  integrationEvents(integrationId: $id, afterSequence: $after) { ${EVENT_FIELDS} } }`;
const RUN_PROGRESS = `subscription($run: ID!) { syncRunProgress(runId: $run) { ${EVENT_FIELDS} } }`;

/** Subscribes and records every event with the time it arrived. */
function follow(client, query, variables, field) {
  const events = [];
  let failure = null;
  let wake = () => {};
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (r) => {
        if (r.errors) failure = new Error(`subscription errors: ${JSON.stringify(r.errors)}`);
        else events.push({ ...r.data[field], receivedAt: Date.now() });
        wake();
      },
      error: (e) => {
        failure = new Error(`subscription failed: ${e?.reason ?? e?.message ?? JSON.stringify(e)}`);
        wake();
      },
      complete: () => wake(),
    },
  );
  /** Waits until `pick(events)` returns something. */
  async function until(pick, what, ms = 20000) {
    const wait = (async () => {
      for (;;) {
        if (failure) throw failure;
        const v = pick(events);
        if (v) return v;
        await new Promise((resolve) => {
          wake = resolve;
        });
      }
    })();
    return within(ms, what, wait);
  }
  return { events, until, unsubscribe };
}

/** The run's own events, checked to be started -> progress (>= 1) -> finished. */
function checkRun(events, runId) {
  const run = events.filter((e) => e.runId === runId && e.kind.startsWith('run_'));
  for (const e of run) assertPlainJson(e.payload, `${e.kind} ${e.sequence} payload`);
  const kinds = run.map((e) => e.kind);
  const shape = `run ${runId}: ${kinds.join(' -> ')}`;
  assert.equal(kinds[0], 'run_started', shape);
  assert.equal(kinds.at(-1), 'run_finished', shape);
  const middle = kinds.slice(1, -1);
  assert.ok(middle.length >= 1, `no run_progress event: ${shape}`);
  assert.ok(middle.every((k) => k === 'run_progress'), shape);
  for (let i = 1; i < run.length; i++) {
    assert.ok(run[i].sequence > run[i - 1].sequence, `sequences out of order: ${run.map((e) => e.sequence)}`);
    assert.ok(run[i].receivedAt >= run[i - 1].receivedAt);
  }
  const pages = run.slice(1, -1).map((e) => e.payload.pages_done);
  assert.deepEqual(pages, [...pages].sort((a, b) => a - b), `pages_done must grow: ${pages}`);
  const finished = run.at(-1).payload;
  assert.equal(finished.status, 'succeeded', JSON.stringify(finished));
  assert.equal(finished.fetched, OFFERS, JSON.stringify(finished));
  assert.equal(String(finished.run_id), runId);
  return run;
}

/** The run the agent started for a sync request (polls `syncRequest.runId`). */
async function requestRun(requestId, ms = 20000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const { syncRequest } = await gql('query($id: ID!) { syncRequest(id: $id) { runId } }', { id: requestId });
    if (syncRequest.runId) return syncRequest.runId;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the agent started no run for sync request ${requestId} within ${ms} ms`);
}

const finishedRun = (skip) => (events) => events.find((e) => e.kind === 'run_finished' && !skip.includes(e.runId));

test('graphql-ws follows runs imported by a separate agent process, in order', async () => {
  const client = createClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${TOKEN}` },
    retryAttempts: 0,
  });
  try {
    // Subscribed from sequence 0 before the first sync exists: finalizing requests it.
    const feed = follow(client, INTEGRATION_EVENTS, { id: INTEGRATION_ID, after: 0 }, 'integrationEvents');
    const fin = await gql('mutation($id: ID!) { finalizeIntegration(id: $id, force: true) { lifecycle } }', { id: INTEGRATION_ID });
    assert.equal(fin.finalizeIntegration.lifecycle, 'ACTIVE');
    const first = await feed.until(finishedRun([]), 'the first run (requested by finalizeIntegration) to finish');
    const firstRun = checkRun(feed.events, first.runId);
    assert.equal(firstRun.at(-1).payload.created, OFFERS);

    // The subscription is live now: "sync now" and watch the new run arrive as it happens.
    const asked = Date.now();
    const req = await gql('mutation($id: ID!) { syncNow(integrationId: $id) { id } }', { id: INTEGRATION_ID });
    const runId = await requestRun(req.syncNow.id);
    const second = await feed.until(
      (events) => events.find((e) => e.kind === 'run_finished' && e.runId === runId),
      `run ${runId} (requested by syncNow) to finish`,
    );
    const run = checkRun(feed.events, second.runId);
    for (const e of run) {
      assert.ok(e.receivedAt >= asked, `event ${e.sequence} (${e.kind}) was not delivered live after syncNow`);
    }
    assert.equal(run.at(-1).payload.unchanged, OFFERS, 'an unchanged feed writes nothing');

    // The events were published after the agent process committed the run: its final state
    // is already readable through the gateway when run_finished arrives.
    const { syncRun } = await gql('query($id: ID!) { syncRun(id: $id) { status phase pagesDone counters } }', { id: second.runId });
    assert.equal(syncRun.status, 'SUCCEEDED', JSON.stringify(syncRun));
    assertPlainJson(syncRun.counters, 'SyncRun.counters');
    assert.equal(syncRun.counters.fetched, OFFERS, JSON.stringify(syncRun));
    assert.equal(syncRun.pagesDone, Math.ceil(OFFERS / 50), JSON.stringify(syncRun));
    const { syncRequest } = await gql('query($id: ID!) { syncRequest(id: $id) { status runId } }', { id: req.syncNow.id });
    assert.equal(syncRequest.status, 'DONE', JSON.stringify(syncRequest));

    // syncRunProgress replays the same run, in the same order, on the same connection.
    const replay = follow(client, RUN_PROGRESS, { run: second.runId }, 'syncRunProgress');
    await replay.until(finishedRun([]), 'syncRunProgress to replay the run');
    replay.unsubscribe();
    assert.deepEqual(
      replay.events.map((e) => e.sequence),
      run.map((e) => e.sequence),
      'syncRunProgress must replay exactly the run events integrationEvents delivered',
    );
    feed.unsubscribe();
    console.log(`run ${first.runId}: ${firstRun.map((e) => e.kind).join(' -> ')}`);
    console.log(`run ${second.runId}: ${run.map((e) => e.kind).join(' -> ')}`);
    const runs = await gql('query($id: ID!) { syncRuns(filter: {integrationId: $id}, first: 10) { edges { node { id trigger status } } } }', {
      id: INTEGRATION_ID,
    });
    console.log(`runs: ${JSON.stringify(runs.syncRuns.edges.map((e) => e.node))}`);
  } finally {
    await client.dispose();
  }
});
