# Portcullis gateway image. Build: docker build -t portcullis .
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY routes.yaml ./routes.yaml
USER node
EXPOSE 8080
ENV HOST=0.0.0.0 PORT=8080
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/portcullis.js"]
CMD ["serve"]
