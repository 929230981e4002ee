"""CALL answers: slot menus from the team's calendar, bookings at a stated time, and the
debtor's own cancel / another-time path.

How a debtor changes a booking, all in menu letters the classifier already understands
(any single letter is a CHOICE; "cancel" alone is STOP and must stay so):
- every confirmation opens a one-item callback menu ``{"key": "X", "action": "cancel"}``
  and says "Reply X to cancel or CALL for another time";
- CALL again offers fresh slots (plus X) and a new letter moves the booking: a debtor
  has at most one pending call.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from app.actions.desks import HandoffCallbackDesk
from app.actions.reply import ReplyContext
from app.callbacks import service
from app.callbacks.models import Callback, CallbackCalendar
from app.callbacks.slots import Slot, slot_menu_text
from app.conversations.models import MenuOption
from app.errors import Conflict
from app.events import record_event
from app.texts import format_local_time


def _text(ctx: ReplyContext, template: str, **params: object) -> str:
    return service.callback_text(template, ctx.creditor, ctx.debtor, **params)


class CallbacksDesk:
    """Answers CALL with slots from the team's calendar; books a chosen slot."""

    def __init__(self) -> None:
        self._handoff = HandoffCallbackDesk()

    # ------------------------------------------------------------------ CALL
    def offer_callbacks(
        self, ctx: ReplyContext, requested_date: date | None, requested_time: time | None
    ) -> None:
        """Book the slot nearest a stated time when one is close enough, else offer the
        three soonest open slots (from the stated day on, when only a day was said). A
        day or time in the past or beyond the horizon is never booked: the menu says
        so."""
        calendar = service.get_calendar(ctx.session, ctx.creditor.id)
        if calendar is None:
            self._handoff.offer_callbacks(ctx, requested_date, requested_time)
            return
        intro = "menu"
        not_before: datetime | None = None
        if requested_date is not None and not service.bookable_day(requested_date, ctx.local_today):
            # In the past, beyond the horizon, or no real date at all (year 9999): no
            # date arithmetic on it, just the menu and a word why.
            intro = "requested_not_bookable"
        elif requested_time is not None:
            requested = service.requested_instant(
                ctx.debtor.timezone, requested_date, requested_time, ctx.now
            )
            if not service.bookable_instant(requested, ctx.now):
                intro = "requested_not_bookable"
            else:
                slot = service.nearest_slot(
                    ctx.session,
                    calendar,
                    ctx.creditor,
                    ctx.debtor,
                    requested=requested,
                    now=ctx.now,
                )
                if slot is not None and slot.starts_at <= requested < slot.ends_at:
                    callback = self._book(ctx, calendar, slot)
                    if callback is not None:
                        self._confirm(ctx, callback)
                        return
                if slot is not None and self._offer_nearest(ctx, calendar, requested):
                    # The asked time is taken: say so, with the nearest open times.
                    return
                intro = "requested_unavailable"
        elif requested_date is not None and requested_date > ctx.local_today:
            not_before = service.local_day_start(ctx.debtor.timezone, requested_date)
        self._offer_menu(ctx, calendar, intro, not_before=not_before)

    # ---------------------------------------------------------------- CHOICE
    def choose_slot(self, ctx: ReplyContext, option: MenuOption) -> None:
        """A letter from a callback menu: cancel (X) or book / move to the slot."""
        if option.get("action") == "cancel":
            self._cancel(ctx, str(option.get("callback_id", "")))
            return
        calendar = service.get_calendar(ctx.session, ctx.creditor.id)
        if calendar is None:
            self._handoff.choose_slot(ctx, option)
            return
        try:
            starts_at = datetime.fromisoformat(str(option["starts_at"]))
        except (KeyError, ValueError):
            self._offer_menu(ctx, calendar, "slot_gone")
            return
        current = service.active_callback(ctx.session, ctx.debtor.id, ctx.now)
        if current is not None and current.starts_at == starts_at:
            self._confirm(ctx, current)  # the same letter twice: nothing to move
            return
        slot = service.calendar_slot_at(calendar, ctx.creditor, ctx.debtor, starts_at, now=ctx.now)
        if slot is None:
            self._offer_menu(ctx, calendar, "slot_gone")
            return
        callback = self._book(ctx, calendar, slot)
        if callback is None:
            self._offer_menu(ctx, calendar, "slot_taken")
            return
        self._confirm(ctx, callback)

    def _offer_nearest(
        self, ctx: ReplyContext, calendar: CallbackCalendar, requested: datetime
    ) -> bool:
        slots = service.slots_near(
            ctx.session, calendar, ctx.creditor, ctx.debtor, requested=requested, now=ctx.now
        )
        if not slots:
            return False
        local = requested.astimezone(ZoneInfo(ctx.debtor.timezone))
        menu = slot_menu_text(slots, ctx.debtor.timezone, ctx.language, now=ctx.now)
        options = service.slot_options(slots)
        current = service.active_callback(ctx.session, ctx.debtor.id, ctx.now)
        body = _text(
            ctx,
            "requested_taken",
            time=format_local_time(local.time(), ctx.language),
            menu=menu,
        )
        if current is not None:
            options.append(service.cancel_option(current))
            body = f"{body} {_text(ctx, 'cancel_hint')}"
        ctx.reply(body, kind="callback_menu")
        ctx.open_menu(service.MENU_KIND, options, ctx.debt, prompt=body)
        return True

    # --------------------------------------------------------------- helpers
    def _book(self, ctx: ReplyContext, calendar: CallbackCalendar, slot: Slot) -> Callback | None:
        callback = service.book_callback(
            ctx.session,
            calendar=calendar,
            creditor=ctx.creditor,
            debtor=ctx.debtor,
            debt=ctx.debt,
            slot=slot,
            now=ctx.now,
            actor="debtor",
        )
        if callback is None:
            record_event(
                ctx.session,
                creditor_id=ctx.creditor.id,
                actor="debtor",
                kind="callback.slot_full",
                now=ctx.now,
                debt_id=ctx.debt.id if ctx.debt else None,
                debtor_id=ctx.debtor.id,
                to_value=slot.starts_at.isoformat(),
            )
        return callback

    def _confirm(self, ctx: ReplyContext, callback: Callback) -> None:
        when = service.local_when(callback, ctx.debtor)
        ctx.reply(_text(ctx, "confirmed", when=when), kind="callback_confirmation")
        ctx.open_menu(service.MENU_KIND, [service.cancel_option(callback)], ctx.debt)
        service.keep_cancel_open(ctx.conversation, callback)

    def _offer_menu(
        self,
        ctx: ReplyContext,
        calendar: CallbackCalendar,
        intro: str,
        *,
        not_before: datetime | None = None,
    ) -> None:
        slots = service.offerable_slots(
            ctx.session, calendar, ctx.creditor, ctx.debtor, now=ctx.now, not_before=not_before
        )
        if not slots and not_before is not None:
            slots = service.offerable_slots(
                ctx.session, calendar, ctx.creditor, ctx.debtor, now=ctx.now
            )
        current = service.active_callback(ctx.session, ctx.debtor.id, ctx.now)
        if not slots:
            ctx.reply(_text(ctx, "no_slots"), kind="callback_menu")
            if current is not None:
                ctx.open_menu(service.MENU_KIND, [service.cancel_option(current)], ctx.debt)
            else:
                ctx.close_menu()
            ctx.flag("asked for a call; no open callback slot")
            return
        menu = slot_menu_text(slots, ctx.debtor.timezone, ctx.language, now=ctx.now)
        options = service.slot_options(slots)
        if current is not None:
            options.append(service.cancel_option(current))
            if intro == "menu":
                when = service.local_when(current, ctx.debtor)
                body = _text(ctx, "menu_rebook", when=when, menu=menu)
            else:
                body = f"{_text(ctx, intro, menu=menu)} {_text(ctx, 'cancel_hint')}"
        else:
            body = _text(ctx, intro, menu=menu)
        ctx.reply(body, kind="callback_menu")
        ctx.open_menu(service.MENU_KIND, options, ctx.debt, prompt=body)

    def _cancel(self, ctx: ReplyContext, callback_id: str) -> None:
        callback = ctx.session.get(Callback, callback_id) if callback_id else None
        ctx.close_menu()
        if callback is None or callback.debtor_id != ctx.debtor.id:
            ctx.reply(_text(ctx, "nothing_to_cancel"))
            return
        try:
            service.cancel_callback(
                ctx.session, callback, now=ctx.now, actor="debtor", reason="debtor replied X"
            )
        except Conflict:
            ctx.reply(_text(ctx, "nothing_to_cancel"))
            return
        ctx.reply(
            _text(ctx, "canceled", when=service.local_when(callback, ctx.debtor)),
            kind="callback_canceled",
        )
