"""Level-2 checks of iWmo/iJw 3.2 messages: the technical rules, constraints and conditions.

``check(doc, message_type, context)`` runs every implemented rule that applies to the message
and returns its remarks, each with the rule, the retourcode and the berichtklasse it belongs to;
``gateway.standard.retour`` turns them into the retour message. A schema-valid message never
makes ``check`` raise: what a rule cannot read, it does not judge.

A retour message (302 ... 320) copies the message it answers; it is checked by the content rules
of that message only, since the rules on identity, dates and codes concern the original sender.
"""

from __future__ import annotations

from lxml import etree

from gateway.standard.message_types import MessageType
from gateway.standard.rules import assignments, content, external
from gateway.standard.rules._xml import Element, remembering_paths
from gateway.standard.rules.assignments import Toewijzing
from gateway.standard.rules.base import (
    RULES,
    Berichtklasse,
    CheckContext,
    Controleniveau,
    Message,
    Remark,
    Rule,
)
from gateway.standard.rules.external import cbs_gemeenten
from gateway.standard.rules.places import heen_number

__all__ = [
    "RULES",
    "Berichtklasse",
    "CheckContext",
    "Controleniveau",
    "Remark",
    "Rule",
    "Toewijzing",
    "cbs_gemeenten",
    "check",
    "rules_for",
]

# The modules register their rules on import; name them so that the import is not "unused".
_RULE_MODULES = (content, external, assignments)


def rules_for(message_type: MessageType) -> list[Rule]:
    """The implemented rules that apply to ``message_type``, in registration order."""
    if message_type.copies_header:
        heen = heen_number(message_type.number)
        return [
            r
            for r in RULES.values()
            if heen in r.numbers and r.controleniveau is Controleniveau.INHOUD
        ]
    return [r for r in RULES.values() if message_type.number in r.numbers]


def check(
    doc: Element | etree._ElementTree, message_type: MessageType, context: CheckContext
) -> list[Remark]:
    """Every remark the implemented rules make on the parsed message ``doc``."""
    root = doc.getroot() if isinstance(doc, etree._ElementTree) else doc
    message = Message(root=root, type=message_type, context=context)
    remarks: list[Remark] = []
    with remembering_paths():
        for rule in rules_for(message_type):
            remarks.extend(rule.run(message))
    return remarks
