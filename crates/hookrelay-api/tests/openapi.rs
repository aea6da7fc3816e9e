//! The OpenAPI document (`GET /openapi.json`) must describe exactly the routes
//! the router registers, and be internally consistent.
//!
//! The route list is read from the text of `src/lib.rs` (`fn router`), so
//! adding a route without documenting it — or documenting one that does not
//! exist — fails here. The dashboard's pages (`dashboard::router()`, HTML
//! under `/dashboard`) are merged in and are not part of the document.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const LIB_RS: &str = include_str!("../src/lib.rs");

const HTTP_METHODS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

/// Routes served without authentication.
const PUBLIC_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    // Signed payload URLs: the token is the credential.
    "/payloads/{token}",
    // Deliveries to `hookrelay listen`: the signature is the credential.
    "/_listen/{id}",
];

fn doc() -> Value {
    serde_json::from_str(hookrelay_api::OPENAPI_JSON).expect("openapi.json is not valid JSON")
}

/// The body of `fn router` in `lib`, without `//` comments.
fn router_source(lib: &str) -> String {
    let start = lib
        .find("pub fn router(")
        .expect("src/lib.rs has no `pub fn router(`");
    let rest = &lib[start..];
    let open = rest.find('{').expect("router has no body");
    let close = matching(rest, open, '{', '}');
    rest[open + 1..close]
        .lines()
        .map(|l| match l.find("//") {
            // `//` inside a string literal (e.g. a URL) is not expected in route paths.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Index of the bracket closing the one at `open`.
fn matching(s: &str, open: usize, o: char, c: char) -> usize {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut prev = '\0';
    for (i, ch) in s[open..].char_indices() {
        if in_str {
            if ch == '"' && prev != '\\' {
                in_str = false;
            }
        } else if ch == '"' {
            in_str = true;
        } else if ch == o {
            depth += 1;
        } else if ch == c {
            depth -= 1;
            if depth == 0 {
                return open + i;
            }
        }
        prev = ch;
    }
    panic!("unbalanced {o}{c} in src/lib.rs");
}

/// The dashboard's HTML pages, merged into the router; they are not part
/// of the API the document describes.
const DASHBOARD_MERGE: &str = ".merge(dashboard::router())";

/// Every `(path, method)` registered by `.route("...", get(..).post(..))`.
fn router_routes(lib: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = router_source(lib).replace(DASHBOARD_MERGE, "");
    for unsupported in [".nest(", ".merge(", ".route_service(", ".nest_service("] {
        assert!(
            !src.contains(unsupported),
            "router uses `{unsupported}`: teach tests/openapi.rs to read it"
        );
    }
    let mut routes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut from = 0;
    while let Some(i) = src[from..].find(".route(") {
        let open = from + i + ".route".len();
        let close = matching(&src, open, '(', ')');
        let args = &src[open + 1..close];
        from = close;

        let q1 = args.find('"').expect(".route( without a path literal");
        let q2 = q1 + 1 + args[q1 + 1..].find('"').expect("unterminated path");
        let path = args[q1 + 1..q2].to_owned();
        let handlers = &args[q2 + 1..];

        let methods = method_calls(handlers);
        assert!(
            !methods.is_empty(),
            "could not read the methods of route {path:?} from src/lib.rs: {handlers}"
        );
        let entry = routes.entry(path.clone()).or_default();
        for m in methods {
            assert!(entry.insert(m.clone()), "{m} {path} registered twice");
        }
    }
    assert!(!routes.is_empty(), "no routes found in src/lib.rs");
    routes
}

/// Method-router calls in a handler expression: every identifier among
/// [`HTTP_METHODS`] (or `any`) that is directly called, e.g. `get(`,
/// `.post(`, `axum::routing::delete(`. Handler paths such as
/// `routes::endpoints::delete` are not calls and are skipped.
fn method_calls(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if is_ident(bytes[i]) && (i == 0 || !is_ident(bytes[i - 1])) {
            let start = i;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let called = expr[i..].trim_start().starts_with('(');
            if called {
                assert!(
                    word != "any" && word != "on",
                    "route uses `{word}(`; list its methods explicitly so they can be documented"
                );
                if HTTP_METHODS.contains(&word) {
                    out.push(word.to_owned());
                }
            }
        } else {
            i += 1;
        }
    }
    out
}

fn documented_routes(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .expect("`paths` is not an object")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("path item is not an object")
                .keys()
                .filter(|k| HTTP_METHODS.contains(&k.as_str()))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// Follows a local `$ref` (`#/a/b~1c`) to its target.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

fn collect_refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == "$ref" {
                    let r = child
                        .as_str()
                        .unwrap_or_else(|| panic!("non-string $ref at {at}"));
                    out.push((at.to_owned(), r.to_owned()));
                } else {
                    collect_refs(child, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                collect_refs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Follows `$ref`s until a non-reference object.
fn deref<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => v = resolve(doc, r).unwrap_or_else(|| panic!("unresolved {r}")),
            None => return v,
        }
    }
    panic!("$ref cycle");
}

/// Every operation as `(path, method, operation, path-item parameters)`.
fn operations(doc: &Value) -> Vec<(String, String, &Value, Vec<&Value>)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let shared: Vec<&Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for (method, op) in item.as_object().expect("path item") {
            if HTTP_METHODS.contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), op, shared.clone()));
            }
        }
    }
    out
}

#[test]
fn document_is_openapi_3_1() {
    let doc = doc();
    let version = doc["openapi"].as_str().expect("`openapi` is not a string");
    assert!(
        version.starts_with("3.1."),
        "expected OpenAPI 3.1.x, got {version}"
    );
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());
    assert!(doc["paths"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearerAuth"].is_object());
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc = doc();
    let served = router_routes(LIB_RS);
    let documented = documented_routes(&doc);

    let mut problems = Vec::new();
    for (path, methods) in &served {
        match documented.get(path) {
            None => problems.push(format!("{path} is routed but not in `paths`")),
            Some(d) => {
                for m in methods.difference(d) {
                    problems.push(format!(
                        "{} {path} is routed but not documented",
                        m.to_uppercase()
                    ));
                }
                for m in d.difference(methods) {
                    problems.push(format!(
                        "{} {path} is documented but not routed",
                        m.to_uppercase()
                    ));
                }
            }
        }
    }
    for path in documented.keys() {
        if !served.contains_key(path) {
            problems.push(format!("{path} is documented but not routed"));
        }
    }
    assert!(
        problems.is_empty(),
        "openapi.json and the router disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_ref_resolves() {
    let doc = doc();
    let mut refs = Vec::new();
    collect_refs(&doc, "#", &mut refs);
    assert!(!refs.is_empty());
    let broken: Vec<String> = refs
        .iter()
        .filter(|(_, r)| !r.starts_with("#/components/") || resolve(&doc, r).is_none())
        .map(|(at, r)| format!("{at}: {r}"))
        .collect();
    assert!(
        broken.is_empty(),
        "unresolved $refs:\n{}",
        broken.join("\n")
    );
}

#[test]
fn operations_are_complete() {
    let doc = doc();
    let mut ids = BTreeSet::new();
    for (path, method, op, shared) in operations(&doc) {
        let what = format!("{} {path}", method.to_uppercase());
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no operationId"));
        assert!(
            ids.insert(id.to_owned()),
            "{what}: duplicate operationId {id}"
        );

        // Every `{param}` of the path is declared as a path parameter.
        let params: Vec<&Value> = shared
            .iter()
            .copied()
            .chain(
                op.get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            )
            .map(|p| deref(&doc, p))
            .collect();
        for seg in path.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_start_matches('{').trim_end_matches('}');
            assert!(
                params
                    .iter()
                    .any(|p| p["in"] == "path" && p["name"] == name && p["required"] == true),
                "{what}: path parameter `{name}` is not declared"
            );
        }

        // Every response documents `x-request-id`; error responses use `Error`.
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{what}: no responses"));
        assert!(
            // 101: a WebSocket's answer.
            responses.keys().any(|k| k.starts_with('2') || k == "101"),
            "{what}: no success response"
        );
        for (status, resp) in responses {
            let resp = deref(&doc, resp);
            assert!(
                resp["headers"].get("x-request-id").is_some(),
                "{what} {status}: x-request-id header not documented"
            );
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    resp["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{what} {status}: error responses must use the Error schema"
                );
            }
        }

        // Public routes opt out of auth; the rest inherit bearer auth.
        if PUBLIC_PATHS.contains(&path.as_str()) {
            assert_eq!(
                op["security"],
                serde_json::json!([]),
                "{what}: should need no auth"
            );
        } else {
            assert!(
                op.get("security").is_none(),
                "{what}: should use the global bearer auth"
            );
            assert!(responses.contains_key("401"), "{what}: 401 not documented");
        }
    }
    assert_eq!(doc["security"], serde_json::json!([{ "bearerAuth": [] }]));
}

#[test]
fn route_parser_reads_method_chains() {
    let lib = r#"
pub fn router(state: AppState) -> Router {
    Router::new()
        // .route("/commented_out", get(x))
        .route("/a", get(routes::a::list).post(routes::a::create))
        .route(
            "/a/{id}",
            get(routes::a::get_one)
                .post(routes::a::update)
                .delete(routes::a::delete),
        )
        .route("/b/{id}", axum::routing::delete(routes::b::delete))
        .route("/c", post(routes::c::get))
        .fallback(not_found)
        .with_state(state)
}

fn other() { let _ = Router::new().route("/not_in_router", get(x)); }
"#;
    let routes = router_routes(lib);
    let expect = |p: &str, ms: &[&str]| {
        assert_eq!(
            routes.get(p).cloned().unwrap_or_default(),
            ms.iter().map(|m| (*m).to_owned()).collect::<BTreeSet<_>>(),
            "{p}"
        );
    };
    assert_eq!(routes.len(), 4, "{routes:?}");
    expect("/a", &["get", "post"]);
    expect("/a/{id}", &["get", "post", "delete"]);
    expect("/b/{id}", &["delete"]);
    expect("/c", &["post"]);
}

/// The properties of `schema` (its own and those of its `allOf` parts,
/// `$ref`s resolved in `root`), and which of them are required.
fn fields(root: &Value, schema: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut props = BTreeSet::new();
    let mut required = BTreeSet::new();
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let path = r.trim_start_matches('#');
            root.pointer(path)
                .unwrap_or_else(|| panic!("dangling $ref {r}"))
        }
        None => schema,
    };
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        props.extend(p.keys().cloned());
    }
    if let Some(r) = schema.get("required").and_then(Value::as_array) {
        required.extend(r.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (p, r) = fields(root, part);
        props.extend(p);
        required.extend(r);
    }
    (props, required)
}

/// Every response type's fields are the fields its schema documents: a
/// field added, removed, renamed or made optional in `views.rs` without the
/// same change in `openapi.json` (or the other way round) fails here.
#[test]
fn documented_response_schemas_have_the_fields_of_the_types() {
    let doc = doc();
    let mut mismatches = Vec::new();
    for (name, derived) in hookrelay_api::schema::components() {
        let documented = &doc["components"]["schemas"][name];
        assert!(
            !documented.is_null(),
            "openapi.json has no schema {name} for a response type"
        );
        let derived = derived.as_value();
        let (doc_props, doc_req) = fields(&doc, documented);
        let (type_props, type_req) = fields(derived, derived);
        if doc_props != type_props || doc_req != type_req {
            mismatches.push(format!(
                "{name}:\n  documented {doc_props:?} required {doc_req:?}\n  type       {type_props:?} required {type_req:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// `ApiVersion` lists exactly the built-in catalog's versions.
#[test]
fn documented_api_versions_are_the_catalogs() {
    let doc = doc();
    let documented: Vec<&str> = doc["components"]["schemas"]["ApiVersion"]["enum"]
        .as_array()
        .expect("ApiVersion has an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let catalog = hookrelay_core::catalog::Catalog::builtin();
    let known: Vec<&str> = catalog.versions().iter().map(|v| v.name.as_str()).collect();
    assert_eq!(documented, known);
}
