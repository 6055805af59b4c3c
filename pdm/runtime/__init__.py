"""The worker process: its scheduled jobs, the leader lock that keeps one scheduler per cluster,
and the guard that keeps one failing job from stopping the others."""
