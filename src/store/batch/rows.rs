//! The rows both `insert.rs` and its PostgreSQL forms in `pg.rs` read back. On the SQLite
//! writer thread rows decode by position, so each statement selects the columns in field
//! order.

row! {
    /// An existing grouping: `select hash, issue_id`.
    pub(super) struct GroupingRow {
        pub(super) hash: String,
        pub(super) issue_id: i64,
    }
}

row! {
    /// An event the batch stored: `returning event_pk, project_id, event_id`.
    pub(super) struct InsertedRow {
        pub(super) event_pk: i64,
        pub(super) project_id: i64,
        pub(super) event_id: String,
    }
}
