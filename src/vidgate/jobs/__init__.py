"""Running tasks: the runner interface, the embedded runner and one pipeline per model."""
