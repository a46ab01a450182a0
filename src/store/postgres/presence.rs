//! Who is online on which instance (PostgreSQL): heartbeats on the database's clock, and the
//! removal of instances that stopped beating, e.g. killed without a goodbye.

use postgres::{Client, Transaction};

use super::super::{PresenceBeat, Result};

const NOW: &str = "EXTRACT(EPOCH FROM clock_timestamp())::bigint";

pub(super) fn beat(tx: &mut Transaction<'_>, beat: &PresenceBeat<'_>) -> Result<bool> {
    tx.execute(
        &format!("DELETE FROM instances WHERE seen_at < {NOW} - $1 AND id <> $2"),
        &[&beat.ttl_secs, &beat.instance],
    )?;
    let known =
        tx.execute(&format!("UPDATE instances SET seen_at = {NOW} WHERE id = $1"), &[&beat.instance])? > 0;
    let (arrived, left) = if known {
        (beat.arrived, beat.left)
    } else {
        tx.execute(
            &format!("INSERT INTO instances (id, started_at, seen_at) VALUES ($1, $2, {NOW})"),
            &[&beat.instance, &beat.started_at],
        )?;
        (beat.all, &[][..])
    };
    // Arrays: a beat after a burst of connections costs two statements, not one per user.
    if !arrived.is_empty() {
        tx.execute(
            "INSERT INTO presence (instance, user_id) SELECT $1, u FROM unnest($2::bigint[]) AS u \
             WHERE EXISTS (SELECT 1 FROM users WHERE id = u) ON CONFLICT DO NOTHING",
            &[&beat.instance, &arrived],
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

pub(super) fn elsewhere(conn: &mut Client, instance: &str, ttl_secs: i64) -> Result<Vec<(i64, String)>> {
    let rows = conn.query(
        &format!(
            "SELECT DISTINCT u.id, u.username FROM presence p \
             JOIN instances i ON i.id = p.instance JOIN users u ON u.id = p.user_id \
             WHERE p.instance <> $1 AND i.seen_at >= {NOW} - $2"
        ),
        &[&instance, &ttl_secs],
    )?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub(super) fn leave(conn: &mut Client, instance: &str) -> Result<()> {
    conn.execute("DELETE FROM instances WHERE id = $1", &[&instance])?;
    Ok(())
}
