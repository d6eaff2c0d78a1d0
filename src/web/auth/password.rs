//! Password hashes: argon2id PHC strings with a random salt. Hashing is deliberately slow
//! (tens of milliseconds), so request handlers run it on the blocking pool.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::http::session::random_hex;
use crate::web::WebError;

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Errors hashing a password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_LEN`].
    #[error("the password must have at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    /// argon2 failed (out of memory).
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Hashes a password as an argon2id PHC string with a random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// [`hash_password`] on the blocking pool: argon2 is deliberately slow and must not stall the
/// request workers. The outer error is a failed task, the inner one a rejected password.
pub async fn hash_password_off_thread(
    password: String,
) -> Result<Result<String, PasswordError>, WebError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| WebError::BadRequest(e.to_string()))
}

/// True when `password` matches the PHC string `hash`; false for a malformed hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, verified against when the e-mail is unknown so that a
/// wrong e-mail takes as long as a wrong password (no account enumeration by timing).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_hex(16)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong horse"));
        assert!(!verify_password("garbage", "correct horse"));
        assert!(!verify_password(dummy_hash(), ""));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort)
        ));
    }
}
