"""The terms and the privacy page, linked from every page's footer, in both languages."""

import pytest


@pytest.mark.parametrize(
    ("path", "en", "zh"),
    [
        ("/terms", "Terms of use", "使用条款"),
        ("/privacy", "What we keep", "我们保存什么"),
    ],
)
async def test_legal_pages_in_both_languages(client, settings, path, en, zh) -> None:
    home = (await client.get("/")).text
    assert f'href="{path}"' in home
    page = await client.get(path)
    assert page.status_code == 200 and en in page.text
    assert settings.support_email in page.text
    await client.get("/language/zh")
    chinese = (await client.get(path)).text
    assert zh in chinese and en not in chinese and settings.support_email in chinese
