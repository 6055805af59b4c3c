"""Who may see and do what: users and sessions, the company (tenant) scope of every query,
the audit trail, and the encryption of stored secrets."""
