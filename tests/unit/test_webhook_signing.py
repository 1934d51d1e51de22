"""Standard Webhooks signing: our verify() against our signer, known vectors, and the documented Node recipe."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from vidgate.http_headers import parse_retry_after
from vidgate.webhooks import WebhookVerificationError, signature_headers, verify
from vidgate.webhooks.signing import new_secret

DOCS = Path(__file__).parents[2] / "docs" / "webhooks.md"
BODY = b'{"success":true,"data":{"task_id":"vid_1","status":"completed"},"request_id":"req_1"}'


def test_signature_matches_the_standard_webhooks_formula() -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    h = signature_headers([secret], "msg_1", BODY, timestamp=1700000000)
    expected = base64.b64encode(
        hmac.new(b"0123456789abcdef0123456789abcdef", b"msg_1.1700000000." + BODY, hashlib.sha256).digest()
    ).decode()
    assert h == {"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": f"v1,{expected}"}


def test_verify_accepts_good_and_rejects_bad() -> None:
    secret = new_secret()
    h = signature_headers([secret], "msg_2", BODY)
    assert verify(BODY, h, secret)["data"]["task_id"] == "vid_1"
    assert verify(BODY.decode(), {k.upper(): v for k, v in h.items()}, secret)["success"] is True
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(BODY.replace(b"completed", b"failed"), h, secret)
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(BODY, h, new_secret())
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(BODY, {"webhook-id": "x"}, secret)
    old = signature_headers([secret], "msg_3", BODY, timestamp=int(time.time()) - 600)
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify(BODY, old, secret)
    assert verify(BODY, old, secret, tolerance=900)


def test_rotation_sends_both_signatures_and_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    h = signature_headers([new, old], "msg_4", BODY)
    assert len(h["webhook-signature"].split(" ")) == 2
    assert verify(BODY, h, old) and verify(BODY, h, new)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(1_000_030))
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30, abs=1)


def _js_recipe() -> str:
    blocks = re.findall(r"```js\n(.*?)```", DOCS.read_text(), re.S)
    assert blocks, "docs/webhooks.md has no ```js block"
    return blocks[0]


@pytest.mark.parametrize("tamper", [False, True])
def test_documented_node_recipe_verifies_our_signature(tmp_path: Path, tamper: bool) -> None:
    node = shutil.which("node")
    if node is None:
        from servers import skip_or_fail

        skip_or_fail("node not installed")
    old, new = new_secret(), new_secret()
    headers = signature_headers([new, old], "msg_js", BODY)  # a rotation: the receiver knows only the old one
    body = BODY.replace(b"vid_1", b"vid_2") if tamper else BODY
    script = tmp_path / "verify.js"
    script.write_text(
        _js_recipe()
        + "\nconst input = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        + "try { const ev = verifyWebhook(Buffer.from(input.body, 'utf8'), input.headers, input.secret);\n"
        + "  console.log('OK ' + ev.data.task_id); } catch (e) { console.log('REJECTED ' + e.message); }\n"
    )
    out = subprocess.run(
        [node, str(script)],
        input=json.dumps({"body": body.decode(), "headers": headers, "secret": old}),
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()
    assert out == ("REJECTED no matching webhook signature" if tamper else "OK vid_1"), out
