"""Understand a debtor's SMS reply: intent, language, and the details it states.

A pure module (no database, no I/O). Replies are normalised (case, accents,
punctuation, emoji, English contractions), typos in content words are corrected by
fuzzy matching against the keyword vocabulary, and the words are then matched
against per-language keyword and phrase tables (``keywords``) in a fixed order of
precedence: an opt-out beats everything, facts about the debt (wrong number,
dispute, already paid) beat requests, and plain PAY is the last content intent
before HELP.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, time, timedelta
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Final

from rapidfuzz import process
from rapidfuzz.distance import OSA

from app.conversations import keywords as kw
from app.conversations.preferences import (
    ContactPreference,
    is_restriction,
    parse_contact_preference,
)
from app.conversations.terms import ProposedTerms, parse_terms

__all__ = ["Classification", "Intent", "classify", "detect_language"]


class Intent(StrEnum):
    """What a reply asks for; values are the upper-case names."""

    PAY = "PAY"
    PLAN = "PLAN"
    CALL = "CALL"
    CHOICE = "CHOICE"
    PROMISE = "PROMISE"
    HARDSHIP = "HARDSHIP"
    STATEMENT = "STATEMENT"
    PAID = "PAID"
    DISPUTE = "DISPUTE"
    WRONG_NUMBER = "WRONG_NUMBER"
    STOP = "STOP"
    START = "START"
    HELP = "HELP"
    # A stated contact preference ("only text me in the evening", "not on weekends").
    PREFERENCE = "PREFERENCE"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class Classification:
    """The understood reply; dates and times are the debtor's local ones.

    ``promise_date`` is set for PROMISE when a date is stated. ``requested_date`` and
    ``requested_time`` are set for CALL when stated; a time without a day ("call me at
    3") leaves the day to the caller, who knows the current time.
    """

    intent: Intent
    language: str
    confidence: float
    choice: str | None = None
    promise_date: date | None = None
    requested_date: date | None = None
    requested_time: time | None = None
    # Terms the debtor proposes for a plan (PLAN / HARDSHIP).
    terms: ProposedTerms | None = None
    # A bare yes ("yes", "sim", "sí", "ok"): accepts a one-option menu.
    affirmative: bool = False
    # Only thanks / goodbye / a thumbs-up: a polite close, nobody needs to look.
    courtesy: bool = False
    # The date a payment was made ("yesterday", "paguei ontem", "on the 20th").
    paid_on: date | None = None
    preference: ContactPreference | None = None

    def to_json(self) -> dict[str, object]:
        """Plain JSON-ready dict, with ISO strings for the date and time fields."""
        return {
            "intent": self.intent.value,
            "language": self.language,
            "confidence": self.confidence,
            "choice": self.choice,
            "promise_date": self.promise_date.isoformat() if self.promise_date else None,
            "requested_date": self.requested_date.isoformat() if self.requested_date else None,
            "requested_time": (
                self.requested_time.isoformat(timespec="minutes") if self.requested_time else None
            ),
            "terms": self.terms.to_json() if self.terms else None,
            "affirmative": self.affirmative,
            "courtesy": self.courtesy,
            "paid_on": self.paid_on.isoformat() if self.paid_on else None,
            "contact_preference": self.preference.to_json() if self.preference else None,
        }


# --- phrase compilation -------------------------------------------------------------


def _token_regex(token: str) -> str:
    optional = token.endswith("?") and len(token) > 1
    if optional:
        token = token[:-1]
    alternatives = []
    for alt in token.split("/"):
        words = [re.escape(word) for word in alt.rstrip("*").split("_")]
        alternatives.append(" ".join(words) + (r"\S*" if alt.endswith("*") else ""))
    group = "(?:" + "|".join(alternatives) + ") "
    return f"(?:{group})?" if optional else group


def _phrase_regex(phrase: str) -> str:
    """Translate one phrase of the ``keywords`` mini-language into a regex.

    The text matched against is padded: a leading space and one space after every
    word, so each token consumes its trailing space and ``(?<= )`` anchors a phrase
    at a word start.
    """
    if phrase.startswith("re:"):
        return phrase[3:]
    return "".join(r"(?:\S+ ){0,4}" if t == "~" else _token_regex(t) for t in phrase.split())


def _compile(phrases: Iterable[str]) -> re.Pattern[str]:
    """One regex for ``re.search`` that finds any of ``phrases`` at a word start."""
    return re.compile("(?<= )(?:" + "|".join(f"(?:{_phrase_regex(p)})" for p in phrases) + ")")


class _Phrases:
    """A phrase table compiled into one regex that is tried at each word start.

    Anchoring at word starts with ``match`` is several times faster than letting
    ``search`` try every alternative at every character.
    """

    def __init__(self, phrases: Iterable[str]) -> None:
        self._regex = re.compile("|".join(f"(?:{_phrase_regex(p)})" for p in phrases))

    def matches(self, padded: str) -> Iterator[re.Match[str]]:
        position = 1
        while position < len(padded):
            match = self._regex.match(padded, position)
            if match is not None:
                yield match
            position = padded.index(" ", position) + 1

    def search(self, padded: str) -> re.Match[str] | None:
        return next(self.matches(padded), None)


def _literal_words(phrases: Iterable[str]) -> set[str]:
    words: set[str] = set()
    for phrase in phrases:
        if phrase.startswith("re:"):
            continue
        for token in phrase.split():
            for alt in token.rstrip("?").split("/"):
                if alt and alt != "~" and not alt.endswith("*"):
                    words.update(alt.split("_"))
    return words


def _prefixes(phrases: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for phrase in phrases:
        if not phrase.startswith("re:"):
            found.update(re.findall(r"(?:^|[\s/_])([a-z]{4,})\*", phrase))
    return found


def _all_languages(table: dict[str, tuple[str, ...]]) -> list[str]:
    return [phrase for lang in kw.LANGUAGES for phrase in table.get(lang, ())]


_PHRASE_INTENTS: Final = (
    Intent.STOP,
    Intent.START,
    Intent.WRONG_NUMBER,
    Intent.DISPUTE,
    Intent.PAID,
    Intent.CALL,
    Intent.HARDSHIP,
    Intent.PLAN,
    Intent.STATEMENT,
    Intent.PAY,
    Intent.HELP,
)
_INTENT_RES: Final[dict[Intent, _Phrases]] = {
    intent: _Phrases(_all_languages(kw.PHRASES[intent.value])) for intent in _PHRASE_INTENTS
}
_PAY_VERB_RE: Final = _Phrases(_all_languages(kw.PAY_VERBS))
_PROMISE_WORD_RE: Final = _Phrases(kw.PROMISE_WORDS)
_PROMISE_ONLY_VERB_RE: Final = _Phrases(kw.PROMISE_ONLY_VERBS)
_PLAN_OVER_PROMISE_RE: Final = _Phrases(kw.PLAN_OVER_PROMISE)

_KEYWORDS: Final[dict[str, Intent]] = {
    word: Intent(intent) for lang in kw.LANGUAGES for word, intent in kw.KEYWORDS[lang].items()
}
_KEYWORD_PAIRS: Final = {pair: Intent(intent) for pair, intent in kw.KEYWORD_PAIRS.items()}

# Language evidence: every word of a language's tables and common words.
_LANGUAGE_WORDS: Final[dict[str, frozenset[str]]] = {
    lang: frozenset(
        kw.COMMON_WORDS[lang]
        | kw.DATE_WORDS_BY_LANGUAGE[lang]
        | set(kw.KEYWORDS[lang])
        | _literal_words(kw.PAY_VERBS[lang])
        | {
            word
            for intent_table in kw.PHRASES.values()
            for word in _literal_words(intent_table.get(lang, ()))
        }
    )
    for lang in kw.LANGUAGES
}
# Stems such as "desempregad*" that the tables match by prefix.
_LANGUAGE_PREFIXES: Final[dict[str, tuple[str, ...]]] = {
    lang: tuple(
        sorted(
            _prefixes(kw.PAY_VERBS[lang])
            | {p for table in kw.PHRASES.values() for p in _prefixes(table.get(lang, ()))}
        )
    )
    for lang in kw.LANGUAGES
}
_EXCLUSIVE_WORDS: Final[dict[str, frozenset[str]]] = {
    lang: words - frozenset().union(*(_LANGUAGE_WORDS[o] for o in kw.LANGUAGES if o != lang))
    for lang, words in _LANGUAGE_WORDS.items()
}
_LANGUAGE_CHARS: Final = {"pt": frozenset("ãõçâêôà"), "es": frozenset("ñ¿¡")}

# --- fuzzy correction ---------------------------------------------------------------

_TIME_VOCABULARY: Final = (
    _literal_words(
        (
            *kw.TODAY_WORDS,
            *kw.TOMORROW_WORDS,
            *kw.DAY_AFTER_TOMORROW_WORDS,
            *kw.NEXT_WEEK_WORDS,
            *kw.WEEKEND_WORDS,
            *kw.END_OF_WEEK_WORDS,
            *kw.END_OF_MONTH_WORDS,
            *kw.NEXT_MONTH_WORDS,
            *kw.VAGUE_TIME_WORDS,
            *kw.PAST_TIME_WORDS,
            *kw.NOON_WORDS,
            *kw.MORNING_WORDS,
            *kw.AFTERNOON_WORDS,
            *kw.PROMISE_WORDS,
            *kw.PLAN_OVER_PROMISE,
        )
    )
    | set(kw.WEEKDAYS)
    | set(kw.MONTHS)
    | set(kw.NUMBER_WORDS)
    | set(kw.ORDINALS)
)
_KNOWN: Final = frozenset().union(
    *_LANGUAGE_WORDS.values(), kw.NAMES, kw.FILLERS, _TIME_VOCABULARY, kw.DAY_OFFSET_UNITS
)
_PREFIXES: Final = tuple(sorted({p for ps in _LANGUAGE_PREFIXES.values() for p in ps}))
# Typos are corrected only towards content words long enough to be distinctive.
_FUZZY_TARGETS: Final = (
    frozenset({w for w in _KNOWN - kw.NAMES if len(w) >= 5 and w.isalpha()} - kw.COMMON_WORDS["en"])
    | kw.FUZZY_CORE
)


def _bucket(words: Iterable[str]) -> dict[str, list[str]]:
    buckets: dict[str, list[str]] = {}
    for word in sorted(words):
        buckets.setdefault(word[0], []).append(word)
        if len(word) > 1:
            buckets.setdefault(word[1] + word[0] + "^", []).append(word)
    return buckets


_TARGETS_BY_LETTER: Final = _bucket(_FUZZY_TARGETS)
_CORE_BY_LETTER: Final = _bucket(kw.FUZZY_CORE)
_DOUBLE_LETTER_RE: Final = re.compile(r"([a-z])\1")


@lru_cache(maxsize=16384)
def _correct(token: str) -> str:
    """Return the keyword ``token`` is most likely a typo of, or ``token`` itself."""
    if token in _KNOWN or len(token) < 3 or not token.isalpha() or token.startswith(_PREFIXES):
        return token
    single = _DOUBLE_LETTER_RE.sub(r"\1", token)
    if single in _KNOWN:
        return single
    max_distance = 1 if len(token) <= 7 else 2
    # A typo rarely hits the first letter; requiring it (or a swap of the first two)
    # keeps short everyday words from drifting into keywords.
    buckets = _CORE_BY_LETTER if len(token) <= 3 else _TARGETS_BY_LETTER
    candidates = buckets.get(token[0], []) + buckets.get(token[0] + token[1] + "^", [])
    found = process.extract(
        token, candidates, scorer=OSA.distance, score_cutoff=max_distance, limit=None
    )
    if not found:
        return token
    best = min(score for _, score, _ in found)
    winners = sorted({word for word, score, _ in found if score == best})
    if len(winners) > 1:
        same_length = [w for w in winners if len(w) == len(token)]
        winners = same_length or [w for w in winners if w in kw.FUZZY_CORE] or winners
    return winners[0] if len(winners) == 1 else token


# --- normalisation ------------------------------------------------------------------

_APOSTROPHES: Final = "'’‘`´ʼ"
_A = f"[{_APOSTROPHES}]"
_CONTRACTIONS: Final = (
    (re.compile(rf"\bcan{_A}t\b"), "can not"),
    (re.compile(rf"\bwon{_A}t\b"), "will not"),
    (re.compile(rf"\bain{_A}t\b"), "is not"),
    (re.compile(rf"n{_A}t\b"), " not"),
    (re.compile(rf"{_A}ll\b"), " will"),
    (re.compile(rf"{_A}m\b"), " am"),
    (re.compile(rf"{_A}re\b"), " are"),
    (re.compile(rf"{_A}ve\b"), " have"),
    (re.compile(rf"{_A}d\b"), " would"),
    (re.compile(rf"\b(it|that|what|who|there|here|he|she|where|how){_A}s\b"), r"\1 is"),
    (re.compile(_A), ""),
)
_HASH_RE: Final = re.compile(r"#(?!\s*\d)")
_DOLLAR_RE: Final = re.compile(r"\$+(?!\s*\d)")
_NON_WORD_RE: Final = re.compile(r"[^a-z0-9:/.\-]+")
_LOOSE_SEPARATOR_RE: Final = re.compile(r"(?<!\d)[:/.\-]|[:/.\-](?!\d)")
_LETTER_RUN_RE: Final = re.compile(r"([a-z])\1{2,}")
_CAPITALISED_RE: Final = re.compile(r"(?<=[^\s.!?])\s+([A-Z][a-z]+)")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class _Reply:
    tokens: tuple[str, ...]
    padded: str
    corrected: bool
    raw: str


def _prepare(text: str) -> _Reply:
    lowered = text.lower()
    for pattern, replacement in _CONTRACTIONS:
        lowered = pattern.sub(replacement, lowered)
    folded = _strip_accents(lowered)
    folded = _HASH_RE.sub(" number ", folded)
    folded = _DOLLAR_RE.sub(" money ", folded)
    folded = _NON_WORD_RE.sub(" ", folded)
    folded = _LOOSE_SEPARATOR_RE.sub(" ", folded)
    folded = _LETTER_RUN_RE.sub(r"\1\1", folded)
    words = folded.split()
    tokens: list[str] = []
    for word in words:
        if word in kw.TOKEN_REWRITES:
            tokens.extend(kw.TOKEN_REWRITES[word].split())
        elif len(words) > 1 and word in kw.SHORT_REWRITES:
            tokens.append(kw.SHORT_REWRITES[word])
        else:
            tokens.append(word)
    # A capitalised word in mid-sentence is most likely a name: never "correct" it.
    names = (
        set()
        if text.isupper()
        else {_strip_accents(m.group(1)).lower() for m in _CAPITALISED_RE.finditer(text)}
    )
    corrected_tokens = tuple(t if t in names else _correct(t) for t in tokens)
    return _Reply(
        tokens=corrected_tokens,
        padded=" " + " ".join(corrected_tokens) + " ",
        corrected=corrected_tokens != tuple(tokens),
        raw=lowered,
    )


# --- language -----------------------------------------------------------------------


def _language_of(reply: _Reply, default: str) -> str:
    scores = dict.fromkeys(kw.LANGUAGES, 0)
    for lang, chars in _LANGUAGE_CHARS.items():
        scores[lang] += 3 * sum(1 for ch in set(reply.raw) if ch in chars)
    for token in set(reply.tokens):
        for lang in kw.LANGUAGES:
            if token in kw.KEYWORDS[lang]:
                scores[lang] += 1
            if token in _EXCLUSIVE_WORDS[lang]:
                scores[lang] += 2
            elif token in _LANGUAGE_WORDS[lang] or (
                token not in _KNOWN and token.startswith(_LANGUAGE_PREFIXES[lang])
            ):
                scores[lang] += 1
    best = max(scores.values())
    if best == 0:
        return default
    # Ties between Spanish and Portuguese come from shared words ("pagar", "dia");
    # a fixed order keeps the answer deterministic.
    leaders = [lang for lang in ("pt", "es", "en") if scores[lang] == best]
    return default if default in leaders else leaders[0]


def detect_language(text: str, default: str = "en") -> str:
    """Guess the language ("en", "es" or "pt") of a reply.

    Counts words from each language's tables (words unique to one language count
    double) and tell-tale characters (ã, ç → pt; ñ, ¿, ¡ → es). Text with no
    evidence, or a tie that includes ``default``, gives ``default``.
    """
    return _language_of(_prepare(text), default)


# --- dates and times ----------------------------------------------------------------


_TODAY_RE: Final = _compile(kw.TODAY_WORDS)
_TOMORROW_RE: Final = _compile(kw.TOMORROW_WORDS)
_DAY_AFTER_TOMORROW_RE: Final = _compile(kw.DAY_AFTER_TOMORROW_WORDS)
_NEXT_WEEK_RE: Final = _compile(kw.NEXT_WEEK_WORDS)
_WEEKEND_RE: Final = _compile(kw.WEEKEND_WORDS)
_END_OF_WEEK_RE: Final = _compile(kw.END_OF_WEEK_WORDS)
_END_OF_MONTH_RE: Final = _compile(kw.END_OF_MONTH_WORDS)
_NEXT_MONTH_RE: Final = _compile(kw.NEXT_MONTH_WORDS)
_VAGUE_RE: Final = _compile(kw.VAGUE_TIME_WORDS)
_PAST_RE: Final = _compile(kw.PAST_TIME_WORDS)
_YESTERDAY_RE: Final = _compile(kw.YESTERDAY_WORDS)
_DAY_BEFORE_YESTERDAY_RE: Final = _compile(kw.DAY_BEFORE_YESTERDAY_WORDS)
_UNTIL_RE: Final = re.compile("(?<= )(?:" + "|".join(sorted(kw.UNTIL_WORDS)) + ") ")

_WEEKDAY_RE: Final = re.compile(
    r"(?<= )(" + "|".join(sorted(kw.WEEKDAYS, key=len, reverse=True)) + r") (?:feira )?"
    r"(?!(?:" + "|".join(kw.WEEKDAY_NOT_BEFORE) + r") )"
)
_MONTH_NAMES: Final = "|".join(sorted(kw.MONTHS, key=len, reverse=True))
# "may" and "mar" are also a verb and a noun; they need a day after them.
_MONTH_FIRST_NAMES: Final = "|".join(
    sorted((m for m in kw.MONTHS if m not in {"may", "mar"}), key=len, reverse=True)
)
_DAY_MONTH_RE: Final = re.compile(
    rf"(?<= )(\d{{1,2}})(?:st|nd|rd|th)? (?:of |de )?({_MONTH_NAMES}) "
)
_MONTH_DAY_RE: Final = re.compile(
    rf"(?<= )({_MONTH_FIRST_NAMES}) (\d{{1,2}})(?:st|nd|rd|th)? "
    rf"|(?<= )(may|mar) (\d{{1,2}})(?:st|nd|rd|th) "
)
_NUMERIC_DATE_RE: Final = re.compile(
    r"(?<= )(\d{1,2})[/.\-](\d{1,2})(?:[/.\-](\d{2}|\d{4}))? (?!days|dias|weeks|semanas)"
)
_ORDINAL_DAY_RE: Final = re.compile(r"(?<= )(\d{1,2})(?:st|nd|rd|th) ")
_DAY_OF_MONTH_RE: Final = re.compile(
    r"(?<= )(?:(?:on|by|before|until|till) the|dia|el|el dia|o dia) (\d{1,2}|primeiro|primero"
    r"|first) (?!(?:am|pm|h|hs|horas|hours|de la|da|days|dias|x|vezes|meses|months) )"
)
_OFFSET_RE: Final = re.compile(
    r"(?<= )(?:in|em|en|within|dentro de|daqui a|daqui|after) (?:(\S+) )?"
    r"(days?|dias?|weeks?|semanas?) "
)

_MERIDIEM = r"(?P<meridiem>am|pm|a m|p m)"
# Most explicit first: "15:30", "3pm", "15h", then a bare hour after "at"/"às"/"a las".
_CLOCK_RES: Final = (
    re.compile(rf"(?<= )(?P<hour>\d{{1,2}})[:h](?P<minute>\d{{2}}) ?(?:{_MERIDIEM}|hs|hrs|h)? "),
    re.compile(rf"(?<= )(?P<hour>\d{{1,2}}) ?{_MERIDIEM} "),
    re.compile(r"(?<= )(?P<hour>\d{1,2}) ?(?:h|hs|hrs|hr|horas|oclock|o clock) "),
    re.compile(
        r"(?<= )(?:at|as|a las|a la|las|pelas|pela|around|about|umas|tipo|after|by) "
        r"(?P<hour>\d{1,2}) (?!(?:days|dias|weeks|semanas|months|meses|x|vezes|dollars|bucks"
        r"|reais|pesos|of|de [a-z]{4,}) )"
    ),
)
_PERIOD_RE: Final = re.compile(
    r"^(?:in the |da |de la |en la |pela |por la |a la |at |de )?"
    r"(morning|manha|manana|afternoon|evening|night|tarde|noite|noche)"
)
_NOON_RE: Final = _compile(kw.NOON_WORDS)


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, _last_day(year, month + 1)))


def _day_of_month(day: int, today: date, next_month: bool) -> date | None:
    if not 1 <= day <= 31:
        return None
    base = _add_months(today.replace(day=1), 1) if next_month else today.replace(day=1)
    candidate = base.replace(day=min(day, _last_day(base.year, base.month)))
    if candidate < today:
        base = _add_months(base, 1)
        candidate = base.replace(day=min(day, _last_day(base.year, base.month)))
    return candidate


def _explicit_date(day: int, month: int, year: int | None, today: date) -> date | None:
    # A date that does not exist ("30/02") or lies far outside any plausible promise is
    # no date at all: better to ask than to guess.
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if year is not None:
        year = year + 2000 if year < 100 else year
        if not today.year - 1 <= year <= today.year + 5 or day > _last_day(year, month):
            return None
        return date(year, month, day)
    if day > _last_day(today.year, month) and not (month == 2 and day == 29):
        return None
    candidate = date(today.year, month, min(day, _last_day(today.year, month)))
    if candidate < today:
        if day > _last_day(today.year + 1, month):
            return None
        candidate = date(today.year + 1, month, day)
    return candidate


def _number(word: str | None) -> int | None:
    if word is None:
        return 1
    if word.isdigit():
        return int(word)
    return kw.NUMBER_WORDS.get(word)


def _next_weekday(today: date, weekday: int) -> date:
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _stated_date(padded: str, today: date, language: str) -> date | None:
    """The first date the reply states, resolved against ``today``."""
    found: list[tuple[int, int, date]] = []

    def add(match: re.Match[str] | None, day: date | None, rank: int = 5) -> None:
        if match is not None and day is not None:
            found.append((match.start(), rank, day))

    weekday = today.weekday()
    add(_DAY_AFTER_TOMORROW_RE.search(padded), today + timedelta(days=2), 0)
    add(_TODAY_RE.search(padded), today)
    add(_TOMORROW_RE.search(padded), today + timedelta(days=1))
    add(_NEXT_WEEK_RE.search(padded), _next_weekday(today, 0))
    add(_WEEKEND_RE.search(padded), today if weekday >= 5 else _next_weekday(today, 5))
    add(_END_OF_WEEK_RE.search(padded), today if weekday >= 4 else _next_weekday(today, 4))
    add(
        _END_OF_MONTH_RE.search(padded),
        today.replace(day=_last_day(today.year, today.month)),
    )
    next_month = _NEXT_MONTH_RE.search(padded)
    if next_month and not _END_OF_MONTH_RE.search(padded):
        add(next_month, _add_months(today.replace(day=1), 1), 6)
    for match in _WEEKDAY_RE.finditer(padded):
        add(match, _next_weekday(today, kw.WEEKDAYS[match.group(1)]))
    for match in _DAY_MONTH_RE.finditer(padded):
        add(match, _explicit_date(int(match.group(1)), kw.MONTHS[match.group(2)], None, today), 1)
    for match in _MONTH_DAY_RE.finditer(padded):
        name, number = (match.group(1), match.group(2)) if match.group(1) else match.group(3, 4)
        add(match, _explicit_date(int(number), kw.MONTHS[name], None, today), 1)
    for match in _NUMERIC_DATE_RE.finditer(padded):
        first, second = int(match.group(1)), int(match.group(2))
        year = int(match.group(3)) if match.group(3) else None
        # Day first in Spanish and Portuguese; month first in English unless impossible.
        day, month = (second, first) if language == "en" else (first, second)
        if month > 12 >= day:
            day, month = month, day
        add(match, _explicit_date(day, month, year, today), 1)
    in_next_month = next_month is not None
    for match in _ORDINAL_DAY_RE.finditer(padded):
        add(match, _day_of_month(int(match.group(1)), today, in_next_month), 2)
    for match in _DAY_OF_MONTH_RE.finditer(padded):
        raw = match.group(1)
        number = 1 if raw in {"primeiro", "primero", "first"} else int(raw)
        add(match, _day_of_month(number, today, in_next_month), 2)
    for match in _OFFSET_RE.finditer(padded):
        count = _number(match.group(1))
        if count is not None and count <= 365:
            unit = kw.DAY_OFFSET_UNITS[match.group(2)]
            add(match, today + timedelta(days=count * unit), 3)
    if not found:
        return None
    return min(found)[2]


def _clock(padded: str) -> time | None:
    """The wall-clock time the reply asks for, if any ("at 3", "15h30", "3pm")."""
    for pattern in _CLOCK_RES:
        match = pattern.search(padded)
        if match is None:
            continue
        found = match.groupdict()
        hour = int(found["hour"])
        minute = int(found.get("minute") or 0)
        meridiem = found.get("meridiem")
        period = _PERIOD_RE.match(padded[match.end() :])
        if meridiem is not None:
            is_pm = meridiem.startswith("p")
            if hour > 12:
                continue
            hour = hour % 12 + (12 if is_pm else 0)
        elif period is not None and period.group(1) in kw.AFTERNOON_WORDS:
            hour = hour + 12 if hour < 12 else hour
        elif period is None and 1 <= hour < 8:
            # Nobody asks for a 3 a.m. callback: a bare small hour is in the afternoon.
            hour += 12
        if hour <= 23 and minute <= 59:
            return time(hour, minute)
    if _NOON_RE.search(padded):
        return time(12, 0)
    return None


class _When:
    """The time expressions of a reply, each parsed only when first needed."""

    def __init__(self, padded: str, today: date, language: str) -> None:
        self._padded = padded
        self._today = today
        self._language = language

    @cached_property
    def day(self) -> date | None:
        try:
            return _stated_date(self._padded, self._today, self._language)
        except (OverflowError, ValueError):
            # Only near date.max/date.min: no real reply is about year 10000.
            return None

    @cached_property
    def past_at(self) -> int:
        """Where a past time ("yesterday", "semana passada") starts, or -1."""
        match = _PAST_RE.search(self._padded)
        return match.start() if match else -1

    @cached_property
    def vague(self) -> bool:
        return _VAGUE_RE.search(self._padded) is not None

    @cached_property
    def clock(self) -> time | None:
        return _clock(self._padded)


# --- choices ------------------------------------------------------------------------

# "I'll take option 2 thanks": a numbered or lettered option inside a short reply.
# "number" takes digits only, so "wrong number, I ..." is no choice of "I".
_CHOICE_ANYWHERE_RE: Final = re.compile(
    r"(?<= )(?:(?:option|opcao|opcion|opc|letra|letter|choice|plan|plano) ([1-9]|[a-z])"
    r"|(?:numero|number|num) ([1-9])) (?!(?:months?|meses|x|vezes|installments?|parcelas?"
    r"|cuotas?|days?|dias|pagos|payments?|weeks?|semanas) )"
)


MENU_LETTERS: Final = "abcdefghx"


def _choice(tokens: tuple[str, ...]) -> str | None:
    core = [t for t in tokens if t not in kw.FILLERS or len(t) == 1]
    if not core or len(core) > 6:
        return None
    affixed = False
    while len(core) > 1 and core[-1] in kw.CHOICE_TAIL:
        core.pop()
        affixed = True
    *lead, last = core
    if any(t not in kw.CHOICE_LEAD for t in lead):
        return None
    affixed = affixed or bool(lead)
    if len(last) == 1 and last in "123456789":
        return last
    # A bare letter is a choice only among the letters menus use (A-H, and X to
    # cancel a booked call): "k" alone is an "ok", not option K.
    if len(last) == 1 and "a" <= last <= "z" and (affixed or last in MENU_LETTERS):
        return last.upper()
    if affixed:
        value = kw.ORDINALS.get(last) or (kw.NUMBER_WORDS.get(last) if len(last) > 2 else None)
        if value is not None and 1 <= value <= 9:
            return str(value)
    return None


# --- intent -------------------------------------------------------------------------


def _negated(padded: str, start: int) -> bool:
    """Whether a negation governs the verb at ``start`` ("can not pay", "no puedo pagar")."""
    before = padded[:start].split()
    for index in range(len(before) - 1, max(-1, len(before) - 6), -1):
        word = before[index]
        if word in kw.NEGATORS:
            # "no, I will pay" is an interjection, not a negation.
            following = before[index + 1] if index + 1 < len(before) else ""
            return not (word == "no" and following in {"i", "we"})
        if word not in kw.NEGATION_BRIDGE:
            return False
    return False


@dataclass(frozen=True)
class _PayVerbs:
    affirmed: bool
    promised: bool
    first_at: int


def _pay_verbs(padded: str) -> _PayVerbs:
    affirmed = promised = False
    first_at = -1
    for match in _PAY_VERB_RE.matches(padded):
        if _negated(padded, match.start()):
            # "can't pay until Friday" still promises Friday.
            if _UNTIL_RE.search(padded, match.end()):
                promised = True
            continue
        affirmed = promised = True
        if first_at < 0:
            first_at = match.start()
    if not promised:
        promised = any(
            not _negated(padded, m.start()) for m in _PROMISE_ONLY_VERB_RE.matches(padded)
        )
    return _PayVerbs(affirmed, promised, first_at)


_WHO_RES: Final = (
    re.compile(r"(?<= )do not know ([a-z]+) "),
    re.compile(r"(?<= )(?:this is not|i am not|is this not|not) ([a-z]+) (?:s |phone |number )?$"),
    re.compile(r"(?<= )there is no ([a-z]+) "),
    re.compile(r"(?<= )who is ([a-z]+) $"),
    re.compile(r"(?<= )nao conheco (?:nenhum |nenhuma |o |a )?([a-z]+) "),
    re.compile(r"(?<= )nao sou (?:o |a )?([a-z]+) "),
    re.compile(r"(?<= )(?:nao tem|nao existe|nao mora) (?:nenhum |nenhuma )?([a-z]+) "),
    re.compile(r"(?<= )no conozco (?:a )?(?:ningun |ninguna )?([a-z]+) "),
    re.compile(r"(?<= )no soy (?:el |la )?([a-z]+) "),
    re.compile(r"(?<= )(?:no vive|no hay|no esta) (?:ningun |ninguna )?([a-z]+) "),
)


def _names_a_stranger(reply: _Reply) -> bool:
    """A reply like "I don't know Maria" or "no soy Juan": the number is not the debtor's."""
    for pattern in _WHO_RES:
        for match in pattern.finditer(reply.padded):
            word = match.group(1)
            if word in kw.NAMES or (len(word) >= 3 and word not in _KNOWN):
                return True
    return False


# Requests whose phrases say what the debtor wants: negated ("I don't want
# installments", "nao precisa ligar", "it's not a wrong number") they are not the intent.
# HARDSHIP, PAID and the like are themselves said with negations ("no money") and stay.
_NEGATABLE: Final = frozenset(
    {Intent.PLAN, Intent.CALL, Intent.PAY, Intent.STATEMENT, Intent.WRONG_NUMBER, Intent.DISPUTE}
)
_REQUESTS: Final = (Intent.PAY, Intent.PLAN, Intent.STATEMENT)


def _affirmed(padded: str, intent: Intent) -> bool:
    """Whether some phrase of `intent` is said without a negation before or inside it."""
    # "not my debt", "never got the bill": those phrases carry their own negation.
    inside = intent in (Intent.PLAN, Intent.CALL, Intent.PAY)
    return any(
        not _negated(padded, m.start()) and not (inside and set(m.group(0).split()) & kw.NEGATORS)
        for m in _INTENT_RES[intent].matches(padded)
    )


def _only_negated(padded: str, intent: Intent) -> bool:
    phrases = list(_INTENT_RES[intent].matches(padded))
    return bool(phrases) and not _affirmed(padded, intent)


def _without_negated(padded: str, matched: list[Intent]) -> list[Intent]:
    """``matched`` minus the requests whose phrases are all negated, when something else
    remains (what the debtor does not want must not become the intent)."""
    kept = [i for i in matched if i not in _NEGATABLE or not _only_negated(padded, i)]
    return kept if kept else matched


def _only_calls_refused(padded: str) -> bool:
    """A STOP phrase that refuses calls only ("please don't call me") beside a request
    to pay or to plan: the request is what the reply is about."""
    for match in _INTENT_RES[Intent.STOP].matches(padded):
        words = set(match.group(0).split())
        if not words & kw.CALL_WORDS or words & kw.TEXT_WORDS:
            return False
    if set(padded.split()) & kw.TEXT_WORDS:
        return False
    verbs = _pay_verbs(padded)
    return verbs.affirmed or any(_affirmed(padded, i) for i in _REQUESTS)


def _decide(reply: _Reply, today: date, language: str) -> Classification:
    padded = reply.padded
    penalty = 0.1 if reply.corrected else 0.0

    # Confidence is a heuristic: lower when a typo was corrected or several intents
    # matched and precedence had to decide.
    def result(
        intent: Intent,
        confidence: float,
        *,
        choice: str | None = None,
        promise_date: date | None = None,
        requested_date: date | None = None,
        requested_time: time | None = None,
    ) -> Classification:
        return Classification(
            intent=intent,
            language=language,
            confidence=round(max(0.05, min(1.0, confidence - penalty)), 2),
            choice=choice,
            promise_date=promise_date,
            requested_date=requested_date,
            requested_time=requested_time,
        )

    if not reply.tokens:
        return result(Intent.UNKNOWN, 0.9)

    core = [t for t in reply.tokens if t not in kw.FILLERS]
    keyword: Intent | None = None
    if len(core) == 1:
        keyword = _KEYWORDS.get(core[0])
    elif len(core) == 2:
        keyword = _KEYWORD_PAIRS.get(" ".join(core))
    if keyword is not None:
        return result(keyword, 0.98)

    if _INTENT_RES[Intent.STOP].search(padded) and not _only_calls_refused(padded):
        return result(Intent.STOP, 0.95)
    if _INTENT_RES[Intent.START].search(padded):
        return result(Intent.START, 0.9)

    choice = _choice(reply.tokens)
    if choice is not None:
        return result(Intent.CHOICE, 0.95, choice=choice)

    when = _When(padded, today, language)

    matched = [i for i in _PHRASE_INTENTS if _INTENT_RES[i].search(padded)]
    if Intent.STOP in matched:
        # Only here when the STOP phrase refuses calls beside a request (see above).
        matched.remove(Intent.STOP)
    if _names_a_stranger(reply):
        matched.insert(0, Intent.WRONG_NUMBER)
    anywhere = _CHOICE_ANYWHERE_RE.search(padded) if len(reply.tokens) <= 8 else None
    if anywhere is not None:
        choice = (anywhere.group(1) or anywhere.group(2)).upper()
        matched.append(Intent.CHOICE)
    verbs = _pay_verbs(padded)
    if verbs.affirmed and Intent.PAY not in matched:
        matched.append(Intent.PAY)
    # "I pay yesterday", "pagó ayer": a pay verb followed by a past time.
    if (
        verbs.affirmed
        and 0 <= verbs.first_at < when.past_at
        and (when.day is None or when.day < today)
    ):
        matched.append(Intent.PAID)
    promised_word = _PROMISE_WORD_RE.search(padded) is not None
    future_day: date | None = None
    if verbs.promised or promised_word:
        future_day = when.day if when.day is not None and when.day >= today else None
    if (verbs.promised and (future_day is not None or when.vague)) or (
        promised_word and (verbs.promised or future_day is not None)
    ):
        if _PLAN_OVER_PROMISE_RE.search(padded):
            matched.append(Intent.PLAN)
        else:
            matched.append(Intent.PROMISE)

    matched = _without_negated(padded, matched)
    for intent in _PRECEDENCE:
        if intent in matched:
            others = len(set(matched)) - 1
            confidence = 0.92 - 0.08 * min(others, 3)
            if intent is Intent.PROMISE:
                return result(
                    intent,
                    confidence if future_day else confidence - 0.1,
                    promise_date=future_day,
                )
            if intent is Intent.CHOICE:
                return result(intent, confidence - 0.1, choice=choice)
            if intent is Intent.CALL:
                return result(
                    intent, confidence, requested_date=when.day, requested_time=when.clock
                )
            return result(intent, confidence)

    if when.clock is not None:
        # A bare "tomorrow at 3pm" only makes sense as the time to be called.
        return result(Intent.CALL, 0.6, requested_date=when.day, requested_time=when.clock)
    return result(Intent.UNKNOWN, 0.5)


_PRECEDENCE: Final = (
    Intent.STOP,
    Intent.START,
    Intent.WRONG_NUMBER,
    Intent.DISPUTE,
    Intent.PAID,
    Intent.CHOICE,
    Intent.PROMISE,
    Intent.CALL,
    Intent.HARDSHIP,
    Intent.PLAN,
    Intent.STATEMENT,
    Intent.PAY,
    Intent.HELP,
)


def classify(
    text: str, *, today: date | None = None, default_language: str = "en"
) -> Classification:
    """Classify one debtor reply.

    ``today`` is the debtor's local date, against which promised and requested
    dates are resolved (default: the machine's date). ``default_language`` is used
    when the reply carries no language evidence ("1", "ok").
    """
    return _classify(text, today or date.today(), default_language)


# Replies repeat ("PAY", "1", "YES", "STOP"): the same words on the same day in the same
# default language are understood once. The result is immutable (frozen, all the way
# down), so one object can answer every caller.
@lru_cache(maxsize=4096)
def _classify(text: str, today: date, default_language: str) -> Classification:
    reply = _prepare(text)
    language = _language_of(reply, default_language)
    result = _decide(reply, today, language)
    if result.intent in _PREAMBLE_INTENTS:
        result = _request_after_preamble(result, text, today, language)
    return _refine(result, text, reply, today)


_SENTENCE_RE: Final = re.compile(r"(?<=[.!?])\s+|\n+")
_PREAMBLE_REQUESTS: Final = frozenset({Intent.PLAN, Intent.PAY, Intent.CALL, Intent.PROMISE})
# What a preamble may have been taken for; facts (STOP, PAID, DISPUTE ...) always stand.
_PREAMBLE_INTENTS: Final = frozenset({Intent.HARDSHIP, Intent.PROMISE, Intent.UNKNOWN})


def _request_after_preamble(
    result: Classification, text: str, today: date, language: str
) -> Classification:
    """In a text of several sentences ("Things have been hard lately. Can we set up
    monthly payments?") the request the text ends with wins over the preamble."""
    sentences = [s for s in _SENTENCE_RE.split(text.strip()) if s.strip()]
    if len(sentences) < 2:
        return result
    last = _decide(_prepare(sentences[-1]), today, language)
    if last.intent in _PREAMBLE_REQUESTS and last.intent is not result.intent:
        return replace(last, confidence=min(last.confidence, result.confidence))
    return result


# --- negotiation, courtesies, payment dates, contact preferences --------------------

# Intents a proposal of terms turns into PLAN: "I'll pay 40 a month" is no promise.
_TERMS_OVERRIDE: Final = frozenset(
    {Intent.PAY, Intent.PROMISE, Intent.UNKNOWN, Intent.CHOICE, Intent.PLAN}
)
# Facts about the debt and the number beat a stated preference.
_PREFERENCE_YIELDS_TO: Final = frozenset({Intent.WRONG_NUMBER, Intent.DISPUTE, Intent.START})


def _only_words(reply: _Reply, vocabulary: frozenset[str], limit: int) -> bool:
    core = [t for t in reply.tokens if t not in kw.FILLERS or t in vocabulary]
    return 0 < len(core) <= limit and all(t in vocabulary for t in core)


def _days_back(today: date, weekday: int) -> date:
    return today - timedelta(days=(today.weekday() - weekday) % 7 or 7)


def _past_day(padded: str, today: date) -> date | None:
    """The day a past event happened, as the reply states it."""
    if _DAY_BEFORE_YESTERDAY_RE.search(padded):
        return today - timedelta(days=2)
    if _YESTERDAY_RE.search(padded):
        return today - timedelta(days=1)
    if _TODAY_RE.search(padded):
        return today
    for match in _NUMERIC_DATE_RE.finditer(padded):
        first, second = int(match.group(1)), int(match.group(2))
        for day, month in ((first, second), (second, first)):
            if 1 <= month <= 12 and 1 <= day <= _last_day(today.year, month):
                candidate = date(today.year, month, day)
                if candidate > today:
                    candidate = candidate.replace(year=today.year - 1)
                return candidate
    days = [
        1 if m.group(1) in {"primeiro", "primero", "first"} else int(m.group(1))
        for pattern in (_DAY_OF_MONTH_RE, _ORDINAL_DAY_RE)
        for m in pattern.finditer(padded)
    ]
    for number in days:
        if 1 <= number <= 31:
            month_start = today.replace(day=1)
            if number > today.day:
                month_start = _add_months(month_start, -1)
            return month_start.replace(
                day=min(number, _last_day(month_start.year, month_start.month))
            )
    for match in _WEEKDAY_RE.finditer(padded):
        return _days_back(today, kw.WEEKDAYS[match.group(1)])
    return None


def _refine(result: Classification, text: str, reply: _Reply, today: date) -> Classification:
    """What the precedence table leaves open: proposed terms, a bare yes, a courtesy, the
    date of a payment, a stated contact preference."""
    intent = result.intent
    preference = parse_contact_preference(text)
    if intent is Intent.STOP and preference is not None and not is_restriction(text):
        # "Stop texting me at night" asks for silence: an opt-out is never narrowed.
        preference = None
    if preference is not None and intent not in _PREFERENCE_YIELDS_TO:
        return replace(result, intent=Intent.PREFERENCE, preference=preference, choice=None)
    changes: dict[str, object] = {}
    if intent in _TERMS_OVERRIDE or intent is Intent.HARDSHIP or intent is Intent.CALL:
        terms = parse_terms(text)
        if terms is not None and intent is not Intent.CALL:
            changes["terms"] = terms
            if intent in _TERMS_OVERRIDE:
                changes.update(intent=Intent.PLAN, choice=None)
    if intent in (Intent.UNKNOWN, Intent.PLAN, Intent.START, Intent.CHOICE):
        changes["affirmative"] = _only_words(reply, kw.AFFIRMATIVE_WORDS, 4)
    if intent is Intent.UNKNOWN:
        changes["courtesy"] = _only_words(reply, kw.COURTESY_WORDS, 6) or (
            not reply.tokens and bool(text.strip())
        )
    if intent in (Intent.PAID, Intent.UNKNOWN):
        changes["paid_on"] = _past_day(reply.padded, today)
    return replace(result, **changes) if changes else result  # type: ignore[arg-type]
