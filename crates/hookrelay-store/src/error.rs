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

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
