"""Field mapping per provider, the providers file, routing decisions and the circuit breaker (no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vidgate.errors import InvalidRequest, UpstreamUnavailable
from vidgate.providers.base import UpstreamBlocked, UpstreamBusy, UpstreamRejected, looks_blocked
from vidgate.providers.health import CircuitBreaker
from vidgate.providers.kie import _result_urls, classify
from vidgate.providers.routing import ProvidersConfigError, Router, parse_config
from vidgate.settings import Settings

T2V = {
    "type": "text-to-video", "prompt": "a kite", "image_urls": [], "aspect_ratio": "portrait", "n_frames": "15",
    "remove_watermark": True, "upload_method": None,
}
I2V = {**T2V, "type": "image-to-video", "image_urls": ["https://img.example/a.png"], "aspect_ratio": "landscape",
       "n_frames": "10", "remove_watermark": False}

CONFIG = """
[routes]
sora2 = ["kie", "mall", "oai"]

[providers.kie]
type = "kie"
base_url = "https://kie.example"
api_key_env = "T_KIE_KEY"

[providers.mall]
type = "apimall"
base_url = "https://mall.example"
api_key_env = "T_MALL_KEY"
watermark = "upstream"

[providers.oai]
type = "openai"
base_url = "https://oai.example/v1"
api_key_env = "T_OAI_KEY"
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "d")


@pytest.fixture
def router(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Router:
    for k in ("T_KIE_KEY", "T_MALL_KEY", "T_OAI_KEY"):
        monkeypatch.setenv(k, "secret-" + k)
    return Router.from_config(settings, parse_config(CONFIG))


def test_kie_text_and_image_to_video(router: Router) -> None:
    kie: Any = router.get("kie")
    body = kie.request_body(T2V)
    assert body == {
        "model": "sora-2-text-to-video",
        "input": {"prompt": "a kite", "aspect_ratio": "portrait", "n_frames": "15", "remove_watermark": False},
    }  # watermark = "local" (default): our engine removes it, the upstream is not asked to
    body = kie.request_body(I2V)
    assert body["model"] == "sora-2-image-to-video"
    assert body["input"]["image_urls"] == ["https://img.example/a.png"]
    assert body["input"]["aspect_ratio"] == "landscape" and body["input"]["n_frames"] == "10"


def test_apimall_passes_fields_through(router: Router) -> None:
    mall: Any = router.get("mall")
    body = mall.request_body(T2V)
    assert body == {
        "model": "sora2", "type": "text-to-video", "prompt": "a kite", "aspect_ratio": "portrait",
        "n_frames": "15", "remove_watermark": True,  # watermark = "upstream"
    }
    assert mall.request_body(I2V)["image_urls"] == ["https://img.example/a.png"]


def test_openai_size_seconds_and_input_reference(router: Router) -> None:
    oai: Any = router.get("oai")
    assert oai.request_args(T2V) == {"prompt": "a kite", "model": "sora-2", "seconds": "12", "size": "720x1280"}
    args = oai.request_args(I2V)
    assert args["size"] == "1280x720" and args["seconds"] == "12"
    assert args["input_reference"] == {"image_url": "https://img.example/a.png"}
    assert oai.unsupported(I2V) is None
    two = {**I2V, "image_urls": ["https://img.example/a.png", "https://img.example/b.png"]}
    assert oai.unsupported(two)[0] == "image_urls"
    assert router.get("kie").unsupported(two) is None


def test_openai_configurable_maps(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_OAI_KEY", "x")
    cfg = parse_config(
        '[routes]\nsora2 = ["oai"]\n[providers.oai]\ntype = "openai"\napi_key_env = "T_OAI_KEY"\n'
        'model = "sora-2-pro"\nimages = false\n'
        '[providers.oai.seconds_map]\n"10" = "8"\n"15" = ""\n[providers.oai.sizes]\nlandscape = "1792x1024"\n'
    )
    router = Router.from_config(settings, cfg)
    oai: Any = router.get("oai")
    assert oai.request_args({**I2V, "image_urls": []}) == {
        "prompt": "a kite", "model": "sora-2-pro", "seconds": "8", "size": "1792x1024",
    }
    # nobody can express these: 400 naming the field
    with pytest.raises(InvalidRequest) as e:
        router.candidates("sora2", I2V)
    assert e.value.field == "image_urls" and "reference images" in e.value.message
    with pytest.raises(InvalidRequest) as e:
        router.candidates("sora2", T2V)
    assert e.value.field == "n_frames"


def test_candidates_skip_what_a_provider_cannot_express(router: Router) -> None:
    two = {**I2V, "image_urls": ["https://a.example/1.png", "https://a.example/2.png"]}
    assert [p.name for p in router.candidates("sora2", two)] == ["kie", "mall"]
    assert [p.name for p in router.candidates("sora2", T2V)] == ["kie", "mall", "oai"]
    empty = Router(router.settings, router.providers, {})
    with pytest.raises(UpstreamUnavailable) as e:
        empty.candidates("sora2", T2V)
    assert e.value.code == "no_upstream_configured"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[routes]\nsora2 = ['x']\n", "no [providers.x] table"),
        ("[providers.a]\ntype = 'nope'\n", "type must be one of"),
        ("[providers.a]\ntype = 'kie'\napi_key = 'sk-123'\n", "api_key_env"),
        ("[providers.a]\ntype = 'kie'\napi_key_env = 'T_UNSET_VARIABLE_XYZ'\n", "T_UNSET_VARIABLE_XYZ is not set"),
        ("[providers.a]\ntype = 'kie'\nwatermark = 'maybe'\n", "watermark"),
        ("[routes]\nveo = []\n", "only sora2"),
        ("not = [toml", "not valid TOML"),
    ],
)
def test_config_errors(settings: Settings, text: str, message: str) -> None:
    with pytest.raises(ProvidersConfigError) as e:
        Router.from_config(settings, parse_config(text))
    assert message in str(e.value)


def test_secret_never_in_config_error(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_KIE_KEY", "super-secret-value")
    router = Router.from_config(settings, parse_config('[providers.a]\ntype="kie"\napi_key_env="T_KIE_KEY"\n'))
    assert "super-secret-value" not in repr(router.health())


def test_kie_codes_and_result_json() -> None:
    assert isinstance(classify(429, "slow down"), UpstreamBusy)
    assert isinstance(classify(455, "maintenance"), UpstreamBusy)
    assert isinstance(classify(500, "server"), UpstreamBusy)
    e = classify(402, "Insufficient credits")
    assert isinstance(e, UpstreamRejected) and e.counts_against_health
    e = classify(422, "n_frames invalid")
    assert isinstance(e, UpstreamRejected) and not e.counts_against_health
    assert isinstance(classify(422, "Your prompt violates our content policy"), UpstreamBlocked)
    assert isinstance(classify(505, "feature disabled"), UpstreamRejected)
    assert _result_urls('{"resultUrls": ["https://x/1.mp4"]}') == ["https://x/1.mp4"]
    assert _result_urls({"resultUrls": ["https://x/2.mp4"]}) == ["https://x/2.mp4"]
    assert _result_urls("not json") == [] and _result_urls(None) == []
    assert looks_blocked("Content moderation refused the prompt") and not looks_blocked("timeout", None)


def test_circuit_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    b = CircuitBreaker(threshold=3, cooldown=10, clock=lambda: now[0])
    assert b.state == "closed" and b.allow()
    b.failure()
    b.failure()
    assert b.state == "closed" and b.allow()
    b.success()  # consecutive failures only
    for _ in range(3):
        b.failure()
    assert b.state == "open" and not b.allow()
    assert b.retry_in() == 10
    now[0] = 9.9
    assert not b.allow()
    now[0] = 10.0
    assert b.allow()  # the one trial
    assert not b.allow()  # a second caller waits while the trial is out
    b.failure()  # trial failed: open again for a full cool-down
    assert b.state == "open" and not b.allow()
    now[0] = 20.0
    assert b.allow()
    b.success()
    assert b.state == "closed" and b.allow() and b.failures == 0
    # a trial that says nothing about health (422) frees the slot without closing or re-opening
    for _ in range(3):
        b.failure()
    now[0] = 40.0
    assert b.allow()
    b.release()
    assert b.allow()
