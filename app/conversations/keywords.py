"""Keyword and phrase tables for the reply classifier, per language.

Everything here is data: ``classifier`` compiles it once at import. All entries are
written in *normalised* form — lower case, accents stripped, punctuation removed and
English contractions expanded ("don't" → "do not", "can't" → "can not",
"I'll" → "i will", "what's" → "what is").

Phrase syntax (see ``classifier._phrase_regex``), tokens separated by spaces:

- ``a/b/c``  one of the alternatives; ``_`` joins words inside one alternative
  (``como_pagar``);
- ``tok?``   the token (or alternative group) is optional;
- ``pre*``   any word starting with ``pre``;
- ``~``      a gap of zero to four arbitrary words;
- ``re:...`` a raw regular expression over the padded normalised text, where each
  word is followed by one space (used where a look-ahead is needed).

Intent keys are the upper-case intent names, so this module has no import of the
classifier.
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("en", "es", "pt")


def _words(text: str) -> frozenset[str]:
    """A word set written as one whitespace-separated block (long lists stay readable)."""
    return frozenset(text.split())


# Whole-message keywords: a reply that is only this word (plus polite filler) means
# the intent. Carriers' own opt-out words are here so that a bare "END" or "QUIT"
# is honoured even though the same words mean little inside free text.
# "YES" is deliberately no START: a debtor says yes to whatever was asked last, and
# opting back in must be explicit (START, UNSTOP). Twilio's own YES opt-in still
# applies at the carrier; a bare "yes" here is UNKNOWN and goes to a human.
KEYWORDS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "pay": "PAY",
        "payment": "PAY",
        "barcode": "PAY",
        "plan": "PLAN",
        "plans": "PLAN",
        "installment": "PLAN",
        "installments": "PLAN",
        "instalment": "PLAN",
        "instalments": "PLAN",
        "call": "CALL",
        "callback": "CALL",
        "phone": "CALL",
        "stop": "STOP",
        "stopall": "STOP",
        "unsubscribe": "STOP",
        "cancel": "STOP",
        "end": "STOP",
        "quit": "STOP",
        "revoke": "STOP",
        "optout": "STOP",
        "start": "START",
        "unstop": "START",
        "subscribe": "START",
        "resubscribe": "START",
        "optin": "START",
        "help": "HELP",
        "info": "HELP",
        "information": "HELP",
        "paid": "PAID",
        "dispute": "DISPUTE",
        "disputed": "DISPUTE",
        "hardship": "HARDSHIP",
        "statement": "STATEMENT",
        "invoice": "STATEMENT",
        "bill": "STATEMENT",
        "wrong": "WRONG_NUMBER",
    },
    "pt": {
        "pagar": "PAY",
        "pago": "PAY",
        "pagamento": "PAY",
        "boleto": "PAY",
        "pix": "PAY",
        "parcelar": "PLAN",
        "parcelas": "PLAN",
        "parcelado": "PLAN",
        "parcelamento": "PLAN",
        "plano": "PLAN",
        "ligar": "CALL",
        "liga": "CALL",
        "ligacao": "CALL",
        "telefone": "CALL",
        "parar": "STOP",
        "pare": "STOP",
        "para": "STOP",
        "sair": "STOP",
        "cancelar": "STOP",
        "descadastrar": "STOP",
        "remover": "STOP",
        "voltar": "START",
        "reativar": "START",
        "iniciar": "START",
        "ajuda": "HELP",
        "informacao": "HELP",
        "informacoes": "HELP",
        "paguei": "PAID",
        "fatura": "STATEMENT",
        "extrato": "STATEMENT",
        "engano": "WRONG_NUMBER",
        "errado": "WRONG_NUMBER",
    },
    "es": {
        "pagar": "PAY",
        "pago": "PAY",
        "plan": "PLAN",
        "cuotas": "PLAN",
        "plazos": "PLAN",
        "llamar": "CALL",
        "llamada": "CALL",
        "llamame": "CALL",
        "llamenme": "CALL",
        "telefono": "CALL",
        "baja": "STOP",
        "alto": "STOP",
        "cancelar": "STOP",
        "parar": "STOP",
        "detener": "STOP",
        "basta": "STOP",
        "alta": "START",
        "reactivar": "START",
        "iniciar": "START",
        "comenzar": "START",
        "ayuda": "HELP",
        "informacion": "HELP",
        "pague": "PAID",
        "pagado": "PAID",
        "factura": "STATEMENT",
        "equivocado": "WRONG_NUMBER",
        "equivocada": "WRONG_NUMBER",
    },
}

# Two-word keyword forms that carriers also treat as keywords.
KEYWORD_PAIRS: Final[dict[str, str]] = {
    "opt out": "STOP",
    "stop all": "STOP",
    "opt in": "START",
    "call back": "CALL",
    "dar baja": "STOP",
}

# Politeness and greetings that do not change what a bare keyword means.
FILLERS: Final = _words(
    """
    again agora ahora favor gracias hello hey hi hola maam now obrigada obrigado oi ok okay
    ola pf pfv please por porfa porfavor senor senora sir thank thanks ya you
    """
)

# --- phrases per intent and language ------------------------------------------------

PHRASES: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "STOP": {
        "en": (
            "stop/stopall/unsubscribe*/optout/revoke",
            "opt/opting/opted out",
            "quit/cease/end ~ texting/messaging/contacting/sending/calling/texts/messages",
            "do not text/txt/message/msg/sms/contact/call/bother/harass/email ~ me/us/number",
            "do not text/txt/message/msg/sms/contact/bother/harass/email/call again/anymore",
            "never text/message/contact ~ again",
            "no more texts/text/messages/message/sms/msgs/calls/contact",
            "remove/delete/erase ~ me/number/name/phone",
            "take ~ me/number off",
            "leave me/us alone",
            "cancel ~ texts/messages/sms/subscription/alerts/notifications",
            "do not want ~ texts/messages/sms/calls/contact",
            "do not want/wish ~ receive/get/be ~ texts/messages/sms/calls/contact*",
            "not interested ~ texts/messages",
            "harass*",
        ),
        "pt": (
            "para/pare/parem/parar de ~ mandar/enviar/ligar/escrever/receber/mensag*/sms/encher"
            "/incomodar/perturbar/cobrar",
            "quero parar",
            "quero sair",
            "sair ~ lista/cadastro/mensagens/sms",
            "nao ~ quero ~ receber/mensag*/sms/contat*/contact*/cobrad*/incomodad*",
            "nao me mande/mandem/manda/envie/enviem/envia/ligue/liguem/liga/escreva/escrevam"
            "/contate/contatem/perturbe/perturbem/incomode/incomodem/procure/procurem",
            "nao mande/mandem/envie/enviem/ligue/liguem ~ mais",
            "descadastr*",
            "me? tira/tire/tirem/remove/remova/removam/remover/exclua/excluam/excluir/tirar"
            "/apaga/apague ~ lista/cadastro/numero/contatos/contato",
            "chega de ~ mensag*/sms/cobranc*/ligac*",
            "cancelar ~ mensag*/sms/inscricao/cadastro/notificac*",
            "me deixa/deixem/deixe em paz",
        ),
        "es": (
            "de baja",
            "no me/nos? escriban/escribas/escriba/envien/envies/envie/manden/mandes/mande"
            "/llamen/llames/contacten/contactes/molesten/molestes/moleste/busquen",
            "dejen/deja/deje/dejar/dejes ~ de ~ escribir*/enviar*/mandar*/llamar*/molestar*"
            "/mensaj*/contactar*",
            "no ~ quiero ~ recibir/mensaj*/sms/contact*/llamen/escriban/molesten",
            "saque*/saca*/elimin*/borr*/quite*/quita* ~ lista/numero/base/registro",
            "basta de ~ mensaj*/sms/llamadas",
            "no mas ~ mensaj*/sms/llamadas/textos",
            "cancelar ~ mensaj*/suscripcion/sms",
            "dejenme/dejame en paz",
            "no ~ vuelvan/vuelva/vuelvas a ~ escribir*/llamar*/enviar*/mandar*/molestar*"
            "/contactar*",
        ),
    },
    "START": {
        "en": (
            "unstop",
            "opt/opting back? in",
            "optin",
            "resubscribe",
            "start/resume/restart ~ texting/texts/messaging/messages/sms ~ again?",
            "start again/back",
            "receive/get ~ texts/messages/sms again",
            "text/txt/message/msg/sms/contact/write me ~ again",
            "send/sending me? ~ texts/messages/sms/msgs ~ again",
            "resume/restart ~ texts/messages/texting/messaging/sms/contact",
        ),
        "pt": (
            "voltar a receber",
            "voltar/volte/voltem/volta/voltarem a me? mandar/enviar/escrever/contatar",
            "mand*/envi*/escrev* ~ mensag*/sms ~ de_novo/novamente/outra_vez",
            "re:(?<!nao )quero receber (?:\\S+ ){0,2}(?:mensag\\S* |sms )",
            "reativ* ~ mensag*/sms/cadastro",
        ),
        "es": (
            "volver a recibir",
            "volver/vuelvan/vuelve/volveran a escribir*/mandar*/enviar*/contactar*",
            "escrib*/mand*/envi* ~ mensaj*/sms ~ otra_vez/de_nuevo/nuevamente",
            "re:(?<!no )quiero recibir (?:\\S+ ){0,2}(?:mensaj\\S* |sms )",
            "reactiv* ~ mensaj*/sms",
            "de alta",
        ),
    },
    "WRONG_NUMBER": {
        "en": (
            "phone/number/cell ~ belongs/belonged/is to? someone/somebody/another ~ else?",
            "wrong number/person/guy/girl/lady/man/name/phone/contact/people/individual",
            "not/no the? right/correct person",
            "not me",
            "re:(?<= )do not know (?:any |anyone |anybody |this person |that person |him |her "
            "|them |that name |this name |who (?:that|she|he|they) )",
            "no_one/nobody/noone ~ named/called/by_that_name",
            "there is no ~ here/at_this_number",
            "not his/her/their/hers/theirs number/phone",
            "new number",
            "got this number",
            "changed my number",
            "number ~ belongs to me",
            "number was reassigned",
            "am not who you",
            "not the person you",
            "number ~ is/was not ~ his/her/theirs/hers",
        ),
        "pt": (
            "numero ~ errado/incorreto/trocado",
            "pessoa errada",
            "re:(?<= )nao conheco (?:ninguem |nenhum |nenhuma |ele |ela |essa pessoa |esse "
            "cara |essa moca |essa senhora |esse senhor |esse nome |o |a )(?!divida|cobranca"
            "|conta|valor|empresa|debito|banco)",
            "nao sou eu/ele/ela/essa/esse",
            "re:(?<= )nao conheco $",
            "nao e ~ comigo",
            "nao e ~ meu numero",
            "foi/e engano",
            "numero novo",
            "mudei/troquei de numero",
            "nao mora ~ aqui",
            "ninguem com esse nome",
            "numero/telefone/celular/fone nao e/eh ~ "
            "dele/dela/mais/de/da/do/meu/dessa/desse/deste/desta",
            "nao e/eh aqui",
            "nao e/eh o numero",
        ),
        "es": (
            "numero ~ equivocado/incorrecto/erroneo",
            "equivocado/equivocaron/equivoco/equivocaste/equivocan de numero/persona",
            "se equivoc* ~ numero/persona",
            "persona equivocada/incorrecta",
            "re:(?<= )no conozco a (?!(?:esa |esta |la )?(?:deuda|empresa|cuenta))",
            "no conozco ~ esa persona",
            "no soy yo/esa/ese/el/ella",
            "re:(?<= )no (?:lo |la )?conozco $",
            "no vive ~ aqui",
            "aqui no vive",
            "no es aqui",
            "numero nuevo",
            "cambie de numero",
            "numero/telefono/celular ~ no es ~ de/suyo/suya/mio",
            "no es el/mi numero",
            "nadie con ese nombre",
        ),
    },
    "DISPUTE": {
        "en": (
            "disput*",
            "not my ~ debt/bill/account/loan/card/charge/balance",
            "not mine",
            "do/does/did not owe",
            "never owed",
            "owe ~ nothing",
            "wrong/incorrect/inaccurate/bogus amount/balance/total/charge/sum/figure",
            "amount/balance/total/charge/sum/figure/price/debt/bill/invoice/fee/fees/interest ~"
            " wrong/incorrect/inaccurate/off/mistake/error/inflated/too_high",
            "this/that/it is wrong/incorrect",
            "overcharg*",
            "amount/balance/total/charge/sum/figure/price ~ not right/correct",
            "not the right/correct amount/balance/total/charge/sum/figure",
            "never ~ signed/agreed/opened/bought/ordered/borrowed/applied/authorized/took"
            "/contracted/used/had/heard",
            "did not sign/order/buy/borrow/authorize/open/take/use/agree",
            "do not recogni*",
            "fraud*",
            "identity theft",
            "stolen identity",
            "is/be a mistake/error",
            "billing error",
            "what debt",
            "refuse to pay",
            "not going to pay",
            "am not paying",
            "will not pay",
            "not responsible",
            "do not have ~ account/loan/card ~ with/there",
            "do not have ~ debt/debts/loan/account/balance ~ with/you/there",
            "no/any debt ~ with you",
            "debt ~ does not exist",
            "scam*",
            "discharg*",
        ),
        "pt": (
            "nao ~ e/eh minha/meu/minhas/meus",
            "nao lhe/te/vos? devo/devemos",
            "nunca devi",
            "nao reconhec*",
            "desconhec*",
            "valor/cobranca/conta/total/saldo/montante ~ errad*/incorret*/indevid*/absurd*",
            "valor ~ alto_demais/nao_confere/nao_bate",
            "indevid*",
            "nunca ~ contratei/comprei/assinei/pedi/fiz/usei/tive/peguei/solicitei/abri",
            "nao ~ contratei/comprei/assinei/solicitei/autorizei",
            "fraude",
            "golpe",
            "nao tenho ~ divida/debito/conta ~ com",
            "contest*",
            "nao fui eu",
            "que divida",
            "divida ~ nao existe",
            "nao fiz ~ compra/divida/emprestimo/cadastro/cartao/conta",
            "nao me pertence",
            "nao vou pagar",
        ),
        "es": (
            "no ~ es ~ mia/mio/mias/mios",
            "no es mi deuda/cuenta/prestamo/tarjeta/cargo",
            "no le/les/te? debo/debemos",
            "nunca debi",
            "no reconozco/reconocemos",
            "desconozco",
            "no conozco ~ deuda/cargo/cuenta",
            "monto/cantidad/cobro/saldo/total/importe/cargo/cifra ~ mal/incorrect*/equivocad*"
            "/errone*/indebid*/erro*",
            "incorrect*/equivocad* monto/cantidad/cobro/saldo/total/importe",
            "indebid*",
            "nunca ~ contrate/compre/firme/pedi/solicite/use/tuve/saque/autorice/abri/he",
            "no ~ contrate/compre/firme/solicite/autorice",
            "fraude",
            "estafa",
            "no tengo ~ deuda/cuenta ~ con",
            "disput*",
            "impugn*",
            "es un error",
            "no fui yo",
            "que deuda",
            "deuda ~ no existe",
            "no me corresponde",
            "no voy a pagar",
        ),
    },
    "PAID": {
        "en": (
            "re:(?<= )(?<!get )(?<!got )(?<!gets )(?<!getting )(?<!be )(?<!when )(?<!once )"
            "(?<!until )(?<!till )(?<!get it )(?<!get this )(?<!get that )(?<!have it )"
            "(?<!have this )(?<!get the debt )(?:paid|payed) ",
            "already ~ paid/payed/settled/sent/made/done/cleared/took",
            "payment ~ made/sent/done/processed/submitted/completed/went",
            "made/sent/submitted/did/completed ~ the/a/my/that payment",
            "sent/transferred/wired/deposited ~ money/it/funds/check",
            "receipt",
            "proof of payment",
            "confirmation number",
            "settled",
            "took/taken care of",
        ),
        "pt": (
            "paguei",
            "pagamos ja",
            "ja pagamos",
            "ja ~ foi/esta/ta ~ pago/paga/quitado/quitada/pagos",
            "foi/esta/ta pago/paga/quitado/quitada",
            "quitei",
            "ja quitamos",
            "ja ~ fiz/efetuei/realizei/mandei/enviei ~ pagamento/pix/deposito/transferencia",
            "fiz/efetuei/realizei ~ pagamento/pix/deposito/transferencia",
            "comprovante",
            "ja transferi",
            "transferi",
            "depositei",
            "acertei",
            "pagamento ~ feito/realizado/efetuado/confirmado",
            "ja resolvi",
        ),
        "es": (
            "pague",
            "pagado/pagada",
            "ya ~ pagamos/cancele/cancelado/cancelada/liquide/deposite/transferi/salde",
            "ya lo/la pago",
            "hice/realice/efectue ~ pago/deposito/transferencia",
            "comprobante",
            "deposite",
            "transferi",
            "liquide",
            "salde",
            "pago ~ realizado/hecho/efectuado",
            "ya ~ esta/fue/quedo ~ pagado/pagada/liquidado/liquidada/saldado/saldada/cancelado"
            "/cancelada",
            "ya se/lo/la? pago",
        ),
    },
    "CALL": {
        "en": (
            "call/calls/calling/callback/ring/phone/telephone me/us",
            "call/phone/ring/contact me/us ~ at/on/tomorrow/today/back/later/after/before",
            "call ~ back",
            "callback",
            "can/could/please/pls ~ call",
            "want/need/like ~ call",
            "give me a call/ring/buzz",
            "talk/speak/chat ~ to/with ~ someone/somebody/person/human/agent/rep*/manager"
            "/supervisor/you/anyone/anybody/operator",
            "talk/speak/chat ~ phone",
            "by/over/via the? phone",
            "phone call",
            "contact me",
            "reach me",
        ),
        "pt": (
            "ligar/ligue/liguem/ligacao/ligam/ligarem/ligando/ligo",
            "me liga",
            # "la liga para pagar" is a payment link in Mexico, not "call me".
            "re:(?<= )(?<!la )(?<!una )liga (?:pra|para|pro|pa) ",
            "telefon*",
            "falar ~ com ~ alguem/atendente/pessoa/voce/voces/humano/gerente/responsavel"
            "/operador*/agente",
            "atendente",
            "por telefone",
            "me retorna/retorne/retornem/retornar",
        ),
        "es": (
            "llamar/llama/llame/llamen/llamada/llamame/llamenme/llameme/llamarme/llamarnos"
            "/llamanos/llamadme/llames/llaman/llamas/llamaran/llamarian",
            "marcame/marquenme/marqueme/marcarme",
            "telefono",
            "hablar ~ con ~ alguien/persona/agente/asesor/humano/ustedes/usted/gerente/ejecutivo"
            "/operador*",
            "comuniquense/comuniquese/contactenme ~ conmigo?",
        ),
    },
    "HARDSHIP": {
        "en": (
            "no money/cash/funds/income/job/work",
            "do not have ~ money/funds/cash/income/job/work",
            "have nothing",
            "broke",
            "lost ~ job/work/income/house/home/husband/wife/son/daughter/mother/father/mom/dad"
            "/business/jobs",
            "unemployed",
            "jobless",
            "laid/let off/go",
            "fired",
            "out of work",
            "between jobs",
            "re:(?<= )(?:can not|could not|unable to|not able to|can no longer|no longer able to) "
            "(?:\\S+ ){0,2}(?:afford|pay)(?! (?:\\S+ ){0,3}?(?:all|full|everything|whole"
            "|entire|once|total|lump) )",
            "can/could not ~ afford",
            "tight",
            "struggl*",
            "hard/difficult/tough/rough time/times",
            "financial* ~ difficult*/problem*/trouble*/hardship/crisis/situation",
            "money ~ problem*/trouble*",
            "am/is/been ill/sick",
            "sick",
            "hospital*",
            "surgery",
            "cancer",
            "medical",
            "disabled/disability",
            "divorce*",
            "passed away",
            "died",
            "funeral",
            "covid",
            "bankrupt*",
            "evicted",
            "homeless",
            "paycheck to paycheck",
            "behind on ~ bills/rent/everything",
            "no income",
            "not working",
            "not a/one ~ penny/dime/cent",
            "hours ~ cut/reduced",
            "reduced hours",
            "pay/salary/wage/wages cut",
            "fixed income",
        ),
        "pt": (
            "sem ~ dinheiro/grana/emprego/trabalho/condic*/renda/salario/trampo",
            "nao tenho ~ dinheiro/grana/como_pagar/condic*/emprego/trabalho/renda",
            "desempregad*",
            "desemprego",
            "perdi ~ emprego/trabalho/renda",
            "demitid*",
            "mandado/mandada embora",
            "re:(?<= )nao (?:\\S+ )?(?:consigo|conseguindo|consegui|posso|podendo|tenho como"
            "|da pra|da para|podemos|conseguimos|vou conseguir|vou poder) (?:\\S+ ){0,1}pagar "
            "(?!(?:\\S+ ){0,3}?(?:tudo|total|inteiro|inteira|de uma vez|a vista|integral))",
            "dificuldade*",
            "dificil/complicad*",
            "apertad*",
            "doente",
            "hospital*",
            "internad*",
            "cirurgia",
            "cancer",
            "faleceu/falecimento/morreu/luto",
            "quebrado/quebrada/falido/falida",
            "crise",
            "nem um ~ centavo/real/tostao",
            "endividad*",
            "to/tou/estou/ando/ta duro/dura/liso/lisa/quebrado/quebrada",
            "nao ~ sobra ~ dinheiro",
        ),
        "es": (
            "sin ~ dinero/plata/trabajo/empleo/ingresos/chamba/lana",
            "no tengo ~ dinero/plata/trabajo/empleo/ingresos/lana/como_pagar/con_que_pagar",
            "desemplead*",
            "perdi ~ trabajo/empleo/chamba",
            "me despidieron/corrieron",
            "despedid*",
            "re:(?<= )no (?:\\S+ )?(?:puedo|podemos|voy a poder|alcanzo a) (?:\\S+ ){0,1}"
            "pagar(?:la|lo|le)? (?!(?:\\S+ ){0,3}?(?:todo|completo|total|de contado"
            "|de una vez|entero))",
            "no me alcanza",
            "ni un/una ~ peso/centavo/quinto/sol/dolar",
            "dificil*",
            "dificultad*",
            "situacion ~ complicada",
            "apretad*",
            "enferm*",
            "hospital*",
            "cirugia",
            "fallecio/murio",
            "quebrad*",
            "crisis",
        ),
    },
    "PLAN": {
        "en": (
            "re:(?<= )plans? (?!to )",
            "installment*",
            "instalment*",
            "monthly",
            "month by month",
            "per/a/each/every month",
            "weekly/biweekly/fortnightly",
            "split*",
            "in parts",
            "partial payment*",
            "make/making/do/doing/set_up ~ payments",
            "payments",
            "smaller/small/several payments",
            "over time",
            "several/multiple/few ~ months/payments/weeks",
            "every/each ~ week/weeks/month/months/payday/paycheck/friday",
            "little/bit at a time",
            "little by little",
            "over ~ months/weeks",
            "re:(?<= )\\d+ (?:months|payments|installments|instalments) ",
            "re:(?<= )in (?:\\d+|two|three|four|five|six|several|smaller) (?:parts|pieces|chunks) ",
            "arrangement",
            "negotiat*",
            "settlement",
            "work ~ out",
            "break ~ up/into/down",
            "spread ~ out/payments/over",
            "re:(?<= )(?:can not|could not|unable to|not able to) (?:\\S+ ){0,2}(?:pay|afford) "
            "(?:\\S+ ){0,3}?(?:all|full|everything|whole|entire|once|total|lump) ",
            "half now",
            "deal",
        ),
        "pt": (
            "parcel*",
            "plano",
            "em ~ vezes",
            "re:(?<= )\\d+ ?(?:x|vezes|parcelas|meses|prestacoes) ",
            "re:(?<= )em (?:\\d+|duas|tres|quatro|cinco|seis) (?:partes|pagamentos) ",
            "prestac*",
            "mensal*",
            "semanal*/quinzena*",
            "todo/cada ~ mes/meses/semana",
            "toda/cada semana",
            "por mes",
            "dividir/divide/dividido",
            "acordo",
            "negocia*",
            "entrada",
            "uma parte",
            "varios/varias/alguns/algumas ~ meses/vezes/parcelas/pagamentos",
            "facilit*/facilidade*",
            "aos poucos",
            "pouco a pouco",
            "re:(?<= )nao (?:\\S+ )?(?:consigo|posso|tenho como|da pra|da para) (?:\\S+ ){0,1}"
            "pagar (?:\\S+ ){0,3}?(?:tudo|total|inteiro|inteira|de uma vez|a vista|integral) ",
        ),
        "es": (
            "cuota*",
            "plazo*",
            "plan",
            "mensualidad*",
            "mensual*",
            "por/al/cada mes",
            "pagos ~ mensuales/semanales/quincenales",
            "semanal*/quincenal*",
            "cada ~ semana/semanas/quincena/mes/meses",
            "dividir/dividirlo/dividirla",
            "fracciona*",
            "diferi*",
            "en partes",
            "re:(?<= )en (?:\\d+|dos|tres|cuatro|cinco|seis) (?:partes|pagos) ",
            "abonos",
            "convenio",
            "acuerdo",
            "arreglo",
            "negocia*",
            "poco a poco",
            "parcial*",
            "facilidad*",
            "varios/varias/algunos/algunas ~ meses/pagos/partes/quincenas",
            "planes",
            "una parte",
            "re:(?<= )\\d+ (?:meses|pagos|cuotas|quincenas) ",
            "re:(?<= )no (?:\\S+ )?(?:puedo|podemos) (?:\\S+ ){0,1}pagar(?:la|lo|le)? "
            "(?:\\S+ ){0,3}?(?:todo|completo|total|de contado|de una vez|entero) ",
        ),
    },
    "STATEMENT": {
        "en": (
            "statement*",
            "invoice*",
            "bill",
            "resend",
            "send ~ again",
            "copy",
            "details",
            "breakdown",
            "itemi*",
            "documentation",
            "documents",
            "paperwork",
            "proof ~ debt/owe",
            "verif*",
            "validat*",
            "how much ~ owe/is_it/is_the_debt/do_i",
            "what ~ do i/we owe",
            "what is ~ charge/bill/amount/debt/invoice/balance/fee ~ for",
            "what is my/the balance/total/amount",
            "total/balance/amount ~ owe/due",
            "never/not ~ got/received/get/receive ~ bill/statement/invoice/letter/notice"
            "/anything/notification/paperwork",
            "email me",
            "letter",
        ),
        "pt": (
            "fatura*",
            "extrato*",
            "demonstrativo",
            "reenvi*",
            "manda/mande/envia/envie/mandar/enviar ~ conta/fatura/extrato ~ novo/novamente",
            "de novo/novamente",
            "segunda via ~ fatura/conta",
            "detalhe*",
            "documento*",
            "copia",
            "quanto ~ devo/devemos/e_a_divida/e_o_valor/deve/ta_a_divida/esta_a_divida",
            "qual ~ valor/saldo/total/divida",
            "nao ~ recebi/chegou ~ nada/fatura/conta/boleto/carta/cobranca/extrato",
            "de onde ~ divida/cobranca",
            "referente",
        ),
        "es": (
            "factura*",
            "estado de cuenta",
            "resumen",
            "reenvi*",
            "envi*/mand* ~ de_nuevo/otra_vez/nuevamente",
            "detalle*",
            "desglose",
            "documento*",
            "copia",
            "cuanto ~ debo/debemos/es/sale/tengo_que_pagar",
            "saldo",
            "no ~ recibi/llego/ha_llegado ~ factura/estado/nada/cuenta/carta/aviso/cobro",
        ),
    },
    "PAY": {
        "en": (
            "barcode/bar_code",
            "payment ~ code/link/page/option/options/method",
            "link",
            "code",
            "pay off",
            "payoff",
            "in full",
            "full amount/balance",
            "lump sum",
            "discount",
            "how ~ pay",
            "where ~ pay",
            "settle ~ debt/balance/account/this/it/up",
            "clear ~ debt/balance",
            "zelle/venmo/paypal/cashapp/card/online",
            "take/accept/process ~ payment",
        ),
        "pt": (
            "boleto*",
            "pix",
            "codigo ~ barras",
            "linha digitavel",
            "link",
            "quitar/quitacao/quito",
            "a vista",
            "desconto",
            "acertar",
            "liquidar",
            "segunda via",
            "pagamento",
        ),
        "es": (
            "codigo ~ barras",
            "codigo",
            "link/enlace",
            "liquidar/liquido",
            "saldar",
            "de/al contado",
            "descuento",
            "referencia",
            "oxxo",
            "liga ~ pago/pagar",
            "datos ~ pagar/pago/transferir/transferencia/deposito/depositar",
        ),
    },
    "HELP": {
        "en": (
            "help",
            "info/information",
            "who ~ is_this/is_that/texting/messaging/sending/writing",
            "who are you/u/yall/these",
            "who ~ sent/sending ~ this",
            "who is this",
            "what is this/that",
            "what is this/that/it for",
            "what this is",
            "who this is",
            "re:(?<= )who this $",
            "what/which ~ company",
            "who ~ company",
            "how ~ get my number",
            "is this ~ scam/spam/legit/real",
            "scam/spam",
            "what is going on",
            "what do you want",
        ),
        "pt": (
            "ajuda/ajudar",
            "informac*",
            "quem ~ e/eh/fala/falando/manda/mandou/enviou/sao/esta",
            "o que e ~ isso/isto",
            "que e isso/isto",
            "do que se trata",
            "que/qual empresa",
            "como conseguiu/conseguiram/pegou/pegaram ~ numero",
            "golpe",
            "o que ~ querem/quer/deseja/desejam",
            "que mensagem ~ e/eh ~ essa/esta",
            "de onde ~ e/eh/vem ~ mensagem/numero/isso",
            "quem sao",
        ),
        "es": (
            "ayuda/ayudar",
            "informacion",
            "quien ~ es/eres/son/habla/escribe/manda/envia",
            "que es esto/eso",
            "de que se trata",
            "que empresa",
            "como ~ consiguieron/obtuvieron ~ numero",
            "estafa",
            "quienes ~ son/eres/es",
            "de donde ~ escriben/llaman/son/escribe",
            "que ~ quieren/quiere",
        ),
    },
}

# Markers of paying in several parts: these make PLAN even when a date is given
# ("half now and half next month", "3 installments starting Friday").
PLAN_OVER_PROMISE: Final[tuple[str, ...]] = (
    "installment*/instalment*/parcel*/cuota*/prestac*/mensualidad*/plazos",
    "half ~ half/rest",
    "rest/remainder/remaining ~ next/later/on/after",
    "metade ~ metade/resto",
    "mitad ~ mitad/resto",
    "entrada ~ resto",
    "part ~ rest/remainder",
    "parte ~ resto/restante",
    "re:(?<= )(?:em|en|in) \\d+ ?(?:x|vezes|parcelas|cuotas|payments|installments) ",
)

# Verbs (and verb phrases) of paying in a non-past form. They make PAY, and with a
# time expression PROMISE; the classifier checks for a negation just before them.
PAY_VERBS: Final[dict[str, tuple[str, ...]]] = {
    "en": (
        "pay/paying/pays/payin",
        "send ~ money/payment/check/funds",
        "have ~ money/cash/funds",
        "deposit/transfer/wire",
        "make ~ payment",
        "settle",
        "be paid",
        "get you ~ money/it",
        "get ~ paid_off",
    ),
    "pt": (
        "pagar/pago/pagarei/pagaremos/pagamos/pagando/pagaria/pagalo/paga",
        "deposito/depositar/transfiro/transferir",
        "quitar/quito/acertar/acerto",
        "fazer/faco/farei ~ pagamento/pix/deposito",
        "mandar/mando/envio/enviar ~ dinheiro/pix",
        "ter/terei/tenho ~ dinheiro/grana",
    ),
    "es": (
        "pagar/pago/pagare/pagaremos/pagamos/pagando/pagarle/pagarles/pagarte/pagarlo/pagarla"
        "/pagaria",
        "depositar/deposito/transferir/transfiero",
        "liquidar/liquido/saldar/abonar/abono",
        "hacer/hago/hare ~ pago/deposito",
        "tener/tendre/tengo ~ dinero/plata",
    ),
}

# Verbs that only say "pay" when a date comes with them ("I'll send it Friday");
# alone ("send it to my lawyer") they are no request to pay.
PROMISE_ONLY_VERBS: Final[tuple[str, ...]] = (
    "send/have/get ~ it/that/this",
    "payment/money/check ~ coming/comes/will_come/on_its_way",
    "mando/mandar/envio/enviar/deposito/transfiro",
)

PROMISE_WORDS: Final[tuple[str, ...]] = (
    "promise/promised/swear",
    "prometo/prometemos/prometi/juro",
)

# Words that negate a following pay verb, and the auxiliaries allowed in between
# ("I do not really want to pay").
# A STOP phrase about calls only ("don't call me") next to a request to pay or plan is
# a wish about calls, not an opt-out of texts: the request wins.
CALL_WORDS: Final = _words(
    """
    call calls calling called phone llamen llamar llamadas llamada llames llame ligar ligue
    liguem ligacao ligacoes ligando liga telefonema telefonemas telefonear telefonen
    """
)
TEXT_WORDS: Final = _words(
    """
    text texts texting txt message messages msg msgs sms email contact contacting bother
    harass mensagem mensagens mensaje mensajes escriban escribir escriba mandar manden
    mandem enviar envien enviem whatsapp
    """
)

NEGATORS: Final = frozenset({"not", "never", "nao", "no", "nunca", "unable", "nem", "ni"})
NEGATION_BRIDGE: Final = _words(
    """
    a able afford alcanzo be can como consegui conseguimos conseguindo conseguir consigo
    could da dar de did do does estou eu even going gonna i la le lo me para podemos podendo
    poder posso pra pude pudimos puedo que quero quiero really ta te tengo tenho to vai vou
    voy want we will would yo need needs preciso precisa precisam necesito necesita any
    un una um uma the el
    """
)
# "Until" turns "can't pay until Friday" back into a promise.
UNTIL_WORDS: Final = frozenset({"until", "till", "til", "ate", "hasta", "before", "antes"})

# --- menu choices -----------------------------------------------------------------

# Words that may come before the chosen number or letter ("I'll take option 2",
# "quero a 2", "la B") and after it ("2 please", "the second one").
CHOICE_LEAD: Final = _words(
    """
    a choice choose chose com con de e el elijo es escojo escolho fico for go going horario
    i is it its la letra letter like lo me mi minha my no nr num number numero o ok okay opc
    op opcao opcion opciones opcoes opt option options pick picking plan plano prefer prefiero
    prefiro que quedo quero quiero selecciono seleciono select si sim slot take taking the
    vou want will with would yeah yes
    """
)
CHOICE_TAIL: Final = _words(
    """
    favor gracias obrigado one opcao opcion option please pls plz por porfa thanks
    """
)

# --- dates and times --------------------------------------------------------------

WEEKDAYS: Final[dict[str, int]] = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "tues": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "segunda": 0,
    "terca": 1,
    "quarta": 2,
    "quinta": 3,
    "sexta": 4,
    "sabado": 5,
    "domingo": 6,
    "lunes": 0,
    "martes": 1,
    "miercoles": 2,
    "jueves": 3,
    "viernes": 4,
}
# Date words that also tell the language of the reply.
DATE_WORDS_BY_LANGUAGE: Final[dict[str, frozenset[str]]] = {
    "en": _words(
        """
        april august december end february friday january july june march monday month next
        november october saturday september sunday thursday today tomorrow tonight tuesday
        wednesday week weekend yesterday
        """
    ),
    "es": _words(
        """
        ayer diciembre domingo enero febrero fin hoy jueves julio junio lunes manana martes
        mayo mes miercoles noviembre octubre proxima proximo sabado semana septiembre viene
        viernes
        """
    ),
    "pt": _words(
        """
        amanha dezembro domingo feira fevereiro fim hoje janeiro julho junho maio marco mes
        novembro ontem outubro proxima proximo quarta quinta sabado segunda semana setembro
        sexta terca vem
        """
    ),
}

# "segunda via" is a duplicate bill, "quarta parcela" the fourth installment.
WEEKDAY_NOT_BEFORE: Final = ("via", "opcao", "parcela", "vez", "opcion", "cuota", "prestacao")

MONTHS: Final[dict[str, int]] = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
    "janeiro": 1,
    "fevereiro": 2,
    "marco": 3,
    "abril": 4,
    "maio": 5,
    "junho": 6,
    "julho": 7,
    "agosto": 8,
    "setembro": 9,
    "outubro": 10,
    "novembro": 11,
    "dezembro": 12,
    "enero": 1,
    "febrero": 2,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
}

NUMBER_WORDS: Final[dict[str, int]] = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a": 1,
    "an": 1,
    "um": 1,
    "uma": 1,
    "dois": 2,
    "duas": 2,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
    "dez": 10,
    "uno": 1,
    "una": 1,
    "dos": 2,
    "cuatro": 4,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
}

ORDINALS: Final[dict[str, int]] = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "primeira": 1,
    "primeiro": 1,
    "segunda": 2,
    "segundo": 2,
    "terceira": 3,
    "terceiro": 3,
    "quarta": 4,
    "quarto": 4,
    "primera": 1,
    "primero": 1,
    "tercera": 3,
    "tercero": 3,
    "cuarta": 4,
    "cuarto": 4,
}

# Past days, for the date of a payment ("paguei ontem", "ayer", "the day before yesterday").
YESTERDAY_WORDS: Final = ("yesterday/ontem/ayer", "last night", "anoche", "ontem a noite")
DAY_BEFORE_YESTERDAY_WORDS: Final = (
    "day before yesterday",
    "anteontem/anteayer/antier/antes_de_ontem",
    "antes de ayer",
)

# A bare yes: accepts a one-option menu (never START, see KEYWORDS).
AFFIRMATIVE_WORDS: Final = frozenset(
    [
        "yes",
        "yeah",
        "yep",
        "yup",
        "ya",
        "yea",
        "sure",
        "ok",
        "okay",
        "k",
        "kk",
        "agreed",
        "agree",
        "deal",
        "accept",
        "accepted",
        "done",
        "confirm",
        "confirmed",
        "correct",
        "right",
        "perfect",
        "great",
        "fine",
        "good",
        "sounds",
        "works",
        "that",
        "this",
        "one",
        "please",
        "pls",
        "sim",
        "claro",
        "pode",
        "ser",
        "fechado",
        "combinado",
        "aceito",
        "beleza",
        "isso",
        "certo",
        "perfeito",
        "ta",
        "bom",
        "otimo",
        "fechou",
        "blz",
        "topo",
        "si",
        "vale",
        "dale",
        "acepto",
        "aceptado",
        "de",
        "acuerdo",
        "perfecto",
        "bueno",
        "listo",
        "esta",
        "bien",
        "bien",
        "correcto",
        "ese",
        "esa",
        "eso",
        "por",
        "favor",
    ]
)
# Only thanks, greetings and goodbyes: no request and nothing for a person to do.
COURTESY_WORDS: Final = frozenset(
    [
        "thanks",
        "thank",
        "you",
        "thx",
        "ty",
        "tks",
        "tnx",
        "much",
        "so",
        "very",
        "a",
        "lot",
        "many",
        "ok",
        "okay",
        "k",
        "kk",
        "great",
        "cool",
        "nice",
        "perfect",
        "awesome",
        "good",
        "bye",
        "goodbye",
        "night",
        "day",
        "have",
        "see",
        "later",
        "cheers",
        "appreciate",
        "it",
        "appreciated",
        "noted",
        "got",
        "received",
        "understood",
        "all",
        "the",
        "for",
        "and",
        "obrigado",
        "obrigada",
        "valeu",
        "muito",
        "muita",
        "agradeco",
        "brigado",
        "vlw",
        "tchau",
        "ate",
        "logo",
        "mais",
        "bom",
        "boa",
        "noite",
        "dia",
        "tarde",
        "entendi",
        "recebi",
        "beleza",
        "blz",
        "certo",
        "ok",
        "ta",
        "gracias",
        "muchas",
        "mil",
        "muy",
        "amable",
        "adios",
        "hasta",
        "luego",
        "pronto",
        "buenas",
        "buenos",
        "noches",
        "dias",
        "tardes",
        "entendido",
        "recibido",
        "vale",
        "perfecto",
        "bien",
        "saludos",
        "bendiciones",
        "deus",
        "abencoe",
        "dios",
        "le",
        "bendiga",
    ]
)

# Relative dates. Each value is a list of phrases in the DSL above.
TODAY_WORDS: Final = ("today/tonight/hoje/hoy", "this evening", "esta noche", "hoje a noite")
TOMORROW_WORDS: Final = ("tomorrow/amanha", "re:(?<= )(?<!la )(?<!esta )(?<!de )manana ")
DAY_AFTER_TOMORROW_WORDS: Final = (
    "day after tomorrow",
    "depois de amanha",
    "pasado manana",
)
NEXT_WEEK_WORDS: Final = (
    "next week",
    "semana que vem",
    "proxima semana",
    "semana que viene",
    "semana entrante",
    "otra semana",
)
WEEKEND_WORDS: Final = ("weekend", "fim/final de semana", "fin de semana", "finde")
END_OF_WEEK_WORDS: Final = (
    "end of ~ week",
    "fim/final da semana",
    "fin/final de la semana",
)
END_OF_MONTH_WORDS: Final = (
    "end of ~ month",
    "month end",
    "fim/final/finalzinho do/de/deste/desse mes",
    "fin/final/fines/finales de/del mes",
    "this month",
    "este/esse/neste/nesse mes",
)
NEXT_MONTH_WORDS: Final = (
    "next month",
    "mes que vem",
    "proximo mes",
    "mes que viene",
    "mes seguinte/siguiente",
    "beginning of ~ month",
    "inicio/comeco/comecinho do mes",
    "principio/inicio de/del mes",
)
VAGUE_TIME_WORDS: Final = (
    "later/soon/payday",
    "pay day",
    "when/once/after i ~ get/am paid",
    "when/once i ~ get/receive ~ paycheck/check/salary/money",
    "few/couple ~ days/weeks",
    "mais tarde",
    "depois/logo",
    "em breve",
    "quando ~ receber/cair/sair ~ salario?",
    "uns dias",
    "luego/despues/pronto",
    "mas tarde",
    "cuando ~ cobre/cobro/paguen/reciba",
    "quincena",
    "unos dias",
)
PAST_TIME_WORDS: Final = (
    "yesterday/ago/ontem/ayer/anteontem/anteayer/atras",
    "last week/month/year/time/friday/monday/tuesday/wednesday/thursday/saturday/sunday",
    "semana/mes passada/passado/pasada/pasado",
    "earlier today",
    "this morning",
    "re:(?<= )hace (?:\\S+ )?(?:dias|semanas|meses|dia|semana|mes) ",
)
DAY_OFFSET_UNITS: Final[dict[str, int]] = {
    "day": 1,
    "days": 1,
    "dia": 1,
    "dias": 1,
    "week": 7,
    "weeks": 7,
    "semana": 7,
    "semanas": 7,
}
MORNING_WORDS: Final = ("morning", "manha", "manana", "am")
AFTERNOON_WORDS: Final = ("afternoon", "evening", "night", "tarde", "noite", "noche", "pm")
NOON_WORDS: Final = ("noon", "midday", "meio dia", "meiodia", "mediodia")

# --- normalisation ----------------------------------------------------------------

# Token rewrites applied after punctuation is folded; apostrophe-less contractions
# and SMS abbreviations.
TOKEN_REWRITES: Final[dict[str, str]] = {
    "cant": "can not",
    "cannot": "can not",
    "dont": "do not",
    "wont": "will not",
    "doesnt": "does not",
    "didnt": "did not",
    "isnt": "is not",
    "arent": "are not",
    "wasnt": "was not",
    "werent": "were not",
    "havent": "have not",
    "hasnt": "has not",
    "couldnt": "could not",
    "wouldnt": "would not",
    "shouldnt": "should not",
    "aint": "is not",
    "im": "i am",
    "ive": "i have",
    "youre": "you are",
    "theyre": "they are",
    "whats": "what is",
    "whos": "who is",
    "thats": "that is",
    "theres": "there is",
    "ur": "your",
    "pls": "please",
    "plz": "please",
    "plss": "please",
    "thx": "thanks",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "tmw": "tomorrow",
    "tmrow": "tomorrow",
    "2morrow": "tomorrow",
    "2day": "today",
    "txt": "text",
    "txts": "texts",
    "txting": "texting",
    "msg": "sms",
    "msgs": "sms",
    "b4": "before",
    "nxt": "next",
    "wk": "week",
    "acct": "account",
    "amt": "amount",
    "ppl": "people",
    "vc": "voce",
    "vcs": "voces",
    "pq": "porque",
    "tb": "tambem",
    "tbm": "tambem",
    "hj": "hoje",
    "amanhan": "amanha",
    "naum": "nao",
    "nn": "nao",
    "xq": "porque",
    "tmb": "tambien",
    "callme": "call me",
    "gimme": "give me",
    "lemme": "let me",
    "wanna": "want to",
    "wat": "what",
    "wut": "what",
    "wht": "what",
    "dis": "this",
    "dat": "that",
    "kiero": "quiero",
    "qro": "quero",
    "dnv": "de novo",
    "nd": "nada",
    "mim": "me",
    "stoptexting": "stop texting",
}
# Single-letter rewrites only when the reply has more than one word, since a bare
# letter is a menu choice.
SHORT_REWRITES: Final[dict[str, str]] = {
    "u": "you",
    "r": "are",
    "q": "que",
    "k": "ok",
    "n": "nao",
}

# --- fuzzy matching -----------------------------------------------------------------

# Short, high-value words that a three-letter typo may be corrected to ("pya", "cal").
FUZZY_CORE: Final = _words(
    """
    ajuda ayuda baja boleto call cancel cuotas help info liga ligar llamar pagar pago pague
    paguei paid parar pay plan plano quit sair start stop unstop unsubscribe
    """
)

# Everyday words that must never be "corrected" into a keyword ("way" is not "pay",
# "shop" is not "stop", "cancer" is not "cancel"); and so are counted as language
# evidence.
COMMON_WORDS: Final[dict[str, frozenset[str]]] = {
    "en": _words(
        """
        a about account after afternoon again all also am amount an and any anybody anyone
        anything are as at away back bad balance ball bank bay be because been before being
        bell belly best better bill bills bit both brake bread broken bucks bull business
        but by bye calm came can cancer car card cash cause cell check clay cold come
        company cool could crop dad dancer daughter day days dead deal death debit dent did
        do does doing dollar dollars done down drop each else email even evening ever every
        everything fall family father fell few fill fine for frida fried friend fries from
        funny get gets getting give go goes going gonna good got gray great had hall has
        have having hay he heap held hell hello her here hers hey hi hill him his hm hmm
        hold home honey hop house how husband i idk if ill in inter into is it its jay just
        keep kelp key kid kids kill kind know last late later lay least left less let lets
        like little lmao lol look lot love mad made mail make man many may maybe me mean
        message messages might mill mine mom mommy monday money monkey month months moody
        more morning most mother much must my nah name need needs never new next nice night
        no nobody none nope not nothing now np of off office oh old omg on once one only
        onto or other our out over own pace pad page pail pain pains paint pair pal pan par
        paste pat patient paw pays people person phone phony pill plaid plain plane plans
        plant plate play plays please pleased pleasure ply point pop pray pretty prop pry
        put quick quid quiet quite rather ray really right sad said same saw say says see
        seen sell send sent she shop should since smart so some somebody someone something
        son soon sorry stare stark stars state stay step stick still stock stomp store story
        strong such sup sure take tall tell text texts than thank thanks that the their them
        then there these they thing things think this thong those though throng through till
        time to today told tomorrow tonight too took top total try trying two ty ugh uh um
        umm under unto up us use very wait wall want wanted wants was way we week well went
        were what whatever when where which while who whom whose why wife will with without
        work would wow wrong wtf yeah year years yelp yep yes yesterday yet yo you your
        yours yup
        """
    ),
    "es": _words(
        """
        a adios ahora al algo alguien alla alli ano anos antes aqui asi ayer ayuda baja
        bajar bajo banco bien buena buenas bueno buenos caja cala calle calor cama casa chao
        claro como con conmigo contigo cosa cosas cual cuando cuanto cuenta cuota dale de
        del desde despues dia dias dinero disculpa donde dos el ella ellos en entendido
        entiendo entonces enviar era eres es esa ese eso esposa esposo esta estan estas este
        esto estoy familia favor fue gente gracias hablar hace hacer hay hija hijo hijos
        hola hoy igual ir jaja jajaja jeje la las le les listo llama llamas llamo lo los
        luego madre mal mama manana mandar mande mas me mes mi mia mio mis mismo mucho muy
        nada nadie necesito ni no noche nos nosotros nunca o oiga otra otro oye padre paga
        pagar pagare pago pala palo papa para pase paso pato pavo pega pegar pego pena
        perdon perfecto pero persona plan plata poco por porque puedo pues que quien quiero
        recibido saludos se semana senor senora ser si sin sobre solo son soy su sus tal
        tambien tan tarde te tengo tiempo tiene tienen todo todos trabajo tu tus un una uno
        usted ustedes va vale vamos vez y ya yo
        """
    ),
    "pt": _words(
        """
        a agora ai ainda ajuda ajudar algo alguem ano anos ao aos aqui as assim ate banco
        beleza bem blz boa bom cara casa certo com combinado como conta contra da das de
        dela dele depois dia dias dinheiro do dos e ela ele eles em entao entendi enviar era
        esposa essa esse esta estou eu fala falar fale familia favor filha filho foi gente
        hoje isso ja kkk kkkk lhe lia liga ligar liso mae mais mandar mande manha marido mas
        me mes mesmo meu minha muito na nada nao nas nem ninguem no noite nos nossa nosso
        num numa o obrigada obrigado oi ola onde ontem os ou paga pagam pagamos pagar pago
        pai para parar pare pau paz pede pedi pega pegar pego pela pelo perfeito plano por
        porque posso pra preciso pro quando que quem quero recebido rs rsrs sai saia sair se
        sei sem semana ser seu sim so sua ta tambem tarde tchau tem tenho ter to trabalho
        tranquilo tu tudo um uma vai valeu voce vou
        """
    ),
}

# First names are never typo-corrected and, after "I don't know" or "não conheço",
# point to a wrong number.
NAMES: Final = _words(
    """
    adriana alberto alejandro aline amanda ana andres andrew anthony antonio ashley beatriz
    betty brian bruno camila carlos carmen charles chris daniel david diego eduardo emily
    felipe fernanda fernando francisco gabriel george guadalupe gustavo isabela james javier
    jennifer jessica jesus joao john jorge jose joseph juan julia juliana karen kevin
    larissa laura leonardo linda lisa lucas lucia luis luiz manuel marcia marco marcos maria
    mario mark mary mateus matthew michael miguel mike nancy pablo patricia paul paulo pedro
    rafael raul ricardo richard robert roberto rodrigo rosa sandra sarah sergio sofia steven
    thiago thomas tiago valentina vanessa william
    """
)
