//! How a private cluster is shut down.

/// How [`crate::TestDatabase::stop`] shuts a private cluster down (`pg_ctl stop -m <mode>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopMode {
    /// `-m fast`: open transactions are rolled back, clients are disconnected and a
    /// checkpoint is written; a planned restart (deploy, failover drill).
    #[default]
    Fast,
    /// `-m immediate`: every server process quits at once without a checkpoint, so the next
    /// start runs crash recovery from the WAL; as close to a power cut as a test can get
    /// without losing the operating system's page cache. The cluster runs with
    /// `synchronous_commit=off` for speed, so commits acknowledged in the last few hundred
    /// milliseconds may be lost unless the session set `synchronous_commit = on` (for
    /// example with `ALTER ROLE <login> SET synchronous_commit = on`).
    Immediate,
}

impl StopMode {
    pub(crate) fn pg_ctl_name(self) -> &'static str {
        match self {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}
