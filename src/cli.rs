//! Command-line interface: clap definitions, dispatch, and the CLI edge's error handling.
//!
//! Exit codes a script can rely on: 0 success (also when the reader of our output went away,
//! as with `| head`), 1 failure, 2 usage error (clap's own). Errors are one line on stderr.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{
    chat::classifier::{ClassifierMode, DEFAULT_THRESHOLD},
    cmd,
};

#[derive(Debug, Parser)]
#[command(
    name = "chatterbox",
    version,
    about = "A small self-hosted real-time chat server",
    long_about = "A small self-hosted real-time chat server: a REST API, a WebSocket chat room with \
                  automatic moderation, and an admin dashboard, on one SQLite file (or a PostgreSQL \
                  database with --database-url).\n\n\
                  `chatterbox serve` runs the daemon; the other commands act directly on the same \
                  database, also while the daemon runs.",
    propagate_version = true
)]
pub struct Cli {
    /// The SQLite database file [default: the platform data folder, e.g. ~/.local/share/chatterbox/chatterbox.db]
    #[arg(long, global = true, env = "CHATTERBOX_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Use this PostgreSQL database instead of a SQLite file (postgres://user:password@host:port/dbname,
    /// or key=value settings); for several instances on one database. Not together with --db,
    /// except for migrate-to (from --db into this one)
    #[arg(long, global = true, env = "CHATTERBOX_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chat server (REST API, WebSocket chat and web UI)
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations
    Migrate(MigrateArgs),
    /// Copy this SQLite installation (--db) into a new PostgreSQL database (--database-url),
    /// then verify the copy
    MigrateTo(MigrateToArgs),
    /// Grant (or with --revoke, take away) the admin role
    MakeAdmin(MakeAdminArgs),
    /// Manage accounts
    #[command(subcommand)]
    User(UserCommand),
    /// Manage rooms (public and private; DMs belong to their people)
    #[command(subcommand)]
    Room(RoomCommand),
    /// Work with the message history
    #[command(subcommand)]
    Messages(MessagesCommand),
    /// Write a verified copy of the SQLite database to FILE, also while the server runs
    Backup(BackupArgs),
    /// Print a systemd unit that runs this binary as a hardened service
    ServiceUnit(ServiceUnitArgs),
    /// Automatic moderation: the live term lists
    #[command(subcommand)]
    Moderation(ModerationCommand),
    /// Write man pages and shell completions (for packagers and the repository)
    #[command(hide = true)]
    Generate(GenerateArgs),
}

/// `serve` and `user create` hash with the same cost, or the accounts an operator creates would
/// answer a wrong password in another time than the others and so stand out.
pub const DEFAULT_BCRYPT_COST: u32 = 12;

/// The domain's enum, offered on the command line with a line of help for each choice.
impl ValueEnum for ClassifierMode {
    fn value_variants<'a>() -> &'a [Self] {
        &[ClassifierMode::Off, ClassifierMode::Flag, ClassifierMode::Enforce]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            ClassifierMode::Off => "not loaded",
            ClassifierMode::Flag => "deliver every message and score it for moderators",
            ClassifierMode::Enforce => {
                "refuse a message or edit scoring at least --classifier-threshold as a violation, like a word-list hit"
            }
        };
        Some(clap::builder::PossibleValue::new(self.name()).help(help))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on
    #[arg(long, env = "CHATTERBOX_LISTEN", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// Serve Prometheus metrics at http://ADDR/metrics, apart from the chat port (off unless
    /// given; keep it private: it shows figures about your users' activity)
    #[arg(long, env = "CHATTERBOX_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Log line format on stderr
    #[arg(long, env = "CHATTERBOX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// bcrypt cost for new password hashes (4-31; each step doubles the work)
    #[arg(long, env = "CHATTERBOX_BCRYPT_COST", default_value_t = DEFAULT_BCRYPT_COST, value_name = "N")]
    pub bcrypt_cost: u32,
    /// How long a sign-in lasts: seconds, or a number with s, m, h or d (at most 3650d)
    #[arg(long, env = "CHATTERBOX_TOKEN_TTL", default_value = "24h", value_name = "DURATION")]
    pub token_ttl: String,
    /// How long after sending a message its author may still edit it: seconds, or a number with
    /// s, m, h or d (deleting is always possible)
    #[arg(long, env = "CHATTERBOX_EDIT_WINDOW", default_value = "24h", value_name = "DURATION")]
    pub edit_window: String,
    /// POST every message and edit to this http:// or https:// URL as JSON and follow its
    /// verdict (allow, flag, refuse); use http:// only for a webhook on the same host or a
    /// private network: the calls carry private rooms' and DMs' text
    #[arg(long, env = "CHATTERBOX_MODERATION_WEBHOOK", value_name = "URL")]
    pub moderation_webhook: Option<String>,
    /// PEM file of the certificate authorities an https:// webhook's certificate must chain to
    /// (default: the system's, from SSL_CERT_FILE or /etc/ssl/certs/ca-certificates.crt and the
    /// other usual places)
    #[arg(
        long,
        env = "CHATTERBOX_MODERATION_WEBHOOK_CA",
        value_name = "FILE",
        requires = "moderation_webhook"
    )]
    pub moderation_webhook_ca: Option<PathBuf>,
    /// How long a message waits for the webhook's verdict (a free slot included): 500ms, 2s...
    #[arg(
        long,
        env = "CHATTERBOX_MODERATION_WEBHOOK_TIMEOUT",
        default_value = "2s",
        value_name = "DURATION"
    )]
    pub moderation_webhook_timeout: String,
    /// Without a verdict (timeout, error, bad answer): deliver (open) or refuse with an error the
    /// sender may retry, never a strike (closed)
    #[arg(long, env = "CHATTERBOX_MODERATION_WEBHOOK_FAIL", value_enum, default_value_t = WebhookFail::Open)]
    pub moderation_webhook_fail: WebhookFail,
    /// Calls to the webhook in flight at once; more messages wait for a slot
    #[arg(long, env = "CHATTERBOX_MODERATION_WEBHOOK_CONCURRENCY", default_value_t = 32, value_name = "N")]
    pub moderation_webhook_concurrency: usize,
    /// File holding the token-signing secret (else CHATTERBOX_JWT_SECRET, else one generated
    /// and kept in the database)
    #[arg(long, env = "CHATTERBOX_JWT_SECRET_FILE", value_name = "FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// Word list for moderation: a file with one term per line (# comments), or a built-in list:
    /// `default` (profanity and insults) or `original` (the original implementation's six words).
    /// It seeds the live block list once, on the first start against a database; later changes
    /// of this flag are not applied (manage the list with `chatterbox moderation terms`)
    #[arg(long, env = "CHATTERBOX_BLOCKLIST", value_name = "FILE|default|original")]
    pub blocklist: Option<PathBuf>,
    /// Public rooms new accounts join besides `general` (comma-separated names; they must exist:
    /// `chatterbox room create`)
    #[arg(long, env = "CHATTERBOX_AUTO_JOIN", value_name = "ROOM,...", value_delimiter = ',')]
    pub auto_join: Vec<String>,
    /// The learned classifier of offensive language built in (alt-profanity-check's model), beside
    /// the word list
    #[arg(long, env = "CHATTERBOX_CLASSIFIER", value_enum, default_value_t = ClassifierMode::Flag, value_name = "MODE")]
    pub classifier: ClassifierMode,
    /// The classifier's score (a probability, between 0 and 1) from which a message counts as
    /// offensive. The default 0.7 is the lowest at which it flagged at most 1 % of everyday chat,
    /// of prose and of dictionary sentences in our measurements, while it caught 62 % of insults
    /// made of ordinary words (README, Classifier)
    #[arg(long, env = "CHATTERBOX_CLASSIFIER_THRESHOLD", default_value_t = DEFAULT_THRESHOLD, value_name = "P")]
    pub classifier_threshold: f64,
    /// The violation that blocks an account (earlier ones are warnings); the same as
    /// `--moderation-ladder` with N-1 warnings then block [default: 3]
    #[arg(long, env = "CHATTERBOX_WARNING_LIMIT", value_name = "N", conflicts_with = "moderation_ladder")]
    pub warning_limit: Option<i64>,
    /// What each strike (moderation violation) does, in order: `warn`, `mute:DURATION` (30s,
    /// 10m, 24h, 7d) or `block` (last); past the end the last step repeats
    #[arg(
        long,
        env = "CHATTERBOX_MODERATION_LADDER",
        value_name = "STEPS",
        default_value = "warn,warn,block"
    )]
    pub moderation_ladder: String,
    /// Strikes older than this no longer count (30m, 24h, 7d); off by default
    #[arg(long, env = "CHATTERBOX_STRIKE_DECAY", value_name = "DURATION")]
    pub strike_decay: Option<String>,
    /// Longest chat message, in characters
    #[arg(long, env = "CHATTERBOX_MAX_MESSAGE_CHARS", default_value_t = 2000, value_name = "N")]
    pub max_message_chars: usize,
    /// Messages sent to a client when it connects
    #[arg(long, env = "CHATTERBOX_HISTORY", default_value_t = 50, value_name = "N")]
    pub history: usize,
    /// Messages a connection may send in a burst
    #[arg(long, env = "CHATTERBOX_MESSAGE_BURST", default_value_t = 10, value_name = "N")]
    pub message_burst: u32,
    /// Sustained messages per second per connection
    #[arg(long, env = "CHATTERBOX_MESSAGE_RATE", default_value_t = 5.0, value_name = "N")]
    pub message_rate: f64,
    /// Login and registration attempts allowed in a burst, per client address and per account
    #[arg(long, env = "CHATTERBOX_AUTH_BURST", default_value_t = 10, value_name = "N")]
    pub auth_burst: u32,
    /// Sustained login and registration attempts per minute, per address and per account
    #[arg(long, env = "CHATTERBOX_AUTH_PER_MINUTE", default_value_t = 12.0, value_name = "N")]
    pub auth_per_minute: f64,
    /// Logins and registrations allowed to wait for password hashing at once; more are
    /// refused with 503 and Retry-After
    #[arg(long, env = "CHATTERBOX_MAX_PENDING_LOGINS", default_value_t = 256, value_name = "N")]
    pub max_pending_logins: usize,
    /// Turn off login and registration rate limits (for tests and trusted networks only)
    #[arg(long, env = "CHATTERBOX_RATE_LIMIT_OFF")]
    pub rate_limit_off: bool,
    /// Serve the web UI from this folder instead of the copy built into the binary
    #[arg(long, env = "CHATTERBOX_WEB_DIR", value_name = "DIR")]
    pub web_dir: Option<PathBuf>,
    /// Let pages from this origin (scheme://host[:port]) call the API and open the chat, like
    /// the original's frontend on its own dev server; repeat for more (none by default)
    #[arg(
        long = "cors-origin",
        env = "CHATTERBOX_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_origins: Vec<String>,
    /// A reverse proxy (IP address or CIDR network) whose X-Forwarded-For names the client
    /// that login limits are keyed by, and which --max-connections-per-ip does not cap; repeat
    /// for more (none by default: the header is ignored)
    #[arg(
        long = "trusted-proxy",
        env = "CHATTERBOX_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "ADDR"
    )]
    pub trusted_proxies: Vec<String>,
    /// Seconds that shutdown waits for connections and pending writes
    #[arg(long, env = "CHATTERBOX_GRACE_PERIOD", default_value_t = 10, value_name = "SECS")]
    pub grace_period: u64,
    /// Most simultaneous connections (HTTP and WebSocket)
    #[arg(long, env = "CHATTERBOX_MAX_CONNECTIONS", default_value_t = 20_000, value_name = "N")]
    pub max_connections: usize,
    /// Most simultaneous connections from one client address (an IPv6 client: its /64);
    /// connections from a --trusted-proxy are not capped by it
    #[arg(long, env = "CHATTERBOX_MAX_CONNECTIONS_PER_IP", default_value_t = 256, value_name = "N")]
    pub max_connections_per_ip: usize,
    /// Serve HTTPS and WSS with this PEM certificate chain (with --tls-key); SIGHUP rereads both
    /// files (a renewed certificate), keeping the old ones if the new ones are bad
    #[arg(long, env = "CHATTERBOX_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, env = "CHATTERBOX_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Most simultaneous chat WebSockets of one account; more are refused with 429
    #[arg(long, env = "CHATTERBOX_MAX_SOCKETS_PER_USER", default_value_t = 20, value_name = "N")]
    pub max_sockets_per_user: usize,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// List applied and pending migrations without changing anything
    #[arg(long)]
    pub status: bool,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Copy this SQLite installation (--db, or the default file) into a PostgreSQL database \
                  (--database-url): accounts with their password hashes, conversations, members with \
                  their read markers, messages and the log with their ids, the audit log and the \
                  settings (the token-signing secret: sign-ins stay valid). The target's schema is \
                  migrated first; a target holding any data is refused and nothing is written. The copy \
                  is one transaction, read from one snapshot of the source (a running daemon may keep \
                  writing, later writes are not copied: stop it first to move everything), and is \
                  verified by counting rows on both sides."
)]
pub struct MigrateToArgs {
    /// The summary's format (progress goes to stderr)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Write a copy of the SQLite database (--db) to FILE, also while the server runs: the \
                  copy is of one moment (every message acknowledged before the backup began is in \
                  it), made in a temporary file beside FILE and renamed into place only once \
                  complete, then checked (PRAGMA integrity_check) and its rows counted per table. \
                  To restore, stop the server and copy the file back, or start the server on the \
                  backup (--db FILE). On PostgreSQL (--database-url) use pg_dump: the command says \
                  how and exits with 2."
)]
pub struct BackupArgs {
    /// The backup file to write
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replace FILE if it exists
    #[arg(long)]
    pub force: bool,
    /// The summary's format (rows per table of the copy)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Print a systemd unit for this binary (its absolute path) to stdout, ready to save as \
                  /etc/systemd/system/chatterbox.service: a dynamic user with its state folder \
                  /var/lib/chatterbox (the database there unless --db says otherwise), systemd's \
                  sandboxing, a file limit sized for --max-connections, restarts on failure, and a \
                  stop that lets the grace period run. With --database-url the URL goes into \
                  /etc/chatterbox/env, never into the unit (it may hold a password)."
)]
pub struct ServiceUnitArgs {
    /// The address the service listens on
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// Run the service as this existing account instead of a dynamic user
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

#[derive(Debug, Args)]
pub struct MakeAdminArgs {
    pub username: String,
    /// Take the admin role away instead
    #[arg(long)]
    pub revoke: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List accounts
    List(UserListArgs),
    /// Block an account: no login, no chat; its open connections are closed
    Block(UserBlockArgs),
    /// Unblock an account and reset its warnings
    Unblock(UserUnblockArgs),
    /// Mute an account for a while: it reads but cannot post; a running server tells it at once
    Mute(UserMuteArgs),
    /// Lift an account's mute
    Unmute(UserUnmuteArgs),
    /// Create an account (for example the first admin)
    Create(UserCreateArgs),
}

#[derive(Debug, Args)]
pub struct UserListArgs {
    /// Only blocked accounts
    #[arg(long)]
    pub blocked: bool,
    /// Only admins
    #[arg(long)]
    pub admins: bool,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct UserBlockArgs {
    pub username: String,
    /// Why, for the audit log
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct UserUnblockArgs {
    pub username: String,
}

#[derive(Debug, Args)]
pub struct UserMuteArgs {
    pub username: String,
    /// How long: 30s, 10m, 1h, 7d (at most 366d)
    #[arg(long = "for", value_name = "DURATION", value_parser = crate::chat::standing::parse_duration)]
    pub for_: std::time::Duration,
    /// Why, for the audit log
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct UserUnmuteArgs {
    pub username: String,
    /// Why, for the audit log
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    pub username: String,
    #[arg(long, value_name = "ADDRESS")]
    pub email: String,
    /// Read the password from the first line of standard input instead of prompting
    #[arg(long)]
    pub password_stdin: bool,
    /// Make the account an admin
    #[arg(long)]
    pub admin: bool,
    /// bcrypt cost of the password hash (4-31); use the daemon's, so the account's logins take
    /// as long as everyone's
    #[arg(long, env = "CHATTERBOX_BCRYPT_COST", default_value_t = DEFAULT_BCRYPT_COST, value_name = "N")]
    pub bcrypt_cost: u32,
}

#[derive(Debug, Subcommand)]
pub enum RoomCommand {
    /// List public and private rooms with their members and activity (not DMs)
    List(RoomListArgs),
    /// Create a room, with no member yet (people join a public room; add them to a private one)
    Create(RoomCreateArgs),
    /// Archive a room (its members still read it, nobody can post), or with --undo open it again
    Archive(RoomArchiveArgs),
    /// Add an account to a private room
    AddMember(RoomMemberArgs),
    /// Remove an account from a private room; its open chats stop getting the room at once
    RemoveMember(RoomMemberArgs),
    /// Name a member moderator of a room (or with --remove unname them); a running daemon's
    /// members see it within a second
    Moderator(RoomModeratorArgs),
}

#[derive(Debug, Args)]
pub struct RoomModeratorArgs {
    /// The room's name (or #ID)
    pub room: String,
    /// The member's username
    pub user: String,
    /// Unname the moderator instead
    #[arg(long)]
    pub remove: bool,
}

#[derive(Debug, Args)]
pub struct RoomListArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct RoomCreateArgs {
    /// The room's name: 1-40 characters, unique regardless of case
    pub name: String,
    /// Members only, instead of listed in the directory for anyone to join
    #[arg(long)]
    pub private: bool,
    /// What the room is about (at most 200 characters)
    #[arg(long, value_name = "TEXT")]
    pub topic: Option<String>,
}

#[derive(Debug, Args)]
pub struct RoomArchiveArgs {
    /// The room's name
    pub name: String,
    /// Open an archived room again instead
    #[arg(long)]
    pub undo: bool,
}

#[derive(Debug, Args)]
pub struct RoomMemberArgs {
    /// The room's name
    pub room: String,
    /// The account's username
    pub user: String,
}

#[derive(Debug, Subcommand)]
pub enum MessagesCommand {
    /// Export messages of every conversation as CSV (id, sender_id, sender_username, content,
    /// timestamp, room, edited_at); deleted messages are left out
    Export(ExportArgs),
    /// Delete a message (its text is gone; open chats remove it within a second); recorded in
    /// the audit log as done by `cli`, with the reason
    Delete(MessageDeleteArgs),
}

#[derive(Debug, Args)]
pub struct MessageDeleteArgs {
    /// The message's id (as in the export or the dashboard)
    pub id: i64,
    /// Why, for the audit log
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write CSV (the export format; accepted for explicitness)
    #[arg(long)]
    pub csv: bool,
    /// Write to this file instead of stdout (`-`): a regular file is replaced atomically (a
    /// temporary file renamed into place, through a symlink to its target); a FIFO or device is
    /// written into
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only messages at or after this time (RFC 3339, or a date meaning midnight UTC)
    #[arg(long, value_name = "TIME", value_parser = crate::timefmt::parse_bound)]
    pub since: Option<String>,
    /// Only messages before this time (RFC 3339, or a date meaning midnight UTC)
    #[arg(long, value_name = "TIME", value_parser = crate::timefmt::parse_bound)]
    pub until: Option<String>,
    /// Only messages with an id greater than N (for incremental exports)
    #[arg(long, value_name = "N")]
    pub after_id: Option<i64>,
    /// Only messages of this room (its name; DMs have none)
    #[arg(long, value_name = "NAME")]
    pub room: Option<String>,
    /// Write cells exactly as stored, without neutralising spreadsheet formulas
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModerationCommand {
    /// The live term lists: blocked terms and allowed words, applied by running daemons within
    /// a second
    #[command(subcommand)]
    Terms(TermsCommand),
}

#[derive(Debug, Subcommand)]
pub enum TermsCommand {
    /// List the terms
    List(TermsListArgs),
    /// Block a term (or with --allow, accept a word the word list would catch)
    Add(TermsAddArgs),
    /// Remove a term from whichever list holds it
    Remove(TermsRemoveArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WebhookFail {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TermListArg {
    Block,
    Allow,
}

#[derive(Debug, Args)]
pub struct TermsListArgs {
    /// Only this list
    #[arg(long, value_enum)]
    pub list: Option<TermListArg>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct TermsAddArgs {
    /// The term (matched with its look-alikes and inflections), or with --allow one word
    pub term: String,
    /// Put it on the allow list: never a violation, even where a blocked term matches inside it
    #[arg(long)]
    pub allow: bool,
    /// Why, for the audit log
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct TermsRemoveArgs {
    pub term: String,
    /// Why, for the audit log
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Folder that receives man/ and completions/
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out_dir: PathBuf,
}

/// Parses arguments, runs the command, and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    check_databases(&cli);
    let is_serve = matches!(cli.command, Command::Serve(_));
    if !is_serve {
        crate::logging::init(LogFormat::Text, "warn");
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            let mut line = chain.join(": ");
            line.retain(|c| c != '\n');
            eprintln!("chatterbox: error: {line}");
            ExitCode::FAILURE
        }
    }
}

/// One database per command, except `migrate-to`, which reads `--db` and writes `--database-url`
/// (and needs the latter). A usage error (exit code 2), as clap's own; checked here rather than
/// by clap because the rule depends on the subcommand and the flags are global.
fn check_databases(cli: &Cli) {
    use clap::{error::ErrorKind, CommandFactory};
    let migrate_to = matches!(cli.command, Command::MigrateTo(_));
    if migrate_to && cli.database_url.is_none() {
        Cli::command()
            .error(
                ErrorKind::MissingRequiredArgument,
                "migrate-to needs the PostgreSQL target: --database-url <URL> (or CHATTERBOX_DATABASE_URL)",
            )
            .exit();
    }
    if !migrate_to && cli.db.is_some() && cli.database_url.is_some() {
        Cli::command()
            .error(
                ErrorKind::ArgumentConflict,
                "the argument '--db <PATH>' cannot be used with '--database-url <URL>' (only migrate-to \
                 takes both: from --db into --database-url)",
            )
            .exit();
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<crate::store::StoreError>().is_some_and(|s| {
                matches!(s, crate::store::StoreError::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
            })
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let db = || cmd::Database::from_args(cli.db.clone(), cli.database_url.clone());
    match cli.command {
        Command::Serve(args) => cmd::serve::run(db()?, *args),
        Command::Migrate(args) => cmd::migrate::run(&db()?, &args),
        Command::MigrateTo(args) => cmd::migrate_to::run(
            &cmd::Database::from_args(cli.db.clone(), None)?,
            cli.database_url.as_deref(),
            &args,
        ),
        Command::MakeAdmin(args) => cmd::make_admin::run(&db()?, &args),
        Command::User(UserCommand::List(args)) => cmd::user_list::run(&db()?, &args),
        Command::User(UserCommand::Block(args)) => cmd::user_block::run(&db()?, &args),
        Command::User(UserCommand::Unblock(args)) => cmd::user_unblock::run(&db()?, &args),
        Command::User(UserCommand::Mute(args)) => cmd::user_mute::run(&db()?, &args),
        Command::User(UserCommand::Unmute(args)) => cmd::user_unmute::run(&db()?, &args),
        Command::User(UserCommand::Create(args)) => cmd::user_create::run(&db()?, &args),
        Command::Room(RoomCommand::List(args)) => cmd::room_list::run(&db()?, &args),
        Command::Room(RoomCommand::Create(args)) => cmd::room_create::run(&db()?, &args),
        Command::Room(RoomCommand::Archive(args)) => cmd::room_archive::run(&db()?, &args),
        Command::Room(RoomCommand::AddMember(args)) => cmd::room_add_member::run(&db()?, &args),
        Command::Room(RoomCommand::RemoveMember(args)) => cmd::room_remove_member::run(&db()?, &args),
        Command::Room(RoomCommand::Moderator(args)) => cmd::room_moderator::run(&db()?, &args),
        Command::Messages(MessagesCommand::Export(args)) => cmd::messages_export::run(&db()?, &args),
        Command::Messages(MessagesCommand::Delete(args)) => cmd::messages_delete::run(&db()?, &args),
        Command::Backup(args) => cmd::backup::run(&db()?, &args),
        Command::ServiceUnit(args) => {
            cmd::service_unit::run(cli.db.as_deref(), cli.database_url.as_deref(), &args)
        }
        Command::Moderation(ModerationCommand::Terms(TermsCommand::List(args))) => {
            cmd::moderation_terms_list::run(&db()?, &args)
        }
        Command::Moderation(ModerationCommand::Terms(TermsCommand::Add(args))) => {
            cmd::moderation_terms_add::run(&db()?, &args)
        }
        Command::Moderation(ModerationCommand::Terms(TermsCommand::Remove(args))) => {
            cmd::moderation_terms_remove::run(&db()?, &args)
        }
        Command::Generate(args) => cmd::generate::run(&args.out_dir),
    }
}

impl From<TermListArg> for crate::store::TermList {
    fn from(list: TermListArg) -> Self {
        match list {
            TermListArg::Block => crate::store::TermList::Block,
            TermListArg::Allow => crate::store::TermList::Allow,
        }
    }
}
