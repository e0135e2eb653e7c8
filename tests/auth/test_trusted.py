"""Trusted issuers (contract section 8) against a real JWKS endpoint on 127.0.0.1.

Every token here is made the way an app backend (or a forger) makes one;
every key set travels over a real socket from :class:`JwksServer`.
"""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from typing import Any, AsyncIterator, Callable

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from kallemny_sio.auth.trusted import MAX_JWKS_BYTES, ExternalIdentity, TrustedIssuer
from tests.support.jwks_server import (
    JwksServer,
    SigningKey,
    claims_for,
    ec_key,
    forge,
    rsa_key,
    sign,
    sign_hs256,
)

pytestmark = pytest.mark.timeout(30)

ISSUER = "https://app.example"
SECRET = "app-backend-shared-secret-" + "k" * 20
TIMEOUT = 0.5  # the issuer's JWKS timeout in these tests
SLACK = 0.75  # what a loaded CI machine may add to it

MakeIssuer = Callable[..., TrustedIssuer]


@pytest.fixture
def rsa() -> SigningKey:
    return rsa_key("rsa-1")


@pytest.fixture
def ecdsa() -> SigningKey:
    return ec_key("ec-1")


@pytest.fixture
async def jwks(rsa: SigningKey, ecdsa: SigningKey) -> AsyncIterator[JwksServer]:
    server = await JwksServer().start()
    server.add_key(rsa)
    server.add_key(ecdsa)
    yield server
    await server.close()


@pytest.fixture
async def make_issuer() -> AsyncIterator[MakeIssuer]:
    made: list[TrustedIssuer] = []

    def make(**kwargs: Any) -> TrustedIssuer:
        kwargs.setdefault("jwks_timeout_seconds", TIMEOUT)
        made.append(TrustedIssuer(kwargs.pop("issuer", ISSUER), **kwargs))
        return made[-1]

    yield make
    for issuer in made:
        await issuer.close()


@pytest.fixture
def keyed(jwks: JwksServer, make_issuer: MakeIssuer) -> TrustedIssuer:
    """An issuer verifying RS256 / ES256 with the fixture server's keys."""
    return make_issuer(jwks_url=jwks.url)


@pytest.fixture
def shared(make_issuer: MakeIssuer) -> TrustedIssuer:
    """An issuer verifying HS256 with a shared secret."""
    return make_issuer(secret=SECRET)


async def _timed(awaitable: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = await awaitable
    return result, time.monotonic() - started


# --- valid tokens -------------------------------------------------------------------------------


async def test_hs256_token_gives_the_identity(shared: TrustedIssuer):
    claims = claims_for(ISSUER, "app-user-42", name="Ada Lovelace", jti="t-1")
    identity = await shared.verify(sign_hs256(claims, SECRET))
    assert identity == ExternalIdentity("app-user-42", "Ada Lovelace", "t-1", claims["exp"] * 1000, claims["iat"] * 1000)


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
async def test_rs256_and_es256_tokens_give_the_identity(kind, request, keyed: TrustedIssuer):
    key: SigningKey = request.getfixturevalue(kind)
    claims = claims_for(ISSUER, "u-" + kind)
    identity = await keyed.verify(sign(claims, key))
    assert identity == ExternalIdentity("u-" + kind, None, None, claims["exp"] * 1000, claims["iat"] * 1000)


async def test_key_set_is_cached(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey, ecdsa: SigningKey):
    for _ in range(3):
        assert await keyed.verify(sign(claims_for(ISSUER), rsa)) is not None
        assert await keyed.verify(sign(claims_for(ISSUER), ecdsa)) is not None
    assert jwks.fetches == 1


async def test_concurrent_first_verifies_share_one_fetch(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey):
    results = await asyncio.gather(*(keyed.verify(sign(claims_for(ISSUER, f"u{i}"), rsa)) for i in range(30)))
    assert [r.external_id for r in results] == [f"u{i}" for i in range(30)]
    assert jwks.fetches == 1


async def test_token_without_kid_uses_the_only_key(jwks: JwksServer, make_issuer: MakeIssuer, rsa: SigningKey):
    jwks.remove_key("ec-1")
    issuer = make_issuer(jwks_url=jwks.url)
    assert await issuer.verify(sign(claims_for(ISSUER), rsa, kid=None)) is not None


async def test_token_without_kid_is_refused_when_several_keys_could_sign(keyed: TrustedIssuer, rsa: SigningKey):
    assert await keyed.verify(sign(claims_for(ISSUER), rsa, kid=None)) is None


@pytest.mark.parametrize("name, expected", [
    ("  Ada  ", "Ada"),
    ("x" * 100, "x" * 64),
    ("", None),
    ("   ", None),
    (42, None),
    (["Ada"], None),
])
async def test_name_claim(shared: TrustedIssuer, name, expected):
    identity = await shared.verify(sign_hs256(claims_for(ISSUER, name=name), SECRET))
    assert identity is not None and identity.name == expected


async def test_non_string_jti_is_refused(shared: TrustedIssuer):
    # PyJWT checks that a jti is a string; a token with "jti": 7 is not well made
    assert await shared.verify(sign_hs256(claims_for(ISSUER, jti=7), SECRET)) is None


async def test_sub_of_128_characters_is_accepted(shared: TrustedIssuer):
    identity = await shared.verify(sign_hs256(claims_for(ISSUER, "s" * 128), SECRET))
    assert identity is not None and identity.external_id == "s" * 128


# --- claims that make a token invalid, for each kind of key -------------------------------------

BAD_CLAIMS = [
    ("expired", dict(lifetime_seconds=-120)),
    ("no-exp", dict(exp=None)),
    ("exp-a-string", dict(exp="9999999999")),
    ("no-sub", dict(sub=None)),
    ("empty-sub", dict(sub="")),
    ("sub-129-characters", dict(sub="s" * 129)),
    ("sub-a-number", dict(sub=42)),
    ("no-iss", dict(iss=None)),
    ("other-iss", dict(iss="https://other.example")),
    ("not-yet-valid", dict(nbf=int(time.time()) + 3600)),
]


def _bad_claims(changes: dict[str, Any]) -> dict[str, Any]:
    changes = dict(changes)
    lifetime = changes.pop("lifetime_seconds", 300)
    claims = claims_for(ISSUER, lifetime_seconds=lifetime)
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize("changes", [pytest.param(c, id=i) for i, c in BAD_CLAIMS])
async def test_bad_claims_are_refused_hs256(shared: TrustedIssuer, changes):
    assert await shared.verify(sign_hs256(_bad_claims(changes), SECRET)) is None


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
@pytest.mark.parametrize("changes", [pytest.param(c, id=i) for i, c in BAD_CLAIMS])
async def test_bad_claims_are_refused_with_jwks(keyed: TrustedIssuer, request, kind, changes):
    key: SigningKey = request.getfixturevalue(kind)
    assert await keyed.verify(sign(_bad_claims(changes), key)) is None


@pytest.mark.parametrize("aud, accepted", [
    ("chat.example", True),
    (["other", "chat.example"], True),
    ("other.example", False),
    (None, False),
])
async def test_audience_is_checked_when_set(jwks: JwksServer, make_issuer: MakeIssuer, rsa: SigningKey, aud, accepted):
    hs = make_issuer(secret=SECRET, audience="chat.example")
    keyed = make_issuer(jwks_url=jwks.url, audience="chat.example")
    claims = claims_for(ISSUER, aud=aud)
    assert (await hs.verify(sign_hs256(claims, SECRET)) is not None) is accepted
    assert (await keyed.verify(sign(claims, rsa)) is not None) is accepted


# --- algorithms and keys ------------------------------------------------------------------------


async def test_wrong_secret_is_refused(shared: TrustedIssuer):
    assert await shared.verify(sign_hs256(claims_for(ISSUER), "another-secret-" + "z" * 30)) is None


async def test_hs256_issuer_refuses_other_algorithms(shared: TrustedIssuer, rsa: SigningKey):
    with warnings.catch_warnings():  # PyJWT warns that the secret is short for HS512; a forger would not care
        warnings.simplefilter("ignore")
        assert await shared.verify(jwt.encode(claims_for(ISSUER), SECRET, algorithm="HS512")) is None
    assert await shared.verify(sign(claims_for(ISSUER), rsa)) is None


async def test_alg_none_is_refused(shared: TrustedIssuer, keyed: TrustedIssuer, jwks: JwksServer):
    for alg in ("none", "None", "NONE"):
        token = forge({"alg": alg, "typ": "JWT", "kid": "rsa-1"}, claims_for(ISSUER))
        assert await shared.verify(token) is None
        assert await keyed.verify(token) is None
    assert jwks.fetches == 0, "a token with an algorithm no key allows should not cost a fetch"


async def test_token_signed_by_an_unpublished_key_under_a_published_kid(keyed: TrustedIssuer):
    assert await keyed.verify(sign(claims_for(ISSUER), rsa_key("x"), kid="rsa-1")) is None
    assert await keyed.verify(sign(claims_for(ISSUER), ec_key("x"), kid="ec-1")) is None


async def test_header_alg_must_match_the_key(keyed: TrustedIssuer, rsa: SigningKey, ecdsa: SigningKey):
    # an EC signature presented under the RSA key's kid, and the other way round
    assert await keyed.verify(sign(claims_for(ISSUER), ecdsa, kid="rsa-1")) is None
    assert await keyed.verify(sign(claims_for(ISSUER), rsa, kid="ec-1")) is None
    # the right key, another algorithm of its family
    assert await keyed.verify(sign(claims_for(ISSUER), rsa, algorithm="RS512")) is None
    assert await keyed.verify(sign(claims_for(ISSUER), rsa, algorithm="PS256")) is None


async def test_key_confusion_hs256_with_the_public_key_is_refused(keyed: TrustedIssuer, rsa: SigningKey, ecdsa: SigningKey):
    for key in (rsa, ecdsa):
        for secret in (key.public_pem(), json.dumps(key.public_jwk()).encode()):
            token = forge({"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims_for(ISSUER), hmac_secret=secret)
            assert await keyed.verify(token) is None


async def test_symmetric_key_in_the_jwks_is_never_used(jwks: JwksServer, make_issuer: MakeIssuer):
    jwks.jwks.append({"kty": "oct", "kid": "oct-1", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"})
    issuer = make_issuer(jwks_url=jwks.url)
    token = forge({"alg": "HS256", "kid": "oct-1"}, claims_for(ISSUER), hmac_secret=b"secret-secret-secret-secret-secret")
    assert await issuer.verify(token) is None


@pytest.mark.parametrize("bad_key, fields, algorithm", [
    pytest.param(lambda: rsa_key("weak", bits=1024), {}, "RS256", id="rsa-1024-bits"),
    pytest.param(lambda: ec_key("weak", ec.SECP384R1()), {"alg": "ES384"}, "ES384", id="ec-p384"),
    pytest.param(lambda: ec_key("weak", ec.SECP384R1()), {"alg": "ES256"}, "ES384", id="ec-p384-claiming-es256"),
    pytest.param(lambda: rsa_key("weak"), {"use": "enc"}, "RS256", id="encryption-key"),
    pytest.param(lambda: rsa_key("weak"), {"alg": "RS512"}, "RS512", id="rsa-key-for-rs512"),
])
async def test_unusable_published_keys_are_skipped(jwks: JwksServer, make_issuer: MakeIssuer, rsa: SigningKey,
                                                   bad_key, fields, algorithm):
    key = bad_key()
    jwks.add_key(key, **fields)
    issuer = make_issuer(jwks_url=jwks.url)
    with warnings.catch_warnings():  # PyJWT warns when it signs with a 1024-bit key
        warnings.simplefilter("ignore")
        token = sign(claims_for(ISSUER), key, algorithm=algorithm)
    assert await issuer.verify(token) is None
    assert await issuer.verify(sign(claims_for(ISSUER), rsa)) is not None, "the good keys beside it still work"


# --- rotation and refetching --------------------------------------------------------------------


async def test_rotation_a_new_kid_is_fetched(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey):
    assert await keyed.verify(sign(claims_for(ISSUER), rsa)) is not None
    new = jwks.add_key(rsa_key("rsa-2"))
    jwks.remove_key("rsa-1")
    assert await keyed.verify(sign(claims_for(ISSUER), new)) is not None
    assert jwks.fetches == 2
    newer = jwks.add_key(ec_key("ec-2"))
    assert await keyed.verify(sign(claims_for(ISSUER), newer)) is None, "a second unknown kid within the interval waits"
    assert jwks.fetches == 2


async def test_unknown_kids_refetch_at_most_once_per_interval(jwks: JwksServer, make_issuer: MakeIssuer, rsa: SigningKey):
    interval = 0.4
    issuer = make_issuer(jwks_url=jwks.url, unknown_kid_refetch_seconds=interval)
    assert await issuer.verify(sign(claims_for(ISSUER), rsa)) is not None
    started = time.monotonic()
    forged = [sign(claims_for(ISSUER), rsa_key("r"), kid=f"random-{i}") for i in range(3)]
    for token in forged * 10:
        assert await issuer.verify(token) is None
    assert time.monotonic() - started < interval, "the machine was too slow for this test's interval"
    assert jwks.fetches == 2, "one load, then one refetch for all the unknown kids"
    await asyncio.sleep(interval)  # the interval itself is what is under test
    assert await issuer.verify(forged[0]) is None
    assert jwks.fetches == 3


async def test_concurrent_unknown_kids_share_one_refetch(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey):
    assert await keyed.verify(sign(claims_for(ISSUER), rsa)) is not None
    new = jwks.add_key(rsa_key("rsa-2"))
    results = await asyncio.gather(*(keyed.verify(sign(claims_for(ISSUER, f"u{i}"), new)) for i in range(20)))
    assert all(r is not None for r in results)
    assert jwks.fetches == 2


# --- the endpoint down, slow, or serving junk ---------------------------------------------------


async def test_endpoint_refusing_connections(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey):
    await jwks.stop()
    result, elapsed = await _timed(keyed.verify(sign(claims_for(ISSUER), rsa)))
    assert result is None and elapsed < TIMEOUT + SLACK


@pytest.mark.parametrize("status", [500, 503, 404, 301])
async def test_endpoint_answering_an_error(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey, status):
    jwks.fail_with(status)
    assert await keyed.verify(sign(claims_for(ISSUER), rsa)) is None
    assert jwks.fetches == 1


async def test_hanging_endpoint_gives_none_within_the_timeout(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey):
    jwks.hang()
    tokens = [sign(claims_for(ISSUER, f"u{i}"), rsa) for i in range(20)]
    results, elapsed = await _timed(asyncio.gather(*(keyed.verify(t) for t in tokens)))
    assert results == [None] * 20
    assert TIMEOUT * 0.8 <= elapsed < TIMEOUT + SLACK
    assert jwks.fetches == 1, "waiting verifiers share one fetch"


async def test_cached_keys_survive_an_outage(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey):
    assert await keyed.verify(sign(claims_for(ISSUER), rsa)) is not None
    jwks.hang()
    forged, elapsed = await _timed(keyed.verify(sign(claims_for(ISSUER), rsa_key("r"), kid="rsa-new")))
    assert forged is None and elapsed < TIMEOUT + SLACK
    valid, elapsed = await _timed(keyed.verify(sign(claims_for(ISSUER), rsa)))
    assert valid is not None and elapsed < TIMEOUT, "a known kid never waits for the endpoint"


async def test_endpoint_back_after_a_failed_first_load(jwks: JwksServer, make_issuer: MakeIssuer, rsa: SigningKey):
    issuer = make_issuer(jwks_url=jwks.url, unknown_kid_refetch_seconds=0.3)
    jwks.fail_with(500)
    token = sign(claims_for(ISSUER), rsa)
    assert await issuer.verify(token) is None
    assert await issuer.verify(token) is None
    assert jwks.fetches == 1, "a failed load is not retried at once"
    jwks.serve_keys()
    await asyncio.sleep(0.35)  # the retry delay itself is what is under test
    assert await issuer.verify(token) is not None
    assert jwks.fetches == 2


async def test_close_during_a_hanging_fetch(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey):
    jwks.hang()
    pending = asyncio.create_task(keyed.verify(sign(claims_for(ISSUER), rsa)))
    await jwks.wait_for_fetches(1)
    _, elapsed = await _timed(keyed.close())
    assert elapsed < TIMEOUT
    assert await asyncio.wait_for(pending, TIMEOUT + SLACK) is None
    assert await keyed.verify(sign(claims_for(ISSUER), rsa)) is None


MALFORMED = [
    ("not-json", b"<html>oops</html>"),
    ("empty", b""),
    ("json-list", b"[]"),
    ("keys-not-a-list", b'{"keys": {"kty": "RSA"}}'),
    ("no-keys", b'{"keys": []}'),
    ("key-without-numbers", b'{"keys": [{"kty": "RSA", "kid": "rsa-1"}]}'),
    ("key-with-junk-numbers", b'{"keys": [{"kty": "RSA", "kid": "rsa-1", "n": "!!", "e": 3}]}'),
    ("kid-not-a-string", b'{"keys": [{"kty": "EC", "crv": "P-256", "kid": 1, "x": "", "y": ""}]}'),
    ("deeply-nested", b"[" * 200_000 + b"]" * 200_000),
    ("not-utf8", b'{"keys": "\xff\xfe"}'),
]


@pytest.mark.parametrize("body", [pytest.param(b, id=i) for i, b in MALFORMED])
async def test_malformed_document_is_refused(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey, body):
    jwks.serve_body(body)
    assert await keyed.verify(sign(claims_for(ISSUER), rsa)) is None
    assert jwks.fetches == 1


def _padded_document(keys: list[dict[str, Any]], size: int) -> bytes:
    """A valid JWKS document of exactly ``size`` bytes (padding in an extra member)."""
    empty = json.dumps({"keys": keys, "padding": ""}).encode()
    return json.dumps({"keys": keys, "padding": "p" * (size - len(empty))}).encode()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_document_over_one_mib_is_refused(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey, chunked):
    body = _padded_document(jwks.jwks, MAX_JWKS_BYTES + 1)
    assert len(body) == MAX_JWKS_BYTES + 1
    jwks.serve_body(body, chunked=chunked)
    assert await keyed.verify(sign(claims_for(ISSUER), rsa)) is None


async def test_document_of_exactly_one_mib_is_accepted(keyed: TrustedIssuer, jwks: JwksServer, rsa: SigningKey):
    jwks.serve_body(_padded_document(jwks.jwks, MAX_JWKS_BYTES), chunked=True)
    assert await keyed.verify(sign(claims_for(ISSUER), rsa)) is not None


# --- what is not a token ------------------------------------------------------------------------


@pytest.mark.parametrize("token", [
    None, 42, b"a.b.c", "", "abc", "a.b", "a.b.c.d", "é.é.é", "\ud800.a.b", "x" * 9000,
])
async def test_not_a_token(shared: TrustedIssuer, keyed: TrustedIssuer, jwks: JwksServer, token):
    assert await shared.verify(token) is None
    assert await keyed.verify(token) is None
    assert shared.names(token) is False
    assert jwks.fetches == 0


async def test_token_over_8_kib_is_refused_even_when_valid(shared: TrustedIssuer):
    assert await shared.verify(sign_hs256(claims_for(ISSUER, pad="p" * 5000), SECRET)) is not None
    big = sign_hs256(claims_for(ISSUER, pad="p" * 6200), SECRET)
    assert len(big) > 8 * 1024
    assert await shared.verify(big) is None


async def test_names_reads_the_issuer_without_verifying(shared: TrustedIssuer, rsa: SigningKey):
    assert shared.names(sign_hs256(claims_for(ISSUER), "any-other-secret-" + "q" * 20))
    assert shared.names(sign(claims_for(ISSUER), rsa))
    assert not shared.names(sign_hs256(claims_for("kallemny"), SECRET))
    assert not shared.names(sign_hs256(claims_for(ISSUER, iss=None), SECRET))
    assert not shared.names(forge({"alg": "none"}, ["not", "an", "object"]))  # type: ignore[arg-type]


def test_exactly_one_of_secret_and_jwks_url():
    with pytest.raises(ValueError):
        TrustedIssuer(ISSUER)
    with pytest.raises(ValueError):
        TrustedIssuer(ISSUER, secret=SECRET, jwks_url="http://127.0.0.1:1/jwks.json")


async def test_aud_is_not_checked_when_no_audience_is_configured(shared: TrustedIssuer):
    identity = await shared.verify(sign_hs256(claims_for(ISSUER, "u-aud", aud="some-other-service"), SECRET))
    assert identity is not None and identity.external_id == "u-aud"
