"""Video providers: where a generation task's video actually comes from.

:mod:`vidgate.providers.simulator` renders a labelled test-pattern MP4 locally for test-mode API keys
(no upstream, no credits spent upstream), and exports the magic prompts that drive test-mode behaviour.
"""
