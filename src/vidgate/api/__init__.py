"""The HTTP API: app factory, middleware, dependencies and routes."""
