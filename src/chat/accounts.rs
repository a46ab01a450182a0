//! Accounts: validation, registration, login, and the block / admin changes shared by the REST
//! API and the operator commands.
//!
//! These functions block (bcrypt, SQLite); the daemon calls them on blocking threads and the CLI
//! calls them directly, so both paths run the very same rules.

use crate::store::{AdminAction, Credentials, Store, StoreError, User};

use super::{
    auth,
    error::{ChatError, Result},
};

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
/// bcrypt only reads 72 bytes; longer passwords are refused rather than silently truncated.
pub const PASSWORD_MAX: usize = 72;
const EMAIL_MAX: usize = 254;

fn invalid(field: &'static str, detail: impl Into<String>) -> ChatError {
    ChatError::Invalid { field, detail: detail.into() }
}

pub fn validate_username(name: &str) -> Result<()> {
    let len = name.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err(invalid(
            "username",
            format!("Username must be {USERNAME_MIN} to {USERNAME_MAX} characters long"),
        ));
    }
    // ASCII only: no look-alike letters from other scripts can impersonate an existing name.
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(invalid("username", "Username may contain only letters a-z, digits and _ . -"));
    }
    if !name.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid("username", "Username must contain a letter or a digit"));
    }
    Ok(())
}

pub fn validate_email(email: &str) -> Result<()> {
    let bad = || invalid("email", "Enter a valid e-mail address, like name@example.com");
    if email.len() > EMAIL_MAX || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.contains('@') || domain.len() < 3 {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-')) {
        return Err(bad());
    }
    Ok(())
}

pub fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < PASSWORD_MIN {
        return Err(invalid("password", format!("Password must be at least {PASSWORD_MIN} characters long")));
    }
    if password.len() > PASSWORD_MAX {
        return Err(invalid(
            "password",
            format!("Password must be at most {PASSWORD_MAX} bytes long (bcrypt ignores the rest)"),
        ));
    }
    Ok(())
}

/// What a new account needs; validated by `create_account`.
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub is_admin: bool,
}

/// Validates, hashes the password (slow: bcrypt) and stores a new account.
pub fn create_account(store: &dyn Store, new: &NewAccount<'_>, bcrypt_cost: u32) -> Result<User> {
    store_account(store, &prepare_account(store, new, bcrypt_cost)?)
}

/// A validated account with its password hashed, ready to be stored.
#[derive(Debug)]
pub struct PreparedAccount {
    username: String,
    email_lower: String,
    password_hash: String,
    is_admin: bool,
}

/// The slow half of `create_account`: validation, a read, and bcrypt. The daemon runs it on the
/// low-priority hashing pool and `store_account` elsewhere, so no write transaction is ever held
/// by a thread the scheduler puts last.
pub fn prepare_account(store: &dyn Store, new: &NewAccount<'_>, bcrypt_cost: u32) -> Result<PreparedAccount> {
    let username = new.username.trim();
    let email = new.email.trim();
    validate_username(username)?;
    validate_email(email)?;
    validate_password(new.password)?;
    // Check before the expensive hash, so a taken name answers fast; the unique index still
    // decides races.
    if store.user_by_username(username)?.is_some() {
        return Err(taken("username"));
    }
    Ok(PreparedAccount {
        username: username.to_string(),
        email_lower: email.to_lowercase(),
        password_hash: auth::hash_password(new.password, bcrypt_cost)?,
        is_admin: new.is_admin,
    })
}

/// The quick half of `create_account`: one insert.
pub fn store_account(store: &dyn Store, account: &PreparedAccount) -> Result<User> {
    let created_at = crate::timefmt::now();
    store
        .create_user(&crate::store::NewUser {
            username: &account.username,
            email: &account.email_lower,
            password_hash: &account.password_hash,
            is_admin: account.is_admin,
            created_at: &created_at,
        })
        .map_err(|e| match e {
            StoreError::Conflict(field) => taken(if field == "email" { "email" } else { "username" }),
            other => other.into(),
        })
}

fn taken(field: &'static str) -> ChatError {
    let detail = if field == "email" {
        "An account with this e-mail address already exists"
    } else {
        "This username is already taken"
    };
    ChatError::Conflict { field, detail: detail.to_string() }
}

/// Checks a login. A wrong password and an unknown account give the same error after the same
/// bcrypt work; a blocked account is only told so once its password is right.
pub fn authenticate(store: &dyn Store, login: &str, password: &str, dummy_hash: &str) -> Result<User> {
    check_password(store.credentials(login.trim())?, password, dummy_hash)
}

/// The bcrypt half of `authenticate`, for callers that looked the account up first.
pub fn check_password(found: Option<Credentials>, password: &str, dummy_hash: &str) -> Result<User> {
    match found {
        Some(creds) => {
            if !auth::verify_password(password, &creds.password_hash) {
                return Err(ChatError::BadCredentials);
            }
            if creds.user.is_blocked {
                return Err(ChatError::Blocked);
            }
            Ok(creds.user)
        }
        None => {
            let _ = auth::verify_password(password, dummy_hash);
            Err(ChatError::BadCredentials)
        }
    }
}

pub fn find_by_username(store: &dyn Store, username: &str) -> Result<User> {
    store.user_by_username(username.trim())?.ok_or_else(|| ChatError::UnknownUser(username.to_string()))
}

pub fn find_by_id(store: &dyn Store, id: i64) -> Result<User> {
    store.user_by_id(id)?.ok_or(ChatError::UnknownUserId(id))
}

/// Blocks or unblocks an account and audits it. Returns the account and whether it changed.
pub fn set_blocked(
    store: &dyn Store,
    user_id: i64,
    blocked: bool,
    actor: &str,
    reason: Option<&str>,
) -> Result<(User, bool)> {
    let now = crate::timefmt::now();
    store.set_blocked(user_id, blocked, &AdminAction { actor, reason, timestamp: &now }).map_err(
        |e| match e {
            StoreError::UserNotFound => ChatError::UnknownUserId(user_id),
            other => other.into(),
        },
    )
}

pub fn set_admin(store: &dyn Store, user_id: i64, is_admin: bool) -> Result<(User, bool)> {
    store.set_admin(user_id, is_admin).map_err(|e| match e {
        StoreError::UserNotFound => ChatError::UnknownUserId(user_id),
        other => other.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("a.b-c_9").is_ok());
        assert!(validate_username("al").is_err());
        assert!(validate_username(&"a".repeat(33)).is_err());
        assert!(validate_username("alice bob").is_err());
        assert!(validate_username("аlice").is_err(), "Cyrillic a");
        assert!(validate_username("...").is_err());
    }

    #[test]
    fn emails() {
        assert!(validate_email("a@example.com").is_ok());
        assert!(validate_email("a@b").is_err());
        assert!(validate_email("nobody").is_err());
        assert!(validate_email("a b@example.com").is_err());
        assert!(validate_email("a@.com").is_err());
    }

    #[test]
    fn passwords() {
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password("1234567").is_err());
        assert!(validate_password(&"x".repeat(72)).is_ok());
        assert!(validate_password(&"x".repeat(73)).is_err());
        assert!(validate_password(&"é".repeat(37)).is_err(), "74 bytes");
    }
}
