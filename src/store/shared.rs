//! What both backends do alike outside SQL: how a log change and a message's mentions map to
//! columns, which messages of a batch are admitted, and the keys of DMs and prefix searches; and
//! the conditions of a message search, written once for both placeholder styles.

use super::{
    Action, Audit, Change, LivingRefusal, Message, NewMessage, NewRoom, Reaction, Refusal, RoomKind,
    SearchQuery, StrikeRecord, StrikeStep, TermAdded, TermList, User,
};

impl Change {
    /// The `changes` row of a change: kind, room, user, value.
    pub(super) fn columns(self) -> (&'static str, i64, Option<i64>, Option<i64>) {
        match self {
            Change::Member { room_id, user_id } => ("member", room_id, Some(user_id), None),
            Change::Unmember { room_id, user_id } => ("unmember", room_id, Some(user_id), None),
            Change::Hide { room_id, user_id } => ("hide", room_id, Some(user_id), None),
            Change::Room { room_id } => ("room", room_id, None, None),
            Change::Read { room_id, user_id, message_id } => {
                ("read", room_id, Some(user_id), Some(message_id))
            }
            Change::Account { user_id, blocked, admin } => {
                ("account", 0, Some(user_id), Some(i64::from(blocked) | i64::from(admin) << 1))
            }
            Change::Edit { room_id, message_id, user_id } => {
                ("edit", room_id, Some(user_id), Some(message_id))
            }
            Change::Delete { room_id, message_id, user_id } => {
                ("delete", room_id, Some(user_id), Some(message_id))
            }
            Change::React { room_id, message_id, user_id } => {
                ("react", room_id, Some(user_id), Some(message_id))
            }
            // No room: the status's code rides in the room column (never a room's id here).
            Change::Report { report_id, user_id, status } => {
                ("report", status.code(), Some(user_id), Some(report_id))
            }
            Change::Mute { user_id, until_ms } => ("mute", 0, Some(user_id), Some(until_ms)),
            Change::Role { room_id, user_id, moderator } => {
                ("role", room_id, Some(user_id), Some(i64::from(moderator)))
            }
            Change::RoomMute { room_id, user_id, until_ms } => {
                ("room_mute", room_id, Some(user_id), Some(until_ms))
            }
            Change::Terms => ("terms", 0, None, None),
        }
    }

    /// The change a `changes` row holds.
    pub(super) fn from_columns(kind: &str, room_id: i64, user_id: Option<i64>, value: Option<i64>) -> Change {
        let user_id = user_id.unwrap_or(0);
        match kind {
            "member" => Change::Member { room_id, user_id },
            "unmember" => Change::Unmember { room_id, user_id },
            "hide" => Change::Hide { room_id, user_id },
            "read" => Change::Read { room_id, user_id, message_id: value.unwrap_or(0) },
            "edit" => Change::Edit { room_id, message_id: value.unwrap_or(0), user_id },
            "delete" => Change::Delete { room_id, message_id: value.unwrap_or(0), user_id },
            "react" => Change::React { room_id, message_id: value.unwrap_or(0), user_id },
            "report" => Change::Report {
                report_id: value.unwrap_or(0),
                user_id,
                status: super::ReportStatus::from_code(room_id),
            },
            "mute" => Change::Mute { user_id, until_ms: value.unwrap_or(0) },
            "role" => Change::Role { room_id, user_id, moderator: value == Some(1) },
            "room_mute" => Change::RoomMute { room_id, user_id, until_ms: value.unwrap_or(0) },
            "terms" => Change::Terms,
            "account" => {
                let flags = value.unwrap_or(0);
                Change::Account { user_id, blocked: flags & 1 != 0, admin: flags & 2 != 0 }
            }
            _ => Change::Room { room_id },
        }
    }
}

impl super::LivingKind {
    /// The `changes.kind` of a living change.
    pub(super) fn parse(kind: &str) -> super::LivingKind {
        match kind {
            "edit" => super::LivingKind::Edit,
            "delete" => super::LivingKind::Delete,
            _ => super::LivingKind::React,
        }
    }
}

impl User {
    /// The log entry that tells every instance this account's flags now.
    pub(super) fn account_change(&self) -> Change {
        Change::Account { user_id: self.id, blocked: self.is_blocked, admin: self.is_admin }
    }
}

impl StrikeRecord<'_> {
    /// The audit row of this strike taking `step`, a mute's row with its end `until`.
    pub(super) fn audit<'b>(&'b self, step: &StrikeStep, until: Option<&'b str>) -> Audit<'b> {
        let action = match step {
            StrikeStep::Warn => Action::Warning,
            StrikeStep::Mute { .. } => Action::Mute,
            StrikeStep::Block => Action::Block,
        };
        Audit {
            text: self.text,
            term: self.term,
            reason: self.reason,
            actor_id: self.actor_id,
            strike: true,
            room_id: self.room_id,
            message_id: self.message_id,
            until,
            ..Audit::new(Some(self.user_id), action, self.actor, self.timestamp)
        }
    }
}

/// The audit row of an admin's mute or unmute of `user` as it is, or None when it changes
/// nothing (an unmute of an account that is not muted now).
pub(super) fn mute_audit<'a>(user: &User, mute: &'a super::MuteAction<'a>) -> Option<Audit<'a>> {
    let muted_now = user.muted_until.as_deref().is_some_and(|u| u > mute.timestamp);
    if mute.until.is_none() && !muted_now {
        return None;
    }
    let action = if mute.until.is_some() { Action::Mute } else { Action::Unmute };
    Some(Audit {
        reason: mute.reason,
        actor_id: mute.actor_id,
        until: mute.until,
        ..Audit::new(Some(user.id), action, mute.actor, mute.timestamp)
    })
}

/// The mute end a strike's step leaves: the step's, or a longer one already running.
pub(super) fn mute_end(step: &StrikeStep, running: Option<&str>) -> Option<String> {
    let StrikeStep::Mute { until } = step else { return None };
    Some(match running {
        Some(r) if r > until.as_str() => r.to_string(),
        _ => until.clone(),
    })
}

/// What a term-list audit row says happened: an addition (`added`) or a removal (None).
pub(super) fn term_act(list: TermList, added: Option<TermAdded>) -> &'static str {
    match (list, added) {
        (TermList::Block, Some(TermAdded::Moved)) => "moved to the block list",
        (TermList::Allow, Some(TermAdded::Moved)) => "moved to the allow list",
        (TermList::Block, Some(_)) => "added to the block list",
        (TermList::Allow, Some(_)) => "added to the allow list",
        (TermList::Block, None) => "removed from the block list",
        (TermList::Allow, None) => "removed from the allow list",
    }
}

impl Action {
    pub(super) fn parse(s: &str) -> Action {
        Action::ALL.into_iter().find(|a| a.as_str() == s).unwrap_or(Action::Warning)
    }
}

/// A message of a batch, given whether its room is archived (None: the sender is not a member
/// or the room does not exist) and the end of the sender's account mute. An admitted message has
/// no position (id 0) nor mentions yet. `answered`: the message it replies to (if any) is a
/// message of the same room, not deleted.
pub(super) fn admit(
    m: &NewMessage,
    archived: Option<bool>,
    muted_until: Option<&str>,
    answered: bool,
    timestamp: &str,
) -> Result<Message, Refusal> {
    match archived {
        None => Err(Refusal::NotMember),
        // Stored timestamps sort as they compare: a mute that has ended refuses nothing.
        Some(_) if muted_until.is_some_and(|u| u > timestamp) => {
            Err(Refusal::Muted { until: muted_until.unwrap_or_default().to_string() })
        }
        Some(true) => Err(Refusal::Archived),
        Some(false) if !answered => Err(Refusal::NoSuchReply),
        Some(false) => Ok(Message {
            id: 0,
            room_id: m.room_id,
            sender_id: m.sender_id,
            username: m.username.clone(),
            content: m.content.clone(),
            timestamp: timestamp.to_string(),
            mentions: Vec::new(),
            edited_at: None,
            reply_to: m.reply_to,
        }),
    }
}

/// The room's own rules for an admitted message (`admit` first): a room mute still running, then
/// slow mode, whose clock is the sender's latest message in the room, or one admitted earlier in
/// the same batch (`recent`: the rooms and senders slow mode applies to that were admitted).
pub(super) fn room_rules(
    m: &NewMessage,
    gate: &super::RoomGate,
    recent: &mut Vec<(i64, i64)>,
    timestamp: &str,
) -> Result<(), Refusal> {
    if let Some(until) = gate.muted_until.as_deref().filter(|u| *u > timestamp) {
        return Err(Refusal::MutedInRoom { until: until.to_string() });
    }
    if gate.slow_mode_secs <= 0 || gate.exempt {
        return Ok(());
    }
    let secs = gate.slow_mode_secs as f64;
    if recent.contains(&(m.room_id, m.sender_id)) {
        return Err(Refusal::SlowMode { retry_after: secs as u64 });
    }
    let since = match (gate.last_post.as_deref().and_then(unix_secs), unix_secs(timestamp)) {
        (Some(last), Some(now)) => now - last,
        _ => f64::INFINITY,
    };
    if since < secs {
        return Err(Refusal::SlowMode { retry_after: (secs - since).ceil().max(1.0) as u64 });
    }
    recent.push((m.room_id, m.sender_id));
    Ok(())
}

/// A room mute's end as the log carries it: Unix milliseconds, 0 for none.
pub(super) fn mute_millis(until: Option<&str>) -> i64 {
    until.and_then(unix_secs).map_or(0, |s| (s * 1000.0).round() as i64)
}

/// A stored timestamp as Unix seconds.
pub(super) fn unix_secs(ts: &str) -> Option<f64> {
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

/// The `mentions` column: usernames joined by spaces (they have none), NULL for none.
pub(super) fn mentions_column(mentions: &[String]) -> Option<String> {
    (!mentions.is_empty()).then(|| mentions.join(" "))
}

pub(super) fn mentions_from_column(column: Option<String>) -> Vec<String> {
    column.map(|m| m.split(' ').map(str::to_string).collect()).unwrap_or_default()
}

/// The members' ids, sorted and comma-joined: one set of people has one DM.
pub(super) fn dm_key(members: &[i64]) -> String {
    members.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// A prefix for `LIKE ... ESCAPE '\'`, matched literally.
pub(super) fn like_escape(prefix: &str) -> String {
    prefix.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect()
}

/// The rooms new accounts join for `set_auto_join(room_ids)`: those and `general`, sorted.
pub(super) fn auto_join_set(room_ids: &[i64]) -> Vec<i64> {
    let mut want: Vec<i64> = room_ids.iter().copied().chain([super::GENERAL_ROOM]).collect();
    want.sort_unstable();
    want.dedup();
    want
}

impl<'a> NewRoom<'a> {
    /// A DM of `members` (sorted, deduplicated ids), opened by `by`.
    pub(super) fn dm(members: &'a [i64], by: i64, timestamp: &'a str) -> NewRoom<'a> {
        NewRoom {
            kind: RoomKind::Dm,
            name: None,
            name_key: None,
            topic: None,
            created_by: Some(by),
            members,
            timestamp,
        }
    }
}

/// Whether the editor may change the message's text: their own, not deleted, in a room they are
/// in and that is not archived, sent no earlier than `not_before`.
pub(super) fn may_edit(
    member: bool,
    deleted: bool,
    archived: bool,
    own: bool,
    sent: &str,
    not_before: &str,
) -> Result<(), LivingRefusal> {
    match () {
        _ if !member => Err(LivingRefusal::NotFound),
        _ if deleted => Err(LivingRefusal::Deleted),
        _ if !own => Err(LivingRefusal::NotYours),
        _ if archived => Err(LivingRefusal::Archived),
        // Stored timestamps are RFC 3339 text of one format: they sort as they compare.
        _ if sent < not_before => Err(LivingRefusal::TooOld),
        _ => Ok(()),
    }
}

/// Whether the actor may delete the message: their own in a room they are in, or anyone's when
/// `may_delete_others` (an admin, the operator), wherever it is.
pub(super) fn may_delete(
    member: bool,
    deleted: bool,
    own: bool,
    may_delete_others: bool,
) -> Result<(), LivingRefusal> {
    match () {
        _ if !member && !may_delete_others => Err(LivingRefusal::NotFound),
        _ if deleted => Err(LivingRefusal::Deleted),
        _ if !own && !may_delete_others => Err(LivingRefusal::NotYours),
        _ => Ok(()),
    }
}

/// Whether the user may react: a member of the room, the message not deleted, the room not
/// archived.
pub(super) fn may_react(member: bool, deleted: bool, archived: bool) -> Result<(), LivingRefusal> {
    match () {
        _ if !member => Err(LivingRefusal::NotFound),
        _ if deleted => Err(LivingRefusal::Deleted),
        _ if archived => Err(LivingRefusal::Archived),
        _ => Ok(()),
    }
}

/// Rows (message, emoji, user) in message order, each message's emoji together in first-use
/// order, into each message's reactions.
pub(super) fn group_reactions(rows: Vec<(i64, String, String)>) -> Vec<(i64, Vec<Reaction>)> {
    let mut out: Vec<(i64, Vec<Reaction>)> = Vec::new();
    for (message, emoji, user) in rows {
        if out.last().is_none_or(|(m, _)| *m != message) {
            out.push((message, Vec::new()));
        }
        let list = &mut out.last_mut().expect("pushed above").1;
        match list.last_mut() {
            Some(r) if r.emoji == emoji => r.users.push(user),
            _ => list.push(Reaction { emoji, users: vec![user] }),
        }
    }
    out
}

/// A value for one placeholder of a search's SQL.
#[derive(Debug, Clone)]
pub(super) enum SearchParam {
    Int(i64),
    Text(String),
}

/// The WHERE conditions of a message search and their values, built for either backend
/// (placeholders `?N` or `$N`), so both apply a `SearchQuery` the same way.
pub(super) struct SearchSql {
    sigil: char,
    pub conditions: Vec<String>,
    pub params: Vec<SearchParam>,
}

impl SearchSql {
    pub fn new(sigil: char) -> Self {
        SearchSql { sigil, conditions: Vec::new(), params: Vec::new() }
    }

    /// Binds a value; returns its placeholder.
    pub fn bind(&mut self, value: SearchParam) -> String {
        self.params.push(value);
        format!("{}{}", self.sigil, self.params.len())
    }

    /// Everything of `q` but its terms matched by a full-text index: the scope (a room, or
    /// the user's rooms and perhaps every public room), the sender, the bounds, tombstones, and
    /// `like_terms` as `content <like_op> '%term%'` each. `id` is the column the id bounds
    /// apply to, `room` the expression of the message's room.
    pub fn filters(&mut self, q: &SearchQuery, id: &str, room: &str, like_terms: &[&str], like_op: &str) {
        use SearchParam::{Int, Text};
        self.conditions.push("m.deleted_at IS NULL".into());
        for term in like_terms {
            let p = self.bind(Text(format!("%{}%", like_escape(term))));
            self.conditions.push(format!("m.content {like_op} {p} ESCAPE '\\'"));
        }
        match q.room_id {
            Some(r) => {
                let p = self.bind(Int(r));
                self.conditions.push(format!("{room} = {p}"));
            }
            None => {
                let p = self.bind(Int(q.user_id));
                let mut scope = format!("{room} IN (SELECT room_id FROM members WHERE user_id = {p})");
                if q.all_public {
                    scope.push_str(&format!(" OR {room} IN (SELECT id FROM rooms WHERE kind = 'public')"));
                }
                self.conditions.push(format!("({scope})"));
            }
        }
        let bounds = [
            ("m.sender_id =".to_string(), q.sender_id.map(Int)),
            (format!("{id} <"), q.before_id.map(Int)),
            (format!("{id} >"), q.after_id.map(Int)),
            ("m.timestamp <".to_string(), q.before_time.clone().map(Text)),
            ("m.timestamp >".to_string(), q.after_time.clone().map(Text)),
        ];
        for (lhs, value) in bounds {
            if let Some(v) = value {
                let p = self.bind(v);
                self.conditions.push(format!("{lhs} {p}"));
            }
        }
    }

    /// The conditions joined for a WHERE clause.
    pub fn where_clause(&self) -> String {
        self.conditions.join(" AND ")
    }
}
