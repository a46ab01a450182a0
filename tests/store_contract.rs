//! The `Store` contract, checked with the same assertions on both backends: SQLite (a temporary
//! file) and PostgreSQL (a throwaway cluster started by `common::pg`, a database per test).
//!
//! Also the reason the log is numbered by a counter row: a test that shows ids from a PostgreSQL
//! sequence letting a reader skip a row, and one where concurrent writers through the store never
//! let a tailer-style reader skip a position.

mod common;

use std::{
    collections::BTreeSet,
    sync::{Arc, Barrier},
};

use chatterbox::store::{
    Action, AdminAction, Change, DeleteMessage, EditMessage, LimitSlot, LivingRefusal, LogEntry,
    MessageFilter, NewMessage, NewRoom, NewUser, Notify, PgStore, PresenceBeat, Reaction, Refusal, RoomKind,
    RoomRole, SearchQuery, SqliteStore, Store, StoreError, TermAdded, TermEdit, TermList, ToggleReaction,
    User, UserFilter, UserKeys, GENERAL_ROOM,
};

const TS: &str = "2026-11-26T10:00:00.000Z";

/// A store of each backend; the second is None when PostgreSQL is skipped.
fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqliteStore::open_and_migrate(&dir.path().join("t.db")).unwrap();
    (Arc::new(store), dir)
}

fn postgres() -> Option<Arc<dyn Store>> {
    let url = common::pg::database()?;
    let (store, applied) = PgStore::open_and_migrate(&url).unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/postgres")).unwrap().count();
    assert_eq!(applied.len(), files, "a new database gets every migration");
    Some(Arc::new(store))
}

/// Runs `check` against SQLite and PostgreSQL, as `<name>_sqlite` and `<name>_postgres` tests.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { let (s, _dir) = super::sqlite(); super::$name(&*s); })*
        }
        mod postgres {
            $(#[test] fn $name() { if let Some(s) = super::postgres() { super::$name(&*s); } })*
        }
    };
}

contract!(
    accounts,
    keys_and_credentials,
    moderation_and_audit,
    strikes_mutes_and_the_audit_log,
    messages_and_refusals,
    log_order_and_density,
    rooms_and_members,
    read_markers_and_dms,
    exports_stream,
    concurrent_writers_never_let_a_reader_skip,
    account_changes_take_log_positions,
    presence_between_instances,
    limits_read_modify_write,
    concurrent_limit_updates_take_turns,
    living_messages,
    reports_and_appeals,
    search,
    search_partly_indexed,
    search_indexed,
    room_moderation,
    term_lists,
);

fn user(store: &dyn Store, name: &str) -> User {
    store
        .create_user_keyed(
            &NewUser {
                username: name,
                email: &format!("{name}@example.com"),
                password_hash: "$2b$04$hash",
                is_admin: false,
                created_at: TS,
            },
            &UserKeys {
                name_key: &chatterbox::chat::accounts::name_key(name),
                email_key: &chatterbox::chat::accounts::email_key(&format!("{name}@example.com")),
            },
        )
        .unwrap()
}

fn msg(room_id: i64, sender: &User, text: &str) -> NewMessage {
    NewMessage {
        room_id,
        sender_id: sender.id,
        username: sender.username.clone(),
        content: text.to_string(),
        mention_candidates: chatterbox::chat::rooms::mention_candidates(text),
        reply_to: None,
    }
}

fn post(store: &dyn Store, room_id: i64, sender: &User, text: &str) -> i64 {
    store.insert_messages(&[msg(room_id, sender, text)], TS).unwrap().remove(0).unwrap().id
}

fn room(store: &dyn Store, name: &str, kind: RoomKind, members: &[i64]) -> i64 {
    let key = name.to_lowercase();
    store
        .create_room(&NewRoom {
            kind,
            name: Some(name),
            name_key: Some(&key),
            topic: Some("a topic"),
            created_by: members.first().copied(),
            members,
            timestamp: TS,
        })
        .unwrap()
        .id
}

fn accounts(store: &dyn Store) {
    store.ping().unwrap();
    let rev = store.account_revision().unwrap();
    let alice = user(store, "Alice");
    assert!(store.account_revision().unwrap() > rev, "a new account changes the revision");
    assert_eq!(alice.username, "Alice");
    assert!(!alice.is_admin && !alice.is_blocked);
    assert_eq!(alice.created_at, TS);

    // Case-insensitive names and addresses, whichever constraint catches them.
    let dup = |name: &str, email: &str| {
        store.create_user(&NewUser {
            username: name,
            email,
            password_hash: "x",
            is_admin: false,
            created_at: TS,
        })
    };
    assert!(matches!(dup("alice", "other@example.com"), Err(StoreError::Conflict("username"))));
    assert!(matches!(dup("other", "ALICE@example.com"), Err(StoreError::Conflict("email"))));
    let look_alike = store.create_user_keyed(
        &NewUser {
            username: "A1ice",
            email: "a1@example.com",
            password_hash: "x",
            is_admin: false,
            created_at: TS,
        },
        &UserKeys { name_key: &chatterbox::chat::accounts::name_key("Alice"), email_key: "a1@example.com" },
    );
    assert!(matches!(look_alike, Err(StoreError::Conflict("username"))), "{look_alike:?}");

    assert_eq!(store.user_by_username("ALICE").unwrap().unwrap().id, alice.id);
    assert_eq!(
        store.user_by_name_key(&chatterbox::chat::accounts::name_key("alice")).unwrap().unwrap().id,
        alice.id
    );
    assert_eq!(store.user_by_id(alice.id).unwrap().unwrap(), alice);
    assert!(store.user_by_id(999_999).unwrap().is_none());
    assert!(store.user_by_username("nobody").unwrap().is_none());

    // New accounts join `general`.
    assert!(store.is_member(GENERAL_ROOM, alice.id).unwrap());

    let bob = user(store, "bob");
    let (admin, changed) = store.set_admin(bob.id, true).unwrap();
    assert!(admin.is_admin && changed);
    assert!(!store.set_admin(bob.id, true).unwrap().1);
    assert!(matches!(store.set_admin(999_999, true), Err(StoreError::UserNotFound)));
    let admins = store.list_users(UserFilter { admins_only: true, ..UserFilter::default() }).unwrap();
    assert_eq!(admins.iter().map(|u| u.id).collect::<Vec<_>>(), vec![bob.id]);
    assert_eq!(store.list_users(UserFilter::default()).unwrap().len(), 2);

    assert_eq!(store.setting_or_insert("secret", "one").unwrap(), "one");
    assert_eq!(store.setting_or_insert("secret", "two").unwrap(), "one");

    assert!(store.replace_password_hash(alice.id, "$2b$04$hash", "$2b$12$new").unwrap());
    assert!(!store.replace_password_hash(alice.id, "$2b$04$hash", "$2b$12$other").unwrap());
    let mut prefixes = store.hash_prefix_counts().unwrap();
    prefixes.sort();
    assert_eq!(prefixes, vec![("$2b$04$".to_string(), 1), ("$2b$12$".to_string(), 1)]);

    for name in ["carol", "Carl", "car_l", "dave"] {
        user(store, name);
    }
    assert_eq!(store.usernames_starting("CAR", 10).unwrap(), vec!["car_l", "Carl", "carol"]);
    assert_eq!(store.usernames_starting("car_", 10).unwrap(), vec!["car_l"], "wildcards are literal");
    assert_eq!(store.usernames_starting("c", 2).unwrap().len(), 2);
}

fn keys_and_credentials(store: &dyn Store) {
    let plain = |name: &str, email: &str| {
        store
            .create_user(&NewUser {
                username: name,
                email,
                password_hash: "h",
                is_admin: false,
                created_at: TS,
            })
            .unwrap()
    };
    let a = plain("erin", "Erin@Example.com");
    let b = plain("erin2", "erin2@example.com");
    let without: Vec<i64> = store.users_without_keys(0, 10).unwrap().iter().map(|u| u.id).collect();
    assert_eq!(without, vec![a.id, b.id]);
    assert_eq!(store.users_without_keys(a.id, 10).unwrap().len(), 1);

    // Without a key yet, a login by e-mail matches ASCII case-insensitively.
    let found = store.credentials("ERIN@EXAMPLE.COM", "nothing").unwrap().unwrap();
    assert_eq!((found.user.id, found.password_hash.as_str()), (a.id, "h"));

    let set =
        store.set_user_keys(a.id, &UserKeys { name_key: "erin", email_key: "erin@example.com" }).unwrap();
    assert!(set.name && set.email);
    // A key another account holds is left unset, the other one stored.
    let set =
        store.set_user_keys(b.id, &UserKeys { name_key: "erin", email_key: "erin2@example.com" }).unwrap();
    assert!(!set.name && set.email);
    assert_eq!(store.users_without_keys(0, 10).unwrap().iter().map(|u| u.id).collect::<Vec<_>>(), vec![b.id]);

    assert_eq!(store.credentials("Erin", "x").unwrap().unwrap().user.id, a.id);
    assert_eq!(store.credentials("someone", "erin2@example.com").unwrap().unwrap().user.id, b.id);
    // The username wins over another account's e-mail key.
    assert_eq!(store.credentials("erin2", "erin@example.com").unwrap().unwrap().user.id, b.id);
    assert!(store.credentials("nobody", "nobody@example.com").unwrap().is_none());
}

fn moderation_and_audit(store: &dyn Store) {
    let u = user(store, "frank");
    let first = store.record_violation(u.id, "bad text", "bad", 3, TS).unwrap();
    assert_eq!((first.warnings, first.blocked), (1, false));
    store.record_violation(u.id, "bad 2", "bad", 3, TS).unwrap();
    let third = store.record_violation(u.id, "bad 3", "bad", 3, TS).unwrap();
    assert_eq!((third.warnings, third.blocked), (3, true));
    // Blocked already: nothing counted, nothing audited.
    let after = store.record_violation(u.id, "bad 4", "bad", 3, TS).unwrap();
    assert_eq!((after.warnings, after.blocked), (3, true));
    let log = store.violations(None, 10).unwrap();
    assert_eq!(
        log.iter().map(|v| v.action).collect::<Vec<_>>(),
        vec![Action::Block, Action::Warning, Action::Warning]
    );
    assert_eq!(log[0].text.as_deref(), Some("bad 3"));
    assert_eq!(log[0].actor, "moderation");
    assert_eq!(store.violations(Some(log[0].id), 10).unwrap().len(), 2);
    assert_eq!(store.latest_blocks().unwrap().iter().map(|v| v.id).collect::<Vec<_>>(), vec![log[0].id]);
    let counts = store.counts("2000-01-01T00:00:00.000Z").unwrap();
    assert_eq!((counts.users, counts.blocked), (1, 1));
    assert_eq!(
        store.list_users(UserFilter { blocked_only: true, ..UserFilter::default() }).unwrap().len(),
        1
    );
    assert!(store.usernames_starting("fr", 5).unwrap().is_empty(), "blocked accounts are not offered");

    let by = AdminAction { actor: "cli", reason: Some("ok now"), timestamp: TS };
    let (unblocked, changed) = store.set_blocked(u.id, false, &by).unwrap();
    assert!(changed && !unblocked.is_blocked && unblocked.warning_count == 0);
    assert!(!store.set_blocked(u.id, false, &by).unwrap().1, "nothing to change, nothing audited");
    let (blocked, _) =
        store.set_blocked(u.id, true, &AdminAction { actor: "root", reason: None, timestamp: TS }).unwrap();
    assert!(blocked.is_blocked);
    let log = store.violations(None, 2).unwrap();
    assert_eq!((log[0].action, log[0].actor.as_str()), (Action::Block, "root"));
    assert_eq!((log[1].action, log[1].reason.as_deref()), (Action::Unblock, Some("ok now")));
    assert_eq!(store.latest_blocks().unwrap()[0].id, log[0].id);
}

fn strikes_mutes_and_the_audit_log(store: &dyn Store) {
    use chatterbox::store::{AuditFilter, MuteAction, StrikeRecord, StrikeStep};
    let u = user(store, "mona");
    let at = |t: &'static str| StrikeRecord {
        user_id: u.id,
        text: Some("bad"),
        term: Some("bad"),
        reason: None,
        actor: "moderation",
        actor_id: None,
        room_id: Some(GENERAL_ROOM),
        message_id: None,
        counted_after: None,
        timestamp: t,
    };
    let mut seen = Vec::new();
    let mut ladder = |n: i64| {
        seen.push(n);
        if n == 2 {
            StrikeStep::Mute { until: "2026-11-26T11:00:00.000Z".into() }
        } else {
            StrikeStep::Warn
        }
    };
    let first = store.strike(&at("2026-11-26T10:00:00.000Z"), &mut ladder).unwrap();
    assert_eq!((first.strikes, first.step.clone(), first.recorded), (1, StrikeStep::Warn, true));
    let second = store.strike(&at("2026-11-26T10:01:00.000Z"), &mut ladder).unwrap();
    assert!(matches!(second.step, StrikeStep::Mute { .. }));
    assert_eq!(seen, [1, 2], "the ladder is asked with the count, this strike included");
    let muted = store.user_by_id(u.id).unwrap().unwrap();
    assert_eq!((muted.muted_until.as_deref(), muted.warning_count), (Some("2026-11-26T11:00:00.000Z"), 2));
    // A message of a muted sender is refused in the writing transaction; after the end it passes.
    let msg = NewMessage {
        room_id: GENERAL_ROOM,
        sender_id: u.id,
        username: "mona".into(),
        content: "hi".into(),
        mention_candidates: vec![],
        reply_to: None,
    };
    let refused = store.insert_messages(std::slice::from_ref(&msg), "2026-11-26T10:30:00.000Z").unwrap();
    assert_eq!(refused[0], Err(Refusal::Muted { until: "2026-11-26T11:00:00.000Z".into() }));
    assert!(store.insert_messages(std::slice::from_ref(&msg), "2026-11-26T11:00:00.001Z").unwrap()[0].is_ok());
    // Decay: strikes at or before `counted_after` do not count.
    assert_eq!(store.strikes(u.id, None).unwrap(), 2);
    assert_eq!(store.strikes(u.id, Some("2026-11-26T10:00:30.000Z")).unwrap(), 1);
    // Admin mutes and unmutes; lifting nothing changes nothing.
    let mute = |until: Option<&'static str>, ts: &'static str| MuteAction {
        user_id: u.id,
        until,
        actor: "root",
        actor_id: None,
        reason: Some("why"),
        timestamp: ts,
    };
    let (_, changed) = store.set_muted(&mute(None, "2026-11-26T12:00:00.000Z")).unwrap();
    assert!(!changed, "the mute had ended");
    let (m, changed) =
        store.set_muted(&mute(Some("2026-11-26T13:00:00.000Z"), "2026-11-26T12:00:00.000Z")).unwrap();
    assert!(changed && m.muted_until.as_deref() == Some("2026-11-26T13:00:00.000Z"));
    let (m, changed) = store.set_muted(&mute(None, "2026-11-26T12:30:00.000Z")).unwrap();
    assert!(changed && m.muted_until.is_none());
    // An unblock starts the ladder afresh.
    let by = AdminAction { actor: "root", reason: None, timestamp: "2026-11-26T14:00:00.000Z" };
    store.set_blocked(u.id, true, &by).unwrap();
    let by = AdminAction { timestamp: "2026-11-26T14:01:00.000Z", ..by };
    store.set_blocked(u.id, false, &by).unwrap();
    assert_eq!(store.strikes(u.id, None).unwrap(), 0);
    // The audit log: every act, filtered.
    let all =
        store.audit_log(&AuditFilter { limit: 50, user_id: Some(u.id), ..AuditFilter::default() }).unwrap();
    let got: Vec<(Action, bool)> = all.iter().map(|v| (v.action, v.strike)).collect();
    assert_eq!(
        got,
        [
            (Action::Unblock, false),
            (Action::Block, false),
            (Action::Unmute, false),
            (Action::Mute, false),
            (Action::Mute, true),
            (Action::Warning, true)
        ]
    );
    assert_eq!(all[4].until.as_deref(), Some("2026-11-26T11:00:00.000Z"));
    assert_eq!(all[4].room_id, Some(GENERAL_ROOM));
    let mutes = store
        .audit_log(&AuditFilter { limit: 50, action: Some(Action::Mute), ..AuditFilter::default() })
        .unwrap();
    assert_eq!(mutes.len(), 2);
}

fn messages_and_refusals(store: &dyn Store) {
    let a = user(store, "gina");
    let b = user(store, "hank");
    let c = user(store, "ivan");
    let private = room(store, "Secret", RoomKind::Private, &[a.id, b.id]);
    let archived = room(store, "Old", RoomKind::Public, &[a.id]);
    assert!(store.set_archived(archived, true, TS).unwrap());
    let batch = vec![
        msg(GENERAL_ROOM, &a, "hello @HANK and @nobody"),
        msg(private, &c, "let me in"),
        msg(private, &b, "hi @gina @ivan"),
        msg(archived, &a, "too late"),
        msg(999, &a, "no such room"),
    ];
    let out = store.insert_messages(&batch, TS).unwrap();
    assert_eq!(out[1], Err(Refusal::NotMember));
    assert_eq!(out[3], Err(Refusal::Archived));
    assert_eq!(out[4], Err(Refusal::NotMember));
    let (m0, m2) = (out[0].clone().unwrap(), out[2].clone().unwrap());
    assert_eq!(m2.id, m0.id + 1, "accepted messages take consecutive positions");
    assert_eq!(m0.mentions, vec!["hank"], "a member is mentioned; a stranger is not");
    assert_eq!(m2.mentions, vec!["gina"], "ivan is not in the room");
    assert_eq!((m0.username.as_str(), m0.timestamp.as_str(), m0.room_id), ("gina", TS, GENERAL_ROOM));

    let history = store.messages_before(GENERAL_ROOM, None, 10).unwrap();
    assert_eq!(history, vec![m0.clone()]);
    let more: Vec<i64> = (0..5).map(|i| post(store, GENERAL_ROOM, &b, &format!("m{i}"))).collect();
    let page = store.messages_before(GENERAL_ROOM, Some(more[4]), 2).unwrap();
    assert_eq!(page.iter().map(|m| m.id).collect::<Vec<_>>(), vec![more[2], more[3]], "oldest first");

    // Resume: only rooms the user belongs to now.
    let seen_by_c: Vec<i64> =
        store.messages_after(c.id, 0, i64::MAX, 100).unwrap().iter().map(|m| m.id).collect();
    assert_eq!(seen_by_c, [vec![m0.id], more.clone()].concat());
    let seen_by_b: Vec<i64> =
        store.messages_after(b.id, m0.id, more[4], 100).unwrap().iter().map(|m| m.id).collect();
    assert_eq!(seen_by_b, [vec![m2.id], more[..4].to_vec()].concat());
    assert_eq!(store.messages_after(b.id, 0, i64::MAX, 2).unwrap().len(), 2);

    let view = store.room_view(a.id, private).unwrap().unwrap();
    assert_eq!((view.unread, view.mentions, view.last_message_id), (1, 1, m2.id));
    assert_eq!(store.counts("2000-01-01T00:00:00.000Z").unwrap().messages_since, 7);
    assert_eq!(store.counts("2030-01-01T00:00:00.000Z").unwrap().messages_since, 0);
}

fn log_order_and_density(store: &dyn Store) {
    let start = store.log_next().unwrap();
    let a = user(store, "jack");
    let b = user(store, "kate");
    let r = room(store, "Plans", RoomKind::Public, &[a.id]);
    assert!(store.add_member(r, b.id, TS).unwrap());
    let m1 = post(store, r, &a, "one");
    let m2 = post(store, GENERAL_ROOM, &b, "two");
    assert_eq!(store.mark_read(r, b.id, m1, TS).unwrap(), m1);
    assert!(store.remove_member(r, b.id, TS).unwrap());
    assert!(store.set_archived(r, true, TS).unwrap());
    let next = store.log_next().unwrap();
    let log = store.log_after(start - 1, 100).unwrap();
    let positions: Vec<i64> = log.iter().map(LogEntry::position).collect();
    assert_eq!(positions, (start..next).collect::<Vec<_>>(), "dense and in order");
    let kinds: Vec<String> = log
        .iter()
        .map(|e| match e {
            LogEntry::Message(m) => format!("message {}", m.id),
            LogEntry::Change { change, .. } => format!("{change:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            format!("{:?}", Change::Member { room_id: r, user_id: a.id }),
            format!("{:?}", Change::Member { room_id: r, user_id: b.id }),
            format!("message {m1}"),
            format!("message {m2}"),
            format!("{:?}", Change::Read { room_id: r, user_id: b.id, message_id: m1 }),
            format!("{:?}", Change::Unmember { room_id: r, user_id: b.id }),
            format!("{:?}", Change::Room { room_id: r }),
        ]
    );
    assert_eq!(store.log_after(start - 1, 3).unwrap(), log[..3].to_vec());
    assert_eq!(store.log_after(start + 2, 2).unwrap(), log[3..5].to_vec());
    assert!(store.log_after(next - 1, 10).unwrap().is_empty());

    let snap = store.memberships(a.id).unwrap();
    assert_eq!(snap.next, next);
    assert_eq!(snap.rooms, vec![GENERAL_ROOM, r]);
    assert_eq!(store.memberships(b.id).unwrap().rooms, vec![GENERAL_ROOM]);
}

fn rooms_and_members(store: &dyn Store) {
    let a = user(store, "liam");
    let b = user(store, "Mia");
    let c = user(store, "noah");
    let public = room(store, "Zeta", RoomKind::Public, &[a.id]);
    let private = room(store, "alpha", RoomKind::Private, &[a.id, b.id]);
    let dup = store.create_room(&NewRoom {
        kind: RoomKind::Public,
        name: Some("ZETA"),
        name_key: Some("zeta"),
        topic: None,
        created_by: Some(b.id),
        members: &[b.id],
        timestamp: TS,
    });
    assert!(matches!(dup, Err(StoreError::Conflict("name"))), "{dup:?}");

    let z = store.room(public).unwrap().unwrap();
    assert_eq!(
        (z.kind, z.name.as_deref(), z.topic.as_deref()),
        (RoomKind::Public, Some("Zeta"), Some("a topic"))
    );
    assert_eq!((z.created_by.as_deref(), z.members, z.archived), (Some("liam"), 1, false));
    assert_eq!(
        store.rooms_by_name_key("zeta").unwrap().iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![public]
    );
    assert!(store.room(999).unwrap().is_none());

    let dir = store.directory(c.id).unwrap();
    assert_eq!(
        dir.iter().map(|(r, joined)| (r.name.clone().unwrap(), *joined)).collect::<Vec<_>>(),
        vec![("general".to_string(), true), ("Zeta".to_string(), false)],
        "public rooms only, by name"
    );
    assert!(store.add_member(public, c.id, TS).unwrap());
    assert!(!store.add_member(public, c.id, TS).unwrap(), "already a member");
    assert!(matches!(store.add_member(999, c.id, TS), Err(StoreError::RoomNotFound)));
    let names: Vec<String> = store.room_members(private).unwrap().into_iter().map(|m| m.username).collect();
    assert_eq!(names, vec!["liam", "Mia"], "case-insensitive order");
    assert_eq!(store.room_members(public).unwrap()[0].joined_at, TS);

    // A non-member's view of a private room.
    let outside = store.room_view(c.id, private).unwrap().unwrap();
    assert!(!outside.joined && outside.unread == 0);
    post(store, public, &a, "later");
    post(store, private, &b, "hello @liam");
    let views = store.room_views(a.id).unwrap();
    assert_eq!(
        views.iter().map(|v| v.room.id).collect::<Vec<_>>(),
        vec![private, public, GENERAL_ROOM],
        "latest first"
    );
    assert_eq!((views[0].unread, views[0].mentions, views[0].notify), (1, 1, Notify::All));
    assert!(store.set_notify(private, a.id, Notify::Mentions).unwrap());
    assert!(!store.set_notify(private, c.id, Notify::None).unwrap(), "not a member");
    assert_eq!(store.room_view(a.id, private).unwrap().unwrap().notify, Notify::Mentions);

    assert!(store.remove_member(private, b.id, TS).unwrap());
    assert!(!store.remove_member(private, b.id, TS).unwrap());
    assert!(!store.is_member(private, b.id).unwrap());

    assert!(store.set_archived(public, true, TS).unwrap());
    assert!(!store.set_archived(public, true, TS).unwrap());
    assert!(store.room(public).unwrap().unwrap().archived);

    let stats = store.room_stats().unwrap();
    assert_eq!(
        stats.iter().map(|s| (s.room.name.clone().unwrap(), s.messages)).collect::<Vec<_>>(),
        vec![("alpha".to_string(), 1), ("general".to_string(), 0), ("Zeta".to_string(), 1)],
        "by name key (byte order)"
    );
    assert_eq!(stats[0].last_activity.as_deref(), Some(TS));
    assert_eq!(stats[1].last_activity, None);

    // Private rooms may share a name (with each other and a public room): public first, then by id.
    let shadow = room(store, "zeta", RoomKind::Private, &[b.id]);
    let shadow2 = room(store, "Zeta", RoomKind::Private, &[c.id]);
    let named: Vec<i64> = store.rooms_by_name_key("zeta").unwrap().iter().map(|r| r.id).collect();
    assert_eq!(named, vec![public, shadow, shadow2]);

    // Auto-join: new accounts join these rooms too (archived ones excepted).
    let open = room(store, "Lobby", RoomKind::Public, &[a.id]);
    store.set_auto_join(&[open]).unwrap();
    store.set_auto_join(&[open]).unwrap();
    let d = user(store, "olga");
    assert_eq!(store.memberships(d.id).unwrap().rooms, vec![GENERAL_ROOM, open]);
    store.set_auto_join(&[]).unwrap();
    let e = user(store, "pete");
    assert_eq!(store.memberships(e.id).unwrap().rooms, vec![GENERAL_ROOM]);
}

fn read_markers_and_dms(store: &dyn Store) {
    let a = user(store, "quinn");
    let b = user(store, "Rosa");
    let c = user(store, "sam");
    let mut people = vec![a.id, b.id, c.id];
    people.sort();
    let (dm, created) = store.open_dm(&people, a.id, TS).unwrap();
    assert!(created && dm.kind == RoomKind::Dm && dm.name.is_none() && dm.members == 3);
    let (again, created) = store.open_dm(&people, b.id, TS).unwrap();
    assert!(!created && again.id == dm.id, "one DM per set of people");
    let view = store.room_view(a.id, dm.id).unwrap().unwrap();
    assert_eq!(view.people, vec!["Rosa", "sam"]);
    let labels = store.room_labels().unwrap();
    assert_eq!(labels[0], (GENERAL_ROOM, "general".to_string()));
    assert_eq!(labels.iter().find(|(id, _)| *id == dm.id).unwrap().1, "dm:quinn+Rosa+sam");

    // Hiding a DM: gone from the list until the next message; opening it again shows it.
    assert!(store.hide_room(dm.id, a.id, TS).unwrap());
    assert!(!store.hide_room(dm.id, a.id, TS).unwrap());
    assert!(store.room_views(a.id).unwrap().iter().all(|v| v.room.id != dm.id));
    assert!(store.room_view(a.id, dm.id).unwrap().unwrap().hidden);
    let m1 = post(store, dm.id, &b, "one");
    assert!(store.room_views(a.id).unwrap().iter().any(|v| v.room.id == dm.id));
    assert!(store.hide_room(dm.id, a.id, TS).unwrap());
    store.open_dm(&people, a.id, TS).unwrap();
    assert!(!store.room_view(a.id, dm.id).unwrap().unwrap().hidden);

    // Read markers move forward only, clamped to the room's newest message.
    let m2 = post(store, dm.id, &c, "two");
    assert_eq!(store.mark_read(dm.id, a.id, m1, TS).unwrap(), m1);
    assert_eq!(store.room_view(a.id, dm.id).unwrap().unwrap().unread, 1);
    assert_eq!(store.mark_read(dm.id, a.id, 0, TS).unwrap(), m1, "never backwards");
    assert_eq!(store.mark_read(dm.id, a.id, i64::MAX, TS).unwrap(), m2, "clamped");
    assert_eq!(store.room_view(a.id, dm.id).unwrap().unwrap().unread, 0);
    assert!(matches!(store.mark_read(dm.id, 999_999, 1, TS), Err(StoreError::RoomNotFound)));
    // A new member starts having read what is there.
    let d = user(store, "tara");
    let r = room(store, "Read", RoomKind::Public, &[a.id]);
    let m3 = post(store, r, &a, "before tara");
    store.add_member(r, d.id, TS).unwrap();
    assert_eq!(store.room_view(d.id, r).unwrap().unwrap().last_read_id, m3);
}

fn exports_stream(store: &dyn Store) {
    let a = user(store, "uma");
    let private = room(store, "Hidden", RoomKind::Private, &[a.id]);
    // More than one fetch of a streamed read.
    let batch: Vec<NewMessage> = (0..2500).map(|i| msg(GENERAL_ROOM, &a, &format!("m{i}"))).collect();
    store.insert_messages(&batch, "2026-01-01T00:00:00.000Z").unwrap();
    store.insert_messages(&[msg(private, &a, "secret")], "2026-02-01T00:00:00.000Z").unwrap();
    store.insert_messages(&[msg(GENERAL_ROOM, &a, "last")], "2026-03-01T00:00:00.000Z").unwrap();

    let collect = |filter: &MessageFilter| {
        let mut ids = Vec::new();
        store
            .for_each_message(filter, &mut |m| {
                ids.push(m.id);
                Ok(())
            })
            .unwrap();
        ids
    };
    let all = collect(&MessageFilter::default());
    assert_eq!(all.len(), 2502);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "oldest first");
    assert_eq!(collect(&MessageFilter { public_only: true, ..MessageFilter::default() }).len(), 2501);
    assert_eq!(collect(&MessageFilter { rooms: Some(vec![private]), ..MessageFilter::default() }).len(), 1);
    let feb = MessageFilter {
        since: Some("2026-02-01T00:00:00.000Z".into()),
        until: Some("2026-03-01T00:00:00.000Z".into()),
        ..MessageFilter::default()
    };
    assert_eq!(collect(&feb).len(), 1);
    assert_eq!(collect(&MessageFilter { after_id: Some(all[2499]), ..MessageFilter::default() }).len(), 2);

    // The callback's error stops the walk and comes back.
    let mut seen = 0;
    let err = store
        .for_each_message(&MessageFilter::default(), &mut |_| {
            seen += 1;
            if seen == 1500 {
                return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed"));
            }
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Io(ref e) if e.kind() == std::io::ErrorKind::BrokenPipe), "{err:?}");
    assert_eq!(seen, 1500);

    let mut names = Vec::new();
    store
        .for_each_user(UserFilter::default(), &mut |u| {
            names.push(u.username.clone());
            Ok(())
        })
        .unwrap();
    assert_eq!(names, vec!["uma"]);
}

/// Writers on several threads post while a reader tails the log the way `chat::log` does
/// (`log_after` the last position it saw): it must see every position exactly once, in order.
fn concurrent_writers_never_let_a_reader_skip(store: &dyn Store) {
    const WRITERS: usize = 6;
    const PER_WRITER: usize = 60;
    let senders: Vec<User> = (0..WRITERS).map(|i| user(store, &format!("writer{i}"))).collect();
    let extra = room(store, "Busy", RoomKind::Public, &senders.iter().map(|u| u.id).collect::<Vec<_>>());
    let start = store.log_next().unwrap() - 1;
    let barrier = Barrier::new(WRITERS + 1);
    let (sent, read) = std::thread::scope(|s| {
        let writers: Vec<_> = senders
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let mut ids = Vec::new();
                    for n in 0..PER_WRITER {
                        // Messages, batches and membership changes all take positions.
                        let room_id = if n % 2 == 0 { GENERAL_ROOM } else { extra };
                        let batch = vec![msg(room_id, u, "x"); 1 + n % 3];
                        for out in store.insert_messages(&batch, TS).unwrap() {
                            ids.push(out.unwrap().id);
                        }
                        if n % 10 == 0 && i == 0 {
                            store.mark_read(extra, u.id, i64::MAX, TS).unwrap();
                        }
                    }
                    ids
                })
            })
            .collect();
        let reader = s.spawn(|| {
            barrier.wait();
            let total = WRITERS * (0..PER_WRITER).map(|n| 1 + n % 3).sum::<usize>();
            let mut cursor = start;
            let mut messages = Vec::new();
            while messages.len() < total {
                for entry in store.log_after(cursor, 50).unwrap() {
                    assert_eq!(entry.position(), cursor + 1, "the reader skipped a position");
                    cursor = entry.position();
                    if let LogEntry::Message(m) = entry {
                        messages.push(m.id);
                    }
                }
            }
            messages
        });
        let sent: Vec<i64> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        (sent, reader.join().unwrap())
    });
    let sent: BTreeSet<i64> = sent.into_iter().collect();
    assert_eq!(read.len(), sent.len(), "every message read exactly once");
    assert_eq!(read.into_iter().collect::<BTreeSet<_>>(), sent);
}

/// The slots of `keys` at `now`, as `update_limits` reads them (and leaves them).
fn read_limits(store: &dyn Store, keys: &[&str], now: f64) -> Vec<Option<LimitSlot>> {
    let mut seen = Vec::new();
    store.update_limits(keys, now, &mut |slots| seen = slots.to_vec()).unwrap();
    seen
}

fn limits_read_modify_write(store: &dyn Store) {
    let slot = |tokens: f64, mark: Option<f64>, expires: f64| LimitSlot { tokens, at: 100.0, mark, expires };
    assert_eq!(read_limits(store, &["a", "b"], 100.0), vec![None, None], "missing slots read as None");
    store
        .update_limits(&["b", "a"], 100.0, &mut |slots| {
            slots[0] = Some(slot(2.5, Some(99.5), 200.0));
            slots[1] = Some(slot(1.0, None, 150.0));
        })
        .unwrap();
    // In the order of the keys asked for, whatever the order they were stored in.
    assert_eq!(
        read_limits(store, &["a", "b", "c"], 120.0),
        vec![Some(slot(1.0, None, 150.0)), Some(slot(2.5, Some(99.5), 200.0)), None]
    );
    // `None` deletes.
    store.update_limits(&["b"], 120.0, &mut |slots| slots[0] = None).unwrap();
    assert_eq!(read_limits(store, &["a", "b"], 120.0), vec![Some(slot(1.0, None, 150.0)), None]);
    // The purge deletes what has expired, and only that.
    store.update_limits(&["c"], 120.0, &mut |slots| slots[0] = Some(slot(0.0, None, 500.0))).unwrap();
    assert_eq!(store.purge_limits(160.0).unwrap(), 1, "only `a` has expired");
    assert_eq!(read_limits(store, &["a", "c"], 140.0), vec![None, Some(slot(0.0, None, 500.0))]);
    // A slot expired at `now` reads as missing.
    store.update_limits(&["d"], 120.0, &mut |slots| slots[0] = Some(slot(1.0, None, 150.0))).unwrap();
    assert_eq!(read_limits(store, &["d"], 150.0), vec![Some(slot(1.0, None, 150.0))]);
    assert_eq!(read_limits(store, &["d"], 150.5), vec![None]);
    // Keys of any text, also the long ones the domain cuts to 256 bytes.
    let long = "é".repeat(128);
    store
        .update_limits(&[&long, "pair:10.0.0.1 o'brien; --"], 120.0, &mut |slots| {
            for s in slots.iter_mut() {
                *s = Some(slot(3.0, None, 500.0));
            }
        })
        .unwrap();
    assert_eq!(read_limits(store, &[&long], 120.0), vec![Some(slot(3.0, None, 500.0))]);
    assert_eq!(store.purge_limits(1_000.0).unwrap(), 3);
}

/// Threads (like instances) each take a token of one shared slot, and of one of their own, many
/// times over: no update is lost, so the count comes out exact.
fn concurrent_limit_updates_take_turns(store: &dyn Store) {
    const THREADS: usize = 6;
    const EACH: usize = 40;
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                let own = format!("own{t}");
                for _ in 0..EACH {
                    // Asked for first by some threads and last by others: no deadlock either way.
                    let keys: [&str; 2] = if t % 2 == 0 { ["own", &own] } else { [&own, "own"] };
                    store
                        .update_limits(&keys, 100.0, &mut |slots| {
                            for slot in slots.iter_mut() {
                                let n = slot.map_or(0.0, |s| s.tokens);
                                *slot =
                                    Some(LimitSlot { tokens: n + 1.0, at: 100.0, mark: None, expires: 1e9 });
                            }
                        })
                        .unwrap();
                }
            });
        }
    });
    let counted = read_limits(store, &["own", "own0", "own5"], 100.0);
    let tokens: Vec<f64> = counted.iter().map(|s| s.unwrap().tokens).collect();
    assert_eq!(tokens, vec![(THREADS * EACH) as f64, EACH as f64, EACH as f64]);
}

/// The trap: ids from a sequence are handed out in one order and committed in another. A reader
/// resuming "after the last id I saw" then skips the transaction that committed late.
#[test]
fn ids_from_a_sequence_let_a_reader_skip_a_row() {
    let Some(url) = common::pg::database() else { return };
    let connect = || ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let (mut a, mut b, mut reader) = (connect(), connect(), connect());
    reader.batch_execute("CREATE TABLE naive (id BIGSERIAL PRIMARY KEY, text TEXT NOT NULL)").unwrap();
    let mut tx_a = a.transaction().unwrap();
    let id_a: i64 = tx_a.query_one("INSERT INTO naive (text) VALUES ('a') RETURNING id", &[]).unwrap().get(0);
    let mut tx_b = b.transaction().unwrap();
    let id_b: i64 = tx_b.query_one("INSERT INTO naive (text) VALUES ('b') RETURNING id", &[]).unwrap().get(0);
    assert!(id_a < id_b);
    tx_b.commit().unwrap();
    let read = |reader: &mut ::postgres::Client, after: i64| -> Vec<i64> {
        reader
            .query("SELECT id FROM naive WHERE id > $1 ORDER BY id", &[&after])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let first = read(&mut reader, 0);
    assert_eq!(first, vec![id_b], "the later id is visible first");
    let cursor = *first.last().unwrap();
    tx_a.commit().unwrap();
    assert!(read(&mut reader, cursor).is_empty(), "the reader moved past {id_a} and never sees it");
    assert_eq!(read(&mut reader, 0), vec![id_a, id_b], "yet the row is there");
}

/// The same race through the store: a transaction holding the counter keeps every later writer
/// waiting, so nothing with a higher position becomes visible before it commits.
#[test]
fn a_slow_log_writer_holds_back_later_positions() {
    let Some(url) = common::pg::database() else { return };
    let (store, _) = PgStore::open_and_migrate(&url).unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let a = user(&*store, "slow");
    let before = store.log_next().unwrap();
    // A writer that took position `before` and has not committed yet, as `insert_messages` does.
    let mut raw = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let mut tx = raw.transaction().unwrap();
    let pos: i64 = tx
        .query_one("UPDATE log_counter SET next = next + 1 WHERE id = 1 RETURNING next - 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(pos, before);
    tx.execute(
        "INSERT INTO messages (id, room_id, sender_id, content, timestamp) VALUES ($1, 1, $2, 'slow', $3)",
        &[&pos, &a.id, &TS],
    )
    .unwrap();
    let fast = {
        let store = Arc::clone(&store);
        let a = a.clone();
        std::thread::spawn(move || post(&*store, GENERAL_ROOM, &a, "fast"))
    };
    // Whatever the fast writer has done meanwhile, nothing after the slow one is readable yet.
    for _ in 0..20 {
        assert!(store.log_after(before - 1, 10).unwrap().is_empty());
        std::thread::yield_now();
    }
    tx.commit().unwrap();
    let fast_id = fast.join().unwrap();
    assert_eq!(fast_id, pos + 1, "the later writer numbers after the earlier one commits");
    let ids: Vec<i64> = store.log_after(before - 1, 10).unwrap().iter().map(LogEntry::position).collect();
    assert_eq!(ids, vec![pos, fast_id]);
}

/// Migrations: applied once, under a lock when instances start together; `migrate --status`
/// lists them; a database written by a newer chatterbox is refused.
#[test]
fn postgres_migrations_race_and_refuse_newer() {
    let Some(url) = common::pg::database() else { return };
    let applied: Vec<usize> = std::thread::scope(|s| {
        let starts: Vec<_> =
            (0..4).map(|_| s.spawn(|| PgStore::open_and_migrate(&url).unwrap().1.len())).collect();
        starts.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/postgres")).unwrap().count();
    assert_eq!(applied.iter().sum::<usize>(), files, "each migration applied by exactly one: {applied:?}");
    let status = PgStore::migration_status(&url).unwrap();
    assert_eq!(
        status.iter().map(|m| m.label()).collect::<Vec<_>>(),
        [
            "V1__initial",
            "V2__account_keys",
            "V3__conversations",
            "V4__instances",
            "V5__shared_limits",
            "V6__living_messages",
            "V7__search",
            "V8__moderation"
        ]
    );
    assert!(status.iter().all(|m| m.applied_on.is_some() && m.known));
    PgStore::open_existing(&url).unwrap();

    let mut raw = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    raw.execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (99, 'future', '2030-01-01T00:00:00Z', '1')",
        &[],
    )
    .unwrap();
    for err in [PgStore::open_existing(&url).unwrap_err(), PgStore::open_and_migrate(&url).unwrap_err()] {
        assert!(err.to_string().contains("newer chatterbox"), "{err}");
    }
}

/// A server that cannot be reached is `Unavailable` (503 in HTTP), not a generic failure.
#[test]
fn an_unreachable_postgres_is_unavailable() {
    let err = PgStore::open_existing("postgres://nobody@127.0.0.1:1/nothing?connect_timeout=2").unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

fn account_changes_take_log_positions(store: &dyn Store) {
    let u = user(store, "gina");
    let changes_after = |after: i64| -> Vec<Change> {
        store
            .log_after(after, 100)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                LogEntry::Change { change, .. } => Some(change),
                LogEntry::Message(_) => None,
            })
            .collect()
    };
    let start = store.log_next().unwrap() - 1;
    store.set_admin(u.id, true).unwrap();
    store.set_admin(u.id, true).unwrap(); // no change, no entry
    let by = AdminAction { actor: "root", reason: None, timestamp: TS };
    store.set_blocked(u.id, true, &by).unwrap();
    store.set_blocked(u.id, false, &by).unwrap();
    let after_admin = store.log_next().unwrap() - 1;
    // Moderation's blocking violation is an entry too; its warnings are not.
    store.record_violation(u.id, "bad", "bad", 2, TS).unwrap();
    store.record_violation(u.id, "bad", "bad", 2, TS).unwrap();
    let id = u.id;
    assert_eq!(
        changes_after(start),
        [
            Change::Account { user_id: id, blocked: false, admin: true },
            Change::Account { user_id: id, blocked: true, admin: true },
            Change::Account { user_id: id, blocked: false, admin: true },
            Change::Account { user_id: id, blocked: true, admin: true },
        ]
    );
    assert_eq!(changes_after(after_admin), [Change::Account { user_id: id, blocked: true, admin: true }]);
    // A socket's snapshot carries the flags as of its position, so a block committed between a
    // sign-in check and the snapshot is not missed.
    let snapshot = store.memberships(id).unwrap();
    assert!(snapshot.blocked && snapshot.admin);
    assert_eq!(snapshot.next, store.log_next().unwrap());
}

fn presence_between_instances(store: &dyn Store) {
    let (h, i) = (user(store, "hana"), user(store, "ivan"));
    let beat = |instance: &str, all: &[(i64, i64)], changed: &[(i64, i64)], left: &[i64]| {
        store
            .presence_beat(&PresenceBeat {
                instance,
                started_at: TS,
                all,
                full: false,
                changed,
                left,
                ttl_secs: 20,
            })
            .unwrap()
    };
    let elsewhere = |instance: &str| {
        let mut seen: Vec<(i64, i64)> = store
            .presence_elsewhere(instance, 20)
            .unwrap()
            .into_iter()
            .map(|e| (e.user_id, e.sockets))
            .collect();
        seen.sort_unstable();
        seen
    };
    assert!(beat("a", &[(h.id, 1)], &[], &[]), "a first beat registers the instance, with everyone");
    assert!(!beat("a", &[(h.id, 1)], &[], &[]));
    assert_eq!(elsewhere("b"), [(h.id, 1)]);
    assert_eq!(elsewhere("a"), [], "an instance does not hear of its own users");
    assert_eq!(store.presence_elsewhere("b", 20).unwrap()[0].username, "hana");
    beat("b", &[(h.id, 2), (i.id, 1)], &[], &[]);
    assert_eq!(elsewhere("a"), [(h.id, 2), (i.id, 1)]);
    assert_eq!(
        elsewhere("c"),
        [(h.id, 3), (i.id, 1)],
        "a user on two instances is listed once, sockets summed"
    );
    beat("b", &[], &[(h.id, 0)], &[]);
    assert_eq!(elsewhere("c"), [(h.id, 1), (i.id, 1)], "a count changes in place");
    beat("a", &[], &[], &[h.id]);
    beat("b", &[], &[], &[h.id]);
    assert_eq!(elsewhere("c"), [(i.id, 1)]);
    beat("a", &[], &[(h.id, 1)], &[]);
    store.presence_leave("b").unwrap();
    assert_eq!(elsewhere("c"), [(h.id, 1)], "a goodbye takes the instance's users with it");
    // Registered again after the others gave it up: its users are written whole.
    store.presence_leave("a").unwrap();
    assert!(beat("a", &[(h.id, 1), (i.id, 2)], &[], &[]));
    assert_eq!(elsewhere("c"), [(h.id, 1), (i.id, 2)]);
    // After a beat that failed, the next one replaces the instance's rows: hana left meanwhile.
    let full = PresenceBeat {
        instance: "a",
        started_at: TS,
        all: &[(i.id, 1)],
        full: true,
        changed: &[],
        left: &[],
        ttl_secs: 20,
    };
    assert!(!store.presence_beat(&full).unwrap());
    assert_eq!(elsewhere("c"), [(i.id, 1)]);
}

fn living_messages(store: &dyn Store) {
    let (a, b, c) = (user(store, "ann"), user(store, "bea"), user(store, "cal"));
    let private = room(store, "Inner", RoomKind::Private, &[a.id, b.id]);
    let first = post(store, private, &a, "helo @bea");
    let start = store.log_next().unwrap() - 1;
    let later = "2030-01-01T00:00:00.000Z";
    let edit = |id: i64, editor: &User, text: &str, not_before: &str| {
        let candidates = chatterbox::chat::rooms::mention_candidates(text);
        store
            .edit_message(&EditMessage {
                id,
                editor_id: editor.id,
                content: text,
                mention_candidates: &candidates,
                timestamp: later,
                not_before,
            })
            .unwrap()
    };
    // Only one's own message, in a room one is in, within the window.
    assert_eq!(edit(first, &b, "x", TS).unwrap_err(), LivingRefusal::NotYours);
    assert_eq!(edit(first, &c, "x", TS).unwrap_err(), LivingRefusal::NotFound, "a non-member learns nothing");
    assert_eq!(edit(first, &a, "x", later).unwrap_err(), LivingRefusal::TooOld);
    let (edited, seq) = edit(first, &a, "hello @ann", TS).unwrap();
    assert_eq!((edited.content.as_str(), edited.edited_at.as_deref()), ("hello @ann", Some(later)));
    assert_eq!(edited.mentions, ["ann"]);
    assert_eq!(store.message(first).unwrap().unwrap(), edited);

    // Replies answer a message of the same room.
    let mut reply = msg(private, &b, "indeed");
    reply.reply_to = Some(first);
    let reply_id = store.insert_messages(&[reply.clone()], TS).unwrap().remove(0).unwrap().id;
    assert_eq!(store.message(reply_id).unwrap().unwrap().reply_to, Some(first));
    reply.room_id = GENERAL_ROOM;
    assert_eq!(store.insert_messages(&[reply], TS).unwrap().remove(0).unwrap_err(), Refusal::NoSuchReply);

    // Reactions toggle; each emoji lists its people in order; distinct emoji are bounded.
    let react = |who: &User, emoji: &str| {
        store
            .toggle_reaction(&ToggleReaction {
                message_id: first,
                user_id: who.id,
                emoji,
                max_distinct: 2,
                timestamp: TS,
            })
            .unwrap()
    };
    let names = |list: Vec<Reaction>| -> Vec<(String, Vec<String>)> {
        list.into_iter().map(|r| (r.emoji, r.users)).collect()
    };
    react(&b, "👍").unwrap();
    let toggled = react(&a, "👍").unwrap();
    assert_eq!(toggled.room, private);
    assert_eq!(names(toggled.reactions), [("👍".to_string(), vec!["bea".to_string(), "ann".to_string()])]);
    assert_eq!(
        names(react(&b, "👍").unwrap().reactions),
        [("👍".to_string(), vec!["ann".to_string()])],
        "a second toggle takes it back"
    );
    react(&b, "🎉").unwrap();
    assert_eq!(react(&b, "🚀").unwrap_err(), LivingRefusal::TooManyReactions);
    assert_eq!(react(&c, "👍").unwrap_err(), LivingRefusal::NotFound);
    assert_eq!(store.reactions(&[first, reply_id]).unwrap().len(), 1, "only messages with reactions");

    // Deletion: one's own, or anyone's with the right; a tombstone keeps the id.
    let delete = |who: Option<&User>, others: bool| {
        store
            .delete_message(&DeleteMessage {
                id: first,
                actor_id: who.map(|u| u.id),
                actor: who.map_or("cli", |u| u.username.as_str()),
                may_delete_others: others,
                reason: Some("spam"),
                timestamp: later,
            })
            .unwrap()
    };
    assert_eq!(delete(Some(&b), false).unwrap_err(), LivingRefusal::NotYours);
    assert_eq!(delete(Some(&c), false).unwrap_err(), LivingRefusal::NotFound);
    let (room_id, _) = delete(None, true).unwrap();
    assert_eq!(room_id, private);
    assert_eq!(delete(Some(&a), false).unwrap_err(), LivingRefusal::Deleted);
    assert_eq!(edit(first, &a, "again", TS).unwrap_err(), LivingRefusal::Deleted);
    assert!(store.message(first).unwrap().is_none());
    assert!(store.reactions(&[first]).unwrap().is_empty());
    let history: Vec<i64> = store.messages_before(private, None, 10).unwrap().iter().map(|m| m.id).collect();
    assert_eq!(history, [reply_id], "history no longer shows it");

    // Every change took a position in the one log, in order.
    let kinds: Vec<&str> = store
        .log_after(start, 100)
        .unwrap()
        .iter()
        .map(|e| match e {
            LogEntry::Message(_) => "message",
            LogEntry::Change { change: Change::Edit { .. }, .. } => "edit",
            LogEntry::Change { change: Change::React { .. }, .. } => "react",
            LogEntry::Change { change: Change::Delete { .. }, .. } => "delete",
            LogEntry::Change { .. } => "other",
        })
        .collect();
    assert_eq!(kinds, ["edit", "message", "react", "react", "react", "react", "delete"]);
    assert!(seq > start);
}

fn search(store: &dyn Store) {
    search_with(store, 0);
}

/// The same, with the search index (where a backend indexes after the fact) brought up to date
/// by the first two messages only: a search reads the rest directly.
fn search_partly_indexed(store: &dyn Store) {
    search_with(store, 2);
}

/// The same, with every message indexed first, so edits and deletions go through the index.
fn search_indexed(store: &dyn Store) {
    search_with(store, usize::MAX);
}

fn search_with(store: &dyn Store, index: usize) {
    let (a, b, c) = (user(store, "ann"), user(store, "bea"), user(store, "cal"));
    let private = room(store, "Inner", RoomKind::Private, &[a.id, b.id]);
    let public = room(store, "Outer", RoomKind::Public, &[c.id]);
    let old =
        store.insert_messages(&[msg(GENERAL_ROOM, &a, "Deployment went fine")], "2026-01-01T00:00:00.000Z");
    let old = old.unwrap().remove(0).unwrap().id;
    let secret = post(store, private, &b, "deploy the secret 100% build");
    let outer = post(store, public, &c, "redeploy outside");
    let edited = post(store, GENERAL_ROOM, &b, "harbour at noon");
    let deleted = post(store, GENERAL_ROOM, &a, "deploy now or never");
    let mut left = index;
    while left > 0 {
        let step = left.min(1000);
        let looked = store.index_search(step).unwrap();
        left -= step;
        if looked < step {
            break;
        }
    }
    let find = |q: SearchQuery| -> Vec<i64> { store.search(&q).unwrap().iter().map(|m| m.id).collect() };
    let words = |terms: &[&str]| SearchQuery {
        terms: terms.iter().map(|t| t.to_string()).collect(),
        user_id: a.id,
        limit: 10,
        ..SearchQuery::default()
    };

    // Parts of words, any case, every term; the user's rooms only, newest first.
    assert_eq!(find(words(&["deploy"])), [deleted, secret, old]);
    assert_eq!(find(words(&["deploy", "secret"])), [secret]);
    assert_eq!(find(words(&["DEPLOY".to_lowercase().as_str(), "xyz"])), Vec::<i64>::new());
    assert_eq!(find(SearchQuery { all_public: true, ..words(&["deploy"]) }), [deleted, outer, secret, old]);
    assert_eq!(find(SearchQuery { user_id: c.id, ..words(&["deploy"]) }), [deleted, outer, old]);
    // One room, a sender, bounds, the limit.
    assert_eq!(find(SearchQuery { room_id: Some(public), ..words(&["deploy"]) }), [outer]);
    assert_eq!(find(SearchQuery { sender_id: Some(a.id), ..words(&["deploy"]) }), [deleted, old]);
    assert_eq!(
        find(SearchQuery { before_id: Some(deleted), after_id: Some(old), ..words(&["deploy"]) }),
        [secret]
    );
    let since = SearchQuery { after_time: Some("2026-06-01T00:00:00.000Z".into()), ..words(&["deploy"]) };
    assert_eq!(find(since), [deleted, secret]);
    let until = SearchQuery { before_time: Some("2026-06-01T00:00:00.000Z".into()), ..words(&["deploy"]) };
    assert_eq!(find(until), [old]);
    assert_eq!(find(SearchQuery { limit: 2, ..words(&["deploy"]) }), [deleted, secret]);
    // Terms shorter than three characters, and LIKE's wildcards taken literally.
    assert_eq!(find(words(&["no"])), [deleted, edited]);
    assert_eq!(find(words(&["0%"])), [secret]);
    assert_eq!(find(words(&["100%"])), [secret]);
    assert_eq!(find(words(&["1_0"])), Vec::<i64>::new());
    assert_eq!(find(words(&["o", "deploy", "fine"])), [old]);

    // The index follows edits and deletions.
    let candidates = Vec::new();
    let edit = EditMessage {
        id: edited,
        editor_id: b.id,
        content: "station at noon",
        mention_candidates: &candidates,
        timestamp: TS,
        not_before: TS,
    };
    store.edit_message(&edit).unwrap().unwrap();
    assert_eq!(find(words(&["harbour"])), Vec::<i64>::new());
    assert_eq!(find(words(&["station"])), [edited]);
    let del = DeleteMessage {
        id: deleted,
        actor_id: Some(a.id),
        actor: "ann",
        may_delete_others: false,
        reason: None,
        timestamp: TS,
    };
    store.delete_message(&del).unwrap().unwrap();
    assert_eq!(find(words(&["deploy"])), [secret, old]);
    assert_eq!(find(words(&["never"])), Vec::<i64>::new());
    assert_eq!(find(words(&["o"])), [edited, secret, old], "the short-term path skips it too");
}

fn reports_and_appeals(store: &dyn Store) {
    use chatterbox::store::{
        AppealRefusal, NewReport, ReportDecision, ReportFilter, ReportRefusal, ReportSource, ReportStatus,
    };
    let (alice, bob, carol) = (user(store, "ralice"), user(store, "rbob"), user(store, "rcarol"));
    let before = post(store, GENERAL_ROOM, &alice, "before");
    let id = post(store, GENERAL_ROOM, &alice, "reported");
    let after = post(store, GENERAL_ROOM, &alice, "after");
    let new = |reporter: Option<i64>, max_open: i64| NewReport {
        message_id: id,
        reporter_id: reporter,
        source: if reporter.is_some() { ReportSource::Member } else { ReportSource::Classifier },
        reason: "spam",
        text: None,
        score: reporter.is_none().then_some(0.9),
        max_open,
        timestamp: TS,
    };
    assert_eq!(store.file_report(&new(Some(alice.id), 50)).unwrap(), Err(ReportRefusal::Own));
    assert_eq!(store.file_report(&new(Some(bob.id), 0)).unwrap(), Err(ReportRefusal::TooMany));
    let first = store.file_report(&new(Some(bob.id), 50)).unwrap().unwrap();
    assert_eq!(store.file_report(&new(Some(bob.id), 50)).unwrap(), Err(ReportRefusal::Duplicate));
    let second = store.file_report(&new(Some(carol.id), 50)).unwrap().unwrap();
    // Automatic reports have no reporter: never duplicates, never bounded.
    let auto = store.file_report(&new(None, 0)).unwrap().unwrap();
    store.file_report(&new(None, 0)).unwrap().unwrap();
    let missing = NewReport { message_id: 999_999, ..new(Some(bob.id), 50) };
    assert_eq!(store.file_report(&missing).unwrap(), Err(ReportRefusal::NotFound));

    let all = |f: ReportFilter| store.reports(&ReportFilter { limit: 50, ..f }).unwrap();
    let open = all(ReportFilter { open: Some(true), ..Default::default() });
    assert_eq!(open.len(), 4);
    assert!(open.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let r = all(ReportFilter { id: Some(auto), ..Default::default() }).pop().unwrap();
    assert_eq!((r.source, r.score, r.reporter.clone()), (ReportSource::Classifier, Some(0.9), None));
    assert_eq!((r.sender.as_str(), r.message_text.as_str(), r.deleted), ("ralice", "reported", false));
    let mine = all(ReportFilter { reporter_id: Some(bob.id), ..Default::default() });
    assert_eq!(mine.iter().map(|r| r.id).collect::<Vec<_>>(), vec![first]);
    // general has no creator and no moderators: a moderator's filter finds nothing there.
    assert!(all(ReportFilter { moderator_id: Some(carol.id), ..Default::default() }).is_empty());
    // The neighbours of a report's message.
    assert_eq!(
        store.room_messages_after(GENERAL_ROOM, id, 2).unwrap().iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![after]
    );
    assert_eq!(store.messages_before(GENERAL_ROOM, Some(id), 2).unwrap().last().unwrap().id, before);

    let next = store.log_next().unwrap();
    let decision = ReportDecision {
        report_id: first,
        status: ReportStatus::Dismissed,
        actor: "root",
        actor_id: None,
        note: Some("fine"),
        reason: "report: dismiss",
        timestamp: TS,
    };
    let mut closed = store.decide_report(&decision).unwrap().unwrap();
    closed.sort_unstable();
    assert_eq!(closed.len(), 4, "every open report of the message closes with it");
    assert!(closed.contains(&second) && closed.contains(&auto));
    assert_eq!(store.decide_report(&decision).unwrap(), None, "handled already");
    assert_eq!(store.decide_report(&ReportDecision { report_id: second, ..decision.clone() }).unwrap(), None);
    assert!(all(ReportFilter { open: Some(true), ..Default::default() }).is_empty());
    let handled = all(ReportFilter { open: Some(false), ..Default::default() });
    assert!(handled.iter().all(|r| r.status == ReportStatus::Dismissed && r.note.as_deref() == Some("fine")));
    // One audit row; one log change per member reporter.
    let log = store.violations(None, 1).unwrap();
    assert_eq!(
        (log[0].action, log[0].user_id, log[0].actor.as_str()),
        (Action::Report, Some(alice.id), "root")
    );
    let told: Vec<(i64, i64)> = store
        .log_after(next - 1, 50)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Change { change: Change::Report { report_id, user_id, status }, .. } => {
                assert_eq!(status, ReportStatus::Dismissed);
                Some((report_id, user_id))
            }
            _ => None,
        })
        .collect();
    let mut told = told;
    told.sort_unstable();
    let mut want = vec![(first, bob.id), (second, carol.id)];
    want.sort_unstable();
    assert_eq!(told, want);

    // Appeals: only of the account's current block, once.
    assert_eq!(store.block_appeal(bob.id).unwrap(), None, "not blocked");
    let by = AdminAction { actor: "root", reason: None, timestamp: TS };
    store.set_blocked(bob.id, true, &by).unwrap();
    let (block, appeal) = store.block_appeal(bob.id).unwrap().unwrap();
    assert!(appeal.is_none());
    assert_eq!(store.file_appeal(bob.id, block + 1, "sorry", TS).unwrap(), Err(AppealRefusal::NotFound));
    let filed = store.file_appeal(bob.id, block, "sorry", TS).unwrap().unwrap();
    assert_eq!((filed.status.as_str(), filed.username.as_str()), ("open", "rbob"));
    assert_eq!(store.file_appeal(bob.id, block, "again", TS).unwrap(), Err(AppealRefusal::Done));
    assert_eq!(store.appeals(true, None, 10).unwrap().len(), 1);
    let answered =
        store.answer_appeal(filed.id, "unblocked", "welcome back", "root", alice.id, TS).unwrap().unwrap();
    assert_eq!((answered.status.as_str(), answered.answer.as_deref()), ("unblocked", Some("welcome back")));
    assert_eq!(
        store.answer_appeal(filed.id, "kept", "", "root", alice.id, TS).unwrap(),
        Err(AppealRefusal::Done)
    );
    assert_eq!(
        store.answer_appeal(999_999, "kept", "", "root", alice.id, TS).unwrap(),
        Err(AppealRefusal::NotFound)
    );
    assert!(store.appeals(true, None, 10).unwrap().is_empty());
    assert_eq!(store.appeals(false, None, 10).unwrap().len(), 1);
    assert_eq!(store.violations(None, 1).unwrap()[0].action, Action::Appeal);
    // The answer is read once.
    assert_eq!(store.take_appeal_answer(bob.id).unwrap().as_deref(), Some("welcome back"));
    assert_eq!(store.take_appeal_answer(bob.id).unwrap(), None);
}

/// Room moderation: a role and a room mute change only a member's row, each change takes a log
/// position and an audit row (nothing when nothing changed); the writer refuses a muted member's
/// message and, in slow mode, one sent too soon after the member's last, sparing moderators and
/// the room's creator; a batch counts its own messages.
fn room_moderation(store: &dyn Store) {
    let (a, b, c) = (user(store, "rita"), user(store, "sam"), user(store, "tess"));
    let town = room(store, "Town", RoomKind::Public, &[a.id, b.id]);
    let audit = |who: &User, action| chatterbox::store::Audit {
        room_id: Some(town),
        ..chatterbox::store::Audit::new(Some(who.id), action, "rita", TS)
    };
    assert_eq!(store.member_role(town, b.id).unwrap(), Some(RoomRole::Member));
    assert_eq!(store.member_role(town, c.id).unwrap(), None);
    let before = store.log_next().unwrap();
    assert_eq!(
        store.set_member_role(town, b.id, RoomRole::Moderator, &audit(&b, Action::Moderator)).unwrap(),
        Some(true)
    );
    assert_eq!(
        store.set_member_role(town, b.id, RoomRole::Moderator, &audit(&b, Action::Moderator)).unwrap(),
        Some(false)
    );
    assert_eq!(
        store.set_member_role(town, c.id, RoomRole::Moderator, &audit(&c, Action::Moderator)).unwrap(),
        None
    );
    let log = store.log_after(before - 1, 10).unwrap();
    assert_eq!(
        log,
        vec![LogEntry::Change {
            seq: before,
            change: Change::Role { room_id: town, user_id: b.id, moderator: true }
        }]
    );
    let members = store.room_members(town).unwrap();
    assert_eq!(members.iter().find(|m| m.user_id == b.id).unwrap().role, RoomRole::Moderator);
    assert_eq!(
        store.set_member_role(town, b.id, RoomRole::Member, &audit(&b, Action::Moderator)).unwrap(),
        Some(true)
    );

    // A mute refuses the member's messages in that room only, while it runs.
    let until = "2026-11-26T11:00:00.000Z";
    assert_eq!(store.set_room_mute(town, b.id, Some(until), &audit(&b, Action::Mute)).unwrap(), Some(true));
    assert_eq!(store.set_room_mute(town, b.id, Some(until), &audit(&b, Action::Mute)).unwrap(), Some(false));
    assert_eq!(store.set_room_mute(town, c.id, Some(until), &audit(&c, Action::Mute)).unwrap(), None);
    let out =
        store.insert_messages(&[msg(town, &b, "hush"), msg(GENERAL_ROOM, &b, "elsewhere")], TS).unwrap();
    assert_eq!(out[0], Err(Refusal::MutedInRoom { until: until.to_string() }));
    assert!(out[1].is_ok());
    assert!(store.insert_messages(&[msg(town, &b, "later")], "2026-11-26T11:00:00.001Z").unwrap()[0].is_ok());
    assert_eq!(store.set_room_mute(town, b.id, None, &audit(&b, Action::Unmute)).unwrap(), Some(true));
    let muted: Vec<Change> = store
        .log_after(before, 100)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Change { change: c @ Change::RoomMute { .. }, .. } => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(
        muted,
        vec![
            Change::RoomMute { room_id: town, user_id: b.id, until_ms: 1_795_690_800_000 },
            Change::RoomMute { room_id: town, user_id: b.id, until_ms: 0 },
        ]
    );

    // Slow mode: one message per 60 s per member; the creator is spared.
    assert!(store
        .set_slow_mode(town, 60, &chatterbox::store::Audit::new(None, Action::SlowMode, "rita", TS))
        .unwrap());
    assert_eq!(store.room(town).unwrap().unwrap().slow_mode_secs, 60);
    let at = "2026-11-26T12:00:00.000Z";
    let out = store
        .insert_messages(
            &[msg(town, &b, "one"), msg(town, &b, "two"), msg(town, &a, "x"), msg(town, &a, "y")],
            at,
        )
        .unwrap();
    assert!(out[0].is_ok() && out[2].is_ok() && out[3].is_ok(), "{out:?}");
    assert_eq!(out[1], Err(Refusal::SlowMode { retry_after: 60 }));
    let out = store.insert_messages(&[msg(town, &b, "three")], "2026-11-26T12:00:45.500Z").unwrap();
    assert_eq!(out[0], Err(Refusal::SlowMode { retry_after: 15 }));
    assert!(store.insert_messages(&[msg(town, &b, "four")], "2026-11-26T12:01:00.000Z").unwrap()[0].is_ok());

    // The slow-mode row concerns no account, and the audit log shows it too.
    let actions: Vec<Action> =
        store.violations(None, 20).unwrap().into_iter().rev().map(|v| v.action).collect();
    assert_eq!(
        actions,
        vec![Action::Moderator, Action::Moderator, Action::Mute, Action::Unmute, Action::SlowMode]
    );
}

/// The live term lists: seeded once (whatever is removed later), a term on one list at a time,
/// and every change (not a no-op) a `Terms` log entry.
fn term_lists(store: &dyn Store) {
    let changes = |after: i64| -> usize {
        store
            .log_after(after, 100)
            .unwrap()
            .iter()
            .filter(|e| matches!(e, LogEntry::Change { change: Change::Terms, .. }))
            .count()
    };
    let start = store.log_next().unwrap() - 1;
    let seed = vec!["idiot".to_string(), "bazinga".to_string()];
    assert!(store.seed_terms(&seed, "moderation", TS).unwrap());
    assert!(!store.seed_terms(&["other".to_string()], "moderation", TS).unwrap(), "seeded once");
    let edit = |term: &'static str, list: TermList| TermEdit {
        term,
        list,
        actor: "root",
        actor_id: None,
        reason: Some("why"),
        timestamp: TS,
    };
    assert_eq!(store.add_term(&edit("zap", TermList::Block)).unwrap(), TermAdded::Added);
    assert_eq!(store.add_term(&edit("zap", TermList::Block)).unwrap(), TermAdded::Unchanged);
    assert_eq!(store.add_term(&edit("zap", TermList::Allow)).unwrap(), TermAdded::Moved);
    assert_eq!(store.remove_term(&edit("bazinga", TermList::Block)).unwrap(), Some(TermList::Block));
    assert_eq!(store.remove_term(&edit("bazinga", TermList::Block)).unwrap(), None);
    let terms: Vec<(String, TermList, String)> =
        store.terms().unwrap().into_iter().map(|t| (t.term, t.list, t.added_by)).collect();
    assert_eq!(
        terms,
        [
            ("idiot".into(), TermList::Block, "moderation".into()),
            ("zap".into(), TermList::Allow, "root".into())
        ]
    );
    for term in ["idiot", "zap"] {
        store.remove_term(&edit(term, TermList::Block)).unwrap();
    }
    assert!(!store.seed_terms(&seed, "moderation", TS).unwrap(), "an emptied list is not seeded again");
    assert!(store.terms().unwrap().is_empty());
    // An addition, a move and three removals (seeding happens before any daemon reads the lists).
    assert_eq!(changes(start), 5);
}
