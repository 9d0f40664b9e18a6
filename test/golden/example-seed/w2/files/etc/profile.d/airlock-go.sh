# Managed by airlock — edits here are replaced by `airlock apply`.
# Go modules come from the site mirror only; there is no checksum database to reach offline.
export GOPROXY=http://192.168.10.10:5000/go
export GOSUMDB=off
export GONOSUMDB='*'
export GOFLAGS=-mod=mod
# Go >= 1.21 would otherwise try to download newer toolchains through GOPROXY.
export GOTOOLCHAIN=local
