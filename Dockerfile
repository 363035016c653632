# Runtime image for the proxy. Build: docker build -t kmp . ; run: docker run -v $PWD/kmp.yaml:/etc/kmp.yaml kmp
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
