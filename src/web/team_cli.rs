//! `errata team …`: list teams, create and delete them, add and remove members (by e-mail)
//! and projects (by name or id) — what the Teams page (`web::teams`) does, on the server's
//! machine. A team is named by its id or its name. Every change is recorded in the audit log
//! as done by the command line; a change that changes nothing (a member already in the team)
//! says so on stderr and succeeds.

use clap::Subcommand;

use crate::clock::system_now_ms as now_ms;
use crate::store::{team_name, Actor, Store, StoreError, Team, TeamLink, MAX_TEAM_NAME};

/// `errata team …`
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// List teams: id, name, members' e-mails, projects' names
    List,
    /// Create a team and print its id
    Create {
        /// Team name
        name: String,
    },
    /// Delete a team (its projects stay, open to everyone when it was their last team)
    Delete {
        /// Team id or name
        team: String,
    },
    /// Add a user to a team
    AddMember {
        /// Team id or name
        team: String,
        /// The user's sign-in e-mail
        email: String,
    },
    /// Take a user out of a team
    RemoveMember {
        /// Team id or name
        team: String,
        /// The user's sign-in e-mail
        email: String,
    },
    /// Give a project to a team (only its members, and owners, then see it)
    AddProject {
        /// Team id or name
        team: String,
        /// Project id or name
        project: String,
    },
    /// Take a project from a team
    RemoveProject {
        /// Team id or name
        team: String,
        /// Project id or name
        project: String,
    },
}

/// Runs `errata team …`.
pub async fn run(cmd: TeamCommand, store: &Store) -> anyhow::Result<()> {
    let by = Actor::cli();
    let (team, link, add) = match cmd {
        TeamCommand::List => return list(store).await,
        TeamCommand::Create { name } => {
            let Some(name) = team_name(&name) else {
                anyhow::bail!("a team name has 1 to {MAX_TEAM_NAME} characters");
            };
            match store.create_team(name, &by, now_ms()).await {
                Ok(id) => println!("{id}"),
                Err(StoreError::Conflict(_)) => anyhow::bail!("a team named {name:?} exists"),
                Err(e) => return Err(e.into()),
            }
            return Ok(());
        }
        TeamCommand::Delete { team } => {
            let t = find(store, &team).await?;
            store.delete_team(t.id, &by, now_ms()).await?;
            eprintln!("deleted team {} ({})", t.id, t.name);
            return Ok(());
        }
        TeamCommand::AddMember { team, email } => (team, member(store, &email).await?, true),
        TeamCommand::RemoveMember { team, email } => (team, member(store, &email).await?, false),
        TeamCommand::AddProject { team, project } => {
            (team, project_link(store, &project).await?, true)
        }
        TeamCommand::RemoveProject { team, project } => {
            (team, project_link(store, &project).await?, false)
        }
    };
    let t = find(store, &team).await?;
    if !store.change_team(t.id, link, add, &by, now_ms()).await? {
        eprintln!(
            "team {} unchanged: nothing to {}",
            t.name,
            if add { "add" } else { "remove" }
        );
    }
    Ok(())
}

async fn list(store: &Store) -> anyhow::Result<()> {
    let users = store.list_users().await?;
    let projects = store.list_projects().await?;
    for t in store.list_teams().await? {
        let members: Vec<&str> = users
            .iter()
            .filter(|u| t.members.contains(&u.id))
            .map(|u| u.email.as_str())
            .collect();
        let names: Vec<&str> = projects
            .iter()
            .filter(|p| t.projects.contains(&p.id))
            .map(|p| p.name.as_str())
            .collect();
        println!(
            "{}\t{}\t{}\t{}",
            t.id,
            t.name,
            members.join(","),
            names.join(",")
        );
    }
    Ok(())
}

/// The team `given` names: by id, else by name.
async fn find(store: &Store, given: &str) -> anyhow::Result<Team> {
    let teams = store.list_teams().await?;
    let by_id = || teams.iter().find(|t| t.id.to_string() == given);
    match teams.iter().find(|t| t.name == given).or_else(by_id) {
        Some(t) => Ok(t.clone()),
        None => anyhow::bail!("no team {given:?}"),
    }
}

async fn member(store: &Store, email: &str) -> anyhow::Result<TeamLink> {
    let user = super::cli::user_by_email(store, &crate::store::normalize_email(email)).await?;
    Ok(TeamLink::Member(user.id))
}

async fn project_link(store: &Store, given: &str) -> anyhow::Result<TeamLink> {
    Ok(TeamLink::Project(
        crate::retention::cli::project_id(store, given).await?,
    ))
}
