#!/usr/bin/env bash
# Tests of scripts/kmod-check and kmod/kmodelf.py.
#
#  * The built module passes every check.
#  * Each check can fail: a deliberately bad object (the module linked with
#    a small C object made here, or the module edited) must make exactly
#    the targeted checks FAIL and leave the others PASS.
#  * fix-relocs keeps the meaning of a position-independent object: one
#    with GOTPCREL and PLT32 relocations is rewritten, linked into a
#    program and run.
#
# Needs NETBSDSRCDIR (skipped, and said so, without it) and a built module
# (target/kmod/aio.kmod, or KMOD=path; scripts/build-kmod is run if it is
# missing).  Everything made here lives in a temporary directory.  Prints
# one line per case and "N passed, N failed"; exits non-zero on a failure.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
check="$top/scripts/kmod-check"
elf="$top/kmod/kmodelf.py"
if [ -z "${NETBSDSRCDIR:-}" ]; then
	echo "skipped: NETBSDSRCDIR is not set (a NetBSD source tree is needed)"
	echo "0 passed, 0 failed"
	exit 0
fi
kmod=${KMOD:-$top/target/kmod/aio.kmod}
if [ ! -f "$kmod" ]; then
	"$top/scripts/build-kmod" >/dev/null || { echo "FAIL build-kmod"; exit 1; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }

# The flags of a kernel object, so that only the planted defect shows.
KCFLAGS=(-O2 -ffreestanding -fno-pic -mcmodel=kernel -mno-red-zone
    -fno-stack-protector -fno-asynchronous-unwind-tables -fno-common)

# make_bad NAME SOURCE [cc flags...]: NAME.kmod = the module + SOURCE,
# relocations fixed and definitions made local as build-kmod does.
make_bad() {
	local name=$1 src=$2
	shift 2
	printf '%s\n' "$src" >"$tmp/$name.c"
	cc "${KCFLAGS[@]}" "$@" -c -o "$tmp/$name.o" "$tmp/$name.c" &&
	    ld -r -o "$tmp/$name.kmod" "$kmod" "$tmp/$name.o" &&
	    python3 "$elf" fix-relocs "$tmp/$name.kmod" >/dev/null &&
	    localize "$tmp/$name.kmod"
}
localize() {
	python3 "$elf" exports "$1" >"$tmp/exports" &&
	    objcopy --localize-symbols="$tmp/exports" "$1"
}

# expect NAME OBJECT LETTERS [kmod-check options...]: kmod-check fails, with
# exactly the checks in LETTERS failing.
expect() {
	local name=$1 obj=$2 letters=$3 rc=0 out got
	shift 3
	out=$("$check" "$@" "$obj" 2>&1) || rc=$?
	got=$(sed -n 's/^FAIL (\([a-i]\)).*/\1/p' <<<"$out" | tr -d '\n')
	if [ "$rc" -eq 1 ] && [ "$got" = "$letters" ]; then
		ok "$name: FAIL ($letters) only"
	else
		bad "$name" "exit $rc, failing checks '$got', want '$letters'"
		sed 's/^/      /' <<<"$out" | head -n 30
	fi
}

# The module itself.
rc=0
out=$("$check" "$kmod" 2>&1) || rc=$?
if [ "$rc" -eq 0 ] && [ "$(grep -c '^PASS' <<<"$out")" -eq 9 ]; then
	ok "the built module passes (a)-(i)"
else
	bad "the built module passes (a)-(i)" "exit $rc"
	sed 's/^/      /' <<<"$out"
fi

# (a) not a relocatable x86-64 object.
expect "(a) an executable" "$(type -P true)" a
printf 'not an object\n' >"$tmp/text.kmod"
expect "(a) a text file" "$tmp/text.kmod" a

# (b) SSE arithmetic, then x87 (long double).
make_bad sse 'double aio_bad_mul(double a, double b) { return a * b; }' -msse2 &&
    expect "(b) SSE code" "$tmp/sse.kmod" b
make_bad x87 'long double aio_bad_mul(long double a, long double b) { return a * b; }' &&
    expect "(b) x87 code" "$tmp/x87.kmod" b

# (c) an import the kernel does not have; a weak import.
make_bad import 'extern void not_a_kernel_function(void);
void aio_bad(void) { not_a_kernel_function(); }' &&
    expect "(c) unlisted import" "$tmp/import.kmod" c
make_bad weak 'extern void lwp_start(void *, int) __attribute__((weak));
void aio_bad(void *l) { if (lwp_start) lwp_start(l, 0); }' &&
    expect "(c) weak undefined import" "$tmp/weak.kmod" c

# (d) modinfo: a tree of another version; no link_set_modules.
mkdir -p "$tmp/src/sys/sys" "$tmp/src/sys/arch/amd64/amd64"
sed 's/^\(#define[[:space:]]*__NetBSD_Version__[[:space:]]*\)[0-9]*/\11099000000/' \
    "$NETBSDSRCDIR/sys/sys/param.h" >"$tmp/src/sys/sys/param.h"
cp "$NETBSDSRCDIR/sys/arch/amd64/amd64/kobj_machdep.c" "$tmp/src/sys/arch/amd64/amd64/"
expect "(d) other __NetBSD_Version__" "$kmod" d --srcdir "$tmp/src"
cp "$kmod" "$tmp/nolinkset.kmod"
objcopy --remove-section=link_set_modules --remove-section=.relalink_set_modules \
    "$tmp/nolinkset.kmod"
expect "(d) no link_set_modules" "$tmp/nolinkset.kmod" d
# mi_name "aio" -> "oio" in the module's own string data.
cp "$kmod" "$tmp/name.kmod"
python3 - "$tmp/name.kmod" <<'EOF'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
i = d.find(b"\0aio\0")
assert i > 0
d[i + 1:i + 2] = b"o"
open(p, "wb").write(d)
EOF
expect "(d) another mi_name" "$tmp/name.kmod" d

# (e) the unwinder imported; panic renamed away.
make_bad unwind 'extern void _Unwind_Resume(void *);
void aio_bad(void *p) { _Unwind_Resume(p); }' &&
    expect "(e) _Unwind_Resume imported" "$tmp/unwind.kmod" ce
cp "$kmod" "$tmp/nopanic.kmod"
objcopy --redefine-sym panic=not_panic "$tmp/nopanic.kmod"
expect "(e) panic not imported" "$tmp/nopanic.kmod" ce

# (f) a 2 KiB frame.
make_bad frame '__attribute__((noinline)) void aio_use(volatile char *p) { p[0] = 1; }
void aio_bad(void) { volatile char b[2048]; aio_use(b); }' &&
    expect "(f) 2 KiB stack frame" "$tmp/frame.kmod" f

# (g) a PLT32 relocation left as the assembler wrote it.
printf '%s\n' '__attribute__((noinline)) int aio_callee(int x) { return x + 1; }
int aio_bad(int x) { return aio_callee(x) * 2; }' >"$tmp/plt.c"
cc "${KCFLAGS[@]}" -c -o "$tmp/plt.o" "$tmp/plt.c" &&
    ld -r -o "$tmp/plt.kmod" "$kmod" "$tmp/plt.o" && localize "$tmp/plt.kmod" &&
    expect "(g) unrewritten PLT32" "$tmp/plt.kmod" g

# (h) a global definition left global.
cp "$tmp/plt.o" "$tmp/glob.o"
ld -r -o "$tmp/glob.kmod" "$kmod" "$tmp/glob.o" &&
    python3 "$elf" fix-relocs "$tmp/glob.kmod" >/dev/null &&
    expect "(h) global definitions" "$tmp/glob.kmod" h

# (i) recursion: global functions calling each other (relocations against
# their symbols, made local afterwards); a static function calling itself
# in one .text (a displacement the assembler resolved); static functions
# calling each other from their own sections (relocations against section
# symbols).  noinline and non-tail calls keep the compiler from making
# loops of them.
make_bad mutual '__attribute__((noinline)) int aio_bad_b(int);
__attribute__((noinline)) int aio_bad_a(int n) { return n <= 0 ? 0 : 1 + aio_bad_b(n - 1) * 3; }
__attribute__((noinline)) int aio_bad_b(int n) { return n <= 0 ? 1 : 2 + aio_bad_a(n - 1) * 5; }' &&
    expect "(i) mutual recursion" "$tmp/mutual.kmod" i
tree='struct aio_tree { struct aio_tree *l, *r; };
static int aio_max(int a, int b) { return a > b ? a : b; }'
make_bad self "$tree
static __attribute__((noinline)) int aio_depth(struct aio_tree *t)
{ return t ? 1 + aio_max(aio_depth(t->l), aio_depth(t->r)) : 0; }
int aio_bad(struct aio_tree *t) { return aio_depth(t) + 1; }" &&
    expect "(i) self recursion, resolved call" "$tmp/self.kmod" i
make_bad sections "$tree
static __attribute__((noinline)) int aio_depth_r(struct aio_tree *);
static __attribute__((noinline)) int aio_depth_l(struct aio_tree *t)
{ return t ? 1 + aio_max(aio_depth_r(t->l), aio_depth_r(t->r)) : 0; }
static __attribute__((noinline)) int aio_depth_r(struct aio_tree *t)
{ return t ? 2 + aio_max(aio_depth_l(t->r), aio_depth_l(t->l)) : 0; }
int aio_bad(struct aio_tree *t) { return aio_depth_l(t) + 1; }" -ffunction-sections &&
    expect "(i) mutual recursion, section relocations" "$tmp/sections.kmod" i
# The cycle is printed with its functions; --skip i and an allowlist entry
# accept it.
out=$("$check" "$tmp/mutual.kmod" 2>&1)
if grep -qE 'cycle \(2 functions\): aio_bad_a -> aio_bad_b -> aio_bad_a' <<<"$out" &&
    grep -q 'indirect calls .* not seen' <<<"$out"; then
	ok "(i) prints the cycle and what it cannot see"
else
	bad "(i) prints the cycle and what it cannot see"
	sed 's/^/      /' <<<"$out" | grep -A4 '(i)'
fi
rc=0
out=$("$check" --skip i "$tmp/mutual.kmod" 2>&1) || rc=$?
if [ "$rc" -eq 0 ] && grep -qx 'SKIP (i)' <<<"$out"; then
	ok "(i) --skip i"
else
	bad "(i) --skip i" "exit $rc"
fi
rc=0
out=$(python3 "$elf" recursion "$tmp/mutual.kmod" --allow 'aio_bad_b; aio_bad_a' 2>&1) || rc=$?
if [ "$rc" -eq 0 ] && grep -q '^allowed cycle' <<<"$out"; then
	ok "(i) an allowlisted cycle passes"
else
	bad "(i) an allowlisted cycle passes" "exit $rc"
	sed 's/^/      /' <<<"$out"
fi

# fix-relocs on position-independent code, then run it.
cat >"$tmp/pic.c" <<'EOF'
int pic_counter = 41;
int helper_plus(int);
int *pic_counter_addr(void) { return &pic_counter; }
int pic_bump(void) { return ++pic_counter; }
int pic_call(int x) { return helper_plus(x) + 1; }
EOF
cat >"$tmp/main.c" <<'EOF'
#include <stdio.h>
extern int pic_counter;
int *pic_counter_addr(void);
int pic_bump(void);
int pic_call(int);
int helper_plus(int x) { return x + 100; }
int main(void)
{
	if (pic_counter_addr() != &pic_counter || pic_bump() != 42 ||
	    pic_counter != 42 || pic_call(1) != 102) {
		printf("wrong\n");
		return 1;
	}
	printf("right\n");
	return 0;
}
EOF
if cc -O2 -fPIC -c -o "$tmp/pic.o" "$tmp/pic.c" &&
    python3 "$elf" got-asm "$tmp/pic.o" >"$tmp/got.s" && [ -s "$tmp/got.s" ] &&
    as --64 -o "$tmp/got.o" "$tmp/got.s" &&
    ld -r -o "$tmp/pic2.o" "$tmp/pic.o" "$tmp/got.o" &&
    python3 "$elf" fix-relocs "$tmp/pic2.o" >/dev/null; then
	left=$(readelf -rW "$tmp/pic2.o" | grep -cE 'R_X86_64_(GOTPCREL|REX_GOTPCRELX|GOTPCRELX|PLT32) ')
	before=$(readelf -rW "$tmp/pic.o" | grep -cE 'R_X86_64_(GOTPCREL|REX_GOTPCRELX|GOTPCRELX|PLT32) ')
	if [ "$before" -gt 0 ] && [ "$left" -eq 0 ]; then
		ok "fix-relocs: $before GOT/PLT relocations rewritten, none left"
	else
		bad "fix-relocs: rewrite" "$before before, $left left"
	fi
	if cc -no-pie -o "$tmp/pic" "$tmp/main.c" "$tmp/pic2.o" &&
	    [ "$("$tmp/pic")" = right ]; then
		ok "fix-relocs: the rewritten object runs correctly"
	else
		bad "fix-relocs: the rewritten object runs correctly"
	fi
else
	bad "fix-relocs: build of the PIC test object"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
