"""All routes under one router."""

from fastapi import APIRouter

from app.api.routes import forecast, health, jobs, models, prices, train

api_router = APIRouter()
for module in (train, jobs, forecast, models, prices, health):
    api_router.include_router(module.router)
