//! Single sign-on with OpenID Connect (authorization code flow with PKCE), through the
//! `openidconnect` crate: `GET /login/sso/{provider}` sends the browser to the provider,
//! `GET /login/sso/{provider}/callback` signs it in.
//!
//! The start discovers the provider (`/.well-known/openid-configuration`), makes a random
//! state, nonce and PKCE verifier, keeps them server-side under the state's hash
//! (`store::sso`, ten minutes, used once) and the state in a cookie of this browser. The
//! callback refuses a state that is not this browser's or not pending, exchanges the code with
//! the verifier, and verifies the ID token: signature (the provider's keys), issuer, audience,
//! nonce and expiry on the server's clock, with `clock_skew_secs` of tolerance. Then the
//! e-mail claim (`email_claim`) must be verified (`email_verified` not false) and of an allowed
//! domain; the user is found by e-mail or created (just in time) with `default_role`, or the
//! most powerful role of their groups (`groups_claim` → `group_roles`), and joins the teams of
//! their groups (`group_teams`; teams missing are created). Each success and refusal is in the
//! audit log (`user.sign_in`, `user.sign_in_failed`, with the provider).
//!
//! Settings: `[auth] passwords = false` turns off password sign-in; each `[[auth.oidc]]` is a
//! provider; the first can also come from `ERRATA_OIDC_*` variables ([`AuthConfig::apply_env`]).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::login::{start_session, SignIn};
use super::auth::safe_next;
use super::{error_page, WebState};
use crate::http::cookie::{cookie, set_cookie};
use crate::http::PeerAddr;
use crate::store::{Actor, AuditAction, NewAuditEntry, Role, SsoLogin, TeamLink, User};

/// The cookie that binds a sign-in's state to the browser that started it.
pub const SSO_COOKIE: &str = "errata_sso";

/// How long a started sign-in waits for its callback: ten minutes.
const PENDING: Duration = Duration::from_secs(600);

/// `[auth]`: how people sign in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Sign-in with e-mail and password. Default true; false leaves single sign-on only
    /// (the password form is gone and `POST /login` is refused).
    pub passwords: bool,
    /// OpenID Connect providers (`[[auth.oidc]]`).
    pub oidc: Vec<OidcProvider>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            passwords: true,
            oidc: Vec::new(),
        }
    }
}

/// One OpenID Connect provider (`[[auth.oidc]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcProvider {
    /// Its name in URLs (`/login/sso/{id}`), letters, digits and `-`. Default `sso`.
    pub id: String,
    /// The sign-in button's label: "Sign in with {name}". Default `single sign-on`.
    pub name: String,
    /// The issuer URL (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret (`None` for a public client: PKCE only).
    pub client_secret: Option<String>,
    /// Scopes asked for besides `openid`. Default `["email", "profile"]`.
    pub scopes: Vec<String>,
    /// The claim holding the e-mail address. Default `email`.
    pub email_claim: String,
    /// E-mail domains allowed to sign in (`example.com`); empty: any.
    pub allowed_domains: Vec<String>,
    /// The claim holding the user's groups (a list of strings), if any.
    pub groups_claim: Option<String>,
    /// Role of users created at first sign-in without a mapped group. Default `member`.
    pub default_role: String,
    /// Group → role (`owner`, `admin`, `member`, `viewer`); the most powerful match wins and
    /// is applied at every sign-in.
    pub group_roles: BTreeMap<String, String>,
    /// Group → team name: the user joins these teams at sign-in.
    pub group_teams: BTreeMap<String, String>,
    /// Create users who sign in for the first time. Default true.
    pub create_users: bool,
    /// Seconds an ID token is still accepted after its expiry (clocks differ). Default 60.
    pub clock_skew_secs: u64,
}

impl Default for OidcProvider {
    fn default() -> Self {
        OidcProvider {
            id: "sso".into(),
            name: "single sign-on".into(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            scopes: vec!["email".into(), "profile".into()],
            email_claim: "email".into(),
            allowed_domains: Vec::new(),
            groups_claim: None,
            default_role: "member".into(),
            group_roles: BTreeMap::new(),
            group_teams: BTreeMap::new(),
            create_users: true,
            clock_skew_secs: 60,
        }
    }
}

impl AuthConfig {
    /// The first provider from the environment: `ERRATA_OIDC_ISSUER` (which makes it),
    /// `ERRATA_OIDC_CLIENT_ID`, `ERRATA_OIDC_CLIENT_SECRET`, `ERRATA_OIDC_NAME`,
    /// `ERRATA_OIDC_ALLOWED_DOMAINS` (comma-separated), `ERRATA_OIDC_GROUPS_CLAIM`; and
    /// `ERRATA_PASSWORD_SIGNIN=false`. Variables win over the file.
    pub fn apply_env(&mut self) {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(v) = var("ERRATA_PASSWORD_SIGNIN") {
            self.passwords = !matches!(v.trim(), "false" | "0" | "no" | "off");
        }
        let Some(issuer) = var("ERRATA_OIDC_ISSUER") else {
            return;
        };
        if self.oidc.is_empty() {
            self.oidc.push(OidcProvider::default());
        }
        let p = &mut self.oidc[0];
        p.issuer = issuer;
        if let Some(v) = var("ERRATA_OIDC_CLIENT_ID") {
            p.client_id = v;
        }
        if let Some(v) = var("ERRATA_OIDC_CLIENT_SECRET") {
            p.client_secret = Some(v);
        }
        if let Some(v) = var("ERRATA_OIDC_NAME") {
            p.name = v;
        }
        if let Some(v) = var("ERRATA_OIDC_ALLOWED_DOMAINS") {
            p.allowed_domains = v.split(',').map(|d| d.trim().to_owned()).collect();
        }
        if let Some(v) = var("ERRATA_OIDC_GROUPS_CLAIM") {
            p.groups_claim = Some(v);
        }
    }

    /// The provider `id`, if configured.
    pub fn provider(&self, id: &str) -> Option<&OidcProvider> {
        self.oidc.iter().find(|p| p.id == id)
    }
}

/// Why a single sign-on is refused; shown on the page and recorded as the audit `reason`.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// No provider of that id.
    #[error("no single sign-on provider {0:?} is configured")]
    UnknownProvider(String),
    /// The provider could not be reached or answered nonsense.
    #[error("the sign-in provider could not be used: {0}")]
    Provider(String),
    /// The callback's state is not this browser's pending one (tampered, replayed, expired).
    #[error(
        "the sign-in state does not match this browser's (expired or tampered with); start again"
    )]
    State,
    /// The provider answered with an error instead of a code.
    #[error("the provider refused the sign-in: {0}")]
    Refused(String),
    /// The ID token failed verification (signature, issuer, audience, nonce, expiry).
    #[error("the ID token is not valid: {0}")]
    Token(String),
    /// No usable e-mail address in the claims.
    #[error("the provider gave no verified e-mail address (claim {0:?})")]
    NoEmail(String),
    /// The e-mail's domain is not allowed.
    #[error("{0} may not sign in here (its domain is not allowed)")]
    Domain(String),
    /// No user has that e-mail and users are not created.
    #[error("{0} has no account here")]
    NoAccount(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl SsoError {
    fn status(&self) -> StatusCode {
        match self {
            SsoError::UnknownProvider(_) => StatusCode::NOT_FOUND,
            SsoError::Provider(_) => StatusCode::BAD_GATEWAY,
            SsoError::Domain(_) | SsoError::NoAccount(_) => StatusCode::FORBIDDEN,
            SsoError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The HTTP client for the provider: no redirects, bounded time.
fn http_client() -> Result<reqwest::Client, SsoError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| SsoError::Provider(e.to_string()))
}

/// `{base_url}/login/sso/{id}/callback`.
fn redirect_url(state: &WebState, provider: &OidcProvider) -> Result<RedirectUrl, SsoError> {
    let base = state.app.config.base_url();
    RedirectUrl::new(format!(
        "{}/login/sso/{}/callback",
        base.trim_end_matches('/'),
        provider.id
    ))
    .map_err(|e| SsoError::Provider(e.to_string()))
}

/// A provider's client as discovery makes it: authorization URL set, token and user-info URLs
/// as its document says.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The client for `provider`, from its discovery document, sending users back to our
/// callback; the same for the sign-in's start and its callback.
async fn client(
    state: &WebState,
    provider: &OidcProvider,
    http: &reqwest::Client,
) -> Result<Client, SsoError> {
    let issuer =
        IssuerUrl::new(provider.issuer.clone()).map_err(|e| SsoError::Provider(e.to_string()))?;
    let metadata = CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(|e| SsoError::Provider(format!("discovery failed: {}", chain(&e))))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        provider.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect_url(state, provider)?))
}

/// An error with its sources: `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Query of the start route.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// `GET /login/sso/{provider}`: to the provider's sign-in page.
pub async fn start(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<StartQuery>,
) -> Response {
    match begin(&state, &headers, &id, q.next.as_deref()).await {
        Ok(res) => res,
        Err(e) => refusal(&e),
    }
}

async fn begin(
    state: &WebState,
    headers: &HeaderMap,
    id: &str,
    next: Option<&str>,
) -> Result<Response, SsoError> {
    let config = &state.app.config;
    let provider = config
        .auth
        .provider(id)
        .ok_or_else(|| SsoError::UnknownProvider(id.to_owned()))?;
    let http = http_client()?;
    let client = client(state, provider, &http).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in &provider.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf, nonce) = request.url();
    let now = state.app.clock.now_ms();
    let login = SsoLogin {
        provider: provider.id.clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        next: safe_next(next),
    };
    let ttl_ms = i64::try_from(PENDING.as_millis()).unwrap_or(i64::MAX);
    state
        .app
        .store
        .start_sso_login(csrf.secret(), &login, now, now.saturating_add(ttl_ms))
        .await?;
    let mut res = Redirect::to(url.as_str()).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            config,
            headers,
            SSO_COOKIE,
            csrf.secret(),
            PENDING.as_secs(),
        ),
    );
    Ok(res)
}

/// Query of the callback.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /login/sso/{provider}/callback`: verifies and signs in.
pub async fn callback(
    State(state): State<WebState>,
    headers: HeaderMap,
    PeerAddr(connect): PeerAddr,
    Path(id): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let ip = crate::http::client_ip(
        &headers,
        connect,
        state.app.config.ingest.trust_forwarded_for,
    );
    let store = &state.app.store;
    let now = state.app.clock.now_ms();
    let mut email = None;
    let outcome = finish(&state, &headers, &id, q, &mut email).await;
    let clear = set_cookie(&state.app.config, &headers, SSO_COOKIE, "", 0);
    let mut res = match outcome {
        Ok((user, next)) => {
            tracing::info!(user_id = user.id, provider = %id, remote = ?ip, "signed in (sso)");
            match start_session(&state, &headers, &user, &next, SignIn::Oidc(&id), ip).await {
                Ok(r) => r,
                Err(e) => return e.into_response(),
            }
        }
        Err(e) => {
            tracing::warn!(provider = %id, remote = ?ip, error = %e, "single sign-on refused");
            let entry = NewAuditEntry {
                at_ms: now,
                by: &Actor::system().from_ip(ip),
                action: AuditAction::SignInFailed,
                target: None,
                data: json!({ "provider": id, "reason": e.to_string(), "email": email }),
            };
            if let Err(e) = store.record_audit(&entry).await {
                tracing::error!(error = %e, "cannot record a refused sign-in");
            }
            refusal(&e)
        }
    };
    res.headers_mut().append(header::SET_COOKIE, clear);
    res
}

/// The callback's checks; `email` is set once known (for the audit log).
async fn finish(
    state: &WebState,
    headers: &HeaderMap,
    id: &str,
    q: CallbackQuery,
    email: &mut Option<String>,
) -> Result<(User, String), SsoError> {
    let config = &state.app.config;
    let provider = config
        .auth
        .provider(id)
        .ok_or_else(|| SsoError::UnknownProvider(id.to_owned()))?;
    if let Some(error) = q.error {
        let why = q.error_description.unwrap_or_default();
        return Err(SsoError::Refused(
            format!("{error} {why}").trim().to_owned(),
        ));
    }
    let sent = q.state.ok_or(SsoError::State)?;
    let ours = cookie(headers, SSO_COOKIE).ok_or(SsoError::State)?;
    if !crate::http::csrf::same(ours, &sent) {
        return Err(SsoError::State);
    }
    let now = state.app.clock.now_ms();
    let login = state
        .app
        .store
        .take_sso_login(&sent, now)
        .await?
        .filter(|l| l.provider == provider.id)
        .ok_or(SsoError::State)?;
    let code = q
        .code
        .ok_or_else(|| SsoError::Refused("no authorization code".into()))?;
    let http = http_client()?;
    let client = client(state, provider, &http).await?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| SsoError::Provider(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier))
        .request_async(&http)
        .await
        .map_err(|e| SsoError::Provider(format!("the code exchange failed: {}", chain(&e))))?;
    let id_token = openidconnect::TokenResponse::id_token(&tokens)
        .ok_or_else(|| SsoError::Token("the provider sent no ID token".into()))?;
    let clock = state.app.clock.clone();
    let skew_ms = i64::try_from(provider.clock_skew_secs.saturating_mul(1000)).unwrap_or(0);
    let verifier = client.id_token_verifier().set_time_fn(move || {
        let ms = clock.now_ms().saturating_sub(skew_ms);
        chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
    });
    id_token
        .claims(&verifier, &Nonce::new(login.nonce))
        .map_err(|e| SsoError::Token(e.to_string()))?;
    // The signature is verified: the payload's other claims (e-mail claim, groups) are read
    // from the same token.
    let claims = payload(&id_token.to_string())?;
    let address = claims
        .get(&provider.email_claim)
        .and_then(Value::as_str)
        .filter(|e| e.contains('@'))
        .ok_or_else(|| SsoError::NoEmail(provider.email_claim.clone()))?;
    let address = crate::store::normalize_email(address);
    *email = Some(address.clone());
    if claims.get("email_verified") == Some(&Value::Bool(false)) {
        return Err(SsoError::NoEmail(provider.email_claim.clone()));
    }
    let domain = address.rsplit('@').next().unwrap_or_default();
    if !provider.allowed_domains.is_empty()
        && !provider
            .allowed_domains
            .iter()
            .any(|d| d.trim_start_matches('@').eq_ignore_ascii_case(domain))
    {
        return Err(SsoError::Domain(address));
    }
    let groups: Vec<String> = provider
        .groups_claim
        .as_deref()
        .and_then(|c| claims.get(c))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let user = provision(state, provider, &address, &groups).await?;
    Ok((user, login.next))
}

/// The JSON payload of a JWT (its middle part).
fn payload(jwt: &str) -> Result<serde_json::Map<String, Value>, SsoError> {
    let part = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| SsoError::Token("not a JWT".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| SsoError::Token(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| SsoError::Token(e.to_string()))
}

/// The most powerful role of `groups` under `provider.group_roles`, if any matches.
pub fn role_of_groups(provider: &OidcProvider, groups: &[String]) -> Option<Role> {
    groups
        .iter()
        .filter_map(|g| provider.group_roles.get(g))
        .filter_map(|r| Role::from_name(r))
        .min()
}

/// The user of `email`: found, or created with their groups' role (else the default), with
/// their groups' role applied and their groups' teams joined.
async fn provision(
    state: &WebState,
    provider: &OidcProvider,
    email: &str,
    groups: &[String],
) -> Result<User, SsoError> {
    let store = &state.app.store;
    let now = state.app.clock.now_ms();
    let by = Actor::system();
    let mapped = role_of_groups(provider, groups);
    let mut user = match store.user_by_email(email).await? {
        Some(u) => u,
        None if provider.create_users => {
            let role = mapped
                .or_else(|| Role::from_name(&provider.default_role))
                .unwrap_or(Role::Member);
            // No password: "!" is not a hash any password verifies against.
            match store.add_user(email, "!sso", role, &by, now).await {
                Ok(u) => u,
                Err(crate::store::StoreError::Conflict(_)) => store
                    .user_by_email(email)
                    .await?
                    .ok_or_else(|| SsoError::NoAccount(email.to_owned()))?,
                Err(e) => return Err(e.into()),
            }
        }
        None => return Err(SsoError::NoAccount(email.to_owned())),
    };
    if let Some(role) = mapped.filter(|r| *r != user.role) {
        match store.set_user_role(user.id, role, &by, now).await {
            Ok(u) => user = u,
            // The last owner keeps their role whatever their groups say.
            Err(crate::store::StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let wanted: Vec<&String> = groups
        .iter()
        .filter_map(|g| provider.group_teams.get(g))
        .collect();
    if !wanted.is_empty() {
        let teams = store.list_teams().await?;
        for name in wanted {
            let team = match teams.iter().find(|t| &t.name == name) {
                Some(t) => t.id,
                None => match store.create_team(name, &by, now).await {
                    Ok(id) => id,
                    Err(crate::store::StoreError::Conflict(_)) => continue,
                    Err(e) => return Err(e.into()),
                },
            };
            store
                .change_team(team, TeamLink::Member(user.id), true, &by, now)
                .await?;
        }
    }
    Ok(user)
}

fn refusal(e: &SsoError) -> Response {
    if let SsoError::Store(inner) = e {
        tracing::error!(error = %inner, "single sign-on failed");
    }
    let status = e.status();
    let message = super::sentence(&e.to_string());
    (status, error_page(status, &message)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_map_to_the_most_powerful_role() {
        let mut p = OidcProvider::default();
        p.group_roles.insert("ops".into(), "admin".into());
        p.group_roles.insert("staff".into(), "viewer".into());
        let groups = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            role_of_groups(&p, &groups(&["staff", "ops"])),
            Some(Role::Admin)
        );
        assert_eq!(role_of_groups(&p, &groups(&["staff"])), Some(Role::Viewer));
        assert_eq!(role_of_groups(&p, &groups(&["other"])), None);
    }

    #[test]
    fn payloads_decode() {
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"email":"a@example.com","groups":["x"]}"#);
        let claims = payload(&format!("h.{body}.s")).expect("payload");
        assert_eq!(claims["email"], "a@example.com");
        assert!(payload("nope").is_err());
    }
}
