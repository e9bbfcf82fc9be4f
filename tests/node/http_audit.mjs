// The GraphQL-over-HTTP audit suite of `graphql-http` against /graphql: every audit passes,
// MUST, SHOULD and MAY alike (13/13, 23/23, 25/25 with graphql-http 1.23.1).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { serverAudits } from 'graphql-http';

import { HTTP_URL, TOKEN } from './lib.mjs';

/** fetch with the bearer token on every request, whatever headers the audit sets. */
function fetchWithToken(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${TOKEN}`);
  return fetch(input, { ...init, headers });
}

test('graphql-http audits: every MUST, SHOULD and MAY passes', async () => {
  const results = [];
  for (const audit of serverAudits({ url: HTTP_URL, fetchFn: fetchWithToken })) {
    const r = await audit.fn();
    let detail = '';
    if (r.status !== 'ok') {
      const body = await r.response.text().catch(() => '');
      detail = `${r.reason} [HTTP ${r.response.status} ${r.response.headers.get('content-type') ?? ''}] ${body.slice(0, 200)}`;
    }
    results.push({ level: r.name.split(' ')[0], status: r.status, id: r.id, name: r.name, detail });
  }
  const summary = {};
  for (const r of results) {
    summary[r.level] ??= { passed: 0, total: 0 };
    summary[r.level].total++;
    if (r.status === 'ok') summary[r.level].passed++;
  }
  for (const r of results.filter((r) => r.status !== 'ok')) {
    console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.detail}`);
  }
  console.log(
    `graphql-http audit: ${Object.entries(summary)
      .map(([level, s]) => `${level} ${s.passed}/${s.total}`)
      .join(', ')}`,
  );
  const failed = results.filter((r) => r.status !== 'ok');
  assert.deepEqual(
    failed.map((r) => `${r.id} ${r.name}: ${r.detail}`),
    [],
    'audits failed',
  );
  assert.deepEqual(
    summary,
    { MUST: { passed: 13, total: 13 }, SHOULD: { passed: 23, total: 23 }, MAY: { passed: 25, total: 25 } },
    'every audit of graphql-http 1.23.1 ran',
  );
});
