#!/usr/bin/env bash
# Time the README's two commands on a really fresh machine: a Debian bookworm chroot made
# by debootstrap (minbase + python3 + ca-certificates: "Debian, root, Python 3.11"), with
# this machine's Go bind-mounted read-only at /usr/local/go (the standard fresh machine
# has Go) and a clean copy of this checkout's HEAD (`git archive`). Nothing else comes from
# the host: no Debian packages, no pip cache, no Go module or build cache, no BuildKit.
#
#   bash scripts/measure-fresh-setup.sh demo     # time `bash scripts/demo.sh` (set-up + the demo check)
#   bash scripts/measure-fresh-setup.sh test     # time `bash scripts/test.sh --collect-only -q`
#                                                #   (the whole set-up of the test command, then pytest
#                                                #   collecting every test: ready to run the suite)
#
# Each run starts from the same pristine root filesystem (debootstrapped once, kept as a
# tarball in ~/.cache/repro/fresh-machine/, not timed), in a new directory under
# ${TMPDIR:-/tmp}, removed afterwards. Prints "<what> wall <s> cpu <s>" as its last line
# (the CPU time of everything the command ran, which a busy machine inflates far less
# than the wall time); the command's output, each line stamped with the seconds since the
# start, goes to <workdir>.log (the path is printed). Needs root (chroot,
# mounts) and Debian's debootstrap (installed when missing).
#
# Host plumbing that is not part of what is measured: /proc, /sys and /dev are bind-mounted
# (buildkitd needs them), /etc/resolv.conf is copied, and the host's CA bundle replaces
# the chroot's (on machines whose egress goes through a TLS-inspecting proxy; elsewhere it
# is the same Debian bundle).
set -euo pipefail
what="${1:-demo}"
case "$what" in
  demo) cmd="bash scripts/demo.sh" ;;
  test) cmd="bash scripts/test.sh --collect-only -q" ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
log() { echo "measure-fresh-setup: $*" >&2; }
source "$here/lib.sh"
[ "$(id -u)" = 0 ] || { log "needs root (debootstrap, chroot, mounts)"; exit 2; }
[ -x /usr/local/go/bin/go ] || { log "needs Go in /usr/local/go (bind-mounted into the chroot)"; exit 2; }
mapfile -t missing < <(apt_missing debootstrap)
apt_install ${missing[@]+"${missing[@]}"}

cache="${XDG_CACHE_HOME:-$HOME/.cache}/repro/fresh-machine"
base="$cache/bookworm-minbase.tar"
mkdir -p "$cache"
if ! [ -s "$base" ]; then
  log "debootstrap --variant=minbase bookworm (once; not timed)"
  stage=$(mktemp -d "$cache/stage.XXXXXX")
  debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$stage" http://deb.debian.org/debian >&2
  tar -C "$stage" -cf "$base.part" . && mv "$base.part" "$base"
  rm -rf "$stage"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/repro-fresh-$what.XXXXXX")
chroot_dir="$work/root"
mounted_under() { findmnt -rn -o TARGET | grep -F "$1/" | sort -r; }
cleanup() {
  # unmount everything below $work (deepest first) and remove it only when nothing is left
  # mounted: the binds of the host's /dev and Go must never be deleted through
  local m
  while read -r m; do [ -z "$m" ] || umount -l "$m" 2>/dev/null || true; done < <(mounted_under "$work")
  if [ -n "$(mounted_under "$work")" ]; then log "still mounted below $work: left in place"; return; fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
mkdir -p "$chroot_dir"
# the chroot's / must be a mount point: ephemeral daemons change its propagation (unshare)
mount --bind "$chroot_dir" "$chroot_dir"
tar -C "$chroot_dir" -xf "$base"
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$chroot_dir/etc/ssl/certs/ca-certificates.crt"
for d in proc sys dev; do
  mount --rbind "/$d" "$chroot_dir/$d"; mount --make-rslave "$chroot_dir/$d"
done
mkdir -p "$chroot_dir/usr/local/go"
mount --bind /usr/local/go "$chroot_dir/usr/local/go"; mount -o remount,bind,ro "$chroot_dir/usr/local/go"
mkdir -p "$chroot_dir/src"
git -C "$root" archive HEAD | tar -x -C "$chroot_dir/src"

out="$work.log"
log "running '$cmd' in $chroot_dir (output, each line stamped with the seconds since the start: $out)"
rc=0
TIMEFORMAT='%R %U %S'
{ time chroot "$chroot_dir" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /src && $cmd" 2>&1 | python3 -uc '
import sys, time
t0 = time.monotonic()
for line in sys.stdin:
    sys.stdout.write(f"{time.monotonic() - t0:7.1f} {line}")' >"$out" || rc=$?; } 2>"$work.time"
read -r wall user sys <"$work.time"
rm -f "$work.time"
log "exit code $rc (demo.sh exits 1: the example context is not reproducible); load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
tail -n 5 "$out" >&2
# wall seconds, then the CPU seconds (user+system) of everything it ran: on a busy machine
# the wall time says little, the CPU time about as much as on a quiet one
echo "$what wall ${wall}s cpu $(python3 -c "print(round($user + $sys, 1))")s"
