//! Who is online on which instance (PostgreSQL): heartbeats on the database's clock, and the
//! removal of instances that stopped beating, e.g. killed without a goodbye.

use postgres::{Client, Transaction};

use super::super::{Elsewhere, PresenceBeat, Result};

const NOW: &str = "EXTRACT(EPOCH FROM clock_timestamp())::bigint";

pub(super) fn beat(tx: &mut Transaction<'_>, beat: &PresenceBeat<'_>) -> Result<bool> {
    // Its own row first: an instance that beats holds its row's lock until it commits, and the
    // reaping below skips locked rows, so two instances that each find the other stale (after
    // an outage longer than the TTL) never wait on each other, and a beating one is not reaped.
    let known =
        tx.execute(&format!("UPDATE instances SET seen_at = {NOW} WHERE id = $1"), &[&beat.instance])? > 0;
    tx.execute(
        &format!(
            "DELETE FROM instances WHERE id IN (SELECT id FROM instances \
             WHERE seen_at < {NOW} - $1 AND id <> $2 FOR UPDATE SKIP LOCKED)"
        ),
        &[&beat.ttl_secs, &beat.instance],
    )?;
    if !known {
        tx.execute(
            &format!("INSERT INTO instances (id, started_at, seen_at) VALUES ($1, $2, {NOW})"),
            &[&beat.instance, &beat.started_at],
        )?;
    }
    let (changed, left) = if known && !beat.full {
        (beat.changed, beat.left)
    } else {
        tx.execute("DELETE FROM presence WHERE instance = $1", &[&beat.instance])?;
        (beat.all, &[][..])
    };
    // Arrays: a beat after a burst of connections costs two statements, not one per user.
    if !changed.is_empty() {
        let (ids, sockets): (Vec<i64>, Vec<i64>) = changed.iter().copied().unzip();
        tx.execute(
            "INSERT INTO presence (instance, user_id, sockets) \
             SELECT $1, c.u, c.n FROM unnest($2::bigint[], $3::bigint[]) AS c(u, n) \
             WHERE EXISTS (SELECT 1 FROM users WHERE id = c.u) \
             ON CONFLICT (instance, user_id) DO UPDATE SET sockets = excluded.sockets",
            &[&beat.instance, &ids, &sockets],
        )?;
    }
    if !left.is_empty() {
        tx.execute(
            "DELETE FROM presence WHERE instance = $1 AND user_id = ANY($2::bigint[])",
            &[&beat.instance, &left],
        )?;
    }
    Ok(!known)
}

pub(super) fn elsewhere(conn: &mut Client, instance: &str, ttl_secs: i64) -> Result<Vec<Elsewhere>> {
    let rows = conn.query(
        &format!(
            "SELECT u.id, u.username, SUM(p.sockets)::bigint FROM presence p \
             JOIN instances i ON i.id = p.instance JOIN users u ON u.id = p.user_id \
             WHERE p.instance <> $1 AND i.seen_at >= {NOW} - $2 GROUP BY u.id, u.username"
        ),
        &[&instance, &ttl_secs],
    )?;
    Ok(rows.iter().map(|r| Elsewhere { user_id: r.get(0), username: r.get(1), sockets: r.get(2) }).collect())
}

pub(super) fn leave(conn: &mut Client, instance: &str) -> Result<()> {
    conn.execute("DELETE FROM instances WHERE id = $1", &[&instance])?;
    Ok(())
}
