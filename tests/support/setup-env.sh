#!/usr/bin/env bash
# Installs and starts what the test suite needs on a Debian 12 machine:
# firejail, bubblewrap, podman (with runc), busybox-static for the test
# image, valgrind, and podman's Docker-compatible API socket so the real
# docker CLI can be tested too. Idempotent: a second run only checks.
#
# Exports nothing; tests find the engine socket at $RR_DOCKER_SOCK
# (default unix:///tmp/rr-podman.sock) and the image $RR_TEST_IMAGE
# (default localhost/rr-test:latest).
set -euo pipefail

SOCK_PATH=/tmp/rr-podman.sock
PID_FILE=/tmp/rr-podman-service.pid
IMAGE=localhost/rr-test:latest

need=()
for bin in firejail bwrap podman runc busybox valgrind newuidmap ip perl setpriv; do
    command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if [ ${#need[@]} -gt 0 ] || [ ! -x /bin/busybox ]; then
    echo "setup-env: installing packages (missing: ${need[*]:-busybox-static})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq firejail bubblewrap podman runc uidmap busybox-static valgrind iproute2 perl util-linux >/dev/null
fi

# podman here: no CAP_SYS_RESOURCE and hybrid cgroups, so crun fails; runc
# with explicit ulimits works.
conf=/etc/containers/containers.conf
if ! grep -q 'runtime = "runc"' "$conf" 2>/dev/null; then
    mkdir -p /etc/containers
    cat >"$conf" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
CONF
fi

# The test image: busybox-static plus applet links. No registry is reachable.
if ! podman image exists "$IMAGE"; then
    echo "setup-env: building $IMAGE from busybox-static"
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root" "$root/proc" "$root/sys" "$root/dev"
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    tar -C "$root" -cf "$root.tar" .
    podman import --change 'ENV PATH=/bin' "$root.tar" "$IMAGE" >/dev/null
    rm -f "$root.tar"
fi

# podman's Docker-compatible API, for the docker CLI. A pid file or socket
# left by an earlier run proves nothing: ask the socket itself.
api_answers() {
    DOCKER_HOST="unix://$SOCK_PATH" timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}
# A service whose working folder was removed (a checkout deleted since)
# still answers, but its containers' conmon cannot start them.
cwd_gone() {
    [ -f "$PID_FILE" ] && readlink "/proc/$(cat "$PID_FILE")/cwd" 2>/dev/null | grep -q ' (deleted)$'
}
if cwd_gone || ! api_answers; then
    if [ -f "$PID_FILE" ] && grep -q "system" "/proc/$(cat "$PID_FILE")/cmdline" 2>/dev/null; then
        kill "$(cat "$PID_FILE")" 2>/dev/null || true
    fi
    rm -f "$SOCK_PATH" "$PID_FILE"
    # Started in /, which no checkout's removal takes away.
    (cd / && exec nohup podman system service --time=0 "unix://$SOCK_PATH" >/tmp/rr-podman-service.log 2>&1) &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 100); do
        api_answers && break
        sleep 0.2
    done
fi
api_answers || { echo "setup-env: podman's API socket does not answer (see /tmp/rr-podman-service.log)" >&2; exit 1; }
echo "setup-env: ready (image $IMAGE, docker socket unix://$SOCK_PATH)"
