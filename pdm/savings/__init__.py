"""What the service saved: per-company figures, model coverage, reporting periods, the
three-company rule for cluster figures, and the exports built on them."""
