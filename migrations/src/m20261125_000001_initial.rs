//! The whole domain: advertisers, publishers, integrations, campaigns and their child rows,
//! sync runs, logs, events, previews, requests, exchange rates, tokens, audit log, changesets.
//!
//! Conventions: ids are 64-bit integers; money and rates are exact decimals stored as TEXT
//! (SQLite has no exact decimal type, and one representation keeps one code path); structured
//! settings sections are JSON documents stored as TEXT and validated by the `domain` crate;
//! times are UTC (`timestamptz` on PostgreSQL, RFC 3339 text on SQLite).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn create(name: &'static str) -> TableCreateStatement {
    Table::create().table(name).if_not_exists().take()
}

fn fk(from: (&'static str, &'static str), to: &'static str, cascade: bool) -> ForeignKeyCreateStatement {
    let mut fk = ForeignKey::create();
    fk.from(from.0, from.1).to(to, "id");
    if cascade {
        fk.on_delete(ForeignKeyAction::Cascade);
    } else {
        fk.on_delete(ForeignKeyAction::SetNull);
    }
    fk.take()
}

fn index(table: &'static str, name: &'static str, cols: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table).if_not_exists();
    for c in cols {
        idx.col(*c);
    }
    if unique {
        idx.unique();
    }
    idx.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            create("advertisers")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(string_null("email"))
                .col(string_null("website"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(index("advertisers", "advertisers_name", &["name"], true)).await?;

        m.create_table(
            create("publisher_tiers")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(index("publisher_tiers", "publisher_tiers_name", &["name"], true)).await?;

        m.create_table(
            create("publishers")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(string_null("email"))
                .col(big_integer_null("tier_id"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk(("publishers", "tier_id"), "publisher_tiers", false))
                .take(),
        )
        .await?;
        m.create_index(index("publishers", "publishers_tier", &["tier_id"], false)).await?;

        m.create_table(
            create("integrations")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(string("connector"))
                .col(big_integer("advertiser_id"))
                // Credentials: one ChaCha20-Poly1305 sealed JSON document (nonce || ciphertext,
                // base64), plus the non-secret hints the API may show (field -> isSet/last4).
                .col(text_null("credentials_sealed"))
                .col(text("credential_hints"))
                .col(text_null("tracking_url_append"))
                .col(text_null("impression_url_append"))
                .col(string_null("default_category"))
                .col(string("imported_status"))
                .col(string("imported_visibility"))
                .col(text("payout_rules"))
                .col(text("filters"))
                .col(text("settings"))
                .col(text("cap_settings"))
                .col(text("selected_offer_ids"))
                .col(text("vanished_policy"))
                .col(string("lifecycle"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone_null("next_run_at"))
                .col(string_null("lease_owner"))
                .col(timestamp_with_time_zone_null("lease_expires_at"))
                .col(big_integer("fencing_token"))
                .col(timestamp_with_time_zone_null("last_success_at"))
                .col(integer("consecutive_failures"))
                .col(string_null("disabled_reason"))
                .col(timestamp_with_time_zone_null("finalized_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk(("integrations", "advertiser_id"), "advertisers", true))
                .take(),
        )
        .await?;
        m.create_index(index("integrations", "integrations_due", &["lifecycle", "next_run_at"], false)).await?;
        m.create_index(index("integrations", "integrations_advertiser", &["advertiser_id"], false)).await?;

        m.create_table(
            create("campaigns")
                .col(big_pk_auto("id"))
                .col(big_integer("integration_id"))
                .col(string("external_id"))
                .col(string("title"))
                .col(text_null("description"))
                .col(text_null("description_text"))
                .col(text_null("preview_url"))
                .col(text_null("tracking_url"))
                .col(text_null("impression_url"))
                .col(text_null("thumbnail_url"))
                .col(string("status"))
                .col(string("visibility"))
                .col(string_null("category"))
                .col(string("currency"))
                .col(string("revenue"))
                .col(string("payout"))
                .col(string("payout_type"))
                .col(string_null("model"))
                .col(string_null("objective"))
                .col(string_null("redirect_type"))
                .col(text("countries"))
                .col(text("blocked_countries"))
                .col(text("os"))
                .col(text("devices"))
                .col(timestamp_with_time_zone_null("expires_at"))
                .col(text("time_targeting"))
                .col(string_null("exchange_rate"))
                .col(string("fingerprint"))
                .col(text("provenance"))
                .col(text("locked_columns"))
                .col(string_null("paused_by"))
                .col(big_integer_null("last_run_id"))
                .col(timestamp_with_time_zone("first_seen_at"))
                .col(timestamp_with_time_zone("last_seen_at"))
                .col(integer("consecutive_misses"))
                .col(timestamp_with_time_zone_null("vanished_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk(("campaigns", "integration_id"), "integrations", true))
                .take(),
        )
        .await?;
        m.create_index(index("campaigns", "campaigns_external", &["integration_id", "external_id"], true)).await?;
        m.create_index(index("campaigns", "campaigns_integration_status", &["integration_id", "status"], false)).await?;
        m.create_index(index("campaigns", "campaigns_status", &["status", "id"], false)).await?;
        m.create_index(index("campaigns", "campaigns_model", &["model"], false)).await?;

        m.create_table(
            create("campaign_countries")
                .col(big_integer("campaign_id"))
                .col(string_len("country", 2))
                .primary_key(Index::create().col("campaign_id").col("country"))
                .foreign_key(&mut fk(("campaign_countries", "campaign_id"), "campaigns", true))
                .take(),
        )
        .await?;
        m.create_index(index("campaign_countries", "campaign_countries_country", &["country", "campaign_id"], false)).await?;

        m.create_table(
            create("campaign_payouts")
                .col(big_pk_auto("id"))
                .col(big_integer("campaign_id"))
                .col(string_len_null("country", 2))
                .col(string_null("goal"))
                .col(string_null("goal_name"))
                .col(string("revenue"))
                .col(string("payout"))
                .col(string("payout_type"))
                .col(string("currency"))
                .foreign_key(&mut fk(("campaign_payouts", "campaign_id"), "campaigns", true))
                .take(),
        )
        .await?;
        m.create_index(index("campaign_payouts", "campaign_payouts_campaign", &["campaign_id"], false)).await?;

        m.create_table(
            create("campaign_caps")
                .col(big_pk_auto("id"))
                .col(big_integer("campaign_id"))
                .col(string("source"))
                .col(string("event"))
                .col(string("period"))
                .col(string("value"))
                .col(string("visibility"))
                .col(string("counting"))
                .col(string("timezone"))
                .col(string("over_delivery"))
                .foreign_key(&mut fk(("campaign_caps", "campaign_id"), "campaigns", true))
                .take(),
        )
        .await?;
        m.create_index(index("campaign_caps", "campaign_caps_campaign", &["campaign_id"], false)).await?;

        m.create_table(
            create("campaign_publisher_payouts")
                .col(big_integer("campaign_id"))
                .col(big_integer("publisher_id"))
                .col(string("payout"))
                .col(string("source"))
                .primary_key(Index::create().col("campaign_id").col("publisher_id"))
                .foreign_key(&mut fk(("campaign_publisher_payouts", "campaign_id"), "campaigns", true))
                .foreign_key(&mut fk(("campaign_publisher_payouts", "publisher_id"), "publishers", true))
                .take(),
        )
        .await?;

        m.create_table(
            create("sync_runs")
                .col(big_pk_auto("id"))
                .col(big_integer("integration_id"))
                .col(string("trigger"))
                .col(string("status"))
                .col(string("phase"))
                .col(boolean("dry_run"))
                .col(integer("pages_done"))
                .col(integer_null("pages_total"))
                .col(text("counters"))
                .col(text("filter_counts"))
                .col(timestamp_with_time_zone("queued_at"))
                .col(timestamp_with_time_zone_null("started_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .col(string_null("error_code"))
                .col(text_null("error_message"))
                .col(text_null("last_response"))
                .col(text_null("held_changes"))
                .col(big_integer("fencing_token"))
                .col(string_null("agent_id"))
                .col(big_integer_null("request_id"))
                .foreign_key(&mut fk(("sync_runs", "integration_id"), "integrations", true))
                .take(),
        )
        .await?;
        m.create_index(index("sync_runs", "sync_runs_integration", &["integration_id", "id"], false)).await?;
        m.create_index(index("sync_runs", "sync_runs_status", &["status"], false)).await?;

        m.create_table(
            create("log_entries")
                .col(big_pk_auto("id"))
                .col(big_integer_null("integration_id"))
                .col(big_integer_null("run_id"))
                .col(string("level"))
                .col(string("code"))
                .col(string_null("offer_external_id"))
                .col(text("message"))
                .col(text_null("details"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk(("log_entries", "integration_id"), "integrations", true))
                .foreign_key(&mut fk(("log_entries", "run_id"), "sync_runs", true))
                .take(),
        )
        .await?;
        m.create_index(index("log_entries", "log_entries_integration_time", &["integration_id", "created_at"], false)).await?;
        m.create_index(index("log_entries", "log_entries_run", &["run_id", "id"], false)).await?;
        m.create_index(index("log_entries", "log_entries_time", &["created_at"], false)).await?;

        // The global sequence for live progress: `seq` only ever grows; subscribers resume
        // from the last sequence they saw.
        m.create_table(
            create("events")
                .col(big_pk_auto("seq"))
                .col(big_integer_null("integration_id"))
                .col(big_integer_null("run_id"))
                .col(big_integer_null("preview_id"))
                .col(string("kind"))
                .col(text("payload"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(index("events", "events_integration_seq", &["integration_id", "seq"], false)).await?;
        m.create_index(index("events", "events_time", &["created_at"], false)).await?;

        m.create_table(
            create("preview_requests")
                .col(big_pk_auto("id"))
                .col(big_integer("integration_id"))
                .col(string("status"))
                .col(big_integer("integration_version"))
                .col(string_null("requested_by"))
                .col(integer("offers_total"))
                .col(integer("would_import"))
                .col(string_null("error_code"))
                .col(text_null("error_message"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("started_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .col(string_null("claimed_by"))
                .foreign_key(&mut fk(("preview_requests", "integration_id"), "integrations", true))
                .take(),
        )
        .await?;
        m.create_index(index("preview_requests", "preview_requests_status", &["status", "id"], false)).await?;

        m.create_table(
            create("preview_offers")
                .col(big_pk_auto("id"))
                .col(big_integer("preview_id"))
                .col(string("external_id"))
                .col(string("title"))
                .col(string("verdict"))
                .col(string_null("reason_code"))
                .col(text_null("reason"))
                .col(string_null("revenue"))
                .col(string_null("payout"))
                .col(string_null("currency"))
                .col(text("countries"))
                .col(text_null("final_tracking_url"))
                .col(text_null("preview_url"))
                .col(text("offer"))
                .foreign_key(&mut fk(("preview_offers", "preview_id"), "preview_requests", true))
                .take(),
        )
        .await?;
        m.create_index(index("preview_offers", "preview_offers_preview", &["preview_id", "id"], false)).await?;

        m.create_table(
            create("sync_requests")
                .col(big_pk_auto("id"))
                .col(big_integer("integration_id"))
                .col(string("kind"))
                .col(string("status"))
                .col(string_null("requested_by"))
                .col(big_integer_null("run_id"))
                .col(text_null("result"))
                .col(string_null("claimed_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("claimed_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .foreign_key(&mut fk(("sync_requests", "integration_id"), "integrations", true))
                .take(),
        )
        .await?;
        m.create_index(index("sync_requests", "sync_requests_status", &["status", "id"], false)).await?;

        m.create_table(
            create("exchange_rates")
                .col(big_pk_auto("id"))
                .col(string_len("base", 3))
                .col(string_len("quote", 3))
                .col(string("rate"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(index("exchange_rates", "exchange_rates_pair", &["base", "quote"], true)).await?;

        m.create_table(
            create("api_tokens")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(string("role"))
                .col(string("token_hash"))
                .col(string("prefix"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .take(),
        )
        .await?;
        m.create_index(index("api_tokens", "api_tokens_hash", &["token_hash"], true)).await?;

        m.create_table(
            create("audit_log")
                .col(big_pk_auto("id"))
                .col(big_integer_null("token_id"))
                .col(string("actor"))
                .col(string("action"))
                .col(string_null("target_type"))
                .col(string_null("target_id"))
                .col(text("details"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(index("audit_log", "audit_log_time", &["created_at"], false)).await?;

        m.create_table(
            create("changesets")
                .col(big_pk_auto("id"))
                .col(string("target"))
                .col(string("actor"))
                .col(text("where_clause"))
                .col(text("set_values"))
                .col(integer("row_count"))
                .col(text("rows"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("reverted_at"))
                .take(),
        )
        .await?;

        m.create_table(
            create("agent_heartbeats")
                .col(string("agent_id").primary_key())
                .col(string("hostname"))
                .col(timestamp_with_time_zone("started_at"))
                .col(timestamp_with_time_zone("last_seen_at"))
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "agent_heartbeats",
            "changesets",
            "audit_log",
            "api_tokens",
            "exchange_rates",
            "sync_requests",
            "preview_offers",
            "preview_requests",
            "events",
            "log_entries",
            "sync_runs",
            "campaign_publisher_payouts",
            "campaign_caps",
            "campaign_payouts",
            "campaign_countries",
            "campaigns",
            "integrations",
            "publishers",
            "publisher_tiers",
            "advertisers",
        ] {
            m.drop_table(Table::drop().table(t).if_exists().take()).await?;
        }
        Ok(())
    }
}
