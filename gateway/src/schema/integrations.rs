//! Integrations: the wizard (draft -> credentials -> details -> filters -> settings/caps ->
//! preview -> select -> finalise) and day-two operations (status, sync now, test connection).

use std::collections::BTreeMap;

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{
    crypto,
    db::{now, write_tx},
    entity::{advertiser, integration, preview_offer, preview_request, sync_request, sync_run},
    model::{self as m, section, to_json},
    validate::{self, Errors},
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, sea_query::ExprTrait};

use super::{
    Page, app, audit, paginate,
    parties::{Advertiser, parse_id},
    runs::{SyncRequest, SyncRun},
    types,
};
use crate::{
    auth,
    error::{self, OrInternal},
};

/// What the API shows of a credential: never the value.
#[derive(SimpleObject)]
pub struct CredentialHint {
    pub field: String,
    pub is_set: bool,
    /// Last 4 characters of long secrets, to tell keys apart.
    pub last4: Option<String>,
}

#[derive(SimpleObject)]
pub struct Health {
    pub last_success_at: Option<DateTime<Utc>>,
    pub consecutive_failures: i32,
    /// Why the agent disabled the integration (e.g. credentials rejected).
    pub disabled_reason: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Integration {
    pub id: ID,
    pub name: String,
    pub connector: String,
    pub advertiser_id: ID,
    pub credentials: Vec<CredentialHint>,
    pub tracking_url_append: Option<String>,
    pub impression_url_append: Option<String>,
    pub default_category: Option<String>,
    pub imported_status: types::CampaignStatus,
    pub imported_visibility: types::Visibility,
    pub payout_rules: types::PayoutRules,
    pub filters: types::Filters,
    pub settings: types::Settings,
    pub cap_settings: types::CapSettings,
    pub vanished_policy: types::VanishedPolicy,
    /// Offers chosen in the wizard; empty = all offers.
    pub selected_offer_ids: Vec<String>,
    pub lifecycle: types::Lifecycle,
    /// Send this back with updates; a mismatch answers CONFLICT.
    pub version: i64,
    pub next_run_at: Option<DateTime<Utc>>,
    pub health: Health,
    pub finalized_at: Option<DateTime<Utc>>,
    /// When the current credentials last worked: a `testConnection` that reached the
    /// advertiser, or a preview that finished. Cleared when credentials change;
    /// `finalizeIntegration` needs it (or `force: true`).
    pub credentials_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub row_id: i64,
}

impl From<integration::Model> for Integration {
    fn from(r: integration::Model) -> Self {
        let hints: BTreeMap<String, Option<String>> = serde_json::from_str(&r.credential_hints).unwrap_or_default();
        Self {
            id: r.id.into(),
            row_id: r.id,
            name: r.name,
            connector: r.connector,
            advertiser_id: r.advertiser_id.into(),
            credentials: hints.into_iter().map(|(field, last4)| CredentialHint { field, is_set: true, last4 }).collect(),
            tracking_url_append: r.tracking_url_append,
            impression_url_append: r.impression_url_append,
            default_category: r.default_category,
            imported_status: m::CampaignStatus::parse(&r.imported_status).unwrap_or(m::CampaignStatus::Active).into(),
            imported_visibility: m::Visibility::parse(&r.imported_visibility).unwrap_or(m::Visibility::Permission).into(),
            payout_rules: section::<m::PayoutRules>(&r.payout_rules).into(),
            filters: section::<m::Filters>(&r.filters).into(),
            settings: section::<m::Settings>(&r.settings).into(),
            cap_settings: section::<m::CapSettings>(&r.cap_settings).into(),
            vanished_policy: section::<m::VanishedPolicy>(&r.vanished_policy).into(),
            selected_offer_ids: serde_json::from_str(&r.selected_offer_ids).unwrap_or_default(),
            lifecycle: m::Lifecycle::parse(&r.lifecycle).unwrap_or(m::Lifecycle::Draft).into(),
            version: r.version,
            next_run_at: r.next_run_at,
            health: Health {
                last_success_at: r.last_success_at,
                consecutive_failures: r.consecutive_failures,
                disabled_reason: r.disabled_reason,
            },
            finalized_at: r.finalized_at,
            credentials_verified_at: r.credentials_verified_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[ComplexObject]
impl Integration {
    async fn advertiser(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Advertiser>> {
        let id: i64 = self.advertiser_id.parse().unwrap_or_default();
        Ok(advertiser::Entity::find_by_id(id).one(&app(ctx).db).await.or_internal()?.map(Into::into))
    }

    /// The most recent run.
    async fn last_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SyncRun>> {
        let r = sync_run::Entity::find()
            .filter(sync_run::Column::IntegrationId.eq(self.row_id))
            .order_by_desc(sync_run::Column::Id)
            .one(&app(ctx).db)
            .await
            .or_internal()?;
        Ok(r.map(Into::into))
    }
}

#[derive(InputObject)]
pub struct CredentialInput {
    /// A field name from the connector's `credentialFields`.
    pub field: String,
    /// The value; null or "" removes the field.
    pub value: Option<String>,
}

#[derive(InputObject)]
pub struct BasicDetailsInput {
    pub name: Option<String>,
    pub advertiser_id: Option<ID>,
    pub tracking_url_append: Option<String>,
    pub impression_url_append: Option<String>,
    pub default_category: Option<String>,
    pub imported_status: Option<types::CampaignStatus>,
    pub imported_visibility: Option<types::Visibility>,
}

#[derive(InputObject)]
pub struct CreateIntegrationInput {
    pub name: String,
    /// A connector id from `connectors`.
    pub connector: String,
    pub advertiser_id: ID,
    pub credentials: Option<Vec<CredentialInput>>,
}

/// One optional part per wizard section; each part given replaces that section.
#[derive(InputObject, Default)]
pub struct UpdateIntegrationInput {
    pub credentials: Option<Vec<CredentialInput>>,
    pub basic_details: Option<BasicDetailsInput>,
    pub payout_rules: Option<types::PayoutRules>,
    pub filters: Option<types::Filters>,
    pub settings: Option<types::Settings>,
    pub cap_settings: Option<types::CapSettings>,
    pub vanished_policy: Option<types::VanishedPolicy>,
}

#[derive(InputObject, Default)]
pub struct IntegrationFilter {
    pub advertiser_id: Option<ID>,
    pub connector: Option<String>,
    pub lifecycle: Option<types::Lifecycle>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum IdOrder {
    /// Oldest first.
    #[default]
    IdAsc,
    /// Newest first.
    IdDesc,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ActiveStatus {
    Active,
    Inactive,
}

/// A preview of the advertiser's offers under the integration's current draft settings.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Preview {
    pub id: ID,
    pub integration_id: ID,
    pub status: types::RequestStatus,
    pub offers_total: i32,
    pub would_import: i32,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub row_id: i64,
}

impl From<preview_request::Model> for Preview {
    fn from(p: preview_request::Model) -> Self {
        Self {
            id: p.id.into(),
            row_id: p.id,
            integration_id: p.integration_id.into(),
            status: m::RequestStatus::parse(&p.status).unwrap_or(m::RequestStatus::Pending).into(),
            offers_total: p.offers_total,
            would_import: p.would_import,
            error_code: p.error_code,
            error_message: p.error_message,
            created_at: p.created_at,
            finished_at: p.finished_at,
        }
    }
}

/// One offer in a preview with its verdict and the campaign values it would produce.
#[derive(SimpleObject)]
pub struct PreviewOffer {
    pub external_id: String,
    pub title: String,
    /// "import" or "drop".
    pub verdict: String,
    /// Stable reason code when dropped (e.g. FILTER_COUNTRY).
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub revenue: Option<crate::schema::types::Decimal>,
    /// Publisher payout after the global ratio.
    pub payout: Option<crate::schema::types::Decimal>,
    pub currency: Option<String>,
    pub countries: Vec<String>,
    pub final_tracking_url: Option<String>,
    pub preview_url: Option<String>,
    /// The campaign status the offer would get: the advertiser's status first (paused,
    /// pending or expired upstream = not active), the integration's imported status for offers
    /// live upstream.
    pub status: Option<types::CampaignStatus>,
    /// The offer's status upstream (ACTIVE, PAUSED, PENDING, EXPIRED, DELETED, UNKNOWN).
    pub upstream_status: Option<String>,
}

#[ComplexObject]
impl Preview {
    /// PENDING for over a minute while no agent is alive: see `SyncRequest.waitingForAgent`.
    async fn waiting_for_agent(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        super::runs::waiting_for_agent(ctx, matches!(self.status, types::RequestStatus::Pending), self.created_at).await
    }

    async fn offers(
        &self,
        ctx: &Context<'_>,
        verdict: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<PreviewOffer>> {
        let mut q = preview_offer::Entity::find().filter(preview_offer::Column::PreviewId.eq(self.row_id));
        if let Some(v) = verdict {
            q = q.filter(preview_offer::Column::Verdict.eq(v));
        }
        paginate(
            ctx,
            q,
            preview_offer::Column::Id,
            |r| r.id,
            |r| PreviewOffer {
                external_id: r.external_id,
                title: r.title,
                verdict: r.verdict,
                reason_code: r.reason_code,
                reason: r.reason,
                revenue: r.revenue.as_deref().map(|d| domain::money::from_db(d).into()),
                payout: r.payout.as_deref().map(|d| domain::money::from_db(d).into()),
                currency: r.currency,
                countries: serde_json::from_str(&r.countries).unwrap_or_default(),
                final_tracking_url: r.final_tracking_url,
                preview_url: r.preview_url,
                status: r.status.as_deref().and_then(m::CampaignStatus::parse).map(Into::into),
                upstream_status: r.upstream_status.map(|s| s.to_ascii_uppercase()),
            },
            first,
            after,
            false,
        )
        .await
    }
}

#[derive(Default)]
pub struct IntegrationsQuery;

#[Object]
impl IntegrationsQuery {
    async fn integrations(
        &self,
        ctx: &Context<'_>,
        filter: Option<IntegrationFilter>,
        order_by: Option<IdOrder>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Integration>> {
        auth::read(ctx)?;
        let q = filter_integrations(integration::Entity::find(), &filter.unwrap_or_default())?;
        paginate(ctx, q, integration::Column::Id, |r| r.id, Integration::from, first, after, order_by == Some(IdOrder::IdDesc)).await
    }

    async fn integration(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Integration>> {
        auth::read(ctx)?;
        let id = parse_id(&id, "integration")?;
        Ok(integration::Entity::find_by_id(id).one(&app(ctx).db).await.or_internal()?.map(Into::into))
    }

    async fn preview(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Preview>> {
        auth::read(ctx)?;
        let id = parse_id(&id, "preview")?;
        Ok(preview_request::Entity::find_by_id(id).one(&app(ctx).db).await.or_internal()?.map(Into::into))
    }
}

/// The integrations matching `f` (shared by the list query and bulk edits).
pub(crate) fn filter_integrations(
    mut q: sea_orm::Select<integration::Entity>,
    f: &IntegrationFilter,
) -> async_graphql::Result<sea_orm::Select<integration::Entity>> {
    if let Some(a) = &f.advertiser_id {
        q = q.filter(integration::Column::AdvertiserId.eq(parse_id(a, "advertiser")?));
    }
    if let Some(c) = &f.connector {
        q = q.filter(integration::Column::Connector.eq(c.clone()));
    }
    if let Some(l) = f.lifecycle {
        q = q.filter(integration::Column::Lifecycle.eq(m::Lifecycle::from(l).as_str()));
    }
    if let Some(s) = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        q = q.filter(
            sea_orm::sea_query::Expr::expr(sea_orm::sea_query::Func::lower(sea_orm::sea_query::Expr::col(integration::Column::Name)))
                .like(crate::schema::contains_pattern(s)),
        );
    }
    Ok(q)
}

pub(crate) async fn load(ctx: &Context<'_>, id: &ID) -> async_graphql::Result<integration::Model> {
    let id = parse_id(id, "integration")?;
    integration::Entity::find_by_id(id).one(&app(ctx).db).await.or_internal()?.ok_or_else(|| error::not_found("integration", id))
}

/// Merges credential inputs into the sealed document, checking field names against the connector.
/// Refuses to seal credentials with a key that is no longer the installation's: after a
/// `key rotate` (which cannot see running gateways), a gateway still on the old key would
/// seal credentials no agent can open.
async fn key_is_current(ctx: &Context<'_>) -> async_graphql::Result<()> {
    let state = app(ctx);
    let installed = domain::crypto::installed_fingerprint(&state.db).await.or_internal()?;
    match installed {
        Some(fp) if fp != state.cipher.fingerprint() => Err(error::coded(
            error::BAD_STATE,
            format!(
                "this gateway's secret key (fingerprint {}) is no longer the installation's ({fp}): the key was rotated. Restart \
                 this gateway with the new key; nothing was saved",
                state.cipher.fingerprint()
            ),
        )),
        _ => Ok(()),
    }
}

fn merge_credentials(
    ctx: &Context<'_>,
    connector: &str,
    sealed: Option<&str>,
    input: Vec<CredentialInput>,
) -> async_graphql::Result<(Option<String>, String, bool)> {
    let state = app(ctx);
    let conn = state
        .connectors
        .iter()
        .find(|c| c.info().id == connector)
        .ok_or_else(|| error::field("connector", format!("unknown connector '{connector}'")))?;
    let mut creds: crypto::Credentials = match sealed {
        Some(s) => state.cipher.open(s).map_err(error::internal)?,
        None => Default::default(),
    };
    let before = creds.clone();
    let fields = &conn.info().credential_fields;
    for (i, c) in input.into_iter().enumerate() {
        if !fields.iter().any(|f| f.name == c.field) && c.field != "api_url" {
            let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
            return Err(error::field(
                &format!("credentials[{i}].field"),
                format!("'{}' is not a credential of {connector}; expected one of: {}", c.field, names.join(", ")),
            ));
        }
        match c.value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            Some(v) => {
                if c.field == "api_url" && !validate::http_url(&v) {
                    return Err(error::field(&format!("credentials[{i}].value"), "api_url must be an absolute http(s) URL"));
                }
                if c.field == "api_url" {
                    let policy = state.config.agent.target_policy().map_err(error::internal)?;
                    if let Some(why) = url::Url::parse(&v).ok().and_then(|u| policy.refuses_url(&u)) {
                        return Err(error::field(&format!("credentials[{i}].value"), format!("api_url is refused: {why}")));
                    }
                }
                creds.insert(c.field, v);
            }
            None => {
                creds.remove(&c.field);
            }
        }
    }
    let hints: BTreeMap<String, Option<String>> = creds
        .iter()
        .map(|(k, v)| {
            let secret = fields.iter().find(|f| f.name == k.as_str()).is_none_or(|f| f.secret);
            (k.clone(), if secret { crypto::hint(v) } else { Some(crypto::public_hint(v)) })
        })
        .collect();
    // The same values sent again (a form that always sends them) keep the sealed text, and
    // with it the verification and any connection test in flight.
    let changed = creds != before;
    let sealed = match (changed, sealed) {
        (false, Some(s)) => Some(s.to_string()),
        _ if creds.is_empty() => None,
        _ => Some(state.cipher.seal(&creds)),
    };
    Ok((sealed, serde_json::to_string(&hints).unwrap_or_else(|_| "{}".into()), changed))
}

/// Every check finalising needs: sections valid, required credentials present.
fn validate_all(ctx: &Context<'_>, r: &integration::Model) -> Vec<validate::FieldError> {
    let mut e = Errors::default();
    section::<m::PayoutRules>(&r.payout_rules).validate(&mut e);
    section::<m::Filters>(&r.filters).validate(&mut e);
    section::<m::Settings>(&r.settings).validate(&mut e);
    section::<m::CapSettings>(&r.cap_settings).validate(&mut e);
    section::<m::VanishedPolicy>(&r.vanished_policy).validate(&mut e);
    if let Some(t) = &r.tracking_url_append {
        validate::url_template("basicDetails.trackingUrlAppend", t, &mut e);
    }
    if let Some(t) = &r.impression_url_append {
        validate::url_template("basicDetails.impressionUrlAppend", t, &mut e);
    }
    let hints: BTreeMap<String, Option<String>> = serde_json::from_str(&r.credential_hints).unwrap_or_default();
    if let Some(conn) = app(ctx).connectors.iter().find(|c| c.info().id == r.connector) {
        for f in conn.info().credential_fields.iter().filter(|f| f.required) {
            e.check(hints.contains_key(f.name), format!("credentials.{}", f.name), format!("{} is required", f.label));
        }
    }
    e.0
}

async fn enqueue(
    db: &impl sea_orm::ConnectionTrait,
    integration_id: i64,
    kind: m::RequestKind,
    who: &str,
) -> async_graphql::Result<sync_request::Model> {
    sync_request::ActiveModel {
        integration_id: Set(integration_id),
        kind: Set(kind.as_str().into()),
        status: Set(m::RequestStatus::Pending.as_str().into()),
        requested_by: Set(Some(who.to_string())),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .or_internal()
}

#[derive(Default)]
pub struct IntegrationsMutation;

#[Object]
impl IntegrationsMutation {
    /// Creates a draft integration. Nothing runs until it is finalised.
    async fn create_integration(&self, ctx: &Context<'_>, input: CreateIntegrationInput) -> async_graphql::Result<Integration> {
        let who = auth::edit(ctx)?;
        let state = app(ctx);
        let name = input.name.trim().to_string();
        if name.is_empty() || name.len() > 200 {
            return Err(error::field("name", "name must be 1 to 200 characters"));
        }
        if !state.connectors.iter().any(|c| c.info().id == input.connector) {
            let ids: Vec<String> = state.connectors.iter().map(|c| c.info().id.clone()).collect();
            return Err(error::field("connector", format!("unknown connector '{}', expected one of: {}", input.connector, ids.join(", "))));
        }
        let adv = parse_id(&input.advertiser_id, "advertiser")?;
        advertiser::Entity::find_by_id(adv)
            .one(&state.db)
            .await
            .or_internal()?
            .ok_or_else(|| error::field("advertiserId", format!("advertiser {adv} does not exist")))?;
        let creds = input.credentials.unwrap_or_default();
        if !creds.is_empty() {
            key_is_current(ctx).await?;
        }
        let (sealed, hints, _) = merge_credentials(ctx, &input.connector, None, creds)?;
        let t = now();
        let row = integration::ActiveModel {
            name: Set(name),
            connector: Set(input.connector),
            advertiser_id: Set(adv),
            credentials_sealed: Set(sealed),
            credential_hints: Set(hints),
            imported_status: Set(m::CampaignStatus::Active.as_str().into()),
            imported_visibility: Set(m::Visibility::Permission.as_str().into()),
            payout_rules: Set(to_json(&m::PayoutRules::default())),
            filters: Set(to_json(&m::Filters::default())),
            settings: Set(to_json(&m::Settings::default())),
            cap_settings: Set(to_json(&m::CapSettings::default())),
            selected_offer_ids: Set("[]".into()),
            vanished_policy: Set(to_json(&m::VanishedPolicy::default())),
            lifecycle: Set(m::Lifecycle::Draft.as_str().into()),
            version: Set(1),
            fencing_token: Set(0),
            consecutive_failures: Set(0),
            created_at: Set(t),
            updated_at: Set(t),
            ..Default::default()
        }
        .insert(&state.db)
        .await
        .or_internal()?;
        audit(
            &state.db,
            &who,
            "createIntegration",
            "integration",
            row.id,
            serde_json::json!({"name": row.name, "connector": row.connector}),
        )
        .await?;
        Ok(row.into())
    }

    /// Updates any sections of an integration. `version` must be the version you read;
    /// otherwise CONFLICT (someone saved in between).
    async fn update_integration(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i64,
        input: UpdateIntegrationInput,
    ) -> async_graphql::Result<Integration> {
        let who = auth::edit(ctx)?;
        let state = app(ctx);
        let r = load(ctx, &id).await?;
        if r.version != version {
            return Err(error::coded(
                error::CONFLICT,
                format!("integration {} is at version {}, not {version}: reload and apply your change again", r.id, r.version),
            ));
        }
        let mut e = Errors::default();
        let mut am: integration::ActiveModel = r.clone().into();
        let mut changed: Vec<&str> = vec![];
        if let Some(c) = input.credentials {
            key_is_current(ctx).await?;
            let (sealed, hints, differ) = merge_credentials(ctx, &r.connector, r.credentials_sealed.as_deref(), c)?;
            am.credentials_sealed = Set(sealed);
            am.credential_hints = Set(hints);
            if differ {
                // What was verified were the old credentials.
                am.credentials_verified_at = Set(None);
            }
            // New credentials lift a disable caused by rejected credentials.
            am.disabled_reason = Set(None);
            changed.push("credentials");
        }
        if let Some(b) = input.basic_details {
            if let Some(n) = b.name {
                let n = n.trim().to_string();
                e.check(!n.is_empty() && n.len() <= 200, "basicDetails.name", "name must be 1 to 200 characters");
                am.name = Set(n);
            }
            if let Some(a) = b.advertiser_id {
                let a = parse_id(&a, "advertiser")?;
                if advertiser::Entity::find_by_id(a).one(&state.db).await.or_internal()?.is_none() {
                    e.push("basicDetails.advertiserId", format!("advertiser {a} does not exist"));
                }
                am.advertiser_id = Set(a);
            }
            if let Some(t) = b.tracking_url_append {
                validate::url_template("basicDetails.trackingUrlAppend", &t, &mut e);
                am.tracking_url_append = Set(Some(t).filter(|t| !t.trim().is_empty()));
            }
            if let Some(t) = b.impression_url_append {
                validate::url_template("basicDetails.impressionUrlAppend", &t, &mut e);
                am.impression_url_append = Set(Some(t).filter(|t| !t.trim().is_empty()));
            }
            if let Some(c) = b.default_category {
                am.default_category = Set(Some(c.trim().to_string()).filter(|c| !c.is_empty()));
            }
            if let Some(s) = b.imported_status {
                am.imported_status = Set(m::CampaignStatus::from(s).as_str().into());
            }
            if let Some(v) = b.imported_visibility {
                am.imported_visibility = Set(m::Visibility::from(v).as_str().into());
            }
            changed.push("basicDetails");
        }
        if let Some(p) = input.payout_rules {
            let p: m::PayoutRules = p.into();
            p.validate(&mut e);
            am.payout_rules = Set(to_json(&p));
            changed.push("payoutRules");
        }
        if let Some(f) = input.filters {
            let f: m::Filters = f.into();
            f.validate(&mut e);
            am.filters = Set(to_json(&f));
            changed.push("filters");
        }
        if let Some(s) = input.settings {
            let s: m::Settings = s.into();
            s.validate(&mut e);
            am.settings = Set(to_json(&s));
            changed.push("settings");
        }
        if let Some(c) = input.cap_settings {
            let c: m::CapSettings = c.into();
            c.validate(&mut e);
            am.cap_settings = Set(to_json(&c));
            changed.push("capSettings");
        }
        if let Some(v) = input.vanished_policy {
            let v: m::VanishedPolicy = v.into();
            v.validate(&mut e);
            am.vanished_policy = Set(to_json(&v));
            changed.push("vanishedPolicy");
        }
        e.finish().map_err(error::validation)?;
        am.version = Set(r.version + 1);
        am.updated_at = Set(now());
        // Optimistic concurrency: the update only applies if the version is still ours.
        let res = integration::Entity::update_many()
            .set(am)
            .filter(integration::Column::Id.eq(r.id))
            .filter(integration::Column::Version.eq(version))
            .exec(&state.db)
            .await
            .or_internal()?;
        if res.rows_affected == 0 {
            return Err(error::coded(
                error::CONFLICT,
                format!("integration {} changed while saving: reload and apply your change again", r.id),
            ));
        }
        audit(&state.db, &who, "updateIntegration", "integration", r.id, serde_json::json!({"sections": changed, "version": version + 1}))
            .await?;
        Ok(load(ctx, &id).await?.into())
    }

    /// Asks the agent to fetch the advertiser's offers and evaluate them under the current
    /// settings. Watch `previewReady(previewId)` or poll `preview(id)`.
    async fn request_preview(&self, ctx: &Context<'_>, integration_id: ID) -> async_graphql::Result<Preview> {
        let who = auth::edit(ctx)?;
        let r = load(ctx, &integration_id).await?;
        let db = &app(ctx).db;
        let p = preview_request::ActiveModel {
            integration_id: Set(r.id),
            status: Set(m::RequestStatus::Pending.as_str().into()),
            integration_version: Set(r.version),
            requested_by: Set(Some(who.actor())),
            offers_total: Set(0),
            would_import: Set(0),
            created_at: Set(now()),
            ..Default::default()
        }
        .insert(db)
        .await
        .or_internal()?;
        audit(db, &who, "requestPreview", "integration", r.id, serde_json::json!({"previewId": p.id})).await?;
        Ok(p.into())
    }

    /// Chooses which offers to import (empty = all).
    async fn select_offers(&self, ctx: &Context<'_>, integration_id: ID, external_ids: Vec<String>) -> async_graphql::Result<Integration> {
        let who = auth::edit(ctx)?;
        let r = load(ctx, &integration_id).await?;
        let mut ids: Vec<String> = external_ids.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        ids.sort();
        ids.dedup();
        let db = &app(ctx).db;
        let mut am: integration::ActiveModel = r.clone().into();
        am.selected_offer_ids = Set(serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()));
        am.version = Set(r.version + 1);
        am.updated_at = Set(now());
        am.update(db).await.or_internal()?;
        audit(db, &who, "selectOffers", "integration", r.id, serde_json::json!({"count": ids.len()})).await?;
        Ok(load(ctx, &integration_id).await?.into())
    }

    /// Validates everything, activates the integration and requests its first sync.
    /// Activates a draft and requests its first import. The credentials must have worked
    /// since they were last changed (`credentialsVerifiedAt`: a `testConnection` that reached
    /// the advertiser, or a finished preview); `force: true` finalizes without that, and the
    /// runs then fail if they do not work.
    async fn finalize_integration(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = false)] force: bool,
    ) -> async_graphql::Result<Integration> {
        let who = auth::edit(ctx)?;
        let r = load(ctx, &id).await?;
        if r.lifecycle != m::Lifecycle::Draft.as_str() {
            return Err(error::coded(error::BAD_STATE, format!("integration {} is already finalised", r.id)));
        }
        if !force && r.credentials_verified_at.is_none() {
            return Err(error::field(
                "credentials",
                "these credentials have not worked yet: run testConnection (or requestPreview) and wait for it to succeed, or \
                 finalize with force: true",
            ));
        }
        let problems = validate_all(ctx, &r);
        if !problems.is_empty() {
            return Err(error::validation(problems));
        }
        let db = &app(ctx).db;
        let t = now();
        let settings: m::Settings = section(&r.settings);
        let tx = write_tx(db).await.or_internal()?;
        // Only the draft as checked: an edit in between (new credentials that never worked, a
        // second finalize) makes this update match nothing.
        let mut update = integration::Entity::update_many()
            .col_expr(integration::Column::Lifecycle, sea_orm::sea_query::Expr::value(m::Lifecycle::Active.as_str()))
            .col_expr(integration::Column::FinalizedAt, sea_orm::sea_query::Expr::value(t))
            // The first sync comes from the request below; the schedule starts one interval
            // later (the run's end reschedules it anyway). Scheduling "now" as well would let an
            // agent start a scheduled run and then a second one for the request.
            .col_expr(
                integration::Column::NextRunAt,
                sea_orm::sea_query::Expr::value(t + chrono::Duration::minutes(i64::from(settings.refresh_minutes))),
            )
            .col_expr(integration::Column::Version, sea_orm::sea_query::Expr::value(r.version + 1))
            .col_expr(integration::Column::UpdatedAt, sea_orm::sea_query::Expr::value(t))
            .filter(integration::Column::Id.eq(r.id))
            .filter(integration::Column::Version.eq(r.version))
            .filter(integration::Column::Lifecycle.eq(m::Lifecycle::Draft.as_str()));
        if !force {
            update = update.filter(integration::Column::CredentialsVerifiedAt.is_not_null());
        }
        if update.exec(&tx).await.or_internal()?.rows_affected == 0 {
            return Err(error::coded(
                error::CONFLICT,
                format!("integration {} changed while it was being finalised: reload and try again", r.id),
            ));
        }
        enqueue(&tx, r.id, m::RequestKind::FirstSync, &who.actor()).await?;
        audit(&tx, &who, "finalizeIntegration", "integration", r.id, serde_json::json!({"force": force})).await?;
        tx.commit().await.or_internal()?;
        Ok(load(ctx, &id).await?.into())
    }

    /// Turns scheduled refreshes on or off. Campaigns are not touched.
    async fn set_integration_status(&self, ctx: &Context<'_>, id: ID, status: ActiveStatus) -> async_graphql::Result<Integration> {
        let who = auth::edit(ctx)?;
        let r = load(ctx, &id).await?;
        if r.lifecycle == m::Lifecycle::Draft.as_str() {
            return Err(error::coded(error::BAD_STATE, "finalise the integration before activating it"));
        }
        let db = &app(ctx).db;
        let mut am: integration::ActiveModel = r.clone().into();
        let active = status == ActiveStatus::Active;
        am.lifecycle = Set(if active { m::Lifecycle::Active } else { m::Lifecycle::Inactive }.as_str().into());
        if active {
            am.next_run_at = Set(Some(now()));
            am.disabled_reason = Set(None);
        }
        am.version = Set(r.version + 1);
        am.updated_at = Set(now());
        am.update(db).await.or_internal()?;
        audit(db, &who, "setIntegrationStatus", "integration", r.id, serde_json::json!({"active": active})).await?;
        Ok(load(ctx, &id).await?.into())
    }

    /// Asks the agent to sync now (or, with `dryRun`, to report what would change).
    async fn sync_now(
        &self,
        ctx: &Context<'_>,
        integration_id: ID,
        #[graphql(default = false)] dry_run: bool,
    ) -> async_graphql::Result<SyncRequest> {
        let who = auth::edit(ctx)?;
        let r = load(ctx, &integration_id).await?;
        if r.lifecycle == m::Lifecycle::Draft.as_str() && !dry_run {
            return Err(error::coded(error::BAD_STATE, "finalise the integration before syncing; use requestPreview for a draft"));
        }
        let db = &app(ctx).db;
        let kind = if dry_run { m::RequestKind::DryRun } else { m::RequestKind::Sync };
        let q = enqueue(db, r.id, kind, &who.actor()).await?;
        audit(db, &who, "syncNow", "integration", r.id, serde_json::json!({"requestId": q.id, "dryRun": dry_run})).await?;
        Ok(q.into())
    }

    /// Asks the agent to check the credentials: poll `syncRequest(id)` for the answer.
    async fn test_connection(&self, ctx: &Context<'_>, integration_id: ID) -> async_graphql::Result<SyncRequest> {
        let who = auth::edit(ctx)?;
        let r = load(ctx, &integration_id).await?;
        let db = &app(ctx).db;
        let q = enqueue(db, r.id, m::RequestKind::TestConnection, &who.actor()).await?;
        audit(db, &who, "testConnection", "integration", r.id, serde_json::json!({"requestId": q.id})).await?;
        Ok(q.into())
    }

    /// Deletes an integration with its campaigns, runs and logs.
    async fn delete_integration(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let who = auth::edit(ctx)?;
        let r = load(ctx, &id).await?;
        let db = &app(ctx).db;
        integration::Entity::delete_by_id(r.id).exec(db).await.or_internal()?;
        audit(db, &who, "deleteIntegration", "integration", r.id, serde_json::json!({"name": r.name})).await?;
        Ok(true)
    }
}
