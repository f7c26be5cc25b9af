#!/usr/bin/env bash
# Tests of scripts/netbsd-vm-test that need no VM: --help, the --dry-run
# plan, and argument errors.  Prints one line per case and "N passed, N
# failed"; exits non-zero if any case failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
vm="$top/scripts/netbsd-vm-test"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }

# run ARGS...: runs the script with no image in the environment; sets $rc
# and $out (stdout and stderr together).
run() {
	rc=0
	out=$(env -u NETBSD_IMAGE -u NETBSD_SSH_KEY "$vm" "$@" 2>&1) || rc=$?
}
has() { grep -qF -- "$1" <<<"$out"; }
expect_rc() {	# name, wanted status
	if [ "$rc" -eq "$2" ]; then ok "$1"; else bad "$1" "exit $rc, want $2"; fi
}
expect_has() {	# name, strings...
	local name=$1 s
	shift
	for s in "$@"; do
		has "$s" || { bad "$name" "output lacks '$s'"; return; }
	done
	ok "$name"
}

run --help
expect_rc "--help exits 0" 0
expect_has "--help documents the options" --image --dry-run NETBSD_IMAGE --kmod --ssh-port

run
expect_rc "no image: exit 3" 3
expect_has "no image: says so plainly" "no NetBSD disk image" "none is available"

run --dry-run
expect_rc "--dry-run without an image: exit 0" 0
expect_has "--dry-run: qemu with ssh forwarded to localhost only" \
    "+ qemu-system-x86_64" "hostfwd=tcp:127.0.0.1:10022-:22" "-snapshot" \
    "placeholder"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	expect_has "--dry-run: KVM when /dev/kvm is usable" "-enable-kvm"
else
	expect_has "--dry-run: TCG without a usable /dev/kvm" "-accel tcg"
fi
expect_has "--dry-run: copies the module and the ATF tests in" \
    "+ scp" "aio.kmod root@127.0.0.1:/tmp/netbsd-aio/aio.kmod" \
    "tests/atf root@127.0.0.1:/tmp/netbsd-aio/atf"
expect_has "--dry-run: builds the tests in the guest" "make AIO_STRICT=1" \
    "-latf-c"
expect_has "--dry-run: unloads, loads" "modunload aio" \
    "modload /tmp/netbsd-aio/aio.kmod"
expect_has "--dry-run: kyua test and the report copied back" "kyua test" \
    "kyua report" "root@127.0.0.1:/tmp/netbsd-aio/report.txt"
# The plan's commands in order: boot, copy, build, load, test.
order=$(grep -n -E '^\+ (qemu|scp)|modload|kyua test' <<<"$out" | cut -d: -f1 | tr '\n' ' ')
first_qemu=$(grep -n '^+ qemu' <<<"$out" | head -n1 | cut -d: -f1)
first_scp=$(grep -n '^+ scp' <<<"$out" | head -n1 | cut -d: -f1)
load=$(grep -n 'modload /tmp' <<<"$out" | head -n1 | cut -d: -f1)
kyua=$(grep -n 'kyua test' <<<"$out" | head -n1 | cut -d: -f1)
if [ -n "$first_qemu" ] && [ -n "$first_scp" ] && [ -n "$load" ] && [ -n "$kyua" ] &&
    [ "$first_qemu" -lt "$first_scp" ] && [ "$first_scp" -lt "$load" ] &&
    [ "$load" -lt "$kyua" ]; then
	ok "--dry-run: boot, copy, load, test in that order"
else
	bad "--dry-run: boot, copy, load, test in that order" "lines: $order"
fi

run --dry-run --no-kvm
expect_has "--no-kvm: TCG" "-accel tcg"
if has "-enable-kvm"; then bad "--no-kvm: no -enable-kvm"; else ok "--no-kvm: no -enable-kvm"; fi

touch "$tmp/disk.qcow2"
run --dry-run --image "$tmp/disk.qcow2" --ssh-port 2222 --key "$tmp/id"
expect_rc "--dry-run --image: exit 0" 0
expect_has "--image: the image, its format, the port, the key" \
    "file=$tmp/disk.qcow2,format=qcow2" "hostfwd=tcp:127.0.0.1:2222-:22" \
    "-i $tmp/id" "-P 2222"

rc=0
out=$(env -u NETBSD_SSH_KEY NETBSD_IMAGE="$tmp/disk.raw" "$vm" --dry-run 2>&1) || rc=$?
expect_has "NETBSD_IMAGE is used, raw by default" "file=$tmp/disk.raw,format=raw"

run --image "$tmp/missing.img"
expect_rc "missing image file: exit 2" 2
expect_has "missing image file: names it" "no such disk image: $tmp/missing.img"

run --frobnicate
expect_rc "unknown option: exit 2" 2
expect_has "unknown option: named" "unknown argument '--frobnicate'"

run --image
expect_rc "--image without a path: exit 2" 2

run --dry-run --ssh-port nope
expect_rc "non-numeric --ssh-port: exit 2" 2

run --dry-run --ssh-port 70000
expect_rc "--ssh-port out of range: exit 2" 2

run --dry-run --format floppy
expect_rc "unknown --format: exit 2" 2

if ! command -v qemu-system-x86_64 >/dev/null; then
	touch "$tmp/disk.img"
	run --image "$tmp/disk.img"
	expect_rc "no qemu installed: exit 1" 1
	expect_has "no qemu installed: says so" "qemu-system-x86_64 is not installed"
else
	echo "skip no-qemu case (qemu-system-x86_64 is installed)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
