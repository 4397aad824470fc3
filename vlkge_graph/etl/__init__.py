"""ETL: dataset recipes -> a standard table set -> Neo4j."""
