"""Mode name -> Objective class, read from the mode list (``core.train.fields.MODE_LIST``); the loop
looks modes up here (no if/elif chain)."""

from __future__ import annotations

from core.train.fields import MODE_LIST, objective_class
from core.train.objective import Objective

OBJECTIVES: dict[str, type[Objective]] = {m.name: objective_class(m.name) for m in MODE_LIST}
