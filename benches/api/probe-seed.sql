-- Probe data for checking the PostGraphile queries (not the benchmark data set):
-- one advertiser, one integration, :n campaigns (default 2000), each with 1-2
-- campaign_payouts rows. Run on a database migrated by `offerbridge migrate`:
--   psql -h 127.0.0.1 -U postgres -v n=2000 -f probe-seed.sql ob_pgl_probe
\if :{?n}
\else
\set n 2000
\endif
BEGIN;
INSERT INTO advertisers (name, email, website, created_at, updated_at)
VALUES ('Probe Advertiser', 'ads@probe.example', 'https://probe.example', now(), now());

INSERT INTO integrations (name, connector, advertiser_id, credential_hints, imported_status,
  imported_visibility, payout_rules, filters, settings, cap_settings, selected_offer_ids,
  vanished_policy, lifecycle, version, fencing_token, consecutive_failures, created_at, updated_at)
SELECT 'Probe HasOffers', 'hasoffers', a.id, '{}', 'active', 'public', '{}', '{}', '{}', '{}', '[]',
  '{}', 'active', 1, 0, 0, now(), now()
FROM advertisers a WHERE a.name = 'Probe Advertiser';

INSERT INTO campaigns (integration_id, external_id, title, preview_url, tracking_url, status,
  visibility, category, currency, revenue, payout, payout_type, model, countries,
  blocked_countries, os, devices, time_targeting, fingerprint, provenance, locked_columns,
  first_seen_at, last_seen_at, consecutive_misses, created_at, updated_at)
SELECT i.id, 'probe-' || g, 'Probe offer #' || g || ' - Summer sale',
  'https://shop.example/p/' || g, 'https://track.example/click?offer_id=' || g,
  CASE WHEN g % 10 = 0 THEN 'paused' ELSE 'active' END,
  'public', 'Shopping', CASE WHEN g % 3 = 0 THEN 'EUR' ELSE 'USD' END,
  to_char(1 + (g % 97) * 0.25, 'FM990.00'), to_char((1 + (g % 97) * 0.25) * 0.8, 'FM990.00'),
  'fixed', 'cpa', '["US","GB","DE"]', '[]', '[]', '[]', '{}', md5(g::text), '{}', '[]',
  now(), now(), 0, now(), now()
FROM integrations i, generate_series(1, :n) AS g
WHERE i.name = 'Probe HasOffers'
ORDER BY g;

-- Every campaign: one payout for every country; every second campaign: a US payout too.
INSERT INTO campaign_payouts (campaign_id, country, goal, goal_name, revenue, payout, payout_type, currency)
SELECT c.id, NULL, NULL, NULL, c.revenue, c.payout, c.payout_type, c.currency FROM campaigns c
UNION ALL
SELECT c.id, 'US', '2', 'Sale', to_char(c.revenue::numeric * 1.5, 'FM990.00'),
  to_char(c.payout::numeric * 1.5, 'FM990.00'), 'fixed', c.currency
FROM campaigns c WHERE c.id % 2 = 0
ORDER BY 1, 2 NULLS FIRST;
COMMIT;
ANALYZE advertisers, integrations, campaigns, campaign_payouts;
