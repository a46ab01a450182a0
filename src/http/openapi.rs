//! The OpenAPI 3 document of the REST API, served at `GET /openapi.json`.
//!
//! It is assembled by `utoipa` from the `#[utoipa::path]` annotations on the handlers in
//! `account.rs`, `admin.rs` and `original.rs` and from the response structs those handlers
//! serialize, so the published contract changes together with the code. Only three kinds of
//! operation are described here instead of on a handler: `/healthz` (its handler lives in
//! `mod.rs`), the compatibility routes that share the handlers of their modern twins but answer a
//! little differently, and this document itself. The WebSocket and the static pages are not REST
//! and are left out; README describes the WebSocket protocol.

use std::sync::OnceLock;

use bytes::Bytes;
use hyper::{header, Method};
use serde::Serialize;
use utoipa::{
    openapi::{
        schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        RefOr, Schema,
    },
    Modify, OpenApi, ToResponse, ToSchema,
};

use super::{
    account::{LoginBody, RegisterBody, TokenResponse},
    body::{full, Response},
    error::ApiError,
};

/// Every error: a sentence for people, and for a form error the field to highlight.
// `error.rs` builds this shape with `json!`; `tests/openapi.rs` checks real error answers against it.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A human-readable sentence.
    #[schema(example = "Invalid username or password")]
    detail: String,
    /// The form field at fault (validation and conflict errors only).
    #[schema(nullable = false)]
    field: Option<ErrorField>,
    /// A blocked account's refused sign-in (with the right password) only: what it may do
    /// about the block.
    #[schema(nullable = false)]
    appeal: Option<super::account::AppealState>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Describes what error.rs sends.
pub enum ErrorField {
    Username,
    Email,
    Password,
    Reason,
    Name,
    Topic,
    Usernames,
    Level,
    /// A message's text (an edit).
    Text,
    /// A reaction.
    Emoji,
    /// A report's message.
    Message,
    /// A report's decision.
    Action,
    /// A mute's length.
    Duration,
    /// A handler's note.
    Note,
    /// A report already handled.
    Report,
    /// An appeal's answer.
    Decision,
    /// A mute's duration.
    For,
    /// Room moderation: the member concerned, and slow mode.
    User,
    #[serde(rename = "slow_mode_secs")]
    SlowModeSecs,
    /// A moderation term.
    Term,
}

/// Malformed: the body is not JSON or could not be read, or a query parameter is not valid.
#[derive(ToResponse)]
#[allow(dead_code)] // Describes an answer; error.rs builds the body.
pub struct BadRequest(ErrorBody);

/// A missing, invalid or expired bearer token (for a login: a wrong username or password).
#[derive(ToResponse)]
#[response(headers(("WWW-Authenticate" = String, description = "`Bearer`")))]
#[allow(dead_code)]
pub struct Unauthorized(ErrorBody);

/// The account is blocked (a sign-in's answer then carries `appeal`), or the route needs the
/// admin role.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Forbidden(ErrorBody);

/// No account with this id.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct NotFound(ErrorBody);

/// The request body did not arrive in time.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct RequestTimeout(ErrorBody);

/// Taken (`field` says which), or an admin acting on their own account.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Conflict(ErrorBody);

/// The request body is larger than the server accepts (64 KiB by default).
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct PayloadTooLarge(ErrorBody);

/// A field failed validation (`field` names it), or the JSON has the wrong shape.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Unprocessable(ErrorBody);

/// Too many logins or registrations from this address or for this account.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait")))]
#[allow(dead_code)]
pub struct TooManyRequests(ErrorBody);

/// The database is busy, full or read-only, or the server is shutting down.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait, when known")))]
#[allow(dead_code)]
pub struct Unavailable(ErrorBody);

/// The answer of `/healthz`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // Describes what `health` in mod.rs sends.
pub struct Health {
    status: HealthStatus,
    /// Always `ok` in a 200 answer.
    database: String,
    log: HealthLog,
}

/// This instance's progress through the committed log (messages and changes of every
/// instance).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct HealthLog {
    /// The last log position delivered to this instance's sockets.
    delivered: i64,
    /// Committed entries not delivered here yet: the tailer's lag, normally 0 or a few.
    behind: i64,
    /// Milliseconds since the tailer last read the log (it polls every 250 ms).
    read_ms_ago: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Describes what `health` in mod.rs sends.
pub enum HealthStatus {
    Ok,
}

/// Liveness for load balancers: 200 when the database answers, saving messages works and the
/// log tailer keeps up; 503 when the database does not answer, saving messages failed in the
/// last 10 s with none saved since (a full or read-only disk), or the tailer has not read the
/// log for 10 s (this instance's clients would hear nothing new). `HEAD` works too.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses(
        (status = 200, description = "The server and its database answer", body = Health),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)] // Describes `health` in mod.rs, which this file may not annotate.
fn healthz() {}

/// This document. `HEAD` works too.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub fn serve(method: &Method) -> Result<Response, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::method_not_allowed("GET, HEAD"));
    }
    // Built once: the document is fixed for the life of the binary.
    static DOC: OnceLock<Bytes> = OnceLock::new();
    let doc = DOC.get_or_init(|| Bytes::from(document())).clone();
    let mut resp = hyper::Response::new(full(doc));
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    Ok(resp)
}

fn document() -> Vec<u8> {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    // Every query parameter is read by `query_param` in mod.rs, where `?limit=` means no limit
    // given. OpenAPI's word for that is `allowEmptyValue`, a field utoipa does not model.
    let operations = doc["paths"].as_object_mut().into_iter().flat_map(|paths| paths.values_mut());
    for operation in operations.filter_map(|item| item.as_object_mut()).flat_map(|item| item.values_mut()) {
        let parameters = operation.get_mut("parameters").and_then(|p| p.as_array_mut());
        for parameter in parameters.into_iter().flatten() {
            if parameter["in"] == "query" {
                parameter["allowEmptyValue"] = true.into();
            }
        }
    }
    serde_json::to_vec(&doc).unwrap_or_default()
}

// The original implementation's routes, kept for its clients. They run the same handlers as
// their modern twins, so only the differences need care: `/auth/register` answers 200 and turns a
// taken name or address into 400.

/// Compatibility: `POST /register` as the original answered it (200; 400 when taken).
#[utoipa::path(post, path = "/auth/register", tag = "compatibility",
    request_body = RegisterBody,
    responses(
        (status = 200, description = "The account was created; the token signs it in", body = TokenResponse),
        (status = 400, description = "Malformed, or the username or e-mail address is taken (`field` says which)",
            body = ErrorBody),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)]
fn compat_register() {}

/// Compatibility: `POST /login` (the original sent `{email, password}`).
#[utoipa::path(post, path = "/auth/login", tag = "compatibility",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)]
fn compat_login() {}

#[derive(OpenApi)]
#[openapi(
    info(description = "The REST API of chatterbox. Errors are JSON `{\"detail\": \"...\"}`, plus `\"field\"` \
        for a form error. Authenticated routes take `Authorization: Bearer <token>` from `/register` or \
        `/login`; every request re-reads the account, so a block or a revoked admin role applies at once. \
        The chat itself runs over the WebSocket `/ws?token=...`, described in README, not here."),
    paths(
        super::account::register,
        super::account::login,
        super::account::me,
        super::account::history,
        super::rooms::list,
        super::rooms::directory,
        super::rooms::create,
        super::rooms::details,
        super::rooms::history,
        super::rooms::join,
        super::rooms::leave,
        super::rooms::add_member,
        super::rooms::remove_member,
        super::rooms::open_dm,
        super::rooms::read,
        super::rooms::notify,
        super::rooms::search_users,
        super::roommod::name_moderator,
        super::roommod::unname_moderator,
        super::roommod::mute,
        super::roommod::unmute,
        super::roommod::settings,
        super::messages::get,
        super::messages::edit,
        super::messages::delete,
        super::messages::react,
        super::admin::deletions,
        super::reports::report,
        super::reports::mine,
        super::reports::admin_queue,
        super::reports::admin_decide,
        super::reports::moderation_queue,
        super::reports::moderation_decide,
        super::appeals::file,
        super::appeals::list,
        super::appeals::answer,
        super::search::search,
        super::admin::stats,
        super::admin::users,
        super::admin::messages,
        super::admin::violations,
        super::admin::rooms,
        super::admin::archive,
        super::admin::unarchive,
        super::admin::block,
        super::admin::unblock,
        super::admin::mute,
        super::admin::unmute,
        super::admin::grant_admin,
        super::admin::revoke_admin,
        super::admin::download_users,
        super::admin::download_messages,
        super::terms::list,
        super::terms::add,
        super::terms::remove,
        healthz,
        serve,
        compat_register,
        compat_login,
        super::original::history,
        super::original::admin_login,
        super::original::dashboard,
        super::original::blocked_users,
    ),
    components(
        schemas(ErrorBody),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            RequestTimeout,
            Conflict,
            PayloadTooLarge,
            Unprocessable,
            TooManyRequests,
            Unavailable,
        )
    ),
    modifiers(&BearerScheme, &LoginNeedsAName),
    tags(
        (name = "accounts", description = "Registration, login and the signed-in account"),
        (name = "chat", description = "Chat history (live chat is the WebSocket, see README)"),
        (name = "rooms", description = "Conversations: public rooms, private rooms and direct messages"),
        (name = "messages", description = "One message: read, edit, delete, react"),
        (name = "admin", description = "Administration; every route needs an admin's token"),
        (name = "moderation", description = "Reports of messages, their handling, and appeals of blocks"),
        (name = "meta", description = "Health and this document"),
        (name = "compatibility", description = "Routes of the original implementation, kept for its clients"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("The `access_token` of `/register` or `/login`"))
            .build();
        api.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// `LoginBody` needs `username` or `email`; a derive can only mark fields required one by one.
struct LoginNeedsAName;

impl Modify for LoginNeedsAName {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let Some(schemas) = api.components.as_mut().map(|c| &mut c.schemas) else { return };
        let Some(derived) = schemas.remove("LoginBody") else { return };
        let one_of_the_names = AnyOfBuilder::new()
            .item(ObjectBuilder::new().required("username"))
            .item(ObjectBuilder::new().required("email"));
        let combined = AllOfBuilder::new().item(derived).item(one_of_the_names).build();
        schemas.insert("LoginBody".to_string(), RefOr::T(Schema::AllOf(combined)));
    }
}
