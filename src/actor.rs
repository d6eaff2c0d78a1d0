//! Who did something: a signed-in user, an API token, the command line on the server's
//! machine, or Errata itself (ingestion, maintenance jobs). One type for both records that
//! name an author: the audit log (`store::audit`, which stores [`ActorKind::as_str`] and the
//! label) and an issue's timeline (`store::activity`, which stores
//! [`Actor::timeline_kind`] and [`Actor::timeline_name`]).

use std::borrow::Cow;

use crate::http::principal::Principal;
use crate::store::User;

/// What kind of actor did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A signed-in user (pages, or the API with the session cookie).
    User,
    /// An API token.
    Token,
    /// The `errata` command line, run on the server's machine.
    Cli,
    /// Errata itself.
    System,
}

impl ActorKind {
    /// The stored and wire name (`user`, `token`, `cli`, `system`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
        }
    }
}

/// Who did something, as it was at the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// User, token, command line or Errata.
    pub kind: ActorKind,
    /// The user's or token's id.
    pub id: Option<i64>,
    /// The user's e-mail, the token's name, `command line` or `Errata`.
    pub label: String,
    /// The client address of the request, when it came over HTTP.
    pub ip: Option<String>,
}

impl Actor {
    /// A signed-in user.
    pub fn user(user: &User) -> Actor {
        Actor::user_with(user.id, &user.email)
    }

    /// The user with id `id` and e-mail `email`.
    pub fn user_with(id: i64, email: &str) -> Actor {
        Actor {
            kind: ActorKind::User,
            id: Some(id),
            label: email.to_owned(),
            ip: None,
        }
    }

    /// The caller of a request: the session's user or the API token.
    pub fn of(principal: &Principal) -> Actor {
        principal.actor(None)
    }

    /// An API token.
    pub fn token(id: i64, name: &str) -> Actor {
        Actor {
            kind: ActorKind::Token,
            id: Some(id),
            label: name.to_owned(),
            ip: None,
        }
    }

    /// The command line.
    pub fn cli() -> Actor {
        Actor {
            kind: ActorKind::Cli,
            id: None,
            label: "command line".to_owned(),
            ip: None,
        }
    }

    /// Errata itself.
    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
            label: "Errata".to_owned(),
            ip: None,
        }
    }

    /// The same actor, seen at client address `ip`.
    pub fn from_ip(self, ip: Option<std::net::IpAddr>) -> Actor {
        Actor {
            ip: ip.map(|a| a.to_string()),
            ..self
        }
    }

    /// The signed-in user this actor is, if it is one.
    pub fn user_id(&self) -> Option<i64> {
        match self.kind {
            ActorKind::User => self.id,
            _ => None,
        }
    }

    /// The kind an issue's timeline stores (`issue_activity.actor_kind`): `user`, `token`, or
    /// `errata` for everything done by no person or token (the timeline predates the audit
    /// log's `cli`/`system` split and its stored rows keep their names).
    pub fn timeline_kind(&self) -> &'static str {
        match self.kind {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::Cli | ActorKind::System => "errata",
        }
    }

    /// The author an issue's timeline shows: the e-mail, `API token <name>`, or `Errata`.
    pub fn timeline_name(&self) -> Cow<'_, str> {
        match self.kind {
            ActorKind::User => Cow::Borrowed(&self.label),
            ActorKind::Token => Cow::Owned(format!("API token {}", self.label)),
            ActorKind::Cli | ActorKind::System => Cow::Borrowed("Errata"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timeline keeps the names it stored before the audit log's actor was shared.
    #[test]
    fn timeline_names_are_unchanged() {
        let token = Actor::token(7, "deploy");
        assert_eq!(
            (token.timeline_kind(), &*token.timeline_name()),
            ("token", "API token deploy")
        );
        let user = Actor::user_with(3, "a@example.com");
        assert_eq!(
            (user.timeline_kind(), &*user.timeline_name()),
            ("user", "a@example.com")
        );
        assert_eq!(user.user_id(), Some(3));
        for errata in [Actor::system(), Actor::cli()] {
            assert_eq!(
                (errata.timeline_kind(), &*errata.timeline_name()),
                ("errata", "Errata")
            );
            assert_eq!(errata.user_id(), None);
        }
        assert_eq!(Actor::system().kind.as_str(), "system");
        assert_eq!(Actor::token(7, "deploy").label, "deploy", "the audit label");
    }
}
