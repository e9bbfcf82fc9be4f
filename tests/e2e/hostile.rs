//! Hostile and malformed input against the real gateway: every argument of every query and
//! mutation gets the edge values of its type (as a variable and, for scalars, as a literal), and
//! malformed HTTP requests, control characters, huge text and LIKE wildcards are sent as a
//! careless or hostile client would. Whatever is sent, the answer is JSON whose every error
//! carries a stable `extensions.code`, never INTERNAL, never Rust debug text, and the server
//! keeps answering (a panic would cut the connection).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::harness::App;

/// Every code a client may see (gateway/src/error.rs).
const CODES: [&str; 11] = [
    "VALIDATION",
    "NOT_FOUND",
    "CONFLICT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "RATE_LIMITED",
    "BAD_STATE",
    "INTERNAL",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "BAD_REQUEST",
];

const TYPE_REF: &str =
    "fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }";

/// A type reference from introspection, as GraphQL type text (`[String!]!`) and its named type.
fn type_text(t: &Value) -> String {
    match t["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_text(&t["ofType"])),
        Some("LIST") => format!("[{}]", type_text(&t["ofType"])),
        _ => t["name"].as_str().unwrap_or_default().to_string(),
    }
}

/// Whether the type (under an optional non-null) is a list.
fn is_list(t: &Value) -> bool {
    let t = if t["kind"] == "NON_NULL" { &t["ofType"] } else { t };
    t["kind"] == "LIST"
}

fn named(t: &Value) -> &Value {
    if t["ofType"].is_object() { named(&t["ofType"]) } else { t }
}

struct Types(BTreeMap<String, Value>);

impl Types {
    /// A value the type accepts (lists get one item), used for the arguments not under test.
    fn plain(&self, t: &Value, depth: u32) -> Value {
        match t["kind"].as_str() {
            Some("NON_NULL") => self.plain(&t["ofType"], depth),
            Some("LIST") => json!([self.plain(&t["ofType"], depth)]),
            _ => {
                let name = t["name"].as_str().unwrap_or_default();
                let def = &self.0[name];
                match def["kind"].as_str() {
                    Some("ENUM") => def["enumValues"][0]["name"].clone(),
                    Some("INPUT_OBJECT") if depth < 4 => Value::Object(
                        def["inputFields"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|f| f["type"]["kind"] == "NON_NULL")
                            .map(|f| (f["name"].as_str().unwrap_or_default().to_string(), self.plain(&f["type"], depth + 1)))
                            .collect(),
                    ),
                    Some("INPUT_OBJECT") => json!({}),
                    _ => match name {
                        "Int" => json!(1),
                        "Float" => json!(1.5),
                        "Boolean" => json!(true),
                        "Decimal" => json!("1.25"),
                        "DateTime" => json!("2026-01-01T00:00:00Z"),
                        "JSON" => json!({}),
                        _ => json!("1"),
                    },
                }
            }
        }
    }

    /// Edge values for a named type, as JSON text (so `1e400` stays a number literal).
    fn edges(&self, name: &str) -> Vec<String> {
        let s = |v: Value| v.to_string();
        let long = s(json!("x".repeat(70_000)));
        match name {
            "Decimal" => [
                "\"1e400\"",
                "\"-1e400\"",
                "\"NaN\"",
                "\"\"",
                "\" 1\"",
                "\"1_0\"",
                "\"79228162514264337593543950336\"",
                "\"0.00000000000000000000000000000001\"",
                "1e400",
                "-0",
                "1e-400",
                "123456789012345678901234567890.5",
                "true",
            ]
            .map(str::to_string)
            .to_vec(),
            "Int" => ["2147483648", "-2147483649", "1.5", "\"1\"", "1e400", "99999999999999999999"].map(str::to_string).to_vec(),
            "Float" => ["1e400", "\"x\""].map(str::to_string).to_vec(),
            "Boolean" => ["\"true\"", "0"].map(str::to_string).to_vec(),
            "DateTime" => ["\"2026-13-45T00:00:00Z\"", "\"0000-00-00 00:00:00\"", "\"+275760-09-13T00:00:00Z\"", "1e20", "\"\""]
                .map(str::to_string)
                .to_vec(),
            "JSON" => vec![s(json!({"\u{0}": "\u{0}"})), "[".repeat(60) + &"]".repeat(60)],
            "String" | "ID" => vec![
                s(json!("")),
                s(json!("a\u{0}b")),
                s(json!("\u{1b}[31m")),
                s(json!("%_\\")),
                s(json!("\u{202e}gnp.exe")),
                s(json!("-1")),
                s(json!("99999999999999999999999999")),
                long,
            ],
            other => match self.0.get(other).and_then(|d| d["kind"].as_str()) {
                Some("ENUM") => vec!["\"NOT_A_VALUE\"".into(), "1".into()],
                Some("INPUT_OBJECT") => vec!["{}".into(), "{\"notAField\": 1}".into(), "\"x\"".into(), "[]".into()],
                _ => vec!["null".into()],
            },
        }
    }
}

/// Asserts the answer is what a client can rely on; returns the codes seen.
fn assert_coded(what: &str, r: &Value) -> Vec<String> {
    let mut codes = vec![];
    for e in r["errors"].as_array().into_iter().flatten() {
        let code = e["extensions"]["code"].as_str().unwrap_or_default();
        assert!(CODES.contains(&code), "{what}: an error without a stable code: {e}");
        assert_ne!(code, "INTERNAL", "{what}: a hostile value became a server fault: {e}");
        let m = e["message"].as_str().unwrap_or_default();
        assert!(!m.contains("Error(") && !m.contains("panicked") && !m.contains("InvalidRequest"), "{what}: debug text: {m}");
        codes.push(code.to_string());
    }
    codes
}

/// Sends every edge value of its type to every argument of every query and mutation (and to
/// each field of input-object arguments), as a variable and as a literal.
#[tokio::test]
async fn every_argument_answers_every_edge_value_with_a_coded_error_never_a_panic() {
    let app = App::start(false).await;
    let intro = app
        .ok(
            &format!(
                "{{ __schema {{ queryType {{ fields {{ name type {{ ...T }} args {{ name type {{ ...T }} }} }} }}
                   mutationType {{ fields {{ name type {{ ...T }} args {{ name type {{ ...T }} }} }} }}
                   types {{ name kind enumValues {{ name }} inputFields {{ name type {{ ...T }} }} }} }} }} {TYPE_REF}"
            ),
            json!({}),
        )
        .await;
    let types = Types(
        intro["__schema"]["types"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t["name"].as_str().unwrap_or_default().to_string(), t))
            .collect(),
    );
    let (mut sent, mut by_code) = (0usize, BTreeMap::<String, usize>::new());
    for (op, root) in [("query", "queryType"), ("mutation", "mutationType")] {
        for field in intro["__schema"][root]["fields"].as_array().cloned().unwrap_or_default() {
            let fname = field["name"].as_str().unwrap_or_default();
            let selection = match types.0.get(named(&field["type"])["name"].as_str().unwrap_or_default()).and_then(|d| d["kind"].as_str()) {
                Some("OBJECT" | "INTERFACE" | "UNION") => " { __typename }",
                _ => "",
            };
            let args = field["args"].as_array().cloned().unwrap_or_default();
            for (i, arg) in args.iter().enumerate() {
                let arg_type = named(&arg["type"]);
                let arg_name = arg_type["name"].as_str().unwrap_or_default();
                // The argument under test gets each edge value; and, when it is an input object,
                // each of its fields gets the edge values of the field's type.
                let mut cases: Vec<String> = types.edges(arg_name);
                if let Some(def) = types.0.get(arg_name).filter(|d| d["kind"] == "INPUT_OBJECT") {
                    for f in def["inputFields"].as_array().into_iter().flatten() {
                        for edge in types.edges(named(&f["type"])["name"].as_str().unwrap_or_default()) {
                            let mut obj = types.plain(arg_type, 0);
                            let edge = if is_list(&f["type"]) { format!("[{edge}]") } else { edge };
                            obj[f["name"].as_str().unwrap_or_default()] = serde_json::from_str(&edge).expect("edge JSON");
                            cases.push(obj.to_string());
                        }
                    }
                }
                let wrap = |v: String| if is_list(&arg["type"]) { format!("[{v}]") } else { v };
                for edge in cases {
                    let mut decls = vec![];
                    let mut uses = vec![];
                    let mut vars = serde_json::Map::new();
                    for (j, other) in args.iter().enumerate() {
                        let name = other["name"].as_str().unwrap_or_default();
                        if j == i {
                            decls.push(format!("$a{j}: {}", type_text(&other["type"])));
                            uses.push(format!("{name}: $a{j}"));
                            vars.insert(format!("a{j}"), serde_json::from_str(&wrap(edge.clone())).expect("edge JSON"));
                        } else if other["type"]["kind"] == "NON_NULL" {
                            decls.push(format!("$a{j}: {}", type_text(&other["type"])));
                            uses.push(format!("{name}: $a{j}"));
                            vars.insert(format!("a{j}"), types.plain(&other["type"], 0));
                        }
                    }
                    let doc = format!("{op} ({}) {{ {fname}({}){selection} }}", decls.join(", "), uses.join(", "));
                    let what =
                        format!("{fname}({}: {})", arg["name"].as_str().unwrap_or_default(), edge.chars().take(60).collect::<String>());
                    let r = app.gql(&doc, Value::Object(vars)).await;
                    for c in assert_coded(&what, &r) {
                        *by_code.entry(c).or_default() += 1;
                    }
                    sent += 1;
                }
                // Scalars written into the document itself: the literal path, not the variable one.
                if matches!(arg_name, "Decimal" | "Int" | "Float" | "DateTime" | "String" | "ID") && arg["type"]["kind"] != "LIST" {
                    for edge in types.edges(arg_name).into_iter().filter(|e| e.len() < 200) {
                        let others: Vec<String> = args
                            .iter()
                            .enumerate()
                            .filter(|(j, o)| *j != i && o["type"]["kind"] == "NON_NULL")
                            .map(|(j, o)| format!("{}: $a{j}", o["name"].as_str().unwrap_or_default()))
                            .collect();
                        let decls: Vec<String> = args
                            .iter()
                            .enumerate()
                            .filter(|(j, o)| *j != i && o["type"]["kind"] == "NON_NULL")
                            .map(|(j, o)| format!("$a{j}: {}", type_text(&o["type"])))
                            .collect();
                        let vars: serde_json::Map<String, Value> = args
                            .iter()
                            .enumerate()
                            .filter(|(j, o)| *j != i && o["type"]["kind"] == "NON_NULL")
                            .map(|(j, o)| (format!("a{j}"), types.plain(&o["type"], 0)))
                            .collect();
                        let mut all = others;
                        all.push(format!("{}: {edge}", arg["name"].as_str().unwrap_or_default()));
                        let head = if decls.is_empty() { op.to_string() } else { format!("{op} ({})", decls.join(", ")) };
                        let doc = format!("{head} {{ {fname}({}){selection} }}", all.join(", "));
                        let r = app.gql(&doc, Value::Object(vars)).await;
                        for c in assert_coded(&format!("{fname} literal {edge}"), &r) {
                            *by_code.entry(c).or_default() += 1;
                        }
                        sent += 1;
                    }
                }
            }
        }
    }
    let alive = app.gql("{ __typename }", json!({})).await;
    assert_eq!(alive["data"]["__typename"], "Query", "the gateway still answers after {sent} hostile requests");
    println!("hostile arguments: {sent} requests, errors by code {by_code:?}");
    assert!(sent > 500, "the schema walk found too few arguments ({sent}); the test proves little");
}

/// Bodies that are not GraphQL requests, and documents that are not valid, get JSON errors
/// with a code, never a plain-text body with Rust debug text.
#[tokio::test]
async fn malformed_requests_get_json_errors_with_stable_codes() {
    let app = App::start(false).await;
    let token = app.token(domain::model::Role::Admin).await;
    let url = format!("{}/graphql", app.base);
    let post = |ct: &'static str, body: String| app.http.post(&url).bearer_auth(&token).header("content-type", ct).body(body);
    // Deep beside a data field: an ordinary query, under the depth limit (introspection alone
    // is not; see operations.rs).
    let too_deep = format!(
        "{{ campaigns {{ totalCount }} __schema {{ types {} name {} }} }}",
        "{ fields { type { ofType ".repeat(8),
        "} } } ".repeat(8)
    );
    let cases: Vec<(&str, reqwest::RequestBuilder, &str)> = vec![
        ("not JSON", post("application/json", "{not json".into()), "BAD_REQUEST"),
        ("a batch", post("application/json", json!([{"query": "{ __typename }"}]).to_string()), "BAD_REQUEST"),
        ("no query", post("application/json", "{}".into()), "BAD_REQUEST"),
        ("query is a number", post("application/json", json!({"query": 5}).to_string()), "BAD_REQUEST"),
        ("empty query", post("application/json", json!({"query": " "}).to_string()), "BAD_REQUEST"),
        (
            "over the body limit",
            post("application/json", json!({"query": "{ __typename }", "variables": {"x": "y".repeat(2 << 20)}}).to_string()),
            "BAD_REQUEST",
        ),
        ("syntax error", post("application/json", json!({"query": "{ advertisers {"}).to_string()), "GRAPHQL_PARSE_FAILED"),
        (
            "nested 40 deep",
            post("application/json", json!({"query": format!("{}{}", "{ a ".repeat(40), "}".repeat(40))}).to_string()),
            "GRAPHQL_PARSE_FAILED",
        ),
        ("unknown field", post("application/json", json!({"query": "{ nope }"}).to_string()), "GRAPHQL_VALIDATION_FAILED"),
        (
            "bad enum",
            post("application/json", json!({"query": "{ campaigns(filter: {status: NOPE}) { totalCount } }"}).to_string()),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "Int overflow",
            post("application/json", json!({"query": "{ campaigns(first: 99999999999) { totalCount } }"}).to_string()),
            "VALIDATION",
        ),
        ("too deep", post("application/json", json!({"query": too_deep}).to_string()), "GRAPHQL_VALIDATION_FAILED"),
        (
            "unknown operation",
            post("application/json", json!({"query": "{ __typename }", "operationName": "Nope"}).to_string()),
            "BAD_REQUEST",
        ),
        (
            "two operations, no name",
            post("application/json", json!({"query": "query A { __typename } query B { __typename }"}).to_string()),
            "BAD_REQUEST",
        ),
        (
            "wrong variable type",
            post(
                "application/json",
                json!({"query": "query($n: Int) { campaigns(first: $n) { totalCount } }", "variables": {"n": "ten"}}).to_string(),
            ),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "Decimal out of range",
            post(
                "application/json",
                json!({"query": "mutation { setExchangeRate(base: \"EUR\", quote: \"USD\", rate: 1e400) { rate } }"}).to_string(),
            ),
            "VALIDATION",
        ),
        ("GET syntax error", app.http.get(format!("{url}?query=%7B")).bearer_auth(&token), "GRAPHQL_PARSE_FAILED"),
        // What a cross-site form can send without a preflight: refused (415) before parsing.
        (
            "text/plain",
            post("text/plain", json!({"query": "mutation { createAdvertiser(input: {name: \"X\"}) { id } }"}).to_string()),
            "BAD_REQUEST",
        ),
        (
            "a form",
            post(
                "application/x-www-form-urlencoded",
                "query=mutation%20%7B%20createAdvertiser(input%3A%20%7Bname%3A%20%22X%22%7D)%20%7B%20id%20%7D%20%7D".into(),
            ),
            "BAD_REQUEST",
        ),
        (
            "no content type",
            app.http
                .post(&url)
                .bearer_auth(&token)
                .body(json!({"query": "mutation { createAdvertiser(input: {name: \"X\"}) { id } }"}).to_string()),
            "BAD_REQUEST",
        ),
    ];
    for (what, req, want) in cases {
        let resp = req.send().await.expect("the gateway answers");
        let status = resp.status().as_u16();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let text = resp.text().await.expect("body");
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON ({status}, {ct}): {text}"));
        assert!(ct.contains("json"), "{what}: content-type {ct}");
        let codes = assert_coded(what, &body);
        assert_eq!(codes.first().map(String::as_str), Some(want), "{what}: {body}");
        let media = matches!(what, "text/plain" | "a form" | "no content type");
        assert!(if media { status == 415 } else { matches!(status, 200 | 400 | 413) }, "{what}: status {status}");
    }
    let d = app.gql_as(Some(&token), "{ advertisers { id } }", json!({})).await;
    assert_eq!(d["data"]["advertisers"], json!([]), "no refused request created anything");
}

/// NUL and other control characters are refused by name before anything is stored (PostgreSQL
/// cannot store NUL in text); text past the limit is refused; `%` and `_` typed into a search
/// box match themselves.
#[tokio::test]
async fn control_characters_huge_text_and_search_wildcards_are_handled() {
    let app = App::start(false).await;
    let r = app.gql("mutation($n: String!) { createAdvertiser(input: {name: $n}) { id } }", json!({"n": "Acme\u{0}"})).await;
    assert_eq!(assert_coded("NUL name", &r), ["VALIDATION"]);
    assert!(r["errors"][0]["message"].as_str().unwrap_or_default().contains("U+0000"), "{r}");
    let r = app.gql("mutation { createAdvertiser(input: {name: \"Acme\\u001b[2J\"}) { id } }", json!({})).await;
    assert_eq!(assert_coded("ESC literal", &r), ["VALIDATION"]);
    let r = app.gql("mutation($n: String!) { createAdvertiser(input: {name: $n}) { id } }", json!({"n": "x".repeat(100_000)})).await;
    assert_eq!(assert_coded("100 kB name", &r), ["VALIDATION"]);
    // Line breaks and tabs are text, not control characters to refuse.
    let adv =
        app.ok("mutation { createAdvertiser(input: {name: \"Acme\\tWest\"}) { id } }", json!({})).await["createAdvertiser"]["id"].clone();

    for name in ["50% off", "5000 off", "under_score", "underXscore", "back\\slash"] {
        app.ok(
            "mutation($a: ID!, $n: String!) { createIntegration(input: {name: $n, connector: \"everflow\", advertiserId: $a, credentials: []}) { id } }",
            json!({"a": adv, "n": name}),
        )
        .await;
    }
    let search = |s: &'static str| {
        let app = &app;
        async move {
            let d = app
                .ok("query($s: String) { integrations(filter: {search: $s}, first: 50) { edges { node { name } } } }", json!({"s": s}))
                .await;
            let mut names: Vec<String> = d["integrations"]["edges"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|e| e["node"]["name"].as_str().map(str::to_string))
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(search("0%").await, ["50% off"], "% matches a percent sign, not anything");
    assert_eq!(search("r_s").await, ["under_score"], "_ matches an underscore, not any character");
    assert_eq!(search("k\\s").await, ["back\\slash"]);
    assert_eq!(search("OFF").await, ["50% off", "5000 off"], "still case-insensitive");
}
