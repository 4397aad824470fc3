"""Everything that talks to Neo4j: the local server, the driver, schema and batched writes."""
