//! The three wire profiles, secret rotation, and signed-URL payloads,
//! checked on real deliveries from a running server.

use std::time::Duration;

use hookrelay_webhooks::{verify, Profile, VerifyOptions};
use serde_json::{json, Value};

use hookrelay_core::time::{Clock, SystemClock};

use crate::support::{eventually, verify_extend, Received, Receiver, TestServer};

const WAIT: Duration = Duration::from_secs(15);

fn check(
    profile: Profile,
    r: &Received,
    secret: &str,
) -> Result<(), hookrelay_webhooks::VerifyError> {
    verify(
        profile,
        &r.body,
        &r.header_pairs(),
        secret,
        &VerifyOptions::default(),
    )
}

#[tokio::test]
async fn standard_webhooks_profile_signs_id_timestamp_and_body() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = s
        .endpoint(
            &format!("{}/sw", r.url),
            &["extract_run.processed"],
            json!({"signatureScheme": "standard-webhooks"}),
        )
        .await;
    let secret = ep["signingSecret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let ev = s.publish("extract_run.processed", json!({"id": "x"})).await;
    let got = r.wait_for(1, WAIT).await;
    let g = &got[0];
    assert_eq!(g.header("webhook-id").as_deref(), ev["id"].as_str());
    assert!(g
        .header("webhook-timestamp")
        .unwrap()
        .parse::<i64>()
        .is_ok());
    assert!(g.header("webhook-signature").unwrap().starts_with("v1,"));
    assert!(g.header("x-extend-request-signature").is_none());
    check(Profile::StandardWebhooks, g, secret).expect("verifies");
    assert!(check(
        Profile::StandardWebhooks,
        g,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    )
    .is_err());
}

#[tokio::test]
async fn body_hmac_profile_signs_the_raw_body() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = s
        .endpoint(
            &format!("{}/bh", r.url),
            &["extract_run.processed"],
            json!({"signatureScheme": "body-hmac"}),
        )
        .await;
    let secret = ep["signingSecret"].as_str().unwrap();
    s.publish("extract_run.processed", json!({"id": "x"})).await;
    let got = r.wait_for(1, WAIT).await;
    let sig = got[0].header("x-webhook-signature").unwrap();
    assert_eq!(
        sig,
        hookrelay_webhooks::signing::body_hmac_signature(secret, &got[0].body)
    );
    check(Profile::BodyHmac, &got[0], secret).unwrap();
}

async fn rotate(s: &TestServer, id: &str, grace: u64) -> Value {
    let (status, v) = s
        .post(
            &format!("/webhook_endpoints/{id}/rotate_secret"),
            json!({"graceSeconds": grace}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn extend_rotation_switches_when_the_grace_period_ends() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = s
        .endpoint(
            &format!("{}/x", r.url),
            &["extract_run.processed"],
            json!({}),
        )
        .await;
    let id = ep["id"].as_str().unwrap();
    let old = ep["signingSecret"].as_str().unwrap().to_owned();
    let rot = rotate(&s, id, 2).await;
    let new = rot["signingSecret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("wss_") && new != old);
    let active_at =
        hookrelay_core::time::Timestamp::parse_rfc3339(rot["newSecretActiveAt"].as_str().unwrap())
            .unwrap();
    let now = SystemClock.now();
    assert!(
        active_at.millis() - now.millis() > 1000,
        "the response says when the new secret starts"
    );
    let (_, got_ep) = s.get(&format!("/webhook_endpoints/{id}")).await;
    assert!(got_ep.get("signingSecret").is_none());

    // During the grace period the old secret still signs.
    s.publish("extract_run.processed", json!({"id": 1})).await;
    let got = r.wait_for(1, WAIT).await;
    verify_extend(&got[0], &old).expect("receivers holding the old secret keep working");
    assert!(verify_extend(&got[0], &new).is_err());
    // After it, the new one: once the clock has passed the time the
    // rotation's answer gave.
    eventually(WAIT, || async {
        let now = SystemClock.now();
        if now > active_at {
            Ok(())
        } else {
            Err(format!("{now:?} is not yet past {active_at:?}"))
        }
    })
    .await;
    s.publish("extract_run.processed", json!({"id": 2})).await;
    let got = r.wait_for(2, WAIT).await;
    verify_extend(&got[1], &new).expect("new secret after the grace period");
    assert!(verify_extend(&got[1], &old).is_err());
}

#[tokio::test]
async fn standard_webhooks_rotation_signs_with_both_secrets() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = s
        .endpoint(
            &format!("{}/x", r.url),
            &["extract_run.processed"],
            json!({"signatureScheme": "standard-webhooks"}),
        )
        .await;
    let id = ep["id"].as_str().unwrap();
    let old = ep["signingSecret"].as_str().unwrap().to_owned();
    let rot = rotate(&s, id, 3600).await;
    let new = rot["signingSecret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_"));
    s.publish("extract_run.processed", json!({"id": 1})).await;
    let got = r.wait_for(1, WAIT).await;
    let header = got[0].header("webhook-signature").unwrap();
    assert_eq!(header.split(' ').count(), 2, "{header}");
    check(Profile::StandardWebhooks, &got[0], &old).expect("old secret verifies");
    check(Profile::StandardWebhooks, &got[0], &new).expect("new secret verifies");
    // A rotation with no grace drops the old secret at once.
    let rot2 = rotate(&s, id, 0).await;
    let newest = rot2["signingSecret"].as_str().unwrap().to_owned();
    s.publish("extract_run.processed", json!({"id": 2})).await;
    let got = r.wait_for(2, WAIT).await;
    check(Profile::StandardWebhooks, &got[1], &newest).unwrap();
    assert!(check(Profile::StandardWebhooks, &got[1], &new).is_err());
    let (status, _) = s
        .post(
            &format!("/webhook_endpoints/{id}/rotate_secret"),
            json!({"graceSeconds": 99999999}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn body_hmac_rotation_keeps_the_old_secret_during_grace() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = s
        .endpoint(
            &format!("{}/x", r.url),
            &["extract_run.processed"],
            json!({"signatureScheme": "body-hmac"}),
        )
        .await;
    let old = ep["signingSecret"].as_str().unwrap().to_owned();
    let rot = rotate(&s, ep["id"].as_str().unwrap(), 3600).await;
    s.publish("extract_run.processed", json!({"id": 1})).await;
    let got = r.wait_for(1, WAIT).await;
    check(Profile::BodyHmac, &got[0], &old).unwrap();
    assert!(check(
        Profile::BodyHmac,
        &got[0],
        rot["signingSecret"].as_str().unwrap()
    )
    .is_err());
}

fn big_payload() -> Value {
    json!({"object": "extract_run", "id": "extract_run_big", "metadata": {"env": "prod"}, "output": {"text": "y".repeat(5000)}})
}

#[tokio::test]
async fn large_payloads_travel_as_signed_urls_that_need_no_key() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = s
        .endpoint(
            &format!("{}/url", r.url),
            &["extract_run.processed"],
            json!({"advancedOptions": {"payload": {"format": "url", "urlThresholdBytes": 1000}}}),
        )
        .await;
    let secret = ep["signingSecret"].as_str().unwrap();
    let payload = big_payload();
    let ev = s.publish("extract_run.processed", payload.clone()).await;
    s.publish("extract_run.processed", json!({"id": "small"}))
        .await;
    let got = r.wait_for(2, WAIT).await;
    let big = got
        .iter()
        .find(|g| g.json()["payload"]["object"] == "signed_data_url")
        .expect("big one by URL");
    let small = got
        .iter()
        .find(|g| g.json()["payload"]["id"] == "small")
        .expect("small one inline");
    verify_extend(big, secret).unwrap();
    verify_extend(small, secret).unwrap();
    let body = big.json();
    assert_eq!(body["eventId"], ev["id"]);
    assert_eq!(body["payload"]["id"], "extract_run_big");
    assert_eq!(body["payload"]["metadata"], json!({"env": "prod"}));
    let url = body["payload"]["data"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/payloads/", s.url)), "{url}");
    // The token is opaque: the event's id is not in it, in any form.
    let token = &url[url.rfind('/').unwrap() + 1..];
    let ev_id = ev["id"].as_str().unwrap();
    assert!(!token.contains(ev_id), "{token}");
    assert!(!token.contains(&ev_id[4..]), "{token}");
    // No API key needed; exactly the published payload comes back.
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    let fetched: Value = resp.json().await.unwrap();
    assert_eq!(fetched, payload);

    // Altered and truncated links reveal nothing.
    for bad in [
        format!("{}x", url),
        url[..url.len() - 3].to_owned(),
        url.replace("/payloads/", "/payloads/A"),
    ] {
        let resp = reqwest::get(&bad).await.unwrap();
        assert_eq!(resp.status(), 403, "{bad}");
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains("extract_run_big") && !text.contains("yyyy"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn the_threshold_is_inclusive_and_absent_means_always() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    // Measure the inline body once, then set the threshold to exactly that size.
    let probe = s
        .endpoint(
            &format!("{}/probe", r.url),
            &["extract_run.processed"],
            json!({}),
        )
        .await;
    s.publish("extract_run.processed", json!({"id": "p"})).await;
    let inline_len = r.wait_for(1, WAIT).await[0].body.len() as u64;
    s.delete(&format!(
        "/webhook_endpoints/{}",
        probe["id"].as_str().unwrap()
    ))
    .await;
    s.endpoint(
        &format!("{}/exact", r.url),
        &["extract_run.processed"],
        json!({"advancedOptions": {"payload": {"format": "url", "urlThresholdBytes": inline_len}}}),
    )
    .await;
    s.endpoint(
        &format!("{}/below", r.url),
        &["extract_run.processed"],
        json!({"advancedOptions": {"payload": {"format": "url", "urlThresholdBytes": inline_len - 1}}}),
    )
    .await;
    s.endpoint(
        &format!("{}/always", r.url),
        &["extract_run.processed"],
        json!({"advancedOptions": {"payload": {"format": "url"}}}),
    )
    .await;
    // Same length as the probe: one character in the id.
    s.publish("extract_run.processed", json!({"id": "q"})).await;
    let got = r.wait_for(4, WAIT).await;
    let kind = |path: &str| {
        let g = got.iter().find(|g| g.path_and_query == path).unwrap();
        g.json()["payload"]["object"]
            .as_str()
            .unwrap_or("inline")
            .to_owned()
    };
    assert_eq!(
        kind("/exact"),
        "inline",
        "a body exactly at the threshold stays inline"
    );
    assert_eq!(kind("/below"), "signed_data_url");
    assert_eq!(kind("/always"), "signed_data_url");
}

#[tokio::test]
async fn every_attempt_and_view_mints_a_fresh_url_and_old_ones_expire() {
    let s = TestServer::start_with(|c| c.signed_url_lifetime = Duration::from_secs(2)).await;
    let r = Receiver::start().await;
    r.script(vec![crate::support::Reply::Status(500)]);
    let legacy = s
        .endpoint(
            &format!("{}/legacy", r.url),
            &["processor_run.processed"],
            json!({"apiVersion": "2025-04-21", "retrySchedule": [1], "advancedOptions": {"payload": {"format": "url"}}}),
        )
        .await;
    let ev = s
        .publish(
            "extract_run.processed",
            json!({"object": "extract_run", "id": "r1"}),
        )
        .await;
    let got = r.wait_for(2, WAIT).await;
    let u1 = got[0].json()["payload"]["data"]
        .as_str()
        .unwrap()
        .to_owned();
    let u2 = got[1].json()["payload"]["data"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(u1, u2, "a new URL for every attempt");
    for g in &got {
        verify_extend(g, legacy["signingSecret"].as_str().unwrap()).unwrap();
        assert_eq!(g.json()["eventType"], "processor_run.processed");
    }
    // The URL serves the payload rendered for the endpoint's version.
    let fetched: Value = reqwest::get(&u2).await.unwrap().json().await.unwrap();
    assert_eq!(fetched["object"], "processor_run");
    assert_eq!(fetched["type"], "EXTRACT");
    assert_eq!(fetched["id"], "r1");

    let d = s.delivery_of(ev["id"].as_str().unwrap()).await;
    let id = d["id"].as_str().unwrap();
    let d = s
        .wait_delivery(id, WAIT, |d| d["status"] == "succeeded")
        .await;
    let view_url = |d: &Value| {
        let body: Value =
            serde_json::from_str(d["attempts"][0]["request"]["body"].as_str().unwrap()).unwrap();
        body["payload"]["data"].as_str().unwrap().to_owned()
    };
    let v1 = view_url(&d);
    let v2 = view_url(&s.delivery(id).await);
    assert_ne!(v1, v2, "each history view mints its own URL");
    assert!(v1 != u1 && v1 != u2);
    assert_eq!(reqwest::get(&v1).await.unwrap().status(), 200);
    // After the lifetime, links answer 410 and say nothing more.
    let resp = eventually(WAIT, || async {
        let resp = reqwest::get(&u1).await.unwrap();
        match resp.status().as_u16() {
            410 => Ok(resp),
            200 => Err("the link still answers 200".to_owned()),
            other => panic!("{u1} answered {other}"),
        }
    })
    .await;
    let text = resp.text().await.unwrap();
    assert!(!text.contains("r1"), "{text}");
    // An altered expired link is not a genuine link: 403, not 410.
    let last = u1.len() - 10;
    let flipped = if &u1[last..=last] == "A" { "B" } else { "A" };
    let altered = format!("{}{}{}", &u1[..last], flipped, &u1[last + 1..]);
    assert_eq!(reqwest::get(&altered).await.unwrap().status(), 403);
}

/// The receiver library against real deliveries of a running server, one
/// endpoint per profile (and the v1 envelope).
#[tokio::test]
async fn the_receiver_library_verifies_parses_and_fetches_real_deliveries() {
    use hookrelay_webhooks::{
        fetch_signed_payload, is_signed_url_event, verify_and_parse, verify_and_parse_v1,
        EventType, Options, Payload, Webhook, WebhookError,
    };
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ext = s
        .endpoint(
            &format!("{}/extend", r.url),
            &["extract_run.processed"],
            json!({"advancedOptions": {"payload": {"format": "url", "urlThresholdBytes": 1000}}}),
        )
        .await;
    let sw = s
        .endpoint(
            &format!("{}/sw", r.url),
            &["extract_run.processed"],
            json!({"signatureScheme": "standard-webhooks"}),
        )
        .await;
    let (st, v1) = s
        .post(
            "/v1/webhooks",
            json!({"url": format!("{}/v1", r.url), "events": ["user.updated"]}),
        )
        .await;
    assert_eq!(st, 201);
    let payload = big_payload();
    s.publish("extract_run.processed", payload.clone()).await;
    s.post("/events", json!({"eventType": "user.updated", "payload": {"id": "u1"}, "previousData": {"name": "a"}}))
        .await;
    let got = r.wait_for(3, WAIT).await;
    let at = |p: &str| got.iter().find(|g| g.path_and_query == p).unwrap().clone();

    // extend + signed URL: refused by default, fetched on request.
    let e = at("/extend");
    let secret = ext["signingSecret"].as_str().unwrap();
    let err =
        verify_and_parse(&e.body, &e.header_pairs(), secret, &Options::default()).unwrap_err();
    assert!(matches!(err, WebhookError::SignedUrlNotAllowed), "{err}");
    let event = verify_and_parse(
        &e.body,
        &e.header_pairs(),
        secret,
        &Options::default().with_allow_signed_url(true),
    )
    .unwrap();
    assert!(is_signed_url_event(&event));
    assert_eq!(event.event_type, EventType::ExtractRunProcessed);
    let full = fetch_signed_payload(&event).await.unwrap();
    assert_eq!(full.payload, Payload::Inline(payload.clone()));
    assert!(
        verify_and_parse(&e.body, &e.header_pairs(), "wss_wrong", &Options::default()).is_err()
    );

    // standard-webhooks.
    let g = at("/sw");
    let hook = Webhook::new(
        Profile::StandardWebhooks,
        sw["signingSecret"].as_str().unwrap(),
    )
    .unwrap();
    let event = hook.verify_and_parse(&g.body, &g.header_pairs()).unwrap();
    assert_eq!(event.payload, Payload::Inline(payload));

    // body-hmac with the v1 envelope.
    let v = at("/v1");
    let ev = verify_and_parse_v1(
        &v.body,
        &v.header_pairs(),
        v1["secret"].as_str().unwrap(),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(ev.event_type, EventType::UserUpdated);
    assert_eq!(ev.previous_data, Some(json!({"name": "a"})));
}

#[tokio::test]
async fn signed_urls_keep_working_across_a_restart() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    s.endpoint(
        &format!("{}/u", r.url),
        &["extract_run.processed"],
        json!({"advancedOptions": {"payload": {"format": "url"}}}),
    )
    .await;
    s.publish("extract_run.processed", json!({"id": "keep"}))
        .await;
    let got = r.wait_for(1, WAIT).await;
    let url = got[0].json()["payload"]["data"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_base = s.url.clone();
    let s = s.restart().await;
    // The server key survived; only the listening port changed.
    let moved = url.replace(&old_base, &s.url);
    let resp = reqwest::get(&moved).await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["id"], "keep");
}
