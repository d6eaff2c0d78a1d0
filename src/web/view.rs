//! View-model pieces every page shares: the header of a signed-in page ([`Layout`]) and times
//! shown as "3 min ago" with their exact form ([`When`]). Each page's own view model is a
//! `#[derive(Serialize)]` struct next to its handler; templates see its fields by name.

use serde::Serialize;

use crate::http::principal::CurrentUser;
use crate::timefmt::rfc3339_ms;

/// What `base.html` needs on a signed-in page; pages embed it with `#[serde(flatten)]`.
#[derive(Debug, Serialize)]
pub struct Layout<'a> {
    /// The signed-in user (header and admin links).
    pub me: Me<'a>,
    /// The session's CSRF token, for the hidden `csrf` field of every form.
    pub csrf: &'a str,
}

/// The signed-in user as the header shows them.
#[derive(Debug, Serialize)]
pub struct Me<'a> {
    /// Sign-in e-mail.
    pub email: &'a str,
    /// Owners see the admin links and forms.
    pub is_admin: bool,
    /// Admins and owners see the project settings, channel and monitor forms.
    pub manages: bool,
    /// Members and up see the triage forms (viewers read only).
    pub triages: bool,
    /// `owner`, `admin`, `member` or `viewer`.
    pub role: &'static str,
}

impl<'a> Layout<'a> {
    /// The layout of `user`'s page.
    pub fn of(user: &'a CurrentUser) -> Layout<'a> {
        Layout {
            me: Me {
                email: &user.user.email,
                is_admin: user.user.is_admin,
                manages: user.user.role.at_least(crate::store::Role::Admin),
                triages: user.user.role.at_least(crate::store::Role::Member),
                role: user.user.role.as_str(),
            },
            csrf: &user.csrf,
        }
    }
}

/// A past moment for a `<time>` element: `text` ("3 min ago") and `iso` (RFC 3339 UTC).
#[derive(Debug, Clone, Serialize)]
pub struct When {
    /// Relative, see [`ago`].
    pub text: String,
    /// Exact, RFC 3339 with milliseconds.
    pub iso: String,
}

/// [`When`] of epoch-ms `ms` seen at `now`.
pub fn when(ms: i64, now: i64) -> When {
    When {
        text: ago(ms, now),
        iso: rfc3339_ms(ms),
    }
}

/// "3 min ago"-style text of a past epoch-ms time (a future one is "just now").
pub fn ago(ms: i64, now: i64) -> String {
    let secs = (now - ms).max(0) / 1000;
    match secs {
        0..=59 => "just now".to_owned(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        86_400..=2_591_999 => plural(secs / 86_400, "day"),
        2_592_000..=31_535_999 => plural(secs / 2_592_000, "month"),
        _ => plural(secs / 31_536_000, "year"),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit} ago")
    } else {
        format!("{n} {unit}s ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now = 1_000_000_000_000;
        assert_eq!(ago(now - 5_000, now), "just now");
        assert_eq!(ago(now - 5 * 60_000, now), "5 min ago");
        assert_eq!(ago(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(ago(now - 86_400_000, now), "1 day ago");
        assert_eq!(ago(now - 3 * 86_400_000, now), "3 days ago");
        assert_eq!(
            ago(now + 5_000, now),
            "just now",
            "clock skew is not negative"
        );
    }

    #[test]
    fn layout_flattens_into_a_page() {
        #[derive(Serialize)]
        struct Page<'a> {
            #[serde(flatten)]
            layout: Layout<'a>,
            title: &'a str,
        }
        let user = CurrentUser {
            user: crate::store::User {
                id: 1,
                email: "a@example.com".into(),
                is_admin: true,
                role: crate::store::Role::Owner,
                created_ms: 0,
                last_login_ms: None,
            },
            csrf: "t".into(),
            projects: crate::http::principal::Projects::All,
        };
        let v = minijinja::Value::from_serialize(Page {
            layout: Layout::of(&user),
            title: "x",
        });
        let env = minijinja::Environment::new();
        let out = env
            .render_str(
                "{{ me.email }} {% if me.is_admin %}admin{% endif %} {{ csrf }} {{ title }}",
                v,
            )
            .unwrap();
        assert_eq!(out, "a@example.com admin t x");
    }
}
