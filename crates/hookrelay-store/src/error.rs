//! The storage error type.

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. a duplicate id).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database said no.
    #[error("database error: {0}")]
    Database(String),
    /// Stored data could not be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The store is shutting down or its worker died.
    #[error("the store is closed")]
    Closed,
    /// Opening or migrating the database failed.
    #[error("cannot open the database: {0}")]
    Open(String),
    /// The workspace already has `limit` of `what` (e.g. "endpoints"), the
    /// most it may have; nothing was written.
    #[error("quota exceeded: at most {limit} {what} per workspace")]
    QuotaExceeded { what: &'static str, limit: u32 },
}

impl StoreError {
    /// Whether trying again later might succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Database(_) | StoreError::Closed)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Conflict(e.to_string())
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

/// Unique violations (SQLSTATE 23505) are conflicts; every other PostgreSQL
/// error (including a lost connection) is a retryable database error.
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let message = pg_message(&e);
        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            StoreError::Conflict(message)
        } else {
            StoreError::Database(message)
        }
    }
}

/// A closed pool means a closed store; a connection the pool could not make
/// is a database error.
impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Closed => StoreError::Closed,
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Database(format!("connection pool: {other}")),
        }
    }
}

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
        StoreError::Corrupt(e.to_string())
    }
}
