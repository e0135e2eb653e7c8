"""Declared models (:mod:`kallemny_sio.schemas`) as the named schemas of an API document.

The OpenAPI document (:mod:`.docs`) and the AsyncAPI document (:mod:`.asyncapi`)
both keep their shapes under ``components/schemas`` and point at them with
``#/components/schemas/<Model>``, so one model has one name in both.
"""

from __future__ import annotations

from typing import Any, Iterable

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF = "#/components/schemas/{model}"


def ref(model: type[BaseModel]) -> dict[str, str]:
    """A reference to ``model``'s schema under ``components/schemas``."""
    return {"$ref": REF.format(model=model.__name__)}


def component_schemas(inputs: Iterable[type[BaseModel]], outputs: Iterable[type[BaseModel]]) -> dict[str, Any]:
    """The schemas of ``inputs`` (as they are validated) and ``outputs`` (as they are sent), with every model they use.

    Wire names (aliases) throughout; references already point into ``components/schemas``.
    """
    models = [(m, "validation") for m in inputs] + [(m, "serialization") for m in outputs]
    _, defs = models_json_schema(models, by_alias=True, ref_template=REF)  # type: ignore[arg-type]
    return dict(defs.get("$defs", {}))
