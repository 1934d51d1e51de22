"""Which upstreams serve which model, in which order: the providers file, the router and its fallback.

The file (``VIDGATE_PROVIDERS_FILE``, TOML; see ``providers.example.toml`` and ``docs/providers.md``)::

    [routes]
    sora2 = ["kie", "openai"]          # tried in this order

    [providers.kie]
    type = "kie"                       # apimall | kie | openai
    base_url = "https://api.kie.ai"
    api_key_env = "KIE_API_KEY"        # the NAME of an environment variable; the key itself never goes here

Credentials are read from the environment when the file is loaded; they are never stored in the
database, in task state or in logs.

:meth:`Router.submit` goes down the route: a provider whose circuit is open is skipped; a busy (429,
5xx, timeout) or rejecting (4xx) upstream counts a failure and the next one is tried; a moderation refusal
stops at once (451). When nobody takes the job it raises 503 and the caller charges nothing.
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Any

from vidgate.errors import ContentBlocked, InvalidRequest, UpstreamUnavailable
from vidgate.providers.base import Provider, ProviderError, Submitted, UpstreamBlocked
from vidgate.providers.health import CircuitBreaker
from vidgate.settings import Settings

log = logging.getLogger("vidgate.providers")

KINDS = ("apimall", "kie", "openai")


class ProvidersConfigError(ValueError):
    """The providers file is missing, malformed or names an unset environment variable."""


def _build(settings: Settings, name: str, cfg: dict[str, Any]) -> Provider:
    kind = cfg.get("type")
    if kind not in KINDS:
        raise ProvidersConfigError(f"providers.{name}.type must be one of {', '.join(KINDS)} (got {kind!r})")
    env = cfg.get("api_key_env")
    api_key = ""
    if env is not None:
        if not isinstance(env, str) or not env:
            raise ProvidersConfigError(f"providers.{name}.api_key_env must name an environment variable")
        api_key = os.environ.get(env, "")
        if not api_key:
            raise ProvidersConfigError(f"providers.{name}: environment variable {env} is not set")
    if "api_key" in cfg:
        raise ProvidersConfigError(f"providers.{name}: put the key in an environment variable (api_key_env)")
    watermark = cfg.get("watermark", "local")
    if watermark not in ("local", "upstream"):
        raise ProvidersConfigError(f"providers.{name}.watermark must be 'local' or 'upstream'")
    if kind == "apimall":
        from vidgate.providers.apimall import ApiMallProvider

        return ApiMallProvider(settings, name, cfg, api_key)
    if kind == "kie":
        from vidgate.providers.kie import KieProvider

        return KieProvider(settings, name, cfg, api_key)
    from vidgate.providers.openai import OpenAIProvider

    return OpenAIProvider(settings, name, cfg, api_key)


def parse_config(text: str) -> dict[str, Any]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProvidersConfigError(f"providers file is not valid TOML: {exc}") from None
    providers = doc.get("providers", {})
    routes = doc.get("routes", {})
    if not isinstance(providers, dict) or not all(isinstance(v, dict) for v in providers.values()):
        raise ProvidersConfigError("[providers.NAME] tables expected")
    if not isinstance(routes, dict):
        raise ProvidersConfigError("[routes] must map a model to a list of provider names")
    for model, names in routes.items():
        if model != "sora2":
            raise ProvidersConfigError(f"routes.{model}: only sora2 is routed to upstreams")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ProvidersConfigError(f"routes.{model} must be a list of provider names")
        for n in names:
            if n not in providers:
                raise ProvidersConfigError(f"routes.{model} names {n!r}, which has no [providers.{n}] table")
    return {"providers": providers, "routes": routes}


class Router:
    def __init__(self, settings: Settings, providers: dict[str, Provider], routes: dict[str, list[str]]) -> None:
        self.settings = settings
        self.providers = providers
        self.routes = routes
        self.breakers = {
            name: CircuitBreaker(settings.provider_failure_threshold, settings.provider_cooldown_seconds)
            for name in providers
        }

    @classmethod
    def from_file(cls, settings: Settings, path: Path) -> Router:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ProvidersConfigError(f"cannot read providers file {path}: {exc.strerror}") from None
        return cls.from_config(settings, parse_config(text))

    @classmethod
    def from_config(cls, settings: Settings, config: dict[str, Any]) -> Router:
        providers: dict[str, Provider] = {}
        for name, cfg in config["providers"].items():
            providers[name] = _build(settings, name, cfg)
        return cls(settings, providers, {m: list(v) for m, v in config["routes"].items()})

    def get(self, name: str | None) -> Provider | None:
        return self.providers.get(name or "")

    def candidates(self, model: str, params: dict[str, Any]) -> list[Provider]:
        """The route's providers that can express this request; 400/503 when there are none."""
        route = [self.providers[n] for n in self.routes.get(model, [])]
        if not route:
            raise UpstreamUnavailable(
                f"No upstream provider is configured for {model} on this gateway", code="no_upstream_configured"
            )
        ok: list[Provider] = []
        reasons: list[tuple[str, str]] = []
        for p in route:
            why = p.unsupported(params)
            if why is None:
                ok.append(p)
            else:
                reasons.append(why)
        if not ok:
            field = reasons[0][0]
            raise InvalidRequest(
                "No configured upstream can take this request: " + "; ".join(r for _, r in reasons), field=field
            )
        return ok

    async def submit(
        self, model: str, params: dict[str, Any], *, idempotency_key: str
    ) -> tuple[Provider, Submitted]:
        problems: list[str] = []
        waits: list[float] = []
        for p in self.candidates(model, params):
            breaker = self.breakers[p.name]
            if not breaker.allow():
                problems.append(f"{p.name}: temporarily skipped after repeated failures")
                waits.append(breaker.retry_in())
                continue
            settled = False
            try:
                submitted = await p.submit(params, idempotency_key=idempotency_key)
                breaker.success()
                settled = True
                log.info("task %s submitted to %s as %s", idempotency_key, p.name, submitted.job_id)
                return p, submitted
            except UpstreamBlocked as exc:
                breaker.release()
                settled = True
                raise ContentBlocked(f"Prompt blocked by content moderation ({p.name}): {exc.message}") from None
            except ProviderError as exc:
                if exc.counts_against_health:
                    breaker.failure()
                else:
                    breaker.release()
                settled = True
                log.warning("submit to %s failed: %s", p.name, exc.message)
                problems.append(exc.message)
                if exc.retry_after:
                    waits.append(exc.retry_after)
            except Exception:
                breaker.failure()
                settled = True
                log.exception("submit to %s crashed", p.name)
                problems.append(f"{p.name}: internal error")
            finally:
                if not settled:  # cancelled (client went away): don't leave a half-open trial hanging
                    breaker.release()
        headers = {"Retry-After": str(max(1, int(min(waits) + 0.999)))} if waits else {}
        raise UpstreamUnavailable(
            "No upstream provider could take the job right now; nothing was charged. " + "; ".join(problems),
            headers=headers,
        )

    def health(self) -> dict[str, dict[str, Any]]:
        return {n: {"state": b.state, "failures": b.failures} for n, b in self.breakers.items()}

    async def aclose(self) -> None:
        for p in self.providers.values():
            try:
                await p.aclose()
            except Exception:  # pragma: no cover - closing is best effort
                log.exception("closing provider %s failed", p.name)


def load_router(settings: Settings) -> Router | None:
    """The router for ``settings.providers_file``; None when no file is configured."""
    if settings.providers_file is None:
        return None
    return Router.from_file(settings, settings.providers_file)
