# The project's CLI for compose.yaml's scheduler and trainer services (`docker compose build`).
# An editable install: the CLI reads cypher/ (schema, query library), etl/ and training/ from this tree.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/vlkge-graph
COPY pyproject.toml README.md ./
COPY vlkge_graph ./vlkge_graph
COPY cypher/schema ./cypher/schema
COPY cypher/queries ./cypher/queries
COPY etl ./etl
COPY training ./training
RUN pip install --no-cache-dir -e .
WORKDIR /work
ENTRYPOINT ["vlkge-graph"]
