"""Alerts out: the rules that open and close them from scores, the technicians' feedback and
lifecycle, and the notifications (e-mail, webhook) they send."""
