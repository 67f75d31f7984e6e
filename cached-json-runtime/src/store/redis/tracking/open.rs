//! Opening the tracking connections: one to a single server, or one to each primary of a
//! Cluster (found from the seeds, checked to reach the node it was made for), each with
//! `CLIENT TRACKING ON BCAST` on the namespace, its pushes sent to one channel.

use super::*;

/// Opens tracking connections.
#[derive(Clone)]
pub(super) struct Opener {
    pub(super) prefixes: Vec<String>,
    pub(super) connect_timeout: Duration,
    pub(super) op_timeout: Duration,
    /// Where every tracking connection's pushes go.
    pub(super) pushes: UnboundedSender<PushInfo>,
}

impl Opener {
    /// The connections `tracking` needs, each tracking. Errors are for the log (unscrubbed).
    pub(super) async fn tracked(
        &self,
        tracking: Tracking<'_>,
        named_by: Option<Primary>,
        known: &[Primary],
    ) -> Result<Tracked, String> {
        match tracking {
            Tracking::Single(clients) => Ok(Tracked {
                connections: Arc::new([self.open(&clients.tracking, None).await?]),
                primaries: None,
            }),
            Tracking::Cluster(nodes) => self.tracked_cluster(nodes, named_by, known).await,
        }
    }

    /// A connection to every primary, as the first node to give a complete view names them:
    /// `named_by`, the seeds, then the primaries `known` before. A node of those two is
    /// believed only if it is still the node it was (its address may have gone to another).
    async fn tracked_cluster(
        &self,
        nodes: &NodeClients,
        named_by: Option<Primary>,
        known: &[Primary],
    ) -> Result<Tracked, String> {
        let node = |primary: &Primary| {
            let (host, port) = &primary.address;
            let client = nodes.client(host, *port).ok()?;
            Some((client, Some(primary.id.clone())))
        };
        let first = named_by.as_ref().and_then(node);
        let seeds = nodes.seeds.iter().map(|seed| (seed.clone(), None));
        let last = known
            .iter()
            .filter(|primary| named_by.as_ref().is_none_or(|n| n.id != primary.id))
            .filter_map(node);
        let mut failures = Vec::new();
        for (client, expected) in first.into_iter().chain(seeds).chain(last) {
            let host = host_of(&client);
            let asked = async {
                let mut connection = self.connect(&client, false).await?;
                topology::read(&mut connection, &host, true).await
            };
            let bound = self.connect_timeout + self.op_timeout;
            let primaries = match tokio::time::timeout(bound, asked).await {
                Ok(Ok(view)) if expected.is_some() && view.myself != expected => {
                    failures.push(format!("{host}: another node now"));
                    continue;
                }
                Ok(Ok(view)) if view.complete => view.primaries,
                Ok(Ok(_)) => {
                    failures.push(format!("{host}: its primaries do not serve every slot"));
                    continue;
                }
                Ok(Err(err)) => {
                    failures.push(format!("{host}: {err}"));
                    continue;
                }
                Err(_) => {
                    failures.push(format!("{host}: timed out"));
                    continue;
                }
            };
            // All at once: one after the other, a Cluster of many primaries far away would take
            // as many round trips.
            let mut opening = tokio::task::JoinSet::new();
            for (index, primary) in primaries.iter().enumerate() {
                let (host, port) = &primary.address;
                let client = nodes.client(host, *port).map_err(|err| err.0)?;
                let (open, address) = (self.clone(), format!("{host}:{port}"));
                let id = primary.id.clone();
                opening.spawn(async move {
                    let opened = open.open(&client, Some(&id)).await;
                    (
                        index,
                        opened.map_err(|err| format!("primary {address}: {err}")),
                    )
                });
            }
            let mut connections: Vec<Option<MultiplexedConnection>> =
                std::iter::repeat_with(|| None)
                    .take(primaries.len())
                    .collect();
            while let Some(opened) = opening.join_next().await {
                let (index, connection) = opened.map_err(|err| err.to_string())?;
                connections[index] = Some(connection?);
            }
            return Ok(Tracked {
                connections: connections.into_iter().flatten().collect(),
                primaries: Some(primaries.into()),
            });
        }
        Err(format!(
            "no node gave the Cluster's primaries: {}",
            failures.join("; ")
        ))
    }

    /// A RESP3 connection; with `pushes`, its pushes (its disconnection too) go to the shared
    /// channel.
    async fn connect(
        &self,
        client: &Client,
        pushes: bool,
    ) -> Result<MultiplexedConnection, RedisError> {
        let mut config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(None);
        if pushes {
            config = config.set_push_sender(self.pushes.clone());
        }
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// [`Opener::connect`], tracking the keys of the prefixes, and (a Cluster's primary) checked
    /// to reach node `id`; within a connect timeout and a command timeout.
    async fn open(
        &self,
        client: &Client,
        id: Option<&str>,
    ) -> Result<MultiplexedConnection, String> {
        let open = async {
            let mut connection = self
                .connect(client, true)
                .await
                .map_err(|e| e.to_string())?;
            let mut tracking = redis::cmd("CLIENT");
            tracking.arg("TRACKING").arg("ON").arg("BCAST");
            for prefix in &self.prefixes {
                tracking.arg("PREFIX").arg(prefix);
            }
            tracking
                .query_async::<()>(&mut connection)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(id) = id {
                let view = topology::read(&mut connection, "", false)
                    .await
                    .map_err(|e| e.to_string())?;
                if view.myself.as_deref() != Some(id) {
                    return Err(format!("not node {id} (another node now)"));
                }
            }
            let _ = redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg("cached-json-tracking")
                .query_async::<()>(&mut connection)
                .await;
            Ok::<_, String>(connection)
        };
        match tokio::time::timeout(self.connect_timeout + self.op_timeout, open).await {
            Ok(opened) => opened,
            Err(_) => Err("timed out".to_owned()),
        }
    }
}

/// The host a client connects to.
fn host_of(client: &Client) -> String {
    match client.get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(host, _) | redis::ConnectionAddr::TcpTls { host, .. } => {
            host.clone()
        }
        _ => String::new(),
    }
}
