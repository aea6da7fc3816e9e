#!/usr/bin/env python3
"""Interoperability check of hookrelay's payload formats and wire profiles
with reference receiver code:

1. Signed-URL payloads (advancedOptions.payload.format = "url") with
   Extend's official Python SDK (PyPI `extend-ai`, tested with 1.20.0):
   `verify_and_parse` refuses them by default (SignedUrlNotAllowedError),
   accepts them with allow_signed_url=True, and `fetch_signed_payload_sync`
   fetches exactly the published payload (for a 2025-04-21 endpoint, its
   legacy rendering). The signed URL works without an API key; an altered one
   answers 403.
2. Standard Webhooks (signatureScheme "standard-webhooks") with the
   reference library (PyPI `standardwebhooks`), before and after a secret
   rotation with a grace period (both secrets must verify), and the body-HMAC
   profile (X-Webhook-Signature = hex HMAC-SHA256 of the raw body).

Environment:
  BASE_URL    hookrelay's API base URL (must allow http:// and loopback
              destinations, i.e. `serve --dev`)
  API_KEY     a workspace API key
  PUBLIC_URL  hookrelay's public base URL, which signed URLs must point at
              (default: BASE_URL)
  INTEROP_DELIVERY_TIMEOUT  seconds to wait for deliveries (default 20)

The script starts its own recording HTTP receiver on 127.0.0.1:0 (one path
per endpoint). Progress and failures go to stderr; stdout gets exactly one
JSON summary line, `{"ok": true|false, ...}`. Exit status 0 only when every
check passed. Failures name the exact request, the response and what was
expected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

try:
    import httpx
    from extend_ai import Extend
    from extend_ai.wrapper.errors import (
        SignedUrlNotAllowedError,
        WebhookPayloadFetchError,
        WebhookSignatureVerificationError,
    )
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    # The shared helpers (recording receiver, check bookkeeping, plain HTTP)
    # live next to this file; importing them must not litter it with bytecode.
    sys.dont_write_bytecode = True
    from extend_sdk_check import Abort, Checks, Received, Receiver, plain
except ImportError as e:  # pragma: no cover - environment problem, not a check
    print(
        f"profiles_check: a dependency is not importable ({e}); "
        "pip install -r scripts/interop/requirements.txt",
        file=sys.stderr,
    )
    print(json.dumps({"ok": False, "error": f"import failed: {e}"}))
    sys.exit(2)

CURRENT = "2026-02-09"
LEGACY = "2025-04-21"
THRESHOLD = 2000
BIG_FIELD_BYTES = 10_000


def log(msg: str) -> None:
    print(f"[profiles] {msg}", file=sys.stderr, flush=True)


def show(value: Any, limit: int = 600) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def json_diff(got: Any, want: Any, path: str = "$", out: Optional[List[str]] = None) -> List[str]:
    """The first few places where two JSON values differ."""
    out = [] if out is None else out
    if len(out) >= 8:
        return out
    if isinstance(got, dict) and isinstance(want, dict):
        for k in sorted(set(got) | set(want)):
            if k not in got:
                out.append(f"{path}.{k} missing")
            elif k not in want:
                out.append(f"{path}.{k} unexpected: {show(got[k], 80)}")
            else:
                json_diff(got[k], want[k], f"{path}.{k}", out)
    elif isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, (g, w) in enumerate(zip(got, want)):
            json_diff(g, w, f"{path}[{i}]", out)
    elif type(got) is not type(want) or got != want:
        out.append(f"{path}: got {show(got, 80)}, want {show(want, 80)}")
    return out


def sdk_dump(value: Any) -> Any:
    """A value the SDK returned, as plain JSON (typed models dumped under their wire names)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, dict):
        return {k: sdk_dump(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sdk_dump(v) for v in value]
    return value


def event_id_of(r: Received) -> Optional[str]:
    data = r.json()
    if not isinstance(data, dict):
        return None
    return data.get("eventId") or data.get("id")


def altered_tokens(url: str) -> List[Tuple[str, str]]:
    """Copies of a signed URL with one character of its token changed: at the
    start, in the middle, just after the separator and at the end."""
    prefix, _, token = url.partition("/payloads/")
    spots = {0, len(token) // 3, len(token) - 1}
    if "." in token:
        spots.add(token.index(".") + 1)
    out = []
    for i in sorted(spots):
        if i < 0 or i >= len(token) or not token[i].isalnum():
            continue
        repl = "A" if token[i] != "A" else "B"
        out.append((f"position {i} {token[i]!r}->{repl!r}", f"{prefix}/payloads/{token[:i]}{repl}{token[i + 1:]}"))
    return out


class Run:
    def __init__(self, base_url: str, api_key: str, public_url: str, timeout: float) -> None:
        self.base = base_url.rstrip("/")
        self.public = public_url.rstrip("/")
        self.key = api_key
        self.timeout = timeout
        self.c = Checks()
        self.client = Extend(token=api_key, base_url=self.base)
        self.receiver = Receiver()
        self.tag = uuid.uuid4().hex[:8]
        self.summary: Dict[str, Any] = {}
        # A client with no credentials at all, for the signed URLs.
        self.anon = httpx.Client(timeout=15.0, follow_redirects=False)

    # -- helpers ----------------------------------------------------------------

    def hook_url(self, name: str) -> str:
        return f"{self.receiver.url}/hooks/{name}"

    def api(self, method: str, path: str, body: Any, want: int = 200) -> Dict[str, Any]:
        status, value, text = plain(method, self.base, self.key, path, body)
        if status != want or not isinstance(value, dict):
            raise Abort(
                f"{method} {path} body={json.dumps(body) if body is not None else '-'}\n"
                f"      answered {status}: {show(text, 1500)}\n      expected {want} with a JSON object"
            )
        return value

    def publish(self, event_type: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        ev = self.api("POST", "/events", {"eventType": event_type, "payload": payload}, 202)
        if not ev.get("id"):
            raise Abort(f"POST /events ({event_type}) answered 202 without an event id: {show(ev)}")
        return ev

    def wait_for(self, what: List[Tuple[str, str]]) -> Dict[Tuple[str, str], Received]:
        """Waits for one delivery per (receiver path, event id); returns the first of each."""
        deadline = time.time() + self.timeout
        while True:
            got: Dict[Tuple[str, str], Received] = {}
            for r in self.receiver.received():
                k = (r.path, event_id_of(r) or "")
                if k in what and k not in got:
                    got[k] = r
            missing = [k for k in what if k not in got]
            if not missing or time.time() > deadline:
                break
            time.sleep(0.1)
        if missing:
            self.c.expect(
                False,
                f"deliveries: {len(missing)} of {len(what)} expected deliveries did not arrive within {self.timeout:.0f}s",
                "missing (path, eventId): " + ", ".join(f"({p}, {e})" for p, e in missing)
                + "\n      received: "
                + ", ".join(f"{r.method} {r.path} eventId={event_id_of(r)}" for r in self.receiver.received()),
            )
        return got

    def event_types(self, version: str) -> Dict[str, Any]:
        status, body, text = plain("GET", self.base, self.key, f"/event_types?apiVersion={version}")
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise Abort(f"GET /event_types?apiVersion={version} answered {status}: {show(text)}")
        return {e.get("canonicalName") or e.get("name"): e.get("examplePayload") for e in body["data"]}

    # -- 1. signed-URL payloads with Extend's SDK -----------------------------------

    def signed_urls(self) -> None:
        log("signed URLs: create a 2026-02-09 endpoint (threshold 2000) and a 2025-04-21 one (always), with the SDK")
        c = self.c
        eps = self.client.webhook_endpoints
        try:
            cur = eps.create(
                url=self.hook_url("url-current"),
                name=f"profiles url current {self.tag}",
                enabled_events=["extract_run.processed"],
                api_version=CURRENT,
                advanced_options={"payload": {"format": "url", "url_threshold_bytes": THRESHOLD}},
            )
            leg = eps.create(
                url=self.hook_url("url-legacy"),
                name=f"profiles url legacy {self.tag}",
                enabled_events=["processor_run.processed"],
                api_version=LEGACY,
                advanced_options={"payload": {"format": "url"}},
            )
        except Exception as e:
            raise Abort(f"creating the url-format endpoints with the SDK failed: {type(e).__name__}: {e}")
        for name, ep, threshold in (("current", cur, THRESHOLD), ("legacy", leg, None)):
            p = getattr(getattr(ep, "advanced_options", None), "payload", None)
            c.expect(
                p is not None and str(getattr(p, "format", "")) == "url" and p.url_threshold_bytes == threshold,
                f"create url-format endpoint {name}: advancedOptions.payload not echoed as format=url, urlThresholdBytes={threshold}",
                repr(getattr(ep, "advanced_options", None)),
            )

        example = self.event_types(CURRENT).get("extract_run.processed")
        if not isinstance(example, dict):
            raise Abort("the catalog has no examplePayload for extract_run.processed")
        large = dict(example)
        large["id"] = f"exr_interop_large_{self.tag}"
        large["metadata"] = {"env": "test"}
        large["interopBlob"] = "".join(f"{i:05d}-" for i in range(BIG_FIELD_BYTES // 6))
        small = {"object": "extract_run", "id": f"exr_interop_small_{self.tag}", "status": "PROCESSED", "metadata": {"env": "test"}}
        c.expect(len(json.dumps(small)) < THRESHOLD // 4 and len(json.dumps(large)) > BIG_FIELD_BYTES, "test payload sizes are off")
        ev_large = self.publish("extract_run.processed", large)
        ev_small = self.publish("extract_run.processed", small)
        want = [
            ("/hooks/url-current", ev_large["id"]),
            ("/hooks/url-current", ev_small["id"]),
            ("/hooks/url-legacy", ev_large["id"]),
            ("/hooks/url-legacy", ev_small["id"]),
        ]
        log(f"signed URLs: waiting up to {self.timeout:.0f}s for {len(want)} deliveries")
        got = self.wait_for(want)
        checked = 0

        r = got.get(("/hooks/url-current", ev_large["id"]))
        if r is not None:
            checked += 1
            self.check_signed_delivery(
                r, cur.signing_secret, "2026-02-09 endpoint, large event", ev_large["id"], "extract_run.processed", large, large
            )
        r = got.get(("/hooks/url-current", ev_small["id"]))
        if r is not None:
            checked += 1
            self.check_inline_delivery(r, cur.signing_secret, "2026-02-09 endpoint, small event", ev_small["id"], small)
        for ev, published in ((ev_large, large), (ev_small, small)):
            r = got.get(("/hooks/url-legacy", ev["id"]))
            if r is None:
                continue
            checked += 1
            legacy = dict(published, object="processor_run", type="EXTRACT")
            self.check_signed_delivery(
                r, leg.signing_secret, f"2025-04-21 endpoint (no threshold), {'large' if ev is ev_large else 'small'} event",
                ev["id"], "processor_run.processed", published, legacy,
            )
        self.summary["signed_url_deliveries_checked"] = checked

    def check_signed_delivery(self, r: Received, secret: str, where: str, event_id: str, event_type: str,
                              published: Dict[str, Any], want_payload: Dict[str, Any]) -> None:
        c = self.c
        where = f"signed URL delivery ({where}, {r.path})"
        data = r.json()
        if not c.expect(isinstance(data, dict), f"{where}: body is not a JSON object", show(r.body.decode("utf-8", "replace"))):
            return
        payload = data.get("payload")
        c.expect(
            isinstance(payload, dict) and set(payload) == {"object", "data", "id", "metadata"},
            f"{where}: payload must be exactly {{object, data, id, metadata}}",
            show(payload),
        )
        if not isinstance(payload, dict):
            return
        c.expect(payload.get("object") == "signed_data_url", f"{where}: payload.object is {payload.get('object')!r}")
        c.expect(payload.get("id") == published["id"], f"{where}: payload.id {payload.get('id')!r} != {published['id']!r}")
        c.expect(payload.get("metadata") == {"env": "test"}, f"{where}: payload.metadata is {payload.get('metadata')!r}")
        c.expect(data.get("eventId") == event_id and data.get("eventType") == event_type,
                 f"{where}: eventId/eventType are {data.get('eventId')!r}/{data.get('eventType')!r}, want {event_id!r}/{event_type!r}")
        c.expect(len(r.body) < 2000, f"{where}: the signed-URL body is {len(r.body)} bytes, it should be small")

        # Default options: a signed-URL event is refused with SignedUrlNotAllowedError.
        try:
            self.client.webhooks.verify_and_parse(r.body, r.headers, secret)
            c.expect(False, f"{where}: verify_and_parse without allow_signed_url accepted it (SignedUrlNotAllowedError expected)")
        except SignedUrlNotAllowedError:
            c.expect(True, "")
        except WebhookSignatureVerificationError as e:
            c.expect(False, f"{where}: the SDK rejected the signature: {e}", f"headers={r.headers}")
            return
        except Exception as e:
            c.expect(False, f"{where}: verify_and_parse raised {type(e).__name__}: {e} (SignedUrlNotAllowedError expected)")

        try:
            ev = self.client.webhooks.verify_and_parse(r.body, r.headers, secret, allow_signed_url=True)
        except Exception as e:
            c.expect(False, f"{where}: verify_and_parse(allow_signed_url=True) raised {type(e).__name__}: {e}", show(data))
            return
        if not c.expect(self.client.webhooks.is_signed_url_event(ev), f"{where}: is_signed_url_event(event) is False", repr(ev)[:500]):
            return
        c.expect(ev.payload.metadata == {"env": "test"}, f"{where}: event.payload.metadata is {ev.payload.metadata!r}")
        c.expect(ev.event_id == event_id and ev.event_type == event_type,
                 f"{where}: the SDK event has event_id/event_type {ev.event_id!r}/{ev.event_type!r}")
        url = ev.payload.data
        parts = urlsplit(url)
        pub = urlsplit(self.public)
        c.expect(
            (parts.scheme, parts.netloc) == (pub.scheme, pub.netloc) and parts.path.startswith("/payloads/"),
            f"{where}: the signed URL does not point at hookrelay's public URL {self.public}/payloads/…",
            url,
        )

        # The SDK's own fetch (plain httpx, no credentials).
        try:
            full = self.client.webhooks.fetch_signed_payload_sync(ev)
        except WebhookPayloadFetchError as e:
            full = None
            c.expect(False, f"{where}: fetch_signed_payload_sync failed: {e}", f"GET {url}")
        if full is not None:
            body = full if isinstance(full, dict) else sdk_dump(full)
            c.expect(isinstance(body, dict) and body.get("eventId") == event_id and body.get("eventType") == event_type,
                     f"{where}: fetch_signed_payload_sync returned the wrong event", show(body))
            sdk_payload = sdk_dump(body.get("payload")) if isinstance(body, dict) else None
            if isinstance(full, dict):
                # The untyped fallback carries the fetched JSON as it is.
                c.expect(sdk_payload == want_payload, f"{where}: the payload fetch_signed_payload_sync returned differs from the expected one",
                         "; ".join(json_diff(sdk_payload, want_payload)))
            else:
                # A typed model normalises some values (e.g. datetimes), so compare with
                # the expected event put through the same model; the raw fetch below
                # must then match the expected payload byte for byte in JSON terms.
                same = self.client.webhooks.parse(json.dumps({"eventId": event_id, "eventType": event_type, "payload": want_payload}))
                want_typed = sdk_dump(getattr(same, "payload", None))
                c.expect(not isinstance(same, dict) and sdk_payload == want_typed,
                         f"{where}: the typed payload fetch_signed_payload_sync returned differs from the expected one parsed by the same SDK model",
                         "; ".join(json_diff(sdk_payload, want_typed)))
                if sdk_payload != want_payload:
                    log(f"note: {where}: the SDK's typed model re-renders some values "
                        f"({'; '.join(json_diff(sdk_payload, want_payload)[:2])}); the raw fetch is compared exactly")
            self.summary["sdk_fetch_typed"] = self.summary.get("sdk_fetch_typed", 0) + (0 if isinstance(full, dict) else 1)

        # The same URL, fetched raw without any Authorization header.
        try:
            resp = self.anon.get(url)
        except httpx.HTTPError as e:
            c.expect(False, f"{where}: GET {url} failed: {e}")
            return
        c.expect(resp.status_code == 200, f"{where}: GET <signed URL> without Authorization answered {resp.status_code}",
                 f"GET {url}\n      -> {resp.status_code} {show(resp.text)}")
        if resp.status_code == 200:
            c.expect(resp.headers.get("content-type", "").startswith("application/json"),
                     f"{where}: the signed URL answers Content-Type {resp.headers.get('content-type')!r}")
            try:
                raw = resp.json()
            except ValueError:
                raw = None
            c.expect(raw == want_payload, f"{where}: the signed URL does not answer exactly the expected payload"
                     + (" (the legacy rendering: object processor_run, type EXTRACT, all else unchanged)" if want_payload is not published else ""),
                     f"GET {url}\n      " + "; ".join(json_diff(raw, want_payload)))

        for desc, bad in altered_tokens(url):
            try:
                resp = self.anon.get(bad)
            except httpx.HTTPError as e:
                c.expect(False, f"{where}: GET altered URL failed: {e}")
                continue
            c.expect(resp.status_code == 403, f"{where}: a signed URL altered at {desc} answered {resp.status_code}, expected 403",
                     f"GET {bad}\n      -> {resp.status_code} {show(resp.text)}")
            c.expect(published["id"] not in resp.text and "interopBlob" not in resp.text,
                     f"{where}: the answer to an altered URL reveals the payload", show(resp.text))

    def check_inline_delivery(self, r: Received, secret: str, where: str, event_id: str, published: Dict[str, Any]) -> None:
        c = self.c
        where = f"inline delivery ({where}, {r.path})"
        data = r.json()
        c.expect(isinstance(data, dict) and data.get("payload") == published,
                 f"{where}: the payload is not the published one, inline", show(r.body.decode("utf-8", "replace")))
        try:
            ev = self.client.webhooks.verify_and_parse(r.body, r.headers, secret)
        except Exception as e:
            c.expect(False, f"{where}: verify_and_parse (default options) raised {type(e).__name__}: {e}",
                     show(r.body.decode("utf-8", "replace")))
            return
        c.expect(not self.client.webhooks.is_signed_url_event(ev), f"{where}: is_signed_url_event is True for a small payload")
        got_id = ev.get("eventId") if isinstance(ev, dict) else ev.event_id
        c.expect(got_id == event_id, f"{where}: eventId {got_id!r} != {event_id!r}")

    # -- 2. Standard Webhooks and body-HMAC -------------------------------------------

    def create_raw_endpoint(self, name: str, scheme: str) -> Dict[str, Any]:
        body = {
            "url": self.hook_url(name),
            "name": f"profiles {name} {self.tag}",
            "enabledEvents": ["parse_run.processed"],
            "apiVersion": CURRENT,
            "signatureScheme": scheme,
        }
        ep = self.api("POST", "/webhook_endpoints", body)
        self.c.expect(ep.get("signatureScheme") == scheme, f"create {scheme} endpoint: signatureScheme is {ep.get('signatureScheme')!r}",
                      f"POST /webhook_endpoints {json.dumps(body)}\n      -> {show(ep)}")
        if not isinstance(ep.get("signingSecret"), str) or not ep.get("id"):
            raise Abort(f"create {scheme} endpoint: no id/signingSecret in the answer: POST /webhook_endpoints {json.dumps(body)} -> {show(ep)}")
        return ep

    def profiles(self) -> None:
        log("standard-webhooks and body-hmac: create endpoints")
        c = self.c
        sw = self.create_raw_endpoint("sw", "standard-webhooks")
        bh = self.create_raw_endpoint("body-hmac", "body-hmac")
        old = sw["signingSecret"]
        ok = c.expect(old.startswith("whsec_"), f"standard-webhooks endpoint: signingSecret {old!r} does not start with whsec_")
        if ok:
            try:
                key = base64.b64decode(old[len("whsec_"):], validate=True)
                c.expect(len(key) >= 24, f"standard-webhooks secret: the key is only {len(key)} bytes")
            except ValueError as e:
                c.expect(False, f"standard-webhooks secret: the part after whsec_ is not base64: {e}", old)
        try:
            Webhook(old)
        except Exception as e:
            raise Abort(f"standardwebhooks.Webhook({old!r}) refused the secret: {type(e).__name__}: {e}")

        payload = self.event_types(CURRENT).get("parse_run.processed")
        if not isinstance(payload, dict):
            raise Abort("the catalog has no examplePayload for parse_run.processed")
        e1 = self.publish("parse_run.processed", dict(payload, id=f"pr_interop_one_{self.tag}"))
        log(f"standard-webhooks: waiting up to {self.timeout:.0f}s for the first deliveries")
        got = self.wait_for([("/hooks/sw", e1["id"]), ("/hooks/body-hmac", e1["id"])])
        sw_ok = hmac_ok = 0
        r = got.get(("/hooks/sw", e1["id"]))
        if r is not None:
            sigs = (r.header("webhook-signature") or "").split()
            c.expect(len(sigs) == 1, f"standard-webhooks delivery before rotation: expected one signature, got {len(sigs)}",
                     r.header("webhook-signature"))
            sw_ok += self.check_standard(r, [old], "before rotation", e1["id"], other=[bh["signingSecret"]])
        r = got.get(("/hooks/body-hmac", e1["id"]))
        if r is not None:
            hmac_ok += self.check_body_hmac(r, bh["signingSecret"], "event 1")

        log("standard-webhooks: rotate_secret with graceSeconds 3600")
        path = f"/webhook_endpoints/{sw['id']}/rotate_secret"
        rot = self.api("POST", path, {"graceSeconds": 3600})
        new = rot.get("signingSecret")
        if not (isinstance(new, str) and new.startswith("whsec_") and new != old):
            raise Abort(f"POST {path} {{\"graceSeconds\": 3600}} -> {show(rot)}\n      expected a new signingSecret starting with whsec_")
        e2 = self.publish("parse_run.processed", dict(payload, id=f"pr_interop_two_{self.tag}"))
        log(f"standard-webhooks: waiting up to {self.timeout:.0f}s for the deliveries after rotation")
        got = self.wait_for([("/hooks/sw", e2["id"]), ("/hooks/body-hmac", e2["id"])])
        r = got.get(("/hooks/sw", e2["id"]))
        if r is not None:
            sigs = (r.header("webhook-signature") or "").split()
            c.expect(len(sigs) == 2 and all(s.startswith("v1,") for s in sigs),
                     "standard-webhooks delivery during the grace period: webhook-signature must carry two v1 signatures (old and new secret)",
                     f"webhook-signature: {r.header('webhook-signature')!r}")
            sw_ok += self.check_standard(r, [old, new], "during the rotation grace period", e2["id"], other=[bh["signingSecret"]])
        r = got.get(("/hooks/body-hmac", e2["id"]))
        if r is not None:
            hmac_ok += self.check_body_hmac(r, bh["signingSecret"], "event 2")
        self.summary["standard_webhooks_deliveries_verified"] = sw_ok
        self.summary["body_hmac_deliveries_checked"] = hmac_ok

    def check_standard(self, r: Received, secrets: List[str], when: str, event_id: str, other: List[str]) -> int:
        c = self.c
        where = f"standard-webhooks delivery {when} ({r.path})"
        hdrs = {k: r.header(k) for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        c.expect(all(hdrs.values()), f"{where}: missing Standard Webhooks headers", r.headers)
        c.expect(hdrs["webhook-id"] == event_id, f"{where}: webhook-id {hdrs['webhook-id']!r} is not the event id {event_id!r}")
        c.expect((r.header("content-type") or "").startswith("application/json"), f"{where}: Content-Type is {r.header('content-type')!r}")
        ts = hdrs["webhook-timestamp"] or ""
        c.expect(ts.isdigit() and abs(int(ts) - time.time()) < 300, f"{where}: webhook-timestamp {ts!r} is not a current unix time")
        verified = 0
        for n, secret in enumerate(secrets):
            label = "the only secret" if len(secrets) == 1 else ("the old secret" if n == 0 else "the new secret")
            try:
                parsed = Webhook(secret).verify(r.body, r.headers)
                c.expect(parsed == r.json(), f"{where}: Webhook.verify returned something other than the body", show(parsed))
                verified += 1
            except WebhookVerificationError as e:
                mine = None
                if ts:
                    key = base64.b64decode(secret[len("whsec_"):] + "==")
                    msg = f"{hdrs['webhook-id']}.{ts}.".encode() + r.body
                    mine = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
                c.expect(False, f"{where}: standardwebhooks Webhook(<{label}>).verify rejected it: {e}",
                         f"webhook-id={hdrs['webhook-id']} webhook-timestamp={ts} webhook-signature={hdrs['webhook-signature']}\n"
                         f"      expected to contain {mine}")
        for s in other:
            try:
                Webhook(s if s.startswith("whsec_") else "whsec_" + base64.b64encode(s.encode()).decode()).verify(r.body, r.headers)
                c.expect(False, f"{where}: also verifies with another endpoint's secret")
            except WebhookVerificationError:
                c.expect(True, "")
        try:
            Webhook(secrets[-1]).verify(r.body + b" ", r.headers)
            c.expect(False, f"{where}: Webhook.verify accepted a tampered body")
        except WebhookVerificationError:
            c.expect(True, "")
        return 1 if verified == len(secrets) else 0

    def check_body_hmac(self, r: Received, secret: str, what: str) -> int:
        where = f"body-hmac delivery of {what} ({r.path})"
        want = hmac.new(secret.encode(), r.body, hashlib.sha256).hexdigest()
        got = r.header("x-webhook-signature")
        ok = self.c.expect(got == want, f"{where}: X-Webhook-Signature is not the hex HMAC-SHA256 of the raw body",
                           f"X-Webhook-Signature: {got!r}\n      expected: {want!r} (key = the signingSecret as UTF-8)")
        self.c.expect(r.json() is not None, f"{where}: the body is not JSON", show(r.body.decode("utf-8", "replace")))
        return 1 if ok else 0


def main() -> int:
    base, key = os.environ.get("BASE_URL"), os.environ.get("API_KEY")
    if not base or not key:
        print("profiles_check: set BASE_URL and API_KEY", file=sys.stderr)
        print(json.dumps({"ok": False, "error": "BASE_URL and API_KEY must be set"}))
        return 2
    timeout = float(os.environ.get("INTEROP_DELIVERY_TIMEOUT", "20"))
    run = Run(base, key, os.environ.get("PUBLIC_URL") or base, timeout)
    log(f"hookrelay at {run.base}, receiver at {run.receiver.url}, extend-ai {_version('extend-ai')}, "
        f"standardwebhooks {_version('standardwebhooks')}")
    aborted = []
    for step in (run.signed_urls, run.profiles):
        try:
            step()
        except Abort as e:
            aborted.append(str(e))
            log(f"ABORT ({step.__name__}): {e}")
        except Exception as e:  # a bug in this script or a library surprise
            aborted.append(f"{step.__name__}: unexpected {type(e).__name__}: {e}\n{traceback.format_exc()}")
            log(f"ABORT ({step.__name__}): {aborted[-1]}")
    run.receiver.stop()
    failures = run.c.failures + aborted
    ok = not failures
    summary = {"ok": ok, "checks_passed": run.c.passed, **run.summary, "failures": [f.split("\n")[0] for f in failures]}
    if not ok:
        log(f"{len(failures)} failure(s):")
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
    print(json.dumps(summary), flush=True)
    return 0 if ok else 1


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
