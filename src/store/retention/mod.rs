//! The data lifecycle's tables and queries (`src/retention` drives them): per-project
//! settings and deletion (`settings.rs`), discarded grouping hashes (`discard.rs`), the
//! pruning reads and the small delete batches that the writer threads run (`prune.rs`), and
//! the size, contents and pass record shown by `errata retention status` (`status.rs`), and
//! the per-issue tag values and users idle past the age retired (`idle.rs`).
//!
//! Every delete runs as a [`Prune`] step: on a SQLite file through the ingest writer thread
//! (a `Job` queued behind the commits that came first, so ingestion waits at most one small
//! step), on PostgreSQL in a short transaction on the writer's connections. Reads that pick
//! what to delete run on the pool and never block a commit.

mod discard;
mod idle;
mod idle_tag_values;
mod idle_users;
mod prune;
mod settings;
mod status;

pub use discard::DiscardedGrouping;
pub use idle::{IdleKey, IdleRows};
pub use prune::CapCandidate;
pub(super) use prune::{Prune, Pruned};
pub use settings::{Limit, ProjectLimits};
pub use status::{DatabaseSize, RetentionRun, StoredContents};
