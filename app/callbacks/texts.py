"""The texts of callback scheduling, per language (en, es, pt-BR), GSM-7 friendly.

Every text that leaves a booking in place ends with how to undo it: "Reply X to cancel
or CALL for another time". X is a menu letter (the classifier reads any single letter
as a CHOICE) that is never one of the slot letters A-C, so a late "A" meant for an old
menu can never cancel a call; CALL is the keyword every statement already teaches.
"""

from __future__ import annotations

from app.texts import register, render

CANCEL_KEY = "X"

TEMPLATES: dict[str, dict[str, str]] = {
    # Answer to CALL: the lettered slot menu (`menu` comes from slot_menu_text).
    "menu": {
        "en": "{creditor}: we can call you at these times (your local time). {menu}",
        "es": "{creditor}: podemos llamarle en estos horarios (su hora local). {menu}",
        "pt-BR": "{creditor}: podemos ligar para voce nestes horarios (seu horario local). {menu}",
    },
    # Answer to CALL from a debtor who already has a call booked.
    "menu_rebook": {
        "en": "{creditor}: your call is set for {when}. For another time (your local time): "
        "{menu}. Reply X to cancel the call.",
        "es": "{creditor}: su llamada es el {when}. Para otro horario (su hora local): "
        "{menu}. Responda X para cancelar la llamada.",
        "pt-BR": "{creditor}: sua ligacao esta marcada para {when}. Para outro horario (seu "
        "horario local): {menu}. Responda X para cancelar a ligacao.",
    },
    "slot_taken": {
        "en": "{creditor}: sorry, that time was just taken. {menu}",
        "es": "{creditor}: disculpe, ese horario acaba de ocuparse. {menu}",
        "pt-BR": "{creditor}: desculpe, esse horario acabou de ser ocupado. {menu}",
    },
    "slot_gone": {
        "en": "{creditor}: sorry, that time is no longer available. {menu}",
        "es": "{creditor}: disculpe, ese horario ya no esta disponible. {menu}",
        "pt-BR": "{creditor}: desculpe, esse horario nao esta mais disponivel. {menu}",
    },
    # The stated time's slot is full: say so, with the nearest open times.
    "requested_taken": {
        "en": "{creditor}: sorry, {time} is already taken. The nearest times (your local "
        "time): {menu}",
        "es": "{creditor}: disculpe, las {time} ya estan ocupadas. Los horarios mas cercanos "
        "(su hora local): {menu}",
        "pt-BR": "{creditor}: desculpe, {time} ja esta ocupado. Os horarios mais proximos (seu "
        "horario local): {menu}",
    },
    "requested_unavailable": {
        "en": "{creditor}: sorry, we cannot call you at that time. {menu}",
        "es": "{creditor}: disculpe, no podemos llamarle a esa hora. {menu}",
        "pt-BR": "{creditor}: desculpe, nao podemos ligar nesse horario. {menu}",
    },
    # A stated day or time in the past or beyond the booking horizon.
    "requested_not_bookable": {
        "en": "{creditor}: sorry, that time cannot be booked. {menu}",
        "es": "{creditor}: disculpe, ese horario no se puede agendar. {menu}",
        "pt-BR": "{creditor}: desculpe, esse horario nao pode ser marcado. {menu}",
    },
    # Added to a menu when the debtor already has a call booked.
    "cancel_hint": {
        "en": "Reply X to cancel the call.",
        "es": "Responda X para cancelar la llamada.",
        "pt-BR": "Responda X para cancelar a ligacao.",
    },
    "no_slots": {
        "en": "{creditor}: we have no callback times open right now. A person from our team "
        "will contact you.",
        "es": "{creditor}: no tenemos horarios de llamada disponibles ahora. Una persona de "
        "nuestro equipo le contactara.",
        "pt-BR": "{creditor}: nao temos horarios de ligacao disponiveis agora. Uma pessoa da "
        "nossa equipe vai entrar em contato.",
    },
    "confirmed": {
        "en": "{creditor}: we will call you on {when} (your local time). Reply X to cancel or "
        "CALL for another time.",
        "es": "{creditor}: le llamaremos el {when} (su hora local). Responda X para cancelar "
        "o LLAMAR para otro horario.",
        "pt-BR": "{creditor}: vamos ligar para voce em {when} (seu horario local). Responda X "
        "para cancelar ou LIGAR para outro horario.",
    },
    "canceled": {
        "en": "{creditor}: your call for {when} is canceled. Reply CALL to choose a new time.",
        "es": "{creditor}: su llamada del {when} esta cancelada. Responda LLAMAR para elegir "
        "otro horario.",
        "pt-BR": "{creditor}: sua ligacao de {when} foi cancelada. Responda LIGAR para "
        "escolher outro horario.",
    },
    "nothing_to_cancel": {
        "en": "{creditor}: you have no call booked with us. Reply CALL to choose a time.",
        "es": "{creditor}: no tiene ninguna llamada agendada. Responda LLAMAR para elegir un "
        "horario.",
        "pt-BR": "{creditor}: voce nao tem ligacao marcada. Responda LIGAR para escolher um "
        "horario.",
    },
    "reminder": {
        "en": "{creditor}: a reminder that we will call you on {when} (your local time). Reply "
        "X to cancel or CALL for another time. Reply STOP to opt out.",
        "es": "{creditor}: le recordamos que le llamaremos el {when} (su hora local). "
        "Responda X para cancelar o LLAMAR para otro horario. BAJA para no recibir mas.",
        "pt-BR": "{creditor}: lembrete: vamos ligar para voce em {when} (seu horario local). "
        "Responda X para cancelar ou LIGAR para outro horario. SAIR para nao receber mais.",
    },
    "no_answer": {
        "en": "{creditor}: we tried to call you but could not reach you. When can we call "
        "again? {menu} (your local time). Reply STOP to opt out.",
        "es": "{creditor}: intentamos llamarle pero no pudimos comunicarnos. Cuando podemos "
        "llamarle? {menu} (su hora local). BAJA para no recibir mas.",
        "pt-BR": "{creditor}: tentamos ligar mas nao conseguimos falar com voce. Quando "
        "podemos ligar? {menu} (seu horario local). SAIR para nao receber mais.",
    },
    "no_answer_no_slots": {
        "en": "{creditor}: we tried to call you but could not reach you. Reply CALL to choose "
        "a new time. Reply STOP to opt out.",
        "es": "{creditor}: intentamos llamarle pero no pudimos comunicarnos. Responda LLAMAR "
        "para elegir otro horario. BAJA para no recibir mas.",
        "pt-BR": "{creditor}: tentamos ligar mas nao conseguimos falar com voce. Responda "
        "LIGAR para escolher outro horario. SAIR para nao receber mais.",
    },
    "moved": {
        "en": "{creditor}: your call was moved to {when} (your local time). Reply X to cancel "
        "or CALL for another time. Reply STOP to opt out.",
        "es": "{creditor}: su llamada se cambio al {when} (su hora local). Responda X para "
        "cancelar o LLAMAR para otro horario. BAJA para no recibir mas.",
        "pt-BR": "{creditor}: sua ligacao foi remarcada para {when} (seu horario local). "
        "Responda X para cancelar ou LIGAR para outro horario. SAIR para nao receber mais.",
    },
    "canceled_by_team": {
        "en": "{creditor}: sorry, we had to cancel the call planned for {when}. Reply CALL "
        "to choose a new time. Reply STOP to opt out.",
        "es": "{creditor}: disculpe, tuvimos que cancelar la llamada del {when}. Responda "
        "LLAMAR para elegir otro horario. BAJA para no recibir mas.",
        "pt-BR": "{creditor}: desculpe, precisamos cancelar a ligacao de {when}. Responda "
        "LIGAR para escolher outro horario. SAIR para nao receber mais.",
    },
}


register("callback", TEMPLATES)


def render_callback_text(name: str, language: str, **params: object) -> str:
    """Fill callback text `name` in `language` (English when unknown) as GSM-7 text."""
    return render(f"callback.{name}", language, **params)
