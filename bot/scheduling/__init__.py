"""The scheduler and its jobs: the leader lock, the round lifecycle (open, invite, remind,
digest, close, publish, send) and retention."""
