"""The base of every contract payload: unknown fields are kept, not dropped."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """A contract payload; later minor versions may add fields old readers keep."""

    model_config = ConfigDict(extra="allow")
