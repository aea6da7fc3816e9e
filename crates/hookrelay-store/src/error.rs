//! The storage error type: what kind of failure it was, a short message that
//! reads the same on every backend, and the driver's own error as its source.

use std::sync::Arc;

/// A driver's error, kept whole for logs. Shared rather than boxed so that
/// one failure can be answered to every caller of a batched write.
pub type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// How a caller should take a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The thing asked for does not exist.
    NotFound,
    /// A uniqueness rule was broken (e.g. a duplicate id).
    Conflict,
    /// Trying again later may work: a lost connection, a closed or exhausted
    /// pool, a busy or locked database, a serialization failure, a deadlock.
    Unavailable,
    /// The request itself was refused by a rule of the store (e.g. a quota).
    Invalid,
    /// A fault that retrying will not fix: a schema bug, a corrupt row, a
    /// broken constraint other than uniqueness.
    Internal,
}

/// Why a storage call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed. `message` never quotes the driver: it
    /// may be shown to clients and must read the same on every backend.
    #[error("{message}")]
    Failed {
        kind: ErrorKind,
        message: String,
        #[source]
        source: Option<Source>,
    },
    /// The store is shutting down or its worker died.
    #[error("the store is closed")]
    Closed,
    /// Opening or migrating the database failed. Only the operator sees this
    /// (at startup), so it keeps the driver's words.
    #[error("cannot open the database: {0}")]
    Open(String),
    /// The workspace already has `limit` of `what` (e.g. "endpoints"), the
    /// most it may have; nothing was written.
    #[error("quota exceeded: at most {limit} {what} per workspace")]
    QuotaExceeded { what: &'static str, limit: u32 },
}

impl StoreError {
    /// A failure of `kind` with no driver error behind it.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        StoreError::Failed {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A failure of `kind` caused by `source`.
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Failed {
            kind,
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// A uniqueness rule was broken.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// Trying again later may work.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// A fault retrying will not fix.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Stored data could not be read back.
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::internal(format!("corrupt record: {what}"))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Failed { kind, .. } => *kind,
            StoreError::Closed => ErrorKind::Unavailable,
            StoreError::Open(_) => ErrorKind::Internal,
            StoreError::QuotaExceeded { .. } => ErrorKind::Invalid,
        }
    }

    /// Whether trying again later might succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Unavailable
    }
}

/// The message of a broken uniqueness rule on `table`, the same whichever
/// backend noticed it.
fn conflict_message(table: Option<&str>) -> &'static str {
    match table {
        Some("workspaces") => "a workspace with this id already exists",
        Some("api_keys") => "an API key with this id or hash already exists",
        Some("endpoints") => "an endpoint with this id already exists",
        Some("subscriptions") => "this subscription already exists",
        Some("events") => "an event with this id already exists",
        Some("idempotency_keys") => "this idempotency key is already taken",
        Some("deliveries") => "a delivery with this id already exists",
        Some("attempts") => "this attempt is already recorded",
        _ => "duplicate key",
    }
}

const UNAVAILABLE: &str = "the database is unavailable";
const INTERNAL: &str = "the database failed";

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let rusqlite::Error::SqliteFailure(f, detail) = &e else {
            return Self::with_source(ErrorKind::Internal, INTERNAL, e);
        };
        match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                Self::with_source(ErrorKind::Unavailable, UNAVAILABLE, e)
            }
            ErrorCode::ConstraintViolation
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                // SQLite names the broken rule "UNIQUE constraint failed:
                // table.column, ...".
                let table = detail
                    .as_deref()
                    .and_then(|d| d.split_once(": "))
                    .and_then(|(_, cols)| cols.split_once('.'))
                    .map(|(table, _)| table);
                let message = conflict_message(table);
                Self::with_source(ErrorKind::Conflict, message, e)
            }
            ErrorCode::ConstraintViolation => {
                Self::with_source(ErrorKind::Internal, "a database constraint failed", e)
            }
            _ => Self::with_source(ErrorKind::Internal, INTERNAL, e),
        }
    }
}

/// Classified by SQLSTATE: unique violations are conflicts; serialization
/// failures, deadlocks, connection trouble, shutdowns and exhausted resources
/// are worth retrying; anything else is a fault.
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        let Some(db) = e.as_db_error() else {
            // No answer from the server: a lost connection or a failed
            // socket is worth retrying; a value that would not convert is not.
            let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
            let kind = if e.is_closed() || io || std::error::Error::source(&e).is_none() {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Internal
            };
            let message = if kind == ErrorKind::Unavailable {
                UNAVAILABLE
            } else {
                INTERNAL
            };
            return Self::with_source(kind, message, PgError(e));
        };
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            let message = conflict_message(db.table());
            return Self::with_source(ErrorKind::Conflict, message, PgError(e));
        }
        let class = &code.code()[..2];
        let retryable = *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || class == "08"
            || class == "53"
            || code.code().starts_with("57P0");
        let (kind, message) = if retryable {
            (ErrorKind::Unavailable, UNAVAILABLE)
        } else {
            (ErrorKind::Internal, INTERNAL)
        };
        Self::with_source(kind, message, PgError(e))
    }
}

/// A closed pool means a closed store; a pool that ran out of time is worth
/// retrying.
impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Closed => StoreError::Closed,
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            e @ deadpool_postgres::PoolError::Timeout(_) => {
                Self::with_source(ErrorKind::Unavailable, UNAVAILABLE, e)
            }
            other => Self::with_source(ErrorKind::Internal, "the connection pool failed", other),
        }
    }
}

/// A PostgreSQL error that says what the server said (tokio-postgres only
/// says "db error" in its `Display`), for logs.
#[derive(Debug)]
struct PgError(tokio_postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&pg_message(&self.0))
    }
}

impl std::error::Error for PgError {}

/// The server's own words for a PostgreSQL error (tokio-postgres only says
/// "db error" in its `Display`).
pub(crate) fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                m.push_str(" (");
                m.push_str(detail);
                m.push(')');
            }
            m
        }
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::with_source(ErrorKind::Internal, "corrupt record: bad JSON", e)
    }
}
