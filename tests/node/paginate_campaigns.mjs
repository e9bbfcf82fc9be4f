// urql walks the `campaigns` Relay connection page by page (first/after, pageInfo,
// totalCount) and sees every imported campaign exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Client, fetchExchange, gql } from '@urql/core';

import { HTTP_URL, TOKEN, env } from './lib.mjs';

const INTEGRATION_ID = env('INTEGRATION_ID');
const OFFERS = Number(env('EXPECTED_OFFERS'));

const CAMPAIGNS = gql`
  query Campaigns($filter: CampaignFilter, $first: Int!, $after: String) {
    campaigns(filter: $filter, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id externalId title } }
    }
  }
`;

function client(preferGetMethod) {
  return new Client({
    url: HTTP_URL,
    exchanges: [fetchExchange],
    requestPolicy: 'network-only',
    preferGetMethod,
    fetchOptions: () => ({ headers: { authorization: `Bearer ${TOKEN}` } }),
  });
}

/** Follows `endCursor` until `hasNextPage` is false; returns every node and the page sizes. */
async function walk(urql, filter, first) {
  const nodes = [];
  const sizes = [];
  let after = null;
  let total = null;
  for (let page = 1; ; page++) {
    assert.ok(page <= 1000, 'pagination does not end');
    const r = await urql.query(CAMPAIGNS, { filter, first, after }).toPromise();
    assert.equal(r.error, undefined, `page ${page}: ${r.error}`);
    const c = r.data.campaigns;
    total ??= c.totalCount;
    assert.equal(c.totalCount, total, `totalCount changed on page ${page}`);
    sizes.push(c.edges.length);
    nodes.push(...c.edges.map((e) => e.node));
    if (c.edges.length > 0) {
      assert.equal(c.pageInfo.startCursor, c.edges[0].cursor, `page ${page}: startCursor`);
      assert.equal(c.pageInfo.endCursor, c.edges.at(-1).cursor, `page ${page}: endCursor`);
    }
    if (after === null) assert.equal(c.pageInfo.hasPreviousPage, false, 'the first page has no previous page');
    if (!c.pageInfo.hasNextPage) break;
    assert.equal(c.edges.length, first, `page ${page} is short but hasNextPage is true`);
    after = c.pageInfo.endCursor;
  }
  return { nodes, sizes, total };
}

function assertEachOnce(nodes, total) {
  const ids = nodes.map((n) => n.id);
  const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
  assert.deepEqual(dupes, [], 'campaigns seen more than once');
  assert.equal(nodes.length, total, 'walked a different number of campaigns than totalCount');
}

test('urql walks every campaign page exactly once (POST, 25 a page)', async () => {
  const { nodes, sizes, total } = await walk(client(false), { integrationId: INTEGRATION_ID }, 25);
  assert.equal(total, OFFERS);
  assertEachOnce(nodes, total);
  assert.deepEqual(sizes, [25, 25, 25, 25, 20]);
  const external = new Set(nodes.map((n) => n.externalId));
  for (let i = 1; i <= OFFERS; i++) assert.ok(external.has(String(i)), `offer ${i} has no campaign`);
});

test('urql walks the same pages over GET, and without a filter', async () => {
  const get = await walk(client('force'), null, 50);
  assert.equal(get.total, OFFERS);
  assertEachOnce(get.nodes, get.total);
  assert.deepEqual(get.sizes, [50, 50, 20]);
  // A page size that divides the total: the last page is full and says there is no next one.
  const exact = await walk(client(false), { integrationId: INTEGRATION_ID }, 40);
  assert.deepEqual(exact.sizes, [40, 40, 40]);
  assertEachOnce(exact.nodes, OFFERS);
});

test('after the last cursor the connection is empty', async () => {
  const urql = client(false);
  const all = await urql.query(CAMPAIGNS, { filter: { integrationId: INTEGRATION_ID }, first: 200 }).toPromise();
  assert.equal(all.error, undefined, String(all.error));
  const c = all.data.campaigns;
  assert.equal(c.edges.length, OFFERS);
  assert.equal(c.pageInfo.hasNextPage, false);
  const beyond = await urql.query(CAMPAIGNS, { filter: { integrationId: INTEGRATION_ID }, first: 10, after: c.pageInfo.endCursor }).toPromise();
  assert.equal(beyond.error, undefined, String(beyond.error));
  assert.equal(beyond.data.campaigns.edges.length, 0);
  assert.equal(beyond.data.campaigns.pageInfo.hasNextPage, false);
  assert.equal(beyond.data.campaigns.totalCount, OFFERS);
});
