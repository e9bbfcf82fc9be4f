//! The schema: one resolver file per admin area, merged here.

mod bulk;
mod campaigns;
mod catalog;
mod integrations;
mod live;
mod parties;
mod runs;
mod tokens;
pub mod types;

pub use campaigns::{ChildRows, compiled::Plans};

use async_graphql::{
    Context, MergedObject, Schema, SimpleObject,
    connection::{Connection, Edge, EmptyFields},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use domain::entity::audit_log;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryOrder, QuerySelect, Select, Set};

use crate::{AppState, auth::Caller, error};

#[derive(MergedObject, Default)]
pub struct Query(
    catalog::CatalogQuery,
    parties::PartiesQuery,
    integrations::IntegrationsQuery,
    campaigns::CampaignsQuery,
    runs::RunsQuery,
    tokens::TokensQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    parties::PartiesMutation,
    integrations::IntegrationsMutation,
    campaigns::CampaignsMutation,
    bulk::BulkMutation,
    runs::RunsMutation,
    tokens::TokensMutation,
);

pub type AppSchema = Schema<Query, Mutation, live::Subscription>;

fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, live::Subscription> {
    Schema::build(Query::default(), Mutation::default(), live::Subscription)
}

pub(crate) fn build(state: AppState) -> AppSchema {
    build_with(state, true)
}

/// The schema for introspection documents only (see [`crate::introspection`]): it resolves
/// nothing but introspection, without the depth limit meant for the client's own queries; the
/// complexity limit stays.
pub(crate) fn build_for_introspection(state: AppState) -> AppSchema {
    build_with(state, false)
}

fn build_with(state: AppState, depth_limit: bool) -> AppSchema {
    let g = &state.config.gateway;
    // The input guard and the error codes run around the schema (`crate::Guarded`), not as
    // schema extensions: async-graphql calls every extension's resolve hook (a boxed future)
    // for every field; moving them out raised a campaigns page's throughput by 27 to 37 %
    // (BENCHMARKS.md). Only `Guarded` may execute this schema.
    let mut b = builder().limit_complexity(g.max_complexity).limit_recursive_depth(32).limit_directives(50);
    b = if depth_limit { b.limit_depth(g.max_depth) } else { b.introspection_only() };
    if !g.introspection {
        b = b.disable_introspection();
    }
    b.data(state).finish()
}

pub fn sdl() -> String {
    builder().finish().sdl()
}

/// The operation of `doc` a request with `name` runs, as async-graphql picks it: the only one,
/// or the one named (a named operation alone in its document is one of "several" to the
/// parser, so it runs without a name too).
pub(crate) fn operation<'a>(
    doc: &'a async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a async_graphql::Positioned<async_graphql::parser::types::OperationDefinition>> {
    use async_graphql::parser::types::DocumentOperations;
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// A case-insensitive "contains" pattern for a search box: `%`, `_` and `\` in what the user
/// typed match themselves (escaped with `\`, declared with ESCAPE on every backend), so
/// searching "50%_off" finds that text and not every title.
pub(crate) fn contains_pattern(search: &str) -> sea_orm::sea_query::LikeExpr {
    let mut p = String::with_capacity(search.len() + 2);
    p.push('%');
    for c in search.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    sea_orm::sea_query::LikeExpr::new(p).escape('\\')
}

pub(crate) fn app<'a>(ctx: &'a Context<'_>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// Extra fields on every connection.
#[derive(SimpleObject)]
pub struct Counted {
    /// Rows matching the filter, across all pages (counted only when this field is selected).
    pub total_count: u64,
}

pub type Page<T> = Connection<String, T, Counted, EmptyFields>;

pub(crate) fn encode_cursor(id: i64) -> String {
    B64.encode(format!("id:{id}"))
}

pub(crate) fn decode_cursor(c: &str) -> async_graphql::Result<i64> {
    B64.decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("id:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| error::field("after", "not a cursor from this API"))
}

/// One page of rows: what [`paginate`] and the compiled campaign pages
/// (`campaigns::compiled`) both serve.
pub(crate) struct PageRows<M> {
    pub rows: Vec<M>,
    pub has_previous: bool,
    pub has_next: bool,
    /// Rows matching the filter across all pages; 0 when not counted.
    pub total: u64,
}

/// A page's statement before it runs: [`page_rows`] runs it as it is, the compiled campaign
/// pages choose its columns first.
pub(crate) struct PageQuery<E: EntityTrait> {
    /// `first + 1` rows after the cursor, in id order: one more than the page tells whether
    /// another page follows.
    pub select: Select<E>,
    pub first: usize,
    pub has_previous: bool,
}

impl<E: EntityTrait> PageQuery<E> {
    /// The page from the statement's rows (`first + 1` at most).
    pub fn page<M>(&self, mut rows: Vec<M>, total: u64) -> PageRows<M> {
        let has_next = rows.len() > self.first;
        rows.truncate(self.first);
        PageRows { rows, has_previous: self.has_previous, has_next, total }
    }
}

/// Keyset pagination on the id column: `first` rows (default 50, at most
/// `gateway.max_page_size`) after the cursor, newest first when `desc`.
pub(crate) fn page_query<E: EntityTrait>(
    state: &AppState,
    select: Select<E>,
    id_col: E::Column,
    first: Option<i32>,
    after: Option<&str>,
    desc: bool,
) -> async_graphql::Result<PageQuery<E>> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let max = state.config.gateway.max_page_size as i32;
    let first = first.unwrap_or(50);
    if first < 0 || first > max {
        return Err(error::field("first", format!("first must be between 0 and {max}")));
    }
    let mut q = select;
    if let Some(a) = after {
        let id = decode_cursor(a)?;
        q = if desc { q.filter(id_col.lt(id)) } else { q.filter(id_col.gt(id)) };
    }
    q = if desc { q.order_by_desc(id_col) } else { q.order_by_asc(id_col) };
    Ok(PageQuery { select: q.limit(first as u64 + 1), first: first as usize, has_previous: after.is_some() })
}

/// [`page_query`]'s page, the filtered table counted only when `count` (the client selected
/// `totalCount`).
pub(crate) async fn page_rows<E>(
    state: &AppState,
    select: Select<E>,
    id_col: E::Column,
    first: Option<i32>,
    after: Option<&str>,
    desc: bool,
    count: bool,
) -> async_graphql::Result<PageRows<E::Model>>
where
    E: EntityTrait,
    E::Model: Sync + Send,
{
    use error::OrInternal;
    let all = count.then(|| select.clone());
    let page = page_query(state, select, id_col, first, after, desc)?;
    let total = match all {
        Some(all) => all.count(&state.db).await.or_internal()?,
        None => 0,
    };
    let rows = page.select.clone().all(&state.db).await.or_internal()?;
    Ok(page.page(rows, total))
}

/// Keyset pagination on the id column ([`page_rows`]) as a Relay connection with
/// `totalCount`, counted only when selected.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn paginate<E, T>(
    ctx: &Context<'_>,
    select: Select<E>,
    id_col: E::Column,
    id_of: impl Fn(&E::Model) -> i64,
    to_node: impl Fn(E::Model) -> T,
    first: Option<i32>,
    after: Option<String>,
    desc: bool,
) -> async_graphql::Result<Page<T>>
where
    E: EntityTrait,
    E::Model: Sync + Send,
    T: async_graphql::OutputType,
{
    let count = ctx.look_ahead().field("totalCount").exists();
    let page = page_rows(app(ctx), select, id_col, first, after.as_deref(), desc, count).await?;
    let mut conn = Connection::with_additional_fields(page.has_previous, page.has_next, Counted { total_count: page.total });
    conn.edges.extend(page.rows.into_iter().map(|r| Edge::new(encode_cursor(id_of(&r)), to_node(r))));
    Ok(conn)
}

/// Writes one audit entry for a mutation (who, what, when).
pub(crate) async fn audit(
    db: &impl ConnectionTrait,
    who: &Caller,
    action: &str,
    target_type: &str,
    target_id: impl ToString,
    details: serde_json::Value,
) -> async_graphql::Result<()> {
    use error::OrInternal;
    audit_log::ActiveModel {
        token_id: Set(Some(who.token_id)),
        actor: Set(who.actor()),
        action: Set(action.into()),
        target_type: Set(Some(target_type.into())),
        target_id: Set(Some(target_id.to_string())),
        details: Set(details.to_string()),
        created_at: Set(domain::db::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .or_internal()?;
    Ok(())
}
