//! sea-orm entities: one module per table, mirroring `migrations/` exactly.
//!
//! Money and rates are exact decimal strings (see [`crate::money`]); JSON sections are TEXT
//! documents typed by [`crate::model`]. Queries go through these entities on SQLite and
//! PostgreSQL alike.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod advertiser {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "advertisers")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub email: Option<String>,
        pub website: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod publisher_tier {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "publisher_tiers")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod publisher {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "publishers")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub email: Option<String>,
        pub tier_id: Option<i64>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod integration {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "integrations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub connector: String,
        pub advertiser_id: i64,
        /// Sealed credentials (never plain text); see [`crate::crypto::Cipher`].
        pub credentials_sealed: Option<String>,
        /// JSON `{field: {isSet, last4}}`: what the API may show about credentials.
        pub credential_hints: String,
        pub tracking_url_append: Option<String>,
        pub impression_url_append: Option<String>,
        pub default_category: Option<String>,
        pub imported_status: String,
        pub imported_visibility: String,
        pub payout_rules: String,
        pub filters: String,
        pub settings: String,
        pub cap_settings: String,
        pub selected_offer_ids: String,
        pub vanished_policy: String,
        pub lifecycle: String,
        pub version: i64,
        pub next_run_at: Option<DateTimeUtc>,
        pub lease_owner: Option<String>,
        pub lease_expires_at: Option<DateTimeUtc>,
        pub fencing_token: i64,
        pub last_success_at: Option<DateTimeUtc>,
        pub consecutive_failures: i32,
        pub disabled_reason: Option<String>,
        pub finalized_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// When the current credentials last worked (a connection test or a finished preview);
        /// cleared when they change.
        pub credentials_verified_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod campaign {
    use sea_orm::entity::prelude::*;
    /// (`Default`: the compiled campaign pages decode only the columns a query reads.)
    #[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "campaigns")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub integration_id: i64,
        pub external_id: String,
        pub title: String,
        pub description: Option<String>,
        pub description_text: Option<String>,
        pub preview_url: Option<String>,
        pub tracking_url: Option<String>,
        pub impression_url: Option<String>,
        pub thumbnail_url: Option<String>,
        pub status: String,
        pub visibility: String,
        pub category: Option<String>,
        pub currency: String,
        pub revenue: String,
        pub payout: String,
        pub payout_type: String,
        pub model: Option<String>,
        pub objective: Option<String>,
        pub redirect_type: Option<String>,
        pub countries: String,
        pub blocked_countries: String,
        pub os: String,
        pub devices: String,
        pub expires_at: Option<DateTimeUtc>,
        pub time_targeting: String,
        pub exchange_rate: Option<String>,
        pub fingerprint: String,
        /// Hash of the upstream record and the rules it was last written from (see the
        /// `source_hash` migration); `None` = unknown.
        pub source_hash: Option<String>,
        /// The expiry the record of `source_hash` gave.
        pub source_expires_at: Option<DateTimeUtc>,
        /// JSON `{column: {source: "sync"|"hand", run_id?, at, actor?}}`.
        pub provenance: String,
        /// JSON array of column names edited by hand and kept until unlocked.
        pub locked_columns: String,
        /// "sync" (its offer vanished), "upstream" (the advertiser paused it) or "hand".
        pub paused_by: Option<String>,
        /// The offer's status on the advertiser's platform as last seen.
        pub upstream_status: Option<String>,
        pub last_run_id: Option<i64>,
        pub first_seen_at: DateTimeUtc,
        pub last_seen_at: DateTimeUtc,
        pub consecutive_misses: i32,
        pub vanished_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }
    no_relations!();
}

/// The current verdict of an offer a filter skips (see the `skipped_offers` migration).
pub mod skipped_offer {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "skipped_offers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub external_id: String,
        pub code: String,
        pub reason: String,
        pub run_id: i64,
        pub logged_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod campaign_country {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "campaign_countries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub campaign_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub country: String,
    }
    no_relations!();
}

pub mod campaign_payout {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "campaign_payouts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub campaign_id: i64,
        pub country: Option<String>,
        pub goal: Option<String>,
        pub goal_name: Option<String>,
        pub revenue: String,
        pub payout: String,
        pub payout_type: String,
        pub currency: String,
        /// "Every country except these" (a JSON list); `[]` = `country` (or every country).
        pub excluded_countries: String,
    }
    no_relations!();
}

pub mod campaign_cap {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "campaign_caps")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub campaign_id: i64,
        /// "settings" (from cap settings), "extra" (integration extra caps) or "upstream".
        pub source: String,
        pub event: String,
        pub period: String,
        pub value: String,
        pub visibility: String,
        pub counting: String,
        pub timezone: String,
        pub over_delivery: String,
        /// The goal the advertiser set this cap on; `None` = the whole offer.
        pub goal: Option<String>,
    }
    no_relations!();
}

pub mod campaign_publisher_payout {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "campaign_publisher_payouts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub campaign_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub publisher_id: i64,
        pub payout: String,
        /// "tier" (tier ratio) or "publisher" (fixed per-publisher payout).
        pub source: String,
    }
    no_relations!();
}

pub mod sync_run {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sync_runs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub integration_id: i64,
        pub trigger: String,
        pub status: String,
        pub phase: String,
        pub dry_run: bool,
        pub pages_done: i32,
        pub pages_total: Option<i32>,
        pub counters: String,
        pub filter_counts: String,
        pub queued_at: DateTimeUtc,
        pub started_at: Option<DateTimeUtc>,
        pub finished_at: Option<DateTimeUtc>,
        pub error_code: Option<String>,
        pub error_message: Option<String>,
        pub last_response: Option<String>,
        pub held_changes: Option<String>,
        pub fencing_token: i64,
        pub agent_id: Option<String>,
        pub request_id: Option<i64>,
    }
    no_relations!();
}

pub mod log_entry {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "log_entries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub integration_id: Option<i64>,
        pub run_id: Option<i64>,
        pub level: String,
        pub code: String,
        pub offer_external_id: Option<String>,
        pub message: String,
        pub details: Option<String>,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod event {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub integration_id: Option<i64>,
        pub run_id: Option<i64>,
        pub preview_id: Option<i64>,
        pub kind: String,
        pub payload: String,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod preview_request {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "preview_requests")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub integration_id: i64,
        pub status: String,
        pub integration_version: i64,
        pub requested_by: Option<String>,
        pub offers_total: i32,
        pub would_import: i32,
        pub error_code: Option<String>,
        pub error_message: Option<String>,
        pub created_at: DateTimeUtc,
        pub started_at: Option<DateTimeUtc>,
        pub finished_at: Option<DateTimeUtc>,
        pub claimed_by: Option<String>,
    }
    no_relations!();
}

pub mod preview_offer {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "preview_offers")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub preview_id: i64,
        pub external_id: String,
        pub title: String,
        pub verdict: String,
        pub reason_code: Option<String>,
        pub reason: Option<String>,
        pub revenue: Option<String>,
        pub payout: Option<String>,
        pub currency: Option<String>,
        pub countries: String,
        pub final_tracking_url: Option<String>,
        pub preview_url: Option<String>,
        pub offer: String,
        /// The campaign status the offer would get (import verdicts).
        pub status: Option<String>,
        /// The offer's status upstream, which decides `status`.
        pub upstream_status: Option<String>,
    }
    no_relations!();
}

pub mod sync_request {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sync_requests")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub integration_id: i64,
        /// "sync", "dry_run" or "test_connection".
        pub kind: String,
        pub status: String,
        pub requested_by: Option<String>,
        pub run_id: Option<i64>,
        pub result: Option<String>,
        pub claimed_by: Option<String>,
        pub created_at: DateTimeUtc,
        pub claimed_at: Option<DateTimeUtc>,
        pub finished_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod exchange_rate {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "exchange_rates")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub base: String,
        pub quote: String,
        pub rate: String,
        pub updated_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod api_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub role: String,
        pub token_hash: String,
        pub prefix: String,
        pub created_at: DateTimeUtc,
        pub last_used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod audit_log {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub token_id: Option<i64>,
        pub actor: String,
        pub action: String,
        pub target_type: Option<String>,
        pub target_id: Option<String>,
        pub details: String,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod changeset {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "changesets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub target: String,
        pub actor: String,
        pub where_clause: String,
        pub set_values: String,
        pub row_count: i32,
        pub rows: String,
        pub created_at: DateTimeUtc,
        pub reverted_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod agent_heartbeat {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "agent_heartbeats")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub agent_id: String,
        pub hostname: String,
        pub started_at: DateTimeUtc,
        pub last_seen_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod instance_meta {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "instance_meta")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: String,
    }
    no_relations!();
}
