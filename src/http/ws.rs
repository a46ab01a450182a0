//! The chat WebSocket: handshake authentication, history replay, and the per-socket loop.
//!
//! One task per socket selects over the client's frames, the hub's broadcast, control messages
//! (block) and shutdown. Writes to a socket have a deadline and the broadcast receiver is
//! bounded, so a client that stops reading is disconnected instead of slowing anyone down or
//! growing the server's memory.

use std::{future::Future, sync::Arc, task::Poll};

use futures_util::{future::BoxFuture, stream::FuturesOrdered, SinkExt, StreamExt};
use http_body_util::BodyExt;
use hyper::{body::Incoming, header, Request, StatusCode};
use hyper_tungstenite::{
    tungstenite::{
        self,
        protocol::{
            frame::{
                coding::{CloseCode, Data, OpCode},
                Frame,
            },
            CloseFrame, WebSocketConfig,
        },
        Message as WsMessage, Utf8Bytes,
    },
    HyperWebsocketStream,
};

use crate::{
    chat::{
        hub::{Control, Event, Inbox, Presence},
        living::{Edited, Seen},
        ratelimit::{Bucket, Rate},
        ChatError, Posted,
    },
    store::{Message, User, GENERAL_ROOM},
};

use super::{
    body::Response,
    cors::{canonical_origin, request_origin},
    error::ApiError,
    frames::{self, Dialect},
    query_i64, AppState,
};

/// Messages replayed per database query when a client resumes with `?since=`.
const REPLAY_CHUNK: usize = 1000;
/// Most usernames listed in the `presence` frame; later changes arrive as join/leave.
const PRESENCE_NAMES: usize = 200;
/// Broadcast frames written before one flush, so a busy room costs one syscall per batch.
const WRITE_BATCH: usize = 64;
/// A socket's messages waiting for the writer at once. More than one lets a group commit take
/// several messages of a busy sender (the commit rate through PostgreSQL is bounded by what one
/// hold of the log's lock carries); a bound keeps a flooding client's share small.
const PIPELINE: usize = 8;
/// Typing indicators a socket may send: one every two seconds while typing, with some slack
/// (a client switching conversations); more are dropped without a word, being only a hint.
const TYPING_RATE: Rate = Rate::new(3.0, 0.75);
/// Larger messages sent on connect (the `rooms` list, presence) go out in fragments of this
/// size: tungstenite keeps its write buffer's capacity for the life of the socket, so one 6 KB
/// frame would cost every idle connection 6 KB for good.
const FRAGMENT: usize = 1536;

pub async fn upgrade(
    state: &Arc<AppState>,
    mut req: Request<Incoming>,
    dialect: Dialect,
) -> Result<Response, ApiError> {
    if !state.http.cors.allows_request(&req) {
        check_origin(&req)?;
    }
    let token =
        super::bearer(&req, true).ok_or(ApiError::from(ChatError::Unauthenticated("missing token")))?;
    let (user, expires) = state.chat.authenticate_session(&token).await?;
    let since = query_i64(&req, "since")?;
    if !hyper_tungstenite::is_upgrade_request(&req) {
        return Err(ApiError::new(StatusCode::UPGRADE_REQUIRED, "This endpoint needs a WebSocket upgrade"));
    }
    let config = WebSocketConfig::default()
        // tungstenite's default read buffer is 128 KiB per socket, allocated eagerly and kept
        // for the socket's life. Clients send short frames (a chat message is at most 2,000
        // characters); a longer one is read in several steps.
        .read_buffer_size(2048)
        // Frames are fed into the buffer and flushed once per batch: one syscall for many frames.
        .write_buffer_size(8 * 1024)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(state.http.max_frame_bytes))
        .max_frame_size(Some(state.http.max_frame_bytes));
    let (resp, websocket) = hyper_tungstenite::upgrade(&mut req, Some(config))
        .map_err(|e| ApiError::bad_request(format!("Invalid WebSocket handshake: {e}")))?;
    // Joined once the handshake is known to be valid (a bad key or version must not announce
    // the user to the room), but before the 101 is sent, so the cap is checked and taken in one
    // step and a refusal is still an HTTP answer the client can read.
    let max = state.http.max_sockets_per_user;
    let (presence, inbox) =
        Arc::clone(state.chat.hub()).join(user.id, &user.username, max).map_err(|_| ApiError {
            retry_after: Some(5),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("This account already has {max} chat connections open; close one and try again"),
            )
        })?;
    let slot = req.extensions_mut().remove::<super::ConnectionSlot>();
    let state2 = Arc::clone(state);
    state.sockets.spawn(async move {
        let _slot = slot;
        match websocket.await {
            Ok(ws) => Socket { state: state2, user, ws, dialect, expires, presence }.run(since, inbox).await,
            Err(e) => tracing::debug!(error = %e, "WebSocket handshake did not complete"),
        }
    });
    Ok(resp.map(|b| b.map_err(|e| match e {}).boxed()))
}

/// Refuses cross-site pages: a browser always sends `Origin` on a WebSocket handshake, and a
/// page from another site must not ride on a user's token. Non-browser clients send none.
fn check_origin(req: &Request<Incoming>) -> Result<(), ApiError> {
    let Some(origin) = request_origin(req) else {
        return Ok(());
    };
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if same_origin(origin, served_scheme(req), host) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "Cross-origin WebSocket connections are not allowed"))
    }
}

/// The scheme the page was served over: `https` on a connection the server decrypted itself,
/// else `http` unless a TLS-terminating proxy says `https` in `X-Forwarded-Proto`. Trusting the
/// header is safe here: the check guards against other sites' pages, and a page cannot set
/// headers on a browser's WebSocket handshake.
fn served_scheme(req: &Request<Incoming>) -> &'static str {
    if req.extensions().get::<super::OverTls>().is_some() {
        return "https";
    }
    let forwarded = req.headers().get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("");
    match forwarded.split(',').next().map(str::trim) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

/// Whether `origin` (`scheme://host[:port]`) is `scheme` and `host` (the `Host` header), compared
/// in the form browsers write origins (`http::cors::canonical_origin`), so `http://h` and `h:80`
/// match but `https://h` and `h` do not.
fn same_origin(origin: &str, scheme: &str, host: &str) -> bool {
    let Some((origin_scheme, origin_authority)) = origin.split_once("://") else { return false };
    !host.is_empty()
        && origin_scheme.eq_ignore_ascii_case(scheme)
        && canonical_origin(origin_scheme, origin_authority) == canonical_origin(scheme, host)
}

struct Socket {
    state: Arc<AppState>,
    user: User,
    ws: HyperWebsocketStream,
    dialect: Dialect,
    /// When the token the socket was opened with expires (Unix seconds).
    expires: i64,
    /// The socket's place in the hub; dropped with the socket.
    presence: Presence,
}

/// Why the loop ended, and what to tell the client.
enum End {
    Quiet,
    Close(CloseCode, &'static str),
}

impl Socket {
    async fn run(mut self, since: Option<i64>, mut inbox: Inbox) {
        // The hub already queues this user's events; the snapshot says from which log position
        // on: everything before it comes from the store, everything from it on from the queue.
        let end = match self.state.chat.sync_memberships(self.user.id).await {
            Err(e) => {
                tracing::error!(error = %e, "cannot read the user's rooms");
                End::Close(CloseCode::Error, "cannot read your rooms")
            }
            // The account as of the snapshot: a block or role change committed after the
            // sign-in was checked but before this socket joined the hub reached no socket of
            // it, and shows here instead.
            Ok(snapshot) if snapshot.blocked => {
                let _ = self
                    .send(frames::blocked(
                        "Your account has been blocked. Contact an administrator.",
                        self.dialect,
                    ))
                    .await;
                End::Close(CloseCode::Policy, "account blocked")
            }
            Ok(snapshot) if snapshot.admin != self.user.is_admin => {
                End::Close(CloseCode::Again, "your role changed; reconnect")
            }
            Ok(snapshot) => {
                match self.replay(since, snapshot.next, snapshot.rooms.contains(&GENERAL_ROOM)).await {
                    Ok(last) => self.serve(snapshot.next, last, &mut inbox).await,
                    Err(end) => end,
                }
            }
        };
        if let End::Close(code, reason) = end {
            let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
            let _ = tokio::time::timeout(self.state.http.ws_write_timeout, self.ws.close(Some(frame))).await;
        }
        tracing::debug!(user = %self.user.username, "socket closed");
    }

    async fn send(&mut self, text: Utf8Bytes) -> Result<(), End> {
        self.feed(text).await?;
        self.flush().await
    }

    /// Sends a text message as WebSocket fragments of at most `FRAGMENT` bytes, each flushed
    /// (clients reassemble them; the JSON is split anywhere, as the protocol allows).
    async fn send_fragmented(&mut self, text: Utf8Bytes) -> Result<(), End> {
        if text.len() <= FRAGMENT {
            return self.send(text).await;
        }
        let bytes: bytes::Bytes = AsRef::<bytes::Bytes>::as_ref(&text).clone();
        let mut start = 0;
        while start < bytes.len() {
            let end = (start + FRAGMENT).min(bytes.len());
            let opcode = if start == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
            let frame = Frame::message(bytes.slice(start..end), opcode, end == bytes.len());
            self.feed_message(WsMessage::Frame(frame)).await?;
            self.flush().await?;
            start = end;
        }
        Ok(())
    }

    async fn feed(&mut self, text: Utf8Bytes) -> Result<(), End> {
        self.feed_message(WsMessage::Text(text)).await
    }

    async fn feed_message(&mut self, message: WsMessage) -> Result<(), End> {
        match tokio::time::timeout(self.state.http.ws_write_timeout, self.ws.feed(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Quiet),
            Err(_) => Err(End::Close(CloseCode::Policy, "too slow")),
        }
    }

    async fn flush(&mut self) -> Result<(), End> {
        match tokio::time::timeout(self.state.http.ws_write_timeout, self.ws.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Quiet),
            Err(_) => Err(End::Close(CloseCode::Policy, "too slow")),
        }
    }

    /// Sends the recent history of `general`, or everything after `since` in every room of the
    /// user, all before `start`; then (our dialect) the rooms and presence. Returns the last id
    /// sent. The original sent neither history nor presence (its page loads `/chat/messages`),
    /// so its dialect gets only what follows `since` in `general`, when asked.
    async fn replay(&mut self, since: Option<i64>, start: i64, in_general: bool) -> Result<i64, End> {
        let dialect = self.dialect;
        let chat = Arc::clone(&self.state.chat);
        let mut last = since.unwrap_or(0);
        let db_error = |e: ChatError| {
            tracing::error!(error = %e, "cannot read history");
            End::Close(CloseCode::Error, "cannot read history")
        };
        match since {
            Some(since) => {
                // The edits, deletions and reaction changes of messages the client had seen, up
                // to `start`, each message's last of each kind only; merged into the messages
                // after `since` by position, so the client sees one increasing sequence.
                let missed = match dialect {
                    Dialect::Original => Vec::new(),
                    Dialect::Ours => {
                        chat.living_after(self.user.id, since, since, start).await.map_err(db_error)?
                    }
                };
                let mut missed = missed.into_iter().peekable();
                loop {
                    let chunk = chat
                        .messages_after(self.user.id, last, start, REPLAY_CHUNK)
                        .await
                        .map_err(db_error)?;
                    let done = chunk.len() < REPLAY_CHUNK;
                    // The original's dialect shows no reactions: not read for it.
                    let chunk = match dialect {
                        Dialect::Original => {
                            chunk.into_iter().map(|message| Seen { message, reactions: Vec::new() }).collect()
                        }
                        Dialect::Ours => chat.with_reactions(chunk).await.map_err(db_error)?,
                    };
                    for Seen { message: m, reactions } in &chunk {
                        while let Some(change) = missed.next_if(|c| c.seq() < m.id) {
                            self.feed_change(change).await?;
                        }
                        last = m.id;
                        if dialect == Dialect::Original && m.room_id != GENERAL_ROOM {
                            continue;
                        }
                        self.feed(frames::message_with(m, reactions, dialect)).await?;
                    }
                    if done {
                        break;
                    }
                    self.flush().await?;
                }
                for change in missed {
                    self.feed_change(change).await?;
                }
                self.flush().await?;
            }
            None if dialect == Dialect::Original || !in_general => {}
            None => {
                let recent = chat
                    .messages_before(GENERAL_ROOM, Some(start), chat.config.history_limit)
                    .await
                    .map_err(db_error)?;
                last = last.max(recent.last().map_or(0, |m| m.id));
                self.feed_history(recent).await.map_err(|e| e.map_or(End::Quiet, db_error))?;
            }
        }
        if dialect == Dialect::Original {
            self.flush().await?;
            return Ok(last);
        }
        let rooms = chat.rooms_of(&self.user).await.map_err(db_error)?;
        self.send_fragmented(frames::rooms(rooms)).await?;
        let (online, count) = chat.hub().online_sample(PRESENCE_NAMES);
        self.send_fragmented(frames::presence(&online, count)).await?;
        if let Some(until) = crate::chat::standing::muted_until(&self.user).map(str::to_string) {
            let text = format!("You are muted until {until}: you can read, but not post.");
            self.send_fragmented(frames::muted(Some(&until), &text, self.dialect)).await?;
        }
        Ok(last)
    }

    /// The live loop. Events before `start` were covered by the replay (or are history).
    async fn serve(&mut self, start: i64, mut last: i64, inbox: &mut Inbox) -> End {
        // This socket's messages queued for the writer and not committed yet, oldest first: their
        // outcomes are read in order, and no more frames are read while PIPELINE are waiting.
        let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
        let shutdown = self.state.shutdown.clone();
        let mut bucket = Bucket::full(self.state.chat.config.message_rate);
        let mut typing = Bucket::full(TYPING_RATE);
        let mut ping = tokio::time::interval(self.state.http.ws_ping_interval);
        ping.reset();
        let mut awaiting_pong = false;
        // The token verifier accepts a token through the whole second `exp`: the socket ends
        // when the REST API starts refusing the same token, not a second earlier.
        let expiry = tokio::time::sleep(until_unix(self.expires.saturating_add(1)));
        tokio::pin!(expiry);
        // Made once: a fresh one per wake-up would register with the token again each time.
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        loop {
            tokio::select! {
                biased;
                _ = &mut cancelled => return End::Close(CloseCode::Away, "server going away"),
                // The sign-in ends here as it does for the REST API: the client is told to sign
                // in again rather than left chatting on a token nobody would accept any more.
                _ = &mut expiry => {
                    let _ = self.send(frames::expired("Your session expired; sign in again", self.dialect)).await;
                    return End::Close(CloseCode::Policy, "token expired");
                }
                Some(control) = inbox.control.recv() => match control {
                    Control::Blocked => {
                        let _ = self.send(frames::blocked("Your account has been blocked. Contact an administrator.", self.dialect)).await;
                        return End::Close(CloseCode::Policy, "account blocked");
                    }
                    // A reconnecting client gets what its new role may see; a socket that
                    // started with that role already (its snapshot came after the change) stays.
                    Control::RoleChanged { admin } if admin != self.user.is_admin => {
                        return End::Close(CloseCode::Again, "your role changed; reconnect")
                    }
                    Control::RoleChanged { .. } => {}
                    Control::Muted { until } => {
                        if let Err(end) = self.on_muted(until).await { return end; }
                    }
                },
                event = inbox.events.recv() => {
                    // The hub dropped this socket's queue when it overflowed: the client could
                    // not keep up and resumes with `?since=`.
                    let Some(event) = event else {
                        tracing::info!(user = %self.user.username, "disconnecting a client that fell behind");
                        return End::Close(CloseCode::Policy, "too slow");
                    };
                    // One deadline for the whole burst, and armed only for a burst that has to
                    // wait for the client: in a room that gets a message now and then every
                    // frame is a burst of its own, and it almost always goes straight into the
                    // socket's buffer, so a timer set and cancelled per frame was pure cost.
                    let deadline = self.state.http.ws_write_timeout;
                    let burst = async {
                        let mut next = Some(event);
                        let mut written = 0;
                        while let Some(ev) = next.take() {
                            written += self.write_event(&ev, start, &mut last).await?;
                            if written < WRITE_BATCH {
                                next = inbox.events.try_recv().ok();
                            }
                        }
                        self.ws.flush().await
                    };
                    tokio::pin!(burst);
                    let written = match std::future::poll_fn(|cx| Poll::Ready(burst.as_mut().poll(cx))).await {
                        Poll::Ready(done) => Ok(done),
                        Poll::Pending => tokio::time::timeout(deadline, burst).await,
                    };
                    match written {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return End::Quiet,
                        Err(_) => return End::Close(CloseCode::Policy, "too slow"),
                    }
                }
                Some(outcome) = pending.next(), if !pending.is_empty() => {
                    let answered = match outcome {
                        Ok(Done::Quiet) => Ok(()),
                        Ok(Done::Warned { warnings, limit, term }) => {
                                let next = self.state.chat.next_step(warnings);
                            self.send(frames::warning(warnings, limit, &term, next, self.dialect)).await
                        }
                        Ok(Done::Blocked { term }) => Err(self.blocked_by(&term).await),
                        Ok(Done::Muted { until, term }) => self.muted_by(until, &term).await,
                        Err(e) => self.refused(e).await,
                    };
                    if let Err(end) = answered { return end; }
                }
                frame = self.ws.next(), if pending.len() < PIPELINE => {
                    let frame = match frame {
                        None => return End::Quiet,
                        Some(Ok(f)) => f,
                        Some(Err(tungstenite::Error::Capacity(_))) => {
                            return End::Close(CloseCode::Size, "message too big");
                        }
                        Some(Err(_)) => return End::Quiet,
                    };
                    match frame {
                        WsMessage::Text(text) => match self.on_text(&text, &mut bucket, &mut typing).await {
                            Ok(Some(queued)) => pending.push_back(queued),
                            Ok(None) => {}
                            Err(end) => return end,
                        },
                        WsMessage::Binary(_) => {
                            if let Err(end) = self.send(frames::error("Binary frames are not supported; send JSON text", self.dialect)).await { return end; }
                        }
                        WsMessage::Pong(_) => awaiting_pong = false,
                        // tungstenite queues the pong reply itself; it goes out with the next flush.
                        WsMessage::Ping(_) => { if let Err(end) = self.flush().await { return end; } }
                        WsMessage::Close(_) => return End::Quiet,
                        WsMessage::Frame(_) => {}
                    }
                }
                _ = ping.tick() => {
                    if awaiting_pong {
                        tracing::debug!(user = %self.user.username, "no pong: dropping a dead connection");
                        return End::Quiet;
                    }
                    awaiting_pong = true;
                    if self.ws.send(WsMessage::Ping(Default::default())).await.is_err() { return End::Quiet; }
                }
            }
        }
    }

    /// Feeds an event's frames (not flushed, no deadline: the caller sets one for the burst);
    /// returns how many were written.
    async fn write_event(
        &mut self,
        ev: &Event,
        start: i64,
        last: &mut i64,
    ) -> Result<usize, tungstenite::Error> {
        if self.dialect == Dialect::Original && ev.room().is_some_and(|r| r != GENERAL_ROOM) {
            return Ok(0);
        }
        let encoded = match self.dialect {
            Dialect::Ours => ev.frames(|k| frames::event(k, Dialect::Ours)),
            Dialect::Original => ev.frames_alt(|k| frames::event(k, Dialect::Original)),
        };
        let mut written = 0;
        for (i, frame) in encoded.iter().enumerate() {
            if let Some(position) = ev.position_of(i) {
                if position < start {
                    continue; // before the snapshot: replayed from the store, or history
                }
            }
            if ev.room().is_some() {
                let id = ev.position_of(i).unwrap_or(0);
                if id <= *last {
                    continue;
                }
                *last = id;
            }
            self.ws.feed(WsMessage::Text(frame.clone())).await?;
            written += 1;
        }
        Ok(written)
    }

    /// Feeds one change a resuming client missed, as the live path would have sent it.
    async fn feed_change(&mut self, change: crate::chat::living::Missed) -> Result<(), End> {
        for frame in frames::event(&change.into_event(), self.dialect) {
            self.feed(frame).await?;
        }
        Ok(())
    }

    /// Feeds messages of history with their reactions; Err(None) when the socket ended, or the
    /// store's error.
    async fn feed_history(&mut self, messages: Vec<Message>) -> Result<(), Option<ChatError>> {
        for seen in self.state.chat.with_reactions(messages).await.map_err(Some)? {
            self.feed(frames::message_with(&seen.message, &seen.reactions, self.dialect))
                .await
                .map_err(|_| None)?;
        }
        Ok(())
    }

    /// An admin's live view of a public room: its recent messages now, its new ones as they come.
    async fn watch(&mut self, room: Option<i64>) -> Result<(), End> {
        let Some(room) = room else {
            self.presence.watch(None);
            return Ok(());
        };
        let chat = Arc::clone(&self.state.chat);
        let allowed = match chat.authenticate_admin_id(self.user.id).await {
            Ok(()) => chat.public_room(room).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = allowed {
            let detail = match e {
                ChatError::NotAdmin => "Only admins can watch rooms",
                _ => "No such public room",
            };
            return self.send(frames::error(detail, self.dialect)).await;
        }
        self.presence.watch(Some(room));
        let recent = match chat.messages_before(room, None, chat.config.history_limit).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a watched room's history");
                return self.send(frames::error("Cannot read this room's history now", self.dialect)).await;
            }
        };
        match self.feed_history(recent).await {
            Ok(()) => self.flush().await,
            Err(None) => Err(End::Quiet),
            Err(Some(e)) => {
                tracing::warn!(error = %e, "cannot read a watched room's reactions");
                self.send(frames::error("Cannot read this room's history now", self.dialect)).await
            }
        }
    }

    /// Handles a client's text frame. A chat message that passed screening, an edit, a deletion
    /// or a reaction comes back as its pending outcome (the caller's to read, in order), so a
    /// client may have several in flight.
    async fn on_text(
        &mut self,
        text: &str,
        bucket: &mut Bucket,
        typing: &mut Bucket,
    ) -> Result<Option<Pending>, End> {
        let frame = match frames::parse_client(text) {
            Ok(frames::ClientFrame::Watch { room }) => return self.watch(room).await.map(|()| None),
            Ok(frames::ClientFrame::Typing { room }) => {
                if typing.take(TYPING_RATE).is_ok() {
                    if let Err(e) = self.state.chat.typing(&self.user, room) {
                        return self.refused(e).await.map(|()| None);
                    }
                }
                return Ok(None);
            }
            Ok(frame) => frame,
            Err(detail) => {
                self.state.chat.metrics().refused(crate::chat::metrics::Refused::Invalid);
                return self.send(frames::error(&detail, self.dialect)).await.map(|()| None);
            }
        };
        if let Err(wait) = bucket.take(self.state.chat.config.message_rate) {
            self.state.chat.metrics().refused(crate::chat::metrics::Refused::RateLimited);
            let detail = format!("You are sending messages too fast; wait {:.1} s", wait.as_secs_f64());
            return self.send(frames::error(&detail, self.dialect)).await.map(|()| None);
        }
        let (chat, user) = (Arc::clone(&self.state.chat), self.user.clone());
        let pending: Pending = match frame {
            frames::ClientFrame::Message { room, text, reply_to } => {
                match self.state.chat.post(&self.user, room, &text, reply_to).await {
                    Ok(Posted::Queued(queued)) => {
                        let chat = Arc::clone(&chat);
                        Box::pin(async move { chat.settle(queued).await.map(|_| Done::Quiet) })
                    }
                    Ok(Posted::Warned { warnings, limit, term }) => {
                        let next = self.state.chat.next_step(warnings);
                        return self
                            .send(frames::warning(warnings, limit, &term, next, self.dialect))
                            .await
                            .map(|()| None);
                    }
                    Ok(Posted::Muted { until, term }) => {
                        return self.muted_by(until, &term).await.map(|()| None)
                    }
                    Ok(Posted::Blocked { term }) => return Err(self.blocked_by(&term).await),
                    Err(e) => return self.refused(e).await.map(|()| None),
                }
            }
            frames::ClientFrame::Edit { id, text } => Box::pin(async move {
                Ok(match chat.edit_message(&user, id, &text).await? {
                    Edited::Done(..) => Done::Quiet,
                    Edited::Warned { warnings, limit, term } => Done::Warned { warnings, limit, term },
                    Edited::Muted { until, term } => Done::Muted { until, term },
                    Edited::Blocked { term } => Done::Blocked { term },
                })
            }),
            frames::ClientFrame::Delete { id } => {
                Box::pin(async move { chat.delete_message(&user, id, None).await.map(|_| Done::Quiet) })
            }
            frames::ClientFrame::React { id, emoji } => {
                Box::pin(async move { chat.toggle_reaction(&user, id, &emoji).await.map(|_| Done::Quiet) })
            }
            frames::ClientFrame::Watch { .. } | frames::ClientFrame::Typing { .. } => return Ok(None),
        };
        Ok(Some(pending))
    }

    /// Tells the client its account was blocked by a violation of `term`; the socket ends.
    async fn blocked_by(&mut self, term: &str) -> End {
        let reason = format!(
            "Your account has been blocked: {} is not allowed here, and this was your {} violation of the chat rules. Contact an administrator.",
            frames::banned(term),
            ordinal(self.state.chat.config.warning_limit)
        );
        let _ = self.send(frames::blocked(&reason, self.dialect)).await;
        End::Close(CloseCode::Policy, "account blocked")
    }

    /// Tells the client its account is muted after a violation of `term` (the log's change of
    /// the same mute then reaches this socket too, and is not told twice).
    async fn muted_by(&mut self, until: String, term: &str) -> Result<(), End> {
        let text = format!(
            "Your message was not sent because it contains \"{term}\", which is not allowed here. \
             You are muted until {until}: you can read, but not post."
        );
        self.user.muted_until = Some(until.clone());
        self.send(frames::muted(Some(&until), &text, self.dialect)).await
    }

    /// A mute of the account (by the ladder on any socket, an admin or the operator) began,
    /// changed or was lifted.
    async fn on_muted(&mut self, until: Option<String>) -> Result<(), End> {
        if until.is_some() && until == self.user.muted_until {
            return Ok(());
        }
        self.user.muted_until = until.clone();
        match until {
            Some(until) => {
                let text = format!("You are muted until {until}: you can read, but not post.");
                self.send(frames::muted(Some(&until), &text, self.dialect)).await
            }
            None => {
                self.send(frames::muted(None, "Your mute was lifted: you can post again.", self.dialect))
                    .await
            }
        }
    }

    /// Tells the client why its message was not posted (or ends the socket when the server is
    /// going away).
    async fn refused(&mut self, e: ChatError) -> Result<(), End> {
        match e {
            ChatError::Invalid { detail, .. } => self.send(frames::error(&detail, self.dialect)).await,
            // One answer whether the room does not exist or is private: it reveals nothing.
            ChatError::RoomNotFound => {
                self.send(frames::error("No such room, or you are not a member of it", self.dialect)).await
            }
            e @ (ChatError::Archived
            | ChatError::MessageNotFound
            | ChatError::Forbidden(_)
            | ChatError::Muted { .. }
            | ChatError::MutedInRoom { .. }
            | ChatError::ModerationUnavailable) => {
                self.send(frames::error(&e.to_string(), self.dialect)).await
            }
            ChatError::SlowMode(wait) => {
                let detail = ChatError::SlowMode(wait).to_string();
                self.send(frames::error_retry(&detail, wait.as_secs().max(1), self.dialect)).await
            }
            ChatError::ShuttingDown => Err(End::Close(CloseCode::Away, "server going away")),
            e => {
                tracing::warn!(error = %e, user = %self.user.username, "message not saved");
                self.send(frames::error("Your message could not be saved; please try again", self.dialect))
                    .await
            }
        }
    }
}

/// What became of a message, edit, deletion or reaction a client sent, once it is done.
enum Done {
    /// Done: the broadcast that follows is the acknowledgement.
    Quiet,
    /// Refused by moderation.
    Warned { warnings: i64, limit: i64, term: String },
    /// Refused by moderation, and the account is now muted until then.
    Muted { until: String, term: String },
    /// Refused by moderation, and the account is now blocked.
    Blocked { term: String },
}

/// One of a socket's requests in flight.
type Pending = BoxFuture<'static, crate::chat::Result<Done>>;

/// The time left until a Unix timestamp in seconds (zero if it has passed).
fn until_unix(at: i64) -> std::time::Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    std::time::Duration::from_secs(u64::try_from(at).unwrap_or(0)).saturating_sub(now)
}

fn ordinal(n: i64) -> String {
    match n {
        1 => "first".into(),
        2 => "second".into(),
        3 => "third".into(),
        n => format!("{n}th"),
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn origins_match_on_scheme_host_and_port() {
        assert!(same_origin("http://chat.example", "http", "chat.example"));
        assert!(same_origin("http://chat.example", "http", "chat.example:80"));
        assert!(same_origin("https://Chat.Example", "https", "chat.example"));
        assert!(same_origin("http://[::1]:8080", "http", "[::1]:8080"));
        assert!(same_origin("http://[::1]", "http", "[::1]:80"));
        assert!(!same_origin("https://chat.example", "http", "chat.example"));
        assert!(!same_origin("http://chat.example", "https", "chat.example"));
        assert!(!same_origin("https://chat.example:80", "http", "chat.example"));
        assert!(!same_origin("http://chat.example:8080", "http", "chat.example"));
        assert!(!same_origin("http://chat.example", "http", ""));
        assert!(!same_origin("null", "http", "chat.example"));
    }
}
