//! The published API contract, `GET /openapi.json`: it is an OpenAPI 3 document, it lists
//! exactly the REST routes the router serves, and real answers of every route family conform to
//! it (status documented, media type, body schema, and no undocumented fields).

mod common;

use std::collections::BTreeMap;

use common::{Account, TestServer, PASSWORD};
use serde_json::{json, Value};

/// Every REST route and its methods, written out by hand on purpose: a route added to the router
/// without being documented (or the reverse) fails here. The WebSocket (`/ws`, `/chat/ws`) and
/// the static pages are not part of the REST contract.
const ROUTES: &[(&str, &[&str])] = &[
    ("/register", &["post"]),
    ("/login", &["post"]),
    ("/me", &["get"]),
    ("/messages", &["get"]),
    // Before the room routes: those make the admin leave `general`.
    ("/messages/{id}", &["get", "patch", "delete"]),
    ("/messages/{id}/reactions", &["post"]),
    ("/messages/{id}/report", &["post"]),
    ("/reports", &["get"]),
    ("/appeals", &["post"]),
    ("/admin/reports", &["get"]),
    ("/admin/reports/{id}", &["post"]),
    ("/moderation/reports", &["get"]),
    ("/moderation/reports/{id}", &["post"]),
    ("/admin/appeals", &["get"]),
    ("/admin/appeals/{id}", &["post"]),
    ("/healthz", &["get"]),
    ("/openapi.json", &["get"]),
    ("/auth/register", &["post"]),
    ("/auth/login", &["post"]),
    ("/chat/messages", &["get"]),
    ("/admin/login", &["post"]),
    ("/admin/dashboard", &["get"]),
    ("/admin/blocked-users", &["get"]),
    ("/admin/stats", &["get"]),
    ("/admin/users", &["get"]),
    ("/admin/messages", &["get"]),
    ("/admin/violations", &["get"]),
    ("/admin/deletions", &["get"]),
    ("/admin/terms", &["get", "post"]),
    ("/admin/terms/{term}", &["delete"]),
    ("/admin/users/{id}/block", &["post"]),
    ("/admin/users/{id}/unblock", &["post"]),
    ("/admin/users/{id}/mute", &["post"]),
    ("/admin/users/{id}/unmute", &["post"]),
    ("/admin/users/{id}/admin", &["post", "delete"]),
    ("/admin/download/users", &["get"]),
    ("/admin/download/messages", &["get"]),
    ("/admin/rooms", &["get"]),
    ("/admin/rooms/{id}/archive", &["post"]),
    ("/admin/rooms/{id}/unarchive", &["post"]),
    ("/rooms", &["get", "post"]),
    ("/rooms/directory", &["get"]),
    ("/rooms/{id}", &["get", "patch"]),
    ("/rooms/{id}/join", &["post"]),
    ("/rooms/{id}/leave", &["post"]),
    ("/rooms/{id}/members", &["post"]),
    ("/rooms/{id}/members/{username}", &["delete"]),
    ("/rooms/{id}/messages", &["get"]),
    ("/rooms/{id}/moderators/{username}", &["put", "delete"]),
    ("/rooms/{id}/mutes", &["post"]),
    ("/rooms/{id}/mutes/{username}", &["delete"]),
    ("/rooms/{id}/notify", &["put"]),
    ("/rooms/{id}/read", &["post"]),
    ("/dms", &["post"]),
    ("/users", &["get"]),
    ("/search", &["get"]),
];

/// Routes that work without a token.
const PUBLIC: &[&str] =
    &["/register", "/login", "/healthz", "/openapi.json", "/auth/register", "/auth/login", "/admin/login"];

const COMPATIBILITY: &[&str] = &[
    "/auth/register",
    "/auth/login",
    "/chat/messages",
    "/admin/login",
    "/admin/dashboard",
    "/admin/blocked-users",
];

async fn fetch_document(server: &TestServer) -> Value {
    let resp = server.get("/openapi.json", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text).expect("the document is JSON")
}

// ---------------------------------------------------------------------------------------------
// A small JSON Schema checker: enough for the schemas utoipa emits ($ref, allOf/anyOf, type
// lists, enum, properties, items). It is stricter than JSON Schema in one way on purpose: an
// object property the schema does not declare is an error, so a field added to a response
// without documenting it is caught.

struct Contract {
    doc: Value,
}

impl Contract {
    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {r}"));
            v = self.doc.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {r}"));
        }
        v
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.validate_loose(s, value, at)?;
            }
        }
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
            if !any.iter().any(|s| self.validate_loose(s, value, at).is_ok()) {
                return Err(format!("{at}: matches no anyOf branch: {value}"));
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            if !options.contains(value) {
                return Err(format!("{at}: {value} is not one of {options:?}"));
            }
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                other => return Err(format!("{at}: odd type {other}")),
            };
            let ok = types.iter().any(|t| match *t {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                _ => false,
            });
            if !ok {
                return Err(format!("{at}: {value} is not of type {types:?}"));
            }
        }
        if schema.get("format").and_then(Value::as_str) == Some("date-time") {
            if let Some(s) = value.as_str() {
                if !(s.len() >= 20 && s.as_bytes()[10] == b'T' && s.ends_with('Z')) {
                    return Err(format!("{at}: {s:?} is not an RFC 3339 UTC date-time"));
                }
            }
        }
        if let (Some(obj), Some(props)) =
            (value.as_object(), schema.get("properties").and_then(Value::as_object))
        {
            for key in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                let key = key.as_str().unwrap();
                if !obj.contains_key(key) {
                    return Err(format!("{at}: required property {key:?} missing in {value}"));
                }
            }
            for (key, v) in obj {
                let prop = props.get(key).ok_or_else(|| format!("{at}: undocumented property {key:?}"))?;
                self.validate(prop, v, &format!("{at}.{key}"))?;
            }
        }
        if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                self.validate(schema, item, &format!("{at}[{i}]"))?;
            }
        }
        Ok(())
    }

    /// For allOf/anyOf branches, which may state only part of an object (e.g. `required`):
    /// undocumented-property strictness applies to the branch that declares the properties.
    fn validate_loose(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        if schema.get("properties").is_none() {
            if let (Some(obj), Some(required)) =
                (value.as_object(), schema.get("required").and_then(Value::as_array))
            {
                if let Some(key) = required.iter().filter_map(Value::as_str).find(|k| !obj.contains_key(*k)) {
                    return Err(format!("{at}: required property {key:?} missing"));
                }
            }
        }
        self.validate(schema, value, at)
    }

    fn operation(&self, method: &str, template: &str) -> &Value {
        self.doc["paths"][template]
            .get(method.to_lowercase())
            .unwrap_or_else(|| panic!("{method} {template} is not in the document"))
    }

    /// Checks one real answer against the document and returns its body (JSON, or a string for
    /// other media types).
    async fn check(&self, method: &str, template: &str, resp: reqwest::Response) -> (u16, Value) {
        let status = resp.status().as_u16();
        let what = format!("{method} {template} -> {status}");
        let declared = self.operation(method, template)["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| panic!("{what}: status not documented"));
        let declared = self.resolve(declared);
        let headers = resp.headers().clone();
        if status == 401 {
            assert!(declared["headers"].get("WWW-Authenticate").is_some(), "{what}: header not documented");
            assert_eq!(headers["www-authenticate"], "Bearer", "{what}");
        }
        let ctype = headers.get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let media = ctype.split(';').next().unwrap().trim().to_string();
        let content = declared["content"]
            .get(&media)
            .unwrap_or_else(|| panic!("{what}: media type {ctype:?} not documented"));
        let text = resp.text().await.unwrap();
        if media != "application/json" {
            return (status, Value::String(text));
        }
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
        if let Some(schema) = content.get("schema") {
            if let Err(e) = self.validate(schema, &body, "body") {
                panic!("{what}: {e}");
            }
        }
        (status, body)
    }

    /// `check`, and the status must be `expected`.
    async fn expect(&self, method: &str, template: &str, resp: reqwest::Response, expected: u16) -> Value {
        let (status, body) = self.check(method, template, resp).await;
        assert_eq!(status, expected, "{method} {template}: {body}");
        body
    }
}

async fn contract(server: &TestServer) -> Contract {
    Contract { doc: fetch_document(server).await }
}

async fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    // Methods are case-sensitive on the wire; the document spells them in lowercase.
    let mut req = server.http.request(method.to_uppercase().parse().unwrap(), server.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

fn credentials(name: &str) -> Value {
    json!({ "username": name, "email": format!("{name}@example.com"), "password": PASSWORD })
}

// ---------------------------------------------------------------------------------------------
// The document

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_is_openapi_3_and_lists_every_rest_route() {
    let server = common::start().await;
    let doc = fetch_document(&server).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "chatterbox");
    assert!(doc["info"]["version"].is_string());

    let listed: BTreeMap<&str, Vec<&str>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| (path.as_str(), item.as_object().unwrap().keys().map(String::as_str).collect()))
        .collect();
    let expected: BTreeMap<&str, Vec<&str>> =
        ROUTES.iter().map(|(path, methods)| (*path, methods.to_vec())).collect();
    let mut listed_sorted = listed.clone();
    listed_sorted.values_mut().for_each(|m| m.sort());
    let mut expected_sorted = expected.clone();
    expected_sorted.values_mut().for_each(|m| m.sort());
    assert_eq!(listed_sorted, expected_sorted);

    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!((scheme["type"].as_str(), scheme["scheme"].as_str()), (Some("http"), Some("bearer")));
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], json!(["detail"]));
    assert!(error["properties"]["field"].is_object());

    let mut operation_ids = Vec::new();
    for (path, methods) in ROUTES {
        for method in *methods {
            let op = &doc["paths"][path][method];
            let what = format!("{method} {path}");
            operation_ids
                .push(op["operationId"].as_str().unwrap_or_else(|| panic!("{what}: no operationId")));
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{what}: no summary");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{what}: no success answer");
            // Every error answer uses the one error shape.
            for (status, response) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
                let response = match response.get("$ref").and_then(Value::as_str) {
                    Some(r) => doc.pointer(r.strip_prefix('#').unwrap()).unwrap(),
                    None => response,
                };
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{what} {status}");
            }
            let security = op.get("security");
            if PUBLIC.contains(path) {
                assert!(security.is_none(), "{what} needs no token");
            } else {
                assert_eq!(security, Some(&json!([{ "bearer": [] }])), "{what}");
                assert!(responses.contains_key("401") && responses.contains_key("403"), "{what}");
            }
            let compat = op["tags"].as_array().unwrap().contains(&json!("compatibility"));
            assert_eq!(compat, COMPATIBILITY.contains(path), "{what}");
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "422"] {
                    assert!(responses.contains_key(status), "{what}: a body can be refused with {status}");
                }
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().unwrap();
                match param["in"].as_str().unwrap() {
                    "path" => {
                        assert!(["id", "username", "term"].contains(&name), "{what}: {name}");
                        assert_eq!(param["required"], json!(true), "{what}");
                    }
                    "query" => {
                        assert!(
                            [
                                "before", "after", "limit", "blocked", "room", "q", "from", "action", "user",
                                "status"
                            ]
                            .contains(&name),
                            "{what}: {name}"
                        )
                    }
                    other => panic!("{what}: parameter in {other}"),
                }
            }
        }
    }
    operation_ids.sort();
    let count = operation_ids.len();
    operation_ids.dedup();
    assert_eq!(operation_ids.len(), count, "operation ids are unique");

    let csv = &doc["paths"]["/admin/download/users"]["get"]["responses"]["200"]["content"];
    assert!(csv.get("text/csv").is_some(), "{csv}");
    let register = &doc["components"]["schemas"]["RegisterBody"];
    assert_eq!(register["required"], json!(["username", "email", "password"]));
    server.stop().await;
}

/// The other direction of the explicit list: every documented operation is served (neither 404
/// nor 405 for an admin), and the methods a path does not document are refused with 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_serves_exactly_the_documented_operations() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let target = server.register("target").await;
    // Message routes name a message of the admin's: one for the message, one for reactions
    // (the first is deleted on the way).
    let (mut ws, _) = server.connect(&admin.token, None).await;
    let message = ws.send_acked("one").await["id"].to_string();
    let reacted = ws.send_acked("two").await["id"].to_string();
    for (path, methods) in ROUTES {
        // Room routes name `general` (id 1), which always exists.
        let id = match *path {
            p if p.contains("rooms/") => "1".to_string(),
            "/messages/{id}" => message.clone(),
            "/messages/{id}/reactions" => reacted.clone(),
            _ => target.id.to_string(),
        };
        // A term of the seeded default list (deleted on the way).
        let url = path.replace("{id}", &id).replace("{username}", "target").replace("{term}", "idiot");
        for method in ["get", "post", "put", "patch", "delete"] {
            let body = match *path {
                "/register" | "/auth/register" => Some(credentials(&format!("user{}", path.len()))),
                "/login" | "/auth/login" | "/admin/login" => {
                    Some(json!({ "username": "root", "password": PASSWORD }))
                }
                "/messages/{id}" => Some(json!({ "text": "edited" })),
                "/messages/{id}/reactions" => Some(json!({ "emoji": "👍" })),
                _ => None,
            };
            let status = send(&server, method, &url, Some(&admin.token), body).await.status().as_u16();
            if methods.contains(&method) {
                assert!(![404, 405].contains(&status), "{method} {path} is documented but answered {status}");
            } else {
                assert_eq!(status, 405, "{method} {path} is not documented");
            }
        }
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Real answers, one test per route family

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_answers_conform() {
    let server = common::start().await;
    let c = contract(&server).await;

    let body = c
        .expect(
            "POST",
            "/register",
            send(&server, "POST", "/register", None, Some(credentials("alice"))).await,
            201,
        )
        .await;
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["is_admin"], false);
    assert!(
        body["user"]["id"].as_i64().is_some() && body["access_token"].as_str().is_some_and(|t| !t.is_empty())
    );
    let token = body["access_token"].as_str().unwrap().to_string();

    let taken = c
        .expect(
            "POST",
            "/register",
            send(&server, "POST", "/register", None, Some(credentials("alice"))).await,
            409,
        )
        .await;
    assert_eq!(taken["field"], "username");
    let mut bad = credentials("bob");
    bad["email"] = json!("bob@localhost");
    let invalid =
        c.expect("POST", "/register", send(&server, "POST", "/register", None, Some(bad)).await, 422).await;
    assert_eq!(invalid["field"], "email");
    let malformed = server.http.post(server.url("/register")).body("{not json").send().await.unwrap();
    c.expect("POST", "/register", malformed, 400).await;
    let huge = server.http.post(server.url("/register")).body(vec![b' '; 70 * 1024]).send().await.unwrap();
    c.expect("POST", "/register", huge, 413).await;

    let login = json!({ "username": "alice", "password": PASSWORD });
    let body =
        c.expect("POST", "/login", send(&server, "POST", "/login", None, Some(login)).await, 200).await;
    assert_eq!(body["user"]["username"], "alice");
    let by_email = json!({ "email": "alice@example.com", "password": PASSWORD });
    c.expect("POST", "/login", send(&server, "POST", "/login", None, Some(by_email)).await, 200).await;
    let wrong = json!({ "username": "alice", "password": "not the password" });
    c.expect("POST", "/login", send(&server, "POST", "/login", None, Some(wrong)).await, 401).await;
    let nameless = json!({ "password": PASSWORD });
    let body =
        c.expect("POST", "/login", send(&server, "POST", "/login", None, Some(nameless)).await, 422).await;
    assert_eq!(body["field"], "username");

    let me = c.expect("GET", "/me", server.get("/me", Some(&token)).await, 200).await;
    assert_eq!((me["username"].as_str(), me["warning_limit"].as_i64()), (Some("alice"), Some(3)));
    c.expect("GET", "/me", server.get("/me", None).await, 401).await;
    c.expect("GET", "/me", server.get("/me", Some("not-a-token")).await, 401).await;

    // Compatibility: 200 on success, 400 (with the field) when taken.
    let body = c
        .expect(
            "POST",
            "/auth/register",
            send(&server, "POST", "/auth/register", None, Some(credentials("carol"))).await,
            200,
        )
        .await;
    assert_eq!(body["user"]["username"], "carol");
    let taken = c
        .expect(
            "POST",
            "/auth/register",
            send(&server, "POST", "/auth/register", None, Some(credentials("carol"))).await,
            400,
        )
        .await;
    assert_eq!(taken["field"], "username");
    let old_login = json!({ "email": "carol@example.com", "password": PASSWORD });
    c.expect("POST", "/auth/login", send(&server, "POST", "/auth/login", None, Some(old_login)).await, 200)
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_history_answers_conform() {
    let server = common::start().await;
    let c = contract(&server).await;
    let alice = server.register("alice").await;
    let (mut ws, _) = server.connect(&alice.token, None).await;
    for text in ["one", "two", "three"] {
        ws.send_acked(text).await;
    }

    for route in ["/messages", "/chat/messages"] {
        let all = c.expect("GET", route, server.get(route, Some(&alice.token)).await, 200).await;
        let texts: Vec<&str> = all.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
        let before = all[2]["id"].as_i64().unwrap();
        let page = c
            .expect(
                "GET",
                route,
                server.get(&format!("{route}?before={before}&limit=1"), Some(&alice.token)).await,
                200,
            )
            .await;
        assert_eq!(page[0]["text"], "two");
        // Documented with allowEmptyValue: an empty value counts as absent.
        let empty = c
            .expect(
                "GET",
                route,
                server.get(&format!("{route}?before=&limit="), Some(&alice.token)).await,
                200,
            )
            .await;
        assert_eq!(empty.as_array().unwrap().len(), 3);
        c.expect("GET", route, server.get(&format!("{route}?limit=0"), Some(&alice.token)).await, 400).await;
        c.expect("GET", route, server.get(&format!("{route}?before=x"), Some(&alice.token)).await, 400).await;
        c.expect("GET", route, server.get(route, None).await, 401).await;
    }
    let query = &c.operation("GET", "/messages")["parameters"];
    assert!(query.as_array().unwrap().iter().all(|p| p["allowEmptyValue"] == true), "{query}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_answers_conform() {
    let server = common::start().await;
    let c = contract(&server).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut ws, _) = server.connect(&alice.token, None).await;
    let id = ws.send_acked("first").await["id"].as_i64().unwrap();
    let path = format!("/messages/{id}");
    let t = "/messages/{id}";
    let react = format!("{path}/reactions");
    let r = "/messages/{id}/reactions";

    let got = c.expect("GET", t, send(&server, "get", &path, Some(&bob.token), None).await, 200).await;
    assert_eq!(got["text"], "first");
    let edited = c
        .expect(
            "PATCH",
            t,
            send(&server, "patch", &path, Some(&alice.token), Some(json!({ "text": "1st" }))).await,
            200,
        )
        .await;
    assert!(edited["edited_at"].is_string());
    c.expect(
        "PATCH",
        t,
        send(&server, "patch", &path, Some(&bob.token), Some(json!({ "text": "x" }))).await,
        403,
    )
    .await;
    c.expect(
        "PATCH",
        t,
        send(&server, "patch", &path, Some(&alice.token), Some(json!({ "text": "" }))).await,
        422,
    )
    .await;
    c.expect(
        "PATCH",
        t,
        send(&server, "patch", &path, Some(&alice.token), Some(json!({ "txt": "x" }))).await,
        422,
    )
    .await;
    c.expect("PATCH", t, send(&server, "patch", &path, None, Some(json!({ "text": "x" }))).await, 401).await;
    let toggled = c
        .expect(
            "POST",
            r,
            send(&server, "post", &react, Some(&bob.token), Some(json!({ "emoji": "👍" }))).await,
            200,
        )
        .await;
    assert_eq!(toggled["reactions"][0]["count"], 1);
    c.expect(
        "POST",
        r,
        send(&server, "post", &react, Some(&bob.token), Some(json!({ "emoji": "no" }))).await,
        422,
    )
    .await;
    c.expect("DELETE", t, send(&server, "delete", &path, Some(&bob.token), None).await, 403).await;
    let deleted =
        c.expect("DELETE", t, send(&server, "delete", &path, Some(&alice.token), None).await, 200).await;
    assert_eq!(deleted["deleted"], true);
    c.expect("GET", t, send(&server, "get", &path, Some(&alice.token), None).await, 404).await;
    c.expect("DELETE", t, send(&server, "delete", &path, Some(&alice.token), None).await, 404).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_answers_conform() {
    let server = common::start().await;
    let c = contract(&server).await;
    let alice = server.register("alice").await;
    let (mut ws, _) = server.connect(&alice.token, None).await;
    for text in ["deploy <b>now</b>", "deployed", "lunch"] {
        ws.send_acked(text).await;
    }
    let get = |query: &str| {
        let path = format!("/search?{query}");
        let token = alice.token.clone();
        let server = &server;
        async move { server.get(&path, Some(&token)).await }
    };
    let page = c.expect("GET", "/search", get("q=deploy&limit=1").await, 200).await;
    assert_eq!(page["results"][0]["highlight"], "<mark>deploy</mark>ed");
    let next = page["next"].as_i64().unwrap();
    let last =
        c.expect("GET", "/search", get(&format!("q=deploy&before={next}&after=&room=")).await, 200).await;
    assert_eq!(last["results"][0]["highlight"], "<mark>deploy</mark> &lt;b&gt;now&lt;/b&gt;");
    assert_eq!(last["next"], Value::Null);
    c.expect("GET", "/search", get("q=%20").await, 400).await;
    c.expect("GET", "/search", get("q=x&before=2026-02-30").await, 400).await;
    c.expect("GET", "/search", get("q=x&room=999").await, 404).await;
    c.expect("GET", "/search", get("q=x&from=nobody").await, 404).await;
    c.expect("GET", "/search", server.get("/search?q=x", None).await, 401).await;
    server.stop().await;
}

async fn admin_call(
    server: &TestServer,
    c: &Contract,
    method: &str,
    template: &str,
    id: i64,
    who: &Account,
    expected: u16,
) -> Value {
    let path = template.replace("{id}", &id.to_string());
    c.expect(method, template, send(server, method, &path, Some(&who.token), None).await, expected).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_answers_conform() {
    let server = common::start().await;
    let c = contract(&server).await;
    let root = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let (mut ws, _) = server.connect(&alice.token, None).await;
    ws.send_acked("hello").await;
    ws.send_text("you idiot").await;
    assert_eq!(ws.next_non_presence().await.unwrap()["type"], "warning");

    for route in [
        "/admin/stats",
        "/admin/users",
        "/admin/users?blocked=true",
        "/admin/messages",
        "/admin/violations",
        "/admin/deletions",
        "/admin/dashboard",
        "/admin/blocked-users",
    ] {
        let template = route.split('?').next().unwrap();
        c.expect("GET", template, server.get(route, Some(&root.token)).await, 200).await;
        c.expect("GET", template, server.get(route, Some(&alice.token)).await, 403).await;
        c.expect("GET", template, server.get(route, None).await, 401).await;
    }
    let stats =
        c.expect("GET", "/admin/stats", server.get("/admin/stats", Some(&root.token)).await, 200).await;
    assert_eq!((stats["users"].as_i64(), stats["messages_today"].as_i64()), (Some(2), Some(1)));
    c.expect("GET", "/admin/users", server.get("/admin/users?blocked=maybe", Some(&root.token)).await, 400)
        .await;

    let user = admin_call(&server, &c, "POST", "/admin/users/{id}/block", alice.id, &root, 200).await;
    assert_eq!(user["is_blocked"], true);
    // The original's admin page's views, with a message and a blocked account in them.
    let dash = admin_call(&server, &c, "GET", "/admin/dashboard", 0, &root, 200).await;
    assert_eq!(
        (dash["messages"][0]["message"].as_str(), dash["blocked_users"].as_i64()),
        (Some("hello"), Some(1))
    );
    let blocked = admin_call(&server, &c, "GET", "/admin/blocked-users", 0, &root, 200).await;
    assert_eq!(blocked[0]["username"], "alice");
    let root_login = json!({ "email": "root@example.com", "password": PASSWORD });
    c.expect(
        "POST",
        "/admin/login",
        send(&server, "POST", "/admin/login", None, Some(root_login)).await,
        200,
    )
    .await;
    let not_admin = json!({ "email": "alice@example.com", "password": PASSWORD });
    c.expect("POST", "/admin/login", send(&server, "POST", "/admin/login", None, Some(not_admin)).await, 403)
        .await;
    let wrong = json!({ "email": "root@example.com", "password": "not the password" });
    c.expect("POST", "/admin/login", send(&server, "POST", "/admin/login", None, Some(wrong)).await, 401)
        .await;
    c.expect("POST", "/admin/login", send(&server, "POST", "/admin/login", None, Some(json!({}))).await, 422)
        .await;
    let user = admin_call(&server, &c, "POST", "/admin/users/{id}/unblock", alice.id, &root, 200).await;
    assert_eq!(user["is_blocked"], false);
    let user = admin_call(&server, &c, "POST", "/admin/users/{id}/admin", alice.id, &root, 200).await;
    assert_eq!(user["is_admin"], true);
    let user = admin_call(&server, &c, "DELETE", "/admin/users/{id}/admin", alice.id, &root, 200).await;
    assert_eq!(user["is_admin"], false);
    // Acting on oneself is refused (the dashboard refuses it too), and so is an unknown account.
    admin_call(&server, &c, "DELETE", "/admin/users/{id}/admin", root.id, &root, 409).await;
    admin_call(&server, &c, "POST", "/admin/users/{id}/block", root.id, &root, 409).await;
    admin_call(&server, &c, "POST", "/admin/users/{id}/block", 9999, &root, 404).await;
    c.expect("GET", "/admin/stats", server.get("/admin/stats", Some(&root.token)).await, 200).await;

    // The audit log now holds a moderation warning (text and term set) and admin entries (null),
    // after the seeding of the term list (no account: user_id and username null).
    let log = c
        .expect("GET", "/admin/violations", server.get("/admin/violations", Some(&root.token)).await, 200)
        .await;
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|v| v["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["unblock", "block", "warning", "terms"]);
    assert_eq!((log[2]["term"].as_str(), log[0]["term"].as_null()), (Some("idiot"), Some(())));

    for (route, filename) in
        [("/admin/download/users", "users.csv"), ("/admin/download/messages", "messages.csv")]
    {
        let resp = server.get(route, Some(&root.token)).await;
        let disposition = resp.headers()["content-disposition"].to_str().unwrap().to_string();
        assert_eq!(disposition, format!("attachment; filename={filename}"));
        let csv = c.expect("GET", route, resp, 200).await;
        assert!(csv.as_str().unwrap().starts_with("id,"), "{csv}");
        c.expect("GET", route, server.get(route, Some(&alice.token)).await, 403).await;
    }

    // The live term lists.
    let terms =
        c.expect("GET", "/admin/terms", server.get("/admin/terms", Some(&root.token)).await, 200).await;
    assert_eq!(terms[0]["list"], "block");
    c.expect("GET", "/admin/terms", server.get("/admin/terms", Some(&alice.token)).await, 403).await;
    c.expect("GET", "/admin/terms", server.get("/admin/terms", None).await, 401).await;
    for (body, status) in [
        (json!({ "term": "bazinga" }), 200),
        (json!({ "term": "shitterton", "list": "allow" }), 200),
        (json!({ "term": "" }), 422),
        (json!({ "list": "block" }), 422),
    ] {
        let resp = send(&server, "POST", "/admin/terms", Some(&root.token), Some(body)).await;
        c.expect("POST", "/admin/terms", resp, status).await;
    }
    let resp = send(&server, "POST", "/admin/terms", Some(&alice.token), Some(json!({ "term": "x" }))).await;
    c.expect("POST", "/admin/terms", resp, 403).await;
    for (term, status) in [("bazinga", 200), ("bazinga", 404), ("shitter%74on", 200)] {
        let resp = send(&server, "DELETE", &format!("/admin/terms/{term}"), Some(&root.token), None).await;
        c.expect("DELETE", "/admin/terms/{term}", resp, status).await;
    }
    let resp = send(&server, "DELETE", "/admin/terms/idiot", Some(&alice.token), None).await;
    c.expect("DELETE", "/admin/terms/{term}", resp, 403).await;

    // A wrong method names the right ones.
    let resp = send(&server, "PUT", "/admin/terms", Some(&root.token), None).await;
    assert_eq!((resp.status().as_u16(), resp.headers()["allow"].to_str().unwrap()), (405, "GET, POST"));
    let resp =
        send(&server, "PUT", &format!("/admin/users/{}/admin", alice.id), Some(&root.token), None).await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST, DELETE");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_answers_conform() {
    let server = common::start().await;
    let c = contract(&server).await;
    let health = c.expect("GET", "/healthz", server.get("/healthz", None).await, 200).await;
    assert_eq!(
        (&health["status"], &health["database"], &health["log"]["behind"]),
        (&json!("ok"), &json!("ok"), &json!(0))
    );
    c.expect("GET", "/openapi.json", server.get("/openapi.json", None).await, 200).await;
    let head = send(&server, "HEAD", "/openapi.json", None, None).await;
    assert_eq!(head.status(), 200);
    let post = send(&server, "POST", "/openapi.json", None, None).await;
    assert_eq!((post.status().as_u16(), post.headers()["allow"].to_str().unwrap()), (405, "GET, HEAD"));
    server.stop().await;
}

// The same tests with their servers on PostgreSQL (`common::postgres_too`).
common::postgres_too!(
    document_is_openapi_3_and_lists_every_rest_route,
    router_serves_exactly_the_documented_operations,
    account_answers_conform,
    chat_history_answers_conform,
    message_answers_conform,
    admin_answers_conform,
    meta_answers_conform,
    search_answers_conform,
);
