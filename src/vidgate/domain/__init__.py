"""Pure rules: limits and task creation policy (no HTTP here)."""
