//! chatterbox: a small self-hosted real-time chat server.
//!
//! # Bird's-eye view
//!
//! One binary, two roles. `chatterbox serve` is a hyper daemon: a REST API for accounts,
//! conversations (public rooms, private rooms, DMs) and administration, the WebSocket chat, and
//! the static web UI. The other subcommands are operator tools that act directly on the same
//! database (a SQLite file, or PostgreSQL with `--database-url`), also while the daemon runs.
//!
//! A chat message travels: socket task (`http::ws`) -> `chat::Chat::post` (validate, moderate)
//! -> `chat::writer` (group commit on a dedicated thread, which takes the message's log
//! position) -> `chat::log` (the tailer: delivers committed log entries in position order) ->
//! `chat::hub` (routes to the online members of the message's room, encoded once) -> their
//! socket tasks, sender included. Membership, room and read-marker changes, and the edits,
//! deletions and reaction changes of living messages, take positions in the same log and reach
//! the hub the same way, whoever wrote them (a REST handler, or the
//! operator CLI in another process, found by the tailer's poll). Moderation violations go to the
//! store's audit log as strikes and may mute or block the account (`chat::standing`); blocks,
//! mutes and role changes take log positions too, so every instance's tailer tells or closes the
//! account's sockets, whoever made the change.
//!
//! Several daemons may share one database (PostgreSQL, or one SQLite file): each tails the same
//! committed log (a NOTIFY doorbell and a short poll wake it), and each shares who is online on
//! it through the database (`chat::presence`), so presence, order, resume and blocks hold across
//! instances.
//!
//! # Code map
//!
//! - `cli`: clap definitions, dispatch, exit codes; `anyhow` lives only here and in `cmd`.
//! - `cmd/`: one file per operator command (and `serve`), calling `chat` and `store`.
//! - `config`: `serve` arguments validated into the configs of the layers below.
//! - `server`: accept loop with admission (global and per-address caps, a reserve for
//!   addresses holding no connection), per-connection tasks, graceful shutdown.
//! - `http/`: routing, JSON shapes, errors to statuses (`http::error`, the only place),
//!   the WebSocket protocol (`http::ws`, `http::frames`; `/chat/ws` speaks the original
//!   implementation's dialect), one message's routes (`http::messages`: edit, delete, react), static files, the client address behind trusted reverse
//!   proxies (`http::proxy`, worked out once per request in `handle`), the `--cors-origin`
//!   allow-list (`http::cors`), the original's admin routes (`http::original`), and
//!   `/metrics` on its own listener (`http::metrics`, `serve --metrics-listen`).
//! - `chat/`: the domain: `Chat` service, accounts (look-alike name keys), JWT and bcrypt (on
//!   the low-priority hashing pool, `chat::hasher`), the word-list matcher and the per-user
//!   memory of split words (`chat::moderation`), the live term lists it is built from
//!   (`chat::terms`: rebuilt on every instance from a log change), the learned classifier beside
//!   it (`chat::classifier`: alt-profanity-check's model, embedded, scored as scikit-learn does),
//!   the operator's moderation webhook (`chat::webhook`: bounded, with a timeout and a fail
//!   policy), a user's standing (`chat::standing`: the ladder of warnings, timed mutes and
//!   blocks, `Chat::strike` as the one way a violation is counted, and account mutes), reports
//!   and appeals (`chat::reports`, `chat::appeals`; what the classifier and the webhook flag is
//!   filed once committed, `Chat::settle`), room moderators, room mutes and slow mode
//!   (`chat::roommod`; who moderates: `rooms::may_moderate`), the one definition of invisible
//!   and blank text (`chat::text`), rate limits and the login guard (their state kept in the
//!   store, shared by every instance), conversations and their privacy rules (`chat::rooms`),
//!   the log tailer and its lag for `/healthz` (`chat::log`), living messages (`chat::living`:
//!   who may edit, delete and react, typing indicators, and what a resuming client missed),
//!   presence shared between instances by heartbeats (`chat::presence`), the hub (routing by
//!   room, per-socket bounded queues, debounced presence), message writer (which also reports
//!   failing writes to `/healthz`, runs SQLite's other daemon writes in turn, and builds
//!   SQLite's search index when the chat is quiet), CSV export, message search
//!   (`chat::search`: what a query may be and see, and the highlight; the store matches with
//!   its trigram index, `store/*/search.rs`, reading directly what SQLite has not indexed yet),
//!   and what `/metrics` reports (`chat::metrics`: counters the hot paths keep cheap, figures
//!   read at scrape time).
//! - `store/`: the `Store` trait, its records (`LogEntry`: the ordered log), the SQLite backend
//!   (`store::sqlite`, conversations in `store/sqlite/rooms.rs`), the PostgreSQL backend
//!   (`store::postgres`, the same contract, checked by `tests/store_contract.rs` on both), what
//!   both share outside SQL (`store::shared`), the copy of a SQLite installation into an empty
//!   PostgreSQL database for `migrate-to` (`store::transfer`: a table list every new table must
//!   join or be named as skipped), the online copy of a SQLite file for `backup`
//!   (`store::backup`), and migrations (`sql/sqlite/`, `sql/postgres/`).
//! - `tls`: `--tls-cert`/`--tls-key` as a rustls configuration that SIGHUP reloads; `server`
//!   does each connection's handshake in its own task, within the header timeout.
//! - `timefmt`, `logging`: RFC 3339 timestamps; tracing to stderr.
//!
//! # Invariants
//!
//! - Only `store/` contains SQL. Operator commands never write their own.
//! - Layers depend downwards only: `http` -> `chat` -> `store`. `http` never touches the store
//!   except through `chat`, so a second store backend plugs in without changing `http`.
//! - No global state: the store and `Chat` are passed explicitly; tests run many servers at once.
//! - Nothing blocking runs on the async reactor: the store runs on blocking threads or the
//!   writer thread (PostgreSQL's blocking client even panics on a reactor thread), bcrypt on the
//!   hashing pool at a lower CPU priority than the chat.
//! - Log positions (message ids and change positions) are dense and handed out in commit order
//!   by a counter row updated in the writing transaction; each socket receives them strictly
//!   increasing, and only entries already committed.
//! - A resume from position P replays the state now, never history: messages after P as they
//!   are, and for older ones the last edit, deletion or reaction change each had; so a client
//!   that was away ends in the state of one that stayed. Typing is the one thing delivered that
//!   is not in the log (best effort, never replayed).
//! - A private room or DM is, to a non-member, indistinguishable from a missing id in every
//!   path (REST, WebSocket, resume, exports a user can reach); the hub's room index changes only
//!   in log order, so a removed member gets nothing of the room after the removal's position.
//! - Every queue is bounded; a client that cannot keep up is disconnected, never buffered.
//! - Password hashes never leave `store` except to check a login; tokens and passwords are never
//!   logged.

pub mod chat;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod http;
pub mod logging;
pub mod server;
pub mod store;
pub mod timefmt;
pub mod tls;
