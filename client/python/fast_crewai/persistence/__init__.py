"""CrewAI's SQLite persistence through the fast-crewai daemon.

* `kickoff.DaemonKickoffStorage`: the replay log (KickoffTaskOutputsSQLiteStorage) kept per
  kickoff, found by task id from any process.
* `flow.DaemonFlowPersistence`: flow state and pending human feedback (FlowPersistence).
* `locks.daemon_lock`: named cross-process locks held as leases (crewai_core.lock_store).

The kickoff and flow modules import CrewAI; import them only when CrewAI is in use (the
persistence patcher does so lazily). docs/persistence.md is the long form.
"""
