# Managed by airlock — edits here are replaced by `airlock apply`.
export HELM_REPOSITORY_CONFIG="${HELM_REPOSITORY_CONFIG:-/etc/airlock/helm/repositories.yaml}"
