"""When a debtor asks to be texted ("only in the evening", "not during work hours", "no
fines de semana", "so a noite"): a pure parser, no database.

The result is a local window (HH:MM bounds) and whether weekends are off. The contact
governor applies it on top of the creditor's own window; the lawful 08:00-21:00 always
holds because the creditor's window already sits inside it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import time
from typing import Final

__all__ = ["ContactPreference", "is_restriction", "parse_contact_preference"]

EVENING = (time(18, 0), time(21, 0))
MORNING = (time(8, 0), time(12, 0))
AFTERNOON = (time(12, 0), time(18, 0))
# Outside usual working hours: the evening (the early morning is too short to be useful).
AFTER_WORK = EVENING

_TEXTING: Final = re.compile(
    r"\b(?:text\w*|message\w*|msgs?|sms|contact\w*|write|writing|reach|escrib\w*|mensaj\w*"
    r"|mensag\w*|contat\w*|mand\w*|envi\w*|whats\w*|zap|notifica\w*|recado\w*|escreve\w*"
    r"|manda\w*|molest\w*|incomod\w*|bother\w*)\b"
)
_NEGATION: Final = re.compile(r"\b(?:not|no|nao|don t|dont|never|nunca|nem|ni|except|menos|sin)\b")
_ONLY: Final = re.compile(
    r"\b(?:only|just|so|somente|apenas|solo|solamente|unicamente|prefer\w*|better|melhor|mejor"
    r"|please|por favor|pf|pls)\b"
)
_ONLY_STRICT: Final = re.compile(
    r"\b(?:only|just|so|somente|apenas|solo|solamente|unicamente|prefer\w*)\b"
)
_EVENING: Final = re.compile(
    r"\b(?:evenings?|nights?|tonight|noite|noites|noche|noches|after work|after hours"
    r"|depois do (?:trabalho|expediente|servico)|despues del trabajo|saliendo del trabajo"
    r"|after (?:6|7|18)\s*(?:pm|h)?|depois das (?:18|19)\s*h?|despues de las (?:6|7|18))\b"
)
_MORNING: Final = re.compile(
    r"\b(?:mornings?|in the morning|de manha|pela manha|manhas|por la manana|en la manana"
    r"|de manana|por las mananas)\b"
)
_AFTERNOON: Final = re.compile(
    r"\b(?:afternoons?|in the afternoon|a tarde|de tarde|pela tarde|por la tarde|en la tarde"
    r"|las tardes|as tardes)\b"
)
_WORK_HOURS: Final = re.compile(
    r"\b(?:work(?:ing)? hours|business hours|office hours|at work|during work|while i am at work"
    r"|on the job|horario de (?:trabalho|servico|expediente)|horario comercial|expediente"
    r"|no trabalho|trabalhando|horario laboral|horas de trabajo|horario de trabajo|en el trabajo"
    r"|trabajando|in the office)\b"
)
_WEEKEND: Final = re.compile(
    r"\b(?:weekends?|week ends?|saturdays?|sundays?|fim de semana|fins de semana|final de semana"
    r"|finais de semana|sabado|domingo|sabados|domingos|fin de semana|fines de semana)\b"
)
_WEEKDAYS: Final = re.compile(
    r"\b(?:weekdays?|week days?|monday to friday|monday through friday|mon fri|dias uteis"
    r"|dias de semana|de segunda a sexta|de lunes a viernes|entre semana|dias habiles)\b"
)


@dataclass(frozen=True)
class ContactPreference:
    """A debtor's stated contact preference; ``start``/``end`` None when only the days
    are restricted."""

    start: time | None
    end: time | None
    weekdays_only: bool

    def to_json(self) -> dict[str, object]:
        return {
            "start": self.start.strftime("%H:%M") if self.start else None,
            "end": self.end.strftime("%H:%M") if self.end else None,
            "weekdays_only": self.weekdays_only,
        }


def _fold(text: str) -> str:
    lowered = unicodedata.normalize("NFKD", text.lower().replace("'", " ").replace("’", " "))
    folded = "".join(ch for ch in lowered if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", folded).split())


def is_restriction(text: str) -> bool:
    """Whether the text limits when to text rather than asking for no texts at all:
    "only", work hours, weekends or weekdays. "Stop texting me at night" is an opt-out
    and stays one; "stop texting me during work hours" restricts."""
    folded = _fold(text)
    return bool(
        _ONLY_STRICT.search(folded)
        or _WORK_HOURS.search(folded)
        or _WEEKEND.search(folded)
        or _WEEKDAYS.search(folded)
    )


def parse_contact_preference(text: str) -> ContactPreference | None:
    """The contact preference a reply states, or None.

    It needs a word about texting or contacting ("text", "mensagem", "escriban") and a
    time qualifier; a negated work-hours or weekend phrase restricts, and a part of the
    day wanted "only" sets the window.
    """
    folded = _fold(text)
    if not _TEXTING.search(folded):
        return None
    negated = _NEGATION.search(folded) is not None
    window: tuple[time, time] | None = None
    if _WORK_HOURS.search(folded) and (negated or _EVENING.search(folded)):
        window = AFTER_WORK
    elif _EVENING.search(folded) and (_ONLY.search(folded) or negated is False):
        window = EVENING
    elif _MORNING.search(folded) and (_ONLY.search(folded) or not negated):
        window = MORNING
    elif _AFTERNOON.search(folded) and (_ONLY.search(folded) or not negated):
        window = AFTERNOON
    weekdays_only = bool(
        (_WEEKEND.search(folded) and negated) or (_WEEKDAYS.search(folded) and _ONLY.search(folded))
    )
    if window is None and not weekdays_only:
        return None
    start, end = window if window else (None, None)
    return ContactPreference(start, end, weekdays_only)
