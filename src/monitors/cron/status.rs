//! A monitor's status, per environment and for the monitor as a whole.

use serde::Serialize;

use super::checkin::CheckInStatus;

/// The status of a monitor environment (what its latest check-in says), or of a monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorStatus {
    /// No check-in yet: nothing is expected until the first one.
    New,
    /// The latest check-in was `ok`.
    Ok,
    /// The latest check-in reported an error.
    Error,
    /// A check-in is running.
    InProgress,
    /// The latest expected check-in did not come.
    Missed,
    /// The latest check-in ran longer than `max_runtime`.
    Timeout,
    /// Paused by a person: check-ins are ignored and nothing is missed (monitors only).
    Paused,
}

impl MonitorStatus {
    /// Every status.
    pub const ALL: [MonitorStatus; 7] = [
        MonitorStatus::New,
        MonitorStatus::Ok,
        MonitorStatus::Error,
        MonitorStatus::InProgress,
        MonitorStatus::Missed,
        MonitorStatus::Timeout,
        MonitorStatus::Paused,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorStatus::New => "new",
            MonitorStatus::Ok => "ok",
            MonitorStatus::Error => "error",
            MonitorStatus::InProgress => "in_progress",
            MonitorStatus::Missed => "missed",
            MonitorStatus::Timeout => "timeout",
            MonitorStatus::Paused => "paused",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<MonitorStatus> {
        MonitorStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The environment status a check-in of `status` leaves behind; `None` for `unknown`,
    /// which leaves it as it was.
    pub fn after(status: CheckInStatus) -> Option<MonitorStatus> {
        Some(match status {
            CheckInStatus::InProgress => MonitorStatus::InProgress,
            CheckInStatus::Ok => MonitorStatus::Ok,
            CheckInStatus::Error => MonitorStatus::Error,
            CheckInStatus::Missed => MonitorStatus::Missed,
            CheckInStatus::Timeout => MonitorStatus::Timeout,
            CheckInStatus::Unknown => return None,
        })
    }

    /// How much attention it needs: failures first, then running, ok, new.
    fn rank(self) -> u8 {
        match self {
            MonitorStatus::Error => 6,
            MonitorStatus::Timeout => 5,
            MonitorStatus::Missed => 4,
            MonitorStatus::InProgress => 3,
            MonitorStatus::Ok => 2,
            MonitorStatus::New => 1,
            MonitorStatus::Paused => 0,
        }
    }

    /// A monitor's status: `paused` when paused, else the most pressing status of its
    /// environments (error, timeout, missed, in_progress, ok, new), `new` without any.
    pub fn of_monitor(
        is_paused: bool,
        environments: impl IntoIterator<Item = MonitorStatus>,
    ) -> Self {
        if is_paused {
            return MonitorStatus::Paused;
        }
        environments
            .into_iter()
            .max_by_key(|s| s.rank())
            .unwrap_or(MonitorStatus::New)
    }

    /// Words for people: `OK`, `Missed`, `In progress`, ….
    pub fn label(self) -> &'static str {
        match self {
            MonitorStatus::New => "Waiting for first check-in",
            MonitorStatus::Ok => "OK",
            MonitorStatus::Error => "Error",
            MonitorStatus::InProgress => "In progress",
            MonitorStatus::Missed => "Missed",
            MonitorStatus::Timeout => "Timed out",
            MonitorStatus::Paused => "Paused",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_environment_names_the_monitor() {
        use MonitorStatus as S;
        assert_eq!(S::of_monitor(false, [S::Ok, S::Missed, S::New]), S::Missed);
        assert_eq!(S::of_monitor(false, [S::Ok, S::InProgress]), S::InProgress);
        assert_eq!(S::of_monitor(true, [S::Error]), S::Paused);
        assert_eq!(S::of_monitor(false, []), S::New);
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        assert_eq!(S::after(CheckInStatus::Unknown), None);
    }
}
