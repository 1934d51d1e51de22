"""Result storage: where finished videos live and how clients fetch them.

:mod:`vidgate.storage.local` keeps results under the data dir and serves them at signed, expiring
``/files/{key}`` URLs that honour HTTP Range requests (so a browser ``<video>`` can seek).
"""
