"""models.ident and db.select_columns: the two typed seams for ids and long column queries."""

from __future__ import annotations

import pytest
from sqlmodel import col

from portal_app.db import select_columns
from portal_app.models import Role, ident


def test_ident_is_the_id_of_a_flushed_row_and_of_an_id_a_query_read(session):
    role = Role(name="Front desk")
    session.add(role)
    session.flush()
    assert role.id is not None
    assert ident(role) == role.id
    assert ident(role.id) == role.id


def test_ident_refuses_a_row_never_flushed():
    with pytest.raises(RuntimeError, match="Role has no id"):
        ident(Role(name="Front desk"))
    with pytest.raises(RuntimeError):
        ident(None)


def test_select_columns_reads_five_columns_in_order(session):
    session.add(Role(name="Front desk", built_in=False))
    session.commit()
    found = session.exec(select_columns(Role.id, Role.name, Role.built_in, Role.name, Role.id)
                         .where(col(Role.name) == "Front desk")).one()
    assert tuple(found) == (found[0], "Front desk", False, "Front desk", found[0])
    assert isinstance(found[0], int)
