"""Content of the shipped base policy: the general evasion patterns the rules must catch, in several languages,
and the legitimate look-alikes they must leave alone.

Each case is written for the pattern, not copied from any corpus. A case names the decision the rules alone must
reach and, for block/review, the family of the deciding rule.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from prescreen.decide import decide
from prescreen.models import Listing
from prescreen.policy.engine import CompiledPolicy, compile_policy
from prescreen.policy.loader import load_policy


@pytest.fixture(scope="module")
def policy() -> CompiledPolicy:
    return compile_policy(load_policy())


def _listing(title: str, description: str = "", *, category: str = "", price: float | None = None,
             currency: str = "EUR", country: str = "DE", age: int = 400) -> Listing:
    body: dict[str, Any] = {"id": "c-1", "title": title, "description": description or None,
                            "category": category or None,
                            "seller": {"id": "s-1", "country": country, "account_age_days": age}}
    if price is not None:
        body["price"] = {"amount": price, "currency": currency}
    return Listing.model_validate_json(json.dumps(body))


def _screen(policy: CompiledPolicy, listing: Listing) -> tuple[str, set[str]]:
    hits = policy.evaluate(listing)
    draft = decide(hits)
    strongest = {hit.family for hit in hits if hit.mode == "enforce" and hit.action == draft.decision}
    return draft.decision, strongest


# (id, expected decision, expected family or None, listing kwargs)
CASES: list[tuple[str, str, str | None, dict[str, Any]]] = [
    # --- counterfeit money dressed as play / prop money, with "it passes the checks" claims ----------------
    ("prop-money-en", "block", "scams",
     {"title": "Movie prop 50 euro notes", "description": "Film money that passes the pen and the UV lamp.",
      "country": "CN"}),
    ("play-money-de", "block", "scams",
     {"title": "Spielgeld 100er Scheine", "description": "Täuschend echt, besteht den UV Test und den Prüfstift."}),
    ("prop-money-it", "block", "scams",
     {"title": "Banconote di scena 20 euro", "description": "Superano il test della penna rilevatrice."}),
    ("detector-pen-ok", "allow", None,
     {"title": "Counterfeit detector pen", "description": "Marks fake banknotes; genuine notes pass the test."}),
    ("toy-money-ok", "allow", None,
     {"title": "Spielgeld für den Kaufladen", "description": "200 Scheine und Münzen für Kinder."}),
    # --- fake tickets: unprotected payment + PDF / new account ---------------------------------------------
    ("ticket-pdf-transfer-es", "block", "scams",
     {"title": "2 entradas festival en PDF", "description": "Las mando en PDF, solo transferencia.", "age": 1}),
    ("ticket-pdf-transfer-pl", "block", "scams",
     {"title": "Bilety na mecz PDF", "description": "Wysyłam w PDF, tylko przelew.", "country": "PL", "age": 2}),
    ("ticket-platform-ok", "allow", None,
     {"title": "Two concert tickets, official resale",
      "description": "Transferred in the ticket app, paid on the platform.",
      "age": 1500}),
    ("game-friends-family-ok", "allow", None,
     {"title": "Kartenspiel für Freunde und Familie", "description": "Ab 8 Jahren, vollständig."}),
    # --- money doubling ------------------------------------------------------------------------------------
    ("money-doubling-pl", "block", "scams",
     {"title": "Pomnażanie pieniędzy", "description": "Podwajanie pieniędzy w 24h, gwarancja.", "country": "PL"}),
    # --- documents -----------------------------------------------------------------------------------------
    ("personal-id-fr", "block", "fake_documents",
     {"title": "Carte d'identité fantaisie", "description": "Réalisée avec votre photo et votre nom, hologramme."}),
    ("personal-licence-en", "block", "fake_documents",
     {"title": "Novelty driving licence", "description": "Made with your photo and your details."}),
    ("health-pass-unvaccinated-it", "block", "fake_documents",
     {"title": "Green pass valido", "description": "Certificato con QR funzionante senza vaccino."}),
    ("health-pass-unvaccinated-de", "block", "fake_documents",
     {"title": "Impfzertifikat mit QR-Code", "description": "Gültig, ohne Impfung."}),
    ("staff-badge-ok", "allow", None,
     {"title": "Staff ID card printing", "description": "Employee badges with your photo and company logo."}),
    ("passport-cover-ok", "allow", None,
     {"title": "Passport cover engraved with your name", "description": "Leather cover."}),
    # --- counterfeits --------------------------------------------------------------------------------------
    ("dupe-with-logo-fr", "block", "counterfeits",
     {"title": "Sac inspiré de Louis Vuitton", "description": "Avec le logo LV brodé.", "price": 40}),
    ("bulk-sneakers-review-de", "review", "counterfeits",
     {"title": "Nike Air Max neu", "description": "Alle Größen verfügbar, 35 Euro das Paar.", "price": 35}),
    ("quality-claim-review-it", "review", "counterfeits",
     {"title": "Occhiali Prada", "description": "Stessa qualità dei negozi.", "price": 25}),
    ("style-bag-review-it", "review", "counterfeits",
     {"title": "Borsa in stile Chanel", "description": "Produzione propria, nessun logo.", "price": 30}),
    ("used-nike-ok", "allow", None,
     {"title": "Nike Air Max 90 Gr. 42", "description": "Original, zweimal getragen, mit Kassenbon.", "price": 45}),
    ("socks-all-sizes-ok", "allow", None,
     {"title": "Adidas Socken 6 Paar", "description": "Alle Größen verfügbar.", "price": 15}),
    # --- drugs ---------------------------------------------------------------------------------------------
    ("greek-alpha-pvp", "block", "drugs",
     {"title": "Bath salt α-PVP 1g", "description": "Not for bathing."}),
    ("magic-truffles-fr", "block", "drugs",
     {"title": "Truffes magiques séchées 10g", "description": "Pour un trip en douceur."}),
    ("mushroom-plush-ok", "allow", None,
     {"title": "Magic mushroom plush toy", "description": "Soft toy from a video game, 20cm."}),
    ("nitrous-balloons-nl", "block", "drugs",
     {"title": "Lachgas cilinder 2kg", "description": "Inclusief 50 ballonnen, snel geleverd."}),
    ("cream-chargers-ok", "allow", None,
     {"title": "Sahnekapseln 50 Stück", "description": "N2O Kapseln für den Sahnesiphon."}),
    ("coded-dealer-zh", "block", "drugs",
     {"title": "冰 高纯 1克", "description": "懂的来，飞机联系。"}),
    ("rock-sugar-ok", "allow", None,
     {"title": "老冰糖 500克", "description": "单晶冰糖，批发价格私聊。", "currency": "USD", "country": "CN"}),
    ("party-slang-pt", "block", "drugs",
     {"title": "Cristal para a festa 2g", "description": "Cristal puro, 2g."}),
    ("glitter-party-ok", "allow", None,
     {"title": "Glitzerpulver für die Party 10g", "description": "Kosmetischer Glitzer."}),
    ("nps-incense-de", "block", "drugs",
     {"title": "Kräutermischung 3g", "description": "Raumduft, nicht zum Verzehr, extrem stark."}),
    ("nps-incense-review-es", "review", "drugs",
     {"title": "Incienso herbal 2g", "description": "No apto para el consumo humano."}),
    ("bath-salt-ok", "allow", None,
     {"title": "Badesalz Lavendel 500g", "description": "Nicht zum Verzehr geeignet."}),
    ("cannabis-not-light-it", "block", "drugs",
     {"title": "Erba 🌿 10g", "description": "Niente cannabis light, spedizione anonima."}),
    ("cbd-legal-ok", "allow", None,
     {"title": "Fleurs CBD 5g", "description": "THC < 0,3 %, chanvre légal."}),
    # --- weapons -------------------------------------------------------------------------------------------
    ("switchblade-pt", "block", "prohibited_weapons",
     {"title": "Canivete de ponta e mola", "description": "Lâmina de 9cm."}),
    ("switchblade-es", "block", "prohibited_weapons",
     {"title": "Navaja automática", "description": "Apertura con botón."}),
    ("balisong-not-trainer", "block", "prohibited_weapons",
     {"title": "Balisong", "description": "Not a trainer, razor sharp."}),
    ("sharpener-ok", "allow", None,
     {"title": "Automatic knife sharpener", "description": "Electric, for kitchen knives."}),
    ("gym-monthly-ok", "allow", None,
     {"title": "Abono gimnasio", "description": "Cargo automático cada mes."}),
    ("stun-torch-de", "block", "prohibited_weapons",
     {"title": "Taschenlampe 8 Millionen Volt", "description": "Mit Elektroschock zur Selbstverteidigung."}),
    ("torch-ok", "allow", None,
     {"title": "LED Taschenlampe 1000 Lumen", "description": "Wiederaufladbar, für Camping."}),
    ("knuckles-disguised-fr", "block", "prohibited_weapons",
     {"title": "Presse-papier", "description": "Laiton massif, trous pour les doigts."}),
    ("scissors-ok", "allow", None,
     {"title": "Bastelschere", "description": "Metall, große Fingerlöcher."}),
    ("zombie-knife-en", "block", "prohibited_weapons",
     {"title": "Zombie knife 20 inch", "description": "Serrated, with sheath."}),
    ("pepper-spray-nl", "block", "prohibited_weapons",
     {"title": "Pepperspray", "description": "Voor zelfverdediging, morgen in huis.", "country": "NL"}),
    ("pepper-mill-ok", "allow", None,
     {"title": "Pepermolen hout", "description": "Te koop."}),
    ("glock-real-fr", "block", "firearms",
     {"title": "Pistolet Glock 19 réel", "description": "Pas besoin de permis."}),
    ("deko-not-deact-de", "block", "firearms",
     {"title": "Dekowaffe Walther P38", "description": "Nicht unbrauchbar gemacht, schießt noch."}),
    ("black-powder-replica-ok", "allow", None,
     {"title": "Rewolwer czarnoprochowy replika",
      "description": "Broń czarnoprochowa, bez pozwolenia dla pełnoletnich.",
      "country": "PL"}),
    # --- hazardous ----------------------------------------------------------------------------------------
    ("cobra-bombs-pt", "block", "hazardous_materials",
     {"title": "Bombas tipo Cobra", "description": "Muito fortes."}),
    ("fireworks-from-cn-review", "review", "hazardous_materials",
     {"title": "Firecrackers 2000 shots", "description": "Shipped by sea.", "country": "CN"}),
    ("firework-lights-ok", "allow", None,
     {"title": "Firework LED string lights", "description": "Fairy lights for the garden.", "country": "CN"}),
    ("bath-bomb-ok", "allow", None,
     {"title": "Bombas de baño caseras", "description": "Con aceites esenciales."}),
    ("model-kit-ok", "allow", None,
     {"title": "F-4 Phantom 1/72 model kit", "description": "With bombs and decals."}),
    ("detonators-not-prop", "block", "hazardous_materials",
     {"title": "Electric detonators x10", "description": "Not a prop, not inert."}),
    ("inert-grenade-ok", "allow", None,
     {"title": "Inert training grenade", "description": "Drill grenade, empty, display only."}),
    # --- covert surveillance -----------------------------------------------------------------------------
    ("camera-in-baby-monitor-nanny", "block", "covert_surveillance",
     {"title": "Baby monitor with hidden camera", "description": "Watch the nanny without her knowing."}),
    ("bug-as-baby-monitor", "block", "covert_surveillance",
     {"title": "Babyphone GSM Wanze", "description": "Heimlich mithören, ohne dass es jemand merkt.",
      "category": "Baby > Babyphones"}),
    ("recorder-covert-review-pt", "review", "covert_surveillance",
     {"title": "Gravador de voz chaveiro", "description": "Ninguém desconfia."}),
    ("pen-camera-review", "review", "covert_surveillance",
     {"title": "Spy pen camera", "description": "For lectures and meetings."}),
    ("pen-camera-bathroom", "block", "covert_surveillance",
     {"title": "Spy pen camera", "description": "Leave it in the bathroom, records without them knowing."}),
    ("dictaphone-ok", "allow", None,
     {"title": "Dictaphone numérique", "description": "Pour réunions et cours."}),
    ("baby-monitor-ok", "allow", None,
     {"title": "Babyphone mit Kamera", "description": "Gegensprechfunktion, Nachtsicht."}),
    # --- tobacco -----------------------------------------------------------------------------------------
    ("snus-se-abroad", "block", "illegal_vapes_tobacco",
     {"title": "Swedish snus with tobacco",
      "description": "Ships to Germany and the rest of the EU.", "country": "SE"}),
    ("snus-se-local-ok", "allow", None,
     {"title": "Snus Ettan", "description": "Hämtas i Stockholm.", "country": "SE"}),
    ("nicotine-pouches-review", "review", "illegal_vapes_tobacco",
     {"title": "Nicotinezakjes 20mg", "description": "Tien blikjes."}),
    # --- extremism ---------------------------------------------------------------------------------------
    ("swastika-film-excuse", "block", "extremist_memorabilia",
     {"title": "Armband with swastika", "description": "Replica for a film, discreet shipping to Germany."}),
    ("runes-block", "block", "extremist_memorabilia",
     {"title": "Badge with ᛋᛋ runes", "description": "Metal."}),
    ("militaria-not-repro-review", "review", "extremist_memorabilia",
     {"title": "Wehrmacht Stahlhelm", "description": "Originallack, keine Repro."}),
    ("history-book-ok", "allow", None,
     {"title": "Book: the history of the Third Reich", "description": "Hardcover with a swastika flag on the cover.",
      "category": "Books > History"}),
    # --- wildlife -----------------------------------------------------------------------------------------
    ("tortoise-no-papers-it", "block", "protected_wildlife",
     {"title": "Testuggine di Hermann", "description": "Adulta, senza documenti CITES."}),
    ("parrot-no-papers-nl", "block", "protected_wildlife",
     {"title": "Grijze roodstaart", "description": "Handtam, zonder papieren."}),
    ("tortoise-documented-ok", "allow", None,
     {"title": "Griechische Landschildkröte Nachzucht",
      "description": "Mit EU-Bescheinigung und Meldung bei der Behörde."}),
    ("tiger-claw-not-resin", "block", "protected_wildlife",
     {"title": "Tiger claw pendant", "description": "Real tiger claw, not resin."}),
    ("tiger-eye-ok", "allow", None,
     {"title": "Tiger eye bracelet", "description": "Natural stone beads."}),
    ("schreger-en", "block", "protected_wildlife",
     {"title": "Old carved bangle", "description": "Creamy, Schreger lines visible."}),
    # --- unsafe products -----------------------------------------------------------------------------------
    ("recalled-baby-it", "block", "unsafe_products",
     {"title": "Culla a dondolo", "description": "È stata richiamata dal produttore ma funziona."}),
    ("not-recalled-ok", "allow", None,
     {"title": "Kinderwagen", "description": "Nicht vom Rückruf betroffen, Prüfbericht dabei."}),
    ("jammer-by-another-name", "block", "unsafe_products",
     {"title": "Anti-tracking device", "description": "Blocks GPS and 4G, 6 antennas, 15 m range."}),
    ("router-ok", "allow", None,
     {"title": "WiFi router 4 antennas", "description": "Blocks ads and malicious sites."}),
    ("mercury-hg-zh", "block", "unsafe_products",
     {"title": "美白霜 含Hg", "description": "七天美白。"}),
    ("brightening-cream-ok", "allow", None,
     {"title": "Crema aclarante", "description": "Con vitamina C y niacinamida, cumple la normativa."}),
    # --- medicines and precursors --------------------------------------------------------------------------
    ("spiked-sleep-aid-de", "review", "prescription_medicines",
     {"title": "Schlaftabletten pflanzlich", "description": "Mit extra Wirkstoff, nicht auf der Packung."}),
    ("melatonin-ok", "allow", None,
     {"title": "Melatonin 1 mg", "description": "Food supplement for sleep."}),
    ("gbl-neutral-label", "block", "drug_precursors",
     {"title": "GBL wheel cleaner 1L", "description": "Gamma-butyrolactone 99%, neutral label."}),
]


@pytest.mark.parametrize(("decision", "family", "fields"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_content(policy: CompiledPolicy, decision: str, family: str | None, fields: dict[str, Any]) -> None:
    got, families = _screen(policy, _listing(**fields))
    assert got == decision, (got, families)
    if family is not None:
        assert family in families, families
