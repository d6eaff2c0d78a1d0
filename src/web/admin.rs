//! Admin pages: users (list, create) and the notification delivery log (per channel:
//! delivery counts, health, recent attempts with status and latency).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::Value as Tpl;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{hash_password_off_thread, CurrentUser};
use super::issues::ago;
use super::projects::redact_target;
use super::{WebError, WebState};
use crate::store::StoreError;
use crate::timefmt::{now_ms, rfc3339_ms};

/// Attempts listed per channel on the delivery log.
pub const ATTEMPTS_PER_CHANNEL: usize = 20;

fn me(user: &CurrentUser) -> Tpl {
    Tpl::from_serialize(json!({"email": user.user.email, "is_admin": user.user.is_admin}))
}

async fn render_users(
    state: &WebState,
    user: &CurrentUser,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, WebError> {
    let now = now_ms();
    let users: Vec<Value> = state
        .app
        .store
        .list_users()
        .await?
        .iter()
        .map(|u| {
            json!({
                "email": u.email,
                "is_admin": u.is_admin,
                "created": rfc3339_ms(u.created_ms),
                "last_login": u.last_login_ms.map(|ms| ago(ms, now)),
            })
        })
        .collect();
    let ctx = minijinja::context! {
        me => me(user),
        csrf => user.csrf.clone(),
        users => Tpl::from_serialize(&users),
        error => error,
    };
    Ok((status, state.templates.render("users.html", ctx)?).into_response())
}

/// `GET /admin/users`.
pub async fn users(State(state): State<WebState>, user: CurrentUser) -> Result<Response, WebError> {
    user.require_admin()?;
    render_users(&state, &user, StatusCode::OK, None).await
}

/// Fields of the new-user form.
#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    email: String,
    password: String,
    admin: Option<String>,
}

/// `POST /admin/users`: creates a user.
pub async fn create_user(
    State(state): State<WebState>,
    user: CurrentUser,
    Form(form): Form<NewUserForm>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    if !form.email.contains('@') {
        return render_users(
            &state,
            &user,
            StatusCode::BAD_REQUEST,
            Some("Enter an e-mail address.".into()),
        )
        .await;
    }
    let hash = match hash_password_off_thread(form.password).await? {
        Ok(h) => h,
        Err(e) => {
            return render_users(&state, &user, StatusCode::BAD_REQUEST, Some(e.to_string())).await
        }
    };
    match state
        .app
        .store
        .create_user(&form.email, &hash, form.admin.is_some())
        .await
    {
        Ok(created) => {
            tracing::info!(user_id = user.user.id, created = created.id, "user created");
            Ok(Redirect::to("/admin/users").into_response())
        }
        Err(StoreError::Conflict(_)) => {
            render_users(
                &state,
                &user,
                StatusCode::CONFLICT,
                Some("A user with this e-mail already exists.".into()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /admin/deliveries`: the notification delivery log.
pub async fn deliveries(
    State(state): State<WebState>,
    user: CurrentUser,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let store = &state.app.store;
    let now = now_ms();
    let projects = store.list_projects().await?;
    let mut channels = Vec::new();
    for status in store.notification_status().await? {
        let c = &status.channel;
        let attempts: Vec<Value> = store
            .notification_attempts(c.id, ATTEMPTS_PER_CHANNEL)
            .await?
            .iter()
            .map(|a| {
                json!({
                    "delivery_id": a.delivery_id,
                    "at": {"text": ago(a.at_ms, now), "iso": rfc3339_ms(a.at_ms)},
                    "ok": a.ok,
                    "status": a.status,
                    "latency_ms": a.latency_ms,
                    "error": a.error,
                })
            })
            .collect();
        let project = c
            .project_id
            .and_then(|id| projects.iter().find(|p| p.id == id))
            .map(|p| p.name.clone());
        channels.push(json!({
            "id": c.id,
            "kind": c.kind.as_str(),
            "target": redact_target(c),
            "project": project,
            "failing": c.failing_since_ms.is_some(),
            "failing_since": c.failing_since_ms.map(|ms| ago(ms, now)),
            "consecutive_failures": c.consecutive_failures,
            "last_success": c.last_success_ms.map(|ms| ago(ms, now)),
            "last_error": c.last_error,
            "pending": status.pending,
            "sent": status.sent,
            "failed": status.failed,
            "folded": status.folded,
            "attempts": attempts,
        }));
    }
    let pending_outbox = store.pending_outbox(1000).await?.len();
    let ctx = minijinja::context! {
        me => me(&user),
        csrf => user.csrf,
        channels => Tpl::from_serialize(&channels),
        failing => channels.iter().filter(|c| c["failing"] == true).count(),
        pending_outbox => pending_outbox,
    };
    Ok(state
        .templates
        .render("deliveries.html", ctx)?
        .into_response())
}
