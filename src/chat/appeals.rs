//! Appeals: a blocked account that signs in (with the right password) is offered one appeal per
//! block, through a short-lived token good for nothing else; admins answer with unblock or keep
//! and a note the user reads at their next sign-in.
//!
//! The appeal token is signed with a key of its own, derived from the session secret, so it can
//! never pass as a session token (nor a session token as an appeal token).

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{accounts, Chat, ChatError, Result};
use crate::store::{Appeal, AppealRefusal, User};

/// How long a blocked sign-in's appeal token lasts: time enough to write a few sentences.
const APPEAL_TOKEN_SECS: i64 = 30 * 60;
/// The longest appeal, in characters.
pub const MAX_APPEAL_CHARS: usize = 2000;
/// The longest answer, in characters.
pub const MAX_ANSWER_CHARS: usize = 1000;

/// What a blocked sign-in's refusal tells the client about appealing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppealOffer {
    /// The block has no appeal yet: this token files one.
    Allowed { token: String },
    /// The appeal was filed: its status (`open`, `kept`) and the admin's answer, if any.
    Filed { status: String, answer: Option<String> },
    /// Nothing to appeal (a block without its audit row, from before the audit log).
    None,
}

impl AppealOffer {
    /// The members a refused sign-in's body gains: `appeal`.
    pub fn body(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::json;
        let appeal = match self {
            AppealOffer::Allowed { token } => json!({ "allowed": true, "token": token }),
            AppealOffer::Filed { status, answer } => {
                json!({ "allowed": false, "status": status, "answer": answer })
            }
            AppealOffer::None => json!({ "allowed": false }),
        };
        let mut map = serde_json::Map::new();
        map.insert("appeal".into(), appeal);
        map
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct AppealClaims {
    sub: String,
    /// The audit row of the block this token may appeal.
    block: i64,
    iat: i64,
    exp: i64,
}

/// The appeal tokens' keys (kept out of `Debug`).
#[derive(Clone)]
pub struct AppealKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for AppealKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppealKeys").finish_non_exhaustive()
    }
}

impl AppealKeys {
    pub fn new(session_secret: &[u8]) -> AppealKeys {
        let mut secret = session_secret.to_vec();
        secret.extend_from_slice(b"\0appeal");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        AppealKeys {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
        }
    }

    fn issue(&self, user_id: i64, block: i64) -> Result<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = AppealClaims { sub: user_id.to_string(), block, iat: now, exp: now + APPEAL_TOKEN_SECS };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ChatError::Internal(format!("cannot sign a token: {e}")))
    }

    /// The account and block a token may appeal.
    fn verify(&self, token: &str) -> Result<(i64, i64)> {
        let data = decode::<AppealClaims>(token, &self.decoding, &self.validation).map_err(|_| {
            ChatError::Unauthenticated("this appeal link is invalid or expired; sign in again")
        })?;
        let user = data.claims.sub.parse().map_err(|_| ChatError::Unauthenticated("invalid token"))?;
        Ok((user, data.claims.block))
    }
}

impl Chat {
    /// What a blocked account that gave its right password may do about the block.
    pub(super) async fn appeal_offer(&self, user_id: i64) -> Result<AppealOffer> {
        let state = self.blocking(move |s| Ok(s.block_appeal(user_id)?)).await?;
        Ok(match state {
            None => AppealOffer::None,
            Some((block, None)) => AppealOffer::Allowed { token: self.appeal_keys.issue(user_id, block)? },
            Some((_, Some(a))) => AppealOffer::Filed { status: a.status, answer: a.answer },
        })
    }

    /// Files the appeal a blocked sign-in's token allows.
    pub async fn file_appeal(&self, token: &str, text: &str) -> Result<Appeal> {
        let (user_id, block) = self.appeal_keys.verify(token)?;
        let text = text.trim().to_string();
        if text.is_empty() || text.chars().count() > MAX_APPEAL_CHARS {
            return Err(ChatError::Invalid {
                field: "text",
                detail: format!("Write your appeal in 1 to {MAX_APPEAL_CHARS} characters"),
            });
        }
        self.blocking(move |s| {
            s.file_appeal(user_id, block, &text, &crate::timefmt::now())?.map_err(|r| match r {
                AppealRefusal::NotFound => {
                    ChatError::Unauthenticated("this account is no longer blocked by this block")
                }
                AppealRefusal::Done => ChatError::Conflict {
                    field: "text",
                    detail: "This block has been appealed already".into(),
                },
            })
        })
        .await
    }

    pub async fn appeals(&self, open_only: bool, before: Option<i64>, limit: usize) -> Result<Vec<Appeal>> {
        self.blocking(move |s| Ok(s.appeals(open_only, before, limit)?)).await
    }

    /// An admin answers an open appeal: `unblock` lifts the block (the usual audited unblock).
    pub async fn answer_appeal(&self, admin: &User, id: i64, unblock: bool, note: String) -> Result<Appeal> {
        let note = note.trim().to_string();
        if note.chars().count() > MAX_ANSWER_CHARS {
            return Err(ChatError::Invalid {
                field: "note",
                detail: format!("At most {MAX_ANSWER_CHARS} characters"),
            });
        }
        let (actor, actor_id) = (admin.username.clone(), admin.id);
        let status = if unblock { "unblocked" } else { "kept" };
        let appeal = self
            .blocking(move |s| {
                s.answer_appeal(id, status, &note, &actor, actor_id, &crate::timefmt::now())?.map_err(|r| {
                    match r {
                        AppealRefusal::NotFound => ChatError::NotFound("No such appeal"),
                        AppealRefusal::Done => ChatError::Conflict {
                            field: "decision",
                            detail: "This appeal was answered already".into(),
                        },
                    }
                })
            })
            .await?;
        if unblock {
            let (user_id, actor) = (appeal.user_id, admin.username.clone());
            let reason = format!("appeal #{id}");
            self.blocking(move |s| accounts::set_blocked(s, user_id, false, &actor, Some(&reason))).await?;
            self.log.sync().await;
        }
        tracing::info!(admin = %admin.username, appeal = id, unblock, "appeal answered");
        Ok(appeal)
    }

    /// The note of the appeal that unblocked the account, once (for the sign-in after it). A
    /// database that cannot be written now (locked, read-only) does not fail the sign-in: the
    /// note waits for the next one.
    pub async fn take_appeal_answer(&self, user_id: i64) -> Option<String> {
        match self.blocking(move |s| Ok(s.take_appeal_answer(user_id)?)).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(error = %e, user_id, "cannot mark an appeal's answer as seen; it shows at the next sign-in");
                None
            }
        }
    }
}
