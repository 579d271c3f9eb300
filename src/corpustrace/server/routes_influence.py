"""POST /api/influence: TrackStar proponents and opponents of a response, when the server
was started with a feature store (`--influence STORE`). torch is imported only then."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI

from corpustrace.errors import IndexFormatError
from corpustrace.influence.errors import InfluenceError
from corpustrace.server import queries
from corpustrace.server.errors import ServiceError, TooLarge
from corpustrace.server.routes_api import ERRORS
from corpustrace.server.schemas_influence import InfluenceRequest, InfluenceResponse
from corpustrace.server.security import require_token
from corpustrace.server.state import AppState, get_state

State = Annotated[AppState, Depends(get_state)]
router = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=ERRORS)


class InfluenceOff(ServiceError):
    status = 404
    code = "influence_unavailable"


class InfluenceFailed(ServiceError):
    status = 503
    code = "influence_error"


def install_influence(app: FastAPI, state: AppState) -> None:
    """Add the route; the store is loaded at start-up, once the index is open."""
    state.influence = None
    app.include_router(router)


def open_influence(state: AppState) -> None:
    """Load the configured store (a clear error at start-up if it does not fit the index)."""
    if state.settings.influence is not None:
        from corpustrace.engine.engine import Engine
        from corpustrace.influence.query import InfluenceIndex

        engine = state.engine
        if not isinstance(engine, Engine):
            raise InfluenceFailed("influence needs the index on this machine (not --ray)")
        indexes = engine.index.indexes
        if len(indexes) > 1:
            raise IndexFormatError(
                "an influence store belongs to one index; it cannot be served over "
                f"{len(indexes)} indexes at once"
            )
        state.influence = InfluenceIndex(state.settings.influence, indexes[0])


@router.post("/influence", response_model=InfluenceResponse, tags=["influence"])
async def influence(req: InfluenceRequest, state: State) -> InfluenceResponse:
    """TrackStar: the training chunks whose loss gradients align best (proponents) and
    worst (opponents) with the response's, given the prompt."""
    holder: Any = getattr(state, "influence", None)
    if holder is None:
        raise InfluenceOff("no influence store is configured (serve with --influence STORE)")
    queries.check_trace_text(state.settings, req.response, req.prompt)
    limit = state.settings.max_influence_k
    if req.k > limit:
        raise TooLarge(f"k = {req.k}; at most {limit} examples are returned")
    try:
        result = await state.run(holder.query, req.prompt, req.response, req.k, req.opponents)
    except InfluenceError as exc:
        raise InfluenceFailed(str(exc)) from exc
    return InfluenceResponse.model_validate(result.to_dict())
