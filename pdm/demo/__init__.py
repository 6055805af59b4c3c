"""The one-laptop demo: a simulated plant, the worker and the app, and a simulated technician
who answers alerts so the savings pages have something to show."""
