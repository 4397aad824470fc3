"""vlkge-graph: vision-language knowledge-graph embeddings for multimodal graphs that live in Neo4j."""

__version__ = "0.1.0"
