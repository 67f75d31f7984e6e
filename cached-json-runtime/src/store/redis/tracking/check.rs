//! The checks of the tracking connections beside their reports: a `PING` on each (one server:
//! every check; a Cluster: every [`PING_ALL_EVERY`]), and on a Cluster the primaries read again
//! from one tracked node in turn, so that a primary not tracked starts the tracking over.

use super::*;

impl Tracked {
    /// Whether the check of `turn` `PING`s every connection: on one server always, on a
    /// Cluster every [`PING_ALL_EVERY`].
    pub(super) fn pings_due(&self, turn: usize) -> bool {
        let every = (PING_ALL_EVERY.as_millis() / CHECK_EVERY.as_millis()).max(1) as usize;
        self.primaries.is_none() || turn.is_multiple_of(every)
    }

    /// A check of the connections (made to run on its own), each command within
    /// [`GIVE_UP_AFTER`]: with `ping_all`, every connection answers a `PING`, all at once; on a
    /// Cluster, the tracked node whose `turn` it is is still that node and names no primary
    /// that is not tracked.
    pub(super) fn check(
        &self,
        turn: usize,
        ping_all: bool,
    ) -> impl Future<Output = Checked> + Send + 'static {
        let connections = self.connections.clone();
        let primaries = self.primaries.clone();
        async move {
            let mut checks = tokio::task::JoinSet::new();
            if ping_all {
                for connection in connections.iter() {
                    let mut connection = connection.clone();
                    checks.spawn(async move {
                        let ping = redis::cmd("PING");
                        let answer = ping.query_async::<()>(&mut connection);
                        match tokio::time::timeout(GIVE_UP_AFTER, answer).await {
                            Ok(Ok(())) => Checked::Fine,
                            _ => Checked::Lost,
                        }
                    });
                }
            }
            if let Some(primaries) = primaries {
                let index = turn % connections.len();
                let mut connection = connections[index].clone();
                checks.spawn(async move {
                    let asked = &primaries[index];
                    let read = topology::read(&mut connection, &asked.address.0, false);
                    match tokio::time::timeout(GIVE_UP_AFTER, read).await {
                        Ok(Ok(view)) if view.myself.as_deref() != Some(asked.id.as_str()) => {
                            Checked::Lost
                        }
                        Ok(Ok(view)) if topology::covers(&primaries, &view.primaries) => {
                            Checked::Fine
                        }
                        Ok(Ok(_)) => Checked::Moved(asked.clone()),
                        _ => Checked::Lost,
                    }
                });
            }
            let mut found = Checked::Fine;
            while let Some(checked) = checks.join_next().await {
                match checked {
                    Ok(Checked::Fine) => {}
                    Ok(Checked::Moved(node)) => {
                        if matches!(found, Checked::Fine) {
                            found = Checked::Moved(node);
                        }
                    }
                    Ok(Checked::Lost) | Err(_) => return Checked::Lost,
                }
            }
            found
        }
    }
}
