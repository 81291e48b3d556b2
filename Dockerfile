# One image for the collector, scheduler, dashboard and simulator services. Dependencies come
# from requirements.lock (exact versions); refresh it as the README's "Dependencies" section says.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY twin ./twin
COPY collectors ./collectors
COPY dashboard ./dashboard
RUN pip install --no-cache-dir --no-deps . \
    && useradd --system --create-home --home-dir /var/lib/cnetwin --uid 10001 cnetwin
USER cnetwin
ENV CNETWIN_DATA_DIR=/var/lib/cnetwin
ENTRYPOINT ["cnetwin"]
