"""Endpoints: archive (see DESIGN.md, Web endpoints)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
