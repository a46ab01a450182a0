//! Passwords (bcrypt) and session tokens (JWT HS256).
//!
//! Tokens carry `sub` (the user id as the JWT standard wants a string), the original's `user_id`,
//! `username`, `is_admin`, `iat` and `exp`. The claims are only a hint: every request re-reads the
//! account, so a block or a revoked admin role takes effect at once whatever the token says.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::error::{ChatError, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub user_id: i64,
    pub username: String,
    pub is_admin: bool,
    pub iat: i64,
    pub exp: i64,
}

/// The signing secret, kept out of `Debug` output so it can never be logged by accident.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("ttl_secs", &self.ttl_secs).finish_non_exhaustive()
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_secs: i64) -> Self {
        // Only HS256: a token claiming `none` or any other algorithm is rejected outright.
        let mut validation = Validation::new(Algorithm::HS256);
        // The server issues and checks its own tokens on one clock: expiry is exact.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    pub fn issue(&self, user_id: i64, username: &str, is_admin: bool) -> Result<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            user_id,
            username: username.to_string(),
            is_admin,
            iat: now,
            exp: now + self.ttl_secs,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ChatError::Internal(format!("cannot sign a token: {e}")))
    }

    /// Checks signature, algorithm and expiry; returns the user id the token was issued to.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        use jsonwebtoken::errors::ErrorKind;
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            ChatError::Unauthenticated(match e.kind() {
                ErrorKind::ExpiredSignature => "the session expired, sign in again",
                _ => "invalid token",
            })
        })?;
        if data.claims.sub != data.claims.user_id.to_string() {
            return Err(ChatError::Unauthenticated("invalid token"));
        }
        Ok(data.claims)
    }
}

/// Fresh 256-bit secret from the operating system, hex-encoded for storage.
pub fn generate_secret() -> Result<String> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).map_err(|e| ChatError::Internal(format!("no randomness from the OS: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn hash_password(password: &str, cost: u32) -> Result<String> {
    bcrypt::hash(password, cost).map_err(|e| ChatError::Internal(format!("bcrypt failed: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}
