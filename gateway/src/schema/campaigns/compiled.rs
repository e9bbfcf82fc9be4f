//! Compiled campaign pages: `campaigns` lists answered without resolving field by field.
//!
//! async-graphql resolves every field of a response through its own future and builds a
//! `Value` tree before serialising it: for a page of 50 campaigns with their payouts, about
//! 1,000 futures and as many allocations, most of the gateway's time (BENCHMARKS.md). A list
//! page is the request a frontend sends most, so its common shape is compiled:
//!
//! - **What compiles**: a query whose only root field is `campaigns` (aliases allowed), with
//!   `filter`, `first` and `after` given literally or as variables, selecting any of the
//!   connection's fields (`edges`, `nodes`, `pageInfo`, `totalCount`), any field of
//!   `Campaign` and of its payouts, caps and publisher payouts, and `__typename`. No
//!   fragments, no directives, no repeated response key. Anything else is answered by the
//!   schema as before.
//! - **When**: only after the schema has answered the same document text without an error.
//!   So the schema has validated it (fields, argument and variable types, depth and
//!   complexity limits, the input guard's literals); the plan never answers a document the
//!   schema would refuse.
//! - **How**: one statement per page, the caller's token included (plus `COUNT` when
//!   `totalCount` is selected): the schema's filter (`apply_filter`) and keyset page
//!   (`schema::page_query`), reading only the campaign columns the selected fields need. On
//!   PostgreSQL a single selected child table (payouts, caps or publisher payouts) is joined
//!   to the page, one statement row per child row, grouped back by campaign; otherwise each
//!   selected child table comes as one JSON array per campaign from a correlated subquery. Either way in the order the
//!   schema's `ChildRows` loaders give.
//!   The values go through the schema's own conversions (`Campaign::from`, the child rows'
//!   `From`, the scalars' `to_value`) and are written straight to the response bytes, in
//!   selection order (async-graphql writes an object's keys in the order its fields finish
//!   resolving).
//! - **The caller**: the token is checked in the page's own statement, in the same snapshot
//!   (no separate lookup, no cache: a token revoked by another process is refused from the
//!   next request); `COUNT` runs only once the token is known to be current.
//! - **Falling back**: a token that is not current (the schema's path says why), a variable
//!   that does not coerce, carries text the guard refuses or gives `filter` a key
//!   `CampaignFilter` does not have (the schema's validation refuses it;
//!   `CampaignFilter::parse` would ignore it), an argument error (`first` out of range, a bad
//!   cursor, a bad country) or a database error: the plan steps aside and the schema answers,
//!   with its usual coded error.
//!
//! `gateway.compiled_queries = false` turns it off. The e2e test
//! `api::compiled_pages_answer_what_the_schema_answers` compares both paths' answers.

use std::sync::Arc;

use async_graphql::{
    InputType, Name, ScalarType, Value, Variables,
    parser::types::{Field, OperationType, Selection, SelectionSet},
};
use serde::ser::{Serialize, SerializeMap, Serializer};

use domain::entity::{campaign, campaign_cap, campaign_payout, campaign_publisher_payout};

use super::{Campaign, CampaignCap, CampaignFilter, CampaignPayout, CampaignPublisherPayout, apply_filter, list};
use crate::{
    AppState, auth, guard,
    schema::{PageRows, encode_cursor, page_query},
};

/// Most bytes remembered (documents compiled or known not to compile), each entry weighed as
/// its text, [`ENTRY_BYTES`] and [`FIELD_BYTES`] per compiled field: a caller sending large
/// distinct documents evicts older ones instead of growing the gateway.
const REMEMBERED_BYTES: u64 = 8 << 20;
/// What an entry costs besides its text and fields (the cache's own bookkeeping), roughly.
const ENTRY_BYTES: u32 = 1024;
/// What one compiled field costs (its response key and kind), roughly.
const FIELD_BYTES: u32 = 128;

/// The compiled documents, by their text.
#[derive(Clone)]
pub struct Plans(moka::sync::Cache<String, Option<Arc<Plan>>>);

impl Default for Plans {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(REMEMBERED_BYTES)
                .weigher(|query: &String, plan: &Option<Arc<Plan>>| {
                    let fields = plan.as_ref().map_or(0, |p| p.fields);
                    u32::try_from(query.len())
                        .unwrap_or(u32::MAX)
                        .saturating_add(ENTRY_BYTES)
                        .saturating_add(u32::try_from(fields).unwrap_or(u32::MAX).saturating_mul(FIELD_BYTES))
                })
                .build(),
        )
    }
}

impl Plans {
    /// `Some(plan)` when `query` compiled; `Some(None)` when it is known not to; `None` when the
    /// schema has not yet answered it without error.
    pub fn get(&self, query: &str) -> Option<Option<Arc<Plan>>> {
        self.0.get(query)
    }

    /// Whether `query` could compile at all (the caller then keeps its text to learn it):
    /// a document that never names `campaigns` is not even remembered.
    pub fn may_compile(query: &str) -> bool {
        query.contains("campaigns")
    }

    /// Remembers `query` after the schema answered it without error: its plan, or that it has
    /// none.
    pub fn learn(&self, query: String, operation_name: Option<&str>) {
        let plan = compile(&query, operation_name).map(Arc::new);
        self.0.insert(query, plan);
    }
}

/// A variable of the operation, with the value async-graphql takes when the request does not
/// give it: the definition's default, else null for a nullable type, else none (the schema
/// answers with its error).
struct Var {
    name: Name,
    default: Option<Value>,
    nullable: bool,
}

/// An argument of `campaigns`: absent, or as written in the document (a constant, a variable,
/// or an object with variables inside, as `filter: {integrationId: $id}`).
enum Arg {
    Absent,
    Given(async_graphql_value::Value),
}

/// The fields of `CampaignFilter`: a variable's object with any other key is refused by the
/// schema's validation (`CampaignFilter::parse` alone would ignore it), so the plan hands it
/// back. `tests::the_filter_fields_are_the_schemas` keeps the list true.
const FILTER_FIELDS: [&str; 6] = ["integrationId", "status", "country", "model", "search", "externalIds"];

impl Arg {
    /// The argument's value for these variables, coerced as the schema coerces it; `None`
    /// when it does not coerce, has an object key outside `keys` (when given), or needs a
    /// variable the request does not give (the schema then answers, with its own error).
    fn value<T: InputType>(&self, defs: &[Var], vars: &Variables, keys: Option<&[&str]>) -> Option<T> {
        let v = match self {
            Arg::Absent => None,
            Arg::Given(v) => Some(
                v.clone()
                    .into_const_with(|name| {
                        let def = defs.iter().find(|d| d.name == name).ok_or(())?;
                        let v = vars.get(&name).cloned().or_else(|| def.default.clone()).ok_or(())?;
                        if v == Value::Null && !def.nullable { Err(()) } else { Ok(v) }
                    })
                    .ok()?,
            ),
        };
        if let (Some(Value::Object(m)), Some(keys)) = (&v, keys)
            && m.keys().any(|k| !keys.contains(&k.as_str()))
        {
            return None;
        }
        T::parse(v).ok()
    }
}

/// A compiled `campaigns` document.
pub struct Plan {
    /// Fields compiled, at every level (the plan's weight in [`Plans`]).
    fields: usize,
    operation_name: Option<String>,
    /// The operation's variables.
    vars: Vec<Var>,
    /// The response key of `campaigns`.
    key: String,
    filter: Arg,
    first: Arg,
    after: Arg,
    connection: Vec<(String, Conn)>,
    needs: Needs,
}

enum Conn {
    Typename,
    TotalCount,
    PageInfo(Vec<(String, PageInfo)>),
    Edges(Vec<(String, Edge)>),
    Nodes(Vec<(String, Node)>),
}

#[derive(Clone, Copy)]
enum PageInfo {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

enum Edge {
    Typename,
    Cursor,
    Node(Vec<(String, Node)>),
}

enum Node {
    Typename,
    Id,
    IntegrationId,
    ExternalId,
    Title,
    Description,
    DescriptionText,
    PreviewUrl,
    TrackingUrl,
    ImpressionUrl,
    ThumbnailUrl,
    Status,
    PausedBy,
    UpstreamStatus,
    Visibility,
    Category,
    Currency,
    Revenue,
    Payout,
    PayoutType,
    Model,
    Objective,
    RedirectType,
    ExpiresAt,
    ExchangeRate,
    FirstSeenAt,
    LastSeenAt,
    ConsecutiveMisses,
    VanishedAt,
    UpdatedAt,
    Countries,
    BlockedCountries,
    Os,
    Devices,
    LockedColumns,
    Provenance,
    Payouts(Vec<(String, PayoutField)>),
    Caps(Vec<(String, CapField)>),
    PublisherPayouts(Vec<(String, PublisherPayoutField)>),
}

#[derive(Clone, Copy)]
enum PayoutField {
    Typename,
    Country,
    ExcludedCountries,
    Goal,
    GoalName,
    Revenue,
    Payout,
    PayoutType,
    Currency,
}

#[derive(Clone, Copy)]
enum CapField {
    Typename,
    Source,
    Goal,
    Event,
    Period,
    Value,
    Visibility,
    Counting,
    Timezone,
    OverDelivery,
}

#[derive(Clone, Copy)]
enum PublisherPayoutField {
    Typename,
    PublisherId,
    Payout,
    Source,
}

/// A plan for `query`, if it has the shape this module compiles.
fn compile(query: &str, operation_name: Option<&str>) -> Option<Plan> {
    let doc = async_graphql::parser::parse_query(query).ok()?;
    if !doc.fragments.is_empty() {
        return None;
    }
    let op = &crate::schema::operation(&doc, operation_name)?.node;
    if op.ty != OperationType::Query || !op.directives.is_empty() {
        return None;
    }
    let [root] = op.selection_set.node.items.as_slice() else { return None };
    let Selection::Field(root) = &root.node else { return None };
    let root = &root.node;
    if root.name.node != "campaigns" || !root.directives.is_empty() {
        return None;
    }
    let (mut filter, mut first, mut after) = (Arg::Absent, Arg::Absent, Arg::Absent);
    for (name, value) in &root.arguments {
        let arg = Arg::Given(value.node.clone());
        match name.node.as_str() {
            "filter" => filter = arg,
            "first" => first = arg,
            "after" => after = arg,
            _ => return None,
        }
    }
    let mut needs = Needs::default();
    let connection = fields(&root.selection_set.node, |f| {
        Some(match f.name.node.as_str() {
            "__typename" => leaf(f, Conn::Typename)?,
            "totalCount" => {
                needs.count = true;
                leaf(f, Conn::TotalCount)?
            }
            "pageInfo" => Conn::PageInfo(fields(&f.selection_set.node, |f| {
                leaf(
                    f,
                    match f.name.node.as_str() {
                        "__typename" => PageInfo::Typename,
                        "hasPreviousPage" => PageInfo::HasPreviousPage,
                        "hasNextPage" => PageInfo::HasNextPage,
                        "startCursor" => PageInfo::StartCursor,
                        "endCursor" => PageInfo::EndCursor,
                        _ => return None,
                    },
                )
            })?),
            "edges" => Conn::Edges(fields(&f.selection_set.node, |f| {
                Some(match f.name.node.as_str() {
                    "__typename" => leaf(f, Edge::Typename)?,
                    "cursor" => leaf(f, Edge::Cursor)?,
                    "node" => Edge::Node(node_fields(f, &mut needs)?),
                    _ => return None,
                })
            })?),
            "nodes" => Conn::Nodes(node_fields(f, &mut needs)?),
            _ => return None,
        })
    })?;
    let vars = op
        .variable_definitions
        .iter()
        .map(|d| Var { name: d.node.name.node.clone(), default: d.node.default_value().cloned(), nullable: d.node.var_type.node.nullable })
        .collect();
    fn count(set: &SelectionSet) -> usize {
        set.items.iter().map(|i| if let Selection::Field(f) = &i.node { 1 + count(&f.node.selection_set.node) } else { 0 }).sum()
    }
    Some(Plan {
        fields: count(&root.selection_set.node),
        operation_name: operation_name.map(str::to_string),
        vars,
        key: root.response_key().node.to_string(),
        filter,
        first,
        after,
        connection,
        needs,
    })
}

/// What a plan reads besides the page: the count and which child tables.
#[derive(Default)]
struct Needs {
    /// The campaign columns the selected fields read (see [`column_of`]).
    columns: Vec<campaign::Column>,
    count: bool,
    payouts: bool,
    caps: bool,
    publisher_payouts: bool,
}

/// The fields selected on `campaign`'s type, each with its response key; `None` for a
/// fragment, a directive, a repeated key or a field `compile_one` does not know.
fn fields<T>(set: &SelectionSet, mut compile_one: impl FnMut(&Field) -> Option<T>) -> Option<Vec<(String, T)>> {
    let mut out: Vec<(String, T)> = Vec::with_capacity(set.items.len());
    for item in &set.items {
        let Selection::Field(f) = &item.node else { return None };
        let f = &f.node;
        let key = f.response_key().node.as_str();
        if !f.directives.is_empty() || out.iter().any(|(k, _)| k == key) {
            return None;
        }
        out.push((key.to_string(), compile_one(f)?));
    }
    (!out.is_empty()).then_some(out)
}

/// `kind` for a field without arguments or selection.
fn leaf<T>(f: &Field, kind: T) -> Option<T> {
    (f.arguments.is_empty() && f.selection_set.node.items.is_empty()).then_some(kind)
}

fn node_fields(f: &Field, needs: &mut Needs) -> Option<Vec<(String, Node)>> {
    if !f.arguments.is_empty() {
        return None;
    }
    fields(&f.selection_set.node, |f| {
        let simple = match f.name.node.as_str() {
            "__typename" => Node::Typename,
            "id" => Node::Id,
            "integrationId" => Node::IntegrationId,
            "externalId" => Node::ExternalId,
            "title" => Node::Title,
            "description" => Node::Description,
            "descriptionText" => Node::DescriptionText,
            "previewUrl" => Node::PreviewUrl,
            "trackingUrl" => Node::TrackingUrl,
            "impressionUrl" => Node::ImpressionUrl,
            "thumbnailUrl" => Node::ThumbnailUrl,
            "status" => Node::Status,
            "pausedBy" => Node::PausedBy,
            "upstreamStatus" => Node::UpstreamStatus,
            "visibility" => Node::Visibility,
            "category" => Node::Category,
            "currency" => Node::Currency,
            "revenue" => Node::Revenue,
            "payout" => Node::Payout,
            "payoutType" => Node::PayoutType,
            "model" => Node::Model,
            "objective" => Node::Objective,
            "redirectType" => Node::RedirectType,
            "expiresAt" => Node::ExpiresAt,
            "exchangeRate" => Node::ExchangeRate,
            "firstSeenAt" => Node::FirstSeenAt,
            "lastSeenAt" => Node::LastSeenAt,
            "consecutiveMisses" => Node::ConsecutiveMisses,
            "vanishedAt" => Node::VanishedAt,
            "updatedAt" => Node::UpdatedAt,
            "countries" => Node::Countries,
            "blockedCountries" => Node::BlockedCountries,
            "os" => Node::Os,
            "devices" => Node::Devices,
            "lockedColumns" => Node::LockedColumns,
            "provenance" => Node::Provenance,
            "payouts" => {
                needs.payouts = true;
                return children(f, |name| {
                    Some(match name {
                        "__typename" => PayoutField::Typename,
                        "country" => PayoutField::Country,
                        "excludedCountries" => PayoutField::ExcludedCountries,
                        "goal" => PayoutField::Goal,
                        "goalName" => PayoutField::GoalName,
                        "revenue" => PayoutField::Revenue,
                        "payout" => PayoutField::Payout,
                        "payoutType" => PayoutField::PayoutType,
                        "currency" => PayoutField::Currency,
                        _ => return None,
                    })
                })
                .map(Node::Payouts);
            }
            "caps" => {
                needs.caps = true;
                return children(f, |name| {
                    Some(match name {
                        "__typename" => CapField::Typename,
                        "source" => CapField::Source,
                        "goal" => CapField::Goal,
                        "event" => CapField::Event,
                        "period" => CapField::Period,
                        "value" => CapField::Value,
                        "visibility" => CapField::Visibility,
                        "counting" => CapField::Counting,
                        "timezone" => CapField::Timezone,
                        "overDelivery" => CapField::OverDelivery,
                        _ => return None,
                    })
                })
                .map(Node::Caps);
            }
            "publisherPayouts" => {
                needs.publisher_payouts = true;
                return children(f, |name| {
                    Some(match name {
                        "__typename" => PublisherPayoutField::Typename,
                        "publisherId" => PublisherPayoutField::PublisherId,
                        "payout" => PublisherPayoutField::Payout,
                        "source" => PublisherPayoutField::Source,
                        _ => return None,
                    })
                })
                .map(Node::PublisherPayouts);
            }
            _ => return None,
        };
        if let Some(col) =
            column_of(&simple).filter(|c| !needs.columns.iter().any(|n| sea_orm::IdenStatic::as_str(n) == sea_orm::IdenStatic::as_str(c)))
        {
            needs.columns.push(col);
        }
        leaf(f, simple)
    })
}

/// The leaf fields of a child list (payouts, caps, publisher payouts).
fn children<T>(f: &Field, kind: impl Fn(&str) -> Option<T>) -> Option<Vec<(String, T)>> {
    if !f.arguments.is_empty() {
        return None;
    }
    fields(&f.selection_set.node, |f| leaf(f, kind(f.name.node.as_str())?))
}

/// What one page holds once loaded.
type Loaded = PageRows<Row>;

/// A campaign with its child rows (empty when not selected).
struct Row {
    campaign: Campaign,
    payouts: Vec<CampaignPayout>,
    caps: Vec<CampaignCap>,
    publisher_payouts: Vec<CampaignPublisherPayout>,
}

/// A child table, joined to the page or as one JSON array per campaign: the table, the columns
/// the conversion reads (in the order of its row tuple: [`PayoutRow`], [`CapRow`],
/// [`PublisherPayoutRow`]) and the order the schema's [`super::ChildRows`] loaders give them
/// in.
struct ChildTable {
    table: &'static str,
    columns: &'static str,
    order: &'static str,
    alias: &'static str,
}

const PAYOUTS: ChildTable = ChildTable {
    table: "campaign_payouts",
    columns: "ch.country, ch.excluded_countries, ch.goal, ch.goal_name, ch.revenue, ch.payout, ch.payout_type, ch.currency",
    order: "ch.id",
    alias: "ob_payouts",
};
const CAPS: ChildTable = ChildTable {
    table: "campaign_caps",
    columns: "ch.source, ch.goal, ch.event, ch.period, ch.value, ch.visibility, ch.counting, ch.timezone, ch.over_delivery",
    order: "ch.id",
    alias: "ob_caps",
};
const PUBLISHER_PAYOUTS: ChildTable = ChildTable {
    table: "campaign_publisher_payouts",
    columns: "ch.publisher_id, ch.payout, ch.source",
    order: "ch.publisher_id",
    alias: "ob_publisher_payouts",
};

/// The names [`ChildTable::joined`] gives the child columns (`ob_ch_<n>`), made once: a child
/// table has at most 9 columns.
static JOINED_NAMES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| (0..9).map(|n| format!("ob_ch_{n}")).collect());

impl ChildTable {
    /// The column that carries this table's rows of each campaign: a correlated subquery
    /// building a JSON array of arrays (`json_agg` on PostgreSQL, `json_group_array` on
    /// SQLite, both with the aggregate's own ORDER BY). `None` on a backend the project does
    /// not run on.
    fn sql(&self, backend: sea_orm::DbBackend) -> Option<String> {
        let ChildTable { table, columns, order, .. } = self;
        let parent = "\"campaigns\".\"id\"";
        match backend {
            sea_orm::DbBackend::Postgres => Some(format!(
                "(SELECT json_agg(json_build_array({columns}) ORDER BY {order})::text FROM {table} ch WHERE ch.campaign_id = {parent})"
            )),
            sea_orm::DbBackend::Sqlite => Some(format!(
                "(SELECT json_group_array(json_array({columns}) ORDER BY {order}) FROM {table} ch WHERE ch.campaign_id = {parent})"
            )),
            _ => None,
        }
    }

    /// The page `page` (in SQL, the campaigns with their columns) with this table's rows
    /// joined, one row per child row (one with NULL child columns for a campaign without
    /// any): each child column as `ob_ch_<n>`, the order key as `ob_ch_key`. For a page with
    /// one child table selected this is cheaper than the JSON column for the database
    /// (`pgbench`, first 50 with payouts after a cursor: 209 against 257-266 µs a statement)
    /// and reads like any other column.
    fn joined(&self, page: &str) -> String {
        let ChildTable { table, columns, order, .. } = self;
        let children: Vec<String> = columns.split(", ").enumerate().map(|(n, c)| format!("{c} AS ob_ch_{n}")).collect();
        format!(
            "SELECT ob_c.*, {}, {order} AS ob_ch_key FROM ({page}) AS ob_c LEFT JOIN {table} ch ON ch.campaign_id = ob_c.id",
            children.join(", ")
        )
    }

    /// The joined child row of `r` ([`ChildTable::joined`]) as the tuple `T`, `None` for a
    /// campaign without any.
    fn read_joined<T: sea_orm::TryGetableMany>(&self, r: &sea_orm::QueryResult) -> Result<Option<T>, sea_orm::DbErr> {
        if r.try_get::<Option<i64>>("", "ob_ch_key")?.is_none() {
            return Ok(None);
        }
        let n = self.columns.matches(", ").count() + 1;
        r.try_get_many("", &JOINED_NAMES[..n]).map(Some)
    }

    /// This table's rows of the campaign in `r`, as the tuples `T`.
    fn read<T: serde::de::DeserializeOwned>(&self, r: &sea_orm::QueryResult) -> Result<Vec<T>, sea_orm::DbErr> {
        match r.try_get::<Option<String>>("", self.alias)? {
            None => Ok(vec![]),
            Some(text) => serde_json::from_str(&text).map_err(|e| sea_orm::DbErr::Custom(format!("{}: {e}", self.alias))),
        }
    }
}

/// The campaign column `node` reads, if any besides `id` (always read).
fn column_of(node: &Node) -> Option<campaign::Column> {
    use campaign::Column as C;
    Some(match node {
        Node::Typename | Node::Id | Node::Payouts(_) | Node::Caps(_) | Node::PublisherPayouts(_) => return None,
        Node::IntegrationId => C::IntegrationId,
        Node::ExternalId => C::ExternalId,
        Node::Title => C::Title,
        Node::Description => C::Description,
        Node::DescriptionText => C::DescriptionText,
        Node::PreviewUrl => C::PreviewUrl,
        Node::TrackingUrl => C::TrackingUrl,
        Node::ImpressionUrl => C::ImpressionUrl,
        Node::ThumbnailUrl => C::ThumbnailUrl,
        Node::Status => C::Status,
        Node::PausedBy => C::PausedBy,
        Node::UpstreamStatus => C::UpstreamStatus,
        Node::Visibility => C::Visibility,
        Node::Category => C::Category,
        Node::Currency => C::Currency,
        Node::Revenue => C::Revenue,
        Node::Payout => C::Payout,
        Node::PayoutType => C::PayoutType,
        Node::Model => C::Model,
        Node::Objective => C::Objective,
        Node::RedirectType => C::RedirectType,
        Node::ExpiresAt => C::ExpiresAt,
        Node::ExchangeRate => C::ExchangeRate,
        Node::FirstSeenAt => C::FirstSeenAt,
        Node::LastSeenAt => C::LastSeenAt,
        Node::ConsecutiveMisses => C::ConsecutiveMisses,
        Node::VanishedAt => C::VanishedAt,
        Node::UpdatedAt => C::UpdatedAt,
        Node::Countries => C::Countries,
        Node::BlockedCountries => C::BlockedCountries,
        Node::Os => C::Os,
        Node::Devices => C::Devices,
        Node::LockedColumns => C::LockedColumns,
        Node::Provenance => C::Provenance,
    })
}

impl Plan {
    /// The campaign of a row holding `id` and the columns the plan reads, each decoded as its
    /// entity type says; the columns it does not read keep their defaults, which no selected
    /// field reads ([`column_of`]; the e2e test selects every field alone).
    fn campaign(&self, r: &sea_orm::QueryResult) -> Result<campaign::Model, sea_orm::DbErr> {
        use sea_orm::{IdenStatic, ModelTrait, Value, sea_query::ArrayType};
        let mut m = campaign::Model { id: r.try_get("", campaign::Column::Id.as_str())?, ..Default::default() };
        for &col in &self.needs.columns {
            let name = col.as_str();
            let v = match campaign::Model::get_value_type(col) {
                ArrayType::String => Value::String(r.try_get("", name)?),
                ArrayType::BigInt => Value::BigInt(r.try_get("", name)?),
                ArrayType::Int => Value::Int(r.try_get("", name)?),
                ArrayType::ChronoDateTimeUtc => Value::ChronoDateTimeUtc(r.try_get("", name)?),
                other => return Err(sea_orm::DbErr::Custom(format!("campaigns.{name}: no decoding for {other:?}"))),
            };
            m.try_set(col, v)?;
        }
        Ok(m)
    }

    /// The response body for this request, or `None`: the schema answers it instead (a
    /// token that is not current, a different operation name, an argument that does not
    /// coerce or is refused, a database error).
    ///
    /// The caller's token is checked in the page's own statement ([`Plan::statement`]): the
    /// page is answered only when the token is current in the same snapshot, so a revoked
    /// token is refused from the next request as on every other path, at one round trip.
    pub async fn run(&self, state: &AppState, token: &str, operation_name: Option<&str>, vars: &Variables) -> Option<Vec<u8>> {
        use sea_orm::{ConnectionTrait, EntityTrait, IdenStatic, PaginatorTrait};
        if self.operation_name.as_deref() != operation_name || guard::check_variables(vars).is_some() {
            return None;
        }
        let filter: Option<CampaignFilter> = self.filter.value(&self.vars, vars, Some(&FILTER_FIELDS))?;
        let first: Option<i32> = self.first.value(&self.vars, vars, None)?;
        let after: Option<String> = self.after.value(&self.vars, vars, None)?;
        let all = apply_filter(campaign::Entity::find(), &filter.unwrap_or_default()).ok()?;
        let query = page_query(state, all.clone(), campaign::Column::Id, first, after.as_deref(), false).ok()?;
        let backend = state.db.get_database_backend();
        let joined = self.joined(backend);
        let statement = self.statement(query.select.clone(), query.first + 1, token, joined, backend)?;
        let loaded = state.db.query_all_raw(statement).await.and_then(|rows| {
            // No row: the token is unknown or revoked. One row without a campaign: an empty page.
            let Some(first) = rows.first() else { return Ok(None) };
            let caller: (i64, String, String, Option<chrono::DateTime<chrono::Utc>>) = (
                first.try_get("", "ob_token_id")?,
                first.try_get("", "ob_token_name")?,
                first.try_get("", "ob_token_role")?,
                first.try_get("", "ob_token_last_used_at")?,
            );
            // One row per campaign, or per joined child row in campaign order.
            let mut page: Vec<Row> = Vec::with_capacity(rows.len());
            let mut last = None;
            for r in &rows {
                let Some(id) = r.try_get::<Option<i64>>("", campaign::Column::Id.as_str())? else { continue };
                if last != Some(id) {
                    page.push(self.row(r, joined)?);
                    last = Some(id);
                }
                if let Some(row) = page.last_mut() {
                    add_joined(joined, r, row, id)?;
                }
            }
            Ok(Some((caller, page)))
        });
        let stepped_aside = |e: sea_orm::DbErr| {
            // The schema answers instead, with its own error if the database has one.
            tracing::debug!(error = %e, "a compiled campaigns page stepped aside");
        };
        let ((token_id, name, role, last_used_at), rows) = match loaded {
            Ok(Some(loaded)) => loaded,
            // The schema's path authenticates and says why not.
            Ok(None) => return None,
            Err(e) => {
                stepped_aside(e);
                return None;
            }
        };
        // Every role reads campaigns (`auth::read`); a role this build does not know is refused
        // by the schema's path.
        if !matches!(auth::admit(&state.db, token_id, name, &role, last_used_at), auth::Auth::Caller(_)) {
            return None;
        }
        // Counted only for a current token: a caller without one never makes the database
        // count (a filtered count can scan the table).
        let total = match self.needs.count {
            true => match all.count(&state.db).await {
                Ok(n) => n,
                Err(e) => {
                    stepped_aside(e);
                    return None;
                }
            },
            false => 0,
        };
        let loaded: Loaded = query.page(rows, total);
        let mut body = Vec::with_capacity(16 * 1024);
        body.extend_from_slice(b"{\"data\":{");
        serde_json::to_writer(&mut body, &self.key).ok()?;
        body.push(b':');
        serde_json::to_writer(&mut body, &Out { plan: self, page: &loaded }).ok()?;
        body.extend_from_slice(b"}}");
        Some(body)
    }

    /// The page's one statement: the caller's token row (`ob_token_*`) left-joined to the
    /// page, which reads `id` and the campaign columns the plan reads (unread ones cost the
    /// database as much as the child rows: 42 of 205 µs a page in `pgbench`) with a single
    /// selected child table joined ([`ChildTable::joined`]), or one JSON column per selected
    /// child table. No row when the token is not current; one row without a campaign for an
    /// empty page.
    ///
    /// The page's LIMIT is written as a number, not a parameter: with it a parameter,
    /// PostgreSQL finds no generic plan as cheap as a custom one and plans the prepared
    /// statement again on every execution (`pgbench`, first 50 with payouts and the token:
    /// 378 µs a statement against 264).
    fn statement(
        &self,
        page: sea_orm::Select<campaign::Entity>,
        rows: usize,
        token: &str,
        joined: Option<&ChildTable>,
        backend: sea_orm::DbBackend,
    ) -> Option<sea_orm::Statement> {
        use sea_orm::{QuerySelect, QueryTrait, sea_query::Expr};
        let mut q = page.select_only().column(campaign::Column::Id).columns(self.needs.columns.iter().copied());
        for (wanted, table) in [(self.needs.payouts, PAYOUTS), (self.needs.caps, CAPS), (self.needs.publisher_payouts, PUBLISHER_PAYOUTS)] {
            if wanted && joined.is_none() {
                q = q.expr_as(Expr::cust(table.sql(backend)?), table.alias);
            }
        }
        let mut page = q.into_query();
        page.reset_limit();
        let sea_orm::Statement { sql, values, .. } = backend.build(&page);
        let mut values = values.map(|v| v.0).unwrap_or_default();
        // The token's row comes first in the text, so both databases look it up before the
        // page (a left join keeps its left side outermost). Its parameter is the last one on
        // PostgreSQL (`$n`, after the page's) and the first one on SQLite (`?` numbers in
        // text order).
        let hash: sea_orm::Value = domain::crypto::hash_token(token).into();
        let token_param = match backend {
            sea_orm::DbBackend::Postgres => {
                values.push(hash);
                format!("${}", values.len())
            }
            _ => {
                values.insert(0, hash);
                "?".to_string()
            }
        };
        let page = format!("{sql} LIMIT {rows}");
        let (page, child_order) = match joined {
            Some(table) => (table.joined(&page), ", ob_page.ob_ch_key"),
            None => (page, ""),
        };
        let sql = format!(
            "SELECT ob_auth.id AS ob_token_id, ob_auth.name AS ob_token_name, ob_auth.role AS ob_token_role, \
             ob_auth.last_used_at AS ob_token_last_used_at, ob_page.* \
             FROM (SELECT id, name, role, last_used_at FROM api_tokens WHERE token_hash = {token_param} AND revoked_at IS NULL) AS ob_auth \
             LEFT JOIN ({page}) AS ob_page ON TRUE ORDER BY ob_page.id{child_order}"
        );
        Some(sea_orm::Statement::from_sql_and_values(backend, sql, values))
    }

    /// One row of [`Plan::statement`]: the campaign and its child rows, each converted as the
    /// schema converts it.
    fn row(&self, r: &sea_orm::QueryResult, joined: Option<&ChildTable>) -> Result<Row, sea_orm::DbErr> {
        let c = self.campaign(r)?;
        let id = c.id;
        // A joined table's rows come one per statement row ([`add_joined`]).
        let json = |wanted: bool, table: &ChildTable| wanted && joined.is_none_or(|j| j.alias != table.alias);
        Ok(Row {
            campaign: Campaign::from(c),
            payouts: match json(self.needs.payouts, &PAYOUTS) {
                true => PAYOUTS.read(r)?.into_iter().map(|t| payout(id, t)).collect(),
                false => vec![],
            },
            caps: match json(self.needs.caps, &CAPS) {
                true => CAPS.read(r)?.into_iter().map(|t| cap(id, t)).collect(),
                false => vec![],
            },
            publisher_payouts: match json(self.needs.publisher_payouts, &PUBLISHER_PAYOUTS) {
                true => PUBLISHER_PAYOUTS.read(r)?.into_iter().map(|t| publisher_payout(id, t)).collect(),
                false => vec![],
            },
        })
    }

    /// The child table joined to the page rather than read as JSON: the one selected, when
    /// only one is, on PostgreSQL. (SQLite sorts the joined rows in a temporary B-tree: the
    /// api bench served 1,596-1,650 req/s with the join against 2,203-2,284 with the JSON
    /// column.)
    fn joined(&self, backend: sea_orm::DbBackend) -> Option<&'static ChildTable> {
        if backend != sea_orm::DbBackend::Postgres {
            return None;
        }
        match (self.needs.payouts, self.needs.caps, self.needs.publisher_payouts) {
            (true, false, false) => Some(&PAYOUTS),
            (false, true, false) => Some(&CAPS),
            (false, false, true) => Some(&PUBLISHER_PAYOUTS),
            _ => None,
        }
    }
}

/// The joined child row of `r`, if any, added to `row` (campaign `id`'s).
fn add_joined(joined: Option<&ChildTable>, r: &sea_orm::QueryResult, row: &mut Row, id: i64) -> Result<(), sea_orm::DbErr> {
    match joined.map(|t| t.alias) {
        Some(a) if a == PAYOUTS.alias => row.payouts.extend(PAYOUTS.read_joined(r)?.map(|t| payout(id, t))),
        Some(a) if a == CAPS.alias => row.caps.extend(CAPS.read_joined(r)?.map(|t| cap(id, t))),
        Some(_) => row.publisher_payouts.extend(PUBLISHER_PAYOUTS.read_joined(r)?.map(|t| publisher_payout(id, t))),
        None => {}
    }
    Ok(())
}

/// A payout as [`PAYOUTS`] lists its columns.
type PayoutRow = (Option<String>, String, Option<String>, Option<String>, String, String, String, String);
/// A cap as [`CAPS`] lists its columns.
type CapRow = (String, Option<String>, String, String, String, String, String, String, String);
/// A publisher payout as [`PUBLISHER_PAYOUTS`] lists its columns.
type PublisherPayoutRow = (i64, String, String);

/// Campaign `campaign_id`'s payout, converted as the schema converts it.
fn payout(
    campaign_id: i64,
    (country, excluded_countries, goal, goal_name, revenue, payout, payout_type, currency): PayoutRow,
) -> CampaignPayout {
    campaign_payout::Model { id: 0, campaign_id, country, goal, goal_name, revenue, payout, payout_type, currency, excluded_countries }
        .into()
}

/// Campaign `campaign_id`'s cap, converted as the schema converts it.
fn cap(campaign_id: i64, (source, goal, event, period, value, visibility, counting, timezone, over_delivery): CapRow) -> CampaignCap {
    campaign_cap::Model { id: 0, campaign_id, source, event, period, value, visibility, counting, timezone, over_delivery, goal }.into()
}

/// Campaign `campaign_id`'s publisher payout, converted as the schema converts it.
fn publisher_payout(campaign_id: i64, (publisher_id, payout, source): PublisherPayoutRow) -> CampaignPublisherPayout {
    campaign_publisher_payout::Model { campaign_id, publisher_id, payout, source }.into()
}

/// The connection, serialised in the plan's selection order.
struct Out<'a> {
    plan: &'a Plan,
    page: &'a Loaded,
}

/// A list written from an iterator made on demand.
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

/// An optional scalar as the schema writes it: null, or its `to_value`.
fn opt<T: ScalarType>(v: &Option<T>) -> Value {
    v.as_ref().map_or(Value::Null, ScalarType::to_value)
}

impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (plan, page) = (self.plan, self.page);
        let mut m = s.serialize_map(Some(plan.connection.len()))?;
        for (k, f) in &plan.connection {
            match f {
                Conn::Typename => m.serialize_entry(k, "CampaignConnection")?,
                Conn::TotalCount => m.serialize_entry(k, &page.total)?,
                Conn::PageInfo(fs) => m.serialize_entry(k, &PageInfoOut { fields: fs, page })?,
                Conn::Edges(fs) => m.serialize_entry(k, &Seq(|| page.rows.iter().map(|row| EdgeOut { fields: fs, row })))?,
                Conn::Nodes(fs) => m.serialize_entry(k, &Seq(|| page.rows.iter().map(|row| NodeOut { fields: fs, row })))?,
            }
        }
        m.end()
    }
}

struct PageInfoOut<'a> {
    fields: &'a [(String, PageInfo)],
    page: &'a Loaded,
}

impl Serialize for PageInfoOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let page = self.page;
        let mut m = s.serialize_map(Some(self.fields.len()))?;
        for (k, f) in self.fields {
            match f {
                PageInfo::Typename => m.serialize_entry(k, "PageInfo")?,
                PageInfo::HasPreviousPage => m.serialize_entry(k, &page.has_previous)?,
                PageInfo::HasNextPage => m.serialize_entry(k, &page.has_next)?,
                PageInfo::StartCursor => m.serialize_entry(k, &page.rows.first().map(|r| encode_cursor(r.campaign.row_id)))?,
                PageInfo::EndCursor => m.serialize_entry(k, &page.rows.last().map(|r| encode_cursor(r.campaign.row_id)))?,
            }
        }
        m.end()
    }
}

struct EdgeOut<'a> {
    fields: &'a [(String, Edge)],
    row: &'a Row,
}

impl Serialize for EdgeOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.fields.len()))?;
        for (k, f) in self.fields {
            match f {
                Edge::Typename => m.serialize_entry(k, "CampaignEdge")?,
                Edge::Cursor => m.serialize_entry(k, &encode_cursor(self.row.campaign.row_id))?,
                Edge::Node(fs) => m.serialize_entry(k, &NodeOut { fields: fs, row: self.row })?,
            }
        }
        m.end()
    }
}

struct NodeOut<'a> {
    fields: &'a [(String, Node)],
    row: &'a Row,
}

impl Serialize for NodeOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, row) = (&self.row.campaign, self.row);
        let mut m = s.serialize_map(Some(self.fields.len()))?;
        for (k, f) in self.fields {
            match f {
                Node::Typename => m.serialize_entry(k, "Campaign")?,
                Node::Id => m.serialize_entry(k, &ScalarType::to_value(&c.id))?,
                Node::IntegrationId => m.serialize_entry(k, &ScalarType::to_value(&c.integration_id))?,
                Node::ExternalId => m.serialize_entry(k, &c.external_id)?,
                Node::Title => m.serialize_entry(k, &c.title)?,
                Node::Description => m.serialize_entry(k, &c.description)?,
                Node::DescriptionText => m.serialize_entry(k, &c.description_text)?,
                Node::PreviewUrl => m.serialize_entry(k, &c.preview_url)?,
                Node::TrackingUrl => m.serialize_entry(k, &c.tracking_url)?,
                Node::ImpressionUrl => m.serialize_entry(k, &c.impression_url)?,
                Node::ThumbnailUrl => m.serialize_entry(k, &c.thumbnail_url)?,
                Node::Status => m.serialize_entry(k, &InputType::to_value(&c.status))?,
                Node::PausedBy => m.serialize_entry(k, &c.paused_by)?,
                Node::UpstreamStatus => m.serialize_entry(k, &c.upstream_status)?,
                Node::Visibility => m.serialize_entry(k, &InputType::to_value(&c.visibility))?,
                Node::Category => m.serialize_entry(k, &c.category)?,
                Node::Currency => m.serialize_entry(k, &c.currency)?,
                Node::Revenue => m.serialize_entry(k, &ScalarType::to_value(&c.revenue))?,
                Node::Payout => m.serialize_entry(k, &ScalarType::to_value(&c.payout))?,
                Node::PayoutType => m.serialize_entry(k, &InputType::to_value(&c.payout_type))?,
                Node::Model => m.serialize_entry(k, &c.model)?,
                Node::Objective => m.serialize_entry(k, &c.objective)?,
                Node::RedirectType => m.serialize_entry(k, &c.redirect_type)?,
                Node::ExpiresAt => m.serialize_entry(k, &opt(&c.expires_at))?,
                Node::ExchangeRate => m.serialize_entry(k, &opt(&c.exchange_rate))?,
                Node::FirstSeenAt => m.serialize_entry(k, &ScalarType::to_value(&c.first_seen_at))?,
                Node::LastSeenAt => m.serialize_entry(k, &ScalarType::to_value(&c.last_seen_at))?,
                Node::ConsecutiveMisses => m.serialize_entry(k, &c.consecutive_misses)?,
                Node::VanishedAt => m.serialize_entry(k, &opt(&c.vanished_at))?,
                Node::UpdatedAt => m.serialize_entry(k, &ScalarType::to_value(&c.updated_at))?,
                Node::Countries => m.serialize_entry(k, &list(&c.json.countries))?,
                Node::BlockedCountries => m.serialize_entry(k, &list(&c.json.blocked_countries))?,
                Node::Os => m.serialize_entry(k, &list(&c.json.os))?,
                Node::Devices => m.serialize_entry(k, &list(&c.json.devices))?,
                Node::LockedColumns => m.serialize_entry(k, &list(&c.json.locked_columns))?,
                Node::Provenance => m.serialize_entry(k, &c.provenance_json().to_graphql())?,
                Node::Payouts(fs) => m.serialize_entry(k, &Seq(|| row.payouts.iter().map(|p| PayoutOut(fs, p))))?,
                Node::Caps(fs) => m.serialize_entry(k, &Seq(|| row.caps.iter().map(|p| CapOut(fs, p))))?,
                Node::PublisherPayouts(fs) => {
                    m.serialize_entry(k, &Seq(|| row.publisher_payouts.iter().map(|p| PublisherPayoutOut(fs, p))))?
                }
            }
        }
        m.end()
    }
}

struct PayoutOut<'a>(&'a [(String, PayoutField)], &'a CampaignPayout);

impl Serialize for PayoutOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.1;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, f) in self.0 {
            match f {
                PayoutField::Typename => m.serialize_entry(k, "CampaignPayout")?,
                PayoutField::Country => m.serialize_entry(k, &p.country)?,
                PayoutField::ExcludedCountries => m.serialize_entry(k, &p.excluded_countries)?,
                PayoutField::Goal => m.serialize_entry(k, &p.goal)?,
                PayoutField::GoalName => m.serialize_entry(k, &p.goal_name)?,
                PayoutField::Revenue => m.serialize_entry(k, &ScalarType::to_value(&p.revenue))?,
                PayoutField::Payout => m.serialize_entry(k, &ScalarType::to_value(&p.payout))?,
                PayoutField::PayoutType => m.serialize_entry(k, &InputType::to_value(&p.payout_type))?,
                PayoutField::Currency => m.serialize_entry(k, &p.currency)?,
            }
        }
        m.end()
    }
}

struct CapOut<'a>(&'a [(String, CapField)], &'a CampaignCap);

impl Serialize for CapOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.1;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, f) in self.0 {
            match f {
                CapField::Typename => m.serialize_entry(k, "CampaignCap")?,
                CapField::Source => m.serialize_entry(k, &c.source)?,
                CapField::Goal => m.serialize_entry(k, &c.goal)?,
                CapField::Event => m.serialize_entry(k, &InputType::to_value(&c.event))?,
                CapField::Period => m.serialize_entry(k, &InputType::to_value(&c.period))?,
                CapField::Value => m.serialize_entry(k, &ScalarType::to_value(&c.value))?,
                CapField::Visibility => m.serialize_entry(k, &InputType::to_value(&c.visibility))?,
                CapField::Counting => m.serialize_entry(k, &InputType::to_value(&c.counting))?,
                CapField::Timezone => m.serialize_entry(k, &c.timezone)?,
                CapField::OverDelivery => m.serialize_entry(k, &InputType::to_value(&c.over_delivery))?,
            }
        }
        m.end()
    }
}

struct PublisherPayoutOut<'a>(&'a [(String, PublisherPayoutField)], &'a CampaignPublisherPayout);

impl Serialize for PublisherPayoutOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.1;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, f) in self.0 {
            match f {
                PublisherPayoutField::Typename => m.serialize_entry(k, "CampaignPublisherPayout")?,
                PublisherPayoutField::PublisherId => m.serialize_entry(k, &ScalarType::to_value(&p.publisher_id))?,
                PublisherPayoutField::Payout => m.serialize_entry(k, &ScalarType::to_value(&p.payout))?,
                PublisherPayoutField::Source => m.serialize_entry(k, &p.source)?,
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every child table's columns have a joined name (`read_joined` slices the names).
    #[test]
    fn every_joined_child_column_has_a_name() {
        for t in [PAYOUTS, CAPS, PUBLISHER_PAYOUTS] {
            let n = t.columns.matches(", ").count() + 1;
            assert!(n <= JOINED_NAMES.len(), "{}: {n} columns", t.table);
            assert!(t.joined("SELECT 1 AS id").contains(&format!("AS {}", JOINED_NAMES[n - 1])), "{}", t.table);
        }
    }

    #[test]
    fn the_filter_fields_are_the_schemas() {
        let sdl = crate::sdl();
        let block = sdl.split("input CampaignFilter {").nth(1).and_then(|b| b.split('}').next()).expect("CampaignFilter in the SDL");
        let mut in_doc = false;
        let mut fields = vec![];
        for line in block.lines().map(str::trim) {
            if line.starts_with("\"\"\"") {
                in_doc = !(in_doc || line.len() > 3 && line.ends_with("\"\"\""));
                continue;
            }
            if !in_doc && let Some((name, _)) = line.split_once(':') {
                fields.push(name.trim().to_string());
            }
        }
        assert_eq!(fields, FILTER_FIELDS);
    }

    fn node_keys(plan: &Plan) -> Vec<&str> {
        match &plan.connection[0].1 {
            Conn::Nodes(fs) => fs.iter().map(|(k, _)| k.as_str()).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn plans_keep_the_selection_order_and_aliases() {
        let p = compile("{ campaigns { nodes { payouts { revenue } caps { value } t: title } } }", None).expect("compiles");
        assert_eq!(node_keys(&p), ["payouts", "caps", "t"]);
        for q in [
            "{ campaigns { __typename totalCount } }",
            "{ campaigns { pageInfo { __typename hasPreviousPage hasNextPage startCursor endCursor } } }",
            "{ campaigns { edges { __typename cursor node { id } } } }",
            "{ campaigns { nodes { __typename id integrationId externalId title description descriptionText previewUrl trackingUrl } } }",
            "{ campaigns { nodes { impressionUrl thumbnailUrl status pausedBy upstreamStatus visibility category currency revenue payout payoutType model } } }",
            "{ campaigns { nodes { objective redirectType expiresAt exchangeRate firstSeenAt lastSeenAt consecutiveMisses vanishedAt updatedAt countries } } }",
            "{ campaigns { nodes { blockedCountries os devices lockedColumns provenance } } }",
            "{ campaigns { nodes { payouts { __typename country excludedCountries goal goalName revenue payout payoutType currency } } } }",
            "{ campaigns { nodes { caps { __typename source goal event period value visibility counting timezone overDelivery } } } }",
            "{ campaigns { nodes { publisherPayouts { __typename publisherId payout source } } } }",
            "query Q($first: Int, $after: String, $filter: CampaignFilter) { campaigns(first: $first, after: $after, filter: $filter) { totalCount } }",
        ] {
            assert!(compile(q, None).is_some(), "{q}");
        }
        assert!(compile("{ campaigns { nodes { ...F } } } fragment F on Campaign { id }", None).is_none(), "fragments");
        assert!(compile("{ campaigns { nodes { id @skip(if: true) } } }", None).is_none(), "directives");
        assert!(compile("{ campaigns { nodes { id id } } }", None).is_none(), "a repeated key");
        assert!(
            compile("query($s: CampaignStatus) { campaigns(filter: {status: $s}) { nodes { id } } }", None).is_some(),
            "a variable in a literal"
        );
        assert!(compile("{ campaigns { nodes { id } } integrations { nodes { id } } }", None).is_none(), "two root fields");
        assert!(compile("mutation { campaigns { nodes { id } } }", None).is_none(), "a mutation");
        assert!(compile("{ campaigns { nodes { notAField } } }", None).is_none(), "an unknown field");
    }
}
