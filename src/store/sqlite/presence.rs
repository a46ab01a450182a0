//! Who is online on which instance (SQLite): heartbeats on the database's clock, and the
//! removal of instances that stopped beating. One SQLite file can serve several daemons on one
//! machine, and they then share presence as PostgreSQL instances do.

use rusqlite::{params, Connection, TransactionBehavior};

use super::super::{Elsewhere, PresenceBeat, Result};

const NOW: &str = "CAST(strftime('%s', 'now') AS INTEGER)";

pub(super) fn beat(conn: &mut Connection, beat: &PresenceBeat<'_>) -> Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Its own heartbeat first, then the reaping (the order PostgreSQL needs, kept alike).
    let known = tx
        .prepare_cached(&format!("UPDATE instances SET seen_at = {NOW} WHERE id = ?1"))?
        .execute([beat.instance])?
        > 0;
    tx.prepare_cached(&format!("DELETE FROM instances WHERE seen_at < {NOW} - ?1 AND id <> ?2"))?
        .execute(params![beat.ttl_secs, beat.instance])?;
    if !known {
        tx.prepare_cached(&format!(
            "INSERT INTO instances (id, started_at, seen_at) VALUES (?1, ?2, {NOW})"
        ))?
        .execute([beat.instance, beat.started_at])?;
    }
    let (changed, left) = if known && !beat.full {
        (beat.changed, beat.left)
    } else {
        tx.prepare_cached("DELETE FROM presence WHERE instance = ?1")?.execute([beat.instance])?;
        (beat.all, &[][..])
    };
    {
        let mut set = tx.prepare_cached(
            "INSERT INTO presence (instance, user_id, sockets) VALUES (?1, ?2, ?3) \
             ON CONFLICT (instance, user_id) DO UPDATE SET sockets = excluded.sockets",
        )?;
        for (id, sockets) in changed {
            set.execute(params![beat.instance, id, sockets])?;
        }
        let mut remove = tx.prepare_cached("DELETE FROM presence WHERE instance = ?1 AND user_id = ?2")?;
        for id in left {
            remove.execute(params![beat.instance, id])?;
        }
    }
    tx.commit()?;
    Ok(!known)
}

pub(super) fn elsewhere(conn: &Connection, instance: &str, ttl_secs: i64) -> Result<Vec<Elsewhere>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT u.id, u.username, SUM(p.sockets) FROM presence p \
         JOIN instances i ON i.id = p.instance JOIN users u ON u.id = p.user_id \
         WHERE p.instance <> ?1 AND i.seen_at >= {NOW} - ?2 GROUP BY u.id, u.username"
    ))?;
    let rows = stmt.query_map(params![instance, ttl_secs], |r| {
        Ok(Elsewhere { user_id: r.get(0)?, username: r.get(1)?, sockets: r.get(2)? })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(super) fn leave(conn: &Connection, instance: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM instances WHERE id = ?1")?.execute([instance])?;
    Ok(())
}
