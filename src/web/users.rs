//! The users page (`/admin/users`, owners only): list, create, change role, delete, and make
//! a one-time password reset link. Every change goes through a store method that records it
//! in the audit log in the same transaction; a refused change (not an admin: 403; the last
//! admin, or one's own account: 409 / 400) changes nothing.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::auth::password::hash_password_off_thread;
use super::auth::reset::create_reset_link;
use super::auth::CurrentUser;
use super::view::{ago, Layout};
use super::{WebError, WebState};
use crate::http::ClientIp;
use crate::store::{Actor, Role, StoreError, User};
use crate::timefmt::rfc3339_ms;

/// What `users.html` shows.
#[derive(Debug, Serialize)]
struct UsersPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    users: Vec<UserRow<'a>>,
    /// Why the last form was refused.
    error: Option<String>,
    /// A reset link just made: shown once, here.
    reset: Option<ResetNotice>,
}

/// A row of the users table.
#[derive(Debug, Serialize)]
struct UserRow<'a> {
    id: i64,
    email: &'a str,
    /// `owner`, `admin`, `member` or `viewer`.
    role: &'static str,
    /// The roles it may be changed to.
    other_roles: Vec<&'static str>,
    /// The signed-in user's own row (no delete or demote buttons).
    is_me: bool,
    /// RFC 3339.
    created: String,
    /// "3 days ago"; `None` before the first sign-in.
    last_login: Option<String>,
}

/// A reset link to hand over.
#[derive(Debug, Serialize)]
struct ResetNotice {
    email: String,
    url: String,
    /// RFC 3339.
    expires: String,
}

/// What happened, for the page rendered after a form.
struct Outcome {
    status: StatusCode,
    error: Option<String>,
    reset: Option<ResetNotice>,
}

impl Outcome {
    fn refused(status: StatusCode, error: impl Into<String>) -> Outcome {
        Outcome {
            status,
            error: Some(error.into()),
            reset: None,
        }
    }
}

async fn render_users(
    state: &WebState,
    user: &CurrentUser,
    outcome: Outcome,
) -> Result<Response, WebError> {
    let now = state.app.clock.now_ms();
    let users = state.app.store.list_users().await?;
    let page = UsersPage {
        layout: Layout::of(user),
        users: users
            .iter()
            .map(|u: &User| UserRow {
                id: u.id,
                email: &u.email,
                role: u.role.as_str(),
                other_roles: Role::ALL
                    .into_iter()
                    .filter(|r| *r != u.role)
                    .map(Role::as_str)
                    .collect(),
                is_me: u.id == user.user.id,
                created: rfc3339_ms(u.created_ms),
                last_login: u.last_login_ms.map(|ms| ago(ms, now)),
            })
            .collect(),
        error: outcome.error,
        reset: outcome.reset,
    };
    Ok((outcome.status, state.templates.render("users.html", page)?).into_response())
}

/// After a change to a user: back to the page, or the page again saying why not (a
/// conflict, the last admin, is shown with 409; anything else is an error).
async fn after_change(
    state: &WebState,
    user: &CurrentUser,
    change: Result<User, StoreError>,
    what: &'static str,
) -> Result<Response, WebError> {
    match change {
        Ok(changed) => {
            tracing::info!(
                user_id = user.user.id, by = %user.user.email,
                changed = changed.id,
                what,
                "user changed"
            );
            Ok(back())
        }
        Err(StoreError::Conflict(why)) => {
            let why = crate::web::sentence(&why);
            render_users(state, user, Outcome::refused(StatusCode::CONFLICT, why)).await
        }
        Err(e) => Err(e.into()),
    }
}

fn back() -> Response {
    Redirect::to("/admin/users").into_response()
}

/// `GET /admin/users`.
pub async fn users(State(state): State<WebState>, user: CurrentUser) -> Result<Response, WebError> {
    user.require_admin()?;
    let ok = Outcome {
        status: StatusCode::OK,
        error: None,
        reset: None,
    };
    render_users(&state, &user, ok).await
}

/// Fields of the new-user form.
#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    email: String,
    password: String,
    /// `owner`, `admin`, `member` (default) or `viewer`.
    role: Option<String>,
    /// The older form's checkbox: an owner.
    admin: Option<String>,
}

/// The role a form names; 400 for an unknown one.
fn form_role(name: &str) -> Result<Role, WebError> {
    Role::from_name(name).ok_or_else(|| {
        WebError::BadRequest(format!(
            "unknown role {name:?}: one of owner, admin, member, viewer"
        ))
    })
}

/// `POST /admin/users`: creates a user.
pub async fn create_user(
    State(state): State<WebState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Form(form): Form<NewUserForm>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let bad = |e: String| Outcome::refused(StatusCode::BAD_REQUEST, e);
    if !form.email.contains('@') {
        return render_users(&state, &user, bad("Enter an e-mail address.".into())).await;
    }
    let hash = match hash_password_off_thread(form.password).await? {
        Ok(h) => h,
        Err(e) => return render_users(&state, &user, bad(e.to_string())).await,
    };
    let role = match (form.role.as_deref(), form.admin.is_some()) {
        (Some(name), _) if !name.is_empty() => form_role(name)?,
        (_, true) => Role::Owner,
        _ => Role::Member,
    };
    let by = Actor::user(&user.user).from_ip(ip);
    let now = state.app.clock.now_ms();
    match state
        .app
        .store
        .add_user(&form.email, &hash, role, &by, now)
        .await
    {
        Ok(created) => {
            tracing::info!(user_id = user.user.id, by = %user.user.email, created = created.id, "user created");
            Ok(back())
        }
        Err(StoreError::Conflict(_)) => {
            let taken = "A user with this e-mail already exists.";
            render_users(&state, &user, Outcome::refused(StatusCode::CONFLICT, taken)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Fields of the role form.
#[derive(Debug, Deserialize)]
pub struct RoleForm {
    role: String,
}

/// `POST /admin/users/{id}/role`: `role=owner|admin|member|viewer`.
pub async fn set_role(
    State(state): State<WebState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(user_id): Path<i64>,
    Form(form): Form<RoleForm>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let role = form_role(&form.role)?;
    let by = Actor::user(&user.user).from_ip(ip);
    let now = state.app.clock.now_ms();
    let change = state.app.store.set_user_role(user_id, role, &by, now);
    after_change(&state, &user, change.await, "role").await
}

/// `POST /admin/users/{id}/delete`: deletes a user (not oneself).
pub async fn delete_user(
    State(state): State<WebState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(user_id): Path<i64>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    if user_id == user.user.id {
        let own = "You cannot delete your own account.";
        return render_users(
            &state,
            &user,
            Outcome::refused(StatusCode::BAD_REQUEST, own),
        )
        .await;
    }
    let by = Actor::user(&user.user).from_ip(ip);
    let now = state.app.clock.now_ms();
    let change = state.app.store.delete_user(user_id, &by, now).await;
    after_change(&state, &user, change, "deleted").await
}

/// `POST /admin/users/{id}/reset`: makes a one-time reset link and shows it once.
pub async fn reset_link(
    State(state): State<WebState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(user_id): Path<i64>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let by = Actor::user(&user.user).from_ip(ip);
    let now = state.app.clock.now_ms();
    let link = create_reset_link(&state.app.store, &state.app.config, user_id, &by, now).await?;
    tracing::info!(user_id = user.user.id, by = %user.user.email, target = user_id, "reset link made");
    let outcome = Outcome {
        status: StatusCode::OK,
        error: None,
        reset: Some(ResetNotice {
            email: link.user.email,
            url: link.url,
            expires: rfc3339_ms(link.expires_ms),
        }),
    };
    render_users(&state, &user, outcome).await
}
