"""The typed model of the 28 iWmo/iJw 3.2 messages: frozen dataclasses, one per berichtklasse.

A heen message and its retour message share their classes: the retour message carries the same
content plus ``retour_codes`` on every berichtklasse, which only the retour schema emits. iWmo and
iJw share them too; the few iJw-only elements say so in their spec. Field order is document order.
The structure stated here is the only one: the XSDs under ``schemas/`` are generated from it
(``python -m gateway.standard.xsdgen``), and :mod:`gateway.standard.codec` reads and writes it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from gateway.standard.message_types import MessageType, Standard
from gateway.standard.spec import RETOUR_KINDS, Kind, Party, basis, el, many, opt, retour_codes

IJW_ONLY = frozenset({Standard.IJW})
RETOUR_ONLY = frozenset({Kind.RETOUR})
ANTWOORD_ONLY = frozenset({Kind.ANTWOORD})

# -- complex types of the basisschema (CDT_) -----------------------------------------------------


@basis("CDT_Achternaam")
@dataclass(frozen=True, slots=True, kw_only=True)
class Achternaam:
    achternaam: str = el("LDT_Naam")
    voorvoegsel: str | None = opt("LDT_Voorvoegsel")


@basis("CDT_Huis")
@dataclass(frozen=True, slots=True, kw_only=True)
class Huis:
    huisnummer: int = el("LDT_Huisnummer")
    huisletter: str | None = opt("LDT_Huisletter")
    huisnummer_toevoeging: str | None = opt("LDT_HuisnummerToevoeging")
    aanduiding_woonadres: str | None = opt("LDT_AanduidingWoonadres")


@basis("CDT_Adres")
@dataclass(frozen=True, slots=True, kw_only=True)
class Adres:
    huis: Huis | None = opt()
    postcode: str | None = opt("LDT_Postcode")
    straatnaam: str | None = opt("LDT_Straatnaam")
    plaatsnaam: str | None = opt("LDT_Plaatsnaam")
    land_code: str | None = opt("LDT_LandCode")


@basis("CDT_BedragMetDC")
@dataclass(frozen=True, slots=True, kw_only=True)
class BedragMetDC:
    bedrag: int = el("LDT_Bedrag")
    debet_credit: str = el("LDT_DebetCredit")


@basis("CDT_TotaalBedragMetDC")
@dataclass(frozen=True, slots=True, kw_only=True)
class TotaalBedragMetDC:
    totaal_bedrag: int = el("LDT_TotaalBedrag")
    debet_credit: str = el("LDT_DebetCredit")


@basis("CDT_BerichtIdentificatie")
@dataclass(frozen=True, slots=True, kw_only=True)
class BerichtIdentificatie:
    identificatie: str = el("LDT_IdentificatieBericht")
    dagtekening: datetime.date = el("LDT_Datum")


@basis("CDT_Communicatie")
@dataclass(frozen=True, slots=True, kw_only=True)
class Communicatie:
    vorm: str = el("LDT_Communicatievorm")
    taal: str | None = opt("LDT_Taal")


@basis("CDT_Geboortedatum")
@dataclass(frozen=True, slots=True, kw_only=True)
class Geboortedatum:
    datum: datetime.date = el("LDT_Datum")
    datum_gebruik: str | None = opt("LDT_DatumGebruik")


@basis("CDT_GeslotenPeriode")
@dataclass(frozen=True, slots=True, kw_only=True)
class GeslotenPeriode:
    begindatum: datetime.date = el("LDT_Datum")
    einddatum: datetime.date = el("LDT_Datum")


@basis("CDT_OpenPeriode")
@dataclass(frozen=True, slots=True, kw_only=True)
class OpenPeriode:
    begindatum: datetime.date | None = opt("LDT_Datum")
    einddatum: datetime.date | None = opt("LDT_Datum")


@basis("CDT_Omvang")
@dataclass(frozen=True, slots=True, kw_only=True)
class Omvang:
    volume: int = el("LDT_Volume")
    eenheid: str = el("LDT_Eenheid")
    frequentie: str = el("LDT_Frequentie")


@basis("CDT_Product")
@dataclass(frozen=True, slots=True, kw_only=True)
class Product:
    categorie: str = el("LDT_ProductCategorie")
    code: str | None = opt("LDT_ProductCode")


@basis("CDT_Referentie")
@dataclass(frozen=True, slots=True, kw_only=True)
class Referentie:
    referentie_nummer: str = el("LDT_ReferentieNummer")
    vorig_referentie_nummer: str | None = opt("LDT_ReferentieNummer")


@basis("CDT_Telefoon")
@dataclass(frozen=True, slots=True, kw_only=True)
class Telefoon:
    telefoonnummer: str = el("LDT_Telefoonnummer")
    landnummer: str = el("LDT_Landnummer")


@basis("CDT_Telefoonnummers")
@dataclass(frozen=True, slots=True, kw_only=True)
class Telefoonnummers:
    telefoon01: Telefoon = el()
    telefoon02: Telefoon | None = opt()


@basis("CDT_VerkorteNaam")
@dataclass(frozen=True, slots=True, kw_only=True)
class VerkorteNaam:
    geslachtsnaam: Achternaam = el()
    voornamen: str | None = opt("LDT_Naam")
    voorletters: str | None = opt("LDT_Voorletters")


@basis("CDT_VolledigeNaam")
@dataclass(frozen=True, slots=True, kw_only=True)
class VolledigeNaam:
    geslachtsnaam: Achternaam = el()
    partnernaam: Achternaam | None = opt()
    voornamen: str | None = opt("LDT_Naam")
    voorletters: str | None = opt("LDT_Voorletters")
    naam_gebruik: str = el("LDT_NaamGebruik")


@basis("CDT_Verwijzer")
@dataclass(frozen=True, slots=True, kw_only=True)
class Verwijzer:
    type: str = el("LDT_TypeVerwijzer")
    naam: str | None = opt("LDT_NaamVerwijzer")
    zorgverlener_code: str | None = opt("LDT_AgbCode")


@basis("CDT_XsdVersie")
@dataclass(frozen=True, slots=True, kw_only=True)
class XsdVersie:
    basisschema_xsd_versie: str = el("LDT_Versie", default="1.0.0")
    bericht_xsd_versie: str = el("LDT_Versie", default="1.0.0")


# -- the header ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """The Header. BerichtCode, BerichtVersie and BerichtSubversie follow from the message type.

    A retour message (302 ... 320) copies Afzender, Ontvanger and BerichtIdentificatie from the
    message it answers (IV028) and adds IdentificatieRetour and DagtekeningRetour; a 325 names the
    declaration it answers in DeclaratieIdentificatie and always carries RetourCodes.
    """

    afzender: str = el(party=Party.AFZENDER)
    ontvanger: str = el(party=Party.ONTVANGER)
    bericht_identificatie: BerichtIdentificatie = el()
    xsd_versie: XsdVersie = el(default=XsdVersie())
    identificatie_retour: str | None = opt(
        "LDT_IdentificatieBericht", only=RETOUR_ONLY, required=True
    )
    dagtekening_retour: datetime.date | None = opt("LDT_Datum", only=RETOUR_ONLY, required=True)
    declaratie_identificatie: BerichtIdentificatie | None = opt(only=ANTWOORD_ONLY, required=True)
    xslt_versie: str | None = opt("LDT_Versie", only=RETOUR_KINDS)
    xsd_versie_retour: XsdVersie | None = opt(only=RETOUR_ONLY, required=True)
    xsd_versie_declaratie: XsdVersie | None = opt(only=ANTWOORD_ONLY, required=True)
    retour_codes: tuple[str, ...] = many(
        "LDT_RetourCode", item="RetourCode", only=RETOUR_KINDS, optional=RETOUR_ONLY
    )

    @property
    def identificatie(self) -> str:
        return self.bericht_identificatie.identificatie

    @property
    def dagtekening(self) -> datetime.date:
        return self.bericht_identificatie.dagtekening


# -- 301 / 302: Toewijzing -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    soort: str = el("LDT_AdresSoort")
    adres: Adres | None = opt()
    organisatie: str | None = opt("LDT_Organisatienaam")
    telefoon: Telefoonnummers | None = opt()
    emailadres: str | None = opt("LDT_Emailadres")
    periode: OpenPeriode | None = opt()
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class Relatie:
    nummer: str = el("LDT_Persoonsid")
    volgorde: int | None = opt("LDT_RelatieVolgorde")
    soort: str = el("LDT_SoortRelatie")
    geboortedatum: Geboortedatum | None = opt()
    geslacht: str | None = opt("LDT_Geslacht")
    naam: VolledigeNaam = el()
    contact: Contact = el()
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class ToegewezenProduct:
    toewijzing_nummer: int = el("LDT_Nummer")
    referentie_aanbieder: str | None = opt("LDT_Referentie")
    product: Product | None = opt()
    toewijzingsdatum: datetime.date = el("LDT_Datum")
    toewijzingstijd: datetime.time = el("LDT_Tijd")
    ingangsdatum: datetime.date = el("LDT_Datum")
    einddatum: datetime.date | None = opt("LDT_Datum")
    reden_wijziging: str | None = opt("LDT_RedenWijziging")
    omvang: Omvang | None = opt()
    budget: int | None = opt("LDT_Budget")
    commentaar: str | None = opt("LDT_Commentaar")
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class ToewijzingClient:
    """The Client of a 301 (and 302)."""

    bsn: str = el("LDT_BurgerServicenummer")
    geboortedatum: Geboortedatum = el()
    geslacht: str = el("LDT_Geslacht")
    naam: VolledigeNaam = el()
    communicatie: Communicatie | None = opt()
    juridische_status: str | None = opt("LDT_JuridischeStatus")
    wettelijke_vertegenwoordiging: str | None = opt("LDT_WettelijkeVertegenwoordiging")
    commentaar: str | None = opt("LDT_Commentaar")
    relaties: tuple[Relatie, ...] = many(item="Relatie", optional=True)
    contactgegevens: tuple[Contact, ...] = many(item="Contact")
    toegewezen_producten: tuple[ToegewezenProduct, ...] = many(item="ToegewezenProduct")
    retour_codes: tuple[str, ...] = retour_codes()


# -- 305 / 306 and 307 / 308: Start and Stop levering --------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StartProduct:
    toewijzing_nummer: int | None = opt("LDT_Nummer")
    product: Product | None = opt()
    toewijzing_ingangsdatum: datetime.date | None = opt("LDT_Datum")
    begindatum: datetime.date = el("LDT_Datum")
    status_aanlevering: str = el("LDT_StatusAanlevering")
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class StartClient:
    """The Client of a 305 (and 306)."""

    bsn: str = el("LDT_BurgerServicenummer")
    geboortedatum: Geboortedatum = el()
    geslacht: str = el("LDT_Geslacht")
    naam: VerkorteNaam = el()
    start_producten: tuple[StartProduct, ...] = many(item="StartProduct")
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class StopProduct:
    toewijzing_nummer: int | None = opt("LDT_Nummer")
    product: Product | None = opt()
    toewijzing_ingangsdatum: datetime.date | None = opt("LDT_Datum")
    begindatum: datetime.date = el("LDT_Datum")
    reden_beeindiging: str = el("LDT_RedenBeeindiging")
    einddatum: datetime.date = el("LDT_Datum")
    status_aanlevering: str = el("LDT_StatusAanlevering")
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class StopClient:
    """The Client of a 307 (and 308)."""

    bsn: str = el("LDT_BurgerServicenummer")
    geboortedatum: Geboortedatum = el()
    geslacht: str = el("LDT_Geslacht")
    naam: VerkorteNaam = el()
    stop_producten: tuple[StopProduct, ...] = many(item="StopProduct")
    retour_codes: tuple[str, ...] = retour_codes()


# -- 315 / 316: Verzoek om toewijzing ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AangevraagdProduct:
    referentie_aanbieder: str = el("LDT_Referentie")
    beschikking_nummer: int | None = opt("LDT_Nummer")
    product: Product | None = opt()
    beschikking_ingangsdatum: datetime.date | None = opt("LDT_Datum")
    toewijzing_ingangsdatum: datetime.date = el("LDT_Datum")
    toewijzing_einddatum: datetime.date | None = opt("LDT_Datum")
    omvang: Omvang | None = opt()
    budget: int | None = opt("LDT_Budget")
    verwijzer: Verwijzer = el()
    raamcontract: str | None = opt("LDT_JaNee")
    commentaar: str | None = opt("LDT_Commentaar")
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class VerzoekToewijzingClient:
    """The Client of a 315 (and 316)."""

    bsn: str = el("LDT_BurgerServicenummer")
    geboortedatum: Geboortedatum = el()
    geslacht: str = el("LDT_Geslacht")
    naam: VerkorteNaam = el()
    gezagsdrager_bekend: str | None = opt("LDT_JaNee", standards=IJW_ONLY)
    commentaar: str | None = opt("LDT_Commentaar")
    aangevraagde_producten: tuple[AangevraagdProduct, ...] = many(item="AangevraagdProduct")
    retour_codes: tuple[str, ...] = retour_codes()


# -- 317 / 318: Verzoek om wijziging -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OngewijzigdProduct:
    toewijzing_nummer: int = el("LDT_Nummer")
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class TeWijzigenProduct:
    toewijzing_nummer: int = el("LDT_Nummer")
    gewenste_ingangsdatum: datetime.date = el("LDT_Datum")
    einddatum: datetime.date | None = opt("LDT_Datum")
    omvang: Omvang | None = opt()
    budget: int | None = opt("LDT_Budget")
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class NieuwProduct:
    product: Product | None = opt()
    gewenste_ingangsdatum: datetime.date = el("LDT_Datum")
    einddatum: datetime.date | None = opt("LDT_Datum")
    omvang: Omvang | None = opt()
    budget: int | None = opt("LDT_Budget")
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class Verzoek:
    referentie_aanbieder: str = el("LDT_Referentie")
    reden_verzoek: str = el("LDT_RedenVerzoek")
    ongewijzigde_producten: tuple[OngewijzigdProduct, ...] = many(
        item="OngewijzigdProduct", optional=True
    )
    te_wijzigen_producten: tuple[TeWijzigenProduct, ...] = many(
        item="TeWijzigenProduct", optional=True
    )
    nieuwe_producten: tuple[NieuwProduct, ...] = many(item="NieuwProduct", optional=True)
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class VerzoekWijzigingClient:
    """The Client of a 317 (and 318)."""

    bsn: str = el("LDT_BurgerServicenummer")
    verzoek: Verzoek = el()
    retour_codes: tuple[str, ...] = retour_codes()


# -- 319 / 320: Antwoord op verzoek --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Woonplaatsbeginsel:
    gemeente: str = el("LDT_Gemeente")
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class Antwoord:
    """The Antwoord of a 319 (and 320)."""

    referentie_aanbieder: str = el("LDT_Referentie")
    verzoek_antwoord: str = el("LDT_VerzoekAntwoord")
    reden_afwijzing_verzoek: str | None = opt("LDT_RedenAfwijzingVerzoek")
    woonplaatsbeginsel: Woonplaatsbeginsel | None = opt(standards=IJW_ONLY)
    retour_codes: tuple[str, ...] = retour_codes()


# -- 323 / 325: Declaratie and DeclaratieAntwoord ------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Prestatie:
    product_referentie: Referentie = el()
    toewijzing_nummer: int = el("LDT_Nummer")
    product_categorie: str = el("LDT_ProductCategorie")
    product_code: str = el("LDT_ProductCode")
    product_periode: GeslotenPeriode = el()
    geleverd_volume: int = el("LDT_Volume")
    eenheid: str = el("LDT_Eenheid")
    product_tarief: int | None = opt("LDT_Bedrag")
    ingediend_bedrag: BedragMetDC = el()
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclaratieClient:
    """A Client of a 323 or a 325."""

    bsn: str = el("LDT_BurgerServicenummer")
    prestaties: tuple[Prestatie, ...] = many(item="Prestatie")
    retour_codes: tuple[str, ...] = retour_codes()


@dataclass(frozen=True, slots=True, kw_only=True)
class Declaratie:
    """The Declaratie of a 323."""

    # Stricter here than LDT_IdentificatieDeclaratie: letters and digits only.
    declaratie_nummer: str = el("LDT_IdentificatieDeclaratie", pattern="([a-zA-Z0-9])+")
    declaratie_periode: GeslotenPeriode = el()
    declaratie_dagtekening: datetime.date = el("LDT_Datum")
    totaal_ingediend_bedrag: TotaalBedragMetDC = el()
    clienten: tuple[DeclaratieClient, ...] = many(item="Client")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclaratieAntwoord:
    """The DeclaratieAntwoord of a 325."""

    declaratie_nummer: str = el("LDT_IdentificatieDeclaratie")
    totaal_ingediend_bedrag: TotaalBedragMetDC = el()
    totaal_toegekend_bedrag: TotaalBedragMetDC = el()
    clienten: tuple[DeclaratieClient, ...] = many(item="Client", optional=True)
    retour_codes: tuple[str, ...] = retour_codes()


Body = (
    ToewijzingClient
    | StartClient
    | StopClient
    | VerzoekToewijzingClient
    | VerzoekWijzigingClient
    | Antwoord
    | Declaratie
    | DeclaratieAntwoord
)


@dataclass(frozen=True, slots=True)
class BodySpec:
    """The root's second element: its name and model class."""

    xml: str
    cls: type[Body]


# message number -> its body; a retour message has its original's body, optional.
BODIES: dict[int, BodySpec] = {
    301: BodySpec("Client", ToewijzingClient),
    305: BodySpec("Client", StartClient),
    307: BodySpec("Client", StopClient),
    315: BodySpec("Client", VerzoekToewijzingClient),
    317: BodySpec("Client", VerzoekWijzigingClient),
    319: BodySpec("Antwoord", Antwoord),
    323: BodySpec("Declaratie", Declaratie),
    325: BodySpec("DeclaratieAntwoord", DeclaratieAntwoord),
}


def body_spec(message_type: MessageType) -> BodySpec:
    original = message_type.answers if message_type.copies_header else None
    return BODIES[(original or message_type).number]


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One message: its type, its Header and its body (absent only in some retour messages)."""

    message_type: MessageType
    header: Header
    body: Body | None

    def __post_init__(self) -> None:
        expected = body_spec(self.message_type).cls
        if self.body is None and Kind.of(self.message_type) is Kind.HEEN:
            raise ValueError(f"a {self.message_type} needs a {expected.__name__}")
        if self.body is not None and not isinstance(self.body, expected):
            raise ValueError(
                f"a {self.message_type} carries a {expected.__name__},"
                f" not a {type(self.body).__name__}"
            )
