# One image for the studio and its workers: the SPA built in a Node stage, served by the
# Python server. `docker compose up` runs it; see docker-compose.yml.

FROM node:20-bookworm-slim AS spa
WORKDIR /src
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
COPY package.json package-lock.json ./
COPY frontend/package.json frontend/
RUN npm ci --no-audit --no-fund
COPY frontend/ frontend/
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ATELIER_HOST=0.0.0.0 \
    ATELIER_PORT=5000 \
    ATELIER_DATA_DIR=/data \
    ATELIER_GALLERY_DIR=/gallery
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY backend/ backend/
COPY docs/ docs/
COPY --from=spa /src/frontend/dist/ frontend/dist/
RUN useradd --create-home --uid 1000 atelier \
    && mkdir -p /data /gallery \
    && chown atelier:atelier /data /gallery
USER atelier
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:5000' + os.environ.get('ATELIER_BASE_PATH', '') + '/healthz', timeout=4)"
CMD ["python", "-m", "backend"]
