//! Property tests of every connector's parsers (the six native ones and the declarative specs)
//! on mutated real payloads: the fixtures in `agent/fixtures/<platform>/` with a value replaced
//! by one of another type, a key dropped, the body cut short, or bytes flipped. Whatever the
//! mutation, parsing never panics: it answers a page (whose invalid offers each carry a reason)
//! or a typed `FetchError`. The same holds for the account-context and per-offer detail parsers.
//!
//! CI runs the default 256 cases per property; `PROPTEST_CASES=20000 cargo test -p agent --test
//! parsers` runs a longer soak.

use std::{collections::BTreeMap, sync::Arc};

use agent::{
    connectors::{self, Connector, RawResponse},
    offer::CanonicalOffer,
};
use domain::crypto::Credentials;
use proptest::prelude::*;
use serde_json::Value;

/// (connector ids, fixture files) per platform family.
fn families() -> Vec<(Vec<&'static str>, Vec<&'static str>)> {
    vec![
        (
            vec!["hasoffers"],
            vec![
                include_str!("../fixtures/hasoffers/offer_findall_paginated_limit2.json"),
                include_str!("../fixtures/hasoffers/offer_findall_unpaginated_contain_country.json"),
                include_str!("../fixtures/hasoffers/offer_findall_country_empty_array.json"),
                include_str!("../fixtures/hasoffers/affiliate_offer_row_with_category_thumbnail.json"),
                include_str!("../fixtures/hasoffers/errors_value_list_of_objects.json"),
            ],
        ),
        (
            vec!["everflow"],
            vec![
                include_str!("../fixtures/everflow/alloffers_docs_example.json"),
                include_str!("../fixtures/everflow/alloffers_real_production.json"),
            ],
        ),
        (
            vec!["affise"],
            vec![
                include_str!("../fixtures/affise/partner_offers_docs_example.json"),
                include_str!("../fixtures/affise/partner_offers_real_offer78.json"),
                include_str!("../fixtures/affise/partner_offers_caps_per_goal_fragment.json"),
            ],
        ),
        (
            vec!["cake"],
            vec![include_str!("../fixtures/cake/offerfeed_v4.xml"), include_str!("../fixtures/cake/error_success_false_synthetic.xml")],
        ),
        (vec!["trackier", "trackier-spec"], vec![include_str!("../fixtures/trackier/campaigns_assembled_from_spec_examples.json")]),
        (
            vec!["offer18", "offer18-spec"],
            vec![
                include_str!("../fixtures/offer18/offers_docs_example_truncated.json"),
                include_str!("../fixtures/offer18/offers_real_older_api.json"),
            ],
        ),
    ]
}

fn connector(id: &str) -> Arc<dyn Connector> {
    let specs = connectors::spec::load(None).expect("built-in specs");
    connectors::by_id(id, &specs).unwrap_or_else(|e| panic!("connector {id}: {e}"))
}

fn creds() -> Credentials {
    [("api_key", "k3y-0123456789"), ("network_id", "demo"), ("affiliate_id", "7"), ("api_url", "https://api.example.com")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn response(body: Vec<u8>) -> RawResponse {
    RawResponse { status: 200, headers: BTreeMap::new(), body: body.into() }
}

/// Every place in a JSON document, as a path of keys and indexes.
fn paths(v: &Value, here: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| paths(c, [here.clone(), vec![k.clone()]].concat(), out)),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| paths(c, [here.clone(), vec![i.to_string()]].concat(), out)),
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| match v {
        Value::Object(m) => m.get_mut(k),
        Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// Values of every JSON type, including the awkward ones platforms send.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        Just(serde_json::from_str::<Value>("1e400").unwrap_or(Value::Null)),
        Just(serde_json::json!(-0.0000001)),
        "[a-zA-Z0-9 ,.%$_-]{0,12}".prop_map(Value::String),
        Just(Value::String("0000-00-00 00:00:00".into())),
        Just(Value::String("\u{0}".into())),
        Just(Value::String("<script>x</script>".into())),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..3).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// How a body is damaged.
#[derive(Debug, Clone)]
enum Mutation {
    /// The value at the n-th place becomes `value` (a wrong type, a null, a weird string).
    Replace(usize, Value),
    /// The key at the n-th place is dropped.
    Drop(usize),
    /// The body is cut at this fraction of its length.
    Truncate(f64),
    /// The byte at this fraction of the length is replaced.
    Flip(f64, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => any::<usize>().prop_map(Mutation::Drop),
        1 => (0.0..1.0f64).prop_map(Mutation::Truncate),
        1 => (0.0..1.0f64, any::<u8>()).prop_map(|(f, b)| Mutation::Flip(f, b)),
    ]
}

fn apply(fixture: &str, m: &Mutation) -> Vec<u8> {
    let bytes = fixture.as_bytes();
    match m {
        Mutation::Truncate(f) => bytes[..(bytes.len() as f64 * f) as usize].to_vec(),
        Mutation::Flip(f, b) => {
            let mut out = bytes.to_vec();
            if !out.is_empty() {
                let i = ((out.len() - 1) as f64 * f) as usize;
                out[i] = *b;
            }
            out
        }
        Mutation::Replace(n, _) | Mutation::Drop(n) if fixture.trim_start().starts_with(['{', '[']) => {
            let Ok(mut doc) = serde_json::from_str::<Value>(fixture) else { return bytes.to_vec() };
            let mut all = vec![];
            paths(&doc, vec![], &mut all);
            let path = all[n % all.len()].clone();
            match m {
                Mutation::Replace(_, value) => {
                    if let Some(slot) = at(&mut doc, &path) {
                        *slot = value.clone();
                    }
                }
                _ => {
                    if let Some((last, parent)) = path.split_last()
                        && let Some(Value::Object(map)) = at(&mut doc, parent)
                    {
                        map.remove(last);
                    }
                }
            }
            serde_json::to_vec(&doc).unwrap_or_default()
        }
        // XML: replace the text of the n-th element, or drop it.
        Mutation::Replace(n, _) | Mutation::Drop(n) => {
            let opens: Vec<usize> = fixture.match_indices('>').map(|(i, _)| i + 1).collect();
            let Some(&start) = opens.get(n % opens.len().max(1)) else { return bytes.to_vec() };
            let end = fixture[start..].find('<').map_or(fixture.len(), |e| start + e);
            let text = match m {
                Mutation::Replace(_, Value::String(s)) => s.replace(['<', '&'], ""),
                Mutation::Replace(_, other) => other.to_string().replace(['<', '&'], ""),
                _ => String::new(),
            };
            format!("{}{}{}", &fixture[..start], text, &fixture[end..]).into_bytes()
        }
    }
}

fn check_page(id: &str, conn: &dyn Connector, body: Vec<u8>) -> Result<(), TestCaseError> {
    let resp = response(body);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conn.parse_page(&creds(), &resp)));
    let parsed = outcome.map_err(|_| TestCaseError::fail(format!("{id}: parse_page panicked")))?;
    if let Ok(page) = parsed {
        for o in &page.offers {
            if let Err(e) = o {
                prop_assert!(!e.reason.trim().is_empty(), "{id}: an invalid offer without a reason");
            }
        }
        // Per-offer follow-ups and the account context read the same damaged bytes safely too.
        for o in page.offers.iter().flatten().take(3) {
            let mut offer: CanonicalOffer = o.clone();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conn.apply_detail(&creds(), &mut offer, &resp)));
            prop_assert!(r.is_ok(), "{id}: apply_detail panicked");
        }
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conn.parse_context(&creds(), &resp)));
    prop_assert!(r.is_ok(), "{id}: parse_context panicked");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conn.classify_status(&RawResponse { status: 400, ..resp.clone() })));
    prop_assert!(r.is_ok(), "{id}: classify_status panicked");
    Ok(())
}

proptest! {
    #[test]
    fn mutated_real_payloads_never_panic_a_parser(family in 0usize..6, fixture in any::<usize>(), m in mutation()) {
        let (ids, fixtures) = &families()[family];
        let text = fixtures[fixture % fixtures.len()];
        let body = apply(text, &m);
        for id in ids {
            check_page(id, connector(id).as_ref(), body.clone())?;
        }
    }
}

/// Each connector reads at least one of its unmutated fixtures into valid offers, so the
/// property above starts from bodies the parsers accept (some fixtures are error bodies).
#[test]
fn each_connector_reads_its_fixtures() {
    for (ids, fixtures) in families() {
        for id in ids {
            let valid: usize = fixtures
                .iter()
                .filter_map(|f| connector(id).parse_page(&creds(), &response(f.as_bytes().to_vec())).ok())
                .map(|p| p.offers.iter().flatten().count())
                .sum();
            assert!(valid > 0, "{id}: no fixture parsed into a valid offer");
        }
    }
}
