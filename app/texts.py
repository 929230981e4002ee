"""Parley's one message catalog: every text it sends or shows, per language (one
`Language` type: en, es, pt-BR), and the functions that fill them.

The catalog is `CATALOG[name][language]`. The conversation's texts are defined here
(`TEMPLATES`); the payments domain registers its SMS and payment-page strings under
"payment." and "page.", the callbacks domain its texts under "callback."
(`register`). `render` fills an SMS template and folds characters outside GSM-7
(ã, ç, á ...) to their plain letters, as Brazilian and Spanish SMS usually do, so a
statement fits two segments; `translate` fills a page string as it is.
tests/test_texts.py renders every text in every language with worst-case values.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, time
from typing import Literal, get_args

import phonenumbers
from babel.dates import format_date

from app.money import babel_locale
from app.segments import to_gsm7_friendly

Language = Literal["en", "es", "pt-BR"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
CREDITOR_NAME_MAX = 40
# Babel locales per language (formats of dates and money where no country says more).
BABEL_LOCALES: dict[Language, str] = {"en": "en_US", "es": "es", "pt-BR": "pt_BR"}

TEMPLATES: dict[str, dict[str, str]] = {
    "statement_overdue": {
        "en": "{creditor}: your balance of {amount} was due {due} ({days} days ago). {menu}",
        "es": "{creditor}: su saldo de {amount} vencio el {due} (hace {days} dias). {menu}",
        "pt-BR": "{creditor}: seu saldo de {amount} venceu em {due} (ha {days} dias). {menu}",
    },
    "statement_due": {
        "en": "{creditor}: your balance of {amount} is due {due}. {menu}",
        "es": "{creditor}: su saldo de {amount} vence el {due}. {menu}",
        "pt-BR": "{creditor}: seu saldo de {amount} vence em {due}. {menu}",
    },
    "statement_due_today": {
        "en": "{creditor}: your balance of {amount} is due today. {menu}",
        "es": "{creditor}: su saldo de {amount} vence hoy. {menu}",
        "pt-BR": "{creditor}: seu saldo de {amount} vence hoje. {menu}",
    },
    "collector_disclosure": {
        "en": "This is a debt collector.",
        "es": "Le escribe una agencia de cobranza.",
        "pt-BR": "Mensagem de empresa de cobranca.",
    },
    "reply_menu": {
        "en": "Reply PAY for a payment code, PLAN for installments, CALL to talk to us. "
        "Reply STOP to opt out.",
        "es": "Responda PAGAR para el codigo de pago, CUOTAS para pagar en cuotas, LLAMAR "
        "para hablar con nosotros. BAJA para no recibir mas.",
        "pt-BR": "Responda PAGAR para o codigo de pagamento, PARCELAR para parcelas, LIGAR "
        "para falar conosco. SAIR para nao receber mais.",
    },
    "opt_out_confirmation": {
        "en": "{creditor}: you are unsubscribed and will get no more texts from us. "
        "Reply START to resubscribe.",
        "es": "{creditor}: se dio de baja y no recibira mas mensajes nuestros. "
        "Responda ALTA para volver a recibirlos.",
        "pt-BR": "{creditor}: seu cadastro foi cancelado e voce nao recebera mais mensagens. "
        "Responda VOLTAR para voltar a receber.",
    },
    "opt_in_confirmation": {
        "en": "{creditor}: you will receive our texts again. Reply STOP to opt out.",
        "es": "{creditor}: volvera a recibir nuestros mensajes. Responda BAJA para no recibir mas.",
        "pt-BR": "{creditor}: voce voltara a receber nossas mensagens. Responda SAIR para "
        "nao receber mais.",
    },
    "help": {
        "en": "{creditor}: for help call {phone}. Reply PAY, PLAN or CALL. Reply STOP to opt out.",
        "es": "{creditor}: para ayuda llame al {phone}. Responda PAGAR, CUOTAS o LLAMAR. "
        "BAJA para no recibir mas.",
        "pt-BR": "{creditor}: para ajuda ligue {phone}. Responda PAGAR, PARCELAR ou LIGAR. "
        "SAIR para nao receber mais.",
    },
    "help_no_phone": {
        "en": "{creditor}: reply PAY for a payment code, PLAN for installments, CALL for a call "
        "back. Reply STOP to opt out.",
        "es": "{creditor}: responda PAGAR para el codigo de pago, CUOTAS para cuotas, LLAMAR "
        "para que le llamemos. BAJA para no recibir mas.",
        "pt-BR": "{creditor}: responda PAGAR para o codigo de pagamento, PARCELAR para parcelas, "
        "LIGAR para retornarmos. SAIR para nao receber mais.",
    },
    "unknown": {
        "en": "Sorry, we did not understand. Reply PAY, PLAN or CALL, or HELP for help. "
        "A person from our team will also read your message.",
        "es": "Disculpe, no entendimos. Responda PAGAR, CUOTAS o LLAMAR, o AYUDA. "
        "Una persona de nuestro equipo tambien leera su mensaje.",
        "pt-BR": "Desculpe, nao entendemos. Responda PAGAR, PARCELAR ou LIGAR, ou AJUDA. "
        "Uma pessoa da nossa equipe tambem vai ler sua mensagem.",
    },
    "paid_ack": {
        "en": "{creditor}: thank you for letting us know. We paused reminders while we check "
        "your payment. When did you pay?",
        "es": "{creditor}: gracias por avisarnos. Pausamos los recordatorios mientras verificamos "
        "su pago. Cuando pago?",
        "pt-BR": "{creditor}: obrigado por avisar. Pausamos os lembretes enquanto conferimos seu "
        "pagamento. Quando voce pagou?",
    },
    "dispute_ack": {
        "en": "{creditor}: we noted that you dispute this and stopped collecting it while a "
        "person reviews it. We will get back to you.",
        "es": "{creditor}: registramos que no reconoce este cobro y lo detuvimos mientras una "
        "persona lo revisa. Le responderemos.",
        "pt-BR": "{creditor}: registramos que voce contesta esta cobranca e a suspendemos "
        "enquanto uma pessoa analisa. Retornaremos em breve.",
    },
    "wrong_number_ack": {
        "en": "Sorry for the trouble. We will not text this number again.",
        "es": "Disculpe la molestia. No volveremos a escribir a este numero.",
        "pt-BR": "Desculpe o incomodo. Nao enviaremos mais mensagens para este numero.",
    },
    "neutral": {
        "en": "Sorry, we could not match this number to anyone we are writing to. "
        "Reply STOP to opt out.",
        "es": "Disculpe, no pudimos asociar este numero a ningun contacto. "
        "Responda BAJA para no recibir mas.",
        "pt-BR": "Desculpe, nao encontramos este numero entre nossos contatos. "
        "Responda SAIR para nao receber mais.",
    },
    "promise_ack": {
        "en": "{creditor}: thank you. We noted your promise to pay {amount} by {date} and "
        "will remind you the day before.",
        "es": "{creditor}: gracias. Registramos su compromiso de pagar {amount} hasta el "
        "{date}. Le recordaremos el dia anterior.",
        "pt-BR": "{creditor}: obrigado. Registramos sua promessa de pagar {amount} ate "
        "{date}. Lembraremos voce na vespera.",
    },
    "promise_ask_date": {
        "en": "{creditor}: thank you. By what date can you pay {amount}? Reply for example "
        '"I\'ll pay Friday".',
        "es": "{creditor}: gracias. Hasta que fecha puede pagar {amount}? Responda por ejemplo "
        '"pagare el viernes".',
        "pt-BR": "{creditor}: obrigado. Ate que data voce pode pagar {amount}? Responda por "
        'exemplo "pago na sexta".',
    },
    "promise_past": {
        "en": "{creditor}: that date has passed. By what date can you pay {amount}?",
        "es": "{creditor}: esa fecha ya paso. Hasta que fecha puede pagar {amount}?",
        "pt-BR": "{creditor}: essa data ja passou. Ate que data voce pode pagar {amount}?",
    },
    "promise_reminder": {
        "en": "{creditor}: a reminder that you planned to pay {amount} by {date}. Reply PAY "
        "for a payment code. Reply STOP to opt out.",
        "es": "{creditor}: le recordamos su pago de {amount} previsto para el {date}. Responda "
        "PAGAR para el codigo de pago. BAJA para no recibir mas.",
        "pt-BR": "{creditor}: lembrete do pagamento de {amount} previsto para {date}. Responda "
        "PAGAR para o codigo de pagamento. SAIR para nao receber mais.",
    },
    "promise_broken": {
        "en": "{creditor}: we have not received the {amount} you planned to pay by {date}. "
        "Reply PAY, PLAN for installments or CALL to talk to us. Reply STOP to opt out.",
        "es": "{creditor}: no recibimos el pago de {amount} previsto para el {date}. Responda "
        "PAGAR, CUOTAS o LLAMAR. BAJA para no recibir mas.",
        "pt-BR": "{creditor}: nao recebemos o pagamento de {amount} previsto para {date}. "
        "Responda PAGAR, PARCELAR ou LIGAR. SAIR para nao receber mais.",
    },
    "hardship_intro": {
        "en": "We are sorry to hear that and want to help.",
        "es": "Lamentamos su situacion y queremos ayudarle.",
        "pt-BR": "Sentimos muito pela situacao e queremos ajudar.",
    },
    "plan_handoff": {
        "en": "{creditor}: thank you. A person from our team will contact you about installments.",
        "es": "{creditor}: gracias. Una persona de nuestro equipo le contactara sobre las cuotas.",
        "pt-BR": "{creditor}: obrigado. Uma pessoa da nossa equipe vai falar com voce sobre o "
        "parcelamento.",
    },
    "call_handoff": {
        "en": "{creditor}: thank you. A person from our team will call you back during "
        "business hours.",
        "es": "{creditor}: gracias. Una persona de nuestro equipo le llamara en horario de "
        "atencion.",
        "pt-BR": "{creditor}: obrigado. Uma pessoa da nossa equipe vai ligar para voce em "
        "horario comercial.",
    },
    "plan_menu": {
        "en": "{creditor}: installment options for your {amount} balance. {menu}",
        "es": "{creditor}: opciones de cuotas para su saldo de {amount}. {menu}",
        "pt-BR": "{creditor}: opcoes de parcelamento para seu saldo de {amount}. {menu}",
    },
    "plan_confirmed": {
        "en": "{creditor}: plan agreed: {summary}, total {total}. Pay installment 1 with code "
        "{code} or at {url}",
        "es": "{creditor}: plan acordado: {summary}, total {total}. Pague la cuota 1 con el "
        "codigo {code} o en {url}",
        "pt-BR": "{creditor}: parcelamento feito: {summary}, total {total}. Pague a parcela 1 com "
        "o codigo {code} ou em {url}",
    },
    "plan_exists": {
        "en": "{creditor}: you have a plan. Installment {number} of {amount} is due {due}. "
        "Reply PAY for its payment code.",
        "es": "{creditor}: ya tiene un plan. La cuota {number} de {amount} vence el {due}. "
        "Responda PAGAR para el codigo de pago.",
        "pt-BR": "{creditor}: voce ja tem um parcelamento. A parcela {number} de {amount} vence "
        "em {due}. Responda PAGAR para o codigo de pagamento.",
    },
    "plan_menu_stale": {
        "en": "{creditor}: those options have changed since we sent them. New options:",
        "es": "{creditor}: esas opciones cambiaron desde que las enviamos. Nuevas opciones:",
        "pt-BR": "{creditor}: essas opcoes mudaram desde que as enviamos. Novas opcoes:",
    },
    "installment_reminder": {
        "en": "{creditor}: installment {number} of {amount} is due {due}. Pay with code {code} "
        "or at {url}. Reply STOP to opt out.",
        "es": "{creditor}: la cuota {number} de {amount} vence el {due}. Pague con el codigo "
        "{code} o en {url}. BAJA para no recibir mas.",
        "pt-BR": "{creditor}: a parcela {number} de {amount} vence em {due}. Pague com o codigo "
        "{code} ou em {url}. SAIR para nao receber mais.",
    },
    "installment_late": {
        "en": "{creditor}: installment {number} of {amount} was due {due} and is still open. "
        "Please pay to keep your plan: code {code} or {url}. Reply STOP to opt out.",
        "es": "{creditor}: la cuota {number} de {amount} vencio el {due} y sigue pendiente. "
        "Pague para mantener su plan: codigo {code} o {url}. BAJA para no recibir mas.",
        "pt-BR": "{creditor}: a parcela {number} de {amount} venceu em {due} e continua em "
        "aberto. Pague para manter seu parcelamento: codigo {code} ou {url}. SAIR para sair.",
    },
    "plan_broken": {
        "en": "{creditor}: your installment plan ended because installment {number} was not "
        "paid. Reply PLAN for new options for the {amount} left, or CALL to talk to us.",
        "es": "{creditor}: su plan de cuotas termino porque la cuota {number} no se pago. "
        "Responda CUOTAS para nuevas opciones para los {amount} pendientes, o LLAMAR.",
        "pt-BR": "{creditor}: seu parcelamento foi encerrado porque a parcela {number} nao foi "
        "paga. Responda PARCELAR para novas opcoes para os {amount} restantes, ou LIGAR.",
    },
    # --- negotiation (issue 14) -------------------------------------------------
    "plan_proposal": {
        "en": "{creditor}: we can do that: {summary}, total {total}. Reply YES or 1 to agree.",
        "es": "{creditor}: podemos hacerlo: {summary}, total {total}. Responda SI o 1 para "
        "aceptar.",
        "pt-BR": "{creditor}: podemos fazer assim: {summary}, total {total}. Responda SIM ou 1 "
        "para aceitar.",
    },
    "plan_counter": {
        "en": "{creditor}: the closest we can offer is {summary}, total {total}. Reply YES or 1 "
        "to agree, or CALL to talk to us.",
        "es": "{creditor}: lo mas cercano que podemos ofrecer es {summary}, total {total}. "
        "Responda SI o 1 para aceptar, o LLAMAR.",
        "pt-BR": "{creditor}: o mais proximo que podemos oferecer e {summary}, total {total}. "
        "Responda SIM ou 1 para aceitar, ou LIGAR.",
    },
    "summary_even": {
        "en": "{count} x {amount} {period} from {first}",
        "es": "{count} x {amount} {period} desde el {first}",
        "pt-BR": "{count}x {amount} {period} a partir de {first}",
    },
    "summary_uneven": {
        "en": "{count} x {amount} + a last one of {last} {period} from {first}",
        "es": "{count} x {amount} + una ultima de {last} {period} desde el {first}",
        "pt-BR": "{count}x {amount} + uma ultima de {last} {period} a partir de {first}",
    },
    "summary_single": {
        "en": "{amount} on {first}",
        "es": "{amount} el {first}",
        "pt-BR": "{amount} em {first}",
    },
    "summary_down": {
        "en": "{down} today, then {rest}",
        "es": "{down} hoy, luego {rest}",
        "pt-BR": "{down} hoje, depois {rest}",
    },
    "period_monthly": {"en": "monthly", "es": "mensuales", "pt-BR": "mensais"},
    "period_biweekly": {
        "en": "every 2 weeks",
        "es": "cada 2 semanas",
        "pt-BR": "a cada 2 semanas",
    },
    "period_weekly": {"en": "weekly", "es": "semanales", "pt-BR": "semanais"},
    "menu_again": {
        "en": "That is not one of the options.",
        "es": "Esa no es una de las opciones.",
        "pt-BR": "Essa nao e uma das opcoes.",
    },
    "menu_which": {
        "en": "Which option would you like?",
        "es": "Que opcion prefiere?",
        "pt-BR": "Qual opcao voce prefere?",
    },
    "courtesy_close": {
        "en": "{creditor}: you're welcome. Reply PAY, PLAN or CALL any time.",
        "es": "{creditor}: con gusto. Responda PAGAR, CUOTAS o LLAMAR cuando quiera.",
        "pt-BR": "{creditor}: por nada. Responda PAGAR, PARCELAR ou LIGAR quando quiser.",
    },
    "hardship_flagged": {
        "en": "A person from our team will also contact you.",
        "es": "Una persona de nuestro equipo tambien le contactara.",
        "pt-BR": "Uma pessoa da nossa equipe tambem vai falar com voce.",
    },
    "paid_date_ack": {
        "en": "{creditor}: thank you. We noted your payment of {date}; a person will check it "
        "and reminders stay paused meanwhile.",
        "es": "{creditor}: gracias. Registramos su pago del {date}; una persona lo verificara y "
        "los recordatorios siguen pausados.",
        "pt-BR": "{creditor}: obrigado. Registramos seu pagamento de {date}; uma pessoa vai "
        "conferir e os lembretes seguem pausados.",
    },
    "paid_ask_date_again": {
        "en": "{creditor}: thank you. On what date did you pay? For example: yesterday, or 11/20.",
        "es": "{creditor}: gracias. En que fecha pago? Por ejemplo: ayer, o 20/11.",
        "pt-BR": "{creditor}: obrigado. Em que data voce pagou? Por exemplo: ontem, ou 20/11.",
    },
    "preference_ack": {
        "en": "{creditor}: noted. We will only text you {when}. Reply STOP to opt out.",
        "es": "{creditor}: entendido. Solo le escribiremos {when}. BAJA para no recibir mas.",
        "pt-BR": "{creditor}: anotado. So enviaremos mensagens {when}. SAIR para nao receber mais.",
    },
    "preference_window": {
        "en": "between {start} and {end}",
        "es": "entre las {start} y las {end}",
        "pt-BR": "entre {start} e {end}",
    },
    "preference_weekdays": {
        "en": "on weekdays",
        "es": "de lunes a viernes",
        "pt-BR": "de segunda a sexta",
    },
    "preference_both": {
        "en": "{window}, on weekdays",
        "es": "{window}, de lunes a viernes",
        "pt-BR": "{window}, de segunda a sexta",
    },
    "nothing_due": {
        "en": "{creditor}: you have no balance due with us. Thank you!",
        "es": "{creditor}: no tiene saldo pendiente con nosotros. Gracias!",
        "pt-BR": "{creditor}: voce nao tem saldo em aberto conosco. Obrigado!",
    },
    "account_closed": {
        "en": "{creditor}: this account is closed with us and we will not text you about "
        "it again. Reply HELP for our contact number.",
        "es": "{creditor}: esta cuenta esta cerrada con nosotros y no le escribiremos mas "
        "sobre ella. Responda AYUDA para nuestro telefono.",
        "pt-BR": "{creditor}: esta conta esta encerrada conosco e nao enviaremos mais "
        "mensagens sobre ela. Responda AJUDA para nosso telefone.",
    },
    "under_review": {
        "en": "{creditor}: your dispute is under review. We will not ask for payment until "
        "it is resolved. Reply CALL to talk to us.",
        "es": "{creditor}: su disputa esta en revision. No le pediremos el pago hasta "
        "resolverla. Responda LLAMAR para hablar con nosotros.",
        "pt-BR": "{creditor}: sua contestacao esta em analise. Nao pediremos o pagamento ate "
        "resolve-la. Responda LIGAR para falar conosco.",
    },
    "dispute_noted": {
        "en": "{creditor}: your dispute is already under review. We will text you when it "
        "is resolved.",
        "es": "{creditor}: su disputa ya esta en revision. Le escribiremos cuando se resuelva.",
        "pt-BR": "{creditor}: sua contestacao ja esta em analise. Avisaremos quando for resolvida.",
    },
}


CATALOG: dict[str, dict[str, str]] = dict(TEMPLATES)


def register(namespace: str, templates: Mapping[str, Mapping[str, str]]) -> None:
    """Add a domain's texts to the catalog as "<namespace>.<name>"; every one must
    exist in every language."""
    for name, variants in templates.items():
        missing = [language for language in LANGUAGES if language not in variants]
        if missing:
            raise ValueError(f"text {namespace}.{name} has no {', '.join(missing)} version")
        CATALOG[f"{namespace}.{name}"] = dict(variants)


def supported_language(tag: str | None) -> Language | None:
    """The one of LANGUAGES that "pt", "pt_BR", "es-MX", "EN" ... mean; None when Parley
    does not speak it."""
    if not tag:
        return None
    primary = tag.replace("_", "-").split("-", 1)[0].lower()
    languages: dict[str, Language] = {"en": "en", "es": "es", "pt": "pt-BR"}
    return languages.get(primary)


def normalize_language(language: str | None, default: Language = "en") -> Language:
    """Like supported_language, falling back to `default`."""
    return supported_language(language) or default


# Regions whose own Spanish / English way of writing money and times a debtor expects.
_LOCALE_REGIONS = {
    "es": frozenset(
        [
            "AR",
            "BO",
            "CL",
            "CO",
            "CR",
            "CU",
            "DO",
            "EC",
            "ES",
            "GQ",
            "GT",
            "HN",
            "MX",
            "NI",
            "PA",
            "PE",
            "PR",
            "PY",
            "SV",
            "US",
            "UY",
            "VE",
        ]
    ),
    "en": frozenset(["US", "CA", "GB", "IE", "AU", "NZ", "ZA", "IN", "PH"]),
}


def locale_tag(language: str, phone: str | None) -> str:
    """The debtor's locale for money and times: their language with the country of their
    number ("es" + a Mexican number: "es-MX"; "es" + a Spanish one: "es-ES"); pt-BR as
    it is; the bare language when the number's country says nothing more."""
    lang = normalize_language(language)
    if lang == "pt-BR" or not phone:
        return lang
    region = _region_of(phone)
    return f"{lang}-{region}" if region in _LOCALE_REGIONS.get(lang, ()) else lang


@functools.lru_cache(maxsize=8192)
def _region_of(phone: str) -> str | None:
    # Every answer to a number works its locale out again: its country parsed once.
    try:
        region: str | None = phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None
    return region


def format_local_time(at: time, language: str) -> str:
    """A time of day as the debtor's locale writes it: "3:00 PM" in en-US, "15:00"
    elsewhere."""
    tag = language.replace("_", "-")
    if normalize_language(tag) == "en" and tag.upper() in ("EN", "EN-US", "EN-PH"):
        return at.strftime("%I:%M %p").lstrip("0")
    return at.strftime("%H:%M")


@functools.lru_cache(maxsize=4096)
def format_local_date(day: date, language: str) -> str:
    """A short date for an SMS: "Nov 1, 2026" / "1/11/26" / "01/11/2026"."""
    lang = normalize_language(language)
    if lang == "en":
        return format_date(day, format="medium", locale=babel_locale("en_US"))
    return format_date(day, format="short", locale=babel_locale(BABEL_LOCALES[lang]))


def short_creditor_name(name: str) -> str:
    """Creditor names are cut so a long one cannot push a statement past two segments."""
    name = " ".join(name.split())
    if len(name) <= CREDITOR_NAME_MAX:
        return name
    return name[: CREDITOR_NAME_MAX - 1].rstrip() + "."


def template(name: str, language: str, /) -> str:
    """The raw template `name` in `language` (English when the language is unknown)."""
    variants = CATALOG[name]
    return variants.get(normalize_language(language), variants["en"])


def translate(name: str, language: str, /, **params: object) -> str:
    """Fill text `name` as it is (page strings: no GSM-7 folding)."""
    return template(name, language).format(**params)


def render(name: str, language: str, /, **params: object) -> str:
    """Fill SMS template `name` in `language` (falling back to English) as GSM-7 text."""
    return to_gsm7_friendly(translate(name, language, **params))
