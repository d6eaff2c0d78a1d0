//! Sentry's embeddable crash-report dialog, `/api/embed/error-page/`: what the browser SDKs'
//! `Sentry.showReportDialog({eventId})` loads into the application's page to ask the user
//! what happened.
//!
//! * `GET /api/embed/error-page/?dsn=DSN&eventId=ID[&name=&email=&title=&subtitle=&subtitle2=
//!   &labelName=&labelEmail=&labelComments=&labelClose=&labelSubmit=&successMessage=
//!   &errorGeneric=]` answers a script (`web/embed/report-dialog.js` with its configuration)
//!   that shows the dialog; the SDK loads it with `crossorigin="anonymous"`, so the answer
//!   allows any origin. Option names are the SDK's (`ReportDialogOptions`).
//! * `POST` to the same URL, form-encoded `name`, `email`, `comments`, stores the report as
//!   a `user_report` would be (`store/feedback.rs`): linked to the event's issue, a second
//!   report for the event replacing the first. `{}` on success; 400 `{"detail"}` when a
//!   field is missing or the e-mail is not one.
//!
//! The DSN's public key must be an active key of its (active) project, as for ingestion:
//! 401/403 otherwise; a missing or malformed `dsn` or `eventId` is a 400. Forms are limited
//! to 64 KiB; fields are cut like `user_report` items'.

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use serde_json::{json, Map, Value};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::auth::authorize;
use super::items::feedback::{MAX_EMAIL_CHARS, MAX_MESSAGE_CHARS, MAX_NAME_CHARS};
use crate::error::ApiError;
use crate::protocol::dsn::Dsn;
use crate::protocol::EventId;
use crate::store::{FeedbackKind, NewFeedback};
use crate::AppState;

/// The dialog's code, wrapped with its configuration per request.
const DIALOG_JS: &str = include_str!("../../web/embed/report-dialog.js");

/// Largest form accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The texts of the dialog, by the SDK's option name, with Sentry's defaults.
const TEXTS: [(&str, &str); 10] = [
    ("title", "It looks like we're having issues."),
    ("subtitle", "Our team has been notified."),
    (
        "subtitle2",
        "If you'd like to help, tell us what happened below.",
    ),
    ("labelName", "Name"),
    ("labelEmail", "Email"),
    ("labelComments", "What happened?"),
    ("labelClose", "Close"),
    ("labelSubmit", "Submit Crash Report"),
    ("successMessage", "Your feedback has been sent. Thank you!"),
    (
        "errorGeneric",
        "An unknown error occurred while submitting your report. Please try again.",
    ),
];

/// The routes, with a CORS policy letting any page load the script and post the form.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/embed/error-page/", get(dialog).post(submit))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::any())
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers([header::CONTENT_TYPE]),
        )
}

/// The report the query names: its project and event, after the key is checked.
async fn target(app: &AppState, q: &HashMap<String, String>) -> Result<(i64, EventId), ApiError> {
    let dsn: Dsn = q
        .get("dsn")
        .ok_or_else(|| ApiError::bad_request("missing dsn"))?
        .parse()
        .map_err(|e: crate::protocol::dsn::ParseDsnError| ApiError::bad_request(e.to_string()))?;
    let event_id: EventId = q
        .get("eventId")
        .ok_or_else(|| ApiError::bad_request("missing eventId"))?
        .parse()
        .map_err(|e: crate::protocol::ParseEventIdError| ApiError::bad_request(e.to_string()))?;
    authorize(app, &dsn.public_key, dsn.project_id)
        .await
        .map_err(ApiError::from)?;
    Ok((dsn.project_id, event_id))
}

/// `GET`: the dialog script.
async fn dialog(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (_, event_id) = target(&app, &q).await?;
    let mut config = Map::new();
    for (key, default) in TEXTS {
        let text = q.get(key).map_or(default, String::as_str);
        config.insert(key.to_owned(), Value::from(text));
    }
    let url = format!(
        "{}/api/embed/error-page/?{}",
        app.config.base_url(),
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("dsn", q.get("dsn").map_or("", String::as_str))
            .append_pair("eventId", &event_id.simple())
            .finish()
    );
    config.insert("url".into(), Value::from(url));
    config.insert("eventId".into(), Value::from(event_id.simple()));
    for key in ["name", "email"] {
        config.insert(
            key.into(),
            Value::from(q.get(key).cloned().unwrap_or_default()),
        );
    }
    let script = format!(
        "(function (config) {{\n{DIALOG_JS}\n}})({});\n",
        Value::Object(config)
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        script,
    )
        .into_response())
}

/// `POST`: stores the report.
async fn submit(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let (project_id, event_id) = target(&app, &q).await?;
    let Form(form) = form.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let field = |key: &str, max: usize| {
        let v = form.get(key).map_or("", |s| s.trim());
        v.chars().take(max).collect::<String>()
    };
    let (name, email) = (
        field("name", MAX_NAME_CHARS),
        field("email", MAX_EMAIL_CHARS),
    );
    let comments = field("comments", MAX_MESSAGE_CHARS);
    let missing = [("name", &name), ("comments", &comments)]
        .into_iter()
        .find(|(_, v)| v.is_empty());
    if let Some((key, _)) = missing {
        return Err(ApiError::bad_request(format!("{key} is required")));
    }
    if !email.contains('@') {
        return Err(ApiError::bad_request("enter a valid e-mail address"));
    }
    app.store
        .save_feedback(&NewFeedback {
            project_id,
            report_id: event_id,
            kind: FeedbackKind::UserReport,
            event_id: Some(event_id),
            name,
            email,
            message: comments,
            url: None,
            created_ms: app.clock.now_ms(),
        })
        .await?;
    metrics::counter!("errata_feedback_received_total", "type" => "crash_report_dialog")
        .increment(1);
    Ok((StatusCode::OK, Json(json!({}))).into_response())
}
