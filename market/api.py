"""The JSON API's plumbing: a route registry that also writes the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from market.errors import DomainError, Forbidden, NotAuthenticated, ValidationFailed
from market.validation import parse
from market.web import check_api_csrf, error_json, get_actor, read_json

PREFIX = "/api/v1"
Endpoint = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
Schema = dict[str, Any]

# The query parameters' schemas say exactly what the server takes (market/web.py page_number,
# page_size; flag below): a generated request the document calls valid is one the server reads.
PAGE: Schema = {"type": "integer", "minimum": 1, "maximum": 100_000}
PER_PAGE: Schema = {"type": "integer", "minimum": 1, "maximum": 100}
# Empty, as a plain GET form sends an unticked box's hidden twin, is no.
FLAG_VALUES = ("", "1", "true", "0", "false")
FLAG: Schema = {"type": "string", "enum": list(FLAG_VALUES)}
UUID: Schema = {"type": "string", "format": "uuid"}


def choice(values: Iterable[str]) -> Schema:
    return {"type": "string", "enum": list(values)}


def filter_of(values: Iterable[str]) -> Schema:
    """A filter by one of `values`; empty (as a plain GET form sends it) means no filter."""
    return choice(["", *values])


def text(max_length: int) -> Schema:
    """Free text of at most `max_length` characters (query_text reads it); no NUL, which
    PostgreSQL cannot store or compare."""
    return {"type": "string", "maxLength": max_length, "pattern": "^[^\\u0000]*$"}


@dataclass
class Operation:
    path: str
    method: str
    endpoint: Endpoint
    summary: str
    body: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    # name -> the JSON schema of its value (a list schema for a repeatable parameter)
    query: dict[str, Schema] = field(default_factory=dict)
    # What a success answers: its media type and, where it is fixed, the body's schema.
    produces: str = "application/json"
    answer: Schema | None = None


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
        query: dict[str, Schema] | None = None,
        produces: str = "application/json",
        answer: Schema | None = None,
    ) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            self.operations.append(
                Operation(
                    path,
                    method,
                    endpoint,
                    summary,
                    body,
                    status,
                    auth,
                    query or {},
                    produces,
                    answer,
                )
            )
            return endpoint

        return register


def _guarded(op: Operation) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            if op.method in UNSAFE:
                check_api_csrf(request)
            actor = await get_actor(request)
            if op.auth and not actor.is_authenticated:
                raise NotAuthenticated("Log in or send a valid API token.")
            if op.method in UNSAFE and actor.read_only:
                raise Forbidden("This API token may only read; make one that may also write.")
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


def query_text(request: Request, name: str, max_length: int) -> str:
    """A free-text query parameter as `text(max_length)` documents it, or a 422 naming it."""
    raw = request.query_params.get(name, "")
    if len(raw) > max_length or "\x00" in raw:
        raise ValidationFailed(
            f"{name} must be at most {max_length} characters, without NUL.",
            fields={name: "Invalid."},
        )
    return raw


def flag(request: Request, name: str) -> bool:
    """A yes/no query parameter (FLAG): absent is no; anything but FLAG_VALUES is refused."""
    raw = request.query_params.get(name, "")
    if raw and raw not in FLAG_VALUES:
        raise ValidationFailed(
            f"{name} must be one of {', '.join(FLAG_VALUES)}.", fields={name: "Invalid."}
        )
    return raw in {"1", "true"}


ERROR_SCHEMA: Schema = {
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
    "required": ["error"],
}
PAGE_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": {"type": "object"}},
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1},
        "total": {"type": "integer", "minimum": 0},
    },
    "required": ["items", "page", "per_page", "total"],
}
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _responses(op: Operation) -> dict[str, Any]:
    answer = op.answer
    if answer is None and op.produces == "application/json":
        answer = {"$ref": "#/components/schemas/Page"} if "page" in op.query else {"type": "object"}
    success: dict[str, Any] = {"description": "Success", "content": {op.produces: {}}}
    if answer is not None:
        success["content"][op.produces]["schema"] = answer
    responses: dict[str, Any] = {
        str(op.status): success,
        "4XX": {
            "description": "Refused; the body names the field or the state",
            "content": _ERROR_CONTENT,
        },
    }
    if op.method in UNSAFE:
        responses["413"] = {
            "description": "The request body is too large",
            "content": _ERROR_CONTENT,
        }
        responses["429"] = {
            "description": "Too many attempts; try again after Retry-After seconds",
            "headers": {"Retry-After": {"required": True, "schema": {"type": "integer"}}},
            "content": _ERROR_CONTENT,
        }
    return responses


def openapi(*routers: ApiRouter) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {"Error": ERROR_SCHEMA, "Page": PAGE_SCHEMA}
    for router in routers:
        for op in router.operations:
            item: dict[str, Any] = {
                "summary": op.summary,
                "operationId": f"{op.method.lower()}_{router.tag}_{op.endpoint.__name__}",
                "tags": [router.tag],
                "responses": _responses(op),
            }
            params: list[dict[str, Any]] = [
                {"name": name, "in": "path", "required": True, "schema": UUID}
                for name in _path_params(op.path)
            ]
            params += [
                {"name": name, "in": "query", "required": False, "schema": schema}
                for name, schema in op.query.items()
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
        "info": {
            "title": "techmarket API",
            "version": "1",
            "description": "No string may hold NUL (U+0000): a body with one is refused with "
            "422 naming the field.",
        },
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
