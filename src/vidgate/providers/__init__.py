"""Video providers: where a generation task's video actually comes from.

:mod:`vidgate.providers.simulator` renders a labelled test-pattern MP4 locally for test-mode API keys
(no upstream, no credits spent upstream), and exports the magic prompts that drive test-mode behaviour.

Live-mode sora2 goes to real upstreams (docs/providers.md): :mod:`~vidgate.providers.base` (the
``Provider`` protocol, ``Submitted``/``Poll``, the error classes), one module per upstream API
(:mod:`~vidgate.providers.apimall`, :mod:`~vidgate.providers.kie`, :mod:`~vidgate.providers.openai`),
:mod:`~vidgate.providers.routing` (the providers file, route order, fallback),
:mod:`~vidgate.providers.health` (circuit breakers) and :mod:`~vidgate.providers.pipeline` (resumable
polling, re-hosting the result).
"""
