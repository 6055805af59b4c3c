"""Readings in: the poller that writes connector batches to storage, the spool that holds them
while the database is away, endpoint sharing between workers (leases), and per-endpoint health."""
