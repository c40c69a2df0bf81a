"""The read-only, one-row-at-a-time table the side panels list things in."""

from __future__ import annotations

from PySide6 import QtWidgets

View = QtWidgets.QAbstractItemView


def row_table(columns: list[str] | tuple[str, ...], name: str, stretch_last: bool = True) -> QtWidgets.QTableWidget:
    table = QtWidgets.QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(View.SelectionBehavior.SelectRows)
    table.setSelectionMode(View.SelectionMode.SingleSelection)
    table.setEditTriggers(View.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setStretchLastSection(stretch_last)
    return table
