# syntax=docker/dockerfile:1
#
# Latchkey container image. The server runs TypeScript through tsx (there is no build step),
# so the image is the repository plus its installed dependencies and the generated Prisma client.
#
#   docker build -t latchkey .
#   docker run -p 3000:3000 -v latchkey-data:/data latchkey
#
# Without DATABASE_URL the embedded PostgreSQL (PGlite) lives under DATA_DIR=/data; mount a volume
# there to keep it (and the generated encryption key) across restarts. See docker-compose.yml for
# the full stack with PostgreSQL, Redis and Mailpit.

# ── dependencies ─────────────────────────────────────────────────────────────────────────────
# Only the files `npm ci` needs (its postinstall generates the Prisma client from prisma/ with
# scripts/prisma-generate.mjs), so this layer is rebuilt only when they change.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
# Prisma's install step detects the platform through OpenSSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY prisma/ ./prisma/
COPY scripts/ ./scripts/
# The full install, as the README's `npm ci && npm start`; tsx, which runs the server, is a dependency.
RUN npm ci --no-audit --no-fund

# ── runtime ──────────────────────────────────────────────────────────────────────────────────
FROM node:20-bookworm-slim
ENV NODE_ENV=production DATA_DIR=/data
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/src/generated ./src/generated
COPY . .
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
# Liveness through node's own fetch (the slim image has no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The README's start command. `npm start` finds the Prisma client already generated (in the deps
# stage) and goes straight to `tsx src/server.ts`.
CMD ["npm", "start"]
