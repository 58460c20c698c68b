"""The configured models and their schemas."""

from __future__ import annotations

from fastapi import APIRouter

from driftscope.apps.api.deps import READ, RuntimeDep
from driftscope.apps.api.schemas import ModelOut, ModelsResponse

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelsResponse, dependencies=[READ], summary="List models")
async def list_models(runtime: RuntimeDep) -> ModelsResponse:
    """Every configured model with its features, task and classes."""
    return ModelsResponse(models=[ModelOut.of(m) for m in runtime.models.values()])
