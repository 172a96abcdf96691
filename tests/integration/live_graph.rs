//! The `graph` collector against a mock Microsoft Graph on loopback that behaves as
//! PLATFORMS.md says: nextLink paging (an empty page included), `$top` over 999 refused,
//! 429 with Retry-After, expired tokens, malformed and truncated pages, Teams fan-out.

use crate::common::{ok, write};
use crate::mocks::{assert_no_secret, run_with_secrets, Server, TENANT};
use serde_json::{json, Value as Json};
use std::time::Instant;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

fn user(i: usize) -> Json {
    let guest = i.is_multiple_of(4);
    json!({
        "id": format!("00000000-0000-4000-8000-{i:012}"),
        "userPrincipalName": if guest { format!("p{i}_partner.net#EXT#@{TENANT}") } else { format!("u{i}@contoso.org") },
        "mail": if guest { format!("p{i}@partner.net") } else { format!("u{i}@contoso.org") },
        "displayName": format!("User {i}"),
        "accountEnabled": !i.is_multiple_of(3),
        "userType": if guest { "Guest" } else { "Member" },
        "externalUserState": if guest { json!("Accepted") } else { Json::Null },
        "createdDateTime": if i == 5 { Json::Null } else { json!(format!("2024-0{}-01T09:00:00Z", 1 + i % 9)) }
    })
}

/// The export of `entra.users` that the users `ids` give.
fn users_csv(ids: &[usize]) -> String {
    let mut out = String::from("id,user_principal_name,mail,display_name,account_enabled,user_type,external_user_state,created_at\n");
    for &i in ids {
        let u = user(i);
        let text = |k: &str| u[k].as_str().unwrap_or("").to_string();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            text("id"),
            text("userPrincipalName"),
            text("mail"),
            text("displayName"),
            u["accountEnabled"],
            text("userType"),
            text("externalUserState"),
            text("createdDateTime")
        ));
    }
    out
}

/// Users 1–3 on page 1, an empty page 2, users 4–5 on page 3; `$top` other than 999 refused.
fn mount_users(s: &Server, page: impl Fn(usize) -> Option<ResponseTemplate>) {
    s.graph_delta_stateless();
    let users = |r: std::ops::RangeInclusive<usize>| r.map(user).collect::<Vec<_>>();
    let pages = [
        s.graph_page(&users(1..=3), Some("/v1.0/users?$skiptoken=p2")),
        s.graph_page(&[], Some("/v1.0/users?$skiptoken=p3")),
        s.graph_page(&users(4..=5), None),
    ];
    for (n, good) in pages.into_iter().enumerate() {
        let template = page(n + 1).unwrap_or(good);
        let m = Mock::given(method("GET"))
            .and(path("/v1.0/users"))
            .and(header("Authorization", "Bearer t1"));
        let m = if n == 0 {
            m.and(query_param_is_missing("$skiptoken"))
                .and(query_param("$top", "999"))
        } else {
            m.and(query_param("$skiptoken", format!("p{}", n + 1)))
        };
        s.mount(m.respond_with(template));
    }
    s.mount(
        Mock::given(method("GET")).and(path("/v1.0/users")).respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": {"code": "Request_UnsupportedQuery", "message": "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."}
        }))).with_priority(10),
    );
}

fn setup(s: &Server, entities: &[&str], extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "driftwatch.toml",
        &s.graph_config("entra", entities, extra),
    );
    dir
}

#[test]
fn graph_users_follow_next_links_through_an_empty_page_into_an_exact_snapshot() {
    let s = Server::start();
    s.graph_token("t1");
    mount_users(&s, |_| None);
    let dir = setup(&s, &["users"], "");
    let d = dir.path();
    let r = run_with_secrets(d, &["collect"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        ok(d, &["export", "entra.users"]),
        users_csv(&[1, 2, 3, 4, 5])
    );
    let reqs = s.requests();
    assert_eq!(reqs.len(), 5, "{reqs:#?}");
    assert_eq!(reqs[0], format!("POST /{TENANT}/oauth2/v2.0/token"));
    // A delta link of the present state first (for the next collection), then the list.
    assert!(
        reqs[1].contains("/v1.0/users/delta?") && reqs[1].ends_with("$deltatoken=latest"),
        "{}",
        reqs[1]
    );
    assert!(reqs[2].contains("$select=id,userPrincipalName,mail,displayName,accountEnabled,userType,externalUserState,createdDateTime") && reqs[2].contains("$top=999"), "{}", reqs[2]);
    assert_no_secret(d, &[&r.stdout, &r.stderr]);
}

#[test]
fn graph_retries_429_honouring_retry_after_in_whole_and_fractional_seconds_and_backs_off_without_it(
) {
    // 1.5 s: a Retry-After read as whole seconds only would fall back to the 0.5 s backoff.
    for (retry_after, at_least) in [(Some("1"), 1.0), (Some("1.5"), 1.5), (None, 0.5)] {
        let s = Server::start();
        s.graph_token("t1");
        let mut throttled = ResponseTemplate::new(429).set_body_json(
            json!({"error": {"code": "TooManyRequests", "message": "Too many requests"}}),
        );
        if let Some(ra) = retry_after {
            throttled = throttled.insert_header("Retry-After", ra);
        }
        s.mount(
            Mock::given(method("GET"))
                .and(path("/v1.0/users"))
                .and(query_param("$skiptoken", "p2"))
                .respond_with(throttled)
                .up_to_n_times(1)
                .with_priority(1),
        );
        mount_users(&s, |_| None);
        let dir = setup(&s, &["users"], "");
        let t = Instant::now();
        let r = run_with_secrets(dir.path(), &["collect"]);
        let took = t.elapsed().as_secs_f64();
        assert_eq!(r.code, 0, "{retry_after:?}: {}", r.stderr);
        assert!(
            took >= at_least,
            "{retry_after:?}: the retry came after {took:.2}s"
        );
        let page2 = s
            .requests()
            .iter()
            .filter(|q| q.contains("skiptoken=p2"))
            .count();
        assert_eq!(
            page2, 2,
            "{retry_after:?}: page 2 asked once more after the 429"
        );
        assert_eq!(
            ok(dir.path(), &["export", "entra.users"]),
            users_csv(&[1, 2, 3, 4, 5])
        );
    }
}

#[test]
fn an_expired_token_is_refreshed_once_and_the_collection_succeeds() {
    let s = Server::start();
    let token = |t: &str| {
        ResponseTemplate::new(200)
            .set_body_json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": t}))
    };
    let token_path = format!("/{TENANT}/oauth2/v2.0/token");
    s.mount(
        Mock::given(method("POST"))
            .and(path(token_path.clone()))
            .respond_with(token("t0"))
            .up_to_n_times(1)
            .with_priority(1),
    );
    s.mount(
        Mock::given(method("POST"))
            .and(path(token_path))
            .respond_with(token("t1")),
    );
    s.mount(
        Mock::given(method("GET")).and(header("Authorization", "Bearer t0")).respond_with(
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", "Bearer")
                .set_body_json(json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}})),
        ),
    );
    mount_users(&s, |_| None);
    let dir = setup(&s, &["users"], "");
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let tokens = s
        .requests()
        .iter()
        .filter(|q| q.starts_with("POST"))
        .count();
    assert_eq!(tokens, 2);
    assert_eq!(
        ok(dir.path(), &["export", "entra.users"]),
        users_csv(&[1, 2, 3, 4, 5])
    );
}

#[test]
fn a_bad_page_at_any_position_fails_the_source_and_keeps_the_last_snapshot_whole() {
    let s = Server::start();
    let dir = setup(&s, &["users"], "");
    let d = dir.path();
    s.graph_token("t1");
    mount_users(&s, |_| None);
    assert_eq!(
        run_with_secrets(d, &["collect", "--at", "2026-11-01T00:00:00Z"]).code,
        0
    );
    let before = ok(d, &["export", "entra.users"]);
    type Case = (&'static str, fn() -> ResponseTemplate, &'static str);
    let bad: [Case; 4] = [
        (
            "truncated",
            || {
                ResponseTemplate::new(200)
                    .set_body_raw(r#"{"value":[{"id":"00000000-0000"#, "application/json")
            },
            "malformed or truncated JSON",
        ),
        (
            "not json",
            || ResponseTemplate::new(200).set_body_raw("<html>Bad Gateway</html>", "text/html"),
            "malformed or truncated JSON",
        ),
        (
            "no value",
            || ResponseTemplate::new(200).set_body_json(json!({"items": []})),
            "not a Graph page",
        ),
        (
            "server error",
            || {
                ResponseTemplate::new(500).set_body_json(
                    json!({"error": {"code": "generalException", "message": "boom"}}),
                )
            },
            "500 Internal Server Error: generalException: boom",
        ),
    ];
    let mut day = 2;
    for position in 1..=3 {
        for (name, template, says) in &bad {
            s.reset();
            s.graph_token("t1");
            mount_users(&s, |n| (n == position).then(template));
            let r = run_with_secrets(
                d,
                &["collect", "--at", &format!("2026-11-{day:02}T00:00:00Z")],
            );
            day += 1;
            assert_eq!(r.code, 3, "{name} at page {position}: {}", r.stderr);
            assert!(
                r.stderr.contains(says),
                "{name} at page {position}: {}",
                r.stderr
            );
            if *name != "server error" {
                assert!(
                    r.stderr.contains(&format!("(page {position})")),
                    "{}",
                    r.stderr
                );
            }
            assert_eq!(
                ok(d, &["export", "entra.users"]),
                before,
                "{name} at page {position}"
            );
        }
    }
    let snaps: Json = serde_json::from_str(&ok(d, &["snapshots", "--format", "json"])).unwrap();
    let failed = snaps
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["snapshots"][0]["status"] == "failed")
        .count();
    assert_eq!(failed, 12);
}

#[test]
fn a_token_failure_fails_the_source_and_never_shows_the_secret() {
    let s = Server::start();
    s.mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(401).set_body_json(json!({
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 1",
        "error_codes": [7000215]
    }))));
    let dir = setup(&s, &["users"], "");
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("401 Unauthorized: invalid_client: AADSTS7000215"),
        "{}",
        r.stderr
    );
    assert_no_secret(dir.path(), &[&r.stdout, &r.stderr]);
    // The secret was sent, in the token request's form, and only there.
    let body = s.rt.block_on(s.server.received_requests()).unwrap()[0]
        .body
        .clone();
    assert!(String::from_utf8_lossy(&body).contains("client_secret=graph-secret-Zq8"));
    // A secret missing from the environment is named, before anything is asked.
    let r = crate::common::run(dir.path(), &["collect"]);
    assert!(
        r.stderr.contains(
            "sources.entra.client_secret: environment variable DW_TEST_GRAPH_SECRET is not set"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_next_link_to_another_host_is_not_followed() {
    let s = Server::start();
    s.graph_token("t1");
    let mut page = json!({"value": [user(1)]});
    page["@odata.nextLink"] = json!("https://attacker.example/v1.0/users?$skiptoken=x");
    s.mount(
        Mock::given(method("GET"))
            .and(path("/v1.0/users"))
            .respond_with(ResponseTemplate::new(200).set_body_json(page)),
    );
    let dir = setup(&s, &["users"], "");
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr
            .contains("leads to another host (https://attacker.example)"),
        "{}",
        r.stderr
    );
}

#[test]
fn teams_channels_and_their_members_carry_their_team_and_channel() {
    let s = Server::start();
    s.graph_token("t1");
    let get = |p: &str| Mock::given(method("GET")).and(path(p.to_string()));
    s.mount(get("/v1.0/teams").respond_with(s.graph_page(
        &[
            json!({"id": "team-a", "displayName": "A"}),
            json!({"id": "team-b", "displayName": "B"}),
        ],
        None,
    )));
    let channel = |id: &str, name: &str, kind: &str| json!({"id": id, "displayName": name, "membershipType": kind});
    s.mount(
        get("/v1.0/teams/team-a/channels").respond_with(s.graph_page(
            &[channel("19:a1@thread.tacv2", "General", "standard")],
            None,
        )),
    );
    s.mount(
        get("/v1.0/teams/team-b/channels").respond_with(s.graph_page(
            &[
                channel("19:b1@thread.tacv2", "General", "standard"),
                channel("19:b2@thread.tacv2", "Staff", "private"),
            ],
            None,
        )),
    );
    let member = |id: &str, user: &str, roles: Json| json!({"@odata.type": "#microsoft.graph.aadUserConversationMember", "id": id, "roles": roles, "displayName": user, "userId": format!("uid-{user}"), "email": format!("{user}@contoso.org"), "tenantId": "t"});
    // Channel ids are percent-encoded in the path; b1's members come in two pages.
    s.mount(
        get("/v1.0/teams/team-a/channels/19%3Aa1%40thread.tacv2/members")
            .respond_with(s.graph_page(&[member("m1", "ann", json!(["owner"]))], None)),
    );
    s.mount(
        get("/v1.0/teams/team-b/channels/19%3Ab1%40thread.tacv2/members")
            .and(query_param_is_missing("$skiptoken"))
            .respond_with(s.graph_page(
                &[member("m2", "bo", json!([]))],
                Some("/v1.0/teams/team-b/channels/19%3Ab1%40thread.tacv2/members?$skiptoken=2"),
            )),
    );
    s.mount(
        get("/v1.0/teams/team-b/channels/19%3Ab1%40thread.tacv2/members")
            .and(query_param("$skiptoken", "2"))
            .respond_with(s.graph_page(&[member("m3", "cy", json!(["guest", "owner"]))], None)),
    );
    s.mount(
        get("/v1.0/teams/team-b/channels/19%3Ab2%40thread.tacv2/members")
            .respond_with(s.graph_page(&[], None)),
    );
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "driftwatch.toml",
        &s.graph_config("teams", &["channels", "channel_members"], "concurrency = 2"),
    );
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        ok(dir.path(), &["export", "teams.channels"]),
        "id,team_id,display_name,membership_type\n19:a1@thread.tacv2,team-a,General,standard\n19:b1@thread.tacv2,team-b,General,standard\n19:b2@thread.tacv2,team-b,Staff,private\n"
    );
    assert_eq!(
        ok(dir.path(), &["export", "teams.channel_members"]),
        "id,team_id,channel_id,user_id,email,display_name,roles\n\
         m1,team-a,19:a1@thread.tacv2,uid-ann,ann@contoso.org,ann,owner\n\
         m2,team-b,19:b1@thread.tacv2,uid-bo,bo@contoso.org,bo,\n\
         m3,team-b,19:b1@thread.tacv2,uid-cy,cy@contoso.org,cy,\"guest,owner\"\n"
    );
    // The teams and their channels are listed once although two entities need them.
    let channel_lists = s
        .requests()
        .iter()
        .filter(|q| q.contains("/channels?"))
        .count();
    assert_eq!(channel_lists, 2, "{:#?}", s.requests());
    assert_eq!(
        s.requests()
            .iter()
            .filter(|q| q.starts_with("GET /v1.0/teams?"))
            .count(),
        1,
        "{:#?}",
        s.requests()
    );
}

#[test]
fn a_token_that_expires_within_a_minute_is_renewed_before_each_use() {
    let s = Server::start();
    s.mount(
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"token_type": "Bearer", "expires_in": 45, "access_token": "t1"}),
        )),
    );
    mount_users(&s, |_| None);
    let dir = setup(&s, &["users"], "");
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reqs = s.requests();
    let tokens = reqs.iter().filter(|q| q.starts_with("POST")).count();
    let pages = reqs.iter().filter(|q| q.starts_with("GET")).count();
    assert_eq!((tokens, pages), (4, 4), "{reqs:#?}");
}

#[test]
fn groups_teams_and_their_members_are_collected_with_their_group_or_team() {
    let s = Server::start();
    s.graph_token("t1");
    let get = |p: &str| Mock::given(method("GET")).and(path(p.to_string()));
    s.mount(get("/v1.0/groups").respond_with(s.graph_page(&[
        json!({"id": "g1", "displayName": "Staff", "mail": "staff@contoso.org", "mailEnabled": true, "securityEnabled": false, "groupTypes": ["Unified"]}),
        json!({"id": "g2", "displayName": "Admins", "mail": null, "mailEnabled": false, "securityEnabled": true, "groupTypes": []}),
    ], None)));
    s.mount(get("/v1.0/groups/g1/members").respond_with(s.graph_page(&[
        json!({"@odata.type": "#microsoft.graph.user", "id": "u1", "displayName": "Ann", "userPrincipalName": "ann@contoso.org", "mail": "ann@contoso.org"}),
        json!({"@odata.type": "#microsoft.graph.group", "id": "g2", "displayName": "Admins", "mail": null}),
    ], None)));
    s.mount(get("/v1.0/groups/g2/members").respond_with(s.graph_page(&[], None)));
    s.mount(
        get("/v1.0/teams")
            .respond_with(s.graph_page(&[json!({"id": "g1", "displayName": "Staff"})], None)),
    );
    s.mount(get("/v1.0/teams/g1/members").respond_with(s.graph_page(&[
        json!({"@odata.type": "#microsoft.graph.aadUserConversationMember", "id": "tm1", "roles": ["owner"], "displayName": "Ann", "userId": "u1", "email": "ann@contoso.org"}),
    ], None)));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        &s.graph_config(
            "entra",
            &["groups", "group_members", "teams", "team_members"],
            "",
        ),
    );
    let r = run_with_secrets(d, &["collect"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        ok(d, &["export", "entra.groups"]),
        "id,display_name,mail,mail_enabled,security_enabled,group_types\ng1,Staff,staff@contoso.org,true,false,Unified\ng2,Admins,,false,true,\n"
    );
    assert_eq!(
        ok(d, &["export", "entra.group_members"]),
        "group_id,member_id,member_type,display_name,user_principal_name,mail\ng1,g2,#microsoft.graph.group,Admins,,\ng1,u1,#microsoft.graph.user,Ann,ann@contoso.org,ann@contoso.org\n"
    );
    assert_eq!(
        ok(d, &["export", "entra.teams"]),
        "id,display_name\ng1,Staff\n"
    );
    assert_eq!(
        ok(d, &["export", "entra.team_members"]),
        "id,team_id,user_id,email,display_name,roles\ntm1,g1,u1,ann@contoso.org,Ann,owner\n"
    );
}
