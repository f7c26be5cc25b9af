#!/usr/bin/env python3
"""Build and run the AIO tests of the Open POSIX Test Suite (posixtestsuite
1.5.2-8) against glibc and, optionally, against libnetbsd_aio.so.

Normally started by scripts/posix-suite, which fetches the suite first.

Per test and per library the result is one of
  PASS FAIL UNRESOLVED UNSUPPORTED UNTESTED   (exit codes 0 1 2 4 5)
  HUNG          killed by the timeout
  INTERRUPTED   any other exit status (signal, 127 for a failed start, ...)
  BUILDFAIL     the test did not compile (for a compile-only test, one
                without main(), a successful compile is its PASS, as in the
                suite's own Makefile)
  LINKFAIL      the test compiled but did not link
  WRONGLIB      (ours only) an AIO call of the test bound to something other
                than the library under test (checked with LD_DEBUG=bindings
                on every run), so the run did not test our library

Exit status: 0 when every test's result on our library matches
tests/posix/expectations (or when our library was not tested), 1 on any
mismatch, 2 on a setup error.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

INTERFACES = ["aio_cancel", "aio_error", "aio_fsync", "aio_read",
              "aio_return", "aio_suspend", "aio_write", "lio_listio"]
DEFINITIONS = ["aio_h"]

AIO_SYMBOLS = ["aio_read", "aio_write", "aio_error", "aio_return",
               "aio_cancel", "aio_fsync", "aio_suspend", "lio_listio"]
AIO_SYMBOLS += [s + "64" for s in AIO_SYMBOLS]

# The suite's own compiler flags (its Makefile: CFLAGS, INCLUDE, and the
# LDFLAGS file, which Debian's 01_gnu.patch sets to -D_GNU_SOURCE -lpthread
# -lrt), except -Werror: gcc 12's -Wall has warnings the 2005 sources never
# met (unused-but-set-variable, unused variables in stub tests), and turning
# them into build failures would hide what the tests do.  Warnings stay in
# the build logs.
SUITE_CFLAGS = ["-g", "-O2", "-Wall", "-D_POSIX_C_SOURCE=200112L",
                "-std=gnu99"]

# Source fix 2 (fix 1 is fix-source.sed): 24 interface tests use open()/O_*
# or siginfo_t/SIGRTMIN/sigaction without including <fcntl.h>/<signal.h>,
# relying on an <aio.h> that drags them in.  POSIX only says <aio.h> *may*
# make those symbols visible (glibc's does not), so the tests are missing
# includes.  Forcing both headers in is the smallest fix that touches no
# source; it does not change the feature-test macros in effect, because
# -D_GNU_SOURCE on the command line already fixes them before the tests'
# own "#define _XOPEN_SOURCE 600" (which therefore now draws a harmless
# redefinition warning).  Not applied to the aio_h definition tests: those
# test what <aio.h> itself declares.
INTERFACE_EXTRA_CFLAGS = ["-include", "fcntl.h", "-include", "signal.h"]

RESULT_BY_CODE = {0: "PASS", 1: "FAIL", 2: "UNRESOLVED", 4: "UNSUPPORTED",
                  5: "UNTESTED"}
ALL_RESULTS = ["PASS", "FAIL", "UNRESOLVED", "UNSUPPORTED", "UNTESTED",
               "HUNG", "INTERRUPTED", "BUILDFAIL", "LINKFAIL", "WRONGLIB"]


def log(msg):
    print(msg, flush=True)


class SetupError(Exception):
    """Something other than a test result went wrong: exit 2."""


def natural_key(name):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


class Test:
    def __init__(self, kind, group, base, src):
        self.kind = kind            # "interfaces" or "definitions"
        self.group = group          # aio_read, aio_h, ...
        self.base = base            # 1-1
        self.src = src
        self.name = f"{group}/{base}"
        self.compile_only = False
        self.obj = None
        self.build_result = None    # None (built) or BUILDFAIL


def find_tests(suite):
    tests = []
    for kind, groups in (("interfaces", INTERFACES),
                         ("definitions", DEFINITIONS)):
        for group in groups:
            d = os.path.join(suite, "conformance", kind, group)
            if not os.path.isdir(d):
                raise SetupError(f"{d} missing: not the suite tree?")
            files = [f for f in os.listdir(d)
                     if re.fullmatch(r"\d+-\d+\.c", f)]
            for f in sorted(files, key=natural_key):
                tests.append(Test(kind, group, f[:-2], os.path.join(d, f)))
    return tests


def run_cmd(cmd, logf, **kw):
    with open(logf, "ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, **kw).returncode


def has_main(obj):
    out = subprocess.run(["nm", "-g", obj], capture_output=True, text=True,
                         check=True).stdout
    return re.search(r"^\S*\s+T main$", out, re.M) is not None


def build(tests, suite, work, fix_sed):
    """Apply the source fixes to copies and compile every test to a .o."""
    src_dir = os.path.join(work, "src")
    obj_dir = os.path.join(work, "obj")
    logs = os.path.join(work, "logs", "build")
    for d in (src_dir, obj_dir, logs):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    include = os.path.join(suite, "include")
    for t in tests:
        flat = t.name.replace("/", "_")
        fixed = os.path.join(src_dir, flat + ".c")
        with open(t.src, "rb") as f:
            orig = f.read()
        with open(fixed, "wb") as f:
            subprocess.run(["sed", "-f", fix_sed], input=orig, stdout=f,
                           check=True)
        if t.kind == "interfaces":
            with open(fixed, "rb") as f:
                changed = f.read() != orig
            if not changed:
                raise SetupError(f"fix-source.sed did not apply to "
                                 f"{t.name}: unexpected suite source")
        t.obj = os.path.join(obj_dir, flat + ".o")
        t.build_log = os.path.join(logs, flat + ".log")
        cflags = SUITE_CFLAGS + (INTERFACE_EXTRA_CFLAGS
                                 if t.kind == "interfaces" else [])
        cc = [os.environ.get("CC", "cc")] + cflags + \
            ["-I" + include, "-D_GNU_SOURCE", "-c", fixed, "-o", t.obj]
        if run_cmd(cc, t.build_log) != 0:
            t.build_result = "BUILDFAIL"
            continue
        t.compile_only = not has_main(t.obj)


def link(t, mode, lib, work):
    """Link t for mode ("glibc" or "ours"); return (binary, None) or
    (None, result)."""
    if t.build_result:
        return None, t.build_result
    if t.compile_only:
        return None, "PASS"
    bdir = os.path.join(work, "bin", mode)
    os.makedirs(bdir, exist_ok=True)
    binary = os.path.join(bdir, t.name.replace("/", "_"))
    logf = os.path.join(work, "logs", mode, t.name.replace("/", "_")
                        + ".link.log")
    os.makedirs(os.path.dirname(logf), exist_ok=True)
    if os.path.exists(logf):
        os.unlink(logf)
    cmd = [os.environ.get("CC", "cc")] + SUITE_CFLAGS + [t.obj, "-o", binary]
    if mode == "ours":
        # Our library first on the link line (so the test's AIO references
        # resolve to it at link time, unversioned) and first among DT_NEEDED
        # (so it precedes libc.so.6 in the lookup scope at run time).
        libdir = os.path.dirname(lib)
        cmd += ["-Wl,--no-as-needed", "-L" + libdir, "-Wl,-rpath," + libdir,
                "-l:" + os.path.basename(lib)]
    cmd += ["-lpthread", "-lrt"]
    if run_cmd(cmd, logf) != 0:
        return None, "LINKFAIL"
    return binary, None


BIND_RE = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: "
                     r"normal symbol `([^']+)'")


def check_bindings(debug_dir, binary, lib):
    """Return (ok, [symbols bound to our lib], [bad bindings])."""
    ours, bad = set(), []
    real_lib = os.path.realpath(lib)
    for f in os.listdir(debug_dir):
        if not f.startswith("ld-debug"):
            continue
        with open(os.path.join(debug_dir, f), errors="replace") as fh:
            for line in fh:
                m = BIND_RE.search(line)
                if not m or m.group(3) not in AIO_SYMBOLS:
                    continue
                if os.path.realpath(m.group(1)) != os.path.realpath(binary):
                    continue
                if os.path.realpath(m.group(2)) == real_lib:
                    ours.add(m.group(3))
                else:
                    bad.append(f"{m.group(3)} -> {m.group(2)}")
    return not bad, sorted(ours), bad


def run_one(binary, name, mode, lib, work, timeout, bind_now=False):
    """Run binary in a temp dir of its own; return (result, detail)."""
    logf = os.path.join(work, "logs", mode, name.replace("/", "_") + ".log")
    tmp = tempfile.mkdtemp(prefix="pts-" + name.replace("/", "_") + "-")
    env = dict(os.environ, TMPDIR=tmp)
    for v in ("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_DEBUG", "LD_BIND_NOW"):
        env.pop(v, None)
    if mode == "ours":
        env["LD_DEBUG"] = "bindings"
        env["LD_DEBUG_OUTPUT"] = os.path.join(tmp, "ld-debug")
        if bind_now:
            env["LD_BIND_NOW"] = "1"
    start = time.monotonic()
    try:
        with open(logf, "wb") as out:
            p = subprocess.Popen([binary], cwd=tmp, env=env, stdout=out,
                                 stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL,
                                 start_new_session=True)
            try:
                code = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
                code = None
        elapsed = time.monotonic() - start
        if code is None:
            result = "HUNG"
        elif code in RESULT_BY_CODE:
            result = RESULT_BY_CODE[code]
        else:
            result = "INTERRUPTED"
        detail = {"code": code, "elapsed": elapsed}
        if mode == "ours":
            ok, ours, bad = check_bindings(tmp, binary, lib)
            detail["bound"] = ours
            if not ok:
                detail["bad"] = bad
                result = "WRONGLIB"
        with open(logf, "ab") as out:
            out.write(f"\n[runner] exit={code} result={result} "
                      f"time={elapsed:.2f}s\n".encode())
            if mode == "ours":
                out.write(f"[runner] AIO calls bound to {lib}: "
                          f"{' '.join(detail['bound']) or '-'}\n".encode())
                for b in detail.get("bad", []):
                    out.write(f"[runner] WRONG BINDING: {b}\n".encode())
        return result, detail
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_expectations(path):
    exp = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split(None, 2)
            if len(parts) < 2:
                raise SetupError(f"{path}:{n}: want: TEST RESULT REASON")
            name, results = parts[0], parts[1].split("|")
            for r in results:
                if r not in ALL_RESULTS:
                    raise SetupError(f"{path}:{n}: unknown result {r}")
            if results != ["PASS"] and len(parts) < 3:
                raise SetupError(f"{path}:{n}: {name}: a non-PASS "
                                 "expectation needs a reason")
            if name in exp:
                raise SetupError(f"{path}:{n}: {name} listed twice")
            exp[name] = results
    return exp


def verify_library(lib, probe, work, timeout):
    """Check that the library exports the AIO calls and that a test binary
    that takes the address of all eight calls binds every one to it."""
    out = subprocess.run(["nm", "-D", "--defined-only", lib],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SetupError(f"nm -D {lib} failed: {out.stderr.strip()}")
    exported = set(re.findall(r"^\S+\s+[TtWwi]\s+(\S+?)(?:@.*)?$",
                              out.stdout, re.M))
    missing = [s for s in AIO_SYMBOLS if s not in exported]
    if missing:
        log(f"WARNING: {lib} does not export: {' '.join(missing)}")
    binary, res = link(probe, "ours", lib, work)
    if binary is None:
        raise SetupError(f"binding probe aio_h/4-1 could not be built ({res})")
    res, detail = run_one(binary, "aio_h/4-1.probe", "ours", lib, work,
                          timeout, bind_now=True)
    want = AIO_SYMBOLS[:8]
    got = detail.get("bound", [])
    if res == "WRONGLIB" or any(s not in got for s in want):
        raise SetupError("binding probe failed: with LD_BIND_NOW, "
                         f"aio_h/4-1 bound {got or 'nothing'} to {lib}; "
                         f"other bindings: {detail.get('bad', [])}")
    log(f"binding check: aio_h/4-1 (LD_DEBUG=bindings, LD_BIND_NOW=1) binds "
        f"all of {', '.join(want)} to {lib}")


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--suite", required=True,
                    help="unpacked posixtestsuite-1.5.2 tree")
    ap.add_argument("--work", required=True,
                    help="build/log directory (wiped per run)")
    ap.add_argument("--lib", help="libnetbsd_aio.so to test")
    ap.add_argument("--timeout", type=float, default=20.0,
                    help="seconds per test run (default 20)")
    ap.add_argument("--expectations",
                    default=os.path.join(HERE, "expectations"))
    ap.add_argument("--only", metavar="REGEX",
                    help="run only tests whose name (e.g. aio_read/1-1) "
                         "matches REGEX")
    args = ap.parse_args()

    lib = os.path.abspath(args.lib) if args.lib else None
    if lib and not os.path.isfile(lib):
        raise SetupError(f"--lib {lib}: no such file")
    expectations = read_expectations(args.expectations) if lib else {}

    all_tests = find_tests(args.suite)
    if len(all_tests) != 109:
        raise SetupError(f"found {len(all_tests)} AIO tests, want 109")
    tests = all_tests
    if args.only:
        tests = [t for t in tests if re.search(args.only, t.name)]
        if not tests:
            raise SetupError("--only matched no test")
    # aio_h/4-1 takes the address of all eight calls: the binding probe.
    probe = next(t for t in all_tests if t.name == "aio_h/4-1")

    os.makedirs(args.work, exist_ok=True)
    for d in ("bin", "logs"):
        shutil.rmtree(os.path.join(args.work, d), ignore_errors=True)
    log(f"posix-suite: building {len(tests)} tests from {args.suite}")
    build(tests if probe in tests or not lib else tests + [probe],
          args.suite, args.work, os.path.join(HERE, "fix-source.sed"))

    modes = ["glibc"] + (["ours"] if lib else [])
    if lib:
        verify_library(lib, probe, args.work, args.timeout)

    results = {m: {} for m in modes}
    for t in tests:
        for mode in modes:
            binary, res = link(t, mode, lib, args.work)
            if binary:
                res, _ = run_one(binary, t.name, mode, lib, args.work,
                                 args.timeout)
            results[mode][t.name] = res

    # Table.
    mismatches = []
    w = max(len(t.name) for t in tests)
    log("")
    log(f"{'test':<{w}}  {'glibc':<12} {'ours' if lib else ''}")
    for t in tests:
        g = results["glibc"][t.name]
        line = f"{t.name:<{w}}  {g:<12}"
        if lib:
            o = results["ours"][t.name]
            want = expectations.get(t.name, ["PASS"])
            note = ""
            if o not in want:
                note = f"  <-- expected {'|'.join(want)}"
                mismatches.append((t.name, o, want))
            elif t.name in expectations:
                note = "  (expected)"
            line += f" {o:<12}{note}"
        log(line)

    # Tallies side by side.
    log("")
    log(f"{'result':<12} {'glibc':>6}" + (f" {'ours':>6}" if lib else ""))
    for r in ALL_RESULTS:
        counts = [sum(1 for v in results[m].values() if v == r)
                  for m in modes]
        if any(counts):
            log(f"{r:<12} " + " ".join(f"{c:>6}" for c in counts))
    log(f"{'total':<12} " + " ".join(f"{len(results[m]):>6}" for m in modes))
    log(f"logs: {os.path.join(args.work, 'logs')}")

    if not lib:
        log("")
        log("*" * 72)
        log("*** OUR LIBRARY WAS NOT TESTED: glibc only (pass --lib PATH, "
            "set AIO_LIB,")
        log("*** or use --host-lib). glibc results are informational.")
        log("*" * 72)
        return 0

    stale = [n for n in expectations if n not in results["ours"]]
    if stale and not args.only:
        for n in stale:
            log(f"expectations: {n} is not a test of this suite")
            mismatches.append((n, "-", expectations[n]))
    log("")
    for name, got, want in mismatches:
        log(f"MISMATCH {name}: ours {got}, expected {'|'.join(want)}")
    matched = len(results["ours"]) - len([m for m in mismatches
                                          if m[1] != "-"])
    log(f"posix: {matched} passed, {len(mismatches)} failed")
    return 1 if mismatches else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (SetupError, OSError, subprocess.CalledProcessError) as e:
        print(f"posix-suite: setup error: {e}", file=sys.stderr)
        sys.exit(2)
