"""Framework-free core: signing, retry schedule, SSRF guard, secret box, matching index, pacing."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import random
import time

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from gateway.core.matching import MatchIndex, Subscription
from gateway.core.policy import RetrySchedule, parse_duration, parse_retry_after
from gateway.core.secretbox import SecretBox, SecretUnreadable
from gateway.core.signing import generate_secret, sign_blue, sign_github, sign_standard, signing_key, verify_blue
from gateway.core.ssrf import TargetRefused, check_url, is_forbidden_address
from gateway.delivery.engine import signature_headers
from gateway.delivery.ratelimit import UrlPacer

BODY = b'{"event":"TODO_CREATED","currentValue":{"title":"caf\xc3\xa9"}}'


def test_generated_secret_is_whsec_of_32_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert generate_secret() != secret


def test_blue_signature_is_hex_hmac_of_raw_body() -> None:
    expected = hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    assert sign_blue("s3cret", BODY) == expected
    assert sign_github("s3cret", BODY) == "sha256=" + expected
    assert verify_blue("s3cret", BODY, expected.upper())
    assert not verify_blue("s3cret", BODY + b" ", expected)
    assert not verify_blue("s3cret", BODY, None)


@pytest.mark.parametrize("secret", [generate_secret(), "plain-text-secret"])
def test_standard_signature_verifies_with_the_standardwebhooks_package(secret: str) -> None:
    ts = int(time.time())
    headers = signature_headers(["standard"], [secret], "msg_1", ts, BODY)
    if secret.startswith("whsec_"):
        StandardWebhook(secret).verify(BODY, headers)
    else:
        StandardWebhook(base64.b64encode(secret.encode()).decode()).verify(BODY, headers)
    assert signing_key(secret) == (
        base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    )
    assert sign_standard(secret, "msg_1", ts, BODY) == headers["webhook-signature"]


def test_signature_headers_follow_the_chosen_schemes() -> None:
    assert signature_headers(["blue", "standard", "github"], [], "m", 1, BODY) == {}
    both = signature_headers(["standard"], ["whsec_" + "A" * 43 + "=", "old-secret"], "m", 1, BODY)
    assert len(both["webhook-signature"].split(" ")) == 2
    only_blue = signature_headers(["blue"], ["k"], "m", 1, BODY)
    assert set(only_blue) == {"X-Signature"}


def test_schedule_parses_and_jitters_within_twenty_percent() -> None:
    schedule = RetrySchedule.parse("0,5s,5m,30m,2h,5h,10h,10h")
    assert schedule.delays == [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    assert schedule.max_attempts == 8
    rng = random.Random(7)
    for n in range(1, 8):
        delay = schedule.delay_after(n, rng)
        assert delay is not None
        assert 0.8 * schedule.delays[n] <= delay <= 1.2 * schedule.delays[n]
    assert schedule.delay_after(8) is None
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1d") == 86400
    with pytest.raises(ValueError, match="duration"):
        parse_duration("soon")


def test_retry_after_takes_seconds_or_a_date_and_is_capped() -> None:
    assert parse_retry_after("2") == 2
    assert parse_retry_after("99999") == 3600
    now = time.time()
    date = email.utils.formatdate(now + 120, usegmt=True)
    assert 115 <= (parse_retry_after(date, now=now) or 0) <= 121
    assert parse_retry_after("tomorrow-ish") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("::1", True),
        ("fc00::1", True),
        ("fe80::1", True),
        ("::ffff:10.0.0.1", True),
        ("224.0.0.1", True),
        ("0.0.0.0", True),
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("not-an-ip", True),
    ],
)
def test_forbidden_addresses(address: str, forbidden: bool) -> None:
    assert is_forbidden_address(address) is forbidden


def test_url_checks() -> None:
    assert check_url("https://hooks.zapier.com/hooks/catch/1/abc/", allow_private=False) == "hooks.zapier.com"
    for url in [
        "ftp://x.com/",
        "http:///nohost",
        "http://user:pw@x.com/",
        "http://localhost/",
        "http://x.localhost/",
        "http://127.0.0.1/",
        "http://[::1]/",
    ]:
        with pytest.raises(TargetRefused):
            check_url(url, allow_private=False)
    assert check_url("http://127.0.0.1:9000/", allow_private=True) == "127.0.0.1"


def test_secret_box_round_trip_and_wrong_key() -> None:
    box = SecretBox("key-one")
    blob = box.encrypt("whsec_abc")
    assert b"whsec_abc" not in blob
    assert box.encrypt("whsec_abc") != blob
    assert box.decrypt(blob) == "whsec_abc"
    with pytest.raises(SecretUnreadable, match="BLUE_GATEWAY_SECRET_KEY"):
        SecretBox("key-two").decrypt(blob)
    with pytest.raises(SecretUnreadable):
        box.decrypt(b"garbage")


def test_match_index_uses_event_type_and_projects() -> None:
    index = MatchIndex()
    index.put(Subscription("w1", "acme", frozenset({"TODO_CREATED"})))
    index.put(Subscription("w2", "acme", frozenset(), frozenset({"p1"})))
    index.put(Subscription("w3", "other", frozenset()))
    ids = lambda *a: [s.webhook_id for s in index.match(*a, {})]  # noqa: E731
    assert ids("acme", "TODO_CREATED", "p1") == ["w1", "w2"]
    assert ids("acme", "TODO_CREATED", "p2") == ["w1"]
    assert ids("acme", "UNKNOWN_EVENT", "p1") == ["w2"]
    assert ids("nobody", "TODO_CREATED", None) == []
    index.put(Subscription("w1", "acme", frozenset({"TAG_CREATED"})))
    assert ids("acme", "TODO_CREATED", "p2") == []
    index.remove("w2")
    assert ids("acme", "UNKNOWN_EVENT", "p1") == []
    assert len(index) == 2


def test_pacer_keeps_thirty_requests_per_second_per_url() -> None:
    pacer = UrlPacer()
    waits = [pacer.reserve("https://hooks.zapier.com/a", 30, now=100.0) for _ in range(31)]
    assert waits[0] == 0
    assert waits[30] == pytest.approx(1.0)
    assert pacer.reserve("https://hooks.zapier.com/b", 30, now=100.0) == 0


def test_jsonpath_refuses_regexes_and_huge_paths_for_filters_and_templates() -> None:
    from gateway.core.filters import FilterError, compile_filter
    from gateway.core.templating import TemplateError, compile_template

    regex_path = "$.currentValue.todoTags[?(@.tag.title =~ '(a+)+$')]"
    with pytest.raises(FilterError, match="not allowed"):
        compile_filter({"path": regex_path, "op": "exists"})
    with pytest.raises(FilterError, match="longer than"):
        compile_filter({"path": "$" + ".a" * 600, "op": "exists"})
    with pytest.raises(TemplateError, match="not allowed"):
        compile_template({"fields": {"x": regex_path}})


def test_a_public_url_must_be_an_http_address() -> None:
    from gateway.settings import Settings, SettingsError

    assert Settings.from_env({"BLUE_GATEWAY_PUBLIC_URL": "https://hooks.example.com/"}).base_url == (
        "https://hooks.example.com"
    )
    assert Settings.from_env({"BLUE_GATEWAY_HOST": "10.0.0.2", "BLUE_GATEWAY_PORT": "9000"}).base_url == (
        "http://10.0.0.2:9000"
    )
    for bad in ("hooks.example.com", "ftp://x", "https://a b"):
        with pytest.raises(SettingsError, match="PUBLIC_URL"):
            Settings.from_env({"BLUE_GATEWAY_PUBLIC_URL": bad})
