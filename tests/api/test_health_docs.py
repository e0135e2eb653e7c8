"""``/healthz``, the OpenAPI document and the self-hosted Swagger UI."""

from __future__ import annotations

import re
from typing import Any, Iterator

from kallemny_sio.schemas import HealthOut
from tests.api.helpers import assert_conforms

CONTRACT_OPERATIONS = {
    ("/api/auth/register", "post"),
    ("/api/auth/login", "post"),
    ("/api/chat/rooms", "get"),
    ("/api/chat/rooms", "post"),
    ("/api/chat/rooms/{roomId}/messages", "get"),
    ("/api/chat/users", "get"),
    ("/api/chat/rooms/{roomId}/messages/{messageId}", "get"),
    ("/api/chat/rooms/{roomId}/messages/{messageId}", "patch"),
    ("/api/chat/rooms/{roomId}/messages/{messageId}", "delete"),
    ("/api/chat/rooms/{roomId}/messages/{messageId}/reactions/{emoji}", "put"),
    ("/api/chat/rooms/{roomId}/messages/{messageId}/reactions/{emoji}", "delete"),
    ("/api/chat/rooms/{roomId}/changes", "get"),
}
CONTRACT_SCHEMAS = {"RegisterRequest", "LoginRequest", "CreateRoomRequest", "AuthOut", "UserOut",
                    "RoomOut", "MessageOut", "MessagePageOut", "ErrorOut", "EditMessageRequest",
                    "ChangePageOut"}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


async def test_healthz_is_ok(api):
    status, body = await api.request("GET", "/healthz")
    assert status == 200, body
    assert body["status"] == "ok"
    assert_conforms(HealthOut, body)


async def test_healthz_needs_no_token(api, http):
    async with http.get(api.base_url + "/healthz", headers={"Authorization": "Bearer garbage"}) as response:
        assert response.status == 200


async def test_openapi_document_lists_every_contract_operation(api):
    status, doc = await api.request("GET", "/api/openapi.json")
    assert status == 200
    assert isinstance(doc, dict) and str(doc.get("openapi", "")).startswith("3."), doc.get("openapi")
    assert doc["info"]["title"] and doc["info"]["version"]
    listed = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert CONTRACT_OPERATIONS <= listed, CONTRACT_OPERATIONS - listed


async def test_openapi_document_declares_every_shape_and_every_ref_resolves(api):
    _, doc = await api.request("GET", "/api/openapi.json")
    schemas = doc["components"]["schemas"]
    assert CONTRACT_SCHEMAS <= set(schemas), CONTRACT_SCHEMAS - set(schemas)
    for ref in set(_refs(doc)):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, f"dangling {ref}"


async def test_openapi_shapes_use_the_contract_key_names(api):
    _, doc = await api.request("GET", "/api/openapi.json")
    props = {name: set(schema.get("properties", {})) for name, schema in doc["components"]["schemas"].items()}
    assert props["UserOut"] == {"id", "username", "displayName", "isOnline", "lastSeen", "externalId"}
    assert props["MessageOut"] == {"id", "roomId", "senderId", "senderUsername", "content", "createdAt", "clientMessageId",
                                   "type", "replyToId", "mentionedUserIds", "customData", "reactions", "editedAt",
                                   "deletedAt", "updatedAt", "changeSeq"}
    assert props["ReactionOut"] == {"emoji", "count"}
    assert props["RoomOut"] == {"id", "type", "name", "topic", "isPublic", "customData", "createdBy", "createdAt",
                                "members", "lastMessage", "unreadCount", "unreadMentionCount", "lastReadMessageId",
                                "myRole", "lastChangeSeq"}
    assert props["MessagePageOut"] == {"messages", "hasMore"}
    assert props["ChangePageOut"] == {"messages", "hasMore", "lastChangeSeq"}
    assert props["AuthOut"] == {"token", "expiresAt", "user"}
    assert {"username", "password", "displayName"} <= props["RegisterRequest"]
    assert {"type", "name", "memberIds", "isPublic"} <= props["CreateRoomRequest"]


async def test_openapi_marks_chat_operations_as_bearer_secured(api):
    _, doc = await api.request("GET", "/api/openapi.json")
    schemes = doc["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s.get("type") == "http" and s.get("scheme") == "bearer"]
    assert bearer
    for path, method in CONTRACT_OPERATIONS:
        secured = doc["paths"][path][method].get("security") or doc.get("security")
        if path.startswith("/api/chat/"):
            assert secured and any(set(req) & set(bearer) for req in secured), (path, method)


async def test_openapi_history_parameters_match_the_contract(api):
    _, doc = await api.request("GET", "/api/openapi.json")
    params = {p["name"]: p for p in doc["paths"]["/api/chat/rooms/{roomId}/messages"]["get"]["parameters"]}
    assert {"roomId", "limit", "before", "after"} <= set(params)
    assert params["roomId"]["in"] == "path" and params["roomId"]["required"] is True
    assert params["limit"]["schema"]["minimum"] == 1 and params["limit"]["schema"]["maximum"] == 100
    users = {p["name"]: p for p in doc["paths"]["/api/chat/users"]["get"]["parameters"]}
    assert users["limit"]["schema"]["minimum"] == 1 and users["limit"]["schema"]["maximum"] == 1000


async def test_swagger_ui_is_served_by_the_app_without_a_cdn(api, http):
    async with http.get(api.base_url + "/api/docs") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        html = await response.text()
    assert "swagger-ui" in html.lower()
    external = re.findall(r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)""", html)
    assert external == [], external
    assert not re.search(r"unpkg\.com|jsdelivr|cdnjs|googleapis", html)
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    static = [a for a in assets if a.startswith("/api/docs/static/")]
    assert any(a.endswith(".js") for a in static) and any(a.endswith(".css") for a in static), assets
    for asset in static:
        async with http.get(api.base_url + asset) as response:
            assert response.status == 200, asset
            assert len(await response.read()) > 0, asset


async def test_swagger_ui_loads_the_same_openapi_document(api, http):
    async with http.get(api.base_url + "/api/docs") as response:
        html = await response.text()
    spec_urls = re.findall(r"""url\s*:\s*["']([^"']+)["']""", html)
    assert spec_urls, "Swagger UI is given no document URL"
    _, served = await api.request("GET", "/api/openapi.json")
    for url in spec_urls:
        assert url.startswith("/"), url
        status, doc = await api.request("GET", url)
        assert status == 200, url
        # swagger-ui-py adds a Swagger 2 style "host" key to the copy it serves; the API part is the same.
        assert {k: v for k, v in doc.items() if k != "host"} == served


SWAGGER_CONFIG = re.compile(r"SwaggerUIBundle\(\s*\{(?P<options>.*?)\}\s*\)", re.S)


async def test_swagger_ui_under_a_real_host_name_makes_no_request_outside_the_app(api, http):
    """Served as ``chat.example.com`` (not localhost), Swagger UI would fetch its validator
    badge from validator.swagger.io unless ``validatorUrl`` is null."""
    host = {"Host": "chat.example.com"}
    async with http.get(api.base_url + "/api/docs", headers=host) as response:
        assert response.status == 200
        html = await response.text()
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S)
    loaded = re.findall(r"""<script[^>]*\bsrc\s*=\s*["']([^"']+)["']""", html)
    assert all(src.startswith("/api/docs/static/") for src in loaded), loaded
    # The initializer: wherever swagger-ui-py puts the SwaggerUIBundle call (inline, or a
    # script of its own such as swagger-initializer.js), every copy the page runs is checked.
    initializers = [code for code in inline if "SwaggerUIBundle(" in code]
    for src in loaded:
        if "initializer" in src:
            async with http.get(api.base_url + src, headers=host) as response:
                initializers.append(await response.text())
    assert initializers, "found no SwaggerUIBundle configuration on the page"
    for code in initializers:
        options = SWAGGER_CONFIG.search(code)
        assert options, code
        assert re.search(r"(?m)^\s*validatorUrl\s*:\s*null\s*,?\s*$", options["options"]), options["options"]
        absolute = re.findall(r"""["'`]((?:https?:)?//[^"'`]+)""", code)
        assert absolute == [], absolute
    absolute = re.findall(r"""["'`((]\s*((?:https?:)?//[^"'`)\s]+)""", html)
    assert absolute == [], absolute
