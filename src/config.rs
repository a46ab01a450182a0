//! `serve` arguments turned into a validated configuration, so every bad option is reported
//! once, clearly, before anything starts.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::{
    chat::{
        moderation::Matcher, ratelimit::Rate, standing::Ladder, webhook::WebhookConfig, ChatConfig, Secret,
    },
    cli::{ServeArgs, WebhookFail},
    http::{cors::CorsOrigins, proxy::TrustedProxies, HttpConfig},
    server::ServerConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid --listen {0:?}: expected an address like 127.0.0.1:8080 or [::]:8080")]
    Listen(String),
    #[error("invalid --metrics-listen {0:?}: expected an address like 127.0.0.1:9090")]
    MetricsListen(String),
    #[error("invalid --bcrypt-cost {0}: it must be between 4 and 31")]
    BcryptCost(u32),
    #[error("invalid --token-ttl {0:?}: use seconds or a number with s, m, h or d (for example 24h)")]
    TokenTtl(String),
    #[error("invalid --token-ttl {0:?}: at most {MAX_TOKEN_TTL_DAYS}d (10 years)")]
    TokenTtlTooLong(String),
    #[error("invalid --edit-window {0:?}: use seconds or a number with s, m, h or d (for example 24h)")]
    EditWindow(String),
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
    #[error("--cors-origin: {0}")]
    CorsOrigin(String),
    #[error("--trusted-proxy: {0}")]
    TrustedProxy(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("invalid --classifier-threshold {0}: a probability between 0 and 1 (exclusive), like 0.7")]
    ClassifierThreshold(f64),
    #[error("invalid --moderation-ladder: {0}")]
    Ladder(String),
    #[error("invalid --strike-decay {0:?}: use a number with s, m, h or d (for example 7d)")]
    StrikeDecay(String),
    #[error("--moderation-webhook{0}")]
    Webhook(String),
}

pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Where `/metrics` is served (`--metrics-listen`), if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    pub chat: ChatConfig,
    pub http: HttpConfig,
    pub server: ServerConfig,
    pub secret: Secret,
    pub matcher: Matcher,
    /// Rooms new accounts join besides `general`, by name.
    pub auto_join: Vec<String>,
}

/// The longest sign-in: long enough for any real use, and far enough from the limits that
/// `now + ttl` always fits a JWT `exp` (i64 seconds) and a date the time crate can show.
pub const MAX_TOKEN_TTL_DAYS: u64 = 3650;

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

/// The bcrypt costs `serve` and `user create` accept.
pub fn check_bcrypt_cost(cost: u32) -> Result<u32, ConfigError> {
    if (4..=31).contains(&cost) {
        Ok(cost)
    } else {
        Err(ConfigError::BcryptCost(cost))
    }
}

/// The largest WebSocket message for a text of `max_message_chars`: a client may send every
/// character JSON-escaped, and one outside the Basic Multilingual Plane escapes to a surrogate
/// pair, `\ud83d\ude00`, 12 bytes. Plus room for the rest of the frame.
pub fn max_frame_bytes(max_message_chars: usize) -> usize {
    max_message_chars.saturating_mul(12).saturating_add(1024).max(16 * 1024)
}

impl ServeConfig {
    /// `jwt_secret_env` is `CHATTERBOX_JWT_SECRET`, passed in rather than read here so tests
    /// do not depend on the process environment.
    pub fn from_args(args: &ServeArgs, jwt_secret_env: Option<String>) -> Result<Self, ConfigError> {
        let listen: SocketAddr = args.listen.parse().map_err(|_| ConfigError::Listen(args.listen.clone()))?;
        let metrics_listen = match &args.metrics_listen {
            Some(addr) => Some(addr.parse().map_err(|_| ConfigError::MetricsListen(addr.clone()))?),
            None => None,
        };
        check_bcrypt_cost(args.bcrypt_cost)?;
        let ttl =
            parse_duration(&args.token_ttl).ok_or_else(|| ConfigError::TokenTtl(args.token_ttl.clone()))?;
        if ttl > Duration::from_secs(MAX_TOKEN_TTL_DAYS * 86_400) {
            return Err(ConfigError::TokenTtlTooLong(args.token_ttl.clone()));
        }
        let edit_window = parse_duration(&args.edit_window)
            .filter(|w| *w <= Duration::from_secs(MAX_TOKEN_TTL_DAYS * 86_400))
            .ok_or_else(|| ConfigError::EditWindow(args.edit_window.clone()))?;
        let webhook = match &args.moderation_webhook {
            None => None,
            Some(url) => {
                let url = WebhookConfig::parse_url(url)
                    .map_err(|e| ConfigError::Webhook(format!(" {url:?}: {e}")))?;
                let t = args.moderation_webhook_timeout.trim();
                let timeout = match t.strip_suffix("ms") {
                    Some(ms) => ms.trim().parse().ok().filter(|&n| n > 0).map(Duration::from_millis),
                    None => parse_duration(t),
                }
                .filter(|d| *d <= Duration::from_secs(60))
                .ok_or_else(|| {
                    ConfigError::Webhook(format!(
                        "-timeout {t:?}: use milliseconds (500ms) or seconds (2s), at most 60s"
                    ))
                })?;
                if args.moderation_webhook_concurrency == 0 {
                    return Err(ConfigError::TooSmall("--moderation-webhook-concurrency", "1".into()));
                }
                let ca = args.moderation_webhook_ca.as_deref();
                let tls = match url.scheme_str() {
                    Some("https") => Some(
                        WebhookConfig::client_tls(ca)
                            .map_err(|e| ConfigError::Webhook(format!("-ca: {e}")))?,
                    ),
                    _ if ca.is_some() => {
                        return Err(ConfigError::Webhook(
                            "-ca is for an https:// webhook; this one is http://".into(),
                        ))
                    }
                    _ => None,
                };
                Some(WebhookConfig {
                    url,
                    timeout,
                    fail_closed: args.moderation_webhook_fail == WebhookFail::Closed,
                    concurrency: args.moderation_webhook_concurrency,
                    tls,
                })
            }
        };
        let at_least = |name: &'static str, ok: bool, min: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::TooSmall(name, min.to_string()))
            }
        };
        at_least("--warning-limit", args.warning_limit.is_none_or(|n| n >= 1), "1")?;
        // `--warning-limit N` is the ladder of N-1 warnings then a block (clap refuses both).
        let ladder = match args.warning_limit {
            Some(n) => Ladder::classic(n),
            None => Ladder::parse(&args.moderation_ladder).map_err(ConfigError::Ladder)?,
        };
        let strike_decay = match &args.strike_decay {
            Some(d) => Some(parse_duration(d).ok_or_else(|| ConfigError::StrikeDecay(d.clone()))?),
            None => None,
        };
        at_least("--max-message-chars", args.max_message_chars >= 1, "1")?;
        at_least("--message-burst", args.message_burst >= 1, "1")?;
        at_least("--message-rate", args.message_rate > 0.0, "more than 0")?;
        at_least("--auth-burst", args.auth_burst >= 1, "1")?;
        at_least("--auth-per-minute", args.auth_per_minute > 0.0, "more than 0")?;
        at_least("--max-connections", args.max_connections >= 1, "1")?;
        at_least("--max-connections-per-ip", args.max_connections_per_ip >= 1, "1")?;
        at_least("--max-sockets-per-user", args.max_sockets_per_user >= 1, "1")?;
        at_least("--max-pending-logins", args.max_pending_logins >= 1, "1")?;
        // Also refuses NaN: at 0 every message would be offensive, at 1 none.
        if !(args.classifier_threshold > 0.0 && args.classifier_threshold < 1.0) {
            return Err(ConfigError::ClassifierThreshold(args.classifier_threshold));
        }
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
        let cors = CorsOrigins::parse(&args.cors_origins).map_err(ConfigError::CorsOrigin)?;
        let trusted_proxies =
            TrustedProxies::parse(&args.trusted_proxies).map_err(ConfigError::TrustedProxy)?;
        let max_frame_bytes = max_frame_bytes(args.max_message_chars);
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::Tls::load(cert, key)?),
            _ => None,
        };
        Ok(ServeConfig {
            auto_join: args
                .auto_join
                .iter()
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect(),
            listen,
            metrics_listen,
            chat: ChatConfig {
                bcrypt_cost: args.bcrypt_cost,
                token_ttl_secs: ttl.as_secs() as i64,
                warning_limit: ladder.block_at().unwrap_or(0),
                ladder,
                strike_decay,
                max_message_chars: args.max_message_chars,
                history_limit: args.history,
                message_rate: Rate::new(f64::from(args.message_burst), args.message_rate),
                auth_rate: (!args.rate_limit_off)
                    .then(|| Rate::new(f64::from(args.auth_burst), args.auth_per_minute / 60.0)),
                max_pending_logins: args.max_pending_logins,
                edit_window,
                classifier: args.classifier,
                classifier_threshold: args.classifier_threshold,
                webhook,
                ..ChatConfig::default()
            },
            http: HttpConfig {
                web_dir: args.web_dir.clone(),
                max_frame_bytes,
                cors,
                trusted_proxies,
                max_sockets_per_user: args.max_sockets_per_user,
                ..HttpConfig::default()
            },
            server: ServerConfig {
                grace_period: Duration::from_secs(args.grace_period),
                max_connections: args.max_connections,
                reserved_connections: crate::server::reserve_for(args.max_connections),
                max_connections_per_ip: args.max_connections_per_ip,
                tls,
                ..ServerConfig::default()
            },
            secret,
            matcher,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_duration, ConfigError, ServeConfig};
    use crate::cli::{Cli, Command, ServeArgs};
    use clap::Parser;
    use std::time::Duration;

    fn parse(extra: &[&str]) -> ServeArgs {
        match Cli::try_parse_from([&["chatterbox", "serve"], extra].concat()).unwrap().command {
            Command::Serve(args) => *args,
            _ => unreachable!(),
        }
    }

    fn serve_args(token_ttl: &str) -> ServeArgs {
        parse(&["--token-ttl", token_ttl])
    }

    #[test]
    fn token_ttl_is_at_most_ten_years() {
        let ttl = |s: &str| ServeConfig::from_args(&serve_args(s), None).map(|c| c.chat.token_ttl_secs);
        assert_eq!(ttl("3650d").unwrap(), 3650 * 86_400);
        assert_eq!(ttl("315360000").unwrap(), 3650 * 86_400);
        for too_long in ["3651d", "315360001", "9999999999999d", "18446744073709551615"] {
            assert!(matches!(ttl(too_long), Err(ConfigError::TokenTtlTooLong(_))), "{too_long}");
        }
    }

    #[test]
    fn moderation_webhook_flags() {
        let serve = |extra: &[&str]| ServeConfig::from_args(&parse(extra), None);
        assert!(serve(&[]).unwrap().chat.webhook.is_none());
        let hook = serve(&[
            "--moderation-webhook",
            "http://127.0.0.1:9000/v",
            "--moderation-webhook-timeout",
            "500ms",
        ])
        .unwrap()
        .chat
        .webhook
        .unwrap();
        assert_eq!(
            (hook.timeout, hook.fail_closed, hook.concurrency),
            (Duration::from_millis(500), false, 32)
        );
        let closed = serve(&["--moderation-webhook", "http://hook", "--moderation-webhook-fail", "closed"]);
        assert!(closed.unwrap().chat.webhook.unwrap().fail_closed);
        let missing =
            ["--moderation-webhook", "https://hook.example", "--moderation-webhook-ca", "/nonexistent.pem"];
        let missing = serve(&missing).err().unwrap().to_string();
        assert!(missing.contains("cannot read /nonexistent.pem"), "{missing}");
        let plain = ["--moderation-webhook", "http://hook", "--moderation-webhook-ca", "/etc/hostname"];
        let plain = serve(&plain).err().unwrap().to_string();
        assert!(plain.contains("is for an https:// webhook"), "{plain}");
        for bad in [
            &["--moderation-webhook", "hook"][..],
            &["--moderation-webhook", "http://h", "--moderation-webhook-timeout", "0"],
            &["--moderation-webhook", "http://h", "--moderation-webhook-timeout", "2m"],
            &["--moderation-webhook", "http://h", "--moderation-webhook-concurrency", "0"],
        ] {
            assert!(serve(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn built_in_blocklists_by_name_and_files_by_path() {
        let serve = |extra: &[&str]| ServeConfig::from_args(&parse(extra), None);
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
    fn trusted_proxies_are_repeatable_and_validated() {
        let serve = |extra: &[&str]| ServeConfig::from_args(&parse(extra), None);
        let proxies = serve(&["--trusted-proxy", "127.0.0.1", "--trusted-proxy", "10.0.0.0/8,fd00::/8"])
            .unwrap()
            .http
            .trusted_proxies;
        for ip in ["127.0.0.1", "10.1.2.3", "fd00::1"] {
            assert!(proxies.contains(ip.parse().unwrap()), "{ip}");
        }
        assert!(!proxies.contains("127.0.0.2".parse().unwrap()));
        assert!(serve(&[]).unwrap().http.trusted_proxies.is_empty());
        let err = serve(&["--trusted-proxy", "proxy.local"]).err().unwrap().to_string();
        assert!(err.starts_with("--trusted-proxy: ") && err.contains("proxy.local"), "{err}");
    }

    #[test]
    fn the_classifier_flags_by_default_and_its_threshold_is_a_probability() {
        use crate::chat::classifier::ClassifierMode;
        let serve = |extra: &[&str]| ServeConfig::from_args(&parse(extra), None).map(|c| c.chat);
        let default = serve(&[]).unwrap();
        assert_eq!((default.classifier, default.classifier_threshold), (ClassifierMode::Flag, 0.7));
        let chosen = serve(&["--classifier", "enforce", "--classifier-threshold", "0.9"]).unwrap();
        assert_eq!((chosen.classifier, chosen.classifier_threshold), (ClassifierMode::Enforce, 0.9));
        assert_eq!(serve(&["--classifier", "off"]).unwrap().classifier, ClassifierMode::Off);
        for bad in ["0", "1", "-0.5", "1.5", "NaN"] {
            let err = serve(&[&format!("--classifier-threshold={bad}")]).err().unwrap().to_string();
            assert!(err.starts_with("invalid --classifier-threshold"), "{bad}: {err}");
        }
        let refused = Cli::try_parse_from(["chatterbox", "serve", "--classifier", "block"]);
        assert!(refused.is_err());
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
