//! The alert rule API.
//!
//! * `GET /api/v1/projects/{project_id}/alert-rules` → `{"rules": [<rule>…]}` (oldest
//!   first); `POST` the same path with a rule creates one (201 + the rule).
//! * `PATCH /api/v1/alert-rules/{id}` changes the fields it names (the others stay);
//!   `DELETE` removes the rule (204; notifications it sent stay).
//! * `POST /api/v1/alert-rules/{id}/test` ("send test") renders the rule's message for the
//!   project's latest issue and sends it to the rule's channels now.
//! * `GET|PUT|DELETE /api/v1/issues/{id}/mute` (a signed-in user, not a token): whether the
//!   calling user muted the issue, mute it, unmute it (`{"muted": bool}`). A muted issue
//!   sends that user no e-mail.
//! * `GET|PUT|DELETE /api/v1/projects/{id}/subscription` (a signed-in user): whether the
//!   calling user gets e-mail for the project, subscribe, unsubscribe (`{"subscribed":
//!   bool}`); rules with `email_subscribers` (the default rule) e-mail subscribers.
//!
//! A rule: `id`, `project_id`, `builtin` (`"default"`, `"spike"` or null), `name`,
//! `enabled`, `triggers`, `filters`, `actions`, `interval_minutes`, `date_created`,
//! `date_updated` (RFC 3339 UTC). The shapes of `triggers`, `filters` and `actions` are
//! those of [`crate::store::RuleSpec`] (README, "Alert rules"). Errors: 400 saying what is
//! wrong (unknown fields included), 403 without the admin permission (reading needs any
//! signed-in user or token), 404.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::principal::{Permission, Principal};
use crate::notify::{channel, Notifier, NotifyError};
use crate::store::{AlertRule, InvalidRule, RuleSpec};
use crate::timefmt::rfc3339_ms;
use crate::AppState;

/// Routes of the alert rule API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/projects/{project_id}/alert-rules",
            get(list).post(create),
        )
        .route(
            "/api/v1/alert-rules/{rule_id}",
            patch(update).delete(delete),
        )
        .route("/api/v1/alert-rules/{rule_id}/test", post(send_test))
        .route(
            "/api/v1/issues/{issue_id}/mute",
            get(muted)
                .put(|a, w, p| set_muted(a, w, p, true))
                .delete(|a, w, p| set_muted(a, w, p, false)),
        )
        .route(
            "/api/v1/projects/{project_id}/subscription",
            get(subscription)
                .put(|a, w, p| set_subscribed(a, w, p, true))
                .delete(|a, w, p| set_subscribed(a, w, p, false)),
        )
}

/// `GET /api/v1/projects/{id}/subscription` → `{"subscribed": bool}`: whether the calling
/// user gets e-mail for the project (from rules with `email_subscribers`).
async fn subscription(
    State(app): State<AppState>,
    who: Principal,
    Path(project_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let user = me(&who)?;
    app.store.project(project_id).await?;
    let subscribed = app
        .store
        .project_subscriptions(user)
        .await?
        .contains(&project_id);
    Ok(Json(json!({ "subscribed": subscribed })))
}

/// `PUT` (`on`) or `DELETE /api/v1/projects/{id}/subscription`: the calling user gets
/// e-mail for the project, or no more.
async fn set_subscribed(
    State(app): State<AppState>,
    who: Principal,
    Path(project_id): Path<i64>,
    on: bool,
) -> Result<Json<Value>, ApiError> {
    let user = me(&who)?;
    app.store
        .set_project_subscription(user, project_id, on, app.clock.now_ms())
        .await?;
    Ok(Json(json!({ "subscribed": on })))
}

/// The calling user's id; a token has no "me" (400).
fn me(who: &Principal) -> Result<i64, ApiError> {
    who.user().map(|u| u.id).ok_or_else(|| {
        ApiError::bad_request("this setting is per user: sign in, a token has no user")
    })
}

/// `GET /api/v1/issues/{id}/mute` → `{"muted": bool}` for the calling user.
async fn muted(
    State(app): State<AppState>,
    who: Principal,
    Path(issue_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let user = me(&who)?;
    app.store.issue(issue_id).await?;
    let muted = app.store.issue_muted(user, issue_id).await?;
    Ok(Json(json!({ "muted": muted })))
}

/// `PUT` (`on`) or `DELETE /api/v1/issues/{id}/mute`: the calling user gets no e-mail about
/// the issue, or e-mail again.
async fn set_muted(
    State(app): State<AppState>,
    who: Principal,
    Path(issue_id): Path<i64>,
    on: bool,
) -> Result<Json<Value>, ApiError> {
    let user = me(&who)?;
    app.store
        .set_issue_muted(user, issue_id, on, app.clock.now_ms())
        .await?;
    Ok(Json(json!({ "muted": on })))
}

/// The JSON shape of a rule.
pub fn rule_json(rule: &AlertRule) -> Value {
    let s = &rule.spec;
    json!({
        "id": rule.id,
        "project_id": rule.project_id,
        "builtin": rule.builtin,
        "name": s.name,
        "enabled": s.enabled,
        "triggers": s.triggers,
        "filters": s.filters,
        "actions": s.actions,
        "interval_minutes": s.interval_minutes,
        "date_created": rfc3339_ms(rule.created_ms),
        "date_updated": rfc3339_ms(rule.updated_ms),
    })
}

fn body_value(body: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    match body.map_err(|e| ApiError::bad_request(e.body_text()))? {
        Json(v @ Value::Object(_)) => Ok(v),
        Json(_) => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

fn spec_of(v: Value) -> Result<RuleSpec, ApiError> {
    RuleSpec::from_json(v).map_err(|e| ApiError::bad_request(e.0))
}

fn stored(r: Result<AlertRule, InvalidRule>) -> Result<AlertRule, ApiError> {
    r.map_err(|e| ApiError::bad_request(e.0))
}

async fn list(
    State(app): State<AppState>,
    _who: Principal,
    Path(project_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let rules = app.store.alert_rules(project_id).await?;
    let list: Vec<Value> = rules.iter().map(rule_json).collect();
    Ok(Json(json!({ "rules": list })))
}

async fn create(
    State(app): State<AppState>,
    who: Principal,
    Path(project_id): Path<i64>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    who.require(Permission::Project)?;
    let spec = spec_of(body_value(body)?)?;
    let rule = stored(
        app.store
            .create_alert_rule(project_id, &spec, app.clock.now_ms())
            .await?,
    )?;
    Ok((StatusCode::CREATED, Json(rule_json(&rule))).into_response())
}

async fn update(
    State(app): State<AppState>,
    who: Principal,
    Path(rule_id): Path<i64>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Project)?;
    let changes = body_value(body)?;
    let rule = app.store.alert_rule(rule_id).await?;
    // The stored rule with the named fields replaced; unknown fields fail in `spec_of`.
    let mut merged = serde_json::to_value(&rule.spec).unwrap_or_default();
    if let (Value::Object(target), Value::Object(fields)) = (&mut merged, changes) {
        target.extend(fields);
    }
    let spec = spec_of(merged)?;
    let rule = stored(
        app.store
            .update_alert_rule(rule_id, &spec, app.clock.now_ms())
            .await?,
    )?;
    Ok(Json(rule_json(&rule)))
}

/// `POST /api/v1/alert-rules/{id}/test`: the rule's message for the project's latest issue,
/// sent to the rule's channels now → `{"results": [{"channel_id", "kind", "target"
/// (redacted), "ok", "detail", "latency_ms"}]}`; 409 when the project has no issue yet.
async fn send_test(
    State(app): State<AppState>,
    who: Principal,
    Path(rule_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Project)?;
    let rule = app.store.alert_rule(rule_id).await?;
    let notifier = Notifier::new(app.store.clone(), &app.config)
        .map_err(|e| ApiError::with_status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let results = match notifier.test_rule(&rule).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(ApiError::with_status(
                StatusCode::CONFLICT,
                "the project has no unignored issue to show yet",
            ))
        }
        Err(NotifyError::Store(e)) => return Err(e.into()),
        Err(e) => {
            return Err(ApiError::with_status(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ))
        }
    };
    let list: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "channel_id": r.channel.id,
                "kind": r.channel.kind.as_str(),
                "target": channel::redact(&r.channel),
                "ok": r.result.is_ok(),
                "detail": match &r.result {
                    Ok(reply) => reply.clone(),
                    Err(e) => e.to_string(),
                },
                "latency_ms": r.latency_ms,
            })
        })
        .collect();
    Ok(Json(json!({ "results": list })))
}

async fn delete(
    State(app): State<AppState>,
    who: Principal,
    Path(rule_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::Project)?;
    app.store.delete_alert_rule(rule_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
