"""Relationship types derived from any relation name: Freebase paths, Wikidata ids, URIs, collisions."""

from __future__ import annotations

import pytest

from vlkge_graph.errors import ConfigError
from vlkge_graph.identifiers import NAME_LIMIT, project_owned, validate_identifier
from vlkge_graph.relation_types import DERIVED_TYPE_LIMIT, name_tag, relation_type_for, relation_types

WORLD_CUP = ("/base/x2010fifaworldcupsouthafrica/world_cup_squad/current_world_cup_squad."
             "/base/x2010fifaworldcupsouthafrica/current_world_cup_squad/current_club")
CAPITAL = ("/location/capital_of_administrative_division/capital_of."
           "/location/administrative_division_capital_relationship/administrative_division")


@pytest.mark.parametrize(("name", "expected"), [
    ("/film/actor/film./film/performance/film", "FILM_ACTOR_FILM_FILM_PERFORMANCE_FILM"),
    ("/people/person/nationality", "PEOPLE_PERSON_NATIONALITY"),
    ("P31", "P31"),
    ("http://schema.org/knows", "SCHEMA_ORG_KNOWS"),
    ("<http://www.wikidata.org/prop/direct/P31>", "WIKIDATA_ORG_PROP_DIRECT_P31"),
    ("_hypernym", "HYPERNYM"),
    ("isCreatedByArtist", "IS_CREATED_BY_ARTIST"),
    ("città", "CITTA"),
    ("1st_cousin", "R_1ST_COUSIN"),
])
def test_readable_types_for_every_shape_of_name(name: str, expected: str) -> None:
    assert relation_type_for(name) == expected
    assert relation_types([name]) == {name: expected}


def test_long_freebase_paths_keep_their_ends_and_a_hash_of_the_full_name() -> None:
    for name, end in ((WORLD_CUP, "_CURRENT_WORLD_CUP_SQUAD_CURRENT_CLUB"), (CAPITAL, "_ADMINISTRATIVE_DIVISION")):
        rel_type = relation_type_for(name)
        assert len(rel_type) <= DERIVED_TYPE_LIMIT < len(name)
        assert rel_type.startswith(("BASE_X2010FIFAWORLDCUPSOUTHAFRICA_WORLD_CUP_SQUAD", "LOCATION_CAPITAL_OF_"))
        assert rel_type.endswith(end) and f"_{name_tag(name)}_" in rel_type
        assert validate_identifier(rel_type) == rel_type
        assert relation_type_for(name) == rel_type  # deterministic
    # two paths that differ only past the cut still get different types
    other = WORLD_CUP.replace("current_club", "position")
    assert relation_type_for(other) != relation_type_for(WORLD_CUP)
    cut_twins = [WORLD_CUP[:60] + "/x" * 40 + "/a/" + "q" * 20, WORLD_CUP[:60] + "/x" * 40 + "/b/" + "q" * 20]
    assert len(set(relation_types(cut_twins).values())) == 2


def test_names_with_nothing_safe_left_get_a_hashed_type() -> None:
    types = relation_types(["!!!", "属于", "???"])
    assert types["!!!"] == f"R_{name_tag('!!!')}" and len(set(types.values())) == 3


def test_names_colliding_after_sanitising_never_share_a_type() -> None:
    names = ["is_a", "isA", "IS_A", "is a", "has part", "has_part", "http://schema.org/knows",
             "https://schema.org/knows", "knows"]
    types = relation_types(names)
    assert len(set(types.values())) == len(names)
    assert types["IS_A"] == "IS_A"  # a name that already is the type keeps it
    assert types["is_a"] == f"IS_A_{name_tag('is_a')}" and types["has part"] == f"HAS_PART_{name_tag('has part')}"
    assert types["knows"] == "KNOWS"  # no other name derives KNOWS
    assert relation_types(["isA"]) == {"isA": "IS_A"}  # alone, the plain type
    # an explicit mapping wins; a derived type avoids the mapped one
    assert relation_types(["likes", "LIKES_A_LOT"], {"likes": "LIKES_A_LOT"}) == {
        "likes": "LIKES_A_LOT", "LIKES_A_LOT": f"LIKES_A_LOT_{name_tag('LIKES_A_LOT')}"}
    with pytest.raises(ConfigError, match=r"relations 'a' and 'b' would both become relationship type 'X'"):
        relation_types(["a", "b"], {"a": "X", "b": "X"})


def test_project_namespace_and_neo4j_name_limit() -> None:
    assert relation_type_for("vlkge_candidate") == "VLKGE_CANDIDATE"
    assert all(project_owned(n) for n in ("VLKGE_CANDIDATE", "VlkgeRun", "vlkge_embedding_a", "VLKGEx"))
    assert not any(project_owned(n) for n in ("CANDIDATE", "HAS_VLKGE", "_vlkge"))
    assert validate_identifier("A" * NAME_LIMIT)
    with pytest.raises(ConfigError, match=r"at most 16,383 characters, Neo4j's limit"):
        validate_identifier("A" * (NAME_LIMIT + 1))
