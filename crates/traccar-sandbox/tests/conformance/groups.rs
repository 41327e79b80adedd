//! Groups: auto-link, child/grandchild visibility, cycles, deletes that orphan members.

use serde_json::json;

use super::harness::*;

#[tokio::test]
async fn group_create_auto_links_creator() {
    let t = target().await;
    let g = t.group(t.admin(), 0).await;
    assert!(
        t.ids(t.admin(), &format!("/api/groups?userId={}", t.admin.id))
            .await
            .contains(&g)
    );
    assert!(t.ids(t.admin(), "/api/groups").await.contains(&g));
}

#[tokio::test]
async fn groups_by_user_include_children_and_grandchildren_only() {
    let t = target().await;
    let g1 = t.group(t.admin(), 0).await;
    let g2 = t.group(t.admin(), g1).await;
    let g3 = t.group(t.admin(), g2).await;
    let g4 = t.group(t.admin(), g3).await;
    let u = t.user(json!({})).await;
    t.link(t.admin(), json!({"userId": u.id, "groupId": g1}))
        .await
        .expect(204);
    let mut ids = t
        .ids(t.admin(), &format!("/api/groups?userId={}", u.id))
        .await;
    ids.sort();
    assert_eq!(
        ids,
        vec![g1, g2, g3],
        "depth is limited to two levels below the linked group"
    );
    let mut own = t.ids(Auth::Basic(&u), "/api/groups").await;
    own.sort();
    assert_eq!(own, vec![g1, g2, g3]);
    let _ = g4;
}

#[tokio::test]
async fn devices_deeper_than_grandchild_groups_are_not_visible() {
    let t = target().await;
    let g1 = t.group(t.admin(), 0).await;
    let g2 = t.group(t.admin(), g1).await;
    let g3 = t.group(t.admin(), g2).await;
    let g4 = t.group(t.admin(), g3).await;
    let r3 = t.create_device(t.admin(), json!({"groupId": g3})).await;
    let r4 = t.create_device(t.admin(), json!({"groupId": g4})).await;
    let u = t.user(json!({})).await;
    t.link(t.admin(), json!({"userId": u.id, "groupId": g1}))
        .await
        .expect(204);
    let ids = t.ids(Auth::Basic(&u), "/api/devices").await;
    assert_eq!(ids, vec![r3.id()]);
    t.get(Auth::Basic(&u), &format!("/api/devices/{}", r4.id()))
        .await
        .expect_error(400, "java.lang.SecurityException: Device access denied");
}

#[tokio::test]
async fn delete_group_orphans_devices_and_child_groups() {
    let t = target().await;
    let parent = t.group(t.admin(), 0).await;
    let child = t.group(t.admin(), parent).await;
    let d = t.create_device(t.admin(), json!({"groupId": parent})).await;
    d.expect(200);
    t.delete(t.admin(), &format!("/api/groups/{parent}"))
        .await
        .expect(204);
    assert_eq!(
        t.fetch(&format!("/api/devices/{}", d.id())).await["groupId"],
        json!(0)
    );
    assert_eq!(
        t.fetch(&format!("/api/groups/{child}")).await["groupId"],
        json!(0)
    );
    t.get(t.admin(), &format!("/api/groups/{parent}"))
        .await
        .expect(404);
}

#[tokio::test]
async fn group_cannot_be_its_own_parent() {
    let t = target().await;
    let g = t.group(t.admin(), 0).await;
    let mut body = t.fetch(&format!("/api/groups/{g}")).await;
    body["groupId"] = json!(g);
    t.put(t.admin(), &format!("/api/groups/{g}"), body)
        .await
        .expect_error(
            400,
            "java.lang.IllegalArgumentException: Cycle in group hierarchy",
        );
}

#[tokio::test]
async fn group_cycles_through_ancestors_rejected_from_6_14() {
    let t = target().await;
    let g1 = t.group(t.admin(), 0).await;
    let g2 = t.group(t.admin(), g1).await;
    let mut body = t.fetch(&format!("/api/groups/{g1}")).await;
    body["groupId"] = json!(g2);
    let r = t.put(t.admin(), &format!("/api/groups/{g1}"), body).await;
    if t.at_least(6, 14) {
        r.expect_error(
            400,
            "java.lang.IllegalArgumentException: Cycle in group hierarchy",
        );
    } else {
        r.expect(200);
    }
}

#[tokio::test]
async fn non_admin_group_parent_must_be_visible() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let foreign = t.group(t.admin(), 0).await;
    let r = t
        .post(
            Auth::Basic(&u),
            "/api/groups",
            json!({"name": "child", "groupId": foreign}),
        )
        .await;
    r.expect_error(400, "java.lang.SecurityException: Group access denied");
    let own = t.group(Auth::Basic(&u), 0).await;
    let child = t.group(Auth::Basic(&u), own).await;
    assert!(t.ids(Auth::Basic(&u), "/api/groups").await.contains(&child));
}

/// Observed on real 6.9.1 (issue 12, stop 21): a manager that sees a group only through its
/// parent may move it to the top level (the PUT checks the new parent only: none); the group
/// then leaves its list, and its next PUT of the group is refused.
#[tokio::test]
async fn a_manager_may_move_a_group_out_of_its_own_sight() {
    let t = target().await;
    let m = t.manager(-1, -1).await;
    let parent = t.group(t.admin(), 0).await;
    let child = t.group(t.admin(), parent).await;
    t.link(t.admin(), json!({"userId": m.id, "groupId": parent}))
        .await
        .expect(204);
    assert!(t.ids(Auth::Basic(&m), "/api/groups").await.contains(&child));
    let mut body = t.fetch(&format!("/api/groups/{child}")).await;
    body["groupId"] = json!(0);
    t.put(
        Auth::Basic(&m),
        &format!("/api/groups/{child}"),
        body.clone(),
    )
    .await
    .expect(200);
    assert!(!t.ids(Auth::Basic(&m), "/api/groups").await.contains(&child));
    t.put(Auth::Basic(&m), &format!("/api/groups/{child}"), body)
        .await
        .expect_error(400, "java.lang.SecurityException: Group access denied");
}

/// observed-objects.md §11-§12 and observed-api.md: a group's PUT replaces its parent
/// (`groupId`) and attributes; the parent must be a group the caller has.
#[tokio::test]
async fn group_put_replaces_parent_and_attributes() {
    let t = target().await;
    let parent = t.group(t.admin(), 0).await;
    let name = format!("conf-grp-{}", suffix());
    let id = t
        .object(
            t.admin(),
            "/api/groups",
            json!({"name": name, "groupId": parent, "attributes": {"speedLimit": 50}}),
        )
        .await;
    let v = t.fetch(&format!("/api/groups/{id}")).await;
    assert_eq!(
        v,
        json!({"id": id, "attributes": {"speedLimit": 50}, "groupId": parent, "name": name})
    );
    t.put(
        t.admin(),
        &format!("/api/groups/{id}"),
        json!({"id": id, "name": name}),
    )
    .await
    .expect(200);
    let v = t.fetch(&format!("/api/groups/{id}")).await;
    assert_eq!(
        (v["groupId"].clone(), v["attributes"].clone()),
        (json!(0), json!({}))
    );
}
