"""A status callback that finds its message by `?mid=` while another row records the
same provider id at that moment (PostgreSQL, real transactions): the callback is applied
to the row that holds the id, and Twilio gets its 204, not a 500."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.clock import FixedClock
from app.db import Database
from app.messaging.models import Message
from tests.callbacks.test_booking_races_postgres import join, wait_for_lock_wait
from tests.conftest import Tenant
from tests.fake_twilio import status_callback_params
from tests.helpers import import_debt
from tests.messaging.test_status_webhook import post_status

SID = "SM" + "c" * 32


def test_a_callback_racing_another_row_for_its_sid_answers_204(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    for _ in range(2):
        response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
        assert response.status_code == 202, response.text
    with db.transaction() as session:
        first, second = session.scalars(select(Message.id).order_by(Message.created_at)).all()
        session.execute(update(Message).values(status="sending"))
    # Another transaction records SID on `second` and has not committed yet.
    holder = db.engine.connect()
    holder.execute(update(Message).where(Message.id == second).values(provider_sid=SID))
    statuses: list[int] = []
    params = status_callback_params(SID, "delivered")
    callback = threading.Thread(
        target=lambda: statuses.append(post_status(client, params, query=f"?mid={first}")),
        name="status-callback",
    )
    callback.start()
    wait_for_lock_wait(db)  # the callback waits on the unique index behind `holder`
    holder.commit()
    holder.close()
    join(callback)
    assert statuses == [204]
    with db.transaction() as session:
        rows = {m.id: m for m in session.scalars(select(Message))}
    assert rows[second].provider_sid == SID and rows[second].status == "delivered"
    assert rows[first].provider_sid is None
