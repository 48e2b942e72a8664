"""The content library through the JSON API: the same operations as the pages, 4xx JSON on bad input."""
from __future__ import annotations

import io

import pytest

from tests.fixtures_content import make_content, png_bytes, preview_channels  # noqa: F401


@pytest.fixture
def editor_api(api_token):
    return api_token("editor")


def test_editor_creates_edits_approves_and_restores_through_the_api(client, editor_api):
    created = client.post("/api/v1/content", headers=editor_api, json={
        "title": "周五抽奖", "kind": "community", "tags": ["抽奖"], "body": "奖品：手冲壶 **×1**",
        "variants": {"chat": "🎁 周五抽奖"}})
    assert created.status_code == 201, created.get_json()
    item = created.get_json()
    assert item["version"] == 1 and item["status"] == "draft" and item["slug"].startswith("community-")
    assert item["html"] == "<p>奖品：手冲壶 <strong>×1</strong></p>"

    edited = client.patch(f"/api/v1/content/{item['id']}", headers=editor_api,
                          json={"version": 1, "body": "奖品：挂耳礼盒 ×5", "variants": {"chat": "🎁 挂耳"}})
    assert edited.status_code == 200 and edited.get_json()["version"] == 2 and edited.get_json()["changed"]
    stale = client.patch(f"/api/v1/content/{item['id']}", headers=editor_api, json={"version": 1, "body": "x"})
    assert stale.status_code == 409 and "Someone saved" in stale.get_json()["error"]

    approved = client.post(f"/api/v1/content/{item['slug']}/status", headers=editor_api, json={"status": "approved"})
    assert approved.status_code == 200 and approved.get_json()["sendable"] is True

    versions = client.get(f"/api/v1/content/{item['id']}/versions", headers=editor_api).get_json()
    assert [v["number"] for v in versions["versions"]] == [2, 1]
    assert versions["versions"][0]["saved_by"].startswith("editor-")
    diff = client.get(f"/api/v1/content/{item['id']}/versions/2", headers=editor_api).get_json()["diff"]
    assert diff["body"][-2:] == ["-奖品：手冲壶 **×1**", "+奖品：挂耳礼盒 ×5"]

    restored = client.post(f"/api/v1/content/{item['id']}/versions/1/restore", headers=editor_api).get_json()
    assert (restored["body"], restored["variants"], restored["version"]) == ("奖品：手冲壶 **×1**", {"chat": "🎁 周五抽奖"}, 3)


def test_search_and_filters_through_the_api(client, editor_api, make_content):
    make_content(title="燕麦拿铁", body="秋季新品", kind="moments", tags=["咖啡"], variants={"sms": "半价"})
    make_content(title="Serum", body="积雪草精华", kind="article", tags=["护肤"], status="approved")
    found = client.get("/api/v1/content?q=精华", headers=editor_api).get_json()
    assert [i["title"] for i in found["items"]] == ["Serum"] and found["total"] == 1
    assert "body" not in found["items"][0]  # lists stay small
    by_channel = client.get("/api/v1/content?channel=sms&tag=咖啡&kind=moments", headers=editor_api).get_json()
    assert [i["title"] for i in by_channel["items"]] == ["燕麦拿铁"]
    first = client.get("/api/v1/content?limit=1", headers=editor_api).get_json()
    second = client.get(f"/api/v1/content?limit=1&cursor={first['next']}", headers=editor_api).get_json()
    assert (len(first["items"]), len(second["items"]), second["next"]) == (1, 1, None)
    assert {first["items"][0]["title"], second["items"][0]["title"]} == {"燕麦拿铁", "Serum"}


def test_bad_input_gets_a_4xx_json_answer_never_a_500(client, api_token, editor_api, make_content):
    item = make_content(title="Exists", slug="exists")
    cases = [
        (client.post("/api/v1/content", headers=editor_api, data="not json", content_type="application/json"), 400),
        (client.post("/api/v1/content", headers=editor_api, json=["a", "list"]), 400),
        (client.post("/api/v1/content", headers=editor_api, json={"title": ""}), 422),
        (client.post("/api/v1/content", headers=editor_api, json={"title": "x", "kind": "poster"}), 422),
        (client.post("/api/v1/content", headers=editor_api, json={"title": "x", "slug": "exists"}), 422),
        (client.post("/api/v1/content", headers=editor_api, json={"title": "x", "slug": "Not A Slug"}), 422),
        (client.post("/api/v1/content", headers=editor_api, json={"title": "x", "body": "{{ shoe_size }}"}), 422),
        (client.post("/api/v1/content", headers=editor_api, json={"title": "x", "variants": ["sms"]}), 400),
        (client.post("/api/v1/content", headers=editor_api, json={"title": "x", "tags": {"a": 1}}), 400),
        (client.post("/api/v1/content", headers=editor_api, json={"title": "x", "colour": "red"}), 400),
        (client.post("/api/v1/content", headers=api_token("ops"), json={"title": "x"}), 403),
        (client.patch(f"/api/v1/content/{item.id}", headers=editor_api, json={"version": "one"}), 400),
        (client.patch(f"/api/v1/content/{item.id}", headers=editor_api, json={"status": "approved"}), 400),
        (client.post(f"/api/v1/content/{item.id}/status", headers=editor_api, json={"status": "gone"}), 400),
        (client.post(f"/api/v1/content/{item.id}/status", headers=editor_api, json={"status": "archived"}), 200),
        (client.post(f"/api/v1/content/{item.id}/status", headers=editor_api, json={"status": "approved"}), 409),
        (client.get("/api/v1/content/nothing-here", headers=editor_api), 404),
        (client.get(f"/api/v1/content/{item.id}/versions/9", headers=editor_api), 404),
        (client.post(f"/api/v1/content/{item.id}/versions/9/restore", headers=editor_api), 404),
        (client.get("/api/v1/content?kind=poster", headers=editor_api), 400),
        (client.get("/api/v1/content?limit=1000", headers=editor_api), 400),
        (client.get("/api/v1/content?cursor=x", headers=editor_api), 400),
        (client.post("/api/v1/content/media", headers=editor_api, data={}), 400),
        (client.put("/api/v1/content/fields", headers=editor_api, json={"declared": ["ok", "not ok"]}), 400),
        (client.get("/api/v1/content"), 401),
    ]
    for response, status in cases:
        assert response.status_code == status, (response.request.path, response.get_json())
        if status >= 400:
            assert response.is_json and response.get_json()["error"]
    invalid = client.post("/api/v1/content", headers=editor_api, json={"title": "x", "body": "{{ shoe_size }}"})
    assert "shoe_size" in invalid.get_json()["fields"]["body"]


def test_previews_through_the_api_carry_channel_warnings(client, editor_api, preview_channels):
    body = "A body that is certainly longer than forty characters."
    answer = client.post("/api/v1/content/preview", headers=editor_api, json={
        "title": "t", "body": body, "variants": {"testhtml": "*hi*"}})
    previews = {p["channel"]: p for p in answer.get_json()["previews"]}
    assert previews["testhtml"]["html"] == "<p><em>hi</em></p>" and previews["testhtml"]["warnings"] == []
    assert previews["testtext"]["warnings"] == [f"{len(body)} characters; the limit is 40"]


def test_media_and_fields_through_the_api(client, editor_api, make_content):
    item = make_content(title="With picture")
    uploaded = client.post("/api/v1/content/media", headers=editor_api, data={
        "file": (io.BytesIO(png_bytes()), "latte.png"), "content": str(item.id)})
    assert uploaded.status_code == 201
    media = uploaded.get_json()
    assert (media["mime"], media["width"], media["height"], media["content"]) == ("image/png", 8, 6, item.id)
    assert media["markdown"] == f"![latte]({media['url']})"
    refused = client.post("/api/v1/content/media", headers=editor_api,
                          data={"file": (io.BytesIO(b"<svg onload=alert(1)>"), "x.png")})
    assert refused.status_code == 400 and "not an image" in refused.get_json()["error"]
    listed = client.get(f"/api/v1/content/media?content={item.slug}", headers=editor_api).get_json()["items"]
    assert [m["id"] for m in listed] == [media["id"]]

    fields = client.put("/api/v1/content/fields", headers=editor_api, json={"declared": ["level", "city"]}).get_json()
    assert fields["declared"] == ["level", "city"] and "name" in fields["contact"]
    assert client.post("/api/v1/content", headers=editor_api,
                       json={"title": "x", "body": "{{ level | 会员 }} in {{ city }}"}).status_code == 201


def test_delete_through_the_api(client, editor_api, make_content):
    item = make_content(title="Temporary")
    assert client.delete(f"/api/v1/content/{item.id}", headers=editor_api).status_code == 204
    assert client.get(f"/api/v1/content/{item.id}", headers=editor_api).status_code == 404


def test_the_openapi_document_lists_the_content_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ["/api/v1/content", "/api/v1/content/{key}", "/api/v1/content/{key}/status",
                 "/api/v1/content/{key}/versions", "/api/v1/content/{key}/versions/{number}/restore",
                 "/api/v1/content/preview", "/api/v1/content/media", "/api/v1/content/fields",
                 "/api/v1/content/import", "/api/v1/content/export"]:
        assert path in paths, path
    assert set(paths["/api/v1/content/{key}"]) >= {"get", "patch", "delete"}


def test_import_and_export_through_the_api(client, editor_api):
    from tests.fixtures_content import SAMPLE_LIBRARY

    files = {str(p.relative_to(SAMPLE_LIBRARY)): p.read_text("utf-8") for p in SAMPLE_LIBRARY.rglob("*.md")}
    files["broken.md"] = "---\ntitle: [unclosed\n---\nbody"
    first = client.post("/api/v1/content/import", headers=editor_api, json={"files": files}).get_json()
    assert len(first["created"]) == len(files) - 1
    assert first["errors"] == [{"file": "broken.md", "error": first["errors"][0]["error"]}]
    assert first["errors"][0]["error"].startswith("broken front matter")

    exported = client.get("/api/v1/content/export", headers=editor_api).get_json()["files"]
    assert len(exported) == len(files) - 1
    again = client.post("/api/v1/content/import", headers=editor_api, json={"files": exported}).get_json()
    assert (again["created"], again["updated"], again["errors"]) == ([], [], [])
    assert len(again["unchanged"]) == len(exported)
    approved = client.get("/api/v1/content/export?status=approved", headers=editor_api).get_json()["files"]
    assert approved and all("\nstatus: approved\n" in text for text in approved.values())
    assert client.post("/api/v1/content/import", headers=editor_api, json={"files": ["a"]}).status_code == 400
