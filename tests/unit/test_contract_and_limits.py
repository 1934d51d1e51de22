"""Pure rules: request parsing, pricing, the rate limiter, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidgate.clock import iso
from vidgate.contract import parse_create
from vidgate.domain.limits import RateLimiter
from vidgate.errors import InvalidRequest, RateLimited
from vidgate.settings import Settings

S = Settings()


def test_both_request_shapes_parse_the_same() -> None:
    top = parse_create({"model": "sora2", "prompt": "p", "n_frames": "15", "aspect_ratio": "portrait"}, S)
    nested = parse_create(
        {
            "model": "sora2",
            "callBackUrl": "https://example.com/cb",
            "input": {"prompt": "p", "n_frames": "15", "aspect_ratio": "portrait"},
        },
        S,
    )
    assert top.params == nested.params
    assert nested.callback_url == "https://example.com/cb"
    assert top.params == {
        "type": "text-to-video",
        "prompt": "p",
        "image_urls": [],
        "aspect_ratio": "portrait",
        "n_frames": "15",
        "remove_watermark": False,
        "upload_method": None,
    }


def test_defaults_and_unknown_fields_ignored() -> None:
    r = parse_create({"model": "sora2", "prompt": "p", "whatever": {"x": 1}}, S)
    assert r.params["aspect_ratio"] == "landscape" and r.params["n_frames"] == "10"
    w = parse_create({"model": "sora-watermark-remover", "input": {"video_url": "https://sora.chatgpt.com/p/s_1"}}, S)
    assert w.params == {"type": "video-to-video", "video_url": "https://sora.chatgpt.com/p/s_1", "upload_method": None}


def test_integer_n_frames_accepted() -> None:
    assert parse_create({"model": "sora2", "prompt": "p", "n_frames": 15}, S).params["n_frames"] == "15"
    with pytest.raises(InvalidRequest):
        parse_create({"model": "sora2", "prompt": "p", "n_frames": True}, S)


def test_fingerprint_ignores_key_order() -> None:
    a = parse_create({"model": "sora2", "prompt": "p", "n_frames": "10"}, S)
    b = parse_create({"n_frames": "10", "prompt": "p", "model": "sora2"}, S)
    c = parse_create({"n_frames": "15", "prompt": "p", "model": "sora2"}, S)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.text(max_size=5), max_size=3)),
    )
)
def test_parser_never_crashes(body: dict) -> None:
    body = {"model": "sora2", **body}
    try:
        parse_create(body, S)
    except InvalidRequest as exc:
        assert exc.status_code == 400 and exc.message


def test_prices() -> None:
    s = Settings(prices={"sora2": {"10": 30, "15": 45}, "sora-watermark-remover": 12})
    assert s.price_for("sora2", {"n_frames": "15"}) == 45
    assert s.price_for("sora-watermark-remover", {}) == 12
    assert Settings().price_for("sora2", {"n_frames": "10"}) == 30


def test_rate_limiter_refills() -> None:
    rl = RateLimiter()
    for _ in range(3):
        rl.hit("k", 3, now=100.0)
    with pytest.raises(RateLimited) as exc:
        rl.hit("k", 3, now=100.0)
    assert exc.value.headers["Retry-After"] == "20"
    rl.hit("k", 3, now=120.5)  # one token back after 20 s
    rl.hit("other", 3, now=100.0)  # keys are independent


def test_iso_timestamps() -> None:
    assert iso(datetime(2026, 3, 12, 9, 35, 0, 123456, tzinfo=UTC)) == "2026-03-12T09:35:00.123Z"
    assert iso(None) is None
