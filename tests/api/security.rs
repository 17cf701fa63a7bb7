//! The security regression suite, driven by the OpenAPI document (`uit_portal::openapi::spec()`)
//! so that every route is covered, including routes added later:
//!
//! - an id of another organisation's tenant-scoped resource answers exactly like a missing id;
//!   industry-visible resources are readable by every organisation, and only their owner (or
//!   the operator) changes them;
//! - every write route is 403 for viewers (of an organisation that may otherwise write) and
//!   for reviewers, except the self-service routes that everybody may use;
//! - nothing answers without credentials except the public routes API.md lists.
//!
//! The tables below are the classification, with the reason from API.md for each entry. A new
//! route the tables do not name fails `every_route_is_classified` (and the other tests) with a
//! message saying which table to extend. One file on purpose: the tables and the fixture that
//! makes them concrete are read together.

use std::collections::BTreeSet;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{Resp, TestApp, TestUser, ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET};

mod fixture;

use fixture::{spawn, Call, Fx};

/// An id no resource has (a well-formed UUIDv7).
const MISSING: &str = "01900000-0000-7000-8000-000000000000";
/// The password `TestApp::invite_user` gives every invited user.
const USER_PASSWORD: &str = "a long enough password";

// ---- the classification ----------------------------------------------------------------------

/// How an operation with an id in its path answers a caller from another organisation. The
/// last path parameter names the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Foreign {
    /// Tenant-scoped: another organisation's id gets the very answer a missing id gets (404).
    Hidden,
    /// Industry-visible: every signed-in organisation, reviewers included, reads it.
    Readable,
    /// Industry-visible, but only its owner (or the operator) may do this: 403.
    OwnerOnly,
    /// Open to every organisation that may take part in UIT, whoever owns the resource.
    Open,
}

use Foreign::{Hidden, Open, OwnerOnly, Readable};

/// Every operation with an id in its path.
#[rustfmt::skip]
const FOREIGN: &[(&str, Foreign, &str)] = &[
    ("DELETE /api/v1/claim-offers/{id}", Hidden, "an offer is visible to its two organisations and the operator"),
    ("POST /api/v1/claim-offers/{id}/accept", Hidden, "an offer is visible to its two organisations and the operator"),
    ("POST /api/v1/claim-offers/{id}/decline", Hidden, "an offer is visible to its two organisations and the operator"),
    ("DELETE /api/v1/claim-queue/{id}", Hidden, "a waiting-list entry is visible to the queuing organisation and the operator"),
    ("DELETE /api/v1/claims/{id}", OwnerOnly, "claims are visible to all; the claiming org or the operator releases one"),
    ("POST /api/v1/claims/{id}/offers", OwnerOnly, "claims are visible to all; the holder or the operator offers one"),
    ("GET /api/v1/claims/{id}", Readable, "claims are visible to all authenticated users"),
    ("GET /api/v1/defect-masks/{id}", Readable, "defect masks are industry-visible"),
    ("PATCH /api/v1/defect-masks/{id}", OwnerOnly, "owner org or operator"),
    ("GET /api/v1/defect-masks/{id}/adoptions", Readable, "defect masks are industry-visible"),
    ("POST /api/v1/defect-masks/{id}/adoptions", Open, "any organisation records that it follows a mask"),
    ("GET /api/v1/device-models/{id}", Readable, "the catalogue is industry-visible"),
    ("PATCH /api/v1/device-models/{id}", OwnerOnly, "a manufacturer manages its own products"),
    ("GET /api/v1/device-models/{id}/firmware", Readable, "the catalogue is industry-visible"),
    ("POST /api/v1/device-models/{id}/firmware", OwnerOnly, "a manufacturer manages its own products"),
    ("GET /api/v1/device-models/{id}/live-versions", Readable, "the catalogue is industry-visible"),
    ("GET /api/v1/device-models/{id}/manufacturing", Readable, "the catalogue is industry-visible"),
    ("POST /api/v1/device-models/{id}/manufacturing", OwnerOnly, "a Comms Hub's owner (or the operator) decides what it is made with"),
    ("GET /api/v1/device-sets/{id}", Readable, "device sets are shared by the industry"),
    ("PATCH /api/v1/device-sets/{id}", OwnerOnly, "the creating organisation or the operator"),
    ("GET /api/v1/device-sets/{id}/prevalence", Readable, "device sets, and so their prevalence history, are shared by the industry"),
    ("GET /api/v1/estate/imports/{id}", Hidden, "DPL imports are the operator's; to others every import id is missing"),
    ("GET /api/v1/firmware/{id}", Readable, "the catalogue is industry-visible"),
    ("PATCH /api/v1/firmware/{id}", OwnerOnly, "a manufacturer manages its own products"),
    ("GET /api/v1/firmware/{id}/upgrade-path", Readable, "the catalogue is industry-visible"),
    ("GET /api/v1/manufacturing-decisions/{id}", Readable, "the catalogue is industry-visible"),
    ("GET /api/v1/library-contacts/{id}", Readable, "readable by every authenticated user"),
    ("PATCH /api/v1/library-contacts/{id}", OwnerOnly, "owner manufacturer or operator"),
    ("DELETE /api/v1/library-contacts/{id}", OwnerOnly, "owner manufacturer or operator"),
    ("DELETE /api/v1/me/api-tokens/{id}", Hidden, "a user's API tokens are theirs alone"),
    ("POST /api/v1/notifications/{id}/retry", OwnerOnly, "the operator runs the notification outbox"),
    ("GET /api/v1/organisations/{id}", Readable, "organisations are listed to every user"),
    ("PATCH /api/v1/organisations/{id}", OwnerOnly, "operator admin only"),
    ("POST /api/v1/organisations/{id}/invitations", OwnerOnly, "the organisation's admin"),
    ("GET /api/v1/organisations/{id}/members", OwnerOnly, "members of that organisation and operator admins"),
    ("GET /api/v1/organisations/{id}/invitations", OwnerOnly, "the organisation's admins and operator admins"),
    ("DELETE /api/v1/organisations/{id}/invitations/{invitation_id}", Hidden, "an invitation belongs to its own organisation only"),
    ("GET /api/v1/organisations/{id}/api-tokens", OwnerOnly, "the organisation's admins and operator admins"),
    ("DELETE /api/v1/organisations/{id}/api-tokens/{token_id}", Hidden, "a token belongs to a member of its own organisation only"),
    ("GET /api/v1/organisations/{id}/members/{user_id}", Hidden, "a user id is a member only of its own organisation"),
    ("PATCH /api/v1/organisations/{id}/members/{user_id}", Hidden, "a user id is a member only of its own organisation"),
    ("DELETE /api/v1/organisations/{id}/members/{user_id}", Hidden, "a user id is a member only of its own organisation"),
    ("GET /api/v1/releases/{id}", Readable, "releases are industry-visible"),
    ("PATCH /api/v1/releases/{id}", OwnerOnly, "the operator manages releases"),
    ("POST /api/v1/releases/{id}/stage", OwnerOnly, "the operator manages releases"),
    ("GET /api/v1/releases/{id}/stages", Readable, "releases are industry-visible"),
    ("GET /api/v1/releases/{id}/nominations", Hidden, "a release's deployment record is for its participants, the operator and reviewers"),
    ("POST /api/v1/releases/{id}/nominations", Open, "any organisation that may take part in UIT nominates its own hubs"),
    ("GET /api/v1/releases/{id}/assessments", Hidden, "a release's deployment record is for its participants, the operator and reviewers"),
    ("POST /api/v1/releases/{id}/assessments", OwnerOnly, "the operator records the assessment meetings"),
    ("GET /api/v1/results/{id}", Hidden, "a private result is its organisation's alone"),
    ("PATCH /api/v1/results/{id}", Hidden, "a private result is its organisation's alone"),
    ("GET /api/v1/results/{id}/revisions", Hidden, "a private result is its organisation's alone"),
    ("GET /api/v1/results/{id}/comments", Hidden, "a comment is visible to exactly those who may read its result"),
    ("POST /api/v1/results/{id}/comments", Hidden, "a comment is visible to exactly those who may read its result"),
    ("DELETE /api/v1/results/{id}/comments/{comment_id}", Hidden, "a comment is visible to exactly those who may read its result"),
    ("GET /api/v1/roadmap-items/{id}", Hidden, "a private roadmap item is its manufacturer's (and the operator's)"),
    ("PATCH /api/v1/roadmap-items/{id}", Hidden, "a private roadmap item is its manufacturer's (and the operator's)"),
    ("DELETE /api/v1/roadmap-items/{id}", Hidden, "a private roadmap item is its manufacturer's (and the operator's)"),
    ("GET /api/v1/roadmap-items/{id}/history", Hidden, "a private roadmap item is its manufacturer's (and the operator's)"),
    ("GET /api/v1/subscriptions/{id}", Hidden, "a subscription is its subscriber's alone"),
    ("PATCH /api/v1/subscriptions/{id}", Hidden, "a subscription is its subscriber's alone"),
    ("DELETE /api/v1/subscriptions/{id}", Hidden, "a subscription is its subscriber's alone"),
    ("GET /api/v1/uit-issues/{id}", Hidden, "UIT issues are visible like participants-level results, plus their raiser and resolver"),
    ("PATCH /api/v1/uit-issues/{id}", Hidden, "UIT issues are visible like participants-level results, plus their raiser and resolver"),
    ("POST /api/v1/uit-issues/{id}/transitions", Hidden, "UIT issues are visible like participants-level results, plus their raiser and resolver"),
    ("GET /api/v1/uit-issues/{id}/history", Hidden, "UIT issues are visible like participants-level results, plus their raiser and resolver"),
    ("POST /api/v1/uit-issues/{id}/defect-mask", Hidden, "UIT issues are visible like participants-level results, plus their raiser and resolver"),
    ("GET /api/v1/uit-windows/{id}", Readable, "UIT windows are industry-visible"),
    ("PATCH /api/v1/uit-windows/{id}", OwnerOnly, "the operator manages windows"),
    ("GET /api/v1/uit-windows/{id}/claims", Readable, "claims are visible to all authenticated users"),
    ("POST /api/v1/uit-windows/{id}/claims", Open, "any participating organisation claims device sets"),
    ("GET /api/v1/uit-windows/{id}/coverage", Readable, "UIT windows are industry-visible (results filtered)"),
    ("GET /api/v1/uit-windows/{id}/readiness", Readable, "UIT windows are industry-visible (shared evidence filtered)"),
    ("GET /api/v1/uit-windows/{id}/review-packs", Readable, "review packs hold only industry-visible evidence"),
    ("POST /api/v1/uit-windows/{id}/review-packs", OwnerOnly, "the operator freezes a window's evidence"),
    ("GET /api/v1/review-packs/{id}", Readable, "review packs hold only industry-visible evidence"),
    ("GET /api/v1/review-packs/{id}/diff", Readable, "review packs hold only industry-visible evidence"),
    ("GET /api/v1/review-packs/{id}/reviews", Readable, "verdicts on a pack are as public as the pack"),
    ("POST /api/v1/review-packs/{id}/reviews", Open, "every reviewer organisation records its verdict on the operator's pack"),
    ("GET /api/v1/uit-windows/{id}/matrix", Readable, "UIT windows are industry-visible (results filtered)"),
    ("GET /api/v1/uit-windows/{id}/scope", Readable, "a window's scope is as industry-visible as the window"),
    ("POST /api/v1/uit-windows/{id}/scope", OwnerOnly, "the operator sets a window's scope"),
    ("GET /api/v1/uit-windows/{id}/suggestions", Readable, "UIT windows are industry-visible (tested sets from the reader's own grid)"),
    ("GET /api/v1/uit-windows/{id}/participants", Readable, "UIT windows are industry-visible"),
    ("POST /api/v1/uit-windows/{id}/participants", Open, "any participating organisation joins a window"),
];

/// Reads under `/organisations/{id}` that only that organisation (or the operator) may make.
const ORG_ADMIN_READS: &[&str] = &[
    "GET /api/v1/organisations/{id}/members",
    "GET /api/v1/organisations/{id}/invitations",
    "GET /api/v1/organisations/{id}/api-tokens",
];

/// The kinds of organisation whose users the write tests act as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Org {
    Operator,
    Supplier,
    Manufacturer,
}

/// Who may use a write route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writer {
    /// A member (or admin) of such an organisation; its viewers and every reviewer get 403.
    Org(Org),
    /// Every signed-in user, for themselves, viewers and reviewers included (the reason says why).
    SelfService(&'static str),
    /// An admin of any organisation, reviewers included, for their own organisation only;
    /// viewers get 403 (the reason says why).
    OwnOrgAdmin(&'static str),
    /// A member (or admin) of a reviewer organisation or of the operator; viewers and the
    /// other kinds get 403 (the reason says why).
    Reviewers(&'static str),
    /// Every organisation that may read the resource, reviewers included, each acting on what
    /// is its own; viewers get 403 (the reason says why).
    Reader(&'static str),
}

use Writer::{OwnOrgAdmin, Reader, Reviewers, SelfService};

/// Every write operation (POST, PUT, PATCH, DELETE) that needs credentials.
#[rustfmt::skip]
const WRITES: &[(&str, Writer)] = &[
    ("POST /api/v1/auth/logout", SelfService("ends the caller's own session")),
    ("DELETE /api/v1/claim-offers/{id}", Writer::Org(Org::Supplier)),
    ("POST /api/v1/claim-offers/{id}/accept", Writer::Org(Org::Supplier)),
    ("POST /api/v1/claim-offers/{id}/decline", Writer::Org(Org::Supplier)),
    ("DELETE /api/v1/claim-queue/{id}", Writer::Org(Org::Supplier)),
    ("DELETE /api/v1/claims/{id}", Writer::Org(Org::Supplier)),
    ("POST /api/v1/claims/{id}/offers", Writer::Org(Org::Supplier)),
    ("POST /api/v1/defect-masks", Writer::Org(Org::Supplier)),
    ("PATCH /api/v1/defect-masks/{id}", Writer::Org(Org::Supplier)),
    ("POST /api/v1/defect-masks/{id}/adoptions", Writer::Org(Org::Supplier)),
    ("POST /api/v1/device-models", Writer::Org(Org::Manufacturer)),
    ("PATCH /api/v1/device-models/{id}", Writer::Org(Org::Manufacturer)),
    ("POST /api/v1/device-models/{id}/firmware", Writer::Org(Org::Manufacturer)),
    ("POST /api/v1/device-models/{id}/manufacturing", Writer::Org(Org::Manufacturer)),
    ("POST /api/v1/device-sets", Writer::Org(Org::Supplier)),
    ("PATCH /api/v1/device-sets/{id}", Writer::Org(Org::Supplier)),
    ("POST /api/v1/estate/imports", Writer::Org(Org::Operator)),
    ("PATCH /api/v1/firmware/{id}", Writer::Org(Org::Manufacturer)),
    ("POST /api/v1/library-contacts", Writer::Org(Org::Manufacturer)),
    ("PATCH /api/v1/library-contacts/{id}", Writer::Org(Org::Manufacturer)),
    ("DELETE /api/v1/library-contacts/{id}", Writer::Org(Org::Manufacturer)),
    ("PATCH /api/v1/me", SelfService("the caller's own name and password")),
    ("POST /api/v1/me/api-tokens", SelfService("a token acts with the caller's own rights, so a viewer's token only reads")),
    ("DELETE /api/v1/me/api-tokens/{id}", SelfService("revokes one of the caller's own tokens")),
    ("POST /api/v1/me/calendar-token", SelfService("rotates the caller's own feed token")),
    ("POST /api/v1/notifications/{id}/retry", Writer::Org(Org::Operator)),
    ("POST /api/v1/organisations", Writer::Org(Org::Operator)),
    ("PATCH /api/v1/organisations/{id}", Writer::Org(Org::Operator)),
    ("POST /api/v1/organisations/{id}/invitations", OwnOrgAdmin("an org admin manages its members, whatever the org's kind")),
    ("PATCH /api/v1/organisations/{id}/members/{user_id}", OwnOrgAdmin("an org admin manages its members, whatever the org's kind")),
    ("DELETE /api/v1/organisations/{id}/members/{user_id}", OwnOrgAdmin("an org admin manages its members, whatever the org's kind")),
    ("DELETE /api/v1/organisations/{id}/invitations/{invitation_id}", OwnOrgAdmin("an org admin manages its members, whatever the org's kind")),
    ("DELETE /api/v1/organisations/{id}/api-tokens/{token_id}", OwnOrgAdmin("an org admin manages its members' credentials, whatever the org's kind")),
    ("POST /api/v1/releases", Writer::Org(Org::Operator)),
    ("PATCH /api/v1/releases/{id}", Writer::Org(Org::Operator)),
    ("POST /api/v1/releases/{id}/stage", Writer::Org(Org::Operator)),
    ("POST /api/v1/releases/{id}/nominations", Writer::Org(Org::Supplier)),
    ("POST /api/v1/releases/{id}/assessments", Writer::Org(Org::Operator)),
    ("POST /api/v1/results", Writer::Org(Org::Supplier)),
    ("POST /api/v1/results/batch", Writer::Org(Org::Supplier)),
    ("POST /api/v1/results/junit", Writer::Org(Org::Supplier)),
    ("PATCH /api/v1/results/{id}", Writer::Org(Org::Supplier)),
    ("POST /api/v1/results/{id}/comments", Reader("anyone who may read a result comments on it; reviewers (SECAS, working groups) are the point: they review shared results")),
    ("DELETE /api/v1/results/{id}/comments/{comment_id}", Reader("the author, reviewers included, or an admin of the author's organisation deletes a comment")),
    ("POST /api/v1/roadmap-items", Writer::Org(Org::Manufacturer)),
    ("PATCH /api/v1/roadmap-items/{id}", Writer::Org(Org::Manufacturer)),
    ("DELETE /api/v1/roadmap-items/{id}", Writer::Org(Org::Manufacturer)),
    ("POST /api/v1/scenarios", Writer::Org(Org::Operator)),
    ("PATCH /api/v1/subscriptions/{id}", SelfService("a signed-in user manages their own subscriptions")),
    ("DELETE /api/v1/subscriptions/{id}", SelfService("a signed-in user manages their own subscriptions")),
    ("POST /api/v1/uit-issues", Writer::Org(Org::Supplier)),
    ("PATCH /api/v1/uit-issues/{id}", Writer::Org(Org::Supplier)),
    ("POST /api/v1/uit-issues/{id}/transitions", Writer::Org(Org::Manufacturer)),
    ("POST /api/v1/uit-issues/{id}/defect-mask", Writer::Org(Org::Manufacturer)),
    ("POST /api/v1/uit-windows", Writer::Org(Org::Operator)),
    ("PATCH /api/v1/uit-windows/{id}", Writer::Org(Org::Operator)),
    ("POST /api/v1/uit-windows/{id}/claims", Writer::Org(Org::Supplier)),
    ("POST /api/v1/uit-windows/{id}/participants", Writer::Org(Org::Supplier)),
    ("POST /api/v1/uit-windows/{id}/review-packs", Writer::Org(Org::Operator)),
    ("POST /api/v1/uit-windows/{id}/scope", Writer::Org(Org::Operator)),
    ("POST /api/v1/review-packs/{id}/reviews", Reviewers("SECAS and the working groups review; their verdict is part of the evidence")),
];

/// API.md's routes that need no credentials (the calendar feed takes its own feed token).
/// `/openapi.json` and `/docs` are not in the spec; they are asked directly.
const PUBLIC: &[&str] = &[
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/refresh",
    "POST /api/v1/auth/password-reset",
    "POST /api/v1/auth/password-reset/confirm",
    "POST /api/v1/invitations/accept",
    "POST /api/v1/subscriptions",
    "POST /api/v1/subscriptions/confirm",
    "GET /api/v1/unsubscribe",
    "POST /api/v1/unsubscribe",
    "GET /api/v1/calendar.ics",
    "GET /healthz",
    "GET /readyz",
];

// ---- the spec ----------------------------------------------------------------------------------

/// One operation of the OpenAPI document.
#[derive(Debug, Clone)]
struct Op {
    method: String,
    path: String,
    public: bool,
}

impl Op {
    fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }

    fn has_ids(&self) -> bool {
        self.path.contains('{')
    }
}

fn operations() -> Vec<Op> {
    let spec = serde_json::to_value(uit_portal::openapi::spec()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                continue;
            }
            // `security: [{}]` (alone or among others) means credentials are optional.
            let public = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(|o| o.is_empty())));
            ops.push(Op {
                method: method.to_uppercase(),
                path: path.clone(),
                public,
            });
        }
    }
    ops
}

fn foreign_rule(op: &Op) -> Foreign {
    FOREIGN
        .iter()
        .find(|(k, _, _)| *k == op.key())
        .map(|(_, f, _)| *f)
        .unwrap_or_else(|| {
            panic!(
                "{} has an id in its path but is not in FOREIGN (tests/api/security.rs): say whether \
                 another organisation's id is Hidden, Readable, OwnerOnly or Open",
                op.key()
            )
        })
}

fn write_rule(op: &Op) -> Writer {
    WRITES
        .iter()
        .find(|(k, _)| *k == op.key())
        .map(|(_, w)| *w)
        .unwrap_or_else(|| {
            panic!(
                "{} writes but is not in WRITES (tests/api/security.rs): name the organisation kind \
                 that may use it, or allow it for everyone with a reason",
                op.key()
            )
        })
}

/// `template` with its `{...}` parameters replaced by `ids`, in order.
fn fill(template: &str, ids: &[String]) -> String {
    let mut out = String::new();
    let mut rest = template;
    let mut ids = ids.iter();
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("closing brace") + start;
        out.push_str(&rest[..start]);
        out.push_str(ids.next().unwrap_or_else(|| panic!("too few ids for {template}")));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_route_is_classified() {
    let ops = operations();
    let keys: BTreeSet<String> = ops.iter().map(Op::key).collect();
    let mut problems = Vec::new();
    for op in &ops {
        let key = op.key();
        if op.public {
            if !PUBLIC.contains(&key.as_str()) {
                problems.push(format!(
                    "{key} is public in the spec but API.md does not list it as public"
                ));
            }
            continue;
        }
        if PUBLIC.contains(&key.as_str()) {
            problems.push(format!("{key} is public in API.md but needs credentials in the spec"));
        }
        if op.has_ids() {
            match FOREIGN.iter().find(|(k, _, _)| *k == key) {
                None => problems.push(format!("{key}: add it to FOREIGN")),
                Some((_, Readable, _)) if op.method != "GET" => {
                    problems.push(format!("{key}: only a GET can be Readable"))
                }
                // Reads about an organisation by its (public) id: its admins' business, 403 to others.
                Some((_, Open | OwnerOnly, _)) if !op.is_write() && !ORG_ADMIN_READS.contains(&key.as_str()) => {
                    problems.push(format!("{key}: a read is Hidden or Readable"))
                }
                _ => {}
            }
        }
        if op.is_write() && !WRITES.iter().any(|(k, _)| *k == key) {
            problems.push(format!("{key}: add it to WRITES"));
        }
    }
    for (key, _, _) in FOREIGN {
        if !keys.contains(*key) {
            problems.push(format!("FOREIGN names {key}, which the spec does not have"));
        }
    }
    for (key, _) in WRITES {
        if !keys.contains(*key) {
            problems.push(format!("WRITES names {key}, which the spec does not have"));
        }
    }
    assert!(
        problems.is_empty(),
        "tests/api/security.rs is out of date:\n  {}",
        problems.join("\n  ")
    );
}

/// The newest audit events: a write that happened would be among them.
fn audit_head(app: &TestApp, admin: &str) -> Value {
    let resp = app.get("/api/v1/audit-events?limit=5", Some(admin));
    resp.expect(200);
    resp.json()["items"].clone()
}

#[track_caller]
fn expect_forbidden(resp: &Resp, who: &str, what: &str) {
    assert_eq!(resp.status, 403, "{what} as {who}: {} {}", resp.status, resp.body);
    resp.expect_code(403, "forbidden");
}

#[track_caller]
fn expect_success(resp: &Resp, who: &str, what: &str) {
    assert!(
        (200..300).contains(&resp.status),
        "{what} as {who}: {} {}",
        resp.status,
        resp.body
    );
}

// ---- foreign ids ------------------------------------------------------------------------------

#[test]
fn another_tenants_id_answers_like_a_missing_id_where_the_resource_is_tenant_scoped() {
    let app = spawn();
    let fx = Fx::new(&app);
    let admin = fx.w.admin.clone();
    let ops: Vec<Op> = operations().into_iter().filter(|o| !o.public && o.has_ids()).collect();
    // What the owners see of their hidden resources, before anyone else tries them.
    let probes = [
        (format!("/api/v1/results/{}", fx.private_result), fx.w.a.token.clone()),
        (
            format!("/api/v1/results/{}/comments", fx.private_result),
            fx.w.a.token.clone(),
        ),
        (
            format!("/api/v1/roadmap-items/{}", fx.private_item),
            fx.w.maker.token.clone(),
        ),
        (
            format!("/api/v1/subscriptions/{}", fx.subscription),
            fx.w.a.token.clone(),
        ),
        (
            format!("/api/v1/organisations/{}/members/{}", fx.w.a.org_id, fx.w.a.id),
            fx.a_admin.token.clone(),
        ),
        ("/api/v1/me/api-tokens".to_string(), fx.a_token.1.clone()),
    ];
    let snapshot = |probes: &[(String, String)]| -> Vec<Value> {
        probes
            .iter()
            .map(|(path, token)| {
                let resp = app.get(path, Some(token));
                resp.expect(200);
                let mut body = resp.json();
                // Reading with the API token records its use; that is not a change.
                if let Some(items) = body["items"].as_array_mut() {
                    items.iter_mut().for_each(|t| t["last_used_at"] = Value::Null);
                }
                body
            })
            .collect()
    };
    let before = snapshot(&probes);
    let audit = audit_head(&app, &admin);

    let mut open = Vec::new();
    for op in &ops {
        let rule = foreign_rule(op);
        let key = op.key();
        let t = fx.target(&op.path, rule != Hidden);
        let mut missing_ids = t.peer_ids.clone();
        *missing_ids.last_mut().unwrap() = MISSING.to_string();

        // A missing id is 404 for every operation, even for the operator admin.
        let mut admin_missing = t.ids.clone();
        *admin_missing.last_mut().unwrap() = MISSING.to_string();
        let resp = Call::new(&fx, op, &admin_missing).send(&app, &admin);
        assert_eq!(
            resp.status, 404,
            "{key} with a missing id as the operator admin: {}",
            resp.body
        );
        resp.expect_code(404, "not_found");

        match rule {
            Hidden => {
                if op.method == "GET" {
                    let own = Call::new(&fx, op, &t.ids).send(&app, &t.owner);
                    assert_eq!(own.status, 200, "{key}: the owner must see the fixture: {}", own.body);
                }
                let foreign = Call::new(&fx, op, &t.peer_ids).send(&app, &t.peer);
                let missing = Call::new(&fx, op, &missing_ids).send(&app, &t.peer);
                assert_eq!(foreign.status, 404, "{key} with another tenant's id: {}", foreign.body);
                let hidden_id = t.peer_ids.last().unwrap();
                assert_eq!(
                    (
                        foreign.header("content-type"),
                        foreign.body.replace(hidden_id.as_str(), "{id}")
                    ),
                    (missing.header("content-type"), missing.body.replace(MISSING, "{id}")),
                    "{key}: another tenant's id must answer exactly like a missing id"
                );
            }
            Readable => {
                let resp = Call::new(&fx, op, &t.ids).send(&app, &fx.w.reviewer.token);
                assert_eq!(
                    resp.status, 200,
                    "{key} is industry-visible, but a reviewer got: {}",
                    resp.body
                );
            }
            OwnerOnly => {
                let resp = Call::new(&fx, op, &t.peer_ids).send(&app, &t.peer);
                expect_forbidden(&resp, "another organisation", &key);
            }
            Open => open.push((op, t)),
        }
    }
    assert_eq!(audit_head(&app, &admin), audit, "a refused request left an audit event");
    assert_eq!(snapshot(&probes), before, "a refused request changed a hidden resource");

    for (op, t) in open {
        let resp = Call::new(&fx, op, &t.peer_ids).send(&app, &t.peer);
        expect_success(&resp, "another organisation", &op.key());
    }
}

// ---- read-only roles --------------------------------------------------------------------------

#[test]
fn write_routes_are_forbidden_to_viewers_and_reviewers() {
    let app = spawn();
    let fx = Fx::new(&app);
    let admin = fx.w.admin.clone();
    let reviewer = &fx.w.reviewer;
    let ops: Vec<Op> = operations().into_iter().filter(|o| !o.public && o.is_write()).collect();
    let ids = |op: &Op| -> Vec<String> {
        if op.has_ids() {
            fx.target(&op.path, true).ids
        } else {
            Vec::new()
        }
    };
    // Own-organisation administration: the member each admin changes or removes.
    let own_org_ids = |op: &Op, admin_of: &TestUser| -> Vec<String> {
        let (changed, removed) = if admin_of.org_id == fx.w.a.org_id {
            (&fx.w.a_viewer, &fx.a_spare)
        } else {
            (&fx.reviewer_member, &fx.reviewer_spare)
        };
        let (invitation, token) = if admin_of.org_id == fx.w.a.org_id {
            &fx.a_credentials
        } else {
            &fx.reviewer_credentials
        };
        if op.path.contains("{invitation_id}") {
            return vec![admin_of.org_id.clone(), invitation.clone()];
        }
        if op.path.contains("{token_id}") {
            return vec![admin_of.org_id.clone(), token.clone()];
        }
        match op.method.as_str() {
            "PATCH" => vec![admin_of.org_id.clone(), changed.id.clone()],
            "DELETE" => vec![admin_of.org_id.clone(), removed.id.clone()],
            _ => vec![admin_of.org_id.clone()],
        }
    };

    // 1. Refusals: nothing may change, so the audit log stays as it is.
    let audit = audit_head(&app, &admin);
    let mut allowed: Vec<(Call, String, String)> = Vec::new();
    let mut self_service = Vec::new();
    for op in &ops {
        let key = op.key();
        match write_rule(op) {
            Writer::Org(org) => {
                let (entitled, viewer) = fx.user(org);
                let call = Call::new(&fx, op, &ids(op));
                expect_forbidden(&call.send(&app, &viewer.token), &format!("a {org:?} viewer"), &key);
                expect_forbidden(&call.send(&app, &reviewer.token), "a reviewer admin", &key);
                allowed.push((call, entitled.to_string(), format!("a {org:?} member")));
            }
            OwnOrgAdmin(_) => {
                let a_call = Call::new(&fx, op, &own_org_ids(op, &fx.a_admin));
                expect_forbidden(&a_call.send(&app, &fx.w.a_viewer.token), "a supplier viewer", &key);
                expect_forbidden(
                    &a_call.send(&app, &reviewer.token),
                    "a reviewer admin, for a supplier",
                    &key,
                );
                allowed.push((a_call, fx.a_admin.token.clone(), "the supplier's admin".into()));
                let own = Call::new(&fx, op, &own_org_ids(op, reviewer));
                allowed.push((own, reviewer.token.clone(), "a reviewer admin, for its own org".into()));
            }
            Reviewers(_) => {
                let call = Call::new(&fx, op, &ids(op));
                expect_forbidden(&call.send(&app, &fx.reviewer_viewer.token), "a reviewer viewer", &key);
                expect_forbidden(&call.send(&app, &fx.operator_viewer.token), "an operator viewer", &key);
                expect_forbidden(&call.send(&app, &fx.w.a.token), "a supplier member", &key);
                allowed.push((call, reviewer.token.clone(), "a reviewer admin".into()));
            }
            // A supplier member and a reviewer each act on their own: the supplier's comment
            // (which its viewer may not delete) and the reviewer's.
            Reader(_) => {
                let call = Call::new(&fx, op, &ids(op));
                expect_forbidden(&call.send(&app, &fx.w.a_viewer.token), "a supplier viewer", &key);
                allowed.push((call, fx.w.a.token.clone(), "a supplier member".into()));
                let own = Call::new(&fx, op, &fx.reviewer_ids(&op.path));
                allowed.push((own, reviewer.token.clone(), "a reviewer admin".into()));
            }
            SelfService(_) => self_service.push(op),
        }
    }
    assert_eq!(audit_head(&app, &admin), audit, "a refused write left an audit event");

    // 2. The same requests by users entitled to them succeed, so the 403s above came from the
    // role, not from the request. Deletions go last: earlier requests use what they delete.
    allowed.sort_by_key(|(call, _, _)| call.method == "DELETE");
    for (call, token, who) in &allowed {
        expect_success(&call.send(&app, token), who, &format!("{} {}", call.method, call.path));
    }

    // 3. Self-service routes work for viewers and reviewers, each for themselves.
    for user in [&fx.w.a_viewer, &fx.maker_viewer, &fx.operator_viewer, reviewer] {
        for op in &self_service {
            let key = op.key();
            let resp = match key.as_str() {
                "POST /api/v1/auth/logout" => {
                    let pair = app.login_pair(&user.email, USER_PASSWORD);
                    app.post(
                        "/api/v1/auth/logout",
                        Some(&user.token),
                        &json!({ "refresh_token": pair["refresh_token"] }),
                    )
                }
                "DELETE /api/v1/me/api-tokens/{id}" => {
                    let created = app.post(
                        "/api/v1/me/api-tokens",
                        Some(&user.token),
                        &json!({ "name": "short-lived" }),
                    );
                    created.expect(201);
                    app.delete(&format!("/api/v1/me/api-tokens/{}", created.id()), Some(&user.token))
                }
                "PATCH /api/v1/subscriptions/{id}" | "DELETE /api/v1/subscriptions/{id}" => {
                    let own = fixture::subscribe(&app, &user.token);
                    Call::new(&fx, op, &[own]).send(&app, &user.token)
                }
                _ => Call::new(&fx, op, &[]).send(&app, &user.token),
            };
            expect_success(&resp, &user.email, &key);
        }
    }
}

// ---- credentials -------------------------------------------------------------------------------

#[test]
fn only_the_public_routes_answer_without_valid_credentials() {
    let app = spawn();
    let fx = Fx::new(&app);
    let admin = fx.w.admin.clone();
    // A revoked API token, a token signed with another key and a token of another scheme.
    let created = app.post("/api/v1/me/api-tokens", Some(&admin), &json!({ "name": "revoked" }));
    created.expect(201);
    let revoked = created.json()["token"].as_str().unwrap().to_string();
    app.delete(&format!("/api/v1/me/api-tokens/{}", created.id()), Some(&admin))
        .expect(204);
    // The re-signing itself is sound: with the right key and expiry the token still works.
    app.get("/api/v1/me", Some(&resign(&admin, 0, JWT_SECRET.as_bytes())))
        .expect(200);
    let credentials: [(&str, Option<String>); 6] = [
        ("no credentials", None),
        ("a malformed token", Some("Bearer not-a-token".into())),
        (
            "a JWT signed with another key",
            Some(format!(
                "Bearer {}",
                resign(&admin, 0, b"another key, another key, another key!")
            )),
        ),
        (
            "an expired JWT",
            Some(format!("Bearer {}", resign(&admin, -3600, JWT_SECRET.as_bytes()))),
        ),
        ("a revoked API token", Some(format!("Bearer {revoked}"))),
        (
            "Basic credentials",
            Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{ADMIN_EMAIL}:{ADMIN_PASSWORD}"))
            )),
        ),
    ];
    for op in operations() {
        let path = fill(&op.path, &vec![MISSING.to_string(); op.path.matches('{').count()]);
        if op.public {
            let body = (op.method != "GET").then(|| ("application/json", b"{}".to_vec()));
            let resp = app.send(&op.method, &path, None, &[], body);
            assert_ne!(resp.status, 401, "{} is public but asked for credentials", op.key());
            continue;
        }
        // A body the server reads, so that only the credentials can be wrong (see
        // `invalid_credentials_are_401_whatever_the_body`).
        let call = Call::new(&fx, &op, &vec![MISSING.to_string(); op.path.matches('{').count()]);
        for (what, header) in &credentials {
            let headers: Vec<(&str, &str)> = header.iter().map(|h| ("authorization", h.as_str())).collect();
            let resp = app.send(&op.method, &call.path, None, &headers, call.body.clone());
            assert_eq!(
                resp.status,
                401,
                "{} with {what}: {} {}",
                op.key(),
                resp.status,
                resp.body
            );
            resp.expect_code(401, "invalid_token");
        }
    }
    for path in ["/openapi.json", "/docs"] {
        app.get(path, None).expect(200);
    }
}

/// Credentials that need a database lookup to reject (an unknown or revoked API token; a
/// well-signed JWT of a user whose sessions ended) with a body that does not deserialise are
/// 401, not the body's 400: handlers load the caller inside their database closure, so when an
/// extractor or the handler answers with a client error first, a middleware checks the
/// credentials then (`auth::extractor::confirm_caller`).
#[test]
fn invalid_credentials_are_401_whatever_the_body() {
    let app = spawn();
    let admin = app.admin_token();
    let created = app.post("/api/v1/me/api-tokens", Some(&admin), &json!({ "name": "revoked" }));
    created.expect(201);
    let revoked = created.json()["token"].as_str().unwrap().to_string();
    app.delete(&format!("/api/v1/me/api-tokens/{}", created.id()), Some(&admin))
        .expect(204);
    let mut wrong = Vec::new();
    for op in operations()
        .into_iter()
        .filter(|o| !o.public && matches!(o.method.as_str(), "POST" | "PATCH"))
    {
        let path = fill(&op.path, &vec![MISSING.to_string(); op.path.matches('{').count()]);
        let resp = app.send(
            &op.method,
            &path,
            Some(&revoked),
            &[],
            Some(("application/json", b"{}".to_vec())),
        );
        if resp.status != 401 {
            wrong.push(format!("{} -> {}", op.key(), resp.status));
        }
    }
    assert!(
        wrong.is_empty(),
        "a revoked API token and a body `{{}}`:\n  {}",
        wrong.join("\n  ")
    );
    // The same for a query that does not parse and a field that fails validation in the handler.
    app.get("/api/v1/results?limit=0", Some(&revoked))
        .expect_code(401, "invalid_token");
    app.get("/api/v1/results?colour=blue", Some(&revoked))
        .expect_code(401, "invalid_token");
    app.get("/api/v1/results?limit=0", Some(&admin)).expect(400);
}

/// `token` (a JWT) with its expiry moved to `exp_offset` seconds from now when non-zero, signed
/// again with `key`.
fn resign(token: &str, exp_offset: i64, key: &[u8]) -> String {
    let mut parts = token.split('.');
    let (header, payload) = (parts.next().unwrap(), parts.next().unwrap());
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    if exp_offset != 0 {
        claims["exp"] = json!(chrono::Utc::now().timestamp() + exp_offset);
    }
    let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let key = jsonwebtoken::EncodingKey::from_secret(key);
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    format!("{message}.{signature}")
}
