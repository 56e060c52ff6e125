#!/bin/sh
# Writes nginx's configuration into data/nginx: pid file, temporary folders, and one server
# on 127.0.0.1:PORT answering /healthz. nginx runs in the foreground (`daemon off`) and logs to
# stderr (`-e stderr` covers the errors before this file is read).
#
#   ingress-config.sh PORT
set -eu
port=${1:?usage: ingress-config.sh PORT}
dir="$PWD/data/nginx"
mkdir -p "$dir/tmp"
cat > "$dir/nginx.conf.new" <<CONF
pid $dir/nginx.pid;
error_log stderr notice;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    location = /healthz { return 200 "ok\n"; }
  }
}
CONF
mv "$dir/nginx.conf.new" "$dir/nginx.conf"
