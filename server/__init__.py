"""HTTP layer: maps requests to the engine (routes, auth, errors). Holds no analytics logic."""
