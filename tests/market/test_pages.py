"""The shell's own pages: errors, languages, health and readiness."""

import httpx


async def test_error_pages_and_chinese(client) -> None:
    missing = await client.get("/no/such/page")
    assert missing.status_code == 404 and "<html" in missing.text
    chinese = await client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录" in chinese.text and 'lang="zh"' in chinese.text


async def test_health_and_security_headers(client) -> None:
    response = await client.get("/healthz")
    assert response.text == "ok"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_readyz_reports_each_service(app) -> None:
    # From this machine: the operator's view, with each service named (strangers get only ok).
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "redis", "meilisearch"}
    assert all(check["ok"] for check in body["checks"].values())
