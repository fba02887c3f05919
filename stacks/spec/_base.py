"""What every spec model shares: frozen, unknown keys refused, names that fit into resource names."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
LABEL_KEY = re.compile(r"^([a-z0-9.-]+/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError("use 3-32 lower-case letters, digits or '-', starting with a letter (it goes into resource names)")
    return value


Name = Annotated[str, AfterValidator(check_name)]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
