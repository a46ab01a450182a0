//! Presence across instances: each daemon writes who is online on it to the database and reads
//! who is online on the others, so join/leave, presence frames and the online count mean "on
//! any instance".
//!
//! One task per daemon beats every `presence_beat`: it writes the users who arrived, left or
//! opened or closed sockets on this instance since the last beat (the per-account socket cap
//! counts sockets on every instance), and a heartbeat at least every quarter of `instance_ttl`;
//! it removes instances silent for longer than `instance_ttl` (killed without a goodbye: their
//! users are gone within that time), then reads everyone online elsewhere and hands that to the
//! hub, which announces the difference. A clean shutdown says goodbye (its rows go at once).
//! Presence is not in the log: it needs no order and no resume, and the log would keep every
//! connect and disconnect forever.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::PresenceBeat;

use super::{hub::Remote, Chat};

/// A name for this daemon's rows, unique among instances sharing a database.
pub fn instance_id() -> String {
    let mut bytes = [0u8; 8];
    // A process id and a clock would collide between containers started together.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bytes = (nanos.as_nanos() as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Chat {
    /// Runs until `cancel`, then says goodbye.
    pub async fn run_presence(self: Arc<Self>, cancel: CancellationToken) {
        let instance = Arc::<str>::from(self.instance.as_str());
        let started_at = Arc::<str>::from(crate::timefmt::now().as_str());
        let beat = self.config.presence_beat.max(Duration::from_millis(10));
        let ttl = self.config.instance_ttl.max(beat * 2);
        let ttl_secs = ttl.as_secs().max(1) as i64;
        let heartbeat = ttl / 4;
        let mut written: Option<HashMap<i64, i64>> = None;
        let mut last_write = Instant::now();
        let mut heard_at = Instant::now();
        let mut failing = false;
        let mut tick = tokio::time::interval(beat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            let here = self.hub.local_sockets();
            let (changed, left): (Vec<(i64, i64)>, Vec<i64>) = match &written {
                Some(w) => (
                    here.iter().filter(|&(id, n)| w.get(id) != Some(n)).map(|(&id, &n)| (id, n)).collect(),
                    w.keys().filter(|id| !here.contains_key(id)).copied().collect(),
                ),
                None => (here.iter().map(|(&id, &n)| (id, n)).collect(), Vec::new()),
            };
            if written.is_none()
                || !changed.is_empty()
                || !left.is_empty()
                || last_write.elapsed() >= heartbeat
            {
                let (instance, started_at) = (Arc::clone(&instance), Arc::clone(&started_at));
                let all: Vec<(i64, i64)> = here.iter().map(|(&id, &n)| (id, n)).collect();
                let full = written.is_none();
                let wrote = self
                    .blocking(move |s| {
                        let beat = PresenceBeat {
                            instance: &instance,
                            started_at: &started_at,
                            all: &all,
                            full,
                            changed: &changed,
                            left: &left,
                            ttl_secs,
                        };
                        Ok(s.presence_beat(&beat)?)
                    })
                    .await;
                match wrote {
                    Ok(_) => {
                        written = Some(here);
                        last_write = Instant::now();
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e, "cannot write this instance's presence; retrying");
                        }
                        failing = true;
                        // Unsure what was written: the next beat that succeeds replaces it all
                        // (users who left meanwhile must not stay behind).
                        written = None;
                    }
                }
            }
            let me = Arc::clone(&instance);
            match self.blocking(move |s| Ok(s.presence_elsewhere(&me, ttl_secs)?)).await {
                Ok(list) => {
                    if failing && written.is_some() {
                        tracing::info!("presence shared again");
                        failing = false;
                    }
                    heard_at = Instant::now();
                    let remote = list.into_iter().map(|e| {
                        let sockets = usize::try_from(e.sockets).unwrap_or(0);
                        (e.user_id, Remote { username: e.username, sockets })
                    });
                    self.hub.set_remote(remote.collect());
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot read who is online elsewhere; retrying");
                        failing = true;
                    }
                    // The others would have given up on anyone silent this long: so does this
                    // instance, rather than showing people online indefinitely.
                    if heard_at.elapsed() >= ttl {
                        self.hub.set_remote(HashMap::new());
                    }
                }
            }
        }
        let me = Arc::clone(&instance);
        if let Err(e) = self.blocking(move |s| Ok(s.presence_leave(&me)?)).await {
            tracing::warn!(error = %e, "cannot remove this instance's presence; the others drop it when it expires");
        }
    }
}
