# One image for the collector, scheduler, dashboard and simulator services.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY twin ./twin
COPY collectors ./collectors
COPY dashboard ./dashboard
RUN pip install --no-cache-dir .
ENTRYPOINT ["cnetwin"]
