//! `errata user create EMAIL [--admin] [--password-stdin]` and the first-start hint of
//! `errata serve` (a one-time link to create the first admin).
//!
//! The password comes from `ERRATA_PASSWORD`, else standard input with `--password-stdin`
//! (one line), else an interactive prompt on the terminal with echo turned off.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::store::{Store, StoreError};

/// `errata user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user of the web issue browser
    Create {
        /// Sign-in e-mail
        email: String,
        /// Make the user an admin (manages users, projects, channels)
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users
    List,
}

/// Runs `errata user …`.
pub async fn run(cmd: UserCommand, store: &Store) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            email,
            admin,
            password_stdin,
        } => {
            anyhow::ensure!(email.contains('@'), "{email:?} is not an e-mail address");
            let password = read_password(password_stdin)?;
            let hash = super::hash_password(&password)?;
            match store.create_user(&email, &hash, admin).await {
                Ok(u) => {
                    let role = if u.is_admin { "admin" } else { "user" };
                    eprintln!("created {role} {}", u.email);
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
                let role = if u.is_admin { "admin" } else { "user" };
                println!("{}\t{}\t{role}", u.id, u.email);
            }
            Ok(())
        }
    }
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
