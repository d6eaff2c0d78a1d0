//! `errata user …` (create, list, delete, set-role, reset-password), `errata token …`
//! (create, list, revoke) and the first-start hint of `errata serve` (a one-time link to
//! create the first admin).
//!
//! A new user's password comes from `ERRATA_PASSWORD`, else standard input with
//! `--password-stdin` (one line), else an interactive prompt on the terminal with echo turned
//! off. Every change is recorded in the audit log as done by the command line.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use clap::Subcommand;

use crate::cli::TokenCommand;
use crate::clock::system_now_ms as now_ms;
use crate::config::Config;
use crate::store::{Actor, Role, Store, StoreError, User};
use crate::timefmt::rfc3339_ms;

/// `errata user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user of the web issue browser
    Create {
        /// Sign-in e-mail
        email: String,
        /// Make the user an owner (same as `--role owner`)
        #[arg(long)]
        admin: bool,
        /// `owner`, `admin`, `member` (default) or `viewer`
        #[arg(long, value_parser = ["owner", "admin", "member", "viewer"])]
        role: Option<String>,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users: id, e-mail, role
    List,
    /// Delete a user, with their sessions and API tokens
    Delete {
        /// Sign-in e-mail
        email: String,
    },
    /// Give a user a role
    SetRole {
        /// Sign-in e-mail
        email: String,
        /// `owner`, `admin`, `member` or `viewer`
        #[arg(value_parser = ["owner", "admin", "member", "viewer"])]
        role: String,
    },
    /// Print a one-time link (valid one day) with which the user sets a new password
    ResetPassword {
        /// Sign-in e-mail
        email: String,
    },
}

/// Runs `errata user …`.
pub async fn run(cmd: UserCommand, config: &Config, store: &Store) -> anyhow::Result<()> {
    let cli = Actor::cli();
    match cmd {
        UserCommand::Create {
            email,
            admin,
            role,
            password_stdin,
        } => {
            let role = match role.as_deref().and_then(Role::from_name) {
                Some(r) => r,
                None if admin => Role::Owner,
                None => Role::Member,
            };
            anyhow::ensure!(email.contains('@'), "{email:?} is not an e-mail address");
            let password = read_password(password_stdin)?;
            let hash = super::hash_password(&password)?;
            match store.add_user(&email, &hash, role, &cli, now_ms()).await {
                Ok(u) => {
                    eprintln!("created {} {}", u.role.as_str(), u.email);
                    Ok(())
                }
                Err(StoreError::Conflict(_)) => {
                    anyhow::bail!("a user with e-mail {email:?} already exists")
                }
                Err(e) => Err(e.into()),
            }
        }
        UserCommand::List => {
            for u in store.list_users().await? {
                println!("{}\t{}\t{}", u.id, u.email, u.role.as_str());
            }
            Ok(())
        }
        UserCommand::Delete { email } => {
            let user = user_by_email(store, &email).await?;
            let deleted = store.delete_user(user.id, &cli, now_ms()).await?;
            eprintln!("deleted {}", deleted.email);
            Ok(())
        }
        UserCommand::SetRole { email, role } => {
            let user = user_by_email(store, &email).await?;
            let changed = store
                .set_user_role(
                    user.id,
                    Role::from_name(&role).unwrap_or(Role::Member),
                    &cli,
                    now_ms(),
                )
                .await?;
            eprintln!("{} is {}", changed.email, changed.role.as_str());
            Ok(())
        }
        UserCommand::ResetPassword { email } => {
            let user = user_by_email(store, &email).await?;
            let link =
                super::auth::reset::create_reset_link(store, config, user.id, &cli, now_ms())
                    .await?;
            eprintln!(
                "one-time link for {}, valid until {}:",
                link.user.email,
                rfc3339_ms(link.expires_ms)
            );
            println!("{}", link.url);
            Ok(())
        }
    }
}

pub(crate) async fn user_by_email(store: &Store, email: &str) -> anyhow::Result<User> {
    match store.user_with_password(email).await? {
        Some((user, _)) => Ok(user),
        None => anyhow::bail!("no user has the e-mail {email:?}"),
    }
}

/// Runs `errata token …`.
pub async fn run_token(cmd: TokenCommand, store: &Store) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            name,
            scope,
            project,
        } => {
            let name = super::tokens::token_name(&name).map_err(anyhow::Error::msg)?;
            let scopes = crate::api::scope_list(&scope).map_err(anyhow::Error::msg)?;
            let mut projects = Vec::new();
            for p in &project {
                projects.push(crate::retention::cli::project_id(store, p).await?);
            }
            let made = store
                .add_token(name, None, &scopes, &projects, &Actor::cli(), now_ms())
                .await?;
            println!("{}", made.secret);
        }
        TokenCommand::List => {
            for t in store.list_tokens().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.name,
                    t.hint.as_deref().map_or("-".into(), |h| format!("…{h}")),
                    t.user_email.as_deref().unwrap_or("command line"),
                    rfc3339_ms(t.created_ms),
                    t.last_used_ms.map_or("never".into(), rfc3339_ms),
                );
            }
        }
        TokenCommand::Revoke { id } => {
            match store.revoke_token(id, &Actor::cli(), now_ms()).await {
                Ok(t) => eprintln!("revoked token {} ({})", t.id, t.name),
                Err(StoreError::NotFound) => anyhow::bail!("no token has the id {id}"),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("ERRATA_PASSWORD") {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = prompt("Password: ")?;
    let second = prompt("Repeat the password: ")?;
    anyhow::ensure!(first == second, "the passwords differ");
    Ok(first)
}

/// Prompts on stderr and reads a line with terminal echo off (via `stty`, restored after).
fn prompt(text: &str) -> anyhow::Result<String> {
    eprint!("{text}");
    std::io::stderr().flush().ok();
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let hidden = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
        eprintln!();
    }
    read.context("cannot read the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// At `errata serve`: when no user exists, prints a one-time link (valid one day) to create
/// the first admin, and the CLI alternative.
pub async fn first_start_hint(config: &Config, store: &Store) -> anyhow::Result<()> {
    if let Some(token) = super::auth::first_admin_setup_token(store).await? {
        println!(
            "No user exists yet. Create the first admin within 24 hours at:\n\n    {}/setup/{token}\n\n\
             or on this machine: errata user create you@example.com --admin\n",
            config.base_url()
        );
    }
    Ok(())
}
