#!/bin/sh
# Render the nginx config and run nginx in the foreground (as PID 1's child under --init, or PID 1).
#   REPLICAS  host:port of the query replicas (one name, many addresses), default embeddings-replica:8001
#   PRIMARY   host:port of the writable service, default embeddings:8001
# Names are re-resolved every few seconds through the container network's DNS server (the first
# nameserver in resolv.conf), so replicas may come, go and scale while the proxy runs.
set -eu
resolver=$(awk '/^nameserver/ { print $2; exit }' /etc/resolv.conf)
case "$resolver" in *:*) resolver="[$resolver]" ;; esac
sed -e "s|@RESOLVER@|${resolver:-127.0.0.11}|g" \
    -e "s|@REPLICAS@|${REPLICAS:-embeddings-replica:8001}|g" \
    -e "s|@PRIMARY@|${PRIMARY:-embeddings:8001}|g" \
    /etc/nginx/embattn.conf.template > /tmp/nginx.conf
exec nginx -e stderr -c /tmp/nginx.conf -g 'daemon off;'
