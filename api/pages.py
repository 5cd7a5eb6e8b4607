"""Paging parameters and the Spring Data page object the web client expects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request

from api.errors import ApiError

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
MAX_PAGE = 1_000_000
"""Past any real list; bounds `page * size` well inside the database's integers."""


def page_params(request: Request) -> tuple[int, int]:
    """`page` (from 0) and `size` (1 to 100) from the query string."""
    return (
        _int_param(request, "page", 0, minimum=0, maximum=MAX_PAGE),
        _int_param(request, "size", DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE),
    )


def spring_page(
    content: Sequence[dict[str, Any]], *, page: int, size: int, total: int
) -> dict[str, Any]:
    """The `Page` shape of CONTRACT.md (Spring's `PageImpl` serialised)."""
    total_pages = (total + size - 1) // size
    sort = {"empty": True, "sorted": False, "unsorted": True}
    return {
        "content": list(content),
        "pageable": {
            "pageNumber": page,
            "pageSize": size,
            "offset": page * size,
            "paged": True,
            "unpaged": False,
            "sort": sort,
        },
        "last": page >= total_pages - 1,
        "totalPages": total_pages,
        "totalElements": total,
        "size": size,
        "number": page,
        "sort": sort,
        "first": page == 0,
        "numberOfElements": len(content),
        "empty": not content,
    }


def _int_param(
    request: Request, name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ApiError(
            400, "validation_error", f"{name}: must be a whole number", field=name
        ) from error
    if value < minimum or (maximum is not None and value > maximum):
        limits = f"from {minimum}" + (f" to {maximum}" if maximum is not None else "")
        raise ApiError(400, "validation_error", f"{name}: must be {limits}", field=name)
    return value
