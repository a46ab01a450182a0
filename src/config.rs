//! `serve` arguments turned into a validated configuration, so every bad option is reported
//! once, clearly, before anything starts.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::{
    chat::{moderation::Matcher, ratelimit::Rate, ChatConfig, Secret},
    cli::ServeArgs,
    http::HttpConfig,
    server::ServerConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid --listen {0:?}: expected an address like 127.0.0.1:8080 or [::]:8080")]
    Listen(String),
    #[error("invalid --bcrypt-cost {0}: it must be between 4 and 31")]
    BcryptCost(u32),
    #[error("invalid --token-ttl {0:?}: use seconds or a number with s, m, h or d (for example 24h)")]
    TokenTtl(String),
    #[error("{0} must be at least {1}")]
    TooSmall(&'static str, String),
    #[error("cannot read {what} {path}: {source}")]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("invalid blocklist {path}: {reason}")]
    Blocklist { path: PathBuf, reason: String },
    #[error("the JWT secret must be at least 32 bytes long")]
    ShortSecret,
    #[error("--web-dir {0} is not a folder")]
    WebDir(PathBuf),
}

pub struct ServeConfig {
    pub listen: SocketAddr,
    pub chat: ChatConfig,
    pub http: HttpConfig,
    pub server: ServerConfig,
    pub secret: Secret,
    pub matcher: Matcher,
}

/// Parses `90`, `90s`, `15m`, `24h`, `7d`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

impl ServeConfig {
    /// `jwt_secret_env` is `CHATTERBOX_JWT_SECRET`, passed in rather than read here so tests
    /// do not depend on the process environment.
    pub fn from_args(args: &ServeArgs, jwt_secret_env: Option<String>) -> Result<Self, ConfigError> {
        let listen: SocketAddr = args.listen.parse().map_err(|_| ConfigError::Listen(args.listen.clone()))?;
        if !(4..=31).contains(&args.bcrypt_cost) {
            return Err(ConfigError::BcryptCost(args.bcrypt_cost));
        }
        let ttl =
            parse_duration(&args.token_ttl).ok_or_else(|| ConfigError::TokenTtl(args.token_ttl.clone()))?;
        let at_least = |name: &'static str, ok: bool, min: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::TooSmall(name, min.to_string()))
            }
        };
        at_least("--warning-limit", args.warning_limit >= 1, "1")?;
        at_least("--max-message-chars", args.max_message_chars >= 1, "1")?;
        at_least("--message-burst", args.message_burst >= 1, "1")?;
        at_least("--message-rate", args.message_rate > 0.0, "more than 0")?;
        at_least("--auth-burst", args.auth_burst >= 1, "1")?;
        at_least("--auth-per-minute", args.auth_per_minute > 0.0, "more than 0")?;
        at_least("--max-connections", args.max_connections >= 1, "1")?;
        at_least("--max-pending-logins", args.max_pending_logins >= 1, "1")?;
        let secret = match (&args.jwt_secret_file, jwt_secret_env) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    what: "the JWT secret file",
                    path: path.clone(),
                    source,
                })?;
                Secret::Given(text.trim().as_bytes().to_vec())
            }
            (None, Some(s)) if !s.is_empty() => Secret::Given(s.into_bytes()),
            _ => Secret::Stored,
        };
        if let Secret::Given(bytes) = &secret {
            if bytes.len() < 32 {
                return Err(ConfigError::ShortSecret);
            }
        }
        let matcher = match &args.blocklist {
            Some(path) => match path.to_str().and_then(Matcher::built_in) {
                Some(built_in) => built_in,
                None => {
                    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        what: "the blocklist",
                        path: path.clone(),
                        source,
                    })?;
                    Matcher::from_list(&text)
                        .map_err(|reason| ConfigError::Blocklist { path: path.clone(), reason })?
                }
            },
            None => Matcher::default_terms(),
        };
        if let Some(dir) = &args.web_dir {
            if !dir.is_dir() {
                return Err(ConfigError::WebDir(dir.clone()));
            }
        }
        // The message frame carries up to max chars of 4 UTF-8 bytes each plus JSON escaping.
        let max_frame_bytes = (args.max_message_chars * 6 + 1024).max(16 * 1024);
        Ok(ServeConfig {
            listen,
            chat: ChatConfig {
                bcrypt_cost: args.bcrypt_cost,
                token_ttl_secs: ttl.as_secs() as i64,
                warning_limit: args.warning_limit,
                max_message_chars: args.max_message_chars,
                history_limit: args.history,
                message_rate: Rate::new(f64::from(args.message_burst), args.message_rate),
                auth_rate: (!args.rate_limit_off)
                    .then(|| Rate::new(f64::from(args.auth_burst), args.auth_per_minute / 60.0)),
                max_pending_logins: args.max_pending_logins,
                ..ChatConfig::default()
            },
            http: HttpConfig { web_dir: args.web_dir.clone(), max_frame_bytes, ..HttpConfig::default() },
            server: ServerConfig {
                grace_period: Duration::from_secs(args.grace_period),
                max_connections: args.max_connections,
                ..ServerConfig::default()
            },
            secret,
            matcher,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_duration, ServeConfig};
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use std::time::Duration;

    fn serve(extra: &[&str]) -> Result<ServeConfig, super::ConfigError> {
        let args = [&["chatterbox", "serve"], extra].concat();
        let Command::Serve(args) = Cli::try_parse_from(args).unwrap().command else { unreachable!() };
        ServeConfig::from_args(&args, Some("x".repeat(32)))
    }

    #[test]
    fn built_in_blocklists_by_name_and_files_by_path() {
        let default = serve(&[]).unwrap().matcher;
        assert_eq!(default.find("I hate Mondays"), None);
        assert_eq!(default.find("fu ck"), Some("fuck"));
        let original = serve(&["--blocklist", "original"]).unwrap().matcher;
        assert_eq!(original.find("I hate Mondays"), Some("hate"));
        assert_eq!(original.find("fuck"), None);
        let named = serve(&["--blocklist", "default"]).unwrap().matcher;
        assert_eq!(named.len(), default.len());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("original");
        std::fs::write(&path, "frak\n").unwrap();
        let file = serve(&["--blocklist", path.to_str().unwrap()]).unwrap().matcher;
        assert_eq!(file.find("frak"), Some("frak"));
        assert!(serve(&["--blocklist", "no-such-list"]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5y"), None);
    }
}
