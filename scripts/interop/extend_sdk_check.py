#!/usr/bin/env python3
"""Interoperability check: drive a running hookrelay with Extend's official
Python SDK (PyPI `extend-ai`, tested with 1.20.0) and verify every delivery it
sends with the SDK's own webhook verifier.

Environment:
  BASE_URL   hookrelay's API base URL, e.g. http://127.0.0.1:8080 (must allow
             http:// and loopback destinations, i.e. `serve --dev`)
  API_KEY    a workspace API key
  INTEROP_DELIVERY_TIMEOUT  seconds to wait for deliveries (default 20)

The script starts its own recording HTTP receiver on 127.0.0.1:0 and points
the endpoints it creates at it, one distinct path per endpoint (except the
deliberate same-URL pair, told apart by which secret verifies).

Progress and failures go to stderr; stdout gets exactly one JSON summary line,
`{"ok": true|false, "checked_deliveries": N, ...}`. Exit status 0 only when
every check passed. Each failure names the request, the response and what the
SDK expected, so an incompatibility can be reported precisely.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

try:
    import httpx
    import pydantic
    from extend_ai import Extend
    from extend_ai.core.api_error import ApiError
    from extend_ai.errors.not_found_error import NotFoundError
    from extend_ai.errors.unauthorized_error import UnauthorizedError
    from extend_ai.types.api_error import ApiError as ApiErrorBody
    from extend_ai.types.webhook_endpoint import WebhookEndpoint
    from extend_ai.types.webhook_endpoint_create import WebhookEndpointCreate
    from extend_ai.types.webhook_event import WebhookEvent
    from extend_ai.types.webhook_subscription import WebhookSubscription
    from extend_ai.webhook_endpoints.types.webhook_endpoints_delete_response import WebhookEndpointsDeleteResponse
    from extend_ai.webhook_endpoints.types.webhook_endpoints_list_response import WebhookEndpointsListResponse
    from extend_ai.webhook_subscriptions.types.webhook_subscriptions_delete_response import (
        WebhookSubscriptionsDeleteResponse,
    )
    from extend_ai.webhook_subscriptions.types.webhook_subscriptions_list_response import (
        WebhookSubscriptionsListResponse,
    )
    from extend_ai.wrapper.errors import WebhookSignatureVerificationError
except ImportError as e:  # pragma: no cover - environment problem, not a check
    print(f"extend_sdk_check: the Extend SDK is not importable ({e}); pip install extend-ai==1.20.0", file=sys.stderr)
    print(json.dumps({"ok": False, "error": f"import failed: {e}"}))
    sys.exit(2)

CURRENT = "2026-02-09"
LEGACY = "2025-04-21"
ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
SECRET_RE = re.compile(r"^wss_[A-Za-z0-9_-]{32,}$")


def log(msg: str) -> None:
    print(f"[interop] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Failure bookkeeping


class Abort(Exception):
    """A failure after which the remaining steps cannot run meaningfully."""


class Checks:
    def __init__(self) -> None:
        self.failures: List[str] = []
        self.passed = 0

    def expect(self, cond: bool, what: str, detail: Any = None) -> bool:
        if cond:
            self.passed += 1
            return True
        msg = what if detail is None else f"{what}\n      {detail}"
        self.failures.append(msg)
        log(f"FAIL: {msg}")
        return False


# ---------------------------------------------------------------------------
# Recording of the SDK's HTTP traffic, so failures show the exact exchange


class Traffic:
    def __init__(self) -> None:
        self.last: Optional[Dict[str, Any]] = None
        self.count = 0

    def on_response(self, response: httpx.Response) -> None:
        response.read()
        req = response.request
        try:
            req_body = req.content.decode("utf-8", "replace")
        except Exception:  # streaming request bodies
            req_body = "<stream>"
        self.count += 1
        self.last = {
            "request": f"{req.method} {req.url}",
            "requestBody": req_body,
            "status": response.status_code,
            "responseBody": response.text,
        }

    def describe(self) -> str:
        if not self.last:
            return "(no HTTP exchange recorded)"
        x = self.last
        body = x["responseBody"]
        if len(body) > 1500:
            body = body[:1500] + "…"
        return f"request: {x['request']} body={x['requestBody'] or '-'}\n      response: {x['status']} {body}"

    def last_json(self) -> Any:
        if not self.last:
            return None
        try:
            return json.loads(self.last["responseBody"])
        except ValueError:
            return None


# ---------------------------------------------------------------------------
# The recording receiver


class Received:
    def __init__(self, method: str, path: str, headers: List[Tuple[str, str]], body: bytes) -> None:
        self.method = method
        self.path = path
        self.header_list = headers
        self.headers = {k: v for k, v in headers}
        self.body = body
        self.at = time.time()

    def header(self, name: str) -> Optional[str]:
        for k, v in self.header_list:
            if k.lower() == name.lower():
                return v
        return None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: List[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _read_body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _handle(self) -> None:
                body = self._read_body()
                with receiver.lock:
                    receiver.items.append(Received(self.command, self.path, list(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = _handle
            do_PUT = _handle
            do_GET = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)
        self.thread.start()

    def received(self) -> List[Received]:
        with self.lock:
            return list(self.items)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------
# Plain HTTP for hookrelay's own routes (publishing, catalog, history)


def plain(method: str, base: str, key: str, path: str, body: Any = None) -> Tuple[int, Any, str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            text = resp.read().decode("utf-8", "replace")
            status = resp.status
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", "replace")
        status = e.code
    try:
        value = json.loads(text) if text else None
    except ValueError:
        value = None
    return status, value, text


# ---------------------------------------------------------------------------


class Run:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.base = base_url.rstrip("/")
        self.key = api_key
        self.c = Checks()
        self.traffic = Traffic()
        self.http = httpx.Client(timeout=15.0, event_hooks={"response": [self.traffic.on_response]})
        self.client = Extend(token=api_key, base_url=self.base, httpx_client=self.http)
        self.receiver = Receiver()
        self.run_tag = uuid.uuid4().hex[:8]
        self.summary: Dict[str, Any] = {}

    # -- SDK call helpers ---------------------------------------------------

    def sdk(self, desc: str, fn: Callable[[], Any], model: Any = None) -> Any:
        """Runs an SDK call that must succeed; then validates the raw response
        JSON strictly against the SDK's model (the SDK itself parses leniently
        and would hide a missing or mistyped field)."""
        try:
            result = fn()
        except ApiError as e:
            raise Abort(
                f"{desc}: the SDK raised {type(e).__name__} (HTTP {e.status_code}) where success was expected\n"
                f"      {self.traffic.describe()}"
            )
        if model is not None:
            raw = self.traffic.last_json()
            try:
                pydantic.TypeAdapter(model).validate_python(raw)
                self.c.expect(True, "")
            except pydantic.ValidationError as err:
                self.c.expect(
                    False,
                    f"{desc}: response does not match the SDK's {getattr(model, '__name__', model)} model",
                    f"{err}\n      {self.traffic.describe()}",
                )
            problems = _wire_name_problems(model, raw)
            self.c.expect(
                not problems,
                f"{desc}: response field names differ from Extend's wire names: {'; '.join(problems)}",
                self.traffic.describe(),
            )
        return result

    def sdk_error(self, desc: str, fn: Callable[[], Any], statuses: Tuple[int, ...], cls: Any = None) -> Optional[ApiError]:
        """Runs an SDK call that must fail with one of `statuses` (and raise `cls`)."""
        try:
            fn()
        except ApiError as e:
            ok = self.c.expect(
                e.status_code in statuses and (cls is None or isinstance(e, cls)),
                f"{desc}: expected HTTP {'/'.join(map(str, statuses))}"
                + (f" ({cls.__name__})" if cls else "")
                + f", the SDK raised {type(e).__name__} with HTTP {e.status_code}",
                self.traffic.describe(),
            )
            if ok:
                raw = self.traffic.last_json()
                try:
                    pydantic.TypeAdapter(ApiErrorBody).validate_python(raw)
                    self.c.expect(True, "")
                except pydantic.ValidationError as err:
                    self.c.expect(
                        False,
                        f"{desc}: error body does not match Extend's error format {{code, message, retryable, requestId}}",
                        f"{err}\n      {self.traffic.describe()}",
                    )
            return e
        self.c.expect(
            False,
            f"{desc}: expected HTTP {'/'.join(map(str, statuses))} but the call succeeded",
            self.traffic.describe(),
        )
        return None

    def hook_url(self, name: str) -> str:
        return f"{self.receiver.url}/hooks/{name}"

    # -- steps ----------------------------------------------------------------

    def catalog(self) -> None:
        log("catalog: GET /event_types and SDK parsing of every example payload")
        status, body, text = plain("GET", self.base, self.key, f"/event_types?apiVersion={CURRENT}")
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise Abort(f"GET /event_types?apiVersion={CURRENT} answered {status}: {text[:500]}")
        self.examples: Dict[str, Any] = {}
        for et in body["data"]:
            name, canonical, example = et.get("name"), et.get("canonicalName"), et.get("examplePayload")
            self.examples[canonical] = example
            parsed = self.client.webhooks.parse(json.dumps({"eventId": "evt_example", "eventType": name, "payload": example}))
            self.c.expect(
                not isinstance(parsed, dict) and getattr(parsed, "event_type", None) == name,
                f"catalog {CURRENT}: the example payload of {name} does not parse as the SDK's typed event",
                _validation_detail(name, example),
            )
        for needed in ("extract_run.processed", "workflow_run.completed"):
            if not isinstance(self.examples.get(needed), dict):
                raise Abort(f"the catalog has no examplePayload for {needed}")
        self.summary["catalog_examples_parsed"] = len(body["data"])

        status, legacy, text = plain("GET", self.base, self.key, f"/event_types?apiVersion={LEGACY}")
        names = [e.get("name") for e in (legacy or {}).get("data", [])] if status == 200 else []
        self.c.expect(
            "processor_run.processed" in names,
            f"catalog {LEGACY}: processor_run.processed is missing",
            f"GET /event_types?apiVersion={LEGACY} -> {status} {text[:300]}",
        )

    def auth(self) -> None:
        log("auth: a wrong token is rejected with 401")
        bad = Extend(token="sk_wrong_" + self.run_tag, base_url=self.base, httpx_client=self.http)
        self.sdk_error("list endpoints with a wrong API key", lambda: bad.webhook_endpoints.list(), (401,), UnauthorizedError)

    def create_endpoint(self, key: str, url: str, events: List[str], version: str, **extra: Any) -> Any:
        name = f"interop {key} {self.run_tag}"
        ep = self.sdk(
            f"create endpoint {key}",
            lambda: self.client.webhook_endpoints.create(url=url, name=name, enabled_events=events, api_version=version, **extra),
            WebhookEndpointCreate,
        )
        raw = self.traffic.last_json() or {}
        c = self.c
        c.expect(bool(ID_RE.match(str(getattr(ep, "id", "")))), f"create endpoint {key}: id is not URL-safe: {raw.get('id')!r}")
        c.expect(raw.get("object") == "webhook_endpoint", f"create endpoint {key}: object is {raw.get('object')!r}")
        c.expect(raw.get("url") == url, f"create endpoint {key}: url {raw.get('url')!r} != {url!r}")
        c.expect(raw.get("name") == name, f"create endpoint {key}: name {raw.get('name')!r} != {name!r}")
        c.expect(raw.get("apiVersion") == version, f"create endpoint {key}: apiVersion {raw.get('apiVersion')!r} != {version!r}")
        c.expect(raw.get("enabledEvents") == events, f"create endpoint {key}: enabledEvents {raw.get('enabledEvents')!r} != {events!r}")
        want_status = extra.get("status", "enabled")
        c.expect(raw.get("status") == want_status, f"create endpoint {key}: status {raw.get('status')!r} != {want_status!r}")
        c.expect(
            bool(SECRET_RE.match(str(getattr(ep, "signing_secret", "")))),
            f"create endpoint {key}: signingSecret is not wss_ + 32+ URL-safe characters: {raw.get('signingSecret')!r}",
        )
        return ep

    def endpoints(self) -> None:
        log("endpoints: create")
        r = self.receiver
        self.ep: Dict[str, Any] = {}
        self.secret: Dict[str, str] = {}
        self.created_order: List[str] = []

        def make(key: str, url: str, events: List[str], version: str = CURRENT, **extra: Any) -> None:
            e = self.create_endpoint(key, url, events, version, **extra)
            self.ep[key] = e
            self.secret[key] = e.signing_secret
            self.created_order.append(e.id)

        make("current", self.hook_url("current"), ["extract_run.processed"], advanced_options={"headers": {"x-interop-endpoint": "current"}})
        make("legacy", self.hook_url("legacy") + "?version=2025-04-21", ["processor_run.processed"], LEGACY)
        make("dup_a", self.hook_url("dup"), ["extract_run.processed"])
        make("dup_b", self.hook_url("dup"), ["extract_run.processed"])
        make("sub", self.hook_url("subscriptions"), [])
        make("updated", self.hook_url("updated-before"), ["parse_run.processed"])
        make("disabled", self.hook_url("disabled"), ["extract_run.processed"])
        make("deleted", self.hook_url("deleted"), ["extract_run.processed"])
        self.c.expect(len(set(self.created_order)) == len(self.created_order), "endpoint ids are not unique", self.created_order)
        self.c.expect(
            self.ep["dup_a"].id != self.ep["dup_b"].id and self.secret["dup_a"] != self.secret["dup_b"],
            "the same URL registered twice must give two endpoints with different secrets",
        )
        adv = getattr(self.ep["current"], "advanced_options", None)
        self.c.expect(
            adv is not None and (adv.headers or {}).get("x-interop-endpoint") == "current",
            "create endpoint current: advancedOptions.headers not echoed back",
            repr(adv),
        )
        self.summary["endpoints_created"] = len(self.created_order)

        log("endpoints: validation errors")
        self.sdk_error(
            "create an endpoint with an unknown event type",
            lambda: self.client.webhook_endpoints.create(
                url=self.hook_url("never"), name="bad", enabled_events=["no_such.event"], api_version=CURRENT
            ),
            (400, 422),
        )
        self.sdk_error(
            f"create a {LEGACY} endpoint with the {CURRENT}-only name extract_run.processed",
            lambda: self.client.webhook_endpoints.create(
                url=self.hook_url("never"), name="bad", enabled_events=["extract_run.processed"], api_version=LEGACY
            ),
            (400, 422),
        )
        self.sdk_error(
            "create an endpoint with a relative URL",
            lambda: self.client.webhook_endpoints.create(url="/not/absolute", name="bad", enabled_events=[], api_version=CURRENT),
            (400, 422),
        )

        log("endpoints: retrieve")
        for key, e in self.ep.items():
            got = self.sdk(f"retrieve endpoint {key}", lambda: self.client.webhook_endpoints.retrieve(e.id), WebhookEndpoint)
            raw = self.traffic.last_json() or {}
            self.c.expect(got.id == e.id and got.url == e.url and got.name == e.name, f"retrieve endpoint {key}: differs from create", raw)
            self.c.expect("signingSecret" not in raw, f"retrieve endpoint {key}: signingSecret must only be returned on create", raw)
            self.c.expect(
                got.created_at == e.created_at, f"retrieve endpoint {key}: createdAt {got.created_at} != {e.created_at} from create"
            )

        log("endpoints: update")
        u = self.ep["updated"]
        new_name = f"interop updated (renamed) {self.run_tag}"
        got = self.sdk("update endpoint name only", lambda: self.client.webhook_endpoints.update(u.id, name=new_name), WebhookEndpoint)
        self.c.expect(got.name == new_name, f"update name: answer has name {got.name!r}")
        self.c.expect(
            list(got.enabled_events) == ["parse_run.processed"] and got.url == u.url,
            "update name only: enabledEvents/url must stay unchanged (absent field = unchanged)",
            self.traffic.describe(),
        )
        got = self.sdk(
            "update endpoint url and enabledEvents",
            lambda: self.client.webhook_endpoints.update(u.id, url=self.hook_url("updated"), enabled_events=["extract_run.processed"]),
            WebhookEndpoint,
        )
        self.c.expect(
            got.url == self.hook_url("updated") and list(got.enabled_events) == ["extract_run.processed"] and got.name == new_name,
            "update url+enabledEvents: answer does not reflect the update",
            self.traffic.describe(),
        )
        again = self.sdk("retrieve updated endpoint", lambda: self.client.webhook_endpoints.retrieve(u.id), WebhookEndpoint)
        self.c.expect(
            again.name == new_name and again.url == self.hook_url("updated") and list(again.enabled_events) == ["extract_run.processed"],
            "retrieve after update: the update was not stored",
            self.traffic.describe(),
        )
        d = self.ep["disabled"]
        got = self.sdk("update endpoint status=disabled", lambda: self.client.webhook_endpoints.update(d.id, status="disabled"), WebhookEndpoint)
        self.c.expect(str(got.status) == "disabled", f"update status: answer has status {got.status!r}", self.traffic.describe())
        again = self.sdk("retrieve disabled endpoint", lambda: self.client.webhook_endpoints.retrieve(d.id), WebhookEndpoint)
        self.c.expect(str(again.status) == "disabled", "retrieve after disabling: status not stored", self.traffic.describe())
        self.sdk_error(
            "update an endpoint with an unknown event type",
            lambda: self.client.webhook_endpoints.update(u.id, enabled_events=["no_such.event"]),
            (400, 422),
        )

        log("endpoints: list, pagination, sortDir, status filter")
        self.check_endpoint_pages()

    def walk(self, desc: str, list_fn: Callable[..., Any], model: Any, page_size: int, **filters: Any) -> Tuple[List[Any], int]:
        items: List[Any] = []
        pages = 0
        token = None
        while True:
            page = self.sdk(
                f"{desc} page {pages + 1}",
                lambda: list_fn(max_page_size=page_size, next_page_token=token, **filters),
                model,
            )
            raw = self.traffic.last_json() or {}
            pages += 1
            self.c.expect(raw.get("object") == "list", f"{desc}: object is {raw.get('object')!r}, expected 'list'")
            self.c.expect("nextPageToken" in raw, f"{desc}: the list has no nextPageToken field (null on the last page)", raw)
            self.c.expect(
                len(page.data) <= page_size, f"{desc}: page {pages} has {len(page.data)} items, maxPageSize was {page_size}"
            )
            items.extend(page.data)
            token = page.next_page_token
            if not token:
                return items, pages
            if pages > 200:
                self.c.expect(False, f"{desc}: more than 200 pages, the cursor does not advance", token)
                return items, pages

    def check_endpoint_pages(self) -> None:
        lst = self.client.webhook_endpoints.list
        asc, asc_pages = self.walk("list endpoints asc", lst, WebhookEndpointsListResponse, 3, sort_dir="asc")
        desc, _ = self.walk("list endpoints desc", lst, WebhookEndpointsListResponse, 3, sort_dir="desc")
        dflt, _ = self.walk("list endpoints (default order)", lst, WebhookEndpointsListResponse, 2)
        one = self.sdk("list endpoints in one page", lambda: lst(max_page_size=1000), WebhookEndpointsListResponse)
        raw_one = self.traffic.last_json() or {}
        self.c.expect(
            all("signingSecret" not in e for e in raw_one.get("data", [])),
            "list endpoints: signingSecret must only be returned on create",
        )
        a, d, df, o = [x.id for x in asc], [x.id for x in desc], [x.id for x in dflt], [x.id for x in one.data]
        c = self.c
        c.expect(len(a) == len(set(a)), "pagination asc: duplicate ids across pages", a)
        c.expect(len(d) == len(set(d)), "pagination desc: duplicate ids across pages", d)
        c.expect(set(a) == set(o) and set(d) == set(o), "pagination: pages do not add up to the single-page list (omissions)",
                 f"asc={a}\n      desc={d}\n      one page={o}")
        c.expect(set(self.created_order) <= set(a), "pagination: created endpoints missing from the list",
                 sorted(set(self.created_order) - set(a)))
        c.expect(a == list(reversed(d)), "sortDir: asc order is not the reverse of desc order", f"asc={a}\n      desc={d}")
        c.expect(df == d, "sortDir: the default order is not desc", f"default={df}\n      desc={d}")
        # Sequentially created endpoints list in creation order; two created in
        # the same millisecond have no defined order, so ties are skipped.
        born = {e.id: e.created_at for e in self.ep.values()}
        pos = {i: n for n, i in enumerate(a)}
        out_of_order = [
            (x, y) for n, x in enumerate(self.created_order) for y in self.created_order[n + 1:]
            if born[x] < born[y] and x in pos and y in pos and pos[x] > pos[y]
        ]
        c.expect(not out_of_order, "sortDir=asc: endpoints are not in creation order",
                 f"created earlier but listed later: {out_of_order}")
        times = [x.created_at for x in asc]
        c.expect(times == sorted(times), "sortDir=asc: createdAt is not non-decreasing", times)
        self.summary["endpoint_pages_followed"] = asc_pages

        disabled = self.sdk("list endpoints status=disabled", lambda: lst(status="disabled", max_page_size=1000), WebhookEndpointsListResponse)
        enabled = self.sdk("list endpoints status=enabled", lambda: lst(status="enabled", max_page_size=1000), WebhookEndpointsListResponse)
        dis_ids, en_ids = {x.id for x in disabled.data}, {x.id for x in enabled.data}
        c.expect(self.ep["disabled"].id in dis_ids and self.ep["current"].id not in dis_ids, "list status=disabled: wrong filter result", dis_ids)
        c.expect(self.ep["current"].id in en_ids and self.ep["disabled"].id not in en_ids, "list status=enabled: wrong filter result", en_ids)
        c.expect(all(str(x.status) == "disabled" for x in disabled.data), "list status=disabled returned enabled endpoints")

    def subscriptions(self) -> None:
        log("subscriptions: create, upsert, list, retrieve, update, delete")
        c = self.c
        subs = self.client.webhook_subscriptions
        self.wf = f"workflow_interop_{self.run_tag}"
        self.wf_gone = f"workflow_interop_gone_{self.run_tag}"
        sub_ep, legacy_ep = self.ep["sub"].id, self.ep["legacy"].id

        s1 = self.sdk(
            "create subscription",
            lambda: subs.create(webhook_endpoint_id=sub_ep, resource_type="workflow", resource_id=self.wf, enabled_events=["workflow_run.completed"]),
            WebhookSubscription,
        )
        raw = self.traffic.last_json() or {}
        c.expect(raw.get("object") == "webhook_subscription", f"create subscription: object is {raw.get('object')!r}")
        c.expect(bool(ID_RE.match(str(s1.id))), f"create subscription: id is not URL-safe: {s1.id!r}")
        c.expect(
            s1.webhook_endpoint_id == sub_ep and str(s1.resource_type) == "workflow" and s1.resource_id == self.wf
            and list(s1.enabled_events) == ["workflow_run.completed"],
            "create subscription: fields do not echo the request",
            raw,
        )
        s1b = self.sdk(
            "create subscription again (upsert)",
            lambda: subs.create(
                webhook_endpoint_id=sub_ep, resource_type="workflow", resource_id=self.wf,
                enabled_events=["workflow_run.completed", "workflow_run.failed"],
            ),
            WebhookSubscription,
        )
        c.expect(s1b.id == s1.id, "subscription upsert: creating the same endpoint+resource again must return the same id",
                 f"first={s1.id} second={s1b.id}")
        c.expect(list(s1b.enabled_events) == ["workflow_run.completed", "workflow_run.failed"],
                 "subscription upsert: enabledEvents were not replaced", self.traffic.describe())
        s2 = self.sdk(
            "create a second subscription (another workflow)",
            lambda: subs.create(webhook_endpoint_id=sub_ep, resource_type="workflow", resource_id=self.wf_gone, enabled_events=["workflow_run.completed"]),
            WebhookSubscription,
        )
        s3 = self.sdk(
            "create a subscription on the legacy endpoint",
            lambda: subs.create(webhook_endpoint_id=legacy_ep, resource_type="workflow", resource_id=self.wf, enabled_events=["workflow_run.completed"]),
            WebhookSubscription,
        )
        s4 = self.sdk(
            "create a subscription on the endpoint to be deleted",
            lambda: subs.create(webhook_endpoint_id=self.ep["deleted"].id, resource_type="workflow", resource_id=self.wf,
                                enabled_events=["workflow_run.completed"]),
            WebhookSubscription,
        )
        self.sdk(
            "create a subscription on the disabled endpoint",
            lambda: subs.create(webhook_endpoint_id=self.ep["disabled"].id, resource_type="workflow", resource_id=self.wf,
                                enabled_events=["workflow_run.completed"]),
            WebhookSubscription,
        )
        self.deleted_endpoint_sub = s4.id
        self.sdk_error(
            "create a workflow subscription with an extractor-only event",
            lambda: subs.create(webhook_endpoint_id=sub_ep, resource_type="workflow", resource_id=self.wf, enabled_events=["extract_run.processed"]),
            (400, 422),
        )
        self.sdk_error(
            "create a subscription for an endpoint that does not exist",
            lambda: subs.create(webhook_endpoint_id="webhook_endpoint_doesnotexist", resource_type="workflow", resource_id=self.wf,
                                enabled_events=["workflow_run.completed"]),
            (400, 404, 422),
        )

        by_ep, _ = self.walk("list subscriptions webhookEndpointId=sub", subs.list, WebhookSubscriptionsListResponse, 1, webhook_endpoint_id=sub_ep)
        ids = [s.id for s in by_ep]
        c.expect(sorted(ids) == sorted([s1.id, s2.id]), "list subscriptions by webhookEndpointId: wrong result (duplicates or omissions)",
                 f"got={ids} want={[s1.id, s2.id]}")
        c.expect(all(s.webhook_endpoint_id == sub_ep for s in by_ep), "list subscriptions by webhookEndpointId: other endpoints' subscriptions leaked in")
        by_res, _ = self.walk("list subscriptions resourceId=wf", subs.list, WebhookSubscriptionsListResponse, 2, resource_id=self.wf)
        got_res = {s.id for s in by_res}
        c.expect({s1.id, s3.id, s4.id} <= got_res and s2.id not in got_res, "list subscriptions by resourceId: wrong result",
                 f"got={sorted(got_res)}")
        c.expect(all(s.resource_id == self.wf for s in by_res), "list subscriptions by resourceId: other resources leaked in")
        asc, _ = self.walk("list subscriptions asc", subs.list, WebhookSubscriptionsListResponse, 1, webhook_endpoint_id=sub_ep, sort_dir="asc")
        desc, _ = self.walk("list subscriptions desc", subs.list, WebhookSubscriptionsListResponse, 1, webhook_endpoint_id=sub_ep, sort_dir="desc")
        c.expect([s.id for s in asc] == [s1.id, s2.id] and [s.id for s in desc] == [s2.id, s1.id],
                 "list subscriptions sortDir: wrong order", f"asc={[s.id for s in asc]} desc={[s.id for s in desc]}")

        got = self.sdk("retrieve subscription", lambda: subs.retrieve(s1.id), WebhookSubscription)
        c.expect(got.id == s1.id and list(got.enabled_events) == ["workflow_run.completed", "workflow_run.failed"],
                 "retrieve subscription: differs from the upserted one", self.traffic.describe())
        got = self.sdk("update subscription enabledEvents", lambda: subs.update(s1.id, enabled_events=["workflow_run.completed"]), WebhookSubscription)
        c.expect(list(got.enabled_events) == ["workflow_run.completed"], "update subscription: answer does not reflect the update", self.traffic.describe())
        got = self.sdk("retrieve subscription after update", lambda: subs.retrieve(s1.id), WebhookSubscription)
        c.expect(list(got.enabled_events) == ["workflow_run.completed"], "update subscription: not stored", self.traffic.describe())
        self.sdk_error(
            "update a workflow subscription with an extractor-only event",
            lambda: subs.update(s1.id, enabled_events=["extract_run.processed"]),
            (400, 422),
        )

        deleted = self.sdk("delete subscription", lambda: subs.delete(s2.id), WebhookSubscriptionsDeleteResponse)
        c.expect(deleted.id == s2.id, f"delete subscription: answer id {deleted.id!r} != {s2.id!r}")
        self.sdk_error("retrieve a deleted subscription", lambda: subs.retrieve(s2.id), (404,), NotFoundError)
        self.sdk_error("delete a deleted subscription", lambda: subs.delete(s2.id), (404,), NotFoundError)
        left = self.sdk("list subscriptions after delete", lambda: subs.list(webhook_endpoint_id=sub_ep), WebhookSubscriptionsListResponse)
        c.expect([s.id for s in left.data] == [s1.id], "list subscriptions after delete: the deleted one is still listed",
                 [s.id for s in left.data])
        self.summary["subscriptions_created"] = 5

    def delete_endpoint(self) -> None:
        log("endpoints: delete")
        c = self.c
        gone = self.ep["deleted"]
        res = self.sdk("delete endpoint", lambda: self.client.webhook_endpoints.delete(gone.id), WebhookEndpointsDeleteResponse)
        c.expect(res.id == gone.id, f"delete endpoint: answer id {res.id!r} != {gone.id!r}", self.traffic.describe())
        self.sdk_error("retrieve a deleted endpoint", lambda: self.client.webhook_endpoints.retrieve(gone.id), (404,), NotFoundError)
        self.sdk_error("update a deleted endpoint", lambda: self.client.webhook_endpoints.update(gone.id, name="x"), (404,), NotFoundError)
        self.sdk_error("delete a deleted endpoint", lambda: self.client.webhook_endpoints.delete(gone.id), (404,), NotFoundError)
        listed = self.sdk("list endpoints after delete", lambda: self.client.webhook_endpoints.list(max_page_size=1000), WebhookEndpointsListResponse)
        c.expect(gone.id not in {e.id for e in listed.data}, "list endpoints: the deleted endpoint is still listed")
        # Extend: "Delete a webhook endpoint and all of its subscriptions."
        self.sdk_error(
            "retrieve the subscription of a deleted endpoint (Extend deletes an endpoint's subscriptions with it)",
            lambda: self.client.webhook_subscriptions.retrieve(self.deleted_endpoint_sub),
            (404,),
            NotFoundError,
        )

    def publish(self, event_type: str, payload: Any, resource: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        body: Dict[str, Any] = {"eventType": event_type, "payload": payload}
        if resource is not None:
            body["resource"] = resource
        status, value, text = plain("POST", self.base, self.key, "/events", body)
        if status != 202 or not isinstance(value, dict) or not value.get("id"):
            raise Abort(f"POST /events {json.dumps(body)[:200]}… answered {status}: {text[:500]} (expected 202 with an event id)")
        self.c.expect(value.get("object") == "event" and value.get("eventType") == event_type,
                      f"POST /events: answer is not an event of type {event_type}", value)
        return value

    def events_and_deliveries(self, timeout: float) -> None:
        log("events: publish")
        ex = self.examples
        e1 = self.publish("extract_run.processed", ex["extract_run.processed"])
        e2 = self.publish("workflow_run.completed", ex["workflow_run.completed"], {"type": "workflow", "id": self.wf})
        e3 = self.publish("workflow_run.completed", ex["workflow_run.completed"], {"type": "workflow", "id": self.wf_gone})
        self.summary["events_published"] = 3
        # (endpoint key, event id) -> (expected eventType, event)
        expected: Dict[Tuple[str, str], Tuple[str, Dict[str, Any]]] = {
            ("current", e1["id"]): ("extract_run.processed", e1),
            ("legacy", e1["id"]): ("processor_run.processed", e1),
            ("dup_a", e1["id"]): ("extract_run.processed", e1),
            ("dup_b", e1["id"]): ("extract_run.processed", e1),
            ("updated", e1["id"]): ("extract_run.processed", e1),
            ("sub", e2["id"]): ("workflow_run.completed", e2),
            ("legacy", e2["id"]): ("workflow_run.completed", e2),
        }
        source = {e1["id"]: "extract_run.processed", e2["id"]: "workflow_run.completed", e3["id"]: "workflow_run.completed"}
        path_keys = {
            "/hooks/current": ["current"],
            "/hooks/legacy?version=2025-04-21": ["legacy"],
            "/hooks/dup": ["dup_a", "dup_b"],
            "/hooks/subscriptions": ["sub"],
            "/hooks/updated": ["updated"],
            "/hooks/disabled": ["disabled"],
            "/hooks/deleted": ["deleted"],
            "/hooks/updated-before": ["updated"],
        }

        def identify(r: Received) -> Optional[str]:
            """The endpoint a delivery was for: by path, and for the same-URL
            pair by the one secret that verifies it."""
            keys = path_keys.get(r.path, [])
            if len(keys) == 1:
                return keys[0]
            ok = [k for k in keys if self.client.webhooks.verify(r.body, r.headers, self.secret[k])]
            return ok[0] if len(ok) == 1 else None

        log(f"deliveries: waiting up to {timeout:.0f}s for {len(expected)} deliveries")
        deadline = time.time() + timeout
        while True:
            got = set()
            for r in self.receiver.received():
                k, ev = identify(r), (r.json() or {}).get("eventId")
                if k is not None:
                    got.add((k, ev))
            missing = [k for k in expected if k not in got]
            if not missing or time.time() > deadline:
                break
            time.sleep(0.1)
        if missing:
            self.c.expect(
                False,
                f"deliveries: {len(missing)} of {len(expected)} expected deliveries did not arrive within {timeout:.0f}s",
                "missing (endpoint, eventId, eventType): "
                + ", ".join(f"({k}, {ev}, {expected[(k, ev)][0]})" for k, ev in missing)
                + "\n      received: "
                + ", ".join(f"{r.method} {r.path}" for r in self.receiver.received()),
            )
        # Anything that should not arrive (disabled, deleted, unsubscribed) gets a moment to show up.
        time.sleep(1.0)
        self.verify_all(expected, source, identify)
        self.check_history(expected, [e1, e2, e3])

    def verify_all(self, expected: Dict[Tuple[str, str], Tuple[str, Dict[str, Any]]], source: Dict[str, str],
                   identify: Callable[[Received], Optional[str]]) -> None:
        log("deliveries: verify_and_parse on every received delivery")
        c = self.c
        checked = 0
        seen: Dict[Tuple[str, str], int] = {}
        for r in self.receiver.received():
            where = f"{r.method} {r.path}"
            data = r.json()
            c.expect(r.method == "POST", f"delivery {where}: method is not POST")
            c.expect(isinstance(data, dict), f"delivery {where}: body is not a JSON object", r.body[:300])
            if not isinstance(data, dict):
                continue
            event_id = data.get("eventId")
            key = identify(r)
            if key is None:
                c.expect(False, f"delivery {where}: cannot tell which endpoint it is for (unknown path, or no/both secrets verify)",
                         f"headers={r.headers}\n      body={r.body[:300]!r}")
                continue
            if (key, event_id) not in expected:
                c.expect(False, f"delivery {where}: endpoint {key} must not receive event {event_id} ({data.get('eventType')})",
                         "disabled/deleted endpoints and deleted subscriptions get nothing; each endpoint only what it enabled")
                continue
            seen[(key, event_id)] = seen.get((key, event_id), 0) + 1
            want_type, event = expected[(key, event_id)]
            secret = self.secret[key]
            checked += 1
            self.verify_one(r, key, secret, want_type, event, source[event_id])
        dups = {k: n for k, n in seen.items() if n > 1}
        if dups:
            log(f"note: duplicate deliveries (allowed by at-least-once, should be rare): {dups}")
        c.expect(checked > 0, "deliveries: nothing was received at all")
        self.summary["checked_deliveries"] = checked
        self.summary["expected_deliveries"] = len(expected)

    def verify_one(self, r: Received, key: str, secret: str, want_type: str, event: Dict[str, Any], canonical: str) -> None:
        c = self.c
        where = f"delivery to {key} ({r.path}) of {want_type}"
        data = r.json()
        c.expect(set(data.keys()) == {"eventId", "eventType", "payload"},
                 f"{where}: body must be exactly {{eventId, eventType, payload}}", sorted(data.keys()))
        c.expect((r.header("content-type") or "").startswith("application/json"), f"{where}: Content-Type is {r.header('content-type')!r}")
        ts, sig = r.header("x-extend-request-timestamp"), r.header("x-extend-request-signature")
        c.expect(ts is not None and sig is not None, f"{where}: missing x-extend-request-timestamp/-signature", r.headers)
        try:
            parsed = self.client.webhooks.verify_and_parse(r.body, r.headers, secret)
        except WebhookSignatureVerificationError as e:
            mine = None
            if ts:
                mine = hmac.new(secret.encode(), f"v0:{ts}:".encode() + r.body, hashlib.sha256).hexdigest()
            c.expect(False, f"{where}: the SDK rejected the signature: {e}",
                     f"timestamp={ts} now={int(time.time())} signature={sig} hmac(v0:ts:body)={mine}")
            return
        except Exception as e:  # parse errors, signed-URL payloads
            c.expect(False, f"{where}: verify_and_parse raised {type(e).__name__}: {e}", r.body[:300])
            return
        example = self.examples[canonical]
        if key == "legacy" and want_type == "processor_run.processed":
            # The SDK's models are for 2026-02-09; a legacy event falls back to a dict.
            ev = parsed if isinstance(parsed, dict) else json.loads(r.body)
            payload = ev.get("payload") or {}
            c.expect(ev.get("eventType") == "processor_run.processed", f"{where}: eventType is {ev.get('eventType')!r}")
            c.expect(payload.get("object") == "processor_run", f"{where}: payload.object is {payload.get('object')!r}")
            c.expect(payload.get("type") == "EXTRACT", f"{where}: payload.type is {payload.get('type')!r}, expected 'EXTRACT'")
            c.expect(ev.get("eventId") == event["id"], f"{where}: eventId {ev.get('eventId')!r} != {event['id']!r}")
        elif key == "legacy":
            got_type = parsed.get("eventType") if isinstance(parsed, dict) else parsed.event_type
            got_id = parsed.get("eventId") if isinstance(parsed, dict) else parsed.event_id
            c.expect(got_type == want_type, f"{where}: eventType is {got_type!r}")
            c.expect(got_id == event["id"], f"{where}: eventId {got_id!r} != {event['id']!r}")
        else:
            typed = not isinstance(parsed, dict)
            c.expect(typed, f"{where}: verify_and_parse returned a dict fallback, not a typed event",
                     _validation_detail(want_type, data.get("payload")))
            if typed:
                c.expect(parsed.event_type == want_type, f"{where}: event_type is {parsed.event_type!r}")
                c.expect(parsed.event_id == event["id"], f"{where}: event_id {parsed.event_id!r} != {event['id']!r}")
                c.expect(getattr(parsed.payload, "id", None) == example.get("id"), f"{where}: payload.id {getattr(parsed.payload, 'id', None)!r}")
        c.expect(not self.client.webhooks.verify(r.body, r.headers, "wss_" + "x" * 40),
                 f"{where}: verify() must be False with a wrong secret")
        c.expect(not self.client.webhooks.verify(r.body + b" ", r.headers, secret),
                 f"{where}: verify() must be False for a tampered body")
        for other, other_secret in self.secret.items():
            if other != key and self.client.webhooks.verify(r.body, r.headers, other_secret):
                c.expect(False, f"{where}: also verifies with {other}'s secret (endpoints must not share secrets)")
        if key == "current":
            c.expect(r.header("x-interop-endpoint") == "current", f"{where}: the advancedOptions header was not sent",
                     r.headers)

    def check_history(self, expected: Dict[Tuple[str, str], Any], events: List[Dict[str, Any]]) -> None:
        log("history: GET /webhook_deliveries?eventId=… matches the fan-out")
        ours = {e.id: k for k, e in self.ep.items()}
        for ev in events:
            status, body, text = plain("GET", self.base, self.key, f"/webhook_deliveries?eventId={ev['id']}&maxPageSize=1000")
            if not self.c.expect(status == 200 and isinstance(body, dict), f"GET /webhook_deliveries?eventId={ev['id']} answered {status}", text[:300]):
                continue
            got = sorted(ours[d["webhookEndpointId"]] for d in body.get("data", []) if d.get("webhookEndpointId") in ours)
            want = sorted(k for k, eid in expected if eid == ev["id"])
            self.c.expect(got == want, f"history: event {ev['id']} ({ev['eventType']}) went to the wrong endpoints",
                          f"got={got} want={want}")


def _wire_name_problems(model: Any, raw: Any, where: str = "") -> List[str]:
    """The SDK's models also accept Python (snake_case) field names, so a
    server answering `enabled_events` would still validate. Require every
    required field under its wire (camelCase) name, reject snake_case
    spellings, and recurse into a list's `data` items."""
    fields = getattr(model, "model_fields", None)
    if fields is None or not isinstance(raw, dict):
        return [] if fields is None else [f"{where or 'body'} is not a JSON object"]
    out: List[str] = []
    for name, f in fields.items():
        wire = f.alias or name
        if wire != name and name in raw:
            out.append(f"{where}{name!r} should be spelled {wire!r}")
        if f.is_required() and wire not in raw:
            out.append(f"{where}{wire!r} is missing")
    data = fields.get("data")
    if data is not None and isinstance(raw.get("data"), list):
        args = getattr(data.annotation, "__args__", ())
        if args:
            for i, item in enumerate(raw["data"]):
                out.extend(_wire_name_problems(args[0], item, f"data[{i}]."))
    return out


def _validation_detail(event_type: str, payload: Any) -> str:
    """Why the SDK's typed model rejects a payload (only the relevant union member's errors)."""
    try:
        pydantic.TypeAdapter(WebhookEvent).validate_python({"eventId": "evt_x", "eventType": event_type, "payload": payload})
        return "(validates)"
    except pydantic.ValidationError as err:
        wanted = "WebhookEvent_" + "".join(p.capitalize() for p in re.split(r"[._]", event_type))
        rel = [e for e in err.errors() if e["loc"] and str(e["loc"][0]) == wanted] or err.errors()[:5]
        return "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in rel[:8])


def main() -> int:
    base, key = os.environ.get("BASE_URL"), os.environ.get("API_KEY")
    if not base or not key:
        print("extend_sdk_check: set BASE_URL and API_KEY", file=sys.stderr)
        print(json.dumps({"ok": False, "error": "BASE_URL and API_KEY must be set"}))
        return 2
    timeout = float(os.environ.get("INTEROP_DELIVERY_TIMEOUT", "20"))
    run = Run(base, key)
    log(f"hookrelay at {run.base}, receiver at {run.receiver.url}, extend-ai SDK {_sdk_version()}")
    aborted = None
    try:
        run.catalog()
        run.auth()
        run.endpoints()
        run.subscriptions()
        run.delete_endpoint()
        run.events_and_deliveries(timeout)
    except Abort as e:
        aborted = str(e)
        log(f"ABORT: {aborted}")
    except Exception as e:  # a bug in this script or an SDK surprise
        aborted = f"unexpected {type(e).__name__}: {e}\n{traceback.format_exc()}\n      last exchange: {run.traffic.describe()}"
        log(f"ABORT: {aborted}")
    finally:
        run.receiver.stop()
    failures = run.c.failures + ([aborted] if aborted else [])
    ok = not failures
    summary = {"ok": ok, "checked_deliveries": run.summary.get("checked_deliveries", 0), "checks_passed": run.c.passed,
               "sdk_requests": run.traffic.count, **{k: v for k, v in run.summary.items() if k != "checked_deliveries"},
               "failures": [f.split("\n")[0] for f in failures]}
    if not ok:
        log(f"{len(failures)} failure(s):")
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
    print(json.dumps(summary), flush=True)
    return 0 if ok else 1


def _sdk_version() -> str:
    try:
        from importlib.metadata import version

        return version("extend-ai")
    except Exception:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
