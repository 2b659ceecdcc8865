"""The JSON API's plumbing: a route registry that also writes the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from market.errors import DomainError, NotAuthenticated
from market.validation import parse
from market.web import check_api_csrf, error_json, get_actor, read_json

PREFIX = "/api/v1"
Endpoint = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Operation:
    path: str
    method: str
    endpoint: Endpoint
    summary: str
    body: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    query: dict[str, str] = field(default_factory=dict)


class ApiRouter:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.operations: list[Operation] = []

    def route(
        self,
        path: str,
        method: str = "GET",
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        status: int = 200,
        auth: bool = True,
        query: dict[str, str] | None = None,
    ) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            self.operations.append(
                Operation(path, method, endpoint, summary, body, status, auth, query or {})
            )
            return endpoint

        return register


def _guarded(op: Operation) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            if op.method in UNSAFE:
                check_api_csrf(request)
            if op.auth and not (await get_actor(request)).is_authenticated:
                raise NotAuthenticated("Log in or send a valid API token.")
            return await op.endpoint(request)
        except DomainError as exc:
            return error_json(exc)

    endpoint.__name__ = op.endpoint.__name__
    return endpoint


def routes(*routers: ApiRouter) -> Mount:
    """Every endpoint under one mount at PREFIX: an API request is matched against the API's
    routes only, not first against every page's (a cost paid on each call)."""
    by_path: dict[str, list[Operation]] = {}
    for router in routers:
        for op in router.operations:
            by_path.setdefault(op.path, []).append(op)
    result: list[BaseRoute] = []
    for path, ops in by_path.items():
        handlers = {op.method: _guarded(op) for op in ops}
        # Starlette's Route answers HEAD wherever there is a GET (and names it in the 405's
        # `Allow`, as on pages); the GET handler answers it, the server drops the body.
        if "GET" in handlers:
            handlers["HEAD"] = handlers["GET"]

        async def dispatch(request: Request, handlers: dict[str, Endpoint] = handlers) -> Response:
            return await handlers[request.method](request)

        result.append(Route(path, dispatch, methods=list(handlers)))
    result.append(Route("/openapi.json", openapi_endpoint(*routers)))
    return Mount(PREFIX, routes=result)


async def body(request: Request, schema: type[M]) -> M:
    return parse(schema, await read_json(request))


def paged(items: list[Any], page: int, per_page: int, total: int) -> dict[str, Any]:
    return {"items": items, "page": page, "per_page": per_page, "total": total}


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                "state": {"type": "string"},
            },
            "required": ["code", "message"],
        }
    },
}


def openapi(*routers: ApiRouter) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for router in routers:
        for op in router.operations:
            item: dict[str, Any] = {
                "summary": op.summary,
                "tags": [router.tag],
                "responses": {
                    str(op.status): {"description": "Success"},
                    "4XX": {
                        "description": "Refused; the body names the field or the state",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                },
            }
            params = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _path_params(op.path)
            ]
            params += [
                {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
                for name, kind in op.query.items()
            ]
            if params:
                item["parameters"] = params
            if op.body is not None:
                schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, sub in schema.pop("$defs", {}).items():
                    components[name] = sub
                components[op.body.__name__] = schema
                item["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}
                        }
                    },
                }
            if op.auth:
                item["security"] = [{"session": []}, {"bearer": []}]
            paths.setdefault(PREFIX + op.path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "techmarket API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "tm_session"},
            },
        },
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def openapi_endpoint(*routers: ApiRouter) -> Endpoint:
    document = openapi(*routers)

    async def serve(request: Request) -> Response:
        return JSONResponse(document)

    return serve
