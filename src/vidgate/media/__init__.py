"""Fetching remote media safely: the SSRF guard, the video fetcher and the Sora share-link resolver."""
