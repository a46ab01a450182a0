//! The properties that the fuzz targets (fuzz/fuzz_targets) and the proptest suite
//! (tests/properties.rs, which includes this file) both check, so the two cannot drift apart.
//!
//! Each check panics when its property is violated and returns quietly otherwise. Inputs come as
//! raw bytes where that keeps the committed fuzz corpus readable: fields are separated by 0xFF,
//! a byte that never occurs in UTF-8 text.

use chatterbox::chat::auth::TokenKeys;
use chatterbox::chat::export::{neutralise, write_messages, write_users, MESSAGE_HEADER, USER_HEADER};
use chatterbox::chat::moderation::{Matcher, DEFAULT_TERMS};
use chatterbox::http::frames::{parse_client, ClientFrame};
use chatterbox::store::{
    AdminAction, Audit, Counts, Credentials, KeysSet, LimitSlot, LogEntry, Member, Memberships, Message,
    MessageFilter, NewMessage, NewRoom, NewUser, Notify, Refusal, Room, RoomRole, RoomStats, RoomView, Store,
    User, UserFilter, UserKeys, Violation, ViolationOutcome,
};
use serde_json::Value;

/// Separates the fields of a fuzz input.
pub const FIELD: u8 = 0xFF;

/// Splits `data` at [`FIELD`] bytes into text fields. Invalid UTF-8 is replaced rather than
/// rejected, so no input is wasted on a check that would never run.
pub fn fields(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == FIELD).map(|f| String::from_utf8_lossy(f).into_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// WebSocket client frames

/// The error detail is echoed to the client, so an attacker must not be able to make it large.
const MAX_FRAME_ERROR: usize = 1024;

/// The `room` of an accepted frame, as the frame wrote it: absent or null is None.
fn room_of(obj: &serde_json::Map<String, Value>) -> Option<i64> {
    obj.get("room").and_then(Value::as_i64)
}

/// `parse_client` never panics, and an accepted frame is a JSON object whose `text` and `room`
/// are those returned (and whose `type`, if any, is "message"), or a `watch` frame.
pub fn ws_frame(frame: &str) {
    match parse_client(frame) {
        Ok(ClientFrame::Message { room, text, reply_to }) => {
            let value: Value = serde_json::from_str(frame).expect("an accepted frame is JSON");
            let obj = value.as_object().expect("an accepted frame is an object");
            assert_eq!(obj.get("text"), Some(&Value::String(text)), "text of {frame:?}");
            assert_eq!(room_of(obj), room, "room of {frame:?}");
            assert_eq!(obj.get("reply_to").and_then(Value::as_i64), reply_to, "reply_to of {frame:?}");
            assert!(obj.get("type").is_none_or(|t| t == "message"), "accepted another type: {frame:?}");
        }
        Ok(ClientFrame::Edit { id, text }) => {
            let value: Value = serde_json::from_str(frame).expect("an accepted frame is JSON");
            assert_eq!((value["type"].as_str(), value["id"].as_i64()), (Some("edit"), Some(id)), "{frame:?}");
            assert_eq!(value["text"].as_str(), Some(text.as_str()), "text of {frame:?}");
        }
        Ok(ClientFrame::Delete { id }) => {
            let value: Value = serde_json::from_str(frame).expect("an accepted frame is JSON");
            assert_eq!(
                (value["type"].as_str(), value["id"].as_i64()),
                (Some("delete"), Some(id)),
                "{frame:?}"
            );
        }
        Ok(ClientFrame::React { id, emoji }) => {
            let value: Value = serde_json::from_str(frame).expect("an accepted frame is JSON");
            assert_eq!(
                (value["type"].as_str(), value["id"].as_i64()),
                (Some("react"), Some(id)),
                "{frame:?}"
            );
            assert_eq!(value["emoji"].as_str(), Some(emoji.as_str()), "emoji of {frame:?}");
        }
        Ok(ClientFrame::Typing { room }) => {
            let value: Value = serde_json::from_str(frame).expect("an accepted frame is JSON");
            assert_eq!(
                (value["type"].as_str(), value["room"].as_i64()),
                (Some("typing"), Some(room)),
                "{frame:?}"
            );
        }
        Ok(ClientFrame::Watch { room }) => {
            let value: Value = serde_json::from_str(frame).expect("an accepted frame is JSON");
            let obj = value.as_object().expect("an accepted frame is an object");
            assert_eq!(obj.get("type"), Some(&Value::String("watch".into())), "{frame:?}");
            assert_eq!(room_of(obj), room, "room of {frame:?}");
        }
        Err(detail) => assert!(detail.len() <= MAX_FRAME_ERROR, "error detail of {} bytes", detail.len()),
    }
}

// ---------------------------------------------------------------------------------------------
// Moderation

/// The matcher never panics, and its answer is None or a term of its list as `Matcher` promises
/// to report it (trimmed, lowercased). `list` is the blocklist file it was built from, None for
/// the default list.
pub fn moderation_any(matcher: &Matcher, list: Option<&str>, text: &str) {
    let Some(term) = matcher.find(text) else { return };
    let listed = match list {
        None => DEFAULT_TERMS.contains(&term),
        Some(list) => {
            let list = list.strip_prefix('\u{FEFF}').unwrap_or(list);
            list.lines().any(|line| line.trim().to_lowercase() == term)
        }
    };
    assert!(listed, "{term:?} is not on the list");
}

/// Decodes a moderation fuzz input (a control byte, then the text; with control bit 0 set the
/// text is `list 0xFF message` and the list is parsed as a blocklist file) and runs `check` with
/// the matcher, its list (None for the default) and the text. Lists that do not parse are
/// skipped: rejecting them is `from_list`'s job.
pub fn moderation_input(default: &Matcher, data: &[u8], check: impl FnOnce(&Matcher, Option<&str>, &str)) {
    let Some((&ctrl, rest)) = data.split_first() else { return };
    if ctrl & 1 == 1 {
        let f = fields(rest);
        if let Ok(custom) = Matcher::from_list(&f[0]) {
            check(&custom, Some(&f[0]), f.get(1).map_or("", String::as_str));
        }
    } else {
        check(default, None, &String::from_utf8_lossy(rest));
    }
}

/// Repeats `text` until it is about `bytes` long: a short fuzzed pattern becomes a huge message,
/// which is where a super-linear matcher would show (libFuzzer's -timeout catches it).
pub fn amplify(text: &str, bytes: usize) -> String {
    if text.is_empty() {
        return String::new();
    }
    text.repeat(bytes.div_ceil(text.len()))
}

/// Whitespace that separates words in a chat message.
pub const SEPARATORS: &[char] = &[' ', '\n', '\t', '\u{00A0}', '\u{3000}'];

/// A default term, written as a whole word (in one of three cases) between clean text, is found:
/// the verdict is that term or one listed before it.
pub fn term_in_context(matcher: &Matcher, term: usize, case: u8, sep: char, before: &str, after: &str) {
    let listed = DEFAULT_TERMS[term % DEFAULT_TERMS.len()];
    if matcher.find(before).is_some() || matcher.find(after).is_some() {
        return;
    }
    let word = match case % 3 {
        0 => listed.to_string(),
        1 => listed.to_uppercase(),
        _ => listed[..1].to_uppercase() + &listed[1..],
    };
    let text = format!("{before}{sep}{word}{sep}{after}");
    let found = matcher.find(&text).unwrap_or_else(|| panic!("{listed:?} not found in {text:?}"));
    let rank = |t: &str| DEFAULT_TERMS.iter().position(|d| *d == t);
    assert!(rank(found) <= rank(listed), "{text:?} found {found:?} instead of {listed:?}");
}

// ---------------------------------------------------------------------------------------------
// CSV export

/// A store holding only the rows an export streams; nothing else is ever called by it.
pub struct Rows {
    pub messages: Vec<Message>,
    pub users: Vec<User>,
}

fn only_exports() -> ! {
    unreachable!("the export only streams rows")
}

impl Store for Rows {
    fn ping(&self) -> chatterbox::store::Result<()> {
        only_exports()
    }
    fn create_user(&self, _: &NewUser<'_>) -> chatterbox::store::Result<User> {
        only_exports()
    }
    fn user_by_id(&self, _: i64) -> chatterbox::store::Result<Option<User>> {
        only_exports()
    }
    fn user_by_username(&self, _: &str) -> chatterbox::store::Result<Option<User>> {
        only_exports()
    }
    fn create_user_keyed(&self, _: &NewUser<'_>, _: &UserKeys<'_>) -> chatterbox::store::Result<User> {
        only_exports()
    }
    fn user_by_name_key(&self, _: &str) -> chatterbox::store::Result<Option<User>> {
        only_exports()
    }
    fn credentials(&self, _: &str, _: &str) -> chatterbox::store::Result<Option<Credentials>> {
        only_exports()
    }
    fn replace_password_hash(&self, _: i64, _: &str, _: &str) -> chatterbox::store::Result<bool> {
        only_exports()
    }
    fn hash_prefix_counts(&self) -> chatterbox::store::Result<Vec<(String, i64)>> {
        only_exports()
    }
    fn users_without_keys(&self, _: i64, _: usize) -> chatterbox::store::Result<Vec<User>> {
        only_exports()
    }
    fn set_user_keys(&self, _: i64, _: &UserKeys<'_>) -> chatterbox::store::Result<KeysSet> {
        only_exports()
    }
    fn list_users(&self, _: UserFilter) -> chatterbox::store::Result<Vec<User>> {
        only_exports()
    }
    fn set_admin(&self, _: i64, _: bool) -> chatterbox::store::Result<(User, bool)> {
        only_exports()
    }
    fn set_blocked(&self, _: i64, _: bool, _: &AdminAction<'_>) -> chatterbox::store::Result<(User, bool)> {
        only_exports()
    }
    fn record_violation(
        &self,
        _: i64,
        _: &str,
        _: &str,
        _: i64,
        _: &str,
    ) -> chatterbox::store::Result<ViolationOutcome> {
        only_exports()
    }
    fn violations(&self, _: Option<i64>, _: usize) -> chatterbox::store::Result<Vec<Violation>> {
        only_exports()
    }
    fn latest_blocks(&self) -> chatterbox::store::Result<Vec<Violation>> {
        only_exports()
    }
    fn strike(
        &self,
        _: &chatterbox::store::StrikeRecord<'_>,
        _: &mut dyn FnMut(i64) -> chatterbox::store::StrikeStep,
    ) -> chatterbox::store::Result<chatterbox::store::StrikeOutcome> {
        only_exports()
    }
    fn strikes(&self, _: i64, _: Option<&str>) -> chatterbox::store::Result<i64> {
        only_exports()
    }
    fn set_muted(&self, _: &chatterbox::store::MuteAction<'_>) -> chatterbox::store::Result<(User, bool)> {
        only_exports()
    }
    fn audit_log(&self, _: &chatterbox::store::AuditFilter) -> chatterbox::store::Result<Vec<Violation>> {
        only_exports()
    }
    fn insert_messages(
        &self,
        _: &[NewMessage],
        _: &str,
    ) -> chatterbox::store::Result<Vec<Result<Message, Refusal>>> {
        only_exports()
    }
    fn messages_before(&self, _: i64, _: Option<i64>, _: usize) -> chatterbox::store::Result<Vec<Message>> {
        only_exports()
    }
    fn messages_after(&self, _: i64, _: i64, _: i64, _: usize) -> chatterbox::store::Result<Vec<Message>> {
        only_exports()
    }
    fn log_after(&self, _: i64, _: usize) -> chatterbox::store::Result<Vec<LogEntry>> {
        only_exports()
    }
    fn log_next(&self) -> chatterbox::store::Result<i64> {
        only_exports()
    }
    fn audit_counts(&self) -> chatterbox::store::Result<Vec<(String, u64)>> {
        only_exports()
    }
    fn memberships(&self, _: i64) -> chatterbox::store::Result<Memberships> {
        only_exports()
    }
    fn create_room(&self, _: &NewRoom<'_>) -> chatterbox::store::Result<Room> {
        only_exports()
    }
    fn open_dm(&self, _: &[i64], _: i64, _: &str) -> chatterbox::store::Result<(Room, bool)> {
        only_exports()
    }
    fn room(&self, _: i64) -> chatterbox::store::Result<Option<Room>> {
        only_exports()
    }
    fn rooms_by_name_key(&self, _: &str) -> chatterbox::store::Result<Vec<Room>> {
        only_exports()
    }
    fn room_view(&self, _: i64, _: i64) -> chatterbox::store::Result<Option<RoomView>> {
        only_exports()
    }
    fn room_views(&self, _: i64) -> chatterbox::store::Result<Vec<RoomView>> {
        only_exports()
    }
    fn directory(&self, _: i64) -> chatterbox::store::Result<Vec<(Room, bool)>> {
        only_exports()
    }
    fn room_members(&self, _: i64) -> chatterbox::store::Result<Vec<Member>> {
        only_exports()
    }
    fn is_member(&self, _: i64, _: i64) -> chatterbox::store::Result<bool> {
        only_exports()
    }
    fn member_role(&self, _: i64, _: i64) -> chatterbox::store::Result<Option<RoomRole>> {
        only_exports()
    }
    fn set_member_role(
        &self,
        _: i64,
        _: i64,
        _: RoomRole,
        _: &Audit<'_>,
    ) -> chatterbox::store::Result<Option<bool>> {
        only_exports()
    }
    fn set_room_mute(
        &self,
        _: i64,
        _: i64,
        _: Option<&str>,
        _: &Audit<'_>,
    ) -> chatterbox::store::Result<Option<bool>> {
        only_exports()
    }
    fn set_slow_mode(&self, _: i64, _: i64, _: &Audit<'_>) -> chatterbox::store::Result<bool> {
        only_exports()
    }
    fn add_member(&self, _: i64, _: i64, _: &str) -> chatterbox::store::Result<bool> {
        only_exports()
    }
    fn remove_member(&self, _: i64, _: i64, _: &str) -> chatterbox::store::Result<bool> {
        only_exports()
    }
    fn hide_room(&self, _: i64, _: i64, _: &str) -> chatterbox::store::Result<bool> {
        only_exports()
    }
    fn mark_read(&self, _: i64, _: i64, _: i64, _: &str) -> chatterbox::store::Result<i64> {
        only_exports()
    }
    fn set_notify(&self, _: i64, _: i64, _: Notify) -> chatterbox::store::Result<bool> {
        only_exports()
    }
    fn set_archived(&self, _: i64, _: bool, _: &str) -> chatterbox::store::Result<bool> {
        only_exports()
    }
    fn set_auto_join(&self, _: &[i64]) -> chatterbox::store::Result<()> {
        only_exports()
    }
    fn room_stats(&self) -> chatterbox::store::Result<Vec<RoomStats>> {
        only_exports()
    }
    fn room_labels(&self) -> chatterbox::store::Result<Vec<(i64, String)>> {
        Ok(vec![(1, "general".into())])
    }
    fn usernames_starting(&self, _: &str, _: usize) -> chatterbox::store::Result<Vec<String>> {
        only_exports()
    }
    fn for_each_message(
        &self,
        _: &MessageFilter,
        f: &mut dyn FnMut(&Message) -> std::io::Result<()>,
    ) -> chatterbox::store::Result<()> {
        self.messages.iter().try_for_each(f)?;
        Ok(())
    }
    fn for_each_user(
        &self,
        _: UserFilter,
        f: &mut dyn FnMut(&User) -> std::io::Result<()>,
    ) -> chatterbox::store::Result<()> {
        self.users.iter().try_for_each(f)?;
        Ok(())
    }
    fn counts(&self, _: &str) -> chatterbox::store::Result<Counts> {
        only_exports()
    }
    fn terms(&self) -> chatterbox::store::Result<Vec<chatterbox::store::Term>> {
        Ok(Vec::new())
    }
    fn seed_terms(&self, _: &[String], _: &str, _: &str) -> chatterbox::store::Result<bool> {
        Ok(false)
    }
    fn add_term(
        &self,
        _: &chatterbox::store::TermEdit<'_>,
    ) -> chatterbox::store::Result<chatterbox::store::TermAdded> {
        only_exports()
    }
    fn remove_term(
        &self,
        _: &chatterbox::store::TermEdit<'_>,
    ) -> chatterbox::store::Result<Option<chatterbox::store::TermList>> {
        only_exports()
    }
    fn setting_or_insert(&self, _: &str, _: &str) -> chatterbox::store::Result<String> {
        only_exports()
    }
    fn account_revision(&self) -> chatterbox::store::Result<i64> {
        only_exports()
    }
    fn presence_beat(&self, _: &chatterbox::store::PresenceBeat<'_>) -> chatterbox::store::Result<bool> {
        only_exports()
    }
    fn presence_elsewhere(
        &self,
        _: &str,
        _: i64,
    ) -> chatterbox::store::Result<Vec<chatterbox::store::Elsewhere>> {
        only_exports()
    }
    fn presence_leave(&self, _: &str) -> chatterbox::store::Result<()> {
        only_exports()
    }
    fn update_limits(
        &self,
        _: &[&str],
        _: f64,
        _: &mut dyn FnMut(&mut [Option<LimitSlot>]),
    ) -> chatterbox::store::Result<()> {
        only_exports()
    }
    fn search(&self, _: &chatterbox::store::SearchQuery) -> chatterbox::store::Result<Vec<Message>> {
        only_exports()
    }
    fn message(&self, _: i64) -> chatterbox::store::Result<Option<Message>> {
        only_exports()
    }
    fn messages_by_id(&self, _: &[i64]) -> chatterbox::store::Result<Vec<Message>> {
        only_exports()
    }
    fn living_changes(
        &self,
        _: i64,
        _: i64,
        _: i64,
    ) -> chatterbox::store::Result<Vec<chatterbox::store::LivingChange>> {
        only_exports()
    }
    fn deletions(
        &self,
        _: Option<i64>,
        _: usize,
    ) -> chatterbox::store::Result<Vec<chatterbox::store::Deletion>> {
        only_exports()
    }
    fn file_report(
        &self,
        _: &chatterbox::store::NewReport<'_>,
    ) -> chatterbox::store::Result<Result<i64, chatterbox::store::ReportRefusal>> {
        only_exports()
    }
    fn reports(
        &self,
        _: &chatterbox::store::ReportFilter,
    ) -> chatterbox::store::Result<Vec<chatterbox::store::Report>> {
        only_exports()
    }
    fn decide_report(
        &self,
        _: &chatterbox::store::ReportDecision<'_>,
    ) -> chatterbox::store::Result<Option<Vec<i64>>> {
        only_exports()
    }
    fn room_messages_after(&self, _: i64, _: i64, _: usize) -> chatterbox::store::Result<Vec<Message>> {
        only_exports()
    }
    fn block_appeal(
        &self,
        _: i64,
    ) -> chatterbox::store::Result<Option<(i64, Option<chatterbox::store::Appeal>)>> {
        only_exports()
    }
    fn file_appeal(
        &self,
        _: i64,
        _: i64,
        _: &str,
        _: &str,
    ) -> chatterbox::store::Result<Result<chatterbox::store::Appeal, chatterbox::store::AppealRefusal>> {
        only_exports()
    }
    fn appeals(
        &self,
        _: bool,
        _: Option<i64>,
        _: usize,
    ) -> chatterbox::store::Result<Vec<chatterbox::store::Appeal>> {
        only_exports()
    }
    fn answer_appeal(
        &self,
        _: i64,
        _: &str,
        _: &str,
        _: &str,
        _: i64,
        _: &str,
    ) -> chatterbox::store::Result<Result<chatterbox::store::Appeal, chatterbox::store::AppealRefusal>> {
        only_exports()
    }
    fn take_appeal_answer(&self, _: i64) -> chatterbox::store::Result<Option<String>> {
        only_exports()
    }
    fn reactions(
        &self,
        _: &[i64],
    ) -> chatterbox::store::Result<Vec<(i64, Vec<chatterbox::store::Reaction>)>> {
        only_exports()
    }
    fn edit_message(
        &self,
        _: &chatterbox::store::EditMessage<'_>,
    ) -> chatterbox::store::Result<Result<(Message, i64), chatterbox::store::LivingRefusal>> {
        only_exports()
    }
    fn delete_message(
        &self,
        _: &chatterbox::store::DeleteMessage<'_>,
    ) -> chatterbox::store::Result<Result<(i64, i64), chatterbox::store::LivingRefusal>> {
        only_exports()
    }
    fn toggle_reaction(
        &self,
        _: &chatterbox::store::ToggleReaction<'_>,
    ) -> chatterbox::store::Result<Result<chatterbox::store::Toggled, chatterbox::store::LivingRefusal>> {
        only_exports()
    }
    fn purge_limits(&self, _: f64) -> chatterbox::store::Result<u64> {
        only_exports()
    }
}

impl Rows {
    /// Messages and users whose text cells come from `cells`, three per row: username, content,
    /// timestamp for a message; username, e-mail, creation time for a user.
    pub fn from_cells(cells: &[String]) -> Rows {
        let mut rows = Rows { messages: Vec::new(), users: Vec::new() };
        for (i, c) in (0i64..).zip(cells.chunks(3)) {
            let cell = |k: usize| c.get(k).cloned().unwrap_or_default();
            rows.messages.push(Message {
                id: i + 1,
                room_id: 1,
                sender_id: -i,
                username: cell(0),
                content: cell(1),
                timestamp: cell(2),
                mentions: Vec::new(),
                edited_at: None,
                reply_to: None,
            });
            rows.users.push(User {
                id: i + 1,
                username: cell(0),
                email: cell(1),
                is_admin: i % 2 == 0,
                is_blocked: i % 3 == 0,
                warning_count: i,
                created_at: cell(2),
                muted_until: None,
            });
        }
        rows
    }
}

/// What a text cell must read back as: the original, with a `'` in front exactly when it starts
/// like a formula and the export is not raw. Written out independently of `neutralise`.
pub fn expected_cell(raw: bool, cell: &str) -> String {
    let formula = ['=', '+', '-', '@', '\t', '\r'].iter().any(|&c| cell.starts_with(c));
    if formula && !raw {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn read_back(csv: &[u8], header: &[&str]) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_reader(csv);
    let got = reader.headers().expect("the header reads back").clone();
    assert_eq!(got.iter().collect::<Vec<_>>(), header);
    reader.records().map(|r| r.expect("every row reads back")).collect()
}

/// Every cell written by both exports reads back through a CSV reader exactly as
/// [`expected_cell`] says, and the untouched columns exactly as stored.
pub fn export_round_trip(rows: &Rows, raw: bool) {
    for m in &rows.messages {
        assert_eq!(neutralise(&m.content), expected_cell(false, &m.content));
    }

    let mut out = Vec::new();
    let n = write_messages(rows, &MessageFilter::default(), &mut out, raw).expect("message export");
    assert_eq!(n, rows.messages.len() as u64);
    let back = read_back(&out, &MESSAGE_HEADER);
    assert_eq!(back.len(), rows.messages.len(), "message rows in {:?}", String::from_utf8_lossy(&out));
    for (m, r) in rows.messages.iter().zip(&back) {
        let want = [
            m.id.to_string(),
            m.sender_id.to_string(),
            expected_cell(raw, &m.username),
            expected_cell(raw, &m.content),
            m.timestamp.clone(),
            "general".to_string(),
            m.edited_at.clone().unwrap_or_default(),
        ];
        assert_eq!(r.iter().collect::<Vec<_>>(), want, "message {m:?}");
    }

    let mut out = Vec::new();
    let n = write_users(rows, UserFilter::default(), &mut out, raw).expect("user export");
    assert_eq!(n, rows.users.len() as u64);
    let back = read_back(&out, &USER_HEADER);
    assert_eq!(back.len(), rows.users.len(), "user rows in {:?}", String::from_utf8_lossy(&out));
    for (u, r) in rows.users.iter().zip(&back) {
        let want = [
            u.id.to_string(),
            expected_cell(raw, &u.username),
            expected_cell(raw, &u.email),
            (if u.is_admin { "admin" } else { "user" }).to_string(),
            (if u.is_blocked { "yes" } else { "no" }).to_string(),
            u.warning_count.to_string(),
            u.created_at.clone(),
        ];
        assert_eq!(r.iter().collect::<Vec<_>>(), want, "user {u:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// JWT verification

/// Our keys, one token they signed, and a token for the same account signed with another secret.
pub struct Tokens {
    pub keys: TokenKeys,
    pub valid: String,
    pub foreign: String,
}

const TTL: i64 = 365 * 24 * 3600;

impl Tokens {
    pub fn new() -> Tokens {
        // A year, so that a long fuzzing session never sees its own token expire: expiry is
        // not what is under test.
        let keys = TokenKeys::new(b"fuzzing secret, 32 bytes long...", TTL);
        let valid = keys.issue(42, "alice", false).expect("signing works");
        let foreign = TokenKeys::new(b"some other secret", TTL).issue(42, "alice", false).expect("signing");
        Tokens { keys, valid, foreign }
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens::new()
    }
}

/// Only the exact token we signed verifies.
pub fn jwt_candidate(tokens: &Tokens, candidate: &str) {
    let verdict = tokens.keys.verify(candidate);
    if candidate == tokens.valid {
        let claims = verdict.expect("our own token verifies");
        assert_eq!((claims.user_id, claims.username.as_str(), claims.is_admin), (42, "alice", false));
    } else {
        assert!(verdict.is_err(), "a token we did not sign verified: {candidate:?}");
    }
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for k in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * k) & 63) as usize]));
        }
    }
    out
}

/// Headers an attacker would try: no signature, other algorithms, a differently written HS256.
const FORGED_HEADERS: &[&str] = &[
    r#"{"alg":"none","typ":"JWT"}"#,
    r#"{"alg":"None"}"#,
    r#"{"alg":"HS384","typ":"JWT"}"#,
    r#"{"alg":"HS512","typ":"JWT"}"#,
    r#"{"alg":"RS256","typ":"JWT"}"#,
    r#"{"typ":"JWT","alg":"HS256"}"#,
    r#"{"alg":"HS256"}"#,
];

/// Claims an attacker would like: admin rights, another account, a later expiry, sub and
/// user_id disagreeing.
fn forged_claims(which: u8) -> String {
    let (sub, user_id, admin, exp) = match which % 4 {
        0 => ("42", 42, true, 4_000_000_000i64),
        1 => ("1", 1, false, 4_000_000_000),
        2 => ("42", 42, false, 9_999_999_999),
        _ => ("1", 42, false, 4_000_000_000),
    };
    serde_json::json!({
        "sub": sub, "user_id": user_id, "username": "alice", "is_admin": admin, "iat": 0, "exp": exp,
    })
    .to_string()
}

fn replace_segment(token: &[u8], index: usize, with: &[u8]) -> Vec<u8> {
    let mut segments: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
    if let Some(s) = segments.get_mut(index) {
        *s = with;
    }
    segments.join(&b'.')
}

/// What edit kind 8 of [`mutate`] writes: swaps within the base64url alphabet (plus padding,
/// standard base64 and the separator) keep a token well-formed more often than random bytes.
pub const SUBSTITUTES: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.";

/// Applies the edits encoded in `ops` (four bytes each: kind, position high, position low,
/// value) to `token`. Byte edits find encoding and parsing slips; segment swaps and forged
/// headers and claims are the attacks that a byte-level fuzzer would never construct.
pub fn mutate(token: &str, foreign: &str, ops: &[u8]) -> Vec<u8> {
    let mut t = token.as_bytes().to_vec();
    for op in ops.chunks_exact(4) {
        let (kind, val) = (op[0], op[3]);
        let pos = usize::from(u16::from_be_bytes([op[1], op[2]]));
        let at = if t.is_empty() { 0 } else { pos % t.len() };
        match kind % 9 {
            0 if !t.is_empty() => t[at] ^= 1 << (val % 8),
            1 => t.insert(pos % (t.len() + 1), val),
            2 if !t.is_empty() => {
                t.remove(at);
            }
            3 if !t.is_empty() => t[at] = val,
            4 => t.truncate(at),
            5 => {
                let from = foreign.split('.').nth(usize::from(val % 3)).unwrap_or("");
                t = replace_segment(&t, usize::from(val % 3), from.as_bytes());
            }
            6 => {
                let header = FORGED_HEADERS[usize::from(val) % FORGED_HEADERS.len()];
                t = replace_segment(&t, 0, base64url(header.as_bytes()).as_bytes());
            }
            7 => t = replace_segment(&t, 1, base64url(forged_claims(val).as_bytes()).as_bytes()),
            8 if !t.is_empty() => t[at] = SUBSTITUTES[usize::from(val) % SUBSTITUTES.len()],
            _ => {}
        }
    }
    t
}

/// A mutated token verifies only if the mutations happened to give back the original.
pub fn jwt_mutated(tokens: &Tokens, ops: &[u8]) {
    let mutated = mutate(&tokens.valid, &tokens.foreign, ops);
    // verify takes text: a header that is not UTF-8 never reaches it.
    if let Ok(candidate) = std::str::from_utf8(&mutated) {
        jwt_candidate(tokens, candidate);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64url_matches_the_rfc_examples() {
        assert_eq!(super::base64url(b""), "");
        assert_eq!(super::base64url(b"f"), "Zg");
        assert_eq!(super::base64url(b"fo"), "Zm8");
        assert_eq!(super::base64url(b"foo"), "Zm9v");
        assert_eq!(super::base64url(b"foob"), "Zm9vYg");
        assert_eq!(super::base64url(&[0xfb, 0xff]), "-_8");
    }
}
