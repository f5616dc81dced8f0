# syntax=docker/dockerfile:1
# dynalite (a DynamoDB API on LevelDB) for the *local* Kubernetes overlay only; production talks
# to real DynamoDB. Same version as scripts/deps.sh installs for the local stack.
#   docker build -f deploy/docker/dynalite.Dockerfile -t menu-dynalite:dev .   (or deploy/build-images.sh --local)

FROM node:20-bookworm-slim
RUN npm install --global --omit=dev --no-audit --no-fund dynalite@4.0.0 \
 && npm cache clean --force
# The node image's unprivileged user, numeric for runAsNonRoot.
USER 1000:1000
EXPOSE 8000
# In memory (no --path): the local cluster is disposable. CreateTable is ACTIVE at once, as in
# scripts/dynalite.sh, so dynamo-svc's DYNAMODB_CREATE_TABLES=1 start-up does not wait.
ENTRYPOINT ["dynalite", "--port", "8000", "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
