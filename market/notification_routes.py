"""The notification centre: its page, marking read, and the same in JSON."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from market import api, notify
from market.accounts.models import User
from market.api import FLAG, PAGE, ApiRouter, body, flag, paged
from market.errors import NotAuthenticated
from market.i18n import Msg
from market.web import get_actor, json_response, page_number, page_size, read_form, redirect, render

PER_PAGE = 20

router = ApiRouter("notifications")


class MarkReadIn(BaseModel):
    """Which notification to mark read; none named marks them all."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, max_length=64)


async def _user(request: Request) -> User:
    actor = await get_actor(request)
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    return actor.user


# --- pages ---------------------------------------------------------------------------------


async def notifications_page(request: Request) -> Response:
    user = await _user(request)
    page = page_number(request)
    items, total = await notify.list_notifications(user, page=page, per_page=PER_PAGE)
    return await render(
        request,
        "notifications/index.html",
        {"notifications": items, "total": total, "page": page, "per_page": PER_PAGE},
    )


async def mark_read_form(request: Request) -> Response:
    user = await _user(request)
    form = await read_form(request)
    notification_id = str(form.get("id") or "") or None
    changed = await notify.mark_read(user, notification_id)
    page = str(form.get("page") or "")
    target = f"/notifications?page={page}" if page.isdigit() and page != "1" else "/notifications"
    if notification_id:
        return redirect(target)
    noun = "notification" if changed == 1 else "notifications"
    return redirect(target, Msg("%(changed)s %(noun)s marked as read.", changed=changed, noun=noun))


routes = [
    Route("/notifications", notifications_page, methods=["GET"]),
    Route("/notifications/read", mark_read_form, methods=["POST"]),
]


# --- JSON ----------------------------------------------------------------------------------


@router.route(
    "/notifications",
    summary="Your notifications, newest first; `unread` counts all unread ones",
    query={"page": PAGE, "per_page": api.PER_PAGE, "unread": FLAG},
)
async def list_json(request: Request) -> Response:
    user = await _user(request)
    page, per_page = page_number(request), page_size(request)
    unread_only = flag(request, "unread")
    items, total = await notify.list_notifications(
        user, page=page, per_page=per_page, unread_only=unread_only
    )
    data = paged([notify.notification_json(n) for n in items], page, per_page, total)
    data["unread"] = await notify.unread_count(user)
    return json_response(data)


@router.route(
    "/notifications/read",
    "POST",
    summary="Mark one notification read (by `id`), or all of them",
    body=MarkReadIn,
)
async def mark_read_json(request: Request) -> Response:
    user = await _user(request)
    data = await body(request, MarkReadIn)
    changed = await notify.mark_read(user, data.id)
    return json_response({"marked": changed, "unread": await notify.unread_count(user)})
