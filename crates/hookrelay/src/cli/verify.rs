//! `hookrelay verify`: checks a captured webhook (body on stdin, headers as
//! `--header` flags) offline. This module owns the command's arguments, how
//! `--header` flags become headers, and how the receiver library's
//! [`VerifyError`] kinds are explained to a person; the check itself is
//! [`hookrelay_webhooks::verify()`], the same code receivers run, so the
//! command cannot disagree with them.

use std::fmt;
use std::io::{IsTerminal, Read};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, ValueEnum};
use hookrelay_core::secret::Secret;
use hookrelay_webhooks::signing::{
    BODY_HMAC_SIGNATURE_HEADER, EXTEND_SIGNATURE_HEADER, EXTEND_TIMESTAMP_HEADER,
    STANDARD_ID_HEADER, STANDARD_SIGNATURE_HEADER, STANDARD_TIMESTAMP_HEADER,
};
use hookrelay_webhooks::{HeaderLookup, Profile, VerifyError, VerifyOptions};

/// Exit status of a webhook that failed verification.
pub const EXIT_INVALID: u8 = 1;
/// Exit status of a command that could not be carried out as asked (clap
/// uses the same for its own usage errors).
pub const EXIT_USAGE: u8 = 2;

const AFTER_HELP: &str = "\
Example: check a delivery captured by your receiver (the exact body bytes in body.json):

  hookrelay verify --secret \"$SECRET\" --profile extend \\
    --header 'x-extend-request-timestamp: 1765000000' \\
    --header 'x-extend-request-signature: 3f1c…' < body.json

A capture older than --max-age fails as too old; add --now <the Unix time it
was received> to check its signature anyway.

Exit status: 0 valid, 1 invalid (the reason is on stderr), 2 bad usage.";

/// Options of `hookrelay verify`.
#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct VerifyArgs {
    /// The endpoint's signing secret: wss_… (extend), whsec_… (standard-webhooks) or whs_… (body-hmac).
    #[arg(long, env = "HOOKRELAY_WEBHOOK_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub secret: Secret,
    /// The wire profile the endpoint signs with.
    #[arg(long, value_enum, default_value_t = WireProfile::Extend)]
    pub profile: WireProfile,
    /// A header of the delivery, as "name: value"; repeat it for each header (other headers are ignored).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<Header>,
    /// Check against this Unix time in seconds instead of the clock, e.g. when the capture was received.
    #[arg(long, value_name = "UNIX_SECONDS", allow_negative_numbers = true)]
    pub now: Option<i64>,
    /// The oldest timestamp accepted, in seconds; 0 turns the age check off [default: the receiver library's, 300].
    #[arg(long, value_name = "SECONDS")]
    pub max_age: Option<u64>,
}

/// `--profile`'s values: the receiver library's [`Profile`]s, named as in
/// the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WireProfile {
    /// x-extend-request-timestamp and x-extend-request-signature.
    Extend,
    /// webhook-id, webhook-timestamp and webhook-signature.
    StandardWebhooks,
    /// x-webhook-signature over the body alone (no timestamp).
    BodyHmac,
}

impl From<WireProfile> for Profile {
    fn from(p: WireProfile) -> Self {
        match p {
            WireProfile::Extend => Profile::Extend,
            WireProfile::StandardWebhooks => Profile::StandardWebhooks,
            WireProfile::BodyHmac => Profile::BodyHmac,
        }
    }
}

fn parse_secret(s: &str) -> Result<Secret, String> {
    if s.is_empty() {
        return Err("the secret is empty".into());
    }
    Ok(Secret::new(s.to_owned()))
}

/// One `--header "name: value"` flag. The value is trimmed as an HTTP
/// server trims it, so lines copied from `curl -v` or a log work as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl FromStr for Header {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((name, value)) = s.split_once(':') else {
            return Err(format!(
                "expected \"name: value\", but there is no colon in {s:?}"
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!(
                "expected \"name: value\", but the name is empty in {s:?}"
            ));
        }
        // Header names are HTTP tokens: a space or control character means
        // the flag was mangled (e.g. `--header "name value: x"`), and such a
        // name could never match.
        if !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("{name:?} is not a header name"));
        }
        Ok(Header {
            name: name.to_owned(),
            value: value.trim().to_owned(),
        })
    }
}

/// The headers as the receiver library reads them.
struct Headers<'a>(&'a [Header]);

impl HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

/// The headers each profile reads.
fn profile_headers(profile: Profile) -> &'static [&'static str] {
    match profile {
        Profile::Extend => &[EXTEND_TIMESTAMP_HEADER, EXTEND_SIGNATURE_HEADER],
        Profile::StandardWebhooks => &[
            STANDARD_ID_HEADER,
            STANDARD_TIMESTAMP_HEADER,
            STANDARD_SIGNATURE_HEADER,
        ],
        Profile::BodyHmac => &[BODY_HMAC_SIGNATURE_HEADER],
    }
}

fn timestamp_header(profile: Profile) -> Option<&'static str> {
    match profile {
        Profile::Extend => Some(EXTEND_TIMESTAMP_HEADER),
        Profile::StandardWebhooks => Some(STANDARD_TIMESTAMP_HEADER),
        Profile::BodyHmac => None,
    }
}

fn signature_header(profile: Profile) -> &'static str {
    match profile {
        Profile::Extend => EXTEND_SIGNATURE_HEADER,
        Profile::StandardWebhooks => STANDARD_SIGNATURE_HEADER,
        Profile::BodyHmac => BODY_HMAC_SIGNATURE_HEADER,
    }
}

/// A verified webhook, as `valid: …` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Valid {
    profile: Profile,
    /// Which of the signature header's entries matched, and how many there
    /// are (standard-webhooks carries one per active secret during a
    /// rotation; the other profiles carry one).
    matched: (usize, usize),
    /// The timestamp, and how old it is at the clock used.
    timestamp: Option<(i64, i64)>,
    max_age: Option<Duration>,
}

impl fmt::Display for Valid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (i, n) = self.matched;
        write!(f, "valid: {} signature", self.profile)?;
        if n > 1 {
            write!(f, " {i} of {n}")?;
        }
        write!(f, " in {} matches", signature_header(self.profile))?;
        match self.timestamp {
            Some((ts, age)) if age >= 0 => {
                write!(f, "; timestamp {ts} is {age} s old")?;
                match self.max_age {
                    Some(max) if !max.is_zero() => {
                        write!(f, " (at most {} s allowed)", max.as_secs())
                    }
                    _ => write!(f, " (age check off)"),
                }
            }
            Some((ts, age)) => write!(
                f,
                "; timestamp {ts} is {} s ahead of the clock (within the allowed skew)",
                age.unsigned_abs()
            ),
            None => write!(
                f,
                "; {} has no timestamp, so a replayed delivery would verify too",
                self.profile
            ),
        }
    }
}

/// Why a webhook is not valid, or why it could not be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// The webhook does not verify (exit 1).
    Invalid(String),
    /// The command cannot check it as asked (exit 2).
    Usage(String),
}

/// Checks `body` and `headers` with the receiver library at the fixed clock
/// in `opts` and says what matched, or why nothing did.
fn check(
    profile: Profile,
    body: &[u8],
    headers: &[Header],
    secret: &str,
    opts: &VerifyOptions,
) -> Result<Valid, Failure> {
    // The library reads the first of repeated headers; refuse to guess
    // which one the user meant.
    for name in profile_headers(profile) {
        if headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
            > 1
        {
            return Err(Failure::Usage(format!(
                "--header {name} is given more than once"
            )));
        }
    }
    let lookup = Headers(headers);
    match hookrelay_webhooks::verify(profile, body, &lookup, secret, opts) {
        Ok(()) => {}
        Err(VerifyError::BadSignature)
            if signed_without_final_newline(profile, body, &lookup, secret, opts) =>
        {
            return Err(Failure::Invalid(
                "no signature matches this body, but one matches it without its final newline: \
                 the body on stdin has a newline the sender did not send (added by echo or an \
                 editor?)"
                    .into(),
            ));
        }
        Err(e) => return Err(explain(profile, &lookup, &e)),
    }

    let now = opts.now.unwrap_or_else(system_now);
    let timestamp = timestamp_header(profile)
        .and_then(|name| lookup.header(name))
        .and_then(|v| v.parse::<i64>().ok())
        .map(|ts| (ts, now.saturating_sub(ts)));
    let matched = match profile {
        Profile::StandardWebhooks => which_standard_signature(body, headers, secret, opts),
        _ => (1, 1),
    };
    Ok(Valid {
        profile,
        matched,
        timestamp,
        max_age: opts.max_age,
    })
}

/// Whether `body` minus a final `\n` (or `\r\n`) verifies: the commonest
/// way a pasted or `echo`ed capture differs from the bytes that were signed.
fn signed_without_final_newline<H: HeaderLookup>(
    profile: Profile,
    body: &[u8],
    headers: &H,
    secret: &str,
    opts: &VerifyOptions,
) -> bool {
    let Some(trimmed) = body.strip_suffix(b"\n") else {
        return false;
    };
    let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
    hookrelay_webhooks::verify(profile, trimmed, headers, secret, opts).is_ok()
}

/// Which space-separated entry of a verified standard-webhooks signature
/// header matched: each is checked alone by the library, so the answer
/// names the secret (old or new, during a rotation) the sender used.
fn which_standard_signature(
    body: &[u8],
    headers: &[Header],
    secret: &str,
    opts: &VerifyOptions,
) -> (usize, usize) {
    let lookup = Headers(headers);
    let entries: Vec<&str> = lookup
        .header(STANDARD_SIGNATURE_HEADER)
        .unwrap_or_default()
        .split(' ')
        .filter(|e| !e.is_empty())
        .collect();
    let position = entries.iter().position(|entry| {
        let mut alone: Vec<Header> = headers
            .iter()
            .filter(|h| !h.name.eq_ignore_ascii_case(STANDARD_SIGNATURE_HEADER))
            .cloned()
            .collect();
        alone.push(Header {
            name: STANDARD_SIGNATURE_HEADER.into(),
            value: (*entry).to_owned(),
        });
        hookrelay_webhooks::verify(
            Profile::StandardWebhooks,
            body,
            &Headers(&alone),
            secret,
            opts,
        )
        .is_ok()
    });
    (position.map_or(1, |i| i + 1), entries.len().max(1))
}

/// One line naming the failure's kind and what to look at.
fn explain(profile: Profile, headers: &Headers<'_>, e: &VerifyError) -> Failure {
    let invalid = |s: String| Failure::Invalid(s);
    match e {
        VerifyError::MissingHeader(name) => {
            let mut s = format!(
                "missing header {name} (the {profile} profile reads {})",
                profile_headers(profile).join(", ")
            );
            // The commonest mistake: headers of one profile checked as another.
            if let Some(other) = Profile::ALL.into_iter().find(|&p| {
                p != profile
                    && profile_headers(p)
                        .iter()
                        .all(|h| headers.header(h).is_some())
            }) {
                s.push_str(&format!("; these headers look like --profile {other}"));
            }
            invalid(s)
        }
        VerifyError::BadTimestamp => {
            let name = timestamp_header(profile).unwrap_or("timestamp");
            invalid(format!(
                "malformed header {name}: {:?} is not an integer number of Unix seconds",
                headers.header(name).unwrap_or_default()
            ))
        }
        VerifyError::TooOld {
            age_secs,
            max_age_secs,
        } => invalid(format!(
            "timestamp too old by {} s: it is {age_secs} s old and at most {max_age_secs} s is \
             allowed (for an old capture, pass --now <the Unix time it was received>)",
            age_secs.saturating_sub(*max_age_secs)
        )),
        VerifyError::InFuture {
            ahead_secs,
            allowed_secs,
        } => invalid(format!(
            "timestamp in the future: {ahead_secs} s ahead of the clock, at most {allowed_secs} s \
             allowed (check --now, or this machine's clock)"
        )),
        VerifyError::BadSignature => match malformed_signature(profile, headers) {
            Some(why) => invalid(format!(
                "malformed header {}: {why}",
                signature_header(profile)
            )),
            None => invalid(format!(
                "no signature matches this secret: the secret is wrong, or the body{} changed \
                 (the body must be the exact bytes received)",
                match profile {
                    Profile::Extend => " or the timestamp",
                    Profile::StandardWebhooks => ", the id or the timestamp",
                    _ => "",
                }
            )),
        },
        // Not the webhook's fault: the secret given cannot sign anything.
        VerifyError::BadSecret(source) => Failure::Usage(format!(
            "--secret cannot be used for the {profile} profile: {source}{}",
            if profile == Profile::StandardWebhooks {
                " (standard-webhooks secrets look like whsec_<base64>)"
            } else {
                ""
            }
        )),
        other => invalid(other.to_string()),
    }
}

/// Why the signature header cannot hold a signature at all, so that "no
/// signature matches" is kept for well-formed signatures computed with
/// another secret or over other bytes. Only the shape is looked at here.
fn malformed_signature(profile: Profile, headers: &Headers<'_>) -> Option<String> {
    let value = headers.header(signature_header(profile))?;
    match profile {
        Profile::StandardWebhooks => {
            // Base64 of a 32-byte HMAC-SHA256: 43 characters and one `=`.
            let well_formed = value.split(' ').any(|entry| {
                entry.split_once(',').is_some_and(|(version, sig)| {
                    let sig = sig.trim_end_matches('=');
                    version == "v1"
                        && sig.len() == 43
                        && sig
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
                })
            });
            (!well_formed).then(|| {
                "expected space-separated \"v1,<base64 HMAC-SHA256>\" entries, found none".into()
            })
        }
        _ => {
            let well_formed = value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit());
            (!well_formed).then(|| {
                format!(
                    "expected 64 hex digits (an HMAC-SHA256), got {} characters{}",
                    value.chars().count(),
                    if value.bytes().all(|b| b.is_ascii_hexdigit()) {
                        ""
                    } else {
                        " that are not all hex digits"
                    }
                )
            })
        }
    }
}

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Runs `hookrelay verify`: reads the body from stdin, prints `valid: …` to
/// stdout (exit 0) or the reason it is not to stderr (exit 1); 2 when it
/// cannot check as asked (e.g. an unusable secret, or stdin cannot be read:
/// the `Err` case).
pub fn run_status(args: VerifyArgs) -> anyhow::Result<u8> {
    let profile = Profile::from(args.profile);
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("reading the body from stdin; end it with Ctrl-D, or pipe it: < body.json");
    }
    let mut body = Vec::new();
    stdin
        .lock()
        .read_to_end(&mut body)
        .context("reading the body from stdin")?;

    // One reading of the clock, so the age printed is the age checked.
    let mut opts = VerifyOptions::default().with_now(args.now.unwrap_or_else(system_now));
    if let Some(secs) = args.max_age {
        opts = opts.with_max_age(Some(Duration::from_secs(secs)));
    }
    match check(profile, &body, &args.headers, args.secret.expose(), &opts) {
        Ok(valid) => {
            println!("{valid}");
            Ok(0)
        }
        Err(Failure::Invalid(why)) => {
            eprintln!("invalid: {why}");
            Ok(EXIT_INVALID)
        }
        Err(Failure::Usage(why)) => {
            eprintln!("error: {why}");
            Ok(EXIT_USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use hookrelay_webhooks::signing::{body_hmac_signature, extend_signature, standard_signature};
    use hookrelay_webhooks::StandardSecret;

    use super::*;

    const EXTEND_SECRET: &str = "wss_unit_test_secret";
    const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const TS: i64 = 1_765_000_000;
    const BODY: &[u8] = br#"{"eventId":"evt_1"}"#;

    fn h(name: &str, value: &str) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    fn at(now: i64) -> VerifyOptions {
        VerifyOptions::default().with_now(now)
    }

    fn extend_headers() -> Vec<Header> {
        vec![
            h("X-Extend-Request-Timestamp", &TS.to_string()),
            h(
                "X-Extend-Request-Signature",
                &extend_signature(EXTEND_SECRET, TS, BODY),
            ),
        ]
    }

    fn invalid(r: Result<Valid, Failure>) -> String {
        match r {
            Err(Failure::Invalid(s)) => s,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn header_flags_split_at_the_first_colon_and_trim() {
        assert_eq!(
            "x-extend-request-timestamp: 17".parse(),
            Ok(h("x-extend-request-timestamp", "17"))
        );
        assert_eq!(
            "  Webhook-Id:msg_1:2 \r".parse(),
            Ok(h("Webhook-Id", "msg_1:2"))
        );
        assert_eq!("x-empty:".parse(), Ok(h("x-empty", "")));
    }

    #[test]
    fn header_flags_without_a_colon_or_name_are_refused() {
        let e = "x-extend-request-timestamp 17"
            .parse::<Header>()
            .unwrap_err();
        assert!(e.contains("no colon"), "{e}");
        let e = ": 17".parse::<Header>().unwrap_err();
        assert!(e.contains("name is empty"), "{e}");
        let e = "bad name: 1".parse::<Header>().unwrap_err();
        assert!(e.contains("not a header name"), "{e}");
    }

    #[test]
    fn header_flag_errors_exit_with_usage_status() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            args: VerifyArgs,
        }
        let e =
            Cli::try_parse_from(["verify", "--secret", "s", "--header", "nocolon"]).unwrap_err();
        assert_eq!(e.exit_code(), i32::from(EXIT_USAGE));
        assert!(e.to_string().contains("no colon"), "{e}");
        let ok = Cli::try_parse_from([
            "verify",
            "--secret",
            "s",
            "-H",
            "a: b",
            "--profile",
            "standard-webhooks",
            "--now",
            "-5",
        ])
        .unwrap();
        assert_eq!(ok.args.profile, WireProfile::StandardWebhooks);
        assert_eq!(ok.args.headers, vec![h("a", "b")]);
        assert_eq!(ok.args.now, Some(-5));
        assert!(
            !format!("{:?}", ok.args).contains("\"s\""),
            "secret redacted"
        );
    }

    #[test]
    fn valid_extend_names_the_signature_and_the_age() {
        let v = check(
            Profile::Extend,
            BODY,
            &extend_headers(),
            EXTEND_SECRET,
            &at(TS + 7),
        )
        .unwrap();
        assert_eq!(
            v.to_string(),
            "valid: extend signature in x-extend-request-signature matches; \
             timestamp 1765000000 is 7 s old (at most 300 s allowed)"
        );
    }

    #[test]
    fn too_old_says_by_how_much() {
        let e = invalid(check(
            Profile::Extend,
            BODY,
            &extend_headers(),
            EXTEND_SECRET,
            &at(TS + 310),
        ));
        assert!(
            e.starts_with("timestamp too old by 10 s: it is 310 s old"),
            "{e}"
        );
        assert!(e.contains("--now"), "{e}");
    }

    #[test]
    fn in_the_future_says_how_far() {
        let e = invalid(check(
            Profile::Extend,
            BODY,
            &extend_headers(),
            EXTEND_SECRET,
            &at(TS - 100),
        ));
        assert!(
            e.starts_with("timestamp in the future: 100 s ahead of the clock, at most 60 s"),
            "{e}"
        );
    }

    #[test]
    fn wrong_secret_or_tampered_body_is_no_matching_signature() {
        for (body, secret) in [(BODY, "wss_other"), (&b"{}"[..], EXTEND_SECRET)] {
            let e = invalid(check(
                Profile::Extend,
                body,
                &extend_headers(),
                secret,
                &at(TS),
            ));
            assert!(e.starts_with("no signature matches this secret"), "{e}");
        }
    }

    #[test]
    fn a_final_newline_added_to_the_body_is_pointed_out() {
        for suffix in ["\n", "\r\n"] {
            let body = [BODY, suffix.as_bytes()].concat();
            let e = invalid(check(
                Profile::Extend,
                &body,
                &extend_headers(),
                EXTEND_SECRET,
                &at(TS),
            ));
            assert!(e.contains("without its final newline"), "{e}");
        }
        let e = invalid(check(
            Profile::Extend,
            b"{}\n",
            &extend_headers(),
            EXTEND_SECRET,
            &at(TS),
        ));
        assert!(e.starts_with("no signature matches this secret"), "{e}");
    }

    #[test]
    fn malformed_headers_are_named() {
        let mut headers = extend_headers();
        headers[1].value = "zz".into();
        let e = invalid(check(
            Profile::Extend,
            BODY,
            &headers,
            EXTEND_SECRET,
            &at(TS),
        ));
        assert_eq!(
            e,
            "malformed header x-extend-request-signature: expected 64 hex digits \
             (an HMAC-SHA256), got 2 characters that are not all hex digits"
        );
        let mut headers = extend_headers();
        headers[0].value = "yesterday".into();
        let e = invalid(check(
            Profile::Extend,
            BODY,
            &headers,
            EXTEND_SECRET,
            &at(TS),
        ));
        assert_eq!(
            e,
            "malformed header x-extend-request-timestamp: \"yesterday\" is not an integer \
             number of Unix seconds"
        );
        let headers = vec![
            h(STANDARD_ID_HEADER, "msg_1"),
            h(STANDARD_TIMESTAMP_HEADER, "1"),
            h(STANDARD_SIGNATURE_HEADER, "v2,abc v1"),
        ];
        let e = invalid(check(
            Profile::StandardWebhooks,
            BODY,
            &headers,
            STANDARD_SECRET,
            &at(1),
        ));
        assert!(e.starts_with("malformed header webhook-signature"), "{e}");
    }

    #[test]
    fn missing_header_suggests_the_profile_the_headers_belong_to() {
        let e = invalid(check(
            Profile::BodyHmac,
            BODY,
            &extend_headers(),
            EXTEND_SECRET,
            &at(TS),
        ));
        assert_eq!(
            e,
            "missing header x-webhook-signature (the body-hmac profile reads \
             x-webhook-signature); these headers look like --profile extend"
        );
    }

    #[test]
    fn repeated_header_is_a_usage_error() {
        let mut headers = extend_headers();
        headers.push(h("x-extend-request-timestamp", "1"));
        assert!(matches!(
            check(Profile::Extend, BODY, &headers, EXTEND_SECRET, &at(TS)),
            Err(Failure::Usage(s)) if s.contains("more than once")
        ));
    }

    #[test]
    fn unusable_secret_is_a_usage_error() {
        let headers = vec![
            h(STANDARD_ID_HEADER, "msg_1"),
            h(STANDARD_TIMESTAMP_HEADER, &TS.to_string()),
            h(STANDARD_SIGNATURE_HEADER, "v1,AAAA"),
        ];
        assert!(matches!(
            check(Profile::StandardWebhooks, BODY, &headers, "whsec_!!", &at(TS)),
            Err(Failure::Usage(s)) if s.contains("whsec_<base64>")
        ));
    }

    #[test]
    fn standard_webhooks_names_which_signature_matched() {
        let other = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3";
        let sig = |secret: &str| {
            standard_signature(&StandardSecret::parse(secret).unwrap(), "msg_1", TS, BODY)
        };
        let headers = vec![
            h(STANDARD_ID_HEADER, "msg_1"),
            h(STANDARD_TIMESTAMP_HEADER, &TS.to_string()),
            h(
                STANDARD_SIGNATURE_HEADER,
                &format!("{} {}", sig(other), sig(STANDARD_SECRET)),
            ),
        ];
        let v = check(
            Profile::StandardWebhooks,
            BODY,
            &headers,
            STANDARD_SECRET,
            &at(TS),
        )
        .unwrap();
        assert_eq!(v.matched, (2, 2));
        assert!(v
            .to_string()
            .starts_with("valid: standard-webhooks signature 2 of 2 in webhook-signature matches"));
        let v = check(Profile::StandardWebhooks, BODY, &headers, other, &at(TS)).unwrap();
        assert_eq!(v.matched, (1, 2));
    }

    #[test]
    fn body_hmac_says_it_has_no_timestamp() {
        let headers = vec![h(
            BODY_HMAC_SIGNATURE_HEADER,
            &body_hmac_signature("whs_x", BODY),
        )];
        let v = check(Profile::BodyHmac, BODY, &headers, "whs_x", &at(0)).unwrap();
        assert_eq!(
            v.to_string(),
            "valid: body-hmac signature in x-webhook-signature matches; body-hmac has no \
             timestamp, so a replayed delivery would verify too"
        );
    }
}
