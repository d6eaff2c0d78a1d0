//! Signing in to the issue browser, one module per job:
//!
//! * [`password`]: argon2id hashes of passwords.
//! * [`limiter`]: failed sign-ins slowed per (remote address, account) and per address.
//! * [`login`]: the sign-in form, sign-out, and where sign-in sends the browser ([`safe_next`]).
//! * [`setup`]: the one-time link that creates the first admin.
//! * [`reset`]: the one-time link an admin makes for a user to set a new password.
//! * [`guard`]: what a page request must prove: the CSRF check of every form before its
//!   handler runs, and the [`CurrentUser`] extractor that sends the signed-out to sign-in.
//!
//! Sessions, cookies, the CSRF rule and permissions are not the pages' own: they live in
//! [`crate::http`] and serve the JSON API too.

pub mod guard;
pub mod limiter;
pub mod login;
pub mod password;
pub mod reset;
pub mod setup;

pub use crate::http::principal::{CurrentUser, Permission};
pub use guard::csrf_guard;
pub use limiter::LoginLimiter;
pub use login::safe_next;
pub use password::{hash_password, verify_password, PasswordError, MIN_PASSWORD_LEN};
pub use setup::first_admin_setup_token;
