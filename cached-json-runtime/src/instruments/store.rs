//! The store's metrics: the duration of each round trip by command, and the store found down
//! or back.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Histogram, Key, Label};

use super::recorder::{target, Target};
use super::{METADATA, STORE_COMMAND_DURATION, STORE_ERRORS, STORE_TRANSITIONS, STORE_UP};

/// A store command, for [`store_command`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    // In the order of [`Command::ALL`].
    Get = 0,
    GetWithTtl,
    Set,
    Delete,
    Lock,
    ExtendLock,
    Unlock,
    Publish,
    GetTagged,
    KeepTags,
    GetMany,
}

impl Command {
    const ALL: [Command; 11] = [
        Command::Get,
        Command::GetWithTtl,
        Command::Set,
        Command::Delete,
        Command::Lock,
        Command::ExtendLock,
        Command::Unlock,
        Command::Publish,
        Command::GetTagged,
        Command::KeepTags,
        Command::GetMany,
    ];

    fn label(self) -> &'static str {
        match self {
            Command::Get => "get",
            Command::GetWithTtl => "get_with_ttl",
            Command::Set => "set",
            Command::Delete => "delete",
            Command::Lock => "lock",
            Command::ExtendLock => "extend_lock",
            Command::Unlock => "unlock",
            Command::Publish => "publish",
            Command::GetTagged => "get_tagged",
            Command::KeepTags => "keep_tags",
            Command::GetMany => "get_many",
        }
    }
}

/// Records one store round trip (answered, refused or timed out) of `elapsed`.
pub(crate) fn store_command(command: Command, elapsed: Duration) {
    static KEYS: OnceLock<[Key; 11]> = OnceLock::new();
    static GLOBAL: OnceLock<[Histogram; 11]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        Command::ALL.map(|command| {
            Key::from_parts(
                STORE_COMMAND_DURATION,
                vec![Label::from_static_parts("command", command.label())],
            )
        })
    });
    let seconds = elapsed.as_secs_f64();
    match target() {
        Target::Global => {
            let handles = GLOBAL.get_or_init(|| {
                metrics::with_recorder(|recorder| {
                    keys.each_ref()
                        .map(|key| recorder.register_histogram(key, &METADATA))
                })
            });
            handles[command as usize].record(seconds);
        }
        Target::Current => metrics::with_recorder(|recorder| {
            recorder
                .register_histogram(&keys[command as usize], &METADATA)
                .record(seconds);
        }),
    }
}

/// Why a store command failed, for `cached_json_store_errors_total{kind}`: a bounded set of
/// labels (a Redis error code outside it counts as `reply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// No answer in time.
    Timeout,
    /// The connection failed (refused, reset, closed).
    Connection,
    /// `-OOM`: Redis is full (`maxmemory` with `noeviction`) and refuses writes.
    Oom,
    /// `-NOPERM`: the ACL user may not run the command or touch the key.
    NoPerm,
    /// `-WRONGTYPE`: the key holds something else.
    WrongType,
    /// Any other refusal.
    Reply,
}

impl ErrorKind {
    /// The kind of a refusal whose Redis error code is `code`.
    pub(crate) fn of_reply(code: Option<&str>) -> ErrorKind {
        match code {
            Some("OOM") => ErrorKind::Oom,
            Some("NOPERM") => ErrorKind::NoPerm,
            Some("WRONGTYPE") => ErrorKind::WrongType,
            _ => ErrorKind::Reply,
        }
    }
}

/// Counts one failed store command (rare: registered on the spot, as transitions are).
pub(crate) fn store_error(kind: ErrorKind) {
    // By `ErrorKind`, in declaration order.
    static KINDS: [[Label; 1]; 6] = [
        [Label::from_static_parts("kind", "timeout")],
        [Label::from_static_parts("kind", "connection")],
        [Label::from_static_parts("kind", "oom")],
        [Label::from_static_parts("kind", "noperm")],
        [Label::from_static_parts("kind", "wrongtype")],
        [Label::from_static_parts("kind", "reply")],
    ];
    let key = Key::from_static_labels(STORE_ERRORS, &KINDS[kind as usize]);
    metrics::with_recorder(|recorder| recorder.register_counter(&key, &METADATA).increment(1));
}

/// The store was found down (`up == false`) or back.
pub(crate) fn store_transition(up: bool) {
    static UP: Key = Key::from_static_name(STORE_UP);
    static TO: [[Label; 1]; 2] = [
        [Label::from_static_parts("to", "down")],
        [Label::from_static_parts("to", "up")],
    ];
    let transitions = Key::from_static_labels(STORE_TRANSITIONS, &TO[usize::from(up)]);
    metrics::with_recorder(|recorder| {
        recorder
            .register_gauge(&UP, &METADATA)
            .set(if up { 1.0 } else { 0.0 });
        recorder
            .register_counter(&transitions, &METADATA)
            .increment(1);
    });
}
