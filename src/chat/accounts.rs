//! Accounts: validation, registration, login, and the block / admin changes shared by the REST
//! API and the operator commands.
//!
//! These functions block (bcrypt, SQLite); the daemon calls them on blocking threads and the CLI
//! calls them directly, so both paths run the very same rules.

use unicode_security::confusable_detection::skeleton;

use crate::store::{AdminAction, Credentials, Store, StoreError, User, UserKeys};

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
/// Names the server itself speaks or acts as: `System` signs the warning frames of the chat,
/// `moderation` and `cli` are actors in the audit log. An account named like one (or like a
/// look-alike of one) could pass its words off as the server's.
pub const RESERVED_NAMES: [&str; 3] = ["System", "moderation", CLI_ACTOR];

/// The actor recorded in the audit log for operator commands.
pub const CLI_ACTOR: &str = "cli";

/// The key that makes two usernames one name: equal keys mean the names differ only in case or
/// in characters that render alike (UTS #39 confusables), so one could pass for the other.
///
/// Equality up to case and equality up to look-alikes must be folded into one relation that is
/// transitive, or a unique index cannot enforce it. The skeleton alone is case-sensitive and
/// maps capital `I` (like `1` and `|`) to `l`: `aIice` and `alice` share a skeleton, but
/// `ALICE` gets `ALlCE`, not `alice`. So: upper-case first (case variants become one string),
/// skeleton (capital `I` and `1` become `l`, digit `0` becomes `O`: `ALICE` and `ALlCE` both
/// give `ALlCE`), then lower-case and skeleton again, which catches what only looks alike in
/// lower case (`rn` and `m`). `alice`, `aIice` and `ALlCE` all give `allce`. Because capital `I`
/// is both "capital i" and "looks like l", the closure also joins `i` and `l`: `aiice` and
/// `alice` collide. That is the price of a transitive key, and a registration refused for
/// looking like an existing name is a small price next to impersonation.
pub fn name_key(name: &str) -> String {
    let upper = name.trim().to_uppercase();
    let lower = skeleton(&upper).collect::<String>().to_lowercase();
    skeleton(&lower).collect()
}

/// The key e-mail addresses are compared by: Unicode lower case (SQL's `lower()` and `NOCASE`
/// fold ASCII only, so `É@x.org` and `é@x.org` would be two accounts and one of them could not
/// sign in by its address typed the other way).
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

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
    let key = name_key(name);
    if RESERVED_NAMES.iter().any(|r| name_key(r) == key) {
        return Err(invalid("username", "This username is reserved; choose another one"));
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

/// A password typed at sign-in: only the length bcrypt can check. A longer one is refused with
/// the registration's message rather than cut at 72 bytes, which would let any suffix pass.
pub fn validate_login_password(password: &str) -> Result<()> {
    if password.len() > PASSWORD_MAX {
        return validate_password(password);
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
    name_key: String,
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
    // Check before the expensive hash, so a taken name answers fast; the unique index on the
    // key still decides races.
    let name_key = name_key(username);
    if store.user_by_name_key(&name_key)?.is_some() {
        return Err(taken("username"));
    }
    Ok(PreparedAccount {
        username: username.to_string(),
        name_key,
        email_lower: email_key(email),
        password_hash: auth::hash_password(new.password, bcrypt_cost)?,
        is_admin: new.is_admin,
    })
}

/// The quick half of `create_account`: one insert.
pub fn store_account(store: &dyn Store, account: &PreparedAccount) -> Result<User> {
    let created_at = crate::timefmt::now();
    store
        .create_user_keyed(
            &crate::store::NewUser {
                username: &account.username,
                email: &account.email_lower,
                password_hash: &account.password_hash,
                is_admin: account.is_admin,
                created_at: &created_at,
            },
            &UserKeys { name_key: &account.name_key, email_key: &account.email_lower },
        )
        .map_err(|e| match e {
            StoreError::Conflict(field) => taken(if field == "email" { "email" } else { "username" }),
            other => other.into(),
        })
}

fn taken(field: &'static str) -> ChatError {
    let detail = if field == "email" {
        "An account with this e-mail address already exists"
    } else {
        "This username is already taken, or looks too much like one that is"
    };
    ChatError::Conflict { field, detail: detail.to_string() }
}

/// Checks a login. A wrong password and an unknown account give the same error after the same
/// bcrypt work; a blocked account is only told so once its password is right. A hash of another
/// cost than `cost` is replaced by one of `cost`.
pub fn authenticate(
    store: &dyn Store,
    login: &str,
    password: &str,
    dummy_hash: &str,
    cost: u32,
) -> Result<User> {
    validate_login_password(password)?;
    let login = login.trim();
    let checked = check_password(store.credentials(login, &email_key(login))?, password, dummy_hash, cost)?;
    store_rehash(store, checked.rehash.as_ref());
    Ok(checked.user)
}

/// A successful password check, and a new hash when the stored one has another cost.
#[derive(Debug)]
pub struct Checked {
    pub user: User,
    pub rehash: Option<Rehash>,
}

/// The stored hash to replace (only if it is still the stored one) and its replacement.
#[derive(Debug)]
pub struct Rehash {
    user_id: i64,
    old_hash: String,
    new_hash: String,
}

/// The bcrypt half of `authenticate`, for callers that looked the account up first. With the
/// right password and a hash of another cost than `cost`, also hashes it anew at `cost` (the
/// usual practice: costs converge on the configured one as people sign in, so an account's
/// wrong-password time stops telling it apart from an unknown name's).
pub fn check_password(
    found: Option<Credentials>,
    password: &str,
    dummy_hash: &str,
    cost: u32,
) -> Result<Checked> {
    match found {
        Some(creds) => {
            if !auth::verify_password(password, &creds.password_hash) {
                return Err(ChatError::BadCredentials);
            }
            if creds.user.is_blocked {
                return Err(ChatError::Blocked);
            }
            let rehash = if hash_cost(&creds.password_hash) != Some(cost) {
                Some(Rehash {
                    user_id: creds.user.id,
                    new_hash: auth::hash_password(password, cost)?,
                    old_hash: creds.password_hash,
                })
            } else {
                None
            };
            Ok(Checked { user: creds.user, rehash })
        }
        None => {
            let _ = auth::verify_password(password, dummy_hash);
            Err(ChatError::BadCredentials)
        }
    }
}

/// Stores a login's new hash. Failing only costs the upgrade (tried again at the next login),
/// so it is logged, not reported.
pub fn store_rehash(store: &dyn Store, rehash: Option<&Rehash>) {
    let Some(r) = rehash else { return };
    match store.replace_password_hash(r.user_id, &r.old_hash, &r.new_hash) {
        Ok(_) => tracing::debug!(id = r.user_id, "password hash moved to the configured cost"),
        Err(e) => {
            tracing::warn!(id = r.user_id, error = %e, "cannot store the password hash at the new cost")
        }
    }
}

/// The cost of a bcrypt hash (`$2b$10$...` is 10), or None if it is not one.
pub fn hash_cost(hash: &str) -> Option<u32> {
    let mut parts = hash.split('$');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(""), Some(_variant), Some(cost)) if cost.len() == 2 => cost.parse().ok(),
        _ => None,
    }
}

/// The cost most stored hashes have (`fallback` for an empty store; a tie goes to the higher
/// cost). An unknown name is checked against a dummy hash of this cost, so it takes as long as
/// a typical account's wrong password.
pub fn typical_cost(store: &dyn Store, fallback: u32) -> Result<u32> {
    let counts = store.hash_prefix_counts()?;
    Ok(counts
        .iter()
        .filter_map(|(prefix, n)| Some((*n, hash_cost(prefix)?)))
        .max()
        .map_or(fallback, |(_, cost)| cost))
}

/// Fills the look-alike and e-mail keys of accounts stored before they existed (or by a tool
/// that does not set them). Older databases may hold two names that now count as one, or two
/// addresses differing only in non-ASCII case: the first account keeps the key, the later one is
/// left without it (it still signs in) and named in a warning for the operator. Returns how many
/// accounts got keys.
pub fn backfill_keys(store: &dyn Store) -> Result<usize> {
    const PAGE: usize = 500;
    let (mut after, mut filled) = (0, 0);
    loop {
        let page = store.users_without_keys(after, PAGE)?;
        let Some(last) = page.last() else { return Ok(filled) };
        after = last.id;
        for user in &page {
            let set = store.set_user_keys(
                user.id,
                &UserKeys { name_key: &name_key(&user.username), email_key: &email_key(&user.email) },
            )?;
            if set.name && set.email {
                filled += 1;
            }
            if !set.name {
                tracing::warn!(user = %user.username, id = user.id, "this username looks like another account's; new look-alikes of it are still refused");
            }
            if !set.email {
                tracing::warn!(user = %user.username, id = user.id, "this account's e-mail address differs from another's only in letter case; sign-ins by that address may reach the other account");
            }
        }
        if page.len() < PAGE {
            return Ok(filled);
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
    fn look_alike_and_case_variant_names_share_a_key() {
        let alice = name_key("alice");
        for same in ["aIice", "ALlCE", "ALICE", "Alice", "a1ice", "  alice "] {
            assert_eq!(name_key(same), alice, "{same:?}");
        }
        assert_eq!(name_key("modern"), name_key("rnodern"));
        assert_eq!(name_key("b0b"), name_key("bob"));
        assert_ne!(name_key("alice"), name_key("alex"));
        assert_ne!(name_key("bob"), name_key("rob"));
    }

    #[test]
    fn reserved_names_and_their_look_alikes_are_refused() {
        for name in ["System", "system", "SYSTEM", "SySTEM", "rnoderation", "moderation", "cli", "CLI", "c1i"]
        {
            let err = validate_username(name).expect_err(name);
            assert!(
                matches!(&err, ChatError::Invalid { field: "username", detail } if detail.contains("reserved")),
                "{name:?}: {err:?}"
            );
        }
        assert!(validate_username("systems").is_ok());
    }

    #[test]
    fn e_mail_keys_fold_unicode_case() {
        assert_eq!(email_key("\u{c9}MILE@Example.ORG"), email_key("\u{e9}mile@example.org"));
    }

    #[test]
    fn hash_costs() {
        assert_eq!(hash_cost("$2b$10$abcdefghijklmnopqrstuv"), Some(10));
        assert_eq!(hash_cost("$2y$04$"), Some(4));
        assert_eq!(hash_cost("plain"), None);
        assert_eq!(hash_cost(""), None);
    }

    #[test]
    fn the_dummy_cost_follows_the_stored_hashes_and_logins_move_them_to_the_configured_cost() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = crate::store::SqliteStore::open_and_migrate(&dir.path().join("t.db")).unwrap();
        assert_eq!(typical_cost(&store, 6).unwrap(), 6, "an empty store: the configured cost");
        let new = |name: &'static str| NewAccount {
            username: name,
            email: "x@example.com",
            password: "password1",
            is_admin: false,
        };
        let mut made = Vec::new();
        for (name, cost) in [("ann", 5), ("ben", 5), ("cat", 4)] {
            let mut acc = new(name);
            let email = format!("{name}@example.com");
            acc.email = &email;
            made.push(create_account(&store, &acc, cost).unwrap());
        }
        assert_eq!(typical_cost(&store, 4).unwrap(), 5, "most hashes have cost 5");
        // Logging in with the configured cost 4 rehashes ann's and ben's passwords.
        for name in ["ann", "ben"] {
            let user = authenticate(&store, name, "password1", "", 4).unwrap();
            let creds = store.credentials(&user.username, "").unwrap().unwrap();
            assert!(creds.password_hash.starts_with("$2b$04$"), "{}", creds.password_hash);
            assert!(auth::verify_password("password1", &creds.password_hash));
        }
        assert_eq!(typical_cost(&store, 4).unwrap(), 4);
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
