"""Shapes shared by several contracts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Localised = dict[str, str]


class Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Selector(Part):
    """Whom a mandatory-training rule applies to; each list may be the word "all"."""

    academies: list[str] | Literal["all"] = "all"
    agencies: list[str] | Literal["all"] = "all"
    roles: list[str] | Literal["all"] = "all"
    ranks: list[str] | Literal["all"] = "all"
    units: list[str] | Literal["all"] = "all"
