# Runtime image for the proxy. Build: docker build -t kmp . ; run: docker run -v $PWD/kmp.yaml:/etc/kmp.yaml kmp
# A fleet (docs/fleet.md): one config for every instance, per-instance keys from the environment, e.g.
#   docker run -e KMP_PROXY__NODE_ID=1 -e KMP_PROXY__ADVERTISED=kmp-1:9092 -e KMP_FLEET__INSTANCE_ID=kmp-1 ...
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
USER node
EXPOSE 9092 9644
ENTRYPOINT ["node", "bin/kmp.js"]
CMD ["serve", "--config", "/etc/kmp.yaml"]
