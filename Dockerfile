# Runtime image for the proxy. Build: docker build -t kmp . ; run with a config file of your own:
#   docker run -v $PWD/kmp.yaml:/etc/kmp.yaml kmp
# or from the environment alone: the image's /etc/kmp.yaml (deploy/kmp.yaml) sets only the admin listener and the
# state file, every other key comes from KMP_* variables (src/config/env-overrides.ts), e.g. one fleet instance:
#   docker run -e KMP_PROXY__LISTEN=0.0.0.0:9092 -e KMP_PROXY__ADVERTISED=kmp-1:9092 -e KMP_PROXY__NODE_ID=1 \
#     -e KMP_CLUSTERS__SOURCE__BOOTSTRAP=src-1:9092,src-2:9092 -e KMP_CLUSTERS__TARGET__BOOTSTRAP=tgt-1:9092 \
#     -e KMP_FLEET__CONTROL=source -e KMP_FLEET__INSTANCE_ID=kmp-1 kmp
# Three instances: deploy/docker-compose.fleet.yml; Kubernetes: docs/fleet.md, "Deployment".
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY protocol ./protocol
COPY routing ./routing

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
COPY deploy/kmp.yaml /etc/kmp.yaml
# A single instance's state file lives here (a fleet keeps its state in the control topics); the node user writes it.
RUN mkdir -p /var/lib/kmp && chown node:node /var/lib/kmp
VOLUME /var/lib/kmp
USER node
EXPOSE 9092 9644
ENTRYPOINT ["node", "bin/kmp.js"]
CMD ["serve", "--config", "/etc/kmp.yaml"]
