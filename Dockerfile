# One image for every DeepLens process; the compose file picks the entry point per service.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
COPY platform/package.json platform/
COPY events/package.json events/
COPY commands/package.json commands/
COPY write-api/package.json write-api/
COPY read-api/package.json read-api/
COPY projections/package.json projections/
COPY embedder/package.json embedder/
COPY stack/package.json stack/
COPY client/package.json client/
COPY cli/package.json cli/
COPY reliability/package.json reliability/
COPY web/package.json web/
RUN npm ci --no-audit --no-fund
COPY . .
USER node
EXPOSE 8080 8090
CMD ["npx", "tsx", "write-api/src/main.ts"]
